"""How values and rows look in SQLite: timestamps, JSON, and the records read back."""
from __future__ import annotations

import sqlite3

from gatewidgets.store.base import ExecKey
from gatewidgets.store.sql import (
    at,
    context_json,
    dt,
    dumps,
    execution_record,
    key_tuple,
    no_execution,
    node_record,
    ts,
)

__all__ = ["ts", "dt", "at", "dumps", "context_json", "key_tuple", "node_record", "execution_record",
           "execution_row"]


def execution_row(conn: sqlite3.Connection, key: ExecKey) -> sqlite3.Row:
    """An execution's row; ``ExecutionNotFoundError`` naming how to list them."""
    row: sqlite3.Row | None = conn.execute("SELECT * FROM executions WHERE project=? AND domain=? AND name=?",
                                           key_tuple(key)).fetchone()
    if row is None:
        raise no_execution(key)
    return row
