"""Ownership by lease on PostgreSQL: a process owns the executions it launched or adopted while it renews their
lease (a heartbeat, and every write of their nodes); one whose lease expired can be adopted by a process on any
machine. A process that finds an execution taken over (or ended) elsewhere has *lost* it: it writes nothing more
of it, and tells its engine (:meth:`Leases.lost`, and a local ``lost`` event), which stops its copy."""
from __future__ import annotations

import logging
import os
import threading
from typing import Any, Iterable, Sequence

from gatewidgets.errors import StoreError
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus
from gatewidgets.store import process
from gatewidgets.store.base import ExecKey, StoreEvent
from gatewidgets.store.postgres.connection import Conn, translated
from gatewidgets.store.postgres.schema import Schema
from gatewidgets.store.sql import Owners, key_tuple, no_execution

__all__ = ["Leases", "CLOCK", "OWNED", "execution_row", "owner_identity"]

log = logging.getLogger(__name__)

CLOCK = "extract(epoch from clock_timestamp())"  # the database's clock: leases do not depend on the machines' clocks
_RUNNING = ExecutionStatus.RUNNING.value
# "an ``executions`` row this process owns, running" (parameters: :meth:`Leases._owned_by_me`)
OWNED = ("pid=%s AND host=%s AND boot_id IS NOT DISTINCT FROM %s AND pid_namespace IS NOT DISTINCT FROM %s "
         "AND status=%s")


def owner_identity(pid: int) -> tuple[int | None, str | None, str | None]:
    """``(pid_started, boot_id, pid_namespace)`` recorded for the owner ``pid``: :func:`process.identity` and the
    process's pid namespace, so that processes of one hostname in different pid namespaces (containers that share a
    hostname), whose pids may collide, are not taken for one another."""
    own = pid == os.getpid()
    started, boot = process.own_identity() if own else process.identity(pid)
    return started, boot, process.pid_namespace(None if own else pid)


def execution_row(conn: Conn, key: ExecKey, *, lock: bool = False) -> dict[str, Any]:
    """An execution's row (locked for this transaction with ``lock``); ``ExecutionNotFoundError``."""
    row = conn.execute("SELECT * FROM executions WHERE project=%s AND domain=%s AND name=%s"
                       + (" FOR UPDATE" if lock else ""), key_tuple(key)).fetchone()
    if row is None:
        raise no_execution(key)
    return row


class Leases(Owners, Schema):
    """The executions this process owns, their leases, and the ones it lost."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owned: set[ExecKey] = set()  # launched or adopted here, not ended here
        self._ran: set[ExecKey] = set()  # launched or adopted here, ended or lost since included
        self._lost: dict[ExecKey, str] = {}  # taken over or ended elsewhere -> why, until the engine ends its copy
        self._heartbeat: threading.Thread | None = None

    def lost(self, key: ExecKey) -> str | None:
        """Why this process no longer owns execution ``key``, which it ran: another process took it over once
        this one's lease on it expired, or ended it; ``None`` while it owns it. Known from the last write of its
        nodes (every completion is written with a check of the owner, in one transaction) or heartbeat."""
        return self._lost.get(key)

    def _own(self, key: ExecKey) -> None:
        """``key`` runs here from now on (launched or adopted): its lease is renewed until it ends here."""
        self._owned.add(key)
        self._ran.add(key)
        self._lost.pop(key, None)
        self._start_once("_heartbeat", self._renew_leases, "gatewidgets-lease")

    def _me(self) -> tuple[int, str, str | None, str | None]:
        """This process as an execution's owner: ``(pid, host, boot_id, pid_namespace)`` (see
        :func:`owner_identity`)."""
        return os.getpid(), self.host, *owner_identity(os.getpid())[1:]

    def owns(self, record: ExecutionRecord) -> bool:
        """Whether ``record``'s owner is this process: its pid, host, boot and pid namespace."""
        return (record.pid, record.host, record.boot_id, record.pid_namespace) == self._me()

    def _mine(self, row: dict[str, Any]) -> bool:
        """Whether this process owns the execution of ``row``."""
        return (row["pid"], row["host"], row["boot_id"], row["pid_namespace"]) == self._me()

    def _claim(self, keys: Sequence[ExecKey]) -> tuple[str, list[Any]]:
        """A statement for a ``WITH`` clause, and its parameters, that claims ``keys``: it returns (``project``,
        ``domain``, ``name``) the running executions among them this process owns, their rows locked and leases
        renewed until its statement's transaction ends (an adoption waits for it; one that committed first makes
        the owner's check fail)."""
        return (f"UPDATE executions SET lease_until={CLOCK} + %s WHERE (project, domain, name) IN "
                f"({','.join(['(%s,%s,%s)'] * len(keys))}) AND {OWNED} RETURNING project, domain, name",
                [self.lease, *(part for key in keys for part in key_tuple(key)), *self._owned_by_me()])

    def _owned_by_me(self) -> list[Any]:
        """The parameters of :data:`OWNED` for this process."""
        return [*self._me(), _RUNNING]

    def _unclaimed(self, keys: Iterable[ExecKey]) -> list[ExecKey]:
        """Of ``keys``, executions a claim did not return (:meth:`_claim`), those this process ran: marked lost now,
        and returned."""
        lost = [key for key in keys if key in self._owned]
        if lost:
            with self._read() as conn:
                self._mark_lost(conn, lost)
        return lost

    def _mark_lost(self, conn: Conn, keys: list[ExecKey]) -> None:
        """Mark ``keys`` lost, each with why (who has it now): all read before any is marked."""
        rows = [conn.execute("SELECT pid, host, boot_id, pid_namespace, status FROM executions WHERE "
                             "project=%s AND domain=%s AND name=%s", key_tuple(key)).fetchone() for key in keys]
        for key, row in zip(keys, rows):
            self._lost_now(key, row)

    def _lost_now(self, key: ExecKey, row: dict[str, Any] | None) -> None:
        """This process lost ``key``, whose row (``None``: deleted) says who has it now."""
        if row is None:
            what = "was deleted from the store"
        elif not self._mine(row):
            what = f"was taken over by process {row['pid']} on {row['host']}" + (
                f" (now {row['status']})" if row["status"] != _RUNNING else "")
        else:
            what = f"was ended ({row['status']}) by another process"
        why = (f"Execution {key} {what} once the lease of this process (pid {os.getpid()} on {self.host}) on it "
               f"had expired, unrenewed for {self.lease:g} s: this copy stops here (it starts no further task, "
               "its gates stop waiting, its end is not recorded).")
        self._owned.discard(key)
        self._lost[key] = why
        log.warning("gatewidgets lost execution %s in %s: %s", key, self.path, why)

    def _tell_lost(self, keys: Iterable[ExecKey]) -> None:
        """Tell this process's subscribers (its engine) that it lost these executions (a local event, not stored)."""
        self._dispatch([StoreEvent(0, "lost", key) for key in keys])

    def _ended_here(self, key: ExecKey) -> str | None:
        """This process ends ``key`` (it no longer renews its lease); why it had lost it, if it had."""
        self._owned.discard(key)
        return self._lost.pop(key, None)

    def _renew_leases(self) -> None:
        while not self._closed.wait(self.lease / 3):
            try:
                self._beat()
            except Exception as exc:  # the next beat tries again; a lease lasts three beats
                log.warning("gatewidgets could not renew its leases in %s: %s", self.path, exc,
                            exc_info=not isinstance(exc, StoreError))  # a database's refusal is one line

    @translated
    def _beat(self) -> None:
        """Renew the leases of every running execution this process owns; mark the ones it lost, and tell."""
        before = set(self._owned)
        with self._tx() as conn:
            rows = conn.execute(f"UPDATE executions SET lease_until={CLOCK} + %s WHERE {OWNED} "
                                "RETURNING project, domain, name", (self.lease, *self._owned_by_me())).fetchall()
            renewed = {ExecKey(r["project"], r["domain"], r["name"]) for r in rows}
            lost = [key for key in before - renewed if key in self._owned]  # still: not ended here meanwhile
            self._mark_lost(conn, lost)
        self._tell_lost(lost)

    @translated
    def owner_alive(self, record: ExecutionRecord) -> bool | None:
        """Whether the process that runs ``record`` lives: on this host and in this pid namespace, its process;
        elsewhere, its lease."""
        here = self._here(record.pid, record.host, record.pid_started, record.boot_id, record.pid_namespace)
        if here is not None:
            return here
        with self._read() as conn:
            return self._owner_alive(conn, execution_row(conn, record.id))

    def _here(self, pid: int | None, host: str | None, started: int | None, boot: str | None,
              space: str | None) -> bool | None:
        """Whether the owner ``pid`` lives, told by its process where its pid means the same as here (this host
        and pid namespace, and the boot of this machine); else ``None``: another machine of this hostname, whose
        initial pid namespace has the same id as every Linux machine's, or this one before it restarted — the lease
        decides."""
        if (space is not None and space != process.pid_namespace()) or (
                boot is not None and boot != process.own_identity()[1]):
            return None
        return self._alive(pid, host, started, boot)

    def _owner_alive(self, conn: Conn, row: dict[str, Any]) -> bool:
        here = self._here(row["pid"], row["host"], row["pid_started"], row["boot_id"], row["pid_namespace"])
        if here is not None:
            return here
        alive = conn.execute(f"SELECT %s::float8 > {CLOCK} AS alive", (row["lease_until"] or 0.0,)).fetchone()
        return bool(alive and alive["alive"])
