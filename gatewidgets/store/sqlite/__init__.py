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

The rooms, lowest first, each a class the next one extends: :mod:`.connection` (connections,
errors, retry, events, the watcher), :mod:`.schema` (tables and migrations), :mod:`.files`
(cleaning, upload holds), :mod:`.plans`, :mod:`.writebehind` (node changes and the completion
journal), :mod:`.executions` (and their kept ends), :mod:`.signals`, :mod:`.history` (events,
stats, task attempts and cache); :mod:`.rows` says how values are stored.
"""
from __future__ import annotations

import os
import threading

from gatewidgets.store.base import FILE_GRACE, ExecKey, Leftover, StoreCapabilities, StoreEvent, now
from gatewidgets.store.sqlite.connection import translated
from gatewidgets.store.sqlite.history import History
from gatewidgets.store.sqlite.schema import SCHEMA, SCHEMA_VERSION

__all__ = ["SqliteStore", "StoreEvent", "ExecKey", "SCHEMA", "SCHEMA_VERSION", "Leftover", "FILE_GRACE", "now"]


class SqliteStore(History):
    """Executions, nodes, signals and their events in one SQLite file (read-only if this process cannot write it)."""

    capabilities = StoreCapabilities(run=True)

    @translated
    def __init__(self, path: str | os.PathLike[str], *, poll_interval: float | None = None,
                 busy_timeout: float | None = None, retry_for: float = 5.0, durability: str | None = None) -> None:
        super().__init__(path, poll_interval=poll_interval, busy_timeout=busy_timeout, retry_for=retry_for,
                         durability=durability)
        self._migrate()

    @translated
    def close(self) -> None:
        """Flush pending writes, stop the background threads and close every thread's connection."""
        self.flush()
        self._write_kept()
        self._drop_journal()
        self._closed.set()
        self._flusher_wake.set()
        self._listeners.join()
        for thread in (self._flusher, self._cleaner):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5)
        self.close_connections()

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"
