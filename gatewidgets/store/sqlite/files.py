"""The store's files: the cleanup of what interrupted copies left in ``files/``, and the holds that keep the
file behind an upload id from it."""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any

from gatewidgets.store.base import FILE_GRACE, Leftover
from gatewidgets.store.leftovers import SHA256, clean
from gatewidgets.store.sqlite.connection import journals, retried, translated
from gatewidgets.store.sqlite.schema import Schema

__all__ = ["Files"]

log = logging.getLogger(__name__)

_CLEAN_EVERY = 86400.0  # seconds between the cleanups a store starts by itself
# the columns whose JSON may name a stored file (by its sha256, in its path and its "sha256")
_FILE_REFERENCES = (("signals", "value"), ("signals", "context"), ("signals", "identity"), ("events", "value"),
                    ("events", "detail"), ("nodes", "outputs"), ("executions", "inputs"), ("executions", "outputs"),
                    ("task_cache", "outputs"))


class Files(Schema):
    """Cleaning ``files_dir`` (by hand, or once a day in the background) and upload holds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cleaner: threading.Thread | None = None

    @translated
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
        return clean(self.files_dir, older_than, dry_run, self._named_files)

    @retried("hold an uploaded file")
    def hold_file(self, sha256: str, seconds: float) -> None:
        """Keep the stored file with content ``sha256`` from :meth:`clean_files` (in any process) for the next
        ``seconds``, however old the file is: the file behind an upload id, held while the id is valid. A
        hold never shortens an earlier one; expired holds are dropped here."""
        stamp = time.time()
        with self._write() as conn:
            conn.execute("DELETE FROM uploads WHERE until <= ?", (stamp,))
            conn.execute("INSERT INTO uploads VALUES (?, ?) ON CONFLICT (sha256) DO UPDATE "
                         "SET until = max(until, excluded.until)", (sha256, stamp + seconds))

    def _named_files(self) -> set[str]:
        """The sha256 of every stored file the store's rows, a completion journal or a valid upload hold name."""
        named: set[str] = set()
        conn = self._conn()
        for table, column in _FILE_REFERENCES:
            for (text,) in conn.execute(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"):
                named.update(SHA256.findall(str(text)))
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name='uploads'").fetchone():  # absent: older, read-only
            named.update(sha for (sha,) in conn.execute("SELECT sha256 FROM uploads WHERE until > ?", (time.time(),)))
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(journals(self.path)):
                with contextlib.suppress(OSError), open(entry.path, "rb") as f:
                    named.update(SHA256.findall(f.read().decode("ascii", "replace")))
        return named

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
