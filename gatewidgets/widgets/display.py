"""How an execution shows in a notebook: its one live :class:`ExecutionWidget`.

``gatewidgets`` subscribes :func:`execution_mimebundle` to the engine's ``display`` event; this module imports
no ipywidgets, the widget module is imported on the first display.
"""
from __future__ import annotations

import importlib
import weakref
from typing import TYPE_CHECKING, Any

from gatewidgets.engine import Execution

if TYPE_CHECKING:
    from gatewidgets.widgets.execution import ExecutionWidget

__all__ = ["execution_widget", "execution_mimebundle"]

_views: weakref.WeakKeyDictionary[Execution, ExecutionWidget] = weakref.WeakKeyDictionary()


def execution_widget(execution: Execution) -> ExecutionWidget:
    """The (one, cached) live widget of ``execution``."""
    view = _views.get(execution)
    if view is None or view.comm is None:
        widget_module = importlib.import_module("gatewidgets.widgets.execution")  # ipywidgets: on first display
        view = _views[execution] = widget_module.ExecutionWidget(execution)
    return view


def execution_mimebundle(execution: Execution, include: Any = None, exclude: Any = None) -> dict[str, Any]:
    """The live widget of ``execution`` as a rich display, with its repr as plain text."""
    bundle: dict[str, Any] = execution_widget(execution)._repr_mimebundle_()  # untyped: ipywidgets
    bundle["text/plain"] = repr(execution)
    return bundle
