"""Helpers shared by the core tests (polling with deadlines, subprocess scripts)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from gatewidgets.formatting import node_labels
from gatewidgets.models.execution import ExecutionRecord, NodeState

HELPERS = Path(__file__).resolve().parent
T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.01, what: str = "") -> T:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds.

    A ``LookupError`` (an execution or signal not created yet) counts as "not yet".
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except LookupError:
            result = None  # type: ignore[assignment]
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or check}")
        time.sleep(interval)


def signal_state(remote, signal_id: str, execution_name: str):  # type: ignore[no-untyped-def]
    """The state of one signal, read through ``GateRemote``."""
    return remote.get_signal(signal_id, execution_name).state


def node_id(execution: Any, name: str) -> str:
    """The internal id of the node a live execution calls ``name`` (as ``nodes_by_name`` does): tests name
    nodes, never hard-code the engine's ids."""
    labels = node_labels({nid: node.name for nid, node in execution.nodes.items()})
    return next(nid for nid, label in labels.items() if label == name)


def stored_states(record: ExecutionRecord) -> dict[str, NodeState]:
    """A stored execution's node states by name (``load``, ``load-2``...), in the stored order."""
    labels = node_labels({n.node_id: n.name for n in record.nodes})
    return {labels[n.node_id]: n.state for n in record.nodes}
