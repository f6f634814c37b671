"""What the histories of the SQL stores (SQLite, PostgreSQL) share: the events a run adds besides its decisions (a
task's retried attempt, a step of a gate's timeline) and the figures for metrics. Each store supplies its dialect:
the transaction it writes in (with its own retries and errors), the locked read of a signal
(:meth:`Deciding._locked_row <gatewidgets.store.deciding.Deciding._locked_row>`) and its parameter mark."""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Callable, Mapping

from gatewidgets.models.execution import ExecutionRecord, NodeState
from gatewidgets.models.signal import SignalState
from gatewidgets.store.base import ExecKey, StoreEvent, timeline_event
from gatewidgets.store.sql import Row, dt, dumps, execution_record, ts

__all__ = ["Recording"]


class Recording:
    """The history's writes and figures of a SQL store, which has the ``_event``, ``_dispatch``, ``_locked_row``
    and ``owner_alive`` of every SQL store."""

    _event: Callable[..., StoreEvent]
    _dispatch: Callable[[list[StoreEvent]], None]
    _locked_row: Callable[[Any, ExecKey, str], Row]
    owner_alive: Callable[[ExecutionRecord], bool | None]

    def _record_attempt(self, transaction: AbstractContextManager[Any], key: ExecKey, node_id: str, attempt: int,
                        error: str) -> None:
        """``record_attempt`` in ``transaction`` (the store's write transaction, not yet entered)."""
        with transaction as conn:
            event = self._event(conn, key, "retry", node_id=node_id, state=NodeState.RUNNING.value,
                                value=dumps({"attempt": attempt, "error": error}))
        self._dispatch([event])

    def _record_event(self, transaction: AbstractContextManager[Any], key: ExecKey, signal_id: str, kind: str,
                      detail: Mapping[str, Any]) -> bool:
        """``record_event`` in ``transaction`` (the store's write transaction, not yet entered)."""
        timeline_event(kind)
        with transaction as conn:
            row = self._locked_row(conn, key, signal_id)
            if row["state"] != SignalState.PENDING.value:
                return False
            event = self._event(conn, key, kind, signal_id=signal_id, node_id=row["node_id"], state=row["state"],
                                detail=dumps(dict(detail)))
        self._dispatch([event])
        return True

    def _figures(self, conn: Any, mark: str, project: str | None, domain: str | None) -> dict[str, Any]:
        """``stats`` read through ``conn``; ``mark``: the dialect's parameter placeholder (``?``, ``%s``)."""
        scoped = [(column, value) for column, value in (("project", project), ("domain", domain)) if value is not None]
        params = [value for _, value in scoped]
        scope = " AND ".join(f"{column}={mark}" for column, _ in scoped) or "1=1"
        also = " AND ".join(f"s.{column}={mark}" for column, _ in scoped) or "1=1"

        def rows(sql: str) -> list[Row]:
            return list(conn.execute(sql, params))

        def counts(sql: str) -> dict[str, int]:
            return {r["k"]: r["n"] for r in rows(sql)}

        running = [execution_record(r, ()) for r in rows(
            f"SELECT * FROM executions WHERE {scope} AND status='RUNNING'")]
        return {
            "executions": counts(f"SELECT status AS k, COUNT(*) AS n FROM executions WHERE {scope} GROUP BY status"),
            "orphaned": sum(1 for r in running if self.owner_alive(r) is False),
            "signals": counts(f"SELECT state AS k, COUNT(*) AS n FROM signals WHERE {scope} GROUP BY state"),
            "set_via": counts(f"SELECT via AS k, COUNT(*) AS n FROM signals WHERE {scope} AND state IN ('SET', "
                              "'TIMED_OUT') GROUP BY via"),
            "waited": [(r["waiting_since"], r["set_at"]) for r in rows(
                f"SELECT waiting_since, set_at FROM signals WHERE {scope} AND state IN ('SET', 'TIMED_OUT') "
                "AND kind != 'sleep' AND waiting_since IS NOT NULL")],
            "waiting_since": [r["waiting_since"] for r in rows(
                f"SELECT waiting_since FROM signals WHERE {scope} AND state='PENDING' AND kind != 'sleep'")],
            "resumed": [(max(r["set_at"], r["waiting_since"]), ts(dt(r["finished_at"]))) for r in rows(
                "SELECT s.set_at, n.finished_at, s.waiting_since FROM signals s JOIN nodes n ON "
                "n.project=s.project AND n.domain=s.domain AND n.execution=s.execution AND n.node_id=s.node_id "
                f"WHERE {also} AND s.state='SET' AND s.waiting_since IS NOT NULL AND n.state='SUCCEEDED' "
                "AND n.finished_at IS NOT NULL")],
        }
