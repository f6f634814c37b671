"""Executions: launch, nodes added at run time, recovery (adoption), reads, and ends (kept while the store
cannot take them)."""
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from typing import Any, Sequence

from gatewidgets.errors import ExecutionExistsError, StoreError
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus, NodeRecord, NodeState
from gatewidgets.models.signal import SignalState
from gatewidgets.store import process
from gatewidgets.store.base import ExecKey, NewExecution, NodeRow, SignalRow, now
from gatewidgets.store.sql import Creating, Owners, refuse_adoption, write_kept
from gatewidgets.store.sqlite.connection import EventFields, retried, translated
from gatewidgets.store.sqlite.plans import NO_PLAN
from gatewidgets.store.sqlite.rows import (
    context_json,
    dumps,
    execution_record,
    execution_row,
    key_tuple,
    node_record,
    ts,
)
from gatewidgets.store.sqlite.writebehind import WriteBehind

__all__ = ["Executions"]

_NO_DETAIL = (None, None, None, None)  # an event's value, set_by, via, detail

log = logging.getLogger(__name__)


class Executions(Creating, Owners, WriteBehind):
    """The executions of a store and their nodes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # ends of executions run here that the store did not take yet (see end_execution)
        self._ends: dict[tuple[str, str, str], tuple[ExecutionStatus, Any, str | None]] = {}

    @retried("create executions")
    def create_executions(self, rows: Sequence[NewExecution]) -> None:
        """Insert every execution of ``rows`` as :meth:`create_execution` does, in one transaction: all or none
        (``ExecutionExistsError`` naming the first name that exists).

        The nodes are stored as a plan shared by every execution of the same nodes (content-addressed);
        a node gets its own row when it first changes (see :meth:`flush`), so a launch writes a few
        rows, not one per node, in one transaction with the gates it reaches first.
        """
        stamp = ts(now())
        plans: set[str] = set()  # plans written in this transaction: known stored once it commits
        with self._write() as conn:
            events = self._events(conn, [change for row in rows for change in self._create(conn, row, stamp, plans)])
        for row in rows:
            self._plans[key_tuple(row.key)] = self._plan(row.nodes)
        self._stored_plans.update(plans)
        self._keep_plans()
        self._dispatch(events)
        if self._cleaner is None:
            self._clean_in_background()

    def _create(self, conn: sqlite3.Connection, row: NewExecution, stamp: str | None,
                plans: set[str]) -> list[tuple[ExecKey, EventFields]]:
        """Insert one execution of :meth:`create_executions` in ``conn``'s transaction; its events, to append."""
        key, signals, launched_by = row.key, row.signals, row.launched_by
        reached = row.reached or {}
        plan = self._plan(row.nodes)
        owner = row.pid if row.pid is not None else os.getpid()
        started, boot = process.own_identity() if owner == os.getpid() else process.identity(owner)
        if not conn.execute(
            "INSERT OR IGNORE INTO executions (project, domain, name, workflow, status, inputs, pid, host, "
            "created_at, updated_at, workflow_path, plan, pid_started, boot_id, launched_by) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (key.project, key.domain, key.name, row.workflow, ExecutionStatus.RUNNING.value, dumps(row.inputs),
             owner, self.host, stamp, stamp, row.workflow_path, plan.id, started, boot,
             dumps(launched_by.to_dict()) if launched_by else None)).rowcount:
            raise ExecutionExistsError(
                f"Execution {key} exists already. Choose another execution_name, or pass recover=True "
                "to resume it."
            )
        if plan.id not in self._stored_plans and plan.id not in plans:
            conn.execute("INSERT OR IGNORE INTO plans (id, nodes) VALUES (?,?)", (plan.id, plan.text))
            plans.add(plan.id)
        conn.executemany(
            "INSERT INTO signals (project, domain, execution, signal_id, seq, kind, node_id, description, "
            "type, state, created_at, context, waiting_since, deadline) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(key.project, key.domain, key.name, s["signal_id"], i, s["kind"], s["node_id"], s.get("description"),
              dumps(s["type"]), SignalState.PENDING.value if s["signal_id"] in reached else
              SignalState.UPCOMING.value, stamp, context_json(s.get("context")),
              stamp if s["signal_id"] in reached else None, ts(reached.get(s["signal_id"])))
             for i, s in enumerate(signals)])
        changes: list[tuple[ExecKey, EventFields]] = [(key, (
            "launched", None, None, ExecutionStatus.RUNNING.value, None, launched_by.user if launched_by else None,
            None, dumps({"source": launched_by.source}) if launched_by else None))]
        for s in signals:
            changes.append((key, ("created", s["signal_id"], s["node_id"], SignalState.UPCOMING.value, *_NO_DETAIL)))
            if s["signal_id"] in reached:
                changes.append((key, ("reached", s["signal_id"], s["node_id"], SignalState.PENDING.value,
                                      *_NO_DETAIL)))
        return changes

    @retried("add a dynamic node's nodes")
    def add_nodes(self, key: ExecKey, nodes: Sequence[NodeRow], signals: Sequence[SignalRow]) -> None:
        """Add nodes (``QUEUED``) and signals (``UPCOMING``) that a ``@dynamic`` node built at run time.

        Rows that exist already (a recovered execution re-expanding) are kept as they are.
        """
        stamp = ts(now())
        with self._write() as conn:
            execution_row(conn, key)
            seq = max(len(self._plan_of(conn, key_tuple(key)).nodes), conn.execute(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM nodes WHERE project=? AND domain=? AND execution=?",
                key_tuple(key)).fetchone()[0])
            conn.executemany(
                "INSERT OR IGNORE INTO nodes (project, domain, execution, node_id, seq, kind, name, state, upstream, "
                "signal_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(*key_tuple(key), n["node_id"], seq + i, n["kind"], n["name"], NodeState.QUEUED.value,
                  dumps(list(n["upstream"])), n.get("signal_id")) for i, n in enumerate(nodes)])
            seq = conn.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM signals WHERE project=? AND domain=? "
                               "AND execution=?", key_tuple(key)).fetchone()[0]
            events = []
            for i, sig in enumerate(signals):
                cur = conn.execute(
                    "INSERT OR IGNORE INTO signals (project, domain, execution, signal_id, seq, kind, node_id, "
                    "description, type, state, created_at, context) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (*key_tuple(key), sig["signal_id"], seq + i, sig["kind"], sig["node_id"], sig.get("description"),
                     dumps(sig["type"]), SignalState.UPCOMING.value, stamp, context_json(sig.get("context"))))
                if cur.rowcount:
                    events.append(self._event(conn, key, "created", signal_id=sig["signal_id"],
                                              node_id=sig["node_id"], state=SignalState.UPCOMING.value))
        self._dispatch(events)

    @retried("adopt an execution")
    def adopt_execution(self, key: ExecKey) -> ExecutionRecord:
        """Claim an unfinished execution for this process (recovery); returns it with its nodes.

        One transaction checks that its owner is gone (see :mod:`gatewidgets.store.process`) and
        swaps the owner (compare-and-set), so of processes recovering it at once exactly one wins;
        the others get ``ExecutionExistsError`` naming the winner. An execution owned by this
        process is adopted: the executor checks that it does not run here.
        """
        if key_tuple(key) in self._ends:
            raise ExecutionExistsError(f"Execution {key} ended in this process; its end is recorded as soon as the "
                                       "store accepts writes again.")
        with self._write() as conn:
            row = execution_row(conn, key)
            refuse_adoption(row, key, (row["pid"], row["host"]) == (os.getpid(), self.host),
                            lambda: self._alive(row["pid"], row["host"], row["pid_started"], row["boot_id"]))
            journal = self._journal_path(row["host"], row["pid"], row["pid_started"])
            spent = self._replay(conn, key, journal, row["host"], row["pid"])
            cur = conn.execute("UPDATE executions SET pid=?, host=?, pid_started=?, boot_id=?, updated_at=? "
                               "WHERE project=? AND domain=? AND name=? AND pid IS ? AND host IS ? "
                               "AND pid_started IS ?",
                               (os.getpid(), self.host, *process.own_identity(), ts(now()), *key_tuple(key),
                                row["pid"], row["host"], row["pid_started"]))
            if cur.rowcount != 1:
                raise ExecutionExistsError(f"Execution {key} changed owner while being recovered; try again.")
        if spent:
            with contextlib.suppress(OSError):
                os.remove(journal)
        if self._cleaner is None:
            self._clean_in_background()
        return self.get_execution(key)

    @translated
    def get_execution(self, key: ExecKey, *, with_nodes: bool = True) -> ExecutionRecord:
        """One execution, with its nodes unless ``with_nodes`` is false."""
        self.flush()
        conn = self._conn()
        row = execution_row(conn, key)
        nodes: tuple[NodeRecord, ...] = ()
        if with_nodes:
            rows = conn.execute("SELECT * FROM nodes WHERE project=? AND domain=? AND execution=? ORDER BY seq",
                                key_tuple(key)).fetchall()
            plan = self._plan_of(conn, key_tuple(key)) if row["plan"] is not None else NO_PLAN
            unchanged = NodeState.QUEUED if row["status"] == ExecutionStatus.RUNNING.value else NodeState.ABORTED
            nodes = plan.records(unchanged, {r["node_id"]: node_record(r) for r in rows})
            if row["status"] != ExecutionStatus.RUNNING.value:
                self._plans.pop(key_tuple(key), None)
        return execution_record(row, nodes)

    @translated
    def list_executions(self, project: str | None = None, domain: str | None = None,
                        status: str | None = None, limit: int | None = None) -> list[ExecutionRecord]:
        """Executions, newest first."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("project", project), ("domain", domain), ("status", status)):
            if value is not None:
                clauses.append(f"{column}=?")
                params.append(value)
        sql = "SELECT * FROM executions" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        sql += " ORDER BY created_at DESC, name"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [execution_record(r, ()) for r in self._conn().execute(sql, params)]

    @translated
    def end_execution(self, key: ExecKey, status: ExecutionStatus, *, outputs: Any = None,
                      error: str | None = None) -> bool:
        """Record the end of an execution this process ran, as :meth:`finish_execution` does, and return ``True``;
        if the store does not take it (busy, locked or full past ``retry_for``, or not writable), keep it and
        return ``False``: the writer thread writes it, after the node changes made before it, as soon as the
        store accepts writes again (retried with backoff). Until then the store shows the execution running
        (its owner alive, so nobody adopts it); a :meth:`finish_execution` of it meanwhile (an abort of an
        execution no longer running here) writes this end instead."""
        try:
            self.finish_execution(key, status, outputs=outputs, error=error)
            return True
        except StoreError as exc:
            self._ends[key_tuple(key)] = (status, outputs, error)
            log.warning("gatewidgets will record the end of execution %s (%s) as soon as %s accepts writes: %s",
                        key, status.value, self.path, exc)
            self._wake_writer()
            return False

    def _write_kept(self) -> bool:
        """Write the ends :meth:`end_execution` kept (one whose execution is no longer stored is dropped);
        whether none is left."""
        return write_kept(self._ends, lambda where: ExecKey(*where), lambda key, status, outputs, error:
                          self.finish_execution(key, status, outputs=outputs, error=error), self.path)

    @retried("record the end of an execution")
    def finish_execution(self, key: ExecKey, status: ExecutionStatus, *, outputs: Any = None,
                         error: str | None = None) -> list[str]:
        """End an execution; every open signal of it becomes ``CANCELLED`` in the same transaction.

        Returns the ids of the cancelled signals. Ending an execution that already ended does nothing. An end
        this process decided but could not write yet (see :meth:`end_execution`) is written instead of this one.
        """
        status, outputs, error = self._ends.get(key_tuple(key), (status, outputs, error))
        self.flush()
        self._plans.pop(key_tuple(key), None)
        stamp = ts(now())
        with self._write() as conn:
            row = execution_row(conn, key)
            if row["status"] != ExecutionStatus.RUNNING.value:
                self._ends.pop(key_tuple(key), None)
                return []
            open_ids = [r[0] for r in conn.execute(
                "SELECT signal_id FROM signals WHERE project=? AND domain=? AND execution=? AND state IN (?,?) "
                "ORDER BY seq", (*key_tuple(key), SignalState.UPCOMING.value, SignalState.PENDING.value))]
            conn.execute(
                "UPDATE signals SET state=?, set_at=?, via=NULL WHERE project=? AND domain=? AND execution=? "
                "AND state IN (?,?)", (SignalState.CANCELLED.value, stamp, *key_tuple(key),
                                       SignalState.UPCOMING.value, SignalState.PENDING.value))
            conn.execute(
                "UPDATE nodes SET state=? WHERE project=? AND domain=? AND execution=? AND state IN (?,?,?)",
                (NodeState.ABORTED.value, *key_tuple(key), NodeState.QUEUED.value, NodeState.WAITING.value,
                 NodeState.RUNNING.value))
            conn.execute(
                "UPDATE executions SET status=?, outputs=?, error=?, updated_at=?, finished_at=? "
                "WHERE project=? AND domain=? AND name=?",
                (status.value, dumps(outputs) if outputs is not None else None, error, stamp, stamp,
                 *key_tuple(key)))
            events = [self._event(conn, key, "cancelled", signal_id=sid, state=SignalState.CANCELLED.value)
                      for sid in open_ids]
            events.append(self._event(conn, key, "finished", state=status.value))
        self._ends.pop(key_tuple(key), None)
        self._dispatch(events)
        return open_ids

    @retried("request an abort")
    def request_abort(self, key: ExecKey) -> bool:
        """Ask the process running ``key`` to abort it; returns False if it already ended."""
        with self._write() as conn:
            row = execution_row(conn, key)
            if row["status"] != ExecutionStatus.RUNNING.value:
                return False
            conn.execute("UPDATE executions SET abort_requested=1, updated_at=? WHERE project=? AND domain=? "
                         "AND name=?", (ts(now()), *key_tuple(key)))
            event = self._event(conn, key, "abort_requested")
        self._dispatch([event])
        return True
