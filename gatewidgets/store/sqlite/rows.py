"""How values and rows look in SQLite: timestamps, JSON, and the records read back."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from typing import Any

from gatewidgets.errors import ExecutionNotFoundError
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus, NodeRecord, NodeState
from gatewidgets.store.base import ExecKey

__all__ = ["ts", "dt", "at", "dumps", "context_json", "key_tuple", "node_record", "execution_record",
           "execution_row"]


def ts(value: datetime | None) -> str | None:
    """A time as stored: ISO 8601, UTC, microseconds."""
    if value is None:
        return None
    if value.tzinfo is not timezone.utc:  # now() is UTC already: skip the conversion on the hot path
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value.isoformat(timespec="microseconds")


def dt(value: str | float | None) -> datetime | None:
    """A stored time read back (ISO text, or epoch seconds for node times)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) or value[4:5] != "-":  # node times are kept as epoch seconds
        return datetime.fromtimestamp(float(value), timezone.utc)
    return datetime.fromisoformat(value)


def at(value: str) -> datetime:
    """A timestamp column that is never NULL."""
    return datetime.fromisoformat(value)


_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)  # one encoder: json.dumps builds one per call


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON."""
    return _ENCODER.encode(value)


def context_json(value: dict[str, Any] | None) -> str | None:
    """A signal's context as stored (``NULL`` when empty)."""
    return dumps(value) if value else None


def key_tuple(key: ExecKey) -> tuple[str, str, str]:
    """``(project, domain, name)`` for SQL parameters."""
    return key.project, key.domain, key.name


def node_record(row: sqlite3.Row) -> NodeRecord:
    """A ``nodes`` row as a :class:`NodeRecord`."""
    return NodeRecord(
        node_id=row["node_id"], kind=row["kind"], name=row["name"], state=NodeState(row["state"]),
        upstream=tuple(json.loads(row["upstream"])), signal_id=row["signal_id"],
        outputs=json.loads(row["outputs"]) if row["outputs"] is not None else None, error=row["error"],
        started_at=dt(row["started_at"]), finished_at=dt(row["finished_at"]),
        # a read-only store made before the column has none
        child_execution=row["child_execution"] if "child_execution" in row.keys() else None,
    )


def execution_record(row: sqlite3.Row, nodes: tuple[NodeRecord, ...]) -> ExecutionRecord:
    """An ``executions`` row (and its nodes) as an :class:`ExecutionRecord`."""
    return ExecutionRecord(
        id=ExecKey(row["project"], row["domain"], row["name"]), workflow=row["workflow"],
        status=ExecutionStatus(row["status"]),
        inputs=json.loads(row["inputs"]) if row["inputs"] else {},
        outputs=json.loads(row["outputs"]) if row["outputs"] is not None else None,
        error=row["error"], created_at=at(row["created_at"]), updated_at=at(row["updated_at"]),
        finished_at=dt(row["finished_at"]), pid=row["pid"], host=row["host"], nodes=nodes,
        workflow_path=row["workflow_path"], pid_started=row["pid_started"], boot_id=row["boot_id"],
    )


def execution_row(conn: sqlite3.Connection, key: ExecKey) -> sqlite3.Row:
    """An execution's row; ``ExecutionNotFoundError`` naming how to list them."""
    row: sqlite3.Row | None = conn.execute("SELECT * FROM executions WHERE project=? AND domain=? AND name=?",
                                           key_tuple(key)).fetchone()
    if row is None:
        raise ExecutionNotFoundError(
            f"No execution {key.name!r} in project {key.project!r}, domain {key.domain!r}. "
            "List executions with `gatewidgets executions` or `%gate executions`."
        )
    return row
