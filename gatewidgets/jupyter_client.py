"""The import path ``gatewidgets.jupyter_client`` of the HTTP client store, which lives in the store layer
(:mod:`gatewidgets.store.jupyter`); ``GateRemote.for_jupyter`` is a :class:`GateRemote` on it."""
from __future__ import annotations

from gatewidgets.store.jupyter import JupyterStore

__all__ = ["JupyterStore"]
