"""Live notebook widgets: ``GateWidget``, ``ExecutionWidget``, ``StoredExecutionWidget``, ``SignalDashboard``.

An ``Execution`` shown in a cell is its live :class:`ExecutionWidget`: ``Execution._repr_mimebundle_``
calls :func:`_execution_mimebundle`.
"""
from __future__ import annotations

import weakref
from typing import Any

from gatewidgets.executor import Execution
from gatewidgets.widgets.dag import dag_svg
from gatewidgets.widgets.dashboard import SignalDashboard
from gatewidgets.widgets.execution import ExecutionWidget
from gatewidgets.widgets.gate import GateWidget
from gatewidgets.widgets.notifier import GateNotifier
from gatewidgets.widgets.stored import StoredExecutionWidget

__all__ = ["GateWidget", "ExecutionWidget", "StoredExecutionWidget", "SignalDashboard", "GateNotifier", "dag_svg",
           "execution_widget"]

_views: weakref.WeakKeyDictionary[Execution, ExecutionWidget] = weakref.WeakKeyDictionary()


def execution_widget(execution: Execution) -> ExecutionWidget:
    """The (one, cached) live widget of ``execution``."""
    view = _views.get(execution)
    if view is None or view.comm is None:
        view = _views[execution] = ExecutionWidget(execution)
    return view


def _execution_mimebundle(execution: Execution, include: Any = None, exclude: Any = None) -> dict[str, Any]:
    bundle: dict[str, Any] = execution_widget(execution)._repr_mimebundle_()  # untyped: ipywidgets
    bundle["text/plain"] = repr(execution)
    return bundle

