"""Executions on PostgreSQL: launch, nodes added at run time, node changes (written behind; every completion
committed by :meth:`durable` before a successor starts), recovery (adoption), reads, and ends."""
from __future__ import annotations

import collections
import functools
import logging
import os
import threading
from datetime import datetime
from typing import Any, Sequence

import psycopg

from gatewidgets.errors import ExecutionExistsError, ExecutionLostError, StoreError
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus, NodeState
from gatewidgets.models.signal import SignalState
from gatewidgets.store.base import ExecKey, NewExecution, NodeRow, SignalRow, StoreEvent, now
from gatewidgets.store.postgres.connection import NOTIFIED, Conn, retried, translated
from gatewidgets.store.postgres.leases import CLOCK, OWNED, Leases, execution_row, owner_identity
from gatewidgets.store.postgres.roles import Guarded
from gatewidgets.store.sql import (
    Creating,
    Ended,
    context_json,
    dumps,
    execution_record,
    key_tuple,
    no_execution,
    node_record,
    refuse_adoption,
    ts,
    write_kept,
)

__all__ = ["Executions", "execution_row"]

log = logging.getLogger(__name__)

_DONE = (NodeState.SUCCEEDED, NodeState.SKIPPED)  # node states whose loss would run a node again
_OPEN = (SignalState.UPCOMING.value, SignalState.PENDING.value)
_Where = tuple[str, str, str, str]  # (project, domain, execution, node_id)
_RETRY_MIN, _RETRY_MAX = 0.1, 2.0  # seconds the writer waits before it tries again what the database did not take
# node changes per statement: each takes 4 + at most 6 parameters, and 3 per execution, of PostgreSQL's 65,535
_CHUNK = 4000


def _next(table: str, claimed: bool) -> str:
    """The start of an insert of an execution's new nodes or signals (:meth:`Executions._insert`): the execution
    (only while this process owns it, if ``claimed``) and the last ``seq`` of its stored ``table`` rows (counted
    once: a count per row would read every row inserted so far, quadratic); nothing is inserted without it."""
    return ("WITH x AS MATERIALIZED (SELECT project, domain, name, (SELECT COALESCE(MAX(seq), -1) FROM "
            f"{table} t WHERE t.project=e.project AND t.domain=e.domain AND t.execution=e.name) AS seq FROM executions "
            f"e WHERE (project, domain, name) = (%s, %s, %s){f' AND {OWNED}' if claimed else ''}) ")


_INSERT_NODES = {claimed: _next("nodes", claimed) + (
    "INSERT INTO nodes (project, domain, execution, node_id, seq, kind, name, state, upstream, signal_id) SELECT "
    "x.project, x.domain, x.name, v.node_id, x.seq + v.i, v.kind, v.name, %s, v.upstream, v.signal_id FROM x, "
    "unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[]) WITH ORDINALITY AS "
    "v(node_id, kind, name, upstream, signal_id, i) ORDER BY v.i ON CONFLICT DO NOTHING") for claimed in (False, True)}
_INSERT_SIGNALS = {claimed: _next("signals", claimed) + (
    ", s AS (INSERT INTO signals (project, domain, execution, signal_id, seq, kind, "
    "node_id, description, type, state, created_at, context) SELECT x.project, x.domain, x.name, v.signal_id, "
    "x.seq + v.i, v.kind, v.node_id, v.description, v.type, %s, %s, v.context FROM x, unnest(%s::text[], %s::text[], "
    "%s::text[], %s::text[], %s::text[], %s::text[]) WITH ORDINALITY AS v(signal_id, kind, node_id, description, "
    "type, context, i) ORDER BY v.i ON CONFLICT DO NOTHING RETURNING *), "
    "c AS (INSERT INTO events (origin, at, project, domain, execution, signal_id, node_id, kind, state) SELECT %s, "
    "%s, project, domain, execution, signal_id, node_id, 'created', state FROM s ORDER BY seq RETURNING *) "
    f"SELECT id, signal_id, {NOTIFIED} FROM c ORDER BY id") for claimed in (False, True)}


def _node_value(column: str, value: Any) -> Any:
    """A node field as stored: states by value, outputs as JSON text, times as ISO text or epoch seconds."""
    if column == "state":
        return value.value
    if column == "outputs":
        return dumps(value) if value is not None else None
    if isinstance(value, datetime):
        return ts(value)
    if isinstance(value, float):
        return repr(value)
    return value


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """``rows`` (of ``width`` values each) as ``width`` columns: arrays for ``unnest``."""
    return [list(column) for column in zip(*rows)] if rows else [[] for _ in range(width)]


@functools.lru_cache(maxsize=32)  # a chain's few shapes repeat; a batch of 4,000 changes is a ~200 KB statement
def _write_sql(claim: str, shapes: tuple[tuple[tuple[str, ...], int], ...]) -> str:
    """The statement of :meth:`Executions._write_nodes`: ``claim`` (``own``), then for each shape of change (its
    columns, and how many nodes) an update of those nodes, joined with ``own``: only the claimed executions'."""
    writes = []
    for i, (columns, count) in enumerate(shapes):
        values = [f"v{j}" for j in range(len(columns))]
        typed = f"({', '.join(['%s::text'] * (4 + len(columns)))})"  # the first row types the columns
        writes.append(
            f", w{i} AS (UPDATE nodes n SET {', '.join(f'{c}=v.{v}' for c, v in zip(columns, values))} FROM "
            f"(VALUES {', '.join([typed] + [typed.replace('::text', '')] * (count - 1))}) AS v(project, domain, "
            f"execution, node_id, {', '.join(values)}) JOIN own ON (own.project, own.domain, own.name) = "
            "(v.project, v.domain, v.execution) WHERE (n.project, n.domain, n.execution, n.node_id) = "
            "(v.project, v.domain, v.execution, v.node_id))")
    return f"WITH own AS ({claim}){''.join(writes)} SELECT project, domain, name FROM own"


class Executions(Creating, Leases, Guarded):
    """The executions of a database and their nodes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._changes: collections.deque[tuple[_Where, dict[str, Any]]] = collections.deque()
        self._unwritten: dict[_Where, dict[str, Any]] = {}  # taken by a flush that failed
        self._completions: collections.deque[None] = collections.deque()  # one per completion not committed yet
        self._flush_lock = threading.Lock()
        self._writer_wake = threading.Event()
        self._writer: threading.Thread | None = None
        # ends of executions run here that the database did not take yet (see end_execution)
        self._ends: dict[ExecKey, Ended] = {}

    # -- launch ----------------------------------------------------------------------------------------------

    @retried("create executions")
    def create_executions(self, rows: Sequence[NewExecution]) -> None:
        """Insert every execution of ``rows`` as :meth:`create_execution` does, in one transaction: all or none
        (``ExecutionExistsError`` naming the first name that exists)."""
        stamp = ts(now())
        with self._tx() as conn:
            events = [event for row in rows for event in self._create(conn, row, stamp)]
        for row in rows:
            if (row.pid if row.pid is not None else os.getpid()) == os.getpid():
                self._own(row.key)
        self._dispatch(events)

    def _create(self, conn: Conn, row: NewExecution, stamp: str | None) -> list[Any]:
        """Insert one execution of :meth:`create_executions` in ``conn``'s transaction; its events."""
        key = row.key
        launched_by = self.vouched(row.launched_by)
        owner = row.pid if row.pid is not None else os.getpid()
        started, boot, space = owner_identity(owner)
        inserted = conn.execute(
            "INSERT INTO executions (project, domain, name, workflow, status, inputs, pid, host, created_at, "
            "updated_at, workflow_path, pid_started, boot_id, pid_namespace, launched_by, lease_until) "
            f"VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,{CLOCK} + %s) "
            "ON CONFLICT DO NOTHING RETURNING name",
            (*key_tuple(key), row.workflow, ExecutionStatus.RUNNING.value, dumps(row.inputs), owner, self.host,
             stamp, stamp, row.workflow_path, started, boot, space,
             dumps(launched_by.to_dict()) if launched_by else None, self.lease)).fetchone()
        if inserted is None:
            raise ExecutionExistsError(
                f"Execution {key} exists already. Choose another execution_name, or pass recover=True "
                "to resume it."
            )
        events = [self._event(conn, key, "launched", state=ExecutionStatus.RUNNING.value,
                              set_by=launched_by.user if launched_by else None,
                              detail=dumps({"source": launched_by.source}) if launched_by else None)]
        created = self._insert(conn, key, row.nodes, row.signals, stamp)
        assert created is not None  # its row was inserted just now
        events += created
        for signal_id, deadline in (row.reached or {}).items():
            reached = conn.execute(
                "UPDATE signals SET state=%s, waiting_since=%s, deadline=%s WHERE project=%s AND domain=%s AND "
                "execution=%s AND signal_id=%s AND state=%s RETURNING node_id",
                (SignalState.PENDING.value, stamp, ts(deadline), *key_tuple(key), signal_id,
                 SignalState.UPCOMING.value)).fetchone()
            if reached is not None:
                events.append(self._event(conn, key, "reached", signal_id=signal_id, node_id=reached["node_id"],
                                          state=SignalState.PENDING.value))
        return events

    def _insert(self, conn: Conn, key: ExecKey, nodes: Sequence[NodeRow], signals: Sequence[SignalRow],
                stamp: str | None, *, claim: bool = False) -> list[StoreEvent] | None:
        """Insert nodes (``QUEUED``) and signals (``UPCOMING``) of a stored execution, numbered after its stored
        ones, except those stored already; the events of the signals created. One round trip: statements sent
        together (one transaction, unless ``conn`` is in one already), the execution's row locked by the first, so
        each later one numbers after what another process's insert committed meanwhile. With ``claim``, the first
        claims the execution (:meth:`_claim`) and the inserts find it only while this process owns it. ``None``
        (nothing inserted) if the execution is not stored, or with ``claim`` not this process's."""
        lock, params = self._claim([key]) if claim else (
            "SELECT 1 FROM executions WHERE project=%s AND domain=%s AND name=%s FOR UPDATE", [*key_tuple(key)])
        mine = self._owned_by_me() if claim else []
        sql = [lock, _INSERT_NODES[claim]]
        params += [*key_tuple(key), *mine, NodeState.QUEUED.value, *_columns(
            [(n["node_id"], n["kind"], n["name"], dumps(list(n["upstream"])), n.get("signal_id")) for n in nodes], 5)]
        if signals:
            sql.append(_INSERT_SIGNALS[claim])
            params += [*key_tuple(key), *mine, SignalState.UPCOMING.value, stamp, *_columns(
                [(s["signal_id"], s["kind"], s["node_id"], s.get("description"), dumps(s["type"]),
                  context_json(s.get("context"))) for s in signals], 6), self.origin, ts(now())]
        with psycopg.ClientCursor(conn) as cur:  # bound here: several statements are one simple query
            cur.execute("; ".join(sql), params)  # our own text
            if cur.fetchone() is None:
                return None
            created = cur.fetchall() if cur.nextset() and cur.nextset() else []
        return [StoreEvent(r["id"], "created", key, r["signal_id"], SignalState.UPCOMING.value) for r in created]

    @retried("add a dynamic node's nodes")
    def add_nodes(self, key: ExecKey, nodes: Sequence[NodeRow], signals: Sequence[SignalRow]) -> None:
        """Add nodes (``QUEUED``) and signals (``UPCOMING``) a ``@dynamic`` node built; stored ones stay as they are.
        One round trip (:meth:`_insert`): the execution's row is locked only while the server runs it, so a process
        paused meanwhile holds nothing.

        Of an execution this process ran (launched or adopted here), nodes are added only while it still owns it,
        checked in the same round trip: a copy whose execution was taken over (or whose copy stopped here
        meanwhile) adds nothing, is marked lost (:meth:`lost`; its subscribers hear ``lost``, so its engine stops
        it) and gets ``ExecutionLostError``."""
        ran_here = key in self._ran
        with self._read() as conn:
            events = self._insert(conn, key, nodes, signals, ts(now()), claim=ran_here)
        if events is None and ran_here:
            self._tell_lost(self._unclaimed([key]))
            raise ExecutionLostError(self.lost(key) or f"Execution {key} is no longer run by this process: it was "
                                     "taken over by another process, or ended here.")
        if events is None:
            raise no_execution(key)
        self._dispatch(events)

    # -- node changes ------------------------------------------------------------------------------------------

    def update_node(self, key: ExecKey, node_id: str, **fields: Any) -> None:
        """Record a node change, written behind in a batch; a completion is committed by :meth:`durable`."""
        self._changes.append(((key.project, key.domain, key.name, node_id), fields))
        if fields.get("state") in _DONE:  # after its change: a flush that counts it takes the change
            self._completions.append(None)  # atomic, as the engine's workers call this at once
        self._wake_writer()

    def durable(self) -> None:
        """Return once every node completion recorded so far is committed to the database (so it survives a
        kill of this process, and of this machine): the engine calls it before a successor starts."""
        if self._completions:
            self.flush()

    def _wake_writer(self) -> None:
        self._start_once("_writer", self._write_loop, "gatewidgets-store-writer")
        self._writer_wake.set()

    def _write_loop(self) -> None:
        retry: float | None = None  # seconds until what the database did not take is tried again
        while not self._closed.is_set():
            self._writer_wake.wait(retry)
            self._writer_wake.clear()
            self._closed.wait(0.01)  # gather a batch
            try:
                self.flush()
                self._write_kept()
                retry = None
            except Exception as exc:  # kept for the next round
                retry = min(2 * retry, _RETRY_MAX) if retry else _RETRY_MIN
                log.warning("gatewidgets could not write to %s (tried again in %g s): %s", self.path, retry, exc,
                            exc_info=not isinstance(exc, StoreError))  # a database's refusal is one line

    @retried("write node states")
    def flush(self) -> None:
        """Write every pending node change now; if the write fails, the changes stay queued (later ones win).

        The changes of an execution are written only while this process owns it (checked, its row locked and its
        lease renewed, in the same statement): a copy whose execution was taken over writes nothing more, and
        is marked lost (:meth:`lost`), so no successor of a completion it could not write starts here."""
        with self._flush_lock:
            completions = len(self._completions)
            batch, self._unwritten = self._unwritten, {}
            for _ in range(len(self._changes)):
                where, fields = self._changes.popleft()
                batch[where] = {**batch.get(where, {}), **fields}
            lost: list[ExecKey] = []
            if batch:
                try:
                    lost = self._write_nodes(batch)
                except BaseException:
                    for where, fields in batch.items():  # merge what came meanwhile on top
                        self._unwritten[where] = {**fields, **self._unwritten.get(where, {})}
                    raise
            for _ in range(completions):
                self._completions.popleft()
        self._tell_lost(lost)

    def _write_nodes(self, batch: dict[_Where, dict[str, Any]]) -> list[ExecKey]:
        """Write ``batch`` in one statement per :data:`_CHUNK` nodes, each its own transaction (one round trip, no
        row held between trips, so a process paused meanwhile holds nothing): it claims the executions of its nodes
        (:meth:`_claim`) and changes the nodes of those it claimed only; the changes of the others are dropped.
        Returns the executions lost now."""
        changes = list(batch.items())
        refused: set[ExecKey] = set()
        for start in range(0, len(changes), _CHUNK):
            chunk = changes[start:start + _CHUNK]
            keys = sorted({ExecKey(*where[:3]) for where, _ in chunk})  # in order: the same text for the same work
            claim, params = self._claim(keys)
            by_shape: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
            for where, fields in chunk:
                columns = tuple(sorted(fields))
                by_shape.setdefault(columns, []).append((*where, *(_node_value(c, fields[c]) for c in columns)))
            shapes = sorted(by_shape.items())
            params += [value for _, rows in shapes for row in rows for value in row]
            with self._read() as conn:
                claimed = conn.execute(_write_sql(claim, tuple((columns, len(rows)) for columns, rows in shapes)),
                                       params).fetchall()
            refused.update(set(keys) - {ExecKey(r["project"], r["domain"], r["name"]) for r in claimed})
        return self._unclaimed(sorted(refused))

    # -- recovery ---------------------------------------------------------------------------------------------

    @retried("adopt an execution")
    def adopt_execution(self, key: ExecKey) -> ExecutionRecord:
        """Claim an unfinished execution whose owner is gone (recovery): on this host, its process has ended; on
        another, its lease expired (it was not renewed for ``lease`` seconds). The row is locked, checked and its
        owner and lease swapped in one transaction, so of processes on any machines recovering it at once exactly
        one wins; the others get ``ExecutionExistsError`` naming the winner. The process that lost it stops its
        copy when it next writes a node or renews its leases (see :mod:`.leases`)."""
        if key in self._ends:
            raise ExecutionExistsError(f"Execution {key} ended in this process; its end is recorded as soon as "
                                       f"{self.path} accepts writes again.")
        with self._tx() as conn:
            row = execution_row(conn, key, lock=True)
            refuse_adoption(row, key, self._mine(row), lambda: self._owner_alive(conn, row))
            conn.execute("UPDATE executions SET pid=%s, host=%s, pid_started=%s, boot_id=%s, pid_namespace=%s, "
                         f"updated_at=%s, lease_until={CLOCK} + %s WHERE project=%s AND domain=%s AND name=%s",
                         (os.getpid(), self.host, *owner_identity(os.getpid()), ts(now()), self.lease, *key_tuple(key)))
        self._own(key)
        return self.get_execution(key)

    # -- reads ------------------------------------------------------------------------------------------------

    @translated
    def get_execution(self, key: ExecKey, *, with_nodes: bool = True) -> ExecutionRecord:
        """One execution, with its nodes unless ``with_nodes`` is false."""
        self.flush()
        with self._read() as conn:
            row = execution_row(conn, key)
            rows = conn.execute("SELECT * FROM nodes WHERE project=%s AND domain=%s AND execution=%s ORDER BY seq",
                                key_tuple(key)).fetchall() if with_nodes else []
        return execution_record(row, tuple(node_record(r) for r in rows))

    @translated
    def list_executions(self, project: str | None = None, domain: str | None = None,
                        status: str | None = None, limit: int | None = None) -> list[ExecutionRecord]:
        """Executions, newest first."""
        clauses, params = [], []
        for column, value in (("project", project), ("domain", domain), ("status", status)):
            if value is not None:
                clauses.append(f"{column}=%s")
                params.append(value)
        sql = "SELECT * FROM executions" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY created_at DESC, name LIMIT %s",
                                (*params, limit)).fetchall()
        return [execution_record(r, ()) for r in rows]

    # -- ends -------------------------------------------------------------------------------------------------

    def end_execution(self, key: ExecKey, status: ExecutionStatus, *, outputs: Any = None,
                      error: str | None = None) -> bool:
        """Record the end of an execution run here, as :meth:`finish_execution` does, and return ``True``; if the
        database does not take it (unreachable, read-only or full past ``retry_for``), keep it and return
        ``False``: the writer thread writes it, after the node changes made before it, as soon as the database
        accepts writes again (retried with backoff), and the heartbeat keeps its lease meanwhile.

        An end is written only while this process owns the execution: if another process took it over (this
        one's lease had expired), its end is that process's to record, and this copy's is logged and dropped."""
        if self._ended_here(key) is not None:  # lost: the engine said so when it stopped this copy
            return True
        try:
            self._end_owned(key, status, outputs, error)
            return True
        except StoreError as exc:
            self._ends[key] = (status, outputs, error)
            log.warning("gatewidgets will record the end of execution %s (%s) as soon as %s accepts writes: %s",
                        key, status.value, self.path, exc)
            self._wake_writer()
            return False

    def _write_kept(self) -> None:
        """Write the ends :meth:`end_execution` kept (the writer thread, after each flush)."""
        write_kept(self._ends, lambda key: key, self._end_owned, self.path)

    @retried("record the end of an execution")
    def _end_owned(self, key: ExecKey, status: ExecutionStatus, outputs: Any, error: str | None) -> None:
        self._finish(key, status, outputs, error, owned=True)

    @retried("record the end of an execution")
    def finish_execution(self, key: ExecKey, status: ExecutionStatus, *, outputs: Any = None,
                         error: str | None = None) -> list[str]:
        """End an execution; its open signals become ``CANCELLED`` in the same transaction (their ids returned).
        Ending an execution that already ended does nothing. An end this process decided but could not write yet
        (see :meth:`end_execution`) is written instead of this one."""
        status, outputs, error = self._ends.get(key, (status, outputs, error))
        return self._finish(key, status, outputs, error, owned=False)

    def _finish(self, key: ExecKey, status: ExecutionStatus, outputs: Any, error: str | None,
                owned: bool) -> list[str]:
        """:meth:`finish_execution`; if ``owned``, only while this process owns the execution. A kept end is
        settled (written, or dropped as no longer this process's) with the transaction."""
        self.flush()
        stamp = ts(now())
        with self._tx() as conn:
            row = execution_row(conn, key, lock=True)
            if row["status"] != ExecutionStatus.RUNNING.value:
                self._ends.pop(key, None)
                return []
            if owned and not self._mine(row):
                self._ends.pop(key, None)
                log.warning("gatewidgets did not record the end (%s) of execution %s: process %s on %s took it "
                            "over when this process's lease expired", status.value, key, row["pid"], row["host"])
                return []
            open_ids = [r["signal_id"] for r in sorted(conn.execute(
                "UPDATE signals SET state=%s, set_at=%s, via=NULL WHERE project=%s AND domain=%s AND execution=%s "
                "AND state IN (%s,%s) RETURNING signal_id, seq",
                (SignalState.CANCELLED.value, stamp, *key_tuple(key), *_OPEN)).fetchall(), key=lambda r: r["seq"])]
            conn.execute("UPDATE nodes SET state=%s WHERE project=%s AND domain=%s AND execution=%s "
                         "AND state IN (%s,%s,%s)", (NodeState.ABORTED.value, *key_tuple(key), NodeState.QUEUED.value,
                                                      NodeState.WAITING.value, NodeState.RUNNING.value))
            conn.execute("UPDATE executions SET status=%s, outputs=%s, error=%s, updated_at=%s, finished_at=%s "
                         "WHERE project=%s AND domain=%s AND name=%s",
                         (status.value, dumps(outputs) if outputs is not None else None, error, stamp, stamp,
                          *key_tuple(key)))
            events = [self._event(conn, key, "cancelled", signal_id=sid, state=SignalState.CANCELLED.value)
                      for sid in open_ids]
            events.append(self._event(conn, key, "finished", state=status.value))
        self._ends.pop(key, None)
        self._dispatch(events)
        return open_ids

    @retried("request an abort")
    def request_abort(self, key: ExecKey) -> bool:
        """Ask the process running ``key`` to abort it; ``False`` if it already ended."""
        with self._tx() as conn:
            row = execution_row(conn, key, lock=True)
            if row["status"] != ExecutionStatus.RUNNING.value:
                return False
            conn.execute("UPDATE executions SET abort_requested=TRUE, updated_at=%s WHERE project=%s AND domain=%s "
                         "AND name=%s", (ts(now()), *key_tuple(key)))
            event = self._event(conn, key, "abort_requested")
        self._dispatch([event])
        return True

