"""``GateRemote``: the one way to list and set signals, FlyteRemote-compatible (``FlyteRemote``, ``Config``).

Widgets, magics, the command line and the HTTP handlers all call it; it validates every value against the
signal's stored type before anything is written, and records who set it, how that was established and through
which face. ``gateremote`` holds the class (how to make one), ``reading`` its reading verbs (and where a decision
stands for its identity), ``deciding`` its deciding verbs, ``config`` which store it talks to, ``status`` where a
decision stands for one person, ``values`` the value boundary (sizes, files, errors that name the signal).
"""
from gatewidgets.remote.config import Config, RemoteConfig
from gatewidgets.remote.deciding import MAX_COMMENT, UNCHANGED
from gatewidgets.remote.gateremote import FlyteRemote, GateRemote
from gatewidgets.remote.reading import ANY
from gatewidgets.remote.status import DecisionStatus
from gatewidgets.store.base import StoreEvent

__all__ = ["GateRemote", "FlyteRemote", "RemoteConfig", "Config", "StoreEvent", "UNCHANGED", "MAX_COMMENT", "ANY",
           "DecisionStatus"]
