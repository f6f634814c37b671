"""The SQLite connection under a store: one per thread, transactions, errors and retry, events and the watcher.

Any ``sqlite3`` error (locked, disk full, corrupt, read-only) leaves a public method as a ``StoreError``
naming the file and what to do: each public method says so with :func:`translated` (or :func:`retried`,
which also retries a busy, locked or full store for ``retry_for`` seconds).
"""
from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import socket
import sqlite3
import stat
import threading
import time
import urllib.parse
import uuid
from contextlib import contextmanager
from typing import Callable, Concatenate, Iterator, ParamSpec, Sequence, TypeVar

from gatewidgets import private
from gatewidgets.errors import StoreError
from gatewidgets.models.signal import Signal
from gatewidgets.settings import settings
from gatewidgets.store.base import ExecKey, Listener, Listeners, StoreEvent, now
from gatewidgets.store.sqlite.rows import key_tuple, ts

__all__ = ["Connection", "translated", "retried", "journals"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_P = ParamSpec("_P")
_S = TypeVar("_S", bound="Connection")
_EVENTS_PER_STATEMENT = 500  # 13 values each: under SQLite's 32,766 variables per statement
# an event's fields but its execution: kind, signal_id, node_id, state, value, set_by, via, detail
EventFields = tuple[str, str | None, str | None, str | None, str | None, str | None, str | None, str | None]
_TRANSIENT = ("locked", "busy", "full", "disk i/o")  # sqlite3.OperationalError messages worth retrying


def translated(method: Callable[Concatenate[_S, _P], _T]) -> Callable[Concatenate[_S, _P], _T]:
    """A public store method that raises ``StoreError`` (naming the file and what to do) for any ``sqlite3.Error``."""
    @functools.wraps(method)
    def run(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreError(problem(self, exc)) from exc
    return run


def retried(what: str) -> Callable[[Callable[Concatenate[_S, _P], _T]], Callable[Concatenate[_S, _P], _T]]:
    """A :func:`translated` store method (whole transactions) retried while the store is busy, locked or full;
    see ``retry_for``."""
    def wrap(method: Callable[Concatenate[_S, _P], _T]) -> Callable[Concatenate[_S, _P], _T]:
        @functools.wraps(method)
        def run(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
            return self._retrying(what, lambda: method(self, *args, **kwargs))
        return translated(run)
    return wrap


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


def problem(store: Connection, exc: sqlite3.Error) -> str:
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
        for name in (path, path + "-wal", path + "-shm", files_dir, journals(path)):
            with contextlib.suppress(FileNotFoundError):
                info = os.lstat(name)
                if os.name == "posix" and info.st_uid == os.geteuid() and info.st_mode & 0o077 and \
                        not stat.S_ISLNK(info.st_mode):
                    os.chmod(name, stat.S_IMODE(info.st_mode) & 0o700)
    except OSError as exc:
        raise StoreError(f"Cannot create the gatewidgets store {path}: {exc}. To fix: point GATEWIDGETS_STORE "
                         "(or GateWidgets.store) at a file in a folder you can write.") from None


def journals(path: str) -> str:
    """The folder of a store's completion journals."""
    return f"{path}.completions"


def _writable(path: str) -> bool:
    """Whether this process may write an existing store: its file, and its folder (for the -wal and -shm files)."""
    return not os.path.exists(path) or (os.access(path, os.W_OK) and os.access(os.path.dirname(path), os.W_OK))


class Connection:
    """A store file's connections (one per thread; read-only if this process cannot write the file), its
    transactions, and its events: written in the transaction that makes them, dispatched to this process's
    subscribers at once, and to other processes' by their watcher thread."""

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
        self.retry_for = retry_for  # seconds the engine's writes retry a busy, locked or full store
        self._local = threading.local()
        self._listeners = Listeners(self, self._watch)
        self._watch_from: int | None = None
        self._closed = threading.Event()

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

    def close_connections(self) -> None:
        """Let go of the connection of every thread that used this store (three files each: the database, its WAL
        and its shared memory): each closes as soon as no thread is in the middle of using it (closing one another
        thread is using would crash the interpreter); a thread that uses the store again opens a new one."""
        self._local = threading.local()  # dropping the old one drops each thread's reference to its connection
        gc.collect()  # a connection and its statement cache refer to each other: freed (and closed) by a collection

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
                    raise StoreError(f"{problem(self, exc)} (Tried to {what} for {self.retry_for:g} s.)") from exc
                log.warning("gatewidgets could not %s in %s: %s; retrying in %g s", what, self.path, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _event(self, conn: sqlite3.Connection, key: ExecKey, kind: str, *, signal_id: str | None = None,
               node_id: str | None = None, state: str | None = None, value: str | None = None,
               set_by: str | None = None, via: str | None = None, detail: str | None = None,
               signal: Signal | None = None) -> StoreEvent:
        """Append an event in ``conn``'s transaction; ``signal``: the signal as the change left it."""
        return self._events(conn, [(key, (kind, signal_id, node_id, state, value, set_by, via, detail))], signal)[0]

    def _events(self, conn: sqlite3.Connection, changes: Sequence[tuple[ExecKey, EventFields]],
                signal: Signal | None = None) -> list[StoreEvent]:
        """Append events in ``conn``'s transaction, by one statement per 500: each is its execution's key and
        (kind, signal_id, node_id, state, value, set_by, via, detail)."""
        stamp = ts(now())
        events = []
        for start in range(0, len(changes), _EVENTS_PER_STATEMENT):
            chunk = changes[start:start + _EVENTS_PER_STATEMENT]
            cur = conn.execute(
                "INSERT INTO events (origin, at, project, domain, execution, kind, signal_id, node_id, state, "
                "value, set_by, via, detail) VALUES " + ",".join(["(?,?,?,?,?,?,?,?,?,?,?,?,?)"] * len(chunk)),
                [v for key, change in chunk for v in (self.origin, stamp, *key_tuple(key), *change)])
            first = (cur.lastrowid or 0) - len(chunk) + 1  # one statement under the write lock: consecutive ids
            events += [StoreEvent(first + i, c[0], key, c[1], c[3], signal=signal)
                       for i, (key, c) in enumerate(chunk)]
        return events

    @translated
    def subscribe(self, listener: Listener) -> Callable[[], None]:
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
