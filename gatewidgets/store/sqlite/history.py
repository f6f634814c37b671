"""What happened: the events of signals, figures for metrics, task attempts, and the task cache."""
from __future__ import annotations

import json
from typing import Any, Mapping

from gatewidgets.models.signal import SignalEvent
from gatewidgets.store.base import ExecKey, now
from gatewidgets.store.history import Recording
from gatewidgets.store.sqlite.connection import retried, translated
from gatewidgets.store.sqlite.rows import at, dumps, execution_row, key_tuple, ts
from gatewidgets.store.sqlite.signals import Signals

__all__ = ["History"]


class History(Signals, Recording):
    """Signal events, stats, task attempts and cached task outputs."""

    @translated
    def history(self, key: ExecKey, signal_id: str | None = None) -> list[SignalEvent]:
        """Every event of an execution (or of one of its signals), oldest first."""
        conn = self._conn()
        execution_row(conn, key)
        sql = "SELECT * FROM events WHERE project=? AND domain=? AND execution=?"
        params: list[Any] = list(key_tuple(key))
        if signal_id is not None:
            sql += " AND signal_id=?"
            params.append(signal_id)
        return [
            SignalEvent(r["id"], at(r["at"]), key, r["signal_id"], r["node_id"], r["kind"], r["state"],
                        json.loads(r["value"]) if r["value"] is not None else None, r["set_by"], r["via"],
                        json.loads(r["detail"]) if r["detail"] else None)
            for r in conn.execute(sql + " ORDER BY id", params)
        ]

    @translated
    def stats(self, project: str | None = None, domain: str | None = None) -> dict[str, Any]:
        """Raw figures for metrics: counts by status and state, and the times gates waited and resumed."""
        self.flush()
        return self._figures(self._conn(), "?", project, domain)

    @retried("record a task's attempt")
    def record_attempt(self, key: ExecKey, node_id: str, attempt: int, error: str) -> None:
        """Note in the history that attempt ``attempt`` of a task node failed with ``error`` and is retried."""
        self._record_attempt(self._write(), key, node_id, attempt, error)

    @retried("record a step of a gate's timeline")
    def record_event(self, key: ExecKey, signal_id: str, kind: str, detail: Mapping[str, Any]) -> bool:
        """Add a ``reminded`` or ``escalated`` event to a ``PENDING`` signal's history; False once it is not."""
        return self._record_event(self._write(), key, signal_id, kind, detail)

    @translated
    def cached_output(self, task: str, version: str, inputs_hash: str) -> tuple[bool, Any]:
        """``(True, outputs)`` if a task of that name and cache version ran on those inputs before."""
        row = self._conn().execute("SELECT outputs FROM task_cache WHERE task=? AND version=? AND inputs=?",
                                   (task, version, inputs_hash)).fetchone()
        return (True, json.loads(row[0])) if row is not None else (False, None)

    @retried("cache a task's outputs")
    def cache_output(self, task: str, version: str, inputs_hash: str, outputs: Any) -> None:
        """Remember a cacheable task's JSON ``outputs`` for these inputs (the first stored wins)."""
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO task_cache VALUES (?,?,?,?,?)",
                         (task, version, inputs_hash, dumps(outputs), ts(now())))
