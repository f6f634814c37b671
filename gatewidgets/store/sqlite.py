"""The embedded store: one SQLite file (WAL) shared by every process on the machine.

Signals are written synchronously, each decision in one ``BEGIN IMMEDIATE``
transaction, so concurrent writers from many processes agree on one answer.
Node state changes are written behind, in batches, by one thread. Every signal
event is appended to ``events``; a watcher thread notices other processes' events
through ``PRAGMA data_version`` within one poll interval.
"""
from __future__ import annotations

import json
import logging
import math
import os
import socket
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Sequence

from gatewidgets.errors import (
    ExecutionExistsError,
    ExecutionNotFoundError,
    SignalAlreadySetError,
    SignalClosedError,
    SignalNotFoundError,
)
from gatewidgets.models.common import Sort, SortOrdering
from gatewidgets.models.execution import (
    ExecutionRecord,
    ExecutionStatus,
    NodeRecord,
    NodeState,
    WorkflowExecutionIdentifier,
)
from gatewidgets.models.filters import Filter
from gatewidgets.models.signal import Signal, SignalEvent, SignalIdentifier, SignalKind, SignalState, Via
from gatewidgets.models.types import LiteralType
from gatewidgets.types import GateType

__all__ = ["SqliteStore", "StoreEvent", "ExecKey", "SCHEMA_VERSION", "now"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
ExecKey = WorkflowExecutionIdentifier

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
    project TEXT NOT NULL, domain TEXT NOT NULL, name TEXT NOT NULL,
    workflow TEXT NOT NULL, status TEXT NOT NULL,
    inputs TEXT, outputs TEXT, error TEXT,
    pid INTEGER, host TEXT, abort_requested INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, finished_at TEXT,
    PRIMARY KEY (project, domain, name));
CREATE TABLE IF NOT EXISTS nodes (
    project TEXT NOT NULL, domain TEXT NOT NULL, execution TEXT NOT NULL, node_id TEXT NOT NULL,
    seq INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL,
    upstream TEXT NOT NULL, signal_id TEXT, outputs TEXT, error TEXT,
    started_at TEXT, finished_at TEXT,
    PRIMARY KEY (project, domain, execution, node_id)) WITHOUT ROWID;
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
    ("signals", "context", "TEXT"),  # JSON: evidence, edit_type, original, comment, approved_value
    ("events", "detail", "TEXT"),  # JSON: comment, original, approved_value of a decision
)

_SIGNAL_COLUMNS = {
    "state": "state", "kind": "kind", "signal_id": "signal_id", "node_id": "node_id",
    "created_at": "created_at", "set_at": "set_at", "set_by": "set_by", "via": "via",
    "execution": "execution", "execution_name": "execution", "project": "project", "domain": "domain",
    "waiting_since": "waiting_since", "deadline": "deadline",
}
_TIME_COLUMNS = {"created_at", "set_at", "waiting_since", "deadline"}
_OPS = {"eq": "=", "neq": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def now() -> datetime:
    """The current time, UTC."""
    return datetime.now(timezone.utc)


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not timezone.utc:  # now() is UTC already: skip the conversion on the hot path
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value.isoformat(timespec="microseconds")


def _dt(value: str | float | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) or value[4:5] != "-":  # node times are kept as epoch seconds
        return datetime.fromtimestamp(float(value), timezone.utc)
    return datetime.fromisoformat(value)


def _at(value: str) -> datetime:
    """A timestamp column that is never NULL."""
    return datetime.fromisoformat(value)


_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)  # one encoder: json.dumps builds one per call


def _context(value: dict[str, Any] | None) -> str | None:
    return _dumps(value) if value else None


def _upstream(value: str | Sequence[str]) -> str:
    """A node's upstream ids as stored: JSON (callers may pass it serialized already)."""
    return value if isinstance(value, str) else _dumps(list(value))


def _dumps(value: Any) -> str:
    return _ENCODER.encode(value)


@dataclass(frozen=True)
class StoreEvent:
    """A change another part of the system may react to: a signal event or an execution event."""

    id: int
    kind: str  # created, reached, set, timed_out, cancelled, launched, finished, abort_requested
    execution_id: WorkflowExecutionIdentifier
    signal_id: str | None = None
    state: str | None = None
    local: bool = True


class SqliteStore:
    """Executions, nodes, signals and their events in one SQLite file."""

    def __init__(self, path: str | os.PathLike[str], *, poll_interval: float = 0.02) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.files_dir = os.path.join(os.path.dirname(self.path), "files")
        self.poll_interval = poll_interval
        self.origin = uuid.uuid4().hex
        self.host = socket.gethostname()
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._local = threading.local()
        self._listeners: list[Callable[[list[StoreEvent]], None]] = []
        self._listeners_lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._closed = threading.Event()
        self._behind: dict[tuple[ExecKey, str], dict[str, Any]] = {}
        self._behind_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._flusher_wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._live_types: dict[tuple[ExecKey, str], GateType] = {}
        self._detached: dict[str, GateType] = {}
        self._migrate()

    # ------------------------------------------------------------------ connections

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has schema version {row[0]}, newer than this gatewidgets ({SCHEMA_VERSION}). "
                    "Upgrade gatewidgets or point GATEWIDGETS_STORE elsewhere."
                )
            for table, column, declaration in _ADDED_COLUMNS:
                if column not in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        """Flush pending writes and stop the background threads."""
        self.flush()
        self._closed.set()
        self._flusher_wake.set()
        for thread in (self._watcher, self._flusher):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5)

    # ---------------------------------------------------------------------- events

    def _event(self, conn: sqlite3.Connection, key: ExecKey, kind: str, *, signal_id: str | None = None,
               node_id: str | None = None, state: str | None = None, value: str | None = None,
               set_by: str | None = None, via: str | None = None, detail: str | None = None) -> StoreEvent:
        cur = conn.execute(
            "INSERT INTO events (origin, at, project, domain, execution, signal_id, node_id, kind, state, "
            "value, set_by, via, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (self.origin, _ts(now()), key.project, key.domain, key.name, signal_id, node_id, kind, state,
             value, set_by, via, detail),
        )
        return StoreEvent(cur.lastrowid or 0, kind, key, signal_id, state)

    def subscribe(self, listener: Callable[[list[StoreEvent]], None]) -> Callable[[], None]:
        """Call ``listener(events)`` after every change, from this process (at once) or others (polled)."""
        with self._listeners_lock:
            self._listeners.append(listener)
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="gatewidgets-store-watcher", daemon=True)
                self._watcher.start()

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _dispatch(self, events: list[StoreEvent]) -> None:
        if not events:
            return
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(events)
            except Exception:  # a broken listener must not break the writer
                log.exception("gatewidgets store listener %r failed", listener)

    def _watch(self) -> None:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        last_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
        version = None
        while not self._closed.wait(self.poll_interval):
            try:
                current = conn.execute("PRAGMA data_version").fetchone()[0]
                if current == version:
                    continue
                version = current
                rows = conn.execute(
                    "SELECT id, kind, project, domain, execution, signal_id, state, origin FROM events "
                    "WHERE id > ? ORDER BY id", (last_id,)).fetchall()
            except sqlite3.Error:
                log.exception("gatewidgets store watcher failed to read %s", self.path)
                continue
            if rows:
                last_id = rows[-1]["id"]
                foreign = [
                    StoreEvent(r["id"], r["kind"], ExecKey(r["project"], r["domain"], r["execution"]),
                               r["signal_id"], r["state"], local=False)
                    for r in rows if r["origin"] != self.origin
                ]
                self._dispatch(foreign)
        conn.close()

    # ------------------------------------------------------------------ executions

    def create_execution(self, key: ExecKey, workflow: str, inputs: Any, nodes: Sequence[dict[str, Any]],
                         signals: Sequence[dict[str, Any]], *, pid: int | None = None) -> None:
        """Insert a running execution with its nodes (``QUEUED``) and signals (``UPCOMING``)."""
        stamp = _ts(now())
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM executions WHERE project=? AND domain=? AND name=?",
                            (key.project, key.domain, key.name)).fetchone():
                raise ExecutionExistsError(
                    f"Execution {key} exists already. Choose another execution_name, or pass recover=True "
                    "to resume it."
                )
            conn.execute(
                "INSERT INTO executions (project, domain, name, workflow, status, inputs, pid, host, created_at, "
                "updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (key.project, key.domain, key.name, workflow, ExecutionStatus.RUNNING.value, _dumps(inputs),
                 pid if pid is not None else os.getpid(), self.host, stamp, stamp))
            conn.executemany(
                "INSERT INTO nodes (project, domain, execution, node_id, seq, kind, name, state, upstream, "
                "signal_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(key.project, key.domain, key.name, n["node_id"], i, n["kind"], n["name"], NodeState.QUEUED.value,
                  _upstream(n["upstream"]), n.get("signal_id")) for i, n in enumerate(nodes)])
            conn.executemany(
                "INSERT INTO signals (project, domain, execution, signal_id, seq, kind, node_id, description, "
                "type, state, created_at, context) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(key.project, key.domain, key.name, s["signal_id"], i, s["kind"], s["node_id"], s.get("description"),
                  _dumps(s["type"]), SignalState.UPCOMING.value, stamp, _context(s.get("context")))
                 for i, s in enumerate(signals)])
            events = [self._event(conn, key, "launched", state=ExecutionStatus.RUNNING.value)]
            events += [self._event(conn, key, "created", signal_id=s["signal_id"], node_id=s["node_id"],
                                   state=SignalState.UPCOMING.value) for s in signals]
        self._dispatch(events)

    def add_nodes(self, key: ExecKey, nodes: Sequence[dict[str, Any]], signals: Sequence[dict[str, Any]]) -> None:
        """Add nodes (``QUEUED``) and signals (``UPCOMING``) that a ``@dynamic`` node built at run time.

        Rows that exist already (a recovered execution re-expanding) are kept as they are.
        """
        stamp = _ts(now())
        with self._write() as conn:
            self._execution_row(conn, key)
            seq = conn.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM nodes WHERE project=? AND domain=? "
                               "AND execution=?", key_tuple(key)).fetchone()[0]
            conn.executemany(
                "INSERT OR IGNORE INTO nodes (project, domain, execution, node_id, seq, kind, name, state, upstream, "
                "signal_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(*key_tuple(key), n["node_id"], seq + i, n["kind"], n["name"], NodeState.QUEUED.value,
                  _upstream(n["upstream"]), n.get("signal_id")) for i, n in enumerate(nodes)])
            seq = conn.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM signals WHERE project=? AND domain=? "
                               "AND execution=?", key_tuple(key)).fetchone()[0]
            events = []
            for i, sig in enumerate(signals):
                cur = conn.execute(
                    "INSERT OR IGNORE INTO signals (project, domain, execution, signal_id, seq, kind, node_id, "
                    "description, type, state, created_at, context) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (*key_tuple(key), sig["signal_id"], seq + i, sig["kind"], sig["node_id"], sig.get("description"),
                     _dumps(sig["type"]), SignalState.UPCOMING.value, stamp, _context(sig.get("context"))))
                if cur.rowcount:
                    events.append(self._event(conn, key, "created", signal_id=sig["signal_id"],
                                              node_id=sig["node_id"], state=SignalState.UPCOMING.value))
        self._dispatch(events)

    def cancel_signals(self, key: ExecKey, signal_ids: Sequence[str]) -> list[str]:
        """Cancel these open signals (their gates will never be reached); returns the ones cancelled."""
        stamp = _ts(now())
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

    def adopt_execution(self, key: ExecKey, *, pid: int | None = None) -> ExecutionRecord:
        """Claim an unfinished execution for this process (recovery); returns it with its nodes."""
        with self._write() as conn:
            row = self._execution_row(conn, key)
            if row["status"] != ExecutionStatus.RUNNING.value:
                raise ExecutionExistsError(
                    f"Execution {key} already ended ({row['status']}); only an unfinished execution can be "
                    "recovered. Launch a new one with another execution_name."
                )
            conn.execute("UPDATE executions SET pid=?, host=?, updated_at=? WHERE project=? AND domain=? AND name=?",
                         (pid if pid is not None else os.getpid(), self.host, _ts(now()), *key_tuple(key)))
        return self.get_execution(key)

    def _execution_row(self, conn: sqlite3.Connection, key: ExecKey) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM executions WHERE project=? AND domain=? AND name=?",
                           key_tuple(key)).fetchone()
        if row is None:
            raise ExecutionNotFoundError(
                f"No execution {key.name!r} in project {key.project!r}, domain {key.domain!r}. "
                "List executions with `gatewidgets executions` or `%gate executions`."
            )
        return row

    def get_execution(self, key: ExecKey, *, with_nodes: bool = True) -> ExecutionRecord:
        """One execution, with its nodes unless ``with_nodes`` is false."""
        self.flush()
        conn = self._conn()
        row = self._execution_row(conn, key)
        nodes: tuple[NodeRecord, ...] = ()
        if with_nodes:
            nodes = tuple(self._node(r) for r in conn.execute(
                "SELECT * FROM nodes WHERE project=? AND domain=? AND execution=? ORDER BY seq", key_tuple(key)))
        return self._execution(row, nodes)

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
        return [self._execution(r, ()) for r in self._conn().execute(sql, params)]

    def owner_alive(self, record: ExecutionRecord) -> bool | None:
        """Whether the process that runs ``record`` is alive (``None``: on another host, unknown)."""
        if record.host != self.host or record.pid is None:
            return None
        if record.pid == os.getpid():
            return True
        try:
            os.kill(record.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def update_node(self, key: ExecKey, node_id: str, **fields: Any) -> None:
        """Record a node change; written behind, in a batch (see :meth:`flush`)."""
        with self._behind_lock:
            self._behind.setdefault((key, node_id), {}).update(fields)
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_loop, name="gatewidgets-store-writer",
                                                 daemon=True)
                self._flusher.start()
        if not self._flusher_wake.is_set():  # set() takes a lock each call; the change is queued above either way
            self._flusher_wake.set()

    def _flush_loop(self) -> None:
        while not self._closed.is_set():
            self._flusher_wake.wait()
            self._flusher_wake.clear()
            self._closed.wait(0.01)  # gather a batch
            try:
                self.flush()
            except sqlite3.Error:
                log.exception("gatewidgets could not write node states to %s", self.path)

    def flush(self) -> None:
        """Write every pending node change now."""
        with self._flush_lock:
            with self._behind_lock:
                batch, self._behind = self._behind, {}
            if not batch:
                return
            by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}  # one executemany per column set
            for (key, node_id), fields in batch.items():
                by_columns.setdefault(tuple(fields), []).append(
                    (*(_node_value(column, value) for column, value in fields.items()), *key_tuple(key), node_id))
            with self._write() as conn:
                for columns, rows in by_columns.items():
                    assignments = ", ".join(f"{column}=?" for column in columns)
                    conn.executemany(f"UPDATE nodes SET {assignments} WHERE project=? AND domain=? AND execution=? "
                                     "AND node_id=?", rows)

    def finish_execution(self, key: ExecKey, status: ExecutionStatus, *, outputs: Any = None,
                         error: str | None = None) -> list[str]:
        """End an execution; every open signal of it becomes ``CANCELLED`` in the same transaction.

        Returns the ids of the cancelled signals. Ending an execution that already ended does nothing.
        """
        self.flush()
        stamp = _ts(now())
        with self._write() as conn:
            row = self._execution_row(conn, key)
            if row["status"] != ExecutionStatus.RUNNING.value:
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
                (status.value, _dumps(outputs) if outputs is not None else None, error, stamp, stamp,
                 *key_tuple(key)))
            events = [self._event(conn, key, "cancelled", signal_id=sid, state=SignalState.CANCELLED.value)
                      for sid in open_ids]
            events.append(self._event(conn, key, "finished", state=status.value))
        self._dispatch(events)
        return open_ids

    def request_abort(self, key: ExecKey) -> bool:
        """Ask the process running ``key`` to abort it; returns False if it already ended."""
        with self._write() as conn:
            row = self._execution_row(conn, key)
            if row["status"] != ExecutionStatus.RUNNING.value:
                return False
            conn.execute("UPDATE executions SET abort_requested=1, updated_at=? WHERE project=? AND domain=? "
                         "AND name=?", (_ts(now()), *key_tuple(key)))
            event = self._event(conn, key, "abort_requested")
        self._dispatch([event])
        return True

    # --------------------------------------------------------------------- signals

    def register_type(self, key: ExecKey, signal_id: str, gate_type: GateType) -> None:
        """Remember the live Python type of a signal of an execution running in this process."""
        self._live_types[(key, signal_id)] = gate_type

    def forget_types(self, key: ExecKey) -> None:
        """Drop the live types of an execution that ended."""
        for k in [k for k in list(self._live_types) if k[0] == key]:  # a snapshot: other threads register
            self._live_types.pop(k, None)

    def gate_type(self, key: ExecKey, signal_id: str, record: str | dict[str, Any]) -> GateType:
        """The signal's type: the live one if its execution runs here, else rebuilt from the stored record."""
        live = self._live_types.get((key, signal_id))
        if live is not None:
            return live
        text = record if isinstance(record, str) else _dumps(record)
        detached = self._detached.get(text)
        if detached is None:
            detached = self._detached[text] = GateType.from_record(json.loads(text))
        return detached

    def _signal(self, row: sqlite3.Row) -> Signal:
        key = ExecKey(row["project"], row["domain"], row["execution"])
        record = json.loads(row["type"])
        value = None
        if row["value"] is not None:
            value = self.gate_type(key, row["signal_id"], row["type"]).to_python(json.loads(row["value"]))
        return Signal(
            id=SignalIdentifier(row["signal_id"], key),
            kind=SignalKind(row["kind"]),
            type=LiteralType.from_dict(record["literal_type"]),
            state=SignalState(row["state"]),
            value=value,
            node_id=row["node_id"],
            description=row["description"],
            created_at=_at(row["created_at"]),
            waiting_since=_dt(row["waiting_since"]),
            deadline=_dt(row["deadline"]),
            set_at=_dt(row["set_at"]),
            set_by=row["set_by"],
            via=Via(row["via"]) if row["via"] else None,
            type_record=record,
            context=json.loads(row["context"]) if row["context"] else None,
        )

    def _signal_row(self, conn: sqlite3.Connection, key: ExecKey, signal_id: str) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM signals WHERE project=? AND domain=? AND execution=? AND signal_id=?",
                           (*key_tuple(key), signal_id)).fetchone()
        if row is None:
            self._execution_row(conn, key)
            known = [r[0] for r in conn.execute(
                "SELECT signal_id FROM signals WHERE project=? AND domain=? AND execution=? ORDER BY seq",
                key_tuple(key))]
            raise SignalNotFoundError(
                f"Execution {key.name!r} has no signal {signal_id!r}. Its signals are: "
                f"{', '.join(known) if known else '(none)'}."
            )
        return row

    def get_signal(self, key: ExecKey, signal_id: str) -> Signal:
        """One signal; raises ``ExecutionNotFoundError`` / ``SignalNotFoundError``."""
        return self._signal(self._signal_row(self._conn(), key, signal_id))

    def list_signals(self, key: ExecKey | None = None, *, project: str | None = None, domain: str | None = None,
                     filters: Iterable[Filter] = (), sort_by: Sort | None = None,
                     limit: int | None = 100, offset: int = 0) -> list[Signal]:
        """Signals of one execution, or across executions when ``key`` is None; filters, then limit."""
        where, params = self._where(key, project, domain, filters)
        sql = "SELECT * FROM signals" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY " + self._order(sort_by, across=key is None)
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [int(limit), int(offset)]
        return [self._signal(r) for r in self._conn().execute(sql, params)]

    def count_signals(self, key: ExecKey | None = None, *, project: str | None = None, domain: str | None = None,
                      filters: Iterable[Filter] = ()) -> int:
        """How many signals :meth:`list_signals` would return without a limit."""
        where, params = self._where(key, project, domain, filters)
        sql = "SELECT COUNT(*) FROM signals" + (" WHERE " + " AND ".join(where) if where else "")
        return int(self._conn().execute(sql, params).fetchone()[0])

    def _where(self, key: ExecKey | None, project: str | None, domain: str | None,
               filters: Iterable[Filter]) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if key is not None:
            where.append("project=? AND domain=? AND execution=?")
            params += key_tuple(key)
            self._execution_row(self._conn(), key)
        else:
            for scope, value in (("project", project), ("domain", domain)):
                if value is not None:
                    where.append(f"{scope}=?")
                    params.append(value)
        for f in filters:
            column = _SIGNAL_COLUMNS.get(f.key)
            if column is None:
                raise ValueError(f"Cannot filter signals on {f.key!r}; use one of {sorted(set(_SIGNAL_COLUMNS))}.")
            if f.function == "value_in":
                values = [_filter_value(column, v) for v in f.value]
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params += values
            elif f.function == "contains":
                where.append(f"instr({column}, ?) > 0")
                params.append(str(f.value))
            elif f.function in _OPS:
                where.append(f"{column} {_OPS[f.function]} ?")
                params.append(_filter_value(column, f.value))
            else:
                raise ValueError(f"Unknown filter function {f.function!r}.")
        return where, params

    @staticmethod
    def _order(sort_by: Sort | None, *, across: bool) -> str:
        if sort_by is None:
            return "created_at, project, domain, execution, seq" if across else "seq"
        column = _SIGNAL_COLUMNS.get(sort_by.key)
        if column is None:
            raise ValueError(f"Cannot sort signals by {sort_by.key!r}; use one of {sorted(set(_SIGNAL_COLUMNS))}.")
        direction = "DESC" if sort_by.direction == SortOrdering.DESCENDING else "ASC"
        return f"{column} {direction}, execution, seq"

    def reach_signal(self, key: ExecKey, signal_id: str, deadline: datetime | None,
                     context: dict[str, Any] | None = None) -> Signal:
        """A gate reached its signal: ``UPCOMING`` becomes ``PENDING``. Other states are returned as they are.

        ``context`` (an approval's evidence and original value) is merged into an open signal's context.
        """
        with self._write() as conn:
            row = self._signal_row(conn, key, signal_id)
            event = None
            if context and SignalState(row["state"]).is_open:
                merged = {**json.loads(row["context"] or "{}"), **context}
                conn.execute("UPDATE signals SET context=? WHERE project=? AND domain=? AND execution=? "
                             "AND signal_id=?", (_dumps(merged), *key_tuple(key), signal_id))
                row = self._signal_row(conn, key, signal_id)
            if row["state"] == SignalState.UPCOMING.value:
                conn.execute("UPDATE signals SET state=?, waiting_since=?, deadline=? WHERE project=? AND domain=? "
                             "AND execution=? AND signal_id=?",
                             (SignalState.PENDING.value, _ts(now()), _ts(deadline), *key_tuple(key), signal_id))
                event = self._event(conn, key, "reached", signal_id=signal_id, node_id=row["node_id"],
                                    state=SignalState.PENDING.value)
                row = self._signal_row(conn, key, signal_id)
        if event:
            self._dispatch([event])
        return self._signal(row)

    def set_signal(self, key: ExecKey, signal_id: str, value: Any, identity: str, *, set_by: str,
                   via: Via | str, describe: Callable[[Any], str] = repr,
                   detail: dict[str, Any] | None = None) -> tuple[Signal, bool]:
        """Set an open signal to ``value`` (its JSON form). Returns the signal and whether it changed.

        The same value again is a no-op; another value raises ``SignalAlreadySetError``;
        a timed-out or cancelled signal raises ``SignalClosedError``. ``detail`` (a decision's
        comment, original and approved value) is merged into the signal's context and recorded
        with the ``set`` event.
        """
        via = Via(via)
        with self._write() as conn:
            row = self._signal_row(conn, key, signal_id)
            state = SignalState(row["state"])
            if state is SignalState.SET:
                if row["identity"] == identity:
                    return self._signal(row), False
                raise SignalAlreadySetError(
                    f"Signal {signal_id!r} of execution {key.name!r} was already set to "
                    f"{describe(json.loads(row['value']))} by {row['set_by']} via {row['via']} at {row['set_at']}; "
                    "the first answer wins. Launch a new execution to decide again."
                )
            if not state.is_open:
                when = row["set_at"] or "?"
                raise SignalClosedError(
                    f"Signal {signal_id!r} of execution {key.name!r} is {state.value} (since {when}) and can no "
                    "longer be set."
                )
            text = _dumps(value)
            stamp = _ts(now())
            context = _dumps({**json.loads(row["context"] or "{}"), **detail}) if detail else row["context"]
            conn.execute("UPDATE signals SET state=?, value=?, identity=?, set_at=?, set_by=?, via=?, context=? "
                         "WHERE project=? AND domain=? AND execution=? AND signal_id=?",
                         (SignalState.SET.value, text, identity, stamp, set_by, via.value, context,
                          *key_tuple(key), signal_id))
            event = self._event(conn, key, "set", signal_id=signal_id, node_id=row["node_id"],
                                state=SignalState.SET.value, value=text, set_by=set_by, via=via.value,
                                detail=_dumps(detail) if detail else None)
            row = self._signal_row(conn, key, signal_id)
        signal = self._signal(row)  # before listeners run: a finished execution forgets its live types
        self._dispatch([event])
        return signal, True

    def timeout_signal(self, key: ExecKey, signal_id: str, value: Any = None, *, has_value: bool) -> Signal:
        """A gate's deadline passed: ``PENDING`` becomes ``TIMED_OUT`` (with the value that flows on, if any).

        If an answer won the race, the ``SET`` signal is returned unchanged.
        """
        with self._write() as conn:
            row = self._signal_row(conn, key, signal_id)
            event = None
            if SignalState(row["state"]).is_open:
                text = _dumps(value) if has_value else None
                conn.execute("UPDATE signals SET state=?, value=?, identity=?, set_at=?, set_by=NULL, via=? "
                             "WHERE project=? AND domain=? AND execution=? AND signal_id=?",
                             (SignalState.TIMED_OUT.value, text, text, _ts(now()), Via.TIMEOUT.value,
                              *key_tuple(key), signal_id))
                event = self._event(conn, key, "timed_out", signal_id=signal_id, node_id=row["node_id"],
                                    state=SignalState.TIMED_OUT.value, value=text, via=Via.TIMEOUT.value)
                row = self._signal_row(conn, key, signal_id)
        if event:
            self._dispatch([event])
        return self._signal(row)

    def history(self, key: ExecKey, signal_id: str | None = None) -> list[SignalEvent]:
        """Every event of an execution (or of one of its signals), oldest first."""
        conn = self._conn()
        self._execution_row(conn, key)
        sql = "SELECT * FROM events WHERE project=? AND domain=? AND execution=?"
        params: list[Any] = list(key_tuple(key))
        if signal_id is not None:
            sql += " AND signal_id=?"
            params.append(signal_id)
        return [
            SignalEvent(r["id"], _at(r["at"]), key, r["signal_id"], r["node_id"], r["kind"], r["state"],
                        json.loads(r["value"]) if r["value"] is not None else None, r["set_by"], r["via"],
                        json.loads(r["detail"]) if r["detail"] else None)
            for r in conn.execute(sql + " ORDER BY id", params)
        ]

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
        running = [self._execution(r, ()) for r in conn.execute(
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
            "resumed": [(max(r[0], r[2]), _ts(_dt(r[1]))) for r in conn.execute(
                "SELECT s.set_at, n.finished_at, s.waiting_since FROM signals s JOIN nodes n ON n.project=s.project AND "
                "n.domain=s.domain AND n.execution=s.execution AND n.node_id=s.node_id WHERE s.state='SET' "
                "AND s.waiting_since IS NOT NULL AND n.state='SUCCEEDED' AND n.finished_at IS NOT NULL" + also,
                params)],
        }

    # ---------------------------------------------------------------------- records

    @staticmethod
    def _node(row: sqlite3.Row) -> NodeRecord:
        return NodeRecord(
            node_id=row["node_id"], kind=row["kind"], name=row["name"], state=NodeState(row["state"]),
            upstream=tuple(json.loads(row["upstream"])), signal_id=row["signal_id"],
            outputs=json.loads(row["outputs"]) if row["outputs"] is not None else None, error=row["error"],
            started_at=_dt(row["started_at"]), finished_at=_dt(row["finished_at"]),
        )

    @staticmethod
    def _execution(row: sqlite3.Row, nodes: tuple[NodeRecord, ...]) -> ExecutionRecord:
        return ExecutionRecord(
            id=ExecKey(row["project"], row["domain"], row["name"]), workflow=row["workflow"],
            status=ExecutionStatus(row["status"]),
            inputs=json.loads(row["inputs"]) if row["inputs"] else {},
            outputs=json.loads(row["outputs"]) if row["outputs"] is not None else None,
            error=row["error"], created_at=_at(row["created_at"]), updated_at=_at(row["updated_at"]),
            finished_at=_dt(row["finished_at"]), pid=row["pid"], host=row["host"], nodes=nodes,
        )

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"


def key_tuple(key: ExecKey) -> tuple[str, str, str]:
    """``(project, domain, name)`` for SQL parameters."""
    return key.project, key.domain, key.name


def _node_value(column: str, value: Any) -> Any:
    """A node field as stored; times may come as epoch seconds (the executor's hot path) or datetimes."""
    if column == "state":
        return value.value
    if column == "outputs":
        kind = type(value)
        if kind is int or (kind is float and math.isfinite(value)):  # the common case, without the JSON encoder
            return repr(value)
        return _dumps(value) if value is not None else None
    if isinstance(value, datetime):
        return _ts(value)
    return value


def _filter_value(column: str, value: Any) -> Any:
    if column in _TIME_COLUMNS:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"Filter on {column} needs an ISO-8601 time, got {value!r}.") from None
        return _ts(parsed)
    return str(value)
