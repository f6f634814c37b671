"""The database's tables: created in place, versioned, upgraded by the first process of a newer gatewidgets (under
an advisory lock, so processes starting at once do it once) through the steps of :data:`MIGRATIONS`, in one
transaction; a database made by a newer gatewidgets is refused.

Text columns compare byte-wise (``COLLATE "C"``), as SQLite's do, so filters and sorts mean the same on both;
times are ISO 8601 text in UTC, values JSON text (:mod:`gatewidgets.store.sql`)."""
from __future__ import annotations

import logging
from typing import Callable

import psycopg

from gatewidgets.errors import StoreError
from gatewidgets.store.postgres.connection import Conn, Connection, translated
from gatewidgets.store.postgres.guard import install_guard, install_readable

__all__ = ["SCHEMA_VERSION", "MIGRATIONS", "Schema"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 5
_LOCK = 0x6761746577  # the advisory lock of the migration ("gatew")
_T = 'TEXT COLLATE "C"'

_VERSION_1 = f"""
CREATE TABLE IF NOT EXISTS meta (key {_T} PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
    project {_T} NOT NULL, domain {_T} NOT NULL, name {_T} NOT NULL,
    workflow TEXT NOT NULL, status {_T} NOT NULL, inputs TEXT, outputs TEXT, error TEXT,
    pid INTEGER, host TEXT, pid_started BIGINT, boot_id TEXT, abort_requested BOOLEAN NOT NULL DEFAULT FALSE,
    lease_until DOUBLE PRECISION,
    created_at {_T} NOT NULL, updated_at {_T} NOT NULL, finished_at {_T}, workflow_path TEXT,
    PRIMARY KEY (project, domain, name));
CREATE INDEX IF NOT EXISTS executions_by_created ON executions (created_at DESC, name);
CREATE TABLE IF NOT EXISTS nodes (
    project {_T} NOT NULL, domain {_T} NOT NULL, execution {_T} NOT NULL, node_id {_T} NOT NULL,
    seq INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, state {_T} NOT NULL,
    upstream TEXT NOT NULL, signal_id TEXT, outputs TEXT, error TEXT, started_at TEXT, finished_at TEXT,
    child_execution TEXT,
    PRIMARY KEY (project, domain, execution, node_id));
CREATE TABLE IF NOT EXISTS signals (
    project {_T} NOT NULL, domain {_T} NOT NULL, execution {_T} NOT NULL, signal_id {_T} NOT NULL,
    seq INTEGER NOT NULL, kind {_T} NOT NULL, node_id {_T} NOT NULL, description TEXT,
    type TEXT NOT NULL, state {_T} NOT NULL, value TEXT, identity TEXT, context TEXT,
    created_at {_T} NOT NULL, waiting_since {_T}, deadline {_T}, set_at {_T}, set_by {_T}, via {_T},
    PRIMARY KEY (project, domain, execution, signal_id));
CREATE INDEX IF NOT EXISTS signals_by_state_order ON signals (state, created_at, project, domain, execution, seq);
CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY, origin TEXT NOT NULL, at {_T} NOT NULL,
    project {_T} NOT NULL, domain {_T} NOT NULL, execution {_T} NOT NULL,
    signal_id {_T}, node_id {_T}, kind TEXT NOT NULL, state TEXT, value TEXT, set_by TEXT, via TEXT, detail TEXT);
CREATE INDEX IF NOT EXISTS events_by_execution ON events (project, domain, execution, id);
CREATE TABLE IF NOT EXISTS task_cache (
    task {_T} NOT NULL, version {_T} NOT NULL, inputs {_T} NOT NULL, outputs TEXT NOT NULL,
    created_at TEXT NOT NULL, PRIMARY KEY (task, version, inputs));
CREATE TABLE IF NOT EXISTS uploads (sha256 {_T} PRIMARY KEY, until DOUBLE PRECISION NOT NULL);
"""

# MIGRATIONS[v]: what takes a database from schema version v to v + 1 (0: no tables yet): SQL statements, or a
# function of the migration's connection. A step, once released, never changes: a new version adds one.
Step = tuple[str | Callable[[Conn], None], ...]
MIGRATIONS: tuple[Step, ...] = (
    tuple(statement.strip() for statement in _VERSION_1.split(";") if statement.strip()),
    # 2: the heartbeat finds the running executions of its process by index, not by a scan of every execution
    ("CREATE INDEX IF NOT EXISTS executions_running_by_owner ON executions (host, pid) WHERE status = 'RUNNING'",),
    # 3: who launched (judged by self-approval policies), and the guard (gatewidgets.store.postgres.guard): db_role,
    # group_members, the triggers by which the database itself enforces who may answer
    ("ALTER TABLE executions ADD COLUMN IF NOT EXISTS launched_by TEXT", install_guard),
    # 4: the owner's pid namespace: a pid names one process only within it (containers sharing a hostname); a
    # version before this one took such owners for one another, so it must refuse a store this version runs
    ("ALTER TABLE executions ADD COLUMN IF NOT EXISTS pid_namespace TEXT",),
    # 5: a signal whose stored context or policy cannot be read is refused every change (GW403), not let through
    # or failed with a JSON cast error (gatewidgets.store.postgres.guard.READABLE_SQL)
    (install_readable,),
)
assert len(MIGRATIONS) == SCHEMA_VERSION


class Schema(Connection):
    """A database whose tables exist (:meth:`_migrate`)."""

    @translated
    def _migrate(self) -> None:
        """Create or upgrade the tables (nothing to write for a database at this version: a read-only one opens,
        for listing), then open the pool; ``StoreError`` for a database a newer gatewidgets made, or one this
        process cannot reach."""
        with self._connect() as conn:
            if self._version(conn) != SCHEMA_VERSION:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
                    found = self._version(conn) or 0  # another process may have upgraded it meanwhile
                    for step in MIGRATIONS[found:]:
                        for statement in step:
                            if callable(statement):
                                statement(conn)
                            else:
                                conn.execute(statement)  # our own text, not user input
                    conn.execute("INSERT INTO meta VALUES ('schema_version', %s) ON CONFLICT (key) DO UPDATE "
                                 "SET value = excluded.value", (str(SCHEMA_VERSION),))
                if found:
                    log.warning("gatewidgets upgraded the schema of %s from version %d to %d", self.path, found,
                                SCHEMA_VERSION)
        self._pool.open(wait=False)

    def _version(self, conn: Conn) -> int | None:
        """The database's schema version (``None``: no tables yet); ``StoreError`` if newer than this one."""
        try:
            with conn.transaction():
                row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
        if row is not None and int(row["value"]) > SCHEMA_VERSION:
            raise StoreError(
                f"The gatewidgets store {self.path} has schema version {row['value']}, newer than this gatewidgets "
                f"({SCHEMA_VERSION}): a newer gatewidgets made it. To fix: upgrade gatewidgets here, or point "
                "GATEWIDGETS_STORE at another database."
            )
        return int(row["value"]) if row is not None else None
