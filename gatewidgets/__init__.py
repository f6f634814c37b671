"""gatewidgets: Flyte-style gate nodes and signals, live in Jupyter."""
from __future__ import annotations

import sys

from gatewidgets.condition import conditional
from gatewidgets.dsl import approve, dynamic, sleep, task, wait_for_input, workflow
from gatewidgets.errors import (
    BranchFailedError,
    ExecutionAbortedError,
    ExecutionExistsError,
    ExecutionNotFoundError,
    GateError,
    GateRejectedError,
    GateTimeoutError,
    SignalAlreadySetError,
    SignalClosedError,
    SignalNotFoundError,
    SignalTypeError,
    WorkflowDefinitionError,
    WorkflowNotFoundError,
)
from gatewidgets.executor import Execution, Executor, recover
from gatewidgets.frontdoors import launch
from gatewidgets.models.execution import ExecutionStatus, NodeState
from gatewidgets.models.signal import Signal, SignalState
from gatewidgets.remote import GateRemote
from gatewidgets.types import GateFile
from gatewidgets.telemetry import metrics

__version__ = "0.1.0"


def load_ipython_extension(ip: object) -> None:
    """``%load_ext gatewidgets``: the ``%gate`` magics, configuration and the display of executions."""
    from gatewidgets import magics

    magics.load_ipython_extension(ip)


def unload_ipython_extension(ip: object) -> None:
    """``%unload_ext gatewidgets``: remove what loading added."""
    from gatewidgets import magics

    magics.unload_ipython_extension(ip)


def _show_executions_as_widgets() -> None:
    """In a running IPython, display ``Execution`` objects as their live widget (widgets load on first use)."""
    ipython = sys.modules.get("IPython")  # never import IPython into plain scripts
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return

    def bundle(execution: Execution, include: object = None, exclude: object = None) -> dict:
        from gatewidgets.widgets import _execution_mimebundle

        return _execution_mimebundle(execution, include, exclude)

    shell.display_formatter.mimebundle_formatter.for_type(Execution, bundle)


_show_executions_as_widgets()


__all__ = [
    "task", "workflow", "dynamic", "conditional", "approve", "wait_for_input", "sleep", "GateFile",
    "GateRemote", "launch", "recover", "metrics", "Execution", "Executor", "ExecutionStatus", "NodeState", "Signal", "SignalState",
    "GateError", "ExecutionNotFoundError", "ExecutionExistsError", "ExecutionAbortedError",
    "SignalNotFoundError", "SignalTypeError", "SignalAlreadySetError", "SignalClosedError",
    "GateRejectedError", "GateTimeoutError", "WorkflowDefinitionError", "WorkflowNotFoundError", "BranchFailedError",
    "load_ipython_extension", "unload_ipython_extension",
]
