"""Signals on PostgreSQL: reading and filtering them, and the decisions on them. A set is one
``UPDATE ... WHERE state IN (open states) RETURNING``: of concurrent answers from any number of processes and
machines, the row lock lets exactly one through (the first answer wins); the others are refused by what they then
read."""
from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

import psycopg

from gatewidgets.errors import GateError
from gatewidgets.models.common import Sort
from gatewidgets.models.filters import Filter
from gatewidgets.models.policy import Ballot
from gatewidgets.models.signal import Signal, SignalState, Via
from gatewidgets.store.base import ExecKey, now
from gatewidgets.store.deciding import Deciding
from gatewidgets.store.postgres.connection import Conn, retried, translated
from gatewidgets.store.postgres.executions import Executions
from gatewidgets.store.postgres.guard import FORBIDDEN
from gatewidgets.store.postgres.leases import execution_row
from gatewidgets.store.sql import (
    LiveTypes,
    Row,
    dumps,
    key_tuple,
    no_signal,
    refuse_set,
    signal_order,
    signal_where,
    ts,
)

__all__ = ["Signals"]

log = logging.getLogger(__name__)

_OPEN = (SignalState.UPCOMING.value, SignalState.PENDING.value)
_SIGNAL = "project=%s AND domain=%s AND execution=%s AND signal_id=%s"


class Signals(Deciding, LiveTypes, Executions):
    """The signals of a database, and the live types that decode their values in this process."""

    # a context that is not a JSON object may hide a policy (it reads as an unreadable one): judged, never set here
    _NO_POLICY = "AND NOT COALESCE(jsonb_exists(gatewidgets_context(context), 'policy'), true)"

    def _signal_row(self, conn: Conn, key: ExecKey, signal_id: str, *, lock: bool = False) -> dict[str, Any]:
        row = conn.execute(f"SELECT * FROM signals WHERE {_SIGNAL}" + (" FOR UPDATE" if lock else ""),
                           (*key_tuple(key), signal_id)).fetchone()
        if row is None:
            execution_row(conn, key)
            known = [r["signal_id"] for r in conn.execute(
                "SELECT signal_id FROM signals WHERE project=%s AND domain=%s AND execution=%s ORDER BY seq",
                key_tuple(key))]
            raise no_signal(key, signal_id, known)
        return row

    def _signal(self, row: Row) -> Signal:
        """The signal of ``row``; its context names the login role that closed it (``db_role``)."""
        signal = super()._signal(row)
        if not row["db_role"]:
            return signal
        return dataclasses.replace(signal, context={**(signal.context or {}), "db_role": row["db_role"]})

    @translated
    def get_signal(self, key: ExecKey, signal_id: str) -> Signal:
        """One signal; raises ``ExecutionNotFoundError`` / ``SignalNotFoundError``."""
        with self._read() as conn:
            return self._signal(self._signal_row(conn, key, signal_id))

    @translated
    def list_signals(self, key: ExecKey | None = None, *, project: str | None = None, domain: str | None = None,
                     filters: Iterable[Filter] = (), sort_by: Sort | None = None,
                     limit: int | None = 100, offset: int = 0) -> list[Signal]:
        """Signals of one execution, or across executions when ``key`` is None; filters, then limit."""
        with self._read() as conn:
            where, params = self._where(conn, key, project, domain, filters)
            sql = "SELECT * FROM signals" + (" WHERE " + " AND ".join(where) if where else "")
            sql += " ORDER BY " + signal_order(sort_by, across=key is None) + " LIMIT %s OFFSET %s"
            rows = conn.execute(sql, [*params, limit, int(offset)]).fetchall()
        return [self._signal(r) for r in rows]

    @translated
    def count_signals(self, key: ExecKey | None = None, *, project: str | None = None, domain: str | None = None,
                      filters: Iterable[Filter] = ()) -> int:
        """How many signals :meth:`list_signals` would return without a limit."""
        with self._read() as conn:
            where, params = self._where(conn, key, project, domain, filters)
            sql = "SELECT COUNT(*) AS n FROM signals" + (" WHERE " + " AND ".join(where) if where else "")
            row = conn.execute(sql, params).fetchone()
        return int(row["n"]) if row else 0

    @staticmethod
    def _where(conn: Conn, key: ExecKey | None, project: str | None, domain: str | None,
               filters: Iterable[Filter]) -> tuple[list[str], list[Any]]:
        if key is not None:
            execution_row(conn, key)
        return signal_where(key, project, domain, filters, "%s", "strpos({column}, {mark}) > 0")

    @retried("open a gate's signal")
    def reach_signal(self, key: ExecKey, signal_id: str, deadline: datetime | None,
                     context: dict[str, Any] | None = None) -> Signal:
        """A gate reached its signal: ``UPCOMING`` becomes ``PENDING`` (other states are returned as they are);
        ``context`` joins an open signal's context."""
        return self._reach(self._tx(), key, signal_id, deadline, context)

    @staticmethod
    def _update(conn: Conn, key: ExecKey, signal_id: str, assignments: str, *values: Any) -> dict[str, Any]:
        row = conn.execute(f"UPDATE signals SET {assignments} WHERE {_SIGNAL} RETURNING *",
                           (*values, *key_tuple(key), signal_id)).fetchone()
        assert row is not None
        return dict(row)

    @retried("set a signal")
    def set_signal(self, key: ExecKey, signal_id: str, value: Any, identity: str, *, set_by: str,
                   via: Via | str, describe: Callable[[Any], str] = repr,
                   detail: dict[str, Any] | None = None, read: Signal | None = None,
                   ballot: Ballot | None = None) -> tuple[Signal, bool]:
        """Set an open signal to ``value`` (its JSON form) by one compare-and-set; returns the signal and whether it
        changed. The same value again is a no-op; another value raises ``SignalAlreadySetError``; a timed-out or
        cancelled signal ``SignalClosedError``. ``detail`` joins the context and the ``set`` event. A signal with a
        policy is judged under its row lock, as the SQLite store does (see there), and again by the database's
        guard (:mod:`gatewidgets.store.postgres.guard`); where roles are users, the login role decides."""
        set_by = self.role if self.role_is_user else set_by
        try:
            with self._tx() as conn:
                ballot = self.vouched_ballot(conn, ballot) if ballot is not None else None
                decided = self._decide(conn, key, signal_id, (dumps(value), identity, set_by, Via(via).value),
                                       describe, detail, ballot)
        except psycopg.Error as exc:
            if exc.sqlstate == FORBIDDEN:  # the database's guard refused it: kept in the history as well
                who = ballot.identity if ballot is not None else None
                self._refused_by_database(key, signal_id, who.user if who else set_by, who.source if who else None,
                                          Via(via).value, exc)
            raise  # GateForbiddenError (see translated)
        return self._settled(decided)

    def _refused_by_database(self, key: ExecKey, signal_id: str, who: str, source: str | None, via: str,
                             refusal: psycopg.Error) -> None:
        """Record the ``refused`` event of a decision the database's guard refused (its transaction rolled back), in
        a transaction of its own, as a refusal judged here is recorded; if that fails too, log it (the refusal is
        raised all the same)."""
        reason = (refusal.diag.message_primary or str(refusal)).removeprefix("gatewidgets: ")
        try:
            with self._tx() as conn:
                event = self._refused(conn, key, self._signal_row(conn, key, signal_id), who, source, via, reason)
        except (GateError, psycopg.Error) as exc:
            log.warning("gatewidgets could not record in %s that %s was refused signal %r of execution %s: %s",
                        self.path, who, signal_id, key, exc)
            return
        self._dispatch([event])

    def _locked_row(self, conn: Conn, key: ExecKey, signal_id: str) -> dict[str, Any]:
        return self._signal_row(conn, key, signal_id, lock=True)

    def _assign(self, conn: Conn, key: ExecKey, signal_id: str, columns: Mapping[str, str | None]) -> dict[str, Any]:
        return self._update(conn, key, signal_id, ", ".join(f"{column}=%s" for column in columns), *columns.values())

    def _launcher(self, conn: Conn, key: ExecKey) -> str | None:
        launched_by: str | None = execution_row(conn, key)["launched_by"]
        return launched_by

    def _keep_approvals(self, conn: Conn, key: ExecKey, signal_id: str, approvals: str) -> dict[str, Any]:
        return self._update(conn, key, signal_id, "context=(COALESCE(context, '{}')::jsonb || "
                            "jsonb_build_object('approvals', %s::jsonb))::text", approvals)

    def _approved_detail(self, recorded: dict[str, Any] | None, ballot: Ballot) -> dict[str, Any]:
        return {**(recorded or {}), "value_key": ballot.value_key}  # the guard counts a quorum by these events

    def _set_row(self, conn: Conn, key: ExecKey, signal_id: str, fields: tuple[str, str, str, str],
                 detail: dict[str, Any] | None, condition: str) -> dict[str, Any] | None:
        """Set an open signal (``fields``: value, identity, set_by, via) and merge ``detail`` into its context, if
        ``condition`` holds too; the row as set, or None."""
        context = "(COALESCE(context, '{}')::jsonb || %s::jsonb)::text" if detail else "context"
        merged = (dumps(detail),) if detail else ()
        value, identity, set_by, via = fields
        row: dict[str, Any] | None = conn.execute(
            f"UPDATE signals SET state=%s, value=%s, identity=%s, set_at=%s, set_by=%s, via=%s, context={context} "
            f"WHERE {_SIGNAL} AND state IN (%s, %s) {condition} RETURNING *",
            (SignalState.SET.value, value, identity, ts(now()), set_by, via, *merged, *key_tuple(key), signal_id,
             *_OPEN)).fetchone()
        return row

    def _refuse_set(self, conn: Conn, key: ExecKey, signal_id: str, identity: str,
                    describe: Callable[[Any], str]) -> Signal:
        row = self._signal_row(conn, key, signal_id)
        refuse_set(row, key, signal_id, identity, describe)
        return self._signal(row)

    @retried("time out a signal")
    def timeout_signal(self, key: ExecKey, signal_id: str, value: Any = None, *, has_value: bool) -> Signal:
        """A gate's deadline passed: ``PENDING`` becomes ``TIMED_OUT``; if an answer won the race, the ``SET``
        signal is returned unchanged."""
        return self._time_out(self._tx(), key, signal_id, value, has_value)

    @retried("cancel signals")
    def cancel_signals(self, key: ExecKey, signal_ids: Sequence[str]) -> list[str]:
        """Cancel these open signals (their gates will never be reached); returns the ones cancelled."""
        stamp = ts(now())
        with self._tx() as conn:
            rows = conn.execute(
                "UPDATE signals SET state=%s, set_at=%s WHERE project=%s AND domain=%s AND execution=%s "
                "AND signal_id = ANY(%s) AND state IN (%s,%s) RETURNING signal_id, node_id",
                (SignalState.CANCELLED.value, stamp, *key_tuple(key), list(signal_ids), *_OPEN)).fetchall()
            closed = {r["signal_id"]: r["node_id"] for r in rows}
            cancelled = [sid for sid in signal_ids if sid in closed]
            events = [self._event(conn, key, "cancelled", signal_id=sid, node_id=closed[sid],
                                  state=SignalState.CANCELLED.value) for sid in cancelled]
        self._dispatch(events)
        return cancelled
