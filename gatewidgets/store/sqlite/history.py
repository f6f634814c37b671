"""What happened: the events of signals, figures for metrics, task attempts, and the task cache."""
from __future__ import annotations

import json
from typing import Any, Mapping

from gatewidgets.models.execution import NodeState
from gatewidgets.models.signal import SignalEvent, SignalState
from gatewidgets.store.base import ExecKey, now, timeline_event
from gatewidgets.store.sqlite.connection import retried, translated
from gatewidgets.store.sqlite.rows import at, dt, dumps, execution_record, execution_row, key_tuple, ts
from gatewidgets.store.sqlite.signals import Signals

__all__ = ["History"]


class History(Signals):
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
        conn = self._conn()
        where, params = [], []
        for column, value in (("project", project), ("domain", domain)):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        also = (" AND " + " AND ".join(f"s.{w}" for w in where)) if where else ""
        running = [execution_record(r, ()) for r in conn.execute(
            "SELECT * FROM executions" + (clause + " AND" if clause else " WHERE") + " status='RUNNING'", params)]
        return {
            "executions": dict(conn.execute(f"SELECT status, COUNT(*) FROM executions{clause} GROUP BY status",
                                            params).fetchall()),
            "orphaned": sum(1 for r in running if self.owner_alive(r) is False),
            "signals": dict(conn.execute(f"SELECT state, COUNT(*) FROM signals{clause} GROUP BY state",
                                         params).fetchall()),
            "set_via": dict(conn.execute(
                "SELECT via, COUNT(*) FROM signals" + (clause + " AND" if clause else " WHERE") +
                " state IN ('SET', 'TIMED_OUT') GROUP BY via", params).fetchall()),
            "waited": [(r[0], r[1]) for r in conn.execute(
                "SELECT waiting_since, set_at FROM signals" + (clause + " AND" if clause else " WHERE") +
                " state IN ('SET', 'TIMED_OUT') AND kind != 'sleep' AND waiting_since IS NOT NULL", params)],
            "waiting_since": [r[0] for r in conn.execute(
                "SELECT waiting_since FROM signals" + (clause + " AND" if clause else " WHERE") +
                " state='PENDING' AND kind != 'sleep'", params)],
            "resumed": [(max(r[0], r[2]), ts(dt(r[1]))) for r in conn.execute(
                "SELECT s.set_at, n.finished_at, s.waiting_since FROM signals s JOIN nodes n "
                "ON n.project=s.project AND "
                "n.domain=s.domain AND n.execution=s.execution AND n.node_id=s.node_id WHERE s.state='SET' "
                "AND s.waiting_since IS NOT NULL AND n.state='SUCCEEDED' AND n.finished_at IS NOT NULL" + also,
                params)],
        }

    @retried("record a task's attempt")
    def record_attempt(self, key: ExecKey, node_id: str, attempt: int, error: str) -> None:
        """Note in the history that attempt ``attempt`` of a task node failed with ``error`` and is retried."""
        with self._write() as conn:
            event = self._event(conn, key, "retry", node_id=node_id, state=NodeState.RUNNING.value,
                                value=dumps({"attempt": attempt, "error": error}))
        self._dispatch([event])

    @retried("record a step of a gate's timeline")
    def record_event(self, key: ExecKey, signal_id: str, kind: str, detail: Mapping[str, Any]) -> bool:
        """Add a ``reminded`` or ``escalated`` event to a ``PENDING`` signal's history; False once it is not."""
        timeline_event(kind)
        with self._write() as conn:
            row = self._signal_row(conn, key, signal_id)
            if row["state"] != SignalState.PENDING.value:
                return False
            event = self._event(conn, key, kind, signal_id=signal_id, node_id=row["node_id"], state=row["state"],
                                detail=dumps(dict(detail)))
        self._dispatch([event])
        return True

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
