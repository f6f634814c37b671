"""``settings``: the effective values of gatewidgets' settings in this process.

A thin view of :func:`gatewidgets.config.current` (the ``GateWidgets`` configurable, where
every setting and its default is defined): ``settings.default_project`` reads it,
``settings.notify = False`` sets it (validated, as ``%config`` would), ``del settings.notify``
puts back what the configuration says (defaults, config files, the host's config and any
``%config`` given since: ``%config`` writes into the configuration, ``settings.x =`` does not).
"""
from __future__ import annotations

from typing import Any

from gatewidgets.config import GateWidgets, current, default_max_workers

__all__ = ["settings", "default_max_workers"]


class _Settings:
    """Attribute access to the settings in force (``""`` reads as ``None`` where a setting may be unset)."""

    def __getattr__(self, name: str) -> Any:
        if name not in GateWidgets.names():
            raise AttributeError(f"gatewidgets has no setting {name!r}; settings are {GateWidgets.names()}.")
        return current().value(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self.__getattr__(name)  # AttributeError for an unknown name
        setattr(current(), name, value)

    def __delattr__(self, name: str) -> None:
        config = current()
        given = config.config.get("GateWidgets", {})
        setattr(config, name, given[name] if name in given else config.traits()[name].default())

    def as_dict(self) -> dict[str, Any]:
        """Every setting's effective value."""
        return {name: current().value(name) for name in GateWidgets.names()}

    def __repr__(self) -> str:
        return f"settings({self.as_dict()})"


settings = _Settings()
