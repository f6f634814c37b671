"""Live notebook widgets: ``GateWidget``, ``ExecutionWidget``, ``StoredExecutionWidget``, ``SignalDashboard``.

Importing this module inside IPython registers the display of :class:`Execution` objects
(an ``Execution`` shown in a cell is its live :class:`ExecutionWidget`); ``%load_ext
gatewidgets`` calls :func:`register_display` too.
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
           "execution_widget", "register_display", "unregister_display"]

_views: weakref.WeakKeyDictionary[Execution, ExecutionWidget] = weakref.WeakKeyDictionary()


def execution_widget(execution: Execution) -> ExecutionWidget:
    """The (one, cached) live widget of ``execution``."""
    view = _views.get(execution)
    if view is None or view.comm is None:
        view = _views[execution] = ExecutionWidget(execution)
    return view


def _execution_mimebundle(execution: Execution, include: Any = None, exclude: Any = None) -> dict[str, Any]:
    bundle = execution_widget(execution)._repr_mimebundle_()
    bundle["text/plain"] = repr(execution)
    return bundle


def register_display(ip: Any) -> None:
    """Show ``Execution`` objects as their :class:`ExecutionWidget` in IPython ``ip``."""
    ip.display_formatter.mimebundle_formatter.for_type(Execution, _execution_mimebundle)


def unregister_display(ip: Any) -> None:
    """Undo :func:`register_display`."""
    ip.display_formatter.mimebundle_formatter.type_printers.pop(Execution, None)


def _auto_register() -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return
    ip = get_ipython()
    if ip is not None:
        register_display(ip)


_auto_register()
