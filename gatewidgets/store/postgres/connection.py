"""The PostgreSQL connections under a store: a pool for statements, errors (``StoreError`` naming the database,
password masked) and retry, statement timeouts, and events: written in the transaction that makes them, announced
with ``NOTIFY`` at its commit, and heard by a ``LISTEN`` thread (with a fallback poll for what a dropped
connection missed)."""
from __future__ import annotations

import collections
import functools
import json
import logging
import os
import select
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Concatenate, Iterator, ParamSpec, TypeVar

import psycopg
from jupyter_core.paths import jupyter_data_dir
from psycopg import errors as pgerrors
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from gatewidgets.errors import GateForbiddenError, StoreError
from gatewidgets.models.signal import Signal
from gatewidgets.settings import settings
from gatewidgets.store.base import ExecKey, Listener, Listeners, StoreEvent, now
from gatewidgets.store.postgres.guard import FORBIDDEN
from gatewidgets.store.postgres.url import masked, scrub
from gatewidgets.store.sql import ts

__all__ = ["Connection", "Conn", "translated", "retried", "CHANNEL", "LISTENER", "NOTIFIED"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_P = ParamSpec("_P")
_S = TypeVar("_S", bound="Connection")
Conn = psycopg.Connection[DictRow]
CHANNEL = "gatewidgets_events"  # the NOTIFY channel of every event
LISTENER = "gatewidgets-listener"  # the application_name of the LISTEN connections
# an expression over a row of ``events`` (one a statement inserted): announce it, delivered at commit (:meth:`_watch`)
NOTIFIED = (f"pg_notify('{CHANNEL}', json_build_array(id, kind, project, domain, execution, signal_id, state, "
            "origin)::text)")
_LAG = 256  # event ids a poll reads again: numbered before the last seen, committed after it
_SEEN = 4096  # event ids a watcher remembers, so an event both notified and polled is dispatched once

_PROBLEMS = (  # SQLSTATE prefixes, or words of a failed connection's message -> what happened, what to do
    (("28", "password authentication", "not permitted to log in", "pg_hba.conf"), "refused the credentials",
     "check the user and password in GATEWIDGETS_STORE (or GateWidgets.store)"),
    (("3D", "does not exist"), "does not exist",
     "create the database (createdb) or point GATEWIDGETS_STORE at another one"),
    (("25006",), "is read-only", "point GATEWIDGETS_STORE at the primary server, or end its read-only mode"),
    (("53100",), "is out of disk space", "free disk space on the database server (its data directory or tablespace)"),
    (("53300", "too many connections", "too many clients", "remaining connection slots"), "has no connection left",
     "end idle sessions or raise the server's max_connections"),
    (("53",), "is out of resources", "free memory or disk space on the database server"),
    (("57014",), "did not answer within the statement timeout", "try again; if it stays slow, check the server"),
    (("42501",), "refused this user the access", "grant the user rights on the database and its tables"),
)


def _problem(store: Connection, exc: BaseException) -> str:
    """One line: the database (password masked), what happened, what to do."""
    text = scrub(" ".join(str(exc).split()), store.url)
    state = getattr(exc, "sqlstate", None)
    found = (lambda mark: state.startswith(mark)) if state else (lambda mark: len(mark) > 5 and mark in text)
    what, todo = next(((w, t) for marks, w, t in _PROBLEMS if any(found(mark) for mark in marks)),
                      ("cannot be reached", "check that the server runs and GATEWIDGETS_STORE names it")
                      if isinstance(exc, (psycopg.OperationalError, PoolTimeout)) and not state else
                      ("failed", "check the server's log"))
    return f"The gatewidgets store {store.path} {what} (postgresql: {text}). To fix: {todo}."


def _transient(exc: BaseException) -> bool:
    """Whether a failure may pass by itself: a lost or refused connection (one ended by the server, an idle
    transaction's included: it was rolled back), a full pool, a conflict."""
    if isinstance(exc, (PoolTimeout, pgerrors.SerializationFailure, pgerrors.DeadlockDetected)):
        return True
    state = getattr(exc, "sqlstate", None)
    return isinstance(exc, psycopg.OperationalError) and (state is None or state.startswith(("08", "57P", "25P03")))


def translated(method: Callable[Concatenate[_S, _P], _T]) -> Callable[Concatenate[_S, _P], _T]:
    """A public store method that raises ``StoreError`` (naming the database, not its password) for any
    database error, and ``GateForbiddenError`` for a decision the database's guard refused."""
    @functools.wraps(method)
    def run(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return method(self, *args, **kwargs)
        except (psycopg.Error, PoolTimeout) as exc:
            if exc.sqlstate == FORBIDDEN and exc.diag.message_primary:
                raise GateForbiddenError(exc.diag.message_primary.removeprefix("gatewidgets: ")) from None
            raise StoreError(_problem(self, exc)) from None
    return run


def retried(what: str) -> Callable[[Callable[Concatenate[_S, _P], _T]], Callable[Concatenate[_S, _P], _T]]:
    """A :func:`translated` method (whole transactions) retried while the connection is lost or refused, for
    ``retry_for`` seconds (a server restart)."""
    def wrap(method: Callable[Concatenate[_S, _P], _T]) -> Callable[Concatenate[_S, _P], _T]:
        @functools.wraps(method)
        def run(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
            delay, deadline = 0.05, time.monotonic() + self.retry_for
            while True:
                try:
                    return method(self, *args, **kwargs)
                except (psycopg.Error, PoolTimeout) as exc:
                    if not _transient(exc) or time.monotonic() + delay > deadline:
                        raise
                    log.warning("gatewidgets could not %s in %s: %s; retrying in %g s", what, self.path,
                                scrub(str(exc), self.url), delay)
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
        return translated(run)
    return wrap


def _default_files_dir() -> str:
    """``$GATEWIDGETS_FILES_DIR`` (a folder the team shares), else ``files`` in Jupyter's data dir."""
    from_env = os.environ.get("GATEWIDGETS_FILES_DIR")
    if from_env:
        return os.path.abspath(os.path.expanduser(from_env))
    return os.path.join(jupyter_data_dir(), "gatewidgets", "files")


class Connection:
    """A database's connections (a pool; one more for ``LISTEN``), its transactions, and its events."""

    read_only = False

    def __init__(self, url: str, *, files_dir: str | None = None, poll_interval: float = 1.0,
                 statement_timeout: float | None = None, retry_for: float = 5.0, pool_size: int = 8,
                 lease: float | None = None, durability: str | None = None) -> None:
        self.url = url
        self.path = masked(url)  # what faces and messages show
        self.files_dir = os.path.abspath(files_dir) if files_dir else _default_files_dir()
        self.poll_interval = poll_interval  # seconds between fallback polls of the events a notification missed
        self.statement_timeout = statement_timeout if statement_timeout is not None else settings.busy_timeout
        self.retry_for = retry_for
        self.lease = lease or settings.lease  # seconds an owner's lease lasts unless renewed (every third of it)
        self.durability = durability or settings.durability  # "process" or "machine" (see config.GateWidgets)
        self.origin = uuid.uuid4().hex
        self.host = socket.gethostname()
        self._listeners = Listeners(self, self._watch)
        self._closed = threading.Event()
        self._start_lock = threading.Lock()
        self._watch_from: int | None = None
        self._pool = ConnectionPool(url, min_size=1, max_size=pool_size, open=False, name="gatewidgets",
                                    kwargs=self._connect_options(), configure=self._configure,
                                    check=self._check, timeout=self.statement_timeout)

    def _start_once(self, attribute: str, target: Callable[[], None], name: str) -> None:
        """Start the background thread ``target`` (kept in ``attribute``) unless it was started."""
        if getattr(self, attribute) is None:
            with self._start_lock:
                if getattr(self, attribute) is None:
                    thread = threading.Thread(target=target, name=name, daemon=True)
                    setattr(self, attribute, thread)
                    thread.start()

    def _connect_options(self) -> dict[str, Any]:
        return {"autocommit": True, "row_factory": dict_row, "connect_timeout": max(1, round(self.retry_for)),
                "application_name": "gatewidgets"}

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(f"SET statement_timeout = {int(self.statement_timeout * 1000)}")
        conn.execute("SET lock_timeout = 0")
        # our transactions never wait for anyone between statements: one that idles this long was paused (a
        # stopped or starved process), and the server ends it, so its row locks do not outlive its lease
        conn.execute(f"SET idle_in_transaction_session_timeout = "
                     f"{int(min(self.lease, self.statement_timeout) * 1000)}")
        if self.durability == "process":  # a commit is the server's at once, on disk within ~0.6 s
            conn.execute("SET synchronous_commit = off")

    @staticmethod
    def _check(conn: psycopg.Connection[Any]) -> None:
        """Before the pool lends a connection: one the server ended meanwhile (a restart) has its last words to
        read, and is checked by a round trip (and replaced); one with nothing to read is lent without a trip."""
        readable = select.poll()  # poll, not select: a process may hold more than 1,024 files (select's limit)
        readable.register(conn.fileno(), select.POLLIN)
        if readable.poll(0):
            ConnectionPool.check_connection(conn)

    def _connect(self, name: str = "gatewidgets") -> Conn:
        """A connection of its own (migration, the listener: ``application_name`` ``name``); errors as the driver
        raises them."""
        conn: Conn = psycopg.connect(self.url, **{**self._connect_options(), "application_name": name})
        self._configure(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[Conn]:
        """A pooled connection in one transaction, committed at the end (rolled back on an error)."""
        with self._lent() as conn, conn.transaction():
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Conn]:
        """A pooled connection, each statement its own transaction (the node writes' one statement too)."""
        with self._lent() as conn:
            yield conn

    @contextmanager
    def _lent(self) -> Iterator[Conn]:
        """A pooled connection; one that a write found read-only is closed, not given back: a session keeps the
        read-only default it read at connect, so the pool replaces it, and writes succeed once the database (or
        the server now behind its address) takes them again."""
        with self._pool.connection() as conn:
            try:
                yield conn
            except pgerrors.ReadOnlySqlTransaction:
                conn.close()
                raise

    def _event(self, conn: Conn, key: ExecKey, kind: str, *, signal_id: str | None = None,
               node_id: str | None = None, state: str | None = None, value: str | None = None,
               set_by: str | None = None, via: str | None = None, detail: str | None = None,
               signal: Signal | None = None) -> StoreEvent:
        """Append an event in ``conn``'s transaction and announce it (delivered at commit)."""
        row = conn.execute(
            "WITH e AS (INSERT INTO events (origin, at, project, domain, execution, signal_id, node_id, kind, state, "
            f"value, set_by, via, detail) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING *) SELECT id, "
            f"{NOTIFIED} FROM e",
            (self.origin, ts(now()), key.project, key.domain, key.name, signal_id, node_id, kind, state, value,
             set_by, via, detail),
        ).fetchone()
        assert row is not None
        return StoreEvent(row["id"], kind, key, signal_id, state, signal=signal)

    @translated
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(events)`` after every change: from this process at once, from others when their commit
        is announced (``LISTEN``), or by the fallback poll if that announcement was missed."""
        if self._watch_from is None:
            with self._read() as conn:
                row = conn.execute("SELECT COALESCE(MAX(id), 0) AS id FROM events").fetchone()
            self._watch_from = row["id"] if row else 0
        return self._listeners.subscribe(listener, "gatewidgets-store-listener")

    def _dispatch(self, events: list[StoreEvent]) -> None:
        self._listeners.dispatch(events)

    def _watch(self) -> None:
        floor = last = self._watch_from or 0  # events up to the first subscribe are not news
        order: collections.deque[int] = collections.deque()  # the ids dispatched lately, oldest first
        seen: set[int] = set()

        def foreign(rows: list[tuple[Any, ...]]) -> None:
            nonlocal last
            events = []
            for event_id, kind, project, domain, execution, signal_id, state, origin in rows:
                last = max(last, event_id)
                if event_id <= floor or event_id in seen:
                    continue
                seen.add(event_id)
                order.append(event_id)
                if len(order) > _SEEN:
                    seen.discard(order.popleft())
                if origin != self.origin:
                    events.append(StoreEvent(event_id, kind, ExecKey(project, domain, execution), signal_id, state,
                                             local=False))
            self._dispatch(events)

        while not self._closed.is_set():
            try:
                with self._connect(LISTENER) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._closed.is_set():
                        foreign(self._missed(conn, last))  # at start, after a reconnect, when nothing came
                        for note in conn.notifies(timeout=self.poll_interval):
                            foreign([tuple(json.loads(note.payload))])
            except psycopg.Error as exc:
                log.warning("gatewidgets lost its notifications from %s: %s; reconnecting", self.path,
                            scrub(str(exc), self.url))
                self._closed.wait(min(self.poll_interval, 1.0))

    def _missed(self, conn: Conn, last: int) -> list[tuple[Any, ...]]:
        """Events after ``last`` (and the recent ones a later-committed transaction may have numbered lower)."""
        rows = conn.execute("SELECT id, kind, project, domain, execution, signal_id, state, origin FROM events "
                            "WHERE id > %s ORDER BY id", (max(0, last - _LAG),)).fetchall()
        return [tuple(r.values()) for r in rows]
