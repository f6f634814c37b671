"""Live notebook widgets: ``GateWidget``, ``ExecutionWidget``, ``StoredExecutionWidget``, ``SignalDashboard``.

An ``Execution`` shown in a cell is its live :class:`ExecutionWidget` (:mod:`.display`, subscribed to the
engine's ``display`` event by ``gatewidgets``). The widget classes are loaded on first use, so importing this
package (as ``gatewidgets`` does) imports no ipywidgets.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gatewidgets.widgets.display import execution_widget

if TYPE_CHECKING:
    from gatewidgets.widgets.dag import dag_svg
    from gatewidgets.widgets.dashboard import SignalDashboard
    from gatewidgets.widgets.execution import ExecutionWidget
    from gatewidgets.widgets.gate import GateWidget
    from gatewidgets.widgets.notifier import GateNotifier
    from gatewidgets.widgets.stored import StoredExecutionWidget

__all__ = ["GateWidget", "ExecutionWidget", "StoredExecutionWidget", "SignalDashboard", "GateNotifier", "dag_svg",
           "execution_widget"]

_HOMES = {"GateWidget": "gate", "ExecutionWidget": "execution", "StoredExecutionWidget": "stored",
          "SignalDashboard": "dashboard", "GateNotifier": "notifier", "dag_svg": "dag"}


def __getattr__(name: str) -> Any:
    """The widget classes, imported (with ipywidgets) on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
