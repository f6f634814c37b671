"""Where executions, nodes and signals live. SQLite by default, shared by every process on the machine; a
PostgreSQL database (a ``postgresql://`` URL) shared by a team."""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from gatewidgets.errors import StoreError
from gatewidgets.settings import settings
from gatewidgets.store.base import (
    ExecutorStore,
    RemoteStore,
    StoreCapabilities,
    StoreEvent,
    UnsupportedError,
    now,
)
from gatewidgets.store.postgres import is_postgres_url, masked
from gatewidgets.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from gatewidgets.store.postgres.store import PostgresStore

__all__ = ["SqliteStore", "StoreEvent", "RemoteStore", "ExecutorStore", "StoreCapabilities", "UnsupportedError",
           "now", "default_store_path", "open_store", "close_stores"]

_stores: dict[tuple[int, str, float | None], SqliteStore | PostgresStore] = {}
_lock = threading.Lock()


def default_store_path() -> str:
    """``settings.store``, else ``$GATEWIDGETS_STORE``, else ``gates.db`` in Jupyter's data dir; a
    ``postgresql://`` URL is returned as it is (with its password: show it with ``masked``)."""
    named = settings.store or os.environ.get("GATEWIDGETS_STORE")
    if named:
        return str(named) if is_postgres_url(named) else os.path.abspath(os.path.expanduser(str(named)))
    from jupyter_core.paths import jupyter_data_dir

    return os.path.join(jupyter_data_dir(), "gatewidgets", "gates.db")


def open_store(path: str | os.PathLike[str] | None = None, *,
               wait: float | None = None) -> SqliteStore | PostgresStore:
    """The process's one store object for ``path`` (default: :func:`default_store_path`): a SQLite file, or a
    PostgreSQL database for a ``postgresql://`` URL.

    Sharing one object per file lets a signal set in this process wake its gate directly.
    ``wait``: at most this many seconds per call for another process's lock, retries included
    (a face that must answer soon: the server extension); by default ``settings.busy_timeout``
    per attempt, writes retried for 5 s. One object per file and ``wait``.
    """
    named = os.fspath(path) if path is not None else default_store_path()
    resolved = named if is_postgres_url(named) else os.path.abspath(named)
    key = (os.getpid(), resolved, wait)
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = _open(resolved, wait)
        return store


def _open(resolved: str, wait: float | None) -> SqliteStore | PostgresStore:
    if is_postgres_url(resolved):
        try:
            from gatewidgets.store.postgres.store import PostgresStore  # needs gatewidgets[postgres]; only here
        except ImportError as exc:
            raise StoreError(f"The gatewidgets store {masked(resolved)} is a PostgreSQL database, and its driver is "
                             f"not installed ({exc}). To fix: pip install 'gatewidgets[postgres]'.") from None
        return PostgresStore(resolved) if wait is None else PostgresStore(resolved, statement_timeout=wait,
                                                                           retry_for=wait)
    return SqliteStore(resolved) if wait is None else SqliteStore(resolved, busy_timeout=wait, retry_for=wait)


def close_stores() -> None:
    """Close every store this process opened (tests use it between cases)."""
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close()
