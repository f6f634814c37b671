"""The store's tables: the schema, and the migration of a store an older gatewidgets made."""
from __future__ import annotations

import sqlite3

from gatewidgets.errors import StoreError
from gatewidgets.store.sqlite.connection import Connection

__all__ = ["SCHEMA", "SCHEMA_VERSION", "Schema"]

SCHEMA_VERSION = 3  # 3: node rows are written when a node first changes; the plan holds the rest

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
    project TEXT NOT NULL, domain TEXT NOT NULL, name TEXT NOT NULL,
    workflow TEXT NOT NULL, status TEXT NOT NULL,
    inputs TEXT, outputs TEXT, error TEXT,
    pid INTEGER, host TEXT, abort_requested INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, finished_at TEXT, workflow_path TEXT,
    PRIMARY KEY (project, domain, name));
CREATE TABLE IF NOT EXISTS nodes (
    project TEXT NOT NULL, domain TEXT NOT NULL, execution TEXT NOT NULL, node_id TEXT NOT NULL,
    seq INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL,
    upstream TEXT NOT NULL, signal_id TEXT, outputs TEXT, error TEXT,
    started_at TEXT, finished_at TEXT,
    PRIMARY KEY (project, domain, execution, node_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plans (id TEXT PRIMARY KEY, nodes TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signals (
    project TEXT NOT NULL, domain TEXT NOT NULL, execution TEXT NOT NULL, signal_id TEXT NOT NULL,
    seq INTEGER NOT NULL, kind TEXT NOT NULL, node_id TEXT NOT NULL, description TEXT,
    type TEXT NOT NULL, state TEXT NOT NULL, value TEXT, identity TEXT,
    created_at TEXT NOT NULL, waiting_since TEXT, deadline TEXT,
    set_at TEXT, set_by TEXT, via TEXT,
    PRIMARY KEY (project, domain, execution, signal_id));
DROP INDEX IF EXISTS signals_by_state;
CREATE INDEX IF NOT EXISTS signals_by_state_order ON signals (state, project, domain, created_at, execution, seq);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL, at TEXT NOT NULL,
    project TEXT NOT NULL, domain TEXT NOT NULL, execution TEXT NOT NULL,
    signal_id TEXT, node_id TEXT, kind TEXT NOT NULL, state TEXT,
    value TEXT, set_by TEXT, via TEXT);
CREATE INDEX IF NOT EXISTS events_by_execution ON events (project, domain, execution);
"""
# columns added after version 1: (table, column, declaration)
_ADDED_COLUMNS = (
    ("executions", "workflow_path", "TEXT"),  # module:qualname of the workflow, for recovery by name
    ("signals", "context", "TEXT"),  # JSON: evidence, edit_type, original, comment, approved_value
    ("events", "detail", "TEXT"),  # JSON: comment, original, approved_value of a decision
    ("executions", "plan", "TEXT"),  # plans.id of its nodes; NULL: every node has its row (stores before 3)
    # which process holds the owner's pid (see store/process.py); NULL: judged by pid alone
    ("executions", "pid_started", "INTEGER"),  # its start time, clock ticks since boot (/proc/<pid>/stat)
    ("executions", "boot_id", "TEXT"),  # /proc/sys/kernel/random/boot_id when it was recorded
    ("nodes", "child_execution", "TEXT"),  # a child node's execution, project/domain/name
    ("executions", "launched_by", "TEXT"),  # JSON: the Identity that launched it (user, source)
)

_CACHE_SCHEMA = """CREATE TABLE IF NOT EXISTS task_cache (
    task TEXT NOT NULL, version TEXT NOT NULL, inputs TEXT NOT NULL, outputs TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (task, version, inputs))"""

# the stored files behind upload ids still valid (the server's ids live in its memory; cleanups in any process
# read this): sha256 -> epoch seconds until which clean_files keeps the file, however old it is
_UPLOADS_SCHEMA = "CREATE TABLE IF NOT EXISTS uploads (sha256 TEXT PRIMARY KEY, until REAL NOT NULL) WITHOUT ROWID"


class Schema(Connection):
    """A store whose tables exist: :meth:`_migrate` creates them, and adds the columns a store made by an older
    gatewidgets lacks."""

    def _migrate(self) -> None:
        """Create or upgrade the tables (a read-only store is only checked); ``StoreError`` for a store made by a
        newer gatewidgets."""
        if self.read_only:  # nothing to create: check that this version can read it
            self._check_version(self._conn().execute("SELECT value FROM meta WHERE key='schema_version'").fetchone())
            return
        with self._write() as conn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(_CACHE_SCHEMA)
            conn.execute(_UPLOADS_SCHEMA)
            self._check_version(conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone())
            for table, column, declaration in _ADDED_COLUMNS:  # stores made before these columns
                if column not in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def _check_version(self, row: sqlite3.Row | None) -> None:
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {row[0]}, newer than this gatewidgets ({SCHEMA_VERSION}). "
                "Upgrade gatewidgets or point GATEWIDGETS_STORE elsewhere."
            )
