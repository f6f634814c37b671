"""``PostgresStore``: the rooms of :mod:`gatewidgets.store.postgres` put together."""
from __future__ import annotations

import threading
from typing import Any

from gatewidgets.store.base import StoreCapabilities
from gatewidgets.store.postgres.history import History
from gatewidgets.store.postgres.schema import SCHEMA_VERSION

__all__ = ["PostgresStore", "SCHEMA_VERSION"]


class PostgresStore(History):
    """A gatewidgets store in a PostgreSQL database (``url``: a libpq URL)."""

    capabilities = StoreCapabilities(run=True)

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self._migrate()
        self._open_guard()

    def close(self) -> None:
        """Write pending node changes and kept ends, stop the background threads and close the connections."""
        try:
            self.flush()
            self._write_kept()
        finally:
            self._closed.set()
            self._writer_wake.set()
            self._listeners.join()
            for thread in (self._writer, self._heartbeat):
                if thread is not None and thread is not threading.current_thread():
                    thread.join(timeout=5)
            self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresStore({self.path!r})"
