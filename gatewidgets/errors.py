"""Errors raised by gatewidgets.

Every message names the thing, what was expected, what came, and what to do.
Raising one of these never leaves stored state half-changed.
"""
from __future__ import annotations

__all__ = [
    "GateError",
    "ExecutionNotFoundError",
    "ExecutionExistsError",
    "ExecutionAbortedError",
    "ExecutionLostError",
    "SignalNotFoundError",
    "SignalTypeError",
    "SignalAlreadySetError",
    "SignalClosedError",
    "GateForbiddenError",
    "GateRejectedError",
    "GateTimeoutError",
    "WorkflowDefinitionError",
    "UnknownGateKindError",
    "BranchFailedError",
    "MapTaskFailedError",
    "InvalidNameError",
    "StoreError",
    "UnansweredGateError",
    "AnswersFileError",
]


class GateError(Exception):
    """Base class of every gatewidgets error."""


class ExecutionNotFoundError(GateError, LookupError):
    """No execution with that project, domain and name exists."""


class ExecutionExistsError(GateError):
    """An execution with that name exists already (launch with ``recover=True`` to resume it)."""


class ExecutionAbortedError(GateError):
    """The execution was aborted before it finished."""


class ExecutionLostError(ExecutionAbortedError):
    """This process stopped its copy of an execution another process took over (this one's lease expired)."""


class SignalNotFoundError(GateError, LookupError):
    """The execution has no signal with that id."""


class SignalTypeError(GateError, TypeError):
    """A value does not fit the signal's type."""


class SignalAlreadySetError(GateError):
    """The signal was already set to a different value: the first answer wins."""


class SignalClosedError(GateError):
    """The signal timed out or was cancelled and can no longer be set."""


class GateForbiddenError(GateError, PermissionError):
    """The decider may not answer this gate (its policy: assignees, self-approval, a vouched identity), or the
    evidence they were shown changed; nothing about the signal changed."""


class GateRejectedError(GateError):
    """An approval gate was rejected."""


class GateTimeoutError(GateError, TimeoutError):
    """A gate's deadline passed without an answer and it has no default."""


class WorkflowDefinitionError(GateError):
    """A workflow or task is defined in a way that cannot run."""


class UnknownGateKindError(WorkflowDefinitionError, LookupError):
    """A gate kind that is not registered in ``gatewidgets.kinds``: refused by the DSL, executor, card and DAG."""


class BranchFailedError(GateError):
    """A conditional took a case that ends with ``.fail(message)``."""


class MapTaskFailedError(GateError):
    """Fewer items of a ``map_task`` succeeded than its ``min_success_ratio`` (or ``min_successes``) requires;
    the message names the failed items and the first error."""


class ChildExecutionError(GateError):
    """A child execution (a launch plan used as a node, ``launch_child``) failed or was aborted; the message
    names the child execution and its error."""


class InvalidNameError(GateError, ValueError):
    """A project, domain or execution name is not 1-128 letters, digits, '_', '-' or '.' (signal names: see
    ``gatewidgets.models.names``)."""


class StoreError(GateError):
    """The store cannot be read or written (locked or busy past its retries, disk full, corrupt, read-only);
    the message names the store file and what to do."""


class WorkflowNotFoundError(GateError, LookupError):
    """The workflow of a stored execution cannot be found to recover it."""


class UnansweredGateError(GateError):
    """A gate was reached in a process that answers gates from a file (``GATEWIDGETS_ANSWERS``,
    ``c.GateWidgets.answers``, ``gatewidgets.testing.answering``) and no entry answers it; the message names
    the gate, its execution and the file. The file's ``unanswered = "wait"`` lets such gates wait instead."""


class AnswersFileError(GateError, ValueError):
    """An answers file cannot be read or is not valid: the message names the file and the line or entry and
    field at fault."""
