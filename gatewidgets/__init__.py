"""gatewidgets: Flyte-style gate nodes and signals, live in Jupyter."""
from __future__ import annotations

from gatewidgets import answers, notify
from gatewidgets.condition import conditional
from gatewidgets.dsl import WorkflowFailure, approve, dynamic, launch_child, sleep, task, wait_for_input
from gatewidgets.engine import Awaiting, Execution, Executor, events, recover, workflow
from gatewidgets.errors import (
    AnswersFileError,
    BranchFailedError,
    ChildExecutionError,
    ExecutionAbortedError,
    ExecutionExistsError,
    ExecutionNotFoundError,
    GateError,
    GateRejectedError,
    GateTimeoutError,
    InvalidNameError,
    MapTaskFailedError,
    SignalAlreadySetError,
    SignalClosedError,
    SignalNotFoundError,
    SignalTypeError,
    StoreError,
    UnansweredGateError,
    WorkflowDefinitionError,
    WorkflowNotFoundError,
)
from gatewidgets.frontdoors import launch
from gatewidgets.models.execution import ExecutionStatus, NodeState
from gatewidgets.models.signal import Signal, SignalState
from gatewidgets.remote import GateRemote
from gatewidgets.settings import settings  # the object, not its module: `from gatewidgets import settings` works
from gatewidgets.telemetry import metrics
from gatewidgets.types import GateFile
from gatewidgets.widgets import display

# The observers and the faces subscribe to what the engine publishes (it imports none of them): gates answered
# from GATEWIDGETS_ANSWERS, the webhook of settings.webhook_url, an execution shown as its live widget.
events.gate_reached.subscribe(answers.answer_reached)
events.store_opened.subscribe(notify.install_from_settings)
events.display.subscribe(display.execution_mimebundle)

__version__ = "0.1.0"


def load_ipython_extension(ip: object) -> None:
    """``%load_ext gatewidgets``: the ``%gate`` magics and configuration (executions display as widgets anyway)."""
    from gatewidgets import magics

    magics.load_ipython_extension(ip)


def unload_ipython_extension(ip: object) -> None:
    """``%unload_ext gatewidgets``: remove what loading added."""
    from gatewidgets import magics

    magics.unload_ipython_extension(ip)


__all__ = [
    "task", "workflow", "dynamic", "conditional", "approve", "wait_for_input", "sleep", "launch_child", "GateFile",
    "WorkflowFailure",
    "GateRemote", "launch", "recover", "metrics", "settings", "Execution", "Executor", "Awaiting",
    "ExecutionStatus", "NodeState", "Signal", "SignalState",
    "GateError", "ExecutionNotFoundError", "ExecutionExistsError", "ExecutionAbortedError",
    "SignalNotFoundError", "SignalTypeError", "SignalAlreadySetError", "SignalClosedError",
    "GateRejectedError", "GateTimeoutError", "WorkflowDefinitionError", "WorkflowNotFoundError", "BranchFailedError",
    "MapTaskFailedError", "ChildExecutionError", "InvalidNameError", "StoreError",
    "UnansweredGateError", "AnswersFileError",
    "load_ipython_extension", "unload_ipython_extension",
]
