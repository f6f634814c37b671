"""gatewidgets: Flyte-style gate nodes and signals, live in Jupyter."""
from __future__ import annotations

from gatewidgets import answers  # noqa: F401  registers the answering of gates from GATEWIDGETS_ANSWERS
from gatewidgets.condition import conditional
from gatewidgets.dsl import WorkflowFailure, approve, dynamic, launch_child, sleep, task, wait_for_input, workflow
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
from gatewidgets.executor import Awaiting, Execution, Executor, recover
from gatewidgets.frontdoors import launch
from gatewidgets.models.execution import ExecutionStatus, NodeState
from gatewidgets.models.signal import Signal, SignalState
from gatewidgets.remote import GateRemote
from gatewidgets.settings import settings  # the object, not its module: `from gatewidgets import settings` works
from gatewidgets.telemetry import metrics
from gatewidgets.types import GateFile

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
