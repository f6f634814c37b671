"""Execution and node records: identifiers, states and the snapshot a store returns."""
from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gatewidgets.errors import InvalidNameError
from gatewidgets.models.policy import Identity

DEFAULT_PROJECT = "default"
DEFAULT_DOMAIN = "development"
NAME_RULE = "1-128 letters, digits, '_', '-' or '.'"
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}")


def is_valid_name(value: object) -> bool:
    """Whether ``value`` may name a project, domain or execution (names appear in paths and URLs)."""
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def check_name(value: object, what: str) -> str:
    """``value`` if :func:`is_valid_name`, else ``InvalidNameError`` naming ``what`` it was meant to be."""
    if not is_valid_name(value):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise InvalidNameError(f"{what} must be {NAME_RULE} (it appears in paths and URLs); got {shown}. "
                               f"Choose another {what}.")
    return value  # type: ignore[return-value]


def child_execution_name(parent: str, node_id: str) -> str:
    """The name of the child execution node ``node_id`` of execution ``parent`` launches: ``<parent>-<node_id>``,
    or, past 128 characters, its first 117 and a hash of the whole (the same name on every recovery)."""
    name = f"{parent}-{node_id}"
    if len(name) > 128:
        name = f"{name[:117]}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
    return check_name(name, "child execution name")


class ExecutionStatus(str, enum.Enum):
    """Where an execution is: running, or how it ended."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"

    @property
    def is_terminal(self) -> bool:
        return self is not ExecutionStatus.RUNNING

    def __str__(self) -> str:
        return self.value


class NodeState(str, enum.Enum):
    """Where a node is. ``WAITING`` is a gate that was reached and waits for its signal."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    ABORTED = "ABORTED"

    @property
    def is_terminal(self) -> bool:
        return self in (NodeState.SUCCEEDED, NodeState.FAILED, NodeState.SKIPPED, NodeState.ABORTED)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, order=True, slots=True)  # one per running execution: no instance dict
class WorkflowExecutionIdentifier:
    """``(project, domain, name)`` of one execution, as flyteidl names it."""

    project: str
    domain: str
    name: str

    def __str__(self) -> str:
        return f"{self.project}/{self.domain}/{self.name}"


@dataclass(frozen=True)
class NodeRecord:
    """A node as stored: its state and, once finished, its outputs or error."""

    node_id: str
    kind: str
    name: str
    state: NodeState
    upstream: tuple[str, ...] = ()
    signal_id: str | None = None
    outputs: Any = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    child_execution: str | None = None  # a child node's execution, ``project/domain/name``


@dataclass(frozen=True)
class ExecutionRecord:
    """An execution as stored, readable from any process."""

    id: WorkflowExecutionIdentifier
    workflow: str
    status: ExecutionStatus
    inputs: dict[str, Any]
    outputs: Any
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    pid: int | None
    host: str | None
    nodes: tuple[NodeRecord, ...] = field(default=())
    workflow_path: str | None = None  # ``module:qualname`` to import the workflow from, when it was importable
    pid_started: int | None = None  # the owner's start time (Linux clock ticks since boot); None: pid only
    boot_id: str | None = None  # the boot the owner ran in (Linux); None: pid only
    pid_namespace: str | None = None  # the owner's pid namespace (PostgreSQL stores); None: not recorded
    launched_by: Identity | None = None  # who launched it, and how that was established

    @property
    def name(self) -> str:
        return self.id.name
