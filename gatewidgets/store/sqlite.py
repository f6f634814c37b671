"""The embedded store: one SQLite file (WAL) shared by every process on the machine.

Signals are written synchronously, each decision in one ``BEGIN IMMEDIATE``
transaction, so concurrent writers from many processes agree on one answer.
Node state changes are written behind, in batches, by one thread. Every signal
event is appended to ``events``; a watcher thread notices other processes' events
through ``PRAGMA data_version`` within one poll interval. Each node completion is appended,
as it is recorded, to this process's completion journal (a shared memory map), so it survives a
kill of this process from then on; recovery replays the journal of the process it takes over
from, if that journal is a private file of this user. The engine's writes retry a busy, locked
or full store with bounded backoff for ``retry_for`` seconds, then raise ``StoreError``; an
execution's end the store did not take is kept and written by the writer thread once it can.

The store's folders (``files/`` and the journals' folder included) are created user-only
(0700) and its files 0600 (SQLite gives the ``-wal`` and ``-shm`` files the same mode),
whatever the umask (:mod:`gatewidgets.private`). A store this process cannot
write (the file or its folder) is opened read-only: it can be listed, and writes raise
``StoreError``. Any ``sqlite3`` error (locked, disk full, corrupt, read-only) leaves the
store as a ``StoreError`` naming the file and what to do.
"""
from __future__ import annotations

import ast
import atexit
import collections
import contextlib
import functools
import hashlib
import json
import logging
import math
import mmap
import os
import re
import socket
import sqlite3
import stat
import threading
import time
import urllib.parse
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from gatewidgets import private
from gatewidgets.errors import (
    ExecutionExistsError,
    ExecutionNotFoundError,
    SignalAlreadySetError,
    SignalClosedError,
    SignalNotFoundError,
    StoreError,
)
from gatewidgets.models.common import Sort, SortOrdering
from gatewidgets.models.execution import (
    ExecutionRecord,
    ExecutionStatus,
    NodeRecord,
    NodeState,
)
from gatewidgets.models.filters import SIGNAL_FIELDS, TIME_FIELDS, Filter, check_fields
from gatewidgets.models.signal import Signal, SignalEvent, SignalIdentifier, SignalKind, SignalState, Via
from gatewidgets.models.types import LiteralType
from gatewidgets.settings import settings
from gatewidgets.store import process
from gatewidgets.store.base import FILE_GRACE, ExecKey, Leftover, Listeners, StoreCapabilities, StoreEvent, now
from gatewidgets.types import GateType
from gatewidgets.types.file import PART_PREFIX

__all__ = ["SqliteStore", "StoreEvent", "ExecKey", "SCHEMA_VERSION", "Leftover", "FILE_GRACE", "now"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3  # 3: node rows are written when a node first changes; the plan holds the rest

_SCHEMA = """
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
)

_CLEAN_EVERY = 86400.0  # seconds between the cleanups a store starts by itself
_SHA256 = re.compile(r"[0-9a-f]{64}")
# the columns whose JSON may name a stored file (by its sha256, in its path and its "sha256")
_FILE_REFERENCES = (("signals", "value"), ("signals", "context"), ("signals", "identity"), ("events", "value"),
                    ("events", "detail"), ("nodes", "outputs"), ("executions", "inputs"), ("executions", "outputs"),
                    ("task_cache", "outputs"))

_CACHE_SCHEMA = """CREATE TABLE IF NOT EXISTS task_cache (
    task TEXT NOT NULL, version TEXT NOT NULL, inputs TEXT NOT NULL, outputs TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (task, version, inputs))"""

# the stored files behind upload ids still valid (the server's ids live in its memory; cleanups in any process
# read this): sha256 -> epoch seconds until which clean_files keeps the file, however old it is
_UPLOADS_SCHEMA = "CREATE TABLE IF NOT EXISTS uploads (sha256 TEXT PRIMARY KEY, until REAL NOT NULL) WITHOUT ROWID"

_SIGNAL_COLUMNS = {field: "execution" if field == "execution_name" else field for field in SIGNAL_FIELDS}
_OPS = {"eq": "=", "neq": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


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


_T = TypeVar("_T")
_TRANSIENT = ("locked", "busy", "full", "disk i/o")  # sqlite3.OperationalError messages worth retrying
_DONE = (NodeState.SUCCEEDED, NodeState.SKIPPED)  # node states whose loss would run a node again
_JOURNAL_SIZE = 1 << 18  # bytes of a process's completion journal; what does not fit is committed instead
_RETRY_MIN, _RETRY_MAX = 0.1, 2.0  # seconds the writer waits before it tries again what the store did not take
# a queued node change: (project, domain, execution, node_id) and its fields
_Change = tuple[tuple[str, str, str, str], dict[str, Any]]


def _retried(what: str) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Retry a store method (whole transactions) while the store is busy, locked or full; see ``retry_for``."""
    def wrap(method: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(method)
        def retried(self: SqliteStore, *args: Any, **kwargs: Any) -> _T:
            return self._retrying(what, lambda: method(self, *args, **kwargs))
        return retried
    return wrap


_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)  # one encoder: json.dumps builds one per call


def _context(value: dict[str, Any] | None) -> str | None:
    return _dumps(value) if value else None


def _upstream(value: str | Sequence[str]) -> str:
    """A node's upstream ids as stored: JSON (callers may pass it serialized already)."""
    return value if isinstance(value, str) else _dumps(list(value))


def _dumps(value: Any) -> str:
    return _ENCODER.encode(value)


_NO_SQL = frozenset({"update_node", "register_type", "forget_types", "gate_type", "subscribe", "owner_alive",
                     "durable"})  # durable's fallback is flush, itself translated
"""Public methods that never touch SQLite; the engine calls some per node, so they stay unwrapped."""


def _store_errors(cls: type[SqliteStore]) -> type[SqliteStore]:
    """Make every public method (and ``__init__``) raise ``StoreError`` instead of a raw ``sqlite3.Error``."""
    for name, member in list(vars(cls).items()):
        if callable(member) and not isinstance(member, (staticmethod, type)) and name not in _NO_SQL and (
                not name.startswith("_") or name == "__init__"):
            setattr(cls, name, _translated(member))
    return cls


def _translated(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def run(self: SqliteStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreError(_problem(self, exc)) from exc
    return run


_PROBLEMS = (  # words of an sqlite3 error message -> what happened, what to do
    (("locked", "busy"), "is locked by another process",
     "try again; if it stays locked, end the process that holds it"),
    (("full",), "cannot grow: its disk is full", "free disk space, or point GATEWIDGETS_STORE at another disk"),
    (("malformed", "not a database", "corrupt", "no such table"), "is corrupt or not a gatewidgets store",
     "move it aside (what it held is lost) or point GATEWIDGETS_STORE at another file"),
    (("readonly", "read-only"), "is read-only for this process",
     "make the file and its folder writable by you, or point GATEWIDGETS_STORE at a writable file"),
    (("unable to open",), "cannot be opened", "check that the file and its folder exist and are readable by you"),
)


def _problem(store: SqliteStore, exc: sqlite3.Error) -> str:
    """One line: the store file, what happened, what to do."""
    text = str(exc).lower()
    what, todo = next(((w, t) for words, w, t in _PROBLEMS if any(word in text for word in words)),
                      ("failed", "check the file, its -wal and -shm files and its folder"))
    if getattr(store, "read_only", False) and "readonly" in text:
        what = "was opened read-only (you cannot write the file or its folder): it can be listed, not changed"
    return f"The gatewidgets store {store.path} {what} (sqlite: {exc}). To fix: {todo}."


def _private_store(path: str, files_dir: str) -> None:
    """Create the store's folders (0700) and file (0600) if missing; an existing store file of this user
    (and its -wal, -shm), ``files_dir`` and the completion journals' folder lose any group and other
    permissions."""
    try:
        for folder in (os.path.dirname(path), files_dir):
            private.make_folders(folder)
        with contextlib.suppress(FileExistsError):  # empty: SQLite makes it a database
            os.close(private.open_file(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        for name in (path, path + "-wal", path + "-shm", files_dir, _journals(path)):
            with contextlib.suppress(FileNotFoundError):
                info = os.lstat(name)
                if os.name == "posix" and info.st_uid == os.geteuid() and info.st_mode & 0o077 and \
                        not stat.S_ISLNK(info.st_mode):
                    os.chmod(name, stat.S_IMODE(info.st_mode) & 0o700)
    except OSError as exc:
        raise StoreError(f"Cannot create the gatewidgets store {path}: {exc}. To fix: point GATEWIDGETS_STORE "
                         "(or GateWidgets.store) at a file in a folder you can write.") from None


def _journals(path: str) -> str:
    """The folder of a store's completion journals."""
    return f"{path}.completions"


def _writable(path: str) -> bool:
    """Whether this process may write an existing store: its file, and its folder (for the -wal and -shm files)."""
    return not os.path.exists(path) or (os.access(path, os.W_OK) and os.access(os.path.dirname(path), os.W_OK))


@_store_errors
class SqliteStore:
    """Executions, nodes, signals and their events in one SQLite file (read-only if this process cannot write it)."""

    capabilities = StoreCapabilities(run=True)

    def __init__(self, path: str | os.PathLike[str], *, poll_interval: float | None = None,
                 busy_timeout: float | None = None, retry_for: float = 5.0, durability: str | None = None) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.busy_timeout = busy_timeout if busy_timeout is not None else settings.busy_timeout
        self.durability = durability or settings.durability  # "process" or "machine" (see config.GateWidgets)
        self.files_dir = os.path.join(os.path.dirname(self.path), "files")
        self.poll_interval = poll_interval if poll_interval is not None else settings.poll_interval
        self.origin = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.read_only = not _writable(self.path)
        if not self.read_only:
            _private_store(self.path, self.files_dir)
        self._local = threading.local()
        self._listeners = Listeners(self, self._watch)
        self._watch_from: int | None = None
        self._closed = threading.Event()
        self.retry_for = retry_for  # seconds the engine's writes retry a busy, locked or full store
        # node changes written behind: ((project, domain, execution, node_id), fields), oldest first
        self._changes: collections.deque[_Change] = collections.deque()
        self._unwritten: dict[tuple[str, str, str, str], dict[str, Any]] = {}  # taken by a flush that failed
        self._completions: collections.deque[_Change] = collections.deque()  # for durable() to commit
        # ends of executions run here that the store did not take yet (see end_execution)
        self._ends: dict[tuple[str, str, str], tuple[ExecutionStatus, Any, str | None]] = {}
        self._journal_lock = threading.Lock()
        self._journal_map: mmap.mmap | None = None  # shared mapping: survives a kill, costs no system call
        self._journal_end = 0  # where the next journal record goes
        self._flush_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._plan_memo: collections.OrderedDict[int, tuple[Sequence[dict[str, Any]], _Plan]] = \
            collections.OrderedDict()
        self._plans: collections.OrderedDict[tuple[str, str, str], _Plan] = collections.OrderedDict()
        self._flusher_wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._live_types: dict[ExecKey, dict[str, GateType]] = {}  # per running execution, per signal
        self._cleaner: threading.Thread | None = None
        self._detached: dict[str, GateType] = {}
        self._migrate()

    # ------------------------------------------------------------------ connections

    def _connect(self) -> sqlite3.Connection:
        if not self.read_only:
            return sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=False)
        # without a -shm file (no writer has the store open) that it may not create, SQLite can read a WAL
        # database only as immutable
        immutable = not os.path.exists(self.path + "-shm") and not os.access(os.path.dirname(self.path), os.W_OK)
        uri = f"file:{urllib.parse.quote(self.path)}?mode=ro" + ("&immutable=1" if immutable else "")
        return sqlite3.connect(uri, uri=True, timeout=self.busy_timeout, isolation_level=None,
                               check_same_thread=False)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.row_factory = sqlite3.Row
            if not self.read_only:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL" if self.durability == "machine" else "PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def _check_writable(self) -> None:
        if self.read_only:
            raise sqlite3.OperationalError("attempt to write a readonly database")  # becomes a StoreError

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._check_writable()
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # a failed COMMIT may have rolled back already, or not
                conn.execute("ROLLBACK")
            raise

    def _retrying(self, what: str, attempt: Callable[[], _T]) -> _T:
        """Run ``attempt``; while the store is busy, locked or full, retry with backoff, then raise ``StoreError``."""
        delay, deadline = 0.01, time.monotonic() + self.retry_for
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as exc:
                if not any(word in str(exc).lower() for word in _TRANSIENT):
                    raise
                if time.monotonic() + delay > deadline:
                    log.error("gatewidgets could not %s in %s: %s (retried for %g s)", what, self.path, exc,
                              self.retry_for)
                    raise StoreError(f"{_problem(self, exc)} (Tried to {what} for {self.retry_for:g} s.)") from exc
                log.warning("gatewidgets could not %s in %s: %s; retrying in %g s", what, self.path, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _migrate(self) -> None:
        if self.read_only:  # nothing to create: check that this version can read it
            row = self._conn().execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            self._check_version(row)
            return
        with self._write() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(_CACHE_SCHEMA)
            conn.execute(_UPLOADS_SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            self._check_version(row)
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

    def close(self) -> None:
        """Flush pending writes and stop the background threads."""
        self.flush()
        self._write_ends()
        self._drop_journal()
        self._closed.set()
        self._flusher_wake.set()
        self._listeners.join()
        for thread in (self._flusher, self._cleaner):
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
        if self._watch_from is None:  # the watcher reports what comes after the first subscribe, not after it starts
            self._watch_from = self._conn().execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
        return self._listeners.subscribe(listener, "gatewidgets-store-watcher")

    def _dispatch(self, events: list[StoreEvent]) -> None:
        self._listeners.dispatch(events)

    def _watch(self) -> None:
        conn = self._connect()
        conn.row_factory = sqlite3.Row
        last_id = self._watch_from
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

    @_retried("create an execution")
    def create_execution(self, key: ExecKey, workflow: str, inputs: Any, nodes: Sequence[dict[str, Any]],
                         signals: Sequence[dict[str, Any]], *, pid: int | None = None,
                         workflow_path: str | None = None) -> None:
        """Insert a running execution with its nodes (``QUEUED``) and signals (``UPCOMING``).

        The nodes are stored as a plan shared by every execution of the same nodes (content-addressed);
        a node gets its own row when it first changes (see :meth:`flush`), so a launch writes a few
        rows, not one per node.
        """
        stamp = _ts(now())
        plan = self._plan(nodes)
        owner = pid if pid is not None else os.getpid()
        started, boot = process.own_identity() if owner == os.getpid() else process.identity(owner)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM executions WHERE project=? AND domain=? AND name=?",
                            (key.project, key.domain, key.name)).fetchone():
                raise ExecutionExistsError(
                    f"Execution {key} exists already. Choose another execution_name, or pass recover=True "
                    "to resume it."
                )
            conn.execute("INSERT OR IGNORE INTO plans (id, nodes) VALUES (?,?)", (plan.id, plan.text))
            conn.execute(
                "INSERT INTO executions (project, domain, name, workflow, status, inputs, pid, host, created_at, "
                "updated_at, workflow_path, plan, pid_started, boot_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (key.project, key.domain, key.name, workflow, ExecutionStatus.RUNNING.value, _dumps(inputs),
                 owner, self.host, stamp, stamp, workflow_path, plan.id, started, boot))
            conn.executemany(
                "INSERT INTO signals (project, domain, execution, signal_id, seq, kind, node_id, description, "
                "type, state, created_at, context) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(key.project, key.domain, key.name, s["signal_id"], i, s["kind"], s["node_id"], s.get("description"),
                  _dumps(s["type"]), SignalState.UPCOMING.value, stamp, _context(s.get("context")))
                 for i, s in enumerate(signals)])
            events = [self._event(conn, key, "launched", state=ExecutionStatus.RUNNING.value)]
            events += [self._event(conn, key, "created", signal_id=s["signal_id"], node_id=s["node_id"],
                                   state=SignalState.UPCOMING.value) for s in signals]
        self._plans[key_tuple(key)] = plan
        self._keep_plans()
        self._dispatch(events)
        if self._cleaner is None:
            self._clean_in_background()

    def _plan(self, nodes: Sequence[dict[str, Any]]) -> _Plan:
        """The plan of ``nodes``; the executor passes the same list for every launch of a workflow, so it is
        built once per list (and the list kept, so its id stays its own)."""
        memo = self._plan_memo.get(id(nodes))
        if memo is not None and memo[0] is nodes:
            return memo[1]
        plan = _Plan.of(nodes)
        self._plan_memo[id(nodes)] = (nodes, plan)
        while len(self._plan_memo) > _PLAN_MEMO:
            self._plan_memo.popitem(last=False)
        return plan

    def _plan_of(self, conn: sqlite3.Connection, where: tuple[str, str, str]) -> _Plan:
        """The plan of a running execution: kept since its launch in this process, else read (and kept)."""
        plan = self._plans.get(where)
        if plan is None:
            row = conn.execute("SELECT p.nodes FROM executions e JOIN plans p ON p.id = e.plan WHERE e.project=? "
                               "AND e.domain=? AND e.name=?", where).fetchone()
            plan = self._plans[where] = _Plan.parse(row[0]) if row is not None else _NO_PLAN
            self._keep_plans()
        return plan

    def _keep_plans(self) -> None:
        while len(self._plans) > _PLANS_KEPT:  # popitem is atomic: other threads may add meanwhile
            with contextlib.suppress(KeyError):
                self._plans.popitem(last=False)

    @_retried("add a dynamic node's nodes")
    def add_nodes(self, key: ExecKey, nodes: Sequence[dict[str, Any]], signals: Sequence[dict[str, Any]]) -> None:
        """Add nodes (``QUEUED``) and signals (``UPCOMING``) that a ``@dynamic`` node built at run time.

        Rows that exist already (a recovered execution re-expanding) are kept as they are.
        """
        stamp = _ts(now())
        with self._write() as conn:
            self._execution_row(conn, key)
            seq = max(len(self._plan_of(conn, key_tuple(key)).nodes), conn.execute(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM nodes WHERE project=? AND domain=? AND execution=?",
                key_tuple(key)).fetchone()[0])
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

    @_retried("cancel signals")
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

    @_retried("adopt an execution")
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
            row = self._execution_row(conn, key)
            owner = f"process {row['pid']} on {row['host']}"
            if row["status"] != ExecutionStatus.RUNNING.value:
                raise ExecutionExistsError(
                    f"Execution {key} already ended ({row['status']}, last run by {owner}); only an unfinished "
                    "execution can be recovered. Launch a new one with another execution_name."
                )
            mine = row["pid"] == os.getpid() and row["host"] == self.host
            if not mine and self._alive(row["pid"], row["host"], row["pid_started"], row["boot_id"]):
                raise ExecutionExistsError(
                    f"Execution {key} is still running in {owner}; it can be recovered only once that "
                    "process is gone."
                )
            journal = self._journal_path(row["host"], row["pid"], row["pid_started"])
            spent = self._replay(conn, key, journal, row["host"], row["pid"])
            cur = conn.execute("UPDATE executions SET pid=?, host=?, pid_started=?, boot_id=?, updated_at=? "
                               "WHERE project=? AND domain=? AND name=? AND pid IS ? AND host IS ? "
                               "AND pid_started IS ?",
                               (os.getpid(), self.host, *process.own_identity(), _ts(now()), *key_tuple(key),
                                row["pid"], row["host"], row["pid_started"]))
            if cur.rowcount != 1:
                raise ExecutionExistsError(f"Execution {key} changed owner while being recovered; try again.")
        if spent:
            with contextlib.suppress(OSError):
                os.remove(journal)
        if self._cleaner is None:
            self._clean_in_background()
        return self.get_execution(key)

    def _journal_path(self, host: str, pid: int, started: int | None) -> str:
        """The completion journal of process ``pid`` started at ``started`` (so a reused pid has its own)."""
        return os.path.join(_journals(self.path),
                            f"{host}-{pid}.journal" if started is None else f"{host}-{pid}-{started}.journal")

    def _own_journal_path(self) -> str:
        return self._journal_path(self.host, os.getpid(), process.own_identity()[0])

    def _replay(self, conn: sqlite3.Connection, key: ExecKey, journal: str, host: str, pid: int) -> bool:
        """Apply the completions of ``key`` that process ``pid`` journaled (in ``journal``) but had not committed;
        return whether its journal can go (another process's, with no other execution left to recover)."""
        text = _trusted_journal(journal)
        if text is None:
            return False
        lines = text.split(b"\0", 1)[0].splitlines()  # a NUL ends what was written
        plan = self._plan_of(conn, key_tuple(key))
        for line in lines:
            try:  # a blank separator or a line torn by a full disk is skipped
                *where, node_id, state, outputs, finished_at = _journal_record(line)
                if tuple(where) != key_tuple(key) or NodeState(state) not in _DONE:
                    continue
            except (ValueError, TypeError, SyntaxError, UnicodeDecodeError):
                continue
            fields = {"state": NodeState(state), "outputs": outputs, "finished_at": finished_at}
            static = plan.static.get(node_id)
            conn.execute(_node_sql(tuple(fields), static is not None, unless_done=True),
                         _node_params((*key_tuple(key), node_id), fields, static))
        others = conn.execute("SELECT 1 FROM executions WHERE pid=? AND host=? AND status=? AND NOT "
                              "(project=? AND domain=? AND name=?)",
                              (pid, host, ExecutionStatus.RUNNING.value, *key_tuple(key))).fetchone()
        return others is None and pid != os.getpid()

    def _execution_row(self, conn: sqlite3.Connection, key: ExecKey) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute("SELECT * FROM executions WHERE project=? AND domain=? AND name=?",
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
            rows = conn.execute("SELECT * FROM nodes WHERE project=? AND domain=? AND execution=? ORDER BY seq",
                                key_tuple(key)).fetchall()
            plan = self._plan_of(conn, key_tuple(key)) if row["plan"] is not None else _NO_PLAN
            unchanged = NodeState.QUEUED if row["status"] == ExecutionStatus.RUNNING.value else NodeState.ABORTED
            nodes = plan.records(unchanged, {r["node_id"]: self._node(r) for r in rows})
            if row["status"] != ExecutionStatus.RUNNING.value:
                self._plans.pop(key_tuple(key), None)
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
        """Whether the process that runs ``record`` is alive (``None``: on another host, unknown); a zombie,
        or another process holding its pid, is not."""
        return self._alive(record.pid, record.host, record.pid_started, record.boot_id)

    def _alive(self, pid: int | None, host: str | None, started: int | None, boot: str | None) -> bool | None:
        if host != self.host or pid is None:
            return None
        return process.alive(pid, started, boot)

    def update_node(self, key: ExecKey, node_id: str, **fields: Any) -> None:
        """Record a node change; written behind, in a batch (see :meth:`flush`). A completion (``SUCCEEDED``,
        ``SKIPPED``) is also journaled before this returns (see :meth:`durable`): from then on it survives a
        kill of this process.

        The engine calls this twice per task from many workers at once, so it takes no lock but the journal's,
        for a completion: appends to a deque are atomic, and the flush merges the changes in the order made.
        """
        change = ((key.project, key.domain, key.name, node_id), fields)
        self._changes.append(change)  # before its journal record: a flush that saw the record takes the change
        if fields.get("state") in _DONE and (not self._journal_append(_journal_line(change))
                                             or self.durability == "machine"):
            self._completions.append(change)
        self._wake_writer()

    def _wake_writer(self) -> None:
        if self._flusher is None:
            self._start_flusher()
        if not self._flusher_wake.is_set():  # set() takes a lock each call; the change is queued above either way
            self._flusher_wake.set()

    def _start_flusher(self) -> None:
        with self._start_lock:
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_loop, name="gatewidgets-store-writer",
                                                 daemon=True)
                self._flusher.start()

    def _flush_loop(self) -> None:
        retry: float | None = None  # seconds until what could not be written is tried again; None: nothing left
        while not self._closed.is_set():
            self._flusher_wake.wait(retry)
            self._flusher_wake.clear()
            self._closed.wait(0.01)  # gather a batch
            try:
                self.flush()
                self._write_ends()
                retry = None
            except Exception as exc:  # kept for the next round (_retrying logged a busy, locked or full store)
                retry = min(2 * retry, _RETRY_MAX) if retry else _RETRY_MIN
                if not isinstance(exc, StoreError):
                    log.exception("gatewidgets could not write node states to %s", self.path)

    def durable(self) -> None:
        """Return once every node completion recorded so far survives a kill of this process.

        :meth:`update_node` appends each completion, as it is recorded, to this process's journal
        (``<store>.completions/<host>-<pid>-<start time>.journal``, a shared memory map: the kernel keeps what
        was written when the process dies, and writing costs no system call), which :meth:`adopt_execution`
        replays. The ones the journal could not take (it cannot be made, or is full until the next commit
        empties it) are committed here, and with ``durability="machine"`` every completion is (each commit
        synced to disk: ``synchronous=FULL``). Callers arriving during a commit wait for it.
        """
        if self._completions:
            self.flush()

    def _journal_append(self, line: str) -> bool:
        """Append a record (a :func:`_journal_line`) to this process's journal; ``False`` if it cannot (no journal,
        or full)."""
        data = line.encode()
        with self._journal_lock:
            journal = self._journal_map
            if journal is None:
                try:
                    journal = self._journal()
                except OSError as exc:
                    log.warning("gatewidgets could not make its completion journal (%s); committing instead", exc)
                    return False
            start = self._journal_end
            end = start + len(data)  # where the new end mark goes
            if end >= len(journal):
                return False
            # the record and its end mark go after the current end mark, then one byte turns that mark into the
            # line break before the record: a kill at any moment leaves the journal ending at a whole record
            journal[start + 1:end + 1] = data
            journal[start] = 10  # "\n"
            self._journal_end = end
        return True

    def _drop_journal(self) -> None:
        """Remove this process's journal once everything is committed, kept ends included (at close and at
        exit); else keep it: recovery will need it."""
        try:
            self._write_ends()  # not under the journal's lock: it tells listeners, which may record nodes
        except (sqlite3.Error, StoreError):
            return
        with self._journal_lock:
            if self._journal_map is None or self._ends:
                return
            try:
                self.flush()
            except (sqlite3.Error, StoreError):
                return
            self._journal_map.close()
            self._journal_map = None
            with contextlib.suppress(OSError):
                os.remove(self._own_journal_path())

    def _journal(self) -> mmap.mmap:
        atexit.register(self._drop_journal)
        path = self._own_journal_path()
        private.make_folders(os.path.dirname(path))
        fd = private.open_file(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0))
        try:
            if hasattr(os, "posix_fallocate"):  # reserve the blocks: a full disk fails here, not as SIGBUS later
                os.posix_fallocate(fd, 0, _JOURNAL_SIZE)
            else:
                os.ftruncate(fd, _JOURNAL_SIZE)
            self._journal_map = mmap.mmap(fd, _JOURNAL_SIZE)
        finally:
            os.close(fd)
        self._journal_map[0:1] = b"\0"  # a file left by an earlier process with this pid starts over
        self._journal_end = 0
        return self._journal_map

    @_retried("write node states")
    def flush(self) -> None:
        """Write every pending node change now. If the write fails, the changes stay queued (later ones win)."""
        with self._flush_lock:
            journaled = self._journal_end  # journal records written before the changes are taken
            completions = len(self._completions)  # their changes are queued: taken now, or written before
            batch, self._unwritten = self._unwritten, {}
            taken = []
            pop = self._changes.popleft
            for _ in range(len(self._changes)):
                taken.append(pop())
            for where, fields in taken:  # merged in the order made; the dicts stay as callers made them
                before = batch.get(where)
                batch[where] = fields if before is None else {**before, **fields}
            if batch:
                try:
                    conn = self._conn()
                    by_shape: dict[tuple[tuple[str, ...], bool], list[tuple[Any, ...]]] = {}  # one executemany each
                    execution, plan = None, _NO_PLAN
                    for where, fields in batch.items():
                        if where[:3] != execution:
                            execution = where[:3]
                            plan = self._plan_of(conn, execution)
                        static = plan.static.get(where[3])
                        by_shape.setdefault((tuple(fields), static is not None), []).append(
                            _node_params(where, fields, static))
                    with self._write() as conn:
                        for (columns, planned), rows in by_shape.items():
                            conn.executemany(_node_sql(columns, planned), rows)
                except BaseException:
                    self._unwritten = batch
                    raise
            for _ in range(completions):  # committed
                self._completions.popleft()
            if journaled and self._journal_end == journaled and self._journal_lock.acquire(blocking=False):
                try:  # nothing journaled since the changes were taken: every record is committed
                    if self._journal_end == journaled and self._journal_map is not None:
                        self._journal_map[0] = 0
                        self._journal_end = 0
                finally:
                    self._journal_lock.release()

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

    def _write_ends(self) -> None:
        """Write the ends :meth:`end_execution` kept (one whose execution is no longer stored is dropped)."""
        for where, (status, outputs, error) in list(self._ends.items()):
            key = ExecKey(*where)
            try:
                self.finish_execution(key, status, outputs=outputs, error=error)
            except ExecutionNotFoundError:
                self._ends.pop(where, None)
                log.warning("gatewidgets dropped the end of execution %s (%s): %s no longer holds it", key,
                            status.value, self.path)
                continue
            log.warning("gatewidgets recorded the end of execution %s (%s) in %s", key, status.value, self.path)

    @_retried("record the end of an execution")
    def finish_execution(self, key: ExecKey, status: ExecutionStatus, *, outputs: Any = None,
                         error: str | None = None) -> list[str]:
        """End an execution; every open signal of it becomes ``CANCELLED`` in the same transaction.

        Returns the ids of the cancelled signals. Ending an execution that already ended does nothing. An end
        this process decided but could not write yet (see :meth:`end_execution`) is written instead of this one.
        """
        status, outputs, error = self._ends.get(key_tuple(key), (status, outputs, error))
        self.flush()
        self._plans.pop(key_tuple(key), None)
        stamp = _ts(now())
        with self._write() as conn:
            row = self._execution_row(conn, key)
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
                (status.value, _dumps(outputs) if outputs is not None else None, error, stamp, stamp,
                 *key_tuple(key)))
            events = [self._event(conn, key, "cancelled", signal_id=sid, state=SignalState.CANCELLED.value)
                      for sid in open_ids]
            events.append(self._event(conn, key, "finished", state=status.value))
        self._ends.pop(key_tuple(key), None)
        self._dispatch(events)
        return open_ids

    @_retried("request an abort")
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
        self._live_types.setdefault(key, {})[signal_id] = gate_type

    def forget_types(self, key: ExecKey) -> None:
        """Drop the live types of an execution that ended (its own entry: no scan of the others)."""
        self._live_types.pop(key, None)

    def gate_type(self, key: ExecKey, signal_id: str, record: str | dict[str, Any]) -> GateType:
        """The type that validates and decodes a signal's values (``Signal.value``):

        1. the live type its execution registered, while that execution runs in this process;
        2. else the live type a gate defined in this process declared with the same stored record
           (``GateType.known``: the workflow's definition is loaded here, running or not, ended or not);
        3. else the type rebuilt from the stored record (another process): a dataclass or pydantic
           value is then a plain dict, an enum its value.
        """
        live = self._live_types.get(key, {}).get(signal_id)
        if live is not None:
            return live
        text = record if isinstance(record, str) else _dumps(record)
        detached = self._detached.get(text)
        if detached is None:
            detached = self._detached[text] = GateType.from_record(json.loads(text))
        return detached.known()

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
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM signals WHERE project=? AND domain=? AND execution=? AND signal_id=?",
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
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"  # a negative LIMIT is none: an offset applies without a limit too
            params += [-1 if limit is None else int(limit), int(offset)]
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
            check_fields([f])
            column = _SIGNAL_COLUMNS[f.key]
            if f.function == "value_in":
                values = [_ts(f.time_value(v)) if column in TIME_FIELDS else v for v in f.value]
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params += values
            elif f.function == "contains":
                where.append(f"instr({column}, ?) > 0")
                params.append(str(f.value))
            elif f.function in _OPS:  # NULL passes neq only, as in Filter.matches
                null = f"{column} IS NULL OR " if f.function == "neq" else ""
                where.append(f"({null}{column} {_OPS[f.function]} ?)")
                params.append(_ts(f.time_value()) if column in TIME_FIELDS else f.value)
            else:
                raise ValueError(f"Unknown filter function {f.function!r}.")
        return where, params

    @staticmethod
    def _order(sort_by: Sort | None, *, across: bool) -> str:
        if sort_by is None:
            return "created_at, project, domain, execution, seq" if across else "seq"
        column = _SIGNAL_COLUMNS.get(sort_by.key)
        if column is None:
            raise ValueError(f"Cannot sort signals by {sort_by.key!r}; use one of {sorted(SIGNAL_FIELDS)}.")
        direction = "DESC" if sort_by.direction == SortOrdering.DESCENDING else "ASC"
        return f"{column} {direction}, execution, seq"

    @_retried("open a gate's signal")
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

    @_retried("set a signal")
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

    @_retried("time out a signal")
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
                "SELECT s.set_at, n.finished_at, s.waiting_since FROM signals s JOIN nodes n "
                "ON n.project=s.project AND "
                "n.domain=s.domain AND n.execution=s.execution AND n.node_id=s.node_id WHERE s.state='SET' "
                "AND s.waiting_since IS NOT NULL AND n.state='SUCCEEDED' AND n.finished_at IS NOT NULL" + also,
                params)],
        }

    # ------------------------------------------------------------- task attempts and cache

    def record_attempt(self, key: ExecKey, node_id: str, attempt: int, error: str) -> None:
        """Note in the history that attempt ``attempt`` of a task node failed with ``error`` and is retried."""
        with self._write() as conn:
            event = self._event(conn, key, "retry", node_id=node_id, state=NodeState.RUNNING.value,
                                value=json.dumps({"attempt": attempt, "error": error}))
        self._dispatch([event])

    def cached_output(self, task: str, version: str, inputs_hash: str) -> tuple[bool, Any]:
        """``(True, outputs)`` if a task of that name and cache version ran on those inputs before."""
        row = self._conn().execute("SELECT outputs FROM task_cache WHERE task=? AND version=? AND inputs=?",
                                   (task, version, inputs_hash)).fetchone()
        return (True, json.loads(row[0])) if row is not None else (False, None)

    def cache_output(self, task: str, version: str, inputs_hash: str, outputs: Any) -> None:
        """Remember a cacheable task's JSON ``outputs`` for these inputs (the first stored wins)."""
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO task_cache VALUES (?,?,?,?,?)",
                         (task, version, inputs_hash, _dumps(outputs), _ts(now())))

    # ------------------------------------------------------------------------ files

    def clean_files(self, older_than: float = FILE_GRACE, *, dry_run: bool = False) -> list[Leftover]:
        """Remove what interrupted copies left in ``files_dir``: temp files (``.part-*``) of an upload or
        ingest that crashed, and content-addressed copies (``<sha[:2]>/<sha>/<name>``) that no stored value,
        context, event, output or completion journal names (a refused set leaves one) and no upload id still
        holds (:meth:`hold_file`). Only files unchanged
        for ``older_than`` seconds go, so a copy still being written or about to be set stays; only regular
        files inside ``files_dir`` are removed (symbolic links, and what they point to, are left alone).
        Returns what was removed, or with ``dry_run`` what would be."""
        if not dry_run:
            self._check_writable()
        cutoff = time.time() - older_than
        found = [(path, info, reason) for path, info, reason in self._leftover_candidates()
                 if info.st_mtime <= cutoff]
        if any(reason == "unreferenced" for _, _, reason in found):
            named = self._named_files()
            found = [f for f in found if f[2] != "unreferenced" or os.path.basename(os.path.dirname(f[0])) not in named]
        removed = []
        for path, info, reason in found:
            if not dry_run and not self._remove_leftover(path, info, cutoff):
                continue
            removed.append(Leftover(path, info.st_size, reason))
        if removed and not dry_run:
            log.info("gatewidgets removed %d leftover files (%d bytes) from %s", len(removed),
                     sum(f.size for f in removed), self.files_dir)
        return removed

    def hold_file(self, sha256: str, seconds: float) -> None:
        """Keep the stored file with content ``sha256`` from :meth:`clean_files` (in any process) for the next
        ``seconds``, however old the file is: the file behind an upload id, held while the id is valid. A
        hold never shortens an earlier one; expired holds are dropped here."""
        stamp = time.time()
        with self._write() as conn:
            conn.execute("DELETE FROM uploads WHERE until <= ?", (stamp,))
            conn.execute("INSERT INTO uploads VALUES (?, ?) ON CONFLICT (sha256) DO UPDATE "
                         "SET until = max(until, excluded.until)", (sha256, stamp + seconds))

    def _leftover_candidates(self) -> Iterator[tuple[str, os.stat_result, str]]:
        """Regular files in ``files_dir`` a cleanup may remove: ``(path, lstat, reason)``; a linked folder is
        not entered."""
        for folder, _, names in os.walk(self.files_dir):
            parts = os.path.relpath(folder, self.files_dir).split(os.sep)
            for name in names:
                if folder == self.files_dir and name.startswith(PART_PREFIX):
                    reason = "unfinished"
                elif len(parts) == 2 and _SHA256.fullmatch(parts[1]) and parts[1][:2] == parts[0]:
                    reason = "unreferenced"
                else:  # not a file gatewidgets writes: leave it
                    continue
                path = os.path.join(folder, name)
                with contextlib.suppress(FileNotFoundError):
                    info = os.lstat(path)
                    if stat.S_ISREG(info.st_mode):
                        yield path, info, reason

    def _named_files(self) -> set[str]:
        """The sha256 of every stored file the store's rows, a completion journal or a valid upload hold name."""
        named: set[str] = set()
        conn = self._conn()
        for table, column in _FILE_REFERENCES:
            for (text,) in conn.execute(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"):
                named.update(_SHA256.findall(str(text)))
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name='uploads'").fetchone():  # absent: older, read-only
            named.update(sha for (sha,) in conn.execute("SELECT sha256 FROM uploads WHERE until > ?", (time.time(),)))
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(_journals(self.path)):
                with contextlib.suppress(OSError), open(entry.path, "rb") as f:
                    named.update(_SHA256.findall(f.read().decode("ascii", "replace")))
        return named

    def _remove_leftover(self, path: str, seen: os.stat_result, cutoff: float) -> bool:
        """Remove ``path`` if it is still the old regular file seen and still inside ``files_dir`` (no folder on
        its way became a link); then its emptied folders. Whether it was removed."""
        inside = os.path.realpath(self.files_dir)
        folder = os.path.dirname(path)
        try:
            info = os.lstat(path)
            if not (stat.S_ISREG(info.st_mode) and info.st_ino == seen.st_ino and info.st_mtime <= cutoff
                    and os.path.commonpath([inside, os.path.realpath(folder)]) == inside):
                return False
            os.unlink(path)
        except OSError:
            return False
        while os.path.realpath(folder) != inside:  # <sha>, then <sha[:2]>, if now empty
            try:
                os.rmdir(folder)
            except OSError:
                break
            folder = os.path.dirname(folder)
        return True

    def _clean_in_background(self) -> None:
        """Start :meth:`clean_files` in a thread if the store's last cleanup (recorded in ``meta``) is more
        than a day old; of processes starting at once one claims it. A new store starts counting."""
        # not a daemon: a process that ends meanwhile lets it finish and close its connection (SQLite then
        # folds the -wal file into the store)
        self._cleaner = threading.Thread(target=self._clean_if_due, name="gatewidgets-files-cleaner")
        self._cleaner.start()

    def _clean_if_due(self) -> None:
        try:
            stamp = time.time()
            with self._write() as conn:
                row = conn.execute("SELECT value FROM meta WHERE key='files_cleaned_at'").fetchone()
                due = row is not None and stamp - float(row[0]) >= _CLEAN_EVERY
                if row is None or due:
                    conn.execute("INSERT OR REPLACE INTO meta VALUES ('files_cleaned_at', ?)", (repr(stamp),))
            if due:
                self.clean_files()
        except Exception:  # a cleanup that failed is tried again by the next process
            log.exception("gatewidgets could not clean up %s", self.files_dir)
        finally:  # this thread's connection
            own = getattr(self._local, "conn", None)
            if own is not None:
                own.close()

    # ---------------------------------------------------------------------- records

    @staticmethod
    def _node(row: sqlite3.Row) -> NodeRecord:
        return NodeRecord(
            node_id=row["node_id"], kind=row["kind"], name=row["name"], state=NodeState(row["state"]),
            upstream=tuple(json.loads(row["upstream"])), signal_id=row["signal_id"],
            outputs=json.loads(row["outputs"]) if row["outputs"] is not None else None, error=row["error"],
            started_at=_dt(row["started_at"]), finished_at=_dt(row["finished_at"]),
            # a read-only store made before the column has none
            child_execution=row["child_execution"] if "child_execution" in row.keys() else None,
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
            workflow_path=row["workflow_path"], pid_started=row["pid_started"], boot_id=row["boot_id"],
        )

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"


def key_tuple(key: ExecKey) -> tuple[str, str, str]:
    """``(project, domain, name)`` for SQL parameters."""
    return key.project, key.domain, key.name


def _trusted_journal(path: str) -> bytes | None:
    """The bytes of the completion journal ``path`` if recovery may replay it, else ``None`` (missing, or refused
    with a warning: the execution then recovers without it, and its unrecorded nodes run again).

    A journal is trusted only as a regular file (not a link, not linked elsewhere) of this process's user
    with no group or other permissions, in the store's journal folder, itself this user's only: anyone else
    who could plant one could make a node that never ran ``SUCCEEDED``, with the output they chose.
    """
    folder = os.path.dirname(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a symbolic link (ELOOP), unreadable, ...
        log.warning("gatewidgets does not replay the completion journal %s: %s", path, exc)
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        try:
            where = os.lstat(folder)
        except OSError as exc:
            log.warning("gatewidgets does not replay the completion journal %s: %s", path, exc)
            return None
        if not (stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and private.is_private(info)
                and stat.S_ISDIR(where.st_mode) and private.is_private(where)):
            log.warning("gatewidgets does not replay the completion journal %s: it is not a private file of "
                        "this user (mode %o, owner %d) in a private folder (mode %o, owner %d); the nodes it "
                        "names run again", path, stat.S_IMODE(info.st_mode), info.st_uid,
                        stat.S_IMODE(where.st_mode), where.st_uid)
            return None
        return f.read()


def _journal_line(change: _Change) -> str:
    """A completion as a journal line: project, domain, execution, node id, state, finished_at, outputs (JSON),
    tab-separated (names cannot hold tabs or newlines; JSON text holds neither), and the journal's end mark."""
    (project, domain, execution, node_id), fields = change
    outputs, finished_at = fields.get("outputs"), fields.get("finished_at")
    outputs = repr(outputs) if type(outputs) is int else "null" if outputs is None else _node_value("outputs", outputs)
    if isinstance(finished_at, datetime):
        finished_at = finished_at.timestamp()
    # epoch seconds, written as microseconds: an int prints several times faster than a float
    at = "None" if finished_at is None else round(finished_at * 1e6)
    return f"{project}\t{domain}\t{execution}\t{node_id}\t{fields['state']._value_}\t{at}\t{outputs}\0"


def _journal_record(line: bytes) -> tuple[Any, ...]:
    """A journal line read back: ``(project, domain, execution, node_id, state, outputs, finished_at)``."""
    if line.startswith(b"("):  # the Python literal journals held before schema 3 (a recovery across an upgrade)
        return tuple(ast.literal_eval(line.decode()))
    project, domain, execution, rest = line.decode().split("\t", 3)
    node_id, state, finished_at, outputs = rest.rsplit("\t", 3)
    at = None if finished_at == "None" else int(finished_at) / 1e6
    return project, domain, execution, node_id, state, json.loads(outputs), at


_Static = tuple[int, str, str, str, "str | None"]  # a planned node's (seq, kind, name, upstream JSON, signal_id)


@dataclass(frozen=True)
class _Plan:
    """The nodes an execution was launched with, stored once for every execution of the same nodes.

    A node's row in ``nodes`` is written when it first changes; until then the plan says what it is
    (``QUEUED`` while the execution runs, ``ABORTED`` after). Nodes added at run time (``@dynamic``,
    run-time gates) have rows from the start.
    """

    id: str  # sha256 of ``text``
    text: str  # JSON: [[node_id, kind, name, [upstream ids], signal_id], ...] in order
    nodes: tuple[tuple[str, str, str, tuple[str, ...], str | None], ...]
    static: dict[str, _Static]  # node_id -> what its row holds besides its state

    @classmethod
    def of(cls, nodes: Sequence[dict[str, Any]]) -> _Plan:
        text = _dumps([[n["node_id"], n["kind"], n["name"], json.loads(_upstream(n["upstream"])), n.get("signal_id")]
                       for n in nodes])
        return cls.parse(text)

    @classmethod
    def parse(cls, text: str) -> _Plan:
        nodes = tuple((nid, kind, name, tuple(up), sid) for nid, kind, name, up, sid in json.loads(text))
        static = {nid: (seq, kind, name, _dumps(list(up)), sid) for seq, (nid, kind, name, up, sid) in enumerate(nodes)}
        return cls(hashlib.sha256(text.encode()).hexdigest(), text, nodes, static)

    def records(self, unchanged: NodeState, rows: dict[str, NodeRecord]) -> tuple[NodeRecord, ...]:
        """Every node: its row where it has one, else as planned in state ``unchanged``; then the added ones."""
        planned = [rows.pop(nid) if nid in rows else NodeRecord(node_id=nid, kind=kind, name=name, state=unchanged,
                                                                upstream=up, signal_id=sid)
                   for nid, kind, name, up, sid in self.nodes]
        return (*planned, *rows.values())


_NO_PLAN = _Plan.parse("[]")  # an execution whose every node has its row (stores before schema 3)
_PLAN_MEMO = 64  # node lists whose plan a store keeps, by identity
_PLANS_KEPT = 1024  # running executions whose plan a store keeps


@functools.lru_cache(maxsize=128)
def _node_sql(columns: tuple[str, ...], planned: bool, unless_done: bool = False) -> str:
    """The statement writing a node change of ``columns``: an upsert for a planned node (its row may not
    exist yet), an update for an added one. ``unless_done`` leaves a finished node as it is."""
    done = ", ".join(f"'{state.value}'" for state in _DONE)
    if not planned:
        return (f"UPDATE nodes SET {', '.join(f'{c}=?' for c in columns)} WHERE project=? AND domain=? "
                f"AND execution=? AND node_id=?" + (f" AND state NOT IN ({done})" if unless_done else ""))
    state = () if "state" in columns else ("state",)  # a row needs one: a change without it inserts QUEUED
    inserted = ("project", "domain", "execution", "node_id", "seq", "kind", "name", "upstream", "signal_id",
                *state, *columns)
    values = ["?"] * 9 + [f"'{NodeState.QUEUED.value}'"] * len(state) + ["?"] * len(columns)
    return (f"INSERT INTO nodes ({', '.join(inserted)}) VALUES ({', '.join(values)}) ON CONFLICT "
            f"(project, domain, execution, node_id) DO UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in columns)}"
            + (f" WHERE nodes.state NOT IN ({done})" if unless_done else ""))


def _node_params(where: tuple[str, str, str, str], fields: dict[str, Any], static: _Static | None) -> tuple[Any, ...]:
    """The parameters of :func:`_node_sql` for one change (the flush's loop: the common cases inline)."""
    values = []
    for column, value in fields.items():
        if column == "state":
            values.append(value._value_)
        elif type(value) is float and column != "outputs":  # epoch seconds
            values.append(value)
        else:
            values.append(_node_value(column, value))
    return (*where, *static, *values) if static is not None else (*values, *where)


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
