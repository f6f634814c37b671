"""Signals: reading and filtering them, and the decisions on them (reach, set, time out, cancel), each one
``BEGIN IMMEDIATE`` transaction so concurrent writers from many processes agree on one answer."""
from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

from gatewidgets.models.common import Sort
from gatewidgets.models.filters import Filter
from gatewidgets.models.policy import Ballot
from gatewidgets.models.signal import Signal, SignalState, Via
from gatewidgets.store.base import ExecKey, now
from gatewidgets.store.deciding import Deciding
from gatewidgets.store.sql import (
    LiveTypes,
    no_signal,
    refuse_set,
    signal_order,
    signal_where,
)
from gatewidgets.store.sqlite.connection import retried, translated
from gatewidgets.store.sqlite.executions import Executions
from gatewidgets.store.sqlite.rows import dumps, execution_row, key_tuple, ts

__all__ = ["Signals"]


class Signals(Deciding, LiveTypes, Executions):
    """The signals of a store, and the live types that decode their values in this process."""

    # a context that is not a JSON object may hide a policy (it reads as an unreadable one): judged, never set here
    _NO_POLICY = ("AND (context IS NULL OR CASE WHEN NOT json_valid(context) OR json_type(context) <> 'object' "
                  "THEN 0 ELSE json_extract(context, '$.policy') IS NULL END)")

    def _signal_row(self, conn: sqlite3.Connection, key: ExecKey, signal_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM signals WHERE project=? AND domain=? AND execution=? AND signal_id=?",
            (*key_tuple(key), signal_id)).fetchone()
        if row is None:
            execution_row(conn, key)
            known = [r[0] for r in conn.execute(
                "SELECT signal_id FROM signals WHERE project=? AND domain=? AND execution=? ORDER BY seq",
                key_tuple(key))]
            raise no_signal(key, signal_id, known)
        return row

    @translated
    def get_signal(self, key: ExecKey, signal_id: str) -> Signal:
        """One signal; raises ``ExecutionNotFoundError`` / ``SignalNotFoundError``."""
        return self._signal(self._signal_row(self._conn(), key, signal_id))

    @translated
    def list_signals(self, key: ExecKey | None = None, *, project: str | None = None, domain: str | None = None,
                     filters: Iterable[Filter] = (), sort_by: Sort | None = None,
                     limit: int | None = 100, offset: int = 0) -> list[Signal]:
        """Signals of one execution, or across executions when ``key`` is None; filters, then limit."""
        where, params = self._where(key, project, domain, filters)
        sql = "SELECT * FROM signals" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY " + signal_order(sort_by, across=key is None)
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"  # a negative LIMIT is none: an offset applies without a limit too
            params += [-1 if limit is None else int(limit), int(offset)]
        return [self._signal(r) for r in self._conn().execute(sql, params)]

    @translated
    def count_signals(self, key: ExecKey | None = None, *, project: str | None = None, domain: str | None = None,
                      filters: Iterable[Filter] = ()) -> int:
        """How many signals :meth:`list_signals` would return without a limit."""
        where, params = self._where(key, project, domain, filters)
        sql = "SELECT COUNT(*) FROM signals" + (" WHERE " + " AND ".join(where) if where else "")
        return int(self._conn().execute(sql, params).fetchone()[0])

    def _where(self, key: ExecKey | None, project: str | None, domain: str | None,
               filters: Iterable[Filter]) -> tuple[list[str], list[Any]]:
        if key is not None:
            execution_row(self._conn(), key)
        return signal_where(key, project, domain, filters, "?", "instr({column}, {mark}) > 0")

    @retried("open a gate's signal")
    def reach_signal(self, key: ExecKey, signal_id: str, deadline: datetime | None,
                     context: dict[str, Any] | None = None) -> Signal:
        """A gate reached its signal: ``UPCOMING`` becomes ``PENDING``. Other states are returned as they are.

        ``context`` (an approval's evidence and original value) is merged into an open signal's context.
        """
        return self._reach(self._write(), key, signal_id, deadline, context)

    @retried("set a signal")
    def set_signal(self, key: ExecKey, signal_id: str, value: Any, identity: str, *, set_by: str,
                   via: Via | str, describe: Callable[[Any], str] = repr,
                   detail: dict[str, Any] | None = None, read: Signal | None = None,
                   ballot: Ballot | None = None) -> tuple[Signal, bool]:
        """Set an open signal to ``value`` (its JSON form). Returns the signal and whether it changed.

        The same value again is a no-op; another value raises ``SignalAlreadySetError``;
        a timed-out or cancelled signal raises ``SignalClosedError``. ``detail`` (a decision's
        comment, original and approved value) is merged into the signal's context and recorded
        with the ``set`` event. An open signal without a policy is set by one statement (a compare-and-set on its
        state that returns the row): the row is read only when that is refused (``read`` is not needed). A signal
        with a policy is judged in the same transaction (:func:`gatewidgets.models.policy.judge`): ``ballot``
        says who decides; a refusal raises ``GateForbiddenError`` (and is kept in the history), a partial
        approval is kept in the context and its ``approved`` event, and the value is set once the quorum is met.
        """
        with self._write() as conn:
            decided = self._decide(conn, key, signal_id, (dumps(value), identity, set_by, Via(via).value), describe,
                                   detail, ballot)
        return self._settled(decided)

    def _locked_row(self, conn: sqlite3.Connection, key: ExecKey, signal_id: str) -> sqlite3.Row:
        return self._signal_row(conn, key, signal_id)  # the write transaction holds the store's lock

    def _assign(self, conn: sqlite3.Connection, key: ExecKey, signal_id: str,
                columns: Mapping[str, str | None]) -> sqlite3.Row:
        row: sqlite3.Row = conn.execute(
            f"UPDATE signals SET {', '.join(f'{column}=?' for column in columns)} "
            "WHERE project=? AND domain=? AND execution=? AND signal_id=? RETURNING *",
            (*columns.values(), *key_tuple(key), signal_id)).fetchone()
        return row

    def _launcher(self, conn: sqlite3.Connection, key: ExecKey) -> str | None:
        launched_by: str | None = execution_row(conn, key)["launched_by"]
        return launched_by

    def _keep_approvals(self, conn: sqlite3.Connection, key: ExecKey, signal_id: str, approvals: str) -> sqlite3.Row:
        row: sqlite3.Row = conn.execute(
            "UPDATE signals SET context=json_set(COALESCE(context, '{}'), '$.approvals', json(?)) "
            "WHERE project=? AND domain=? AND execution=? AND signal_id=? RETURNING *",
            (approvals, *key_tuple(key), signal_id)).fetchone()
        return row

    def _set_row(self, conn: sqlite3.Connection, key: ExecKey, signal_id: str, fields: tuple[str, str, str, str],
                 detail: dict[str, Any] | None, condition: str) -> sqlite3.Row | None:
        """Set an open signal (``fields``: value, identity, set_by, via) and merge ``detail`` into its context, if
        ``condition`` holds too; the row as set, or None."""
        merge, merged = "", []
        for name, part in (detail or {}).items():  # merged by SQLite: the context may have grown since it was read
            merge += ", ?, json(?)"
            merged += [f'$."{name}"', dumps(part)]
        context = f"json_set(COALESCE(context, '{{}}'){merge})" if merge else "context"
        value, identity, set_by, via = fields
        row: sqlite3.Row | None = conn.execute(
            f"UPDATE signals SET state=?, value=?, identity=?, set_at=?, set_by=?, via=?, context={context} "
            f"WHERE project=? AND domain=? AND execution=? AND signal_id=? AND state IN (?, ?) {condition} "
            "RETURNING *",
            (SignalState.SET.value, value, identity, ts(now()), set_by, via, *merged, *key_tuple(key), signal_id,
             SignalState.UPCOMING.value, SignalState.PENDING.value)).fetchone()
        return row

    def _refuse_set(self, conn: sqlite3.Connection, key: ExecKey, signal_id: str, identity: str,
                    describe: Callable[[Any], str]) -> Signal:
        """Why a signal that is not open was not set: the same answer again returns it (a no-op); else
        ``SignalAlreadySetError``, ``SignalClosedError`` or ``SignalNotFoundError``."""
        row = self._signal_row(conn, key, signal_id)
        refuse_set(row, key, signal_id, identity, describe)
        return self._signal(row)

    @retried("time out a signal")
    def timeout_signal(self, key: ExecKey, signal_id: str, value: Any = None, *, has_value: bool) -> Signal:
        """A gate's deadline passed: ``PENDING`` becomes ``TIMED_OUT`` (with the value that flows on, if any).

        If an answer won the race, the ``SET`` signal is returned unchanged.
        """
        return self._time_out(self._write(), key, signal_id, value, has_value)

    @retried("cancel signals")
    def cancel_signals(self, key: ExecKey, signal_ids: Sequence[str]) -> list[str]:
        """Cancel these open signals (their gates will never be reached); returns the ones cancelled."""
        stamp = ts(now())
        cancelled = []
        with self._write() as conn:
            events = []
            for signal_id in signal_ids:
                row = self._signal_row(conn, key, signal_id)
                if not SignalState(row["state"]).is_open:
                    continue
                conn.execute("UPDATE signals SET state=?, set_at=? WHERE project=? AND domain=? AND execution=? "
                             "AND signal_id=?", (SignalState.CANCELLED.value, stamp, *key_tuple(key), signal_id))
                events.append(self._event(conn, key, "cancelled", signal_id=signal_id, node_id=row["node_id"],
                                          state=SignalState.CANCELLED.value))
                cancelled.append(signal_id)
        self._dispatch(events)
        return cancelled
