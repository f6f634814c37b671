"""Write-behind: node changes queued by the engine and written in batches by one thread, and the completion
journal that makes each node completion survive a kill of this process as it is recorded."""
from __future__ import annotations

import ast
import atexit
import collections
import contextlib
import json
import logging
import mmap
import os
import sqlite3
import stat
import threading
from datetime import datetime
from typing import Any

from gatewidgets import private
from gatewidgets.errors import StoreError
from gatewidgets.models.execution import ExecutionStatus, NodeState
from gatewidgets.store import process
from gatewidgets.store.base import ExecKey
from gatewidgets.store.sqlite.connection import journals, retried
from gatewidgets.store.sqlite.plans import DONE, NO_PLAN, Plans, node_params, node_sql, node_value
from gatewidgets.store.sqlite.rows import key_tuple

__all__ = ["WriteBehind"]

log = logging.getLogger(__name__)

_JOURNAL_SIZE = 1 << 18  # bytes of a process's completion journal; what does not fit is committed instead
_RETRY_MIN, _RETRY_MAX = 0.1, 2.0  # seconds the writer waits before it tries again what the store did not take
# a queued node change: (project, domain, execution, node_id) and its fields
_Change = tuple[tuple[str, str, str, str], dict[str, Any]]


class WriteBehind(Plans):
    """Node changes written behind, in batches, by a writer thread; completions journaled as they are recorded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # node changes written behind: ((project, domain, execution, node_id), fields), oldest first
        self._changes: collections.deque[_Change] = collections.deque()
        self._unwritten: dict[tuple[str, str, str, str], dict[str, Any]] = {}  # taken by a flush that failed
        self._completions: collections.deque[_Change] = collections.deque()  # for durable() to commit
        self._journal_lock = threading.Lock()
        self._journal_map: mmap.mmap | None = None  # shared mapping: survives a kill, costs no system call
        self._journal_end = 0  # where the next journal record goes
        self._flush_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._flusher_wake = threading.Event()
        self._flusher: threading.Thread | None = None

    def _write_kept(self) -> bool:
        """Write what the store did not take when it was asked (the writer thread calls it after each flush);
        whether nothing is left. Nothing here: executions keep their ends (see ``end_execution``)."""
        return True

    def update_node(self, key: ExecKey, node_id: str, **fields: Any) -> None:
        """Record a node change; written behind, in a batch (see :meth:`flush`). A completion (``SUCCEEDED``,
        ``SKIPPED``) is also journaled before this returns (see :meth:`durable`): from then on it survives a
        kill of this process.

        The engine calls this twice per task from many workers at once, so it takes no lock but the journal's,
        for a completion: appends to a deque are atomic, and the flush merges the changes in the order made.
        """
        change = ((key.project, key.domain, key.name, node_id), fields)
        self._changes.append(change)  # before its journal record: a flush that saw the record takes the change
        if fields.get("state") in DONE and (not self._journal_append(_journal_line(change))
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
                self._write_kept()
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
        try:  # not under the journal's lock: it tells listeners, which may record nodes
            if not self._write_kept():
                return
        except (sqlite3.Error, StoreError):
            return
        with self._journal_lock:
            if self._journal_map is None:
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

    @retried("write node states")
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
                    execution, plan = None, NO_PLAN
                    for where, fields in batch.items():
                        if where[:3] != execution:
                            execution = where[:3]
                            plan = self._plan_of(conn, execution)
                        static = plan.static.get(where[3])
                        by_shape.setdefault((tuple(fields), static is not None), []).append(
                            node_params(where, fields, static))
                    with self._write() as conn:
                        for (columns, planned), rows in by_shape.items():
                            conn.executemany(node_sql(columns, planned), rows)
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

    def _journal_path(self, host: str, pid: int, started: int | None) -> str:
        """The completion journal of process ``pid`` started at ``started`` (so a reused pid has its own)."""
        return os.path.join(journals(self.path),
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
                if tuple(where) != key_tuple(key) or NodeState(state) not in DONE:
                    continue
            except (ValueError, TypeError, SyntaxError, UnicodeDecodeError):
                continue
            fields = {"state": NodeState(state), "outputs": outputs, "finished_at": finished_at}
            static = plan.static.get(node_id)
            conn.execute(node_sql(tuple(fields), static is not None, unless_done=True),
                         node_params((*key_tuple(key), node_id), fields, static))
        others = conn.execute("SELECT 1 FROM executions WHERE pid=? AND host=? AND status=? AND NOT "
                              "(project=? AND domain=? AND name=?)",
                              (pid, host, ExecutionStatus.RUNNING.value, *key_tuple(key))).fetchone()
        return others is None and pid != os.getpid()


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
    outputs = repr(outputs) if type(outputs) is int else "null" if outputs is None else node_value("outputs", outputs)
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
