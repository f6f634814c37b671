"""``RemoteConfig`` (flytekit's ``Config``): which store or Flyte admin a ``GateRemote`` talks to."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RemoteConfig", "Config"]


@dataclass(frozen=True)
class RemoteConfig:
    """Which store (or Flyte admin) a remote talks to; ``Config`` is flytekit's name for it.

    Not gatewidgets' settings (those are ``c.GateWidgets``, :mod:`gatewidgets.config`).
    """

    store: str | None = None
    endpoint: str | None = None
    insecure: bool = False

    @classmethod
    def for_sandbox(cls) -> RemoteConfig:
        """This machine's default store."""
        return cls()

    @classmethod
    def auto(cls, config_file: str | None = None) -> RemoteConfig:
        """The default store (``$GATEWIDGETS_STORE`` or Jupyter's data dir)."""
        return cls()

    @classmethod
    def for_endpoint(cls, endpoint: str, insecure: bool = False) -> RemoteConfig:
        """A Flyte admin endpoint (needs ``gatewidgets[flyte]``)."""
        return cls(endpoint=endpoint, insecure=insecure)


Config = RemoteConfig  # flytekit's spelling: ``from gatewidgets.remote import FlyteRemote, Config``
