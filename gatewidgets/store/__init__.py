"""Where executions, nodes and signals live. SQLite by default, shared by every process on the machine."""
from __future__ import annotations

import os
import threading

from gatewidgets.settings import settings
from gatewidgets.store.base import (
    ExecutorStore,
    RemoteStore,
    StoreCapabilities,
    StoreEvent,
    UnsupportedError,
    now,
)
from gatewidgets.store.sqlite import SqliteStore

__all__ = ["SqliteStore", "StoreEvent", "RemoteStore", "ExecutorStore", "StoreCapabilities", "UnsupportedError",
           "now", "default_store_path", "open_store", "close_stores"]

_stores: dict[tuple[int, str, float | None], SqliteStore] = {}
_lock = threading.Lock()


def default_store_path() -> str:
    """``settings.store``, else ``$GATEWIDGETS_STORE``, else ``gates.db`` in Jupyter's data dir."""
    if settings.store:
        return os.path.abspath(os.path.expanduser(str(settings.store)))
    env = os.environ.get("GATEWIDGETS_STORE")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    from jupyter_core.paths import jupyter_data_dir

    return os.path.join(jupyter_data_dir(), "gatewidgets", "gates.db")


def open_store(path: str | os.PathLike[str] | None = None, *, wait: float | None = None) -> SqliteStore:
    """The process's one store object for ``path`` (default: :func:`default_store_path`).

    Sharing one object per file lets a signal set in this process wake its gate directly.
    ``wait``: at most this many seconds per call for another process's lock, retries included
    (a face that must answer soon: the server extension); by default ``settings.busy_timeout``
    per attempt, writes retried for 5 s. One object per file and ``wait``.
    """
    resolved = os.path.abspath(os.fspath(path)) if path is not None else default_store_path()
    key = (os.getpid(), resolved, wait)
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = (SqliteStore(resolved) if wait is None else
                                    SqliteStore(resolved, busy_timeout=wait, retry_for=wait))
        return store


def close_stores() -> None:
    """Close every store this process opened (tests use it between cases)."""
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close()
