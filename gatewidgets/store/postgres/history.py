"""What happened, on PostgreSQL: signal events, figures for metrics, task attempts, the task cache, and the
files of values (kept in ``files_dir``, a folder the team shares; see :mod:`gatewidgets.store.postgres`)."""
from __future__ import annotations

import json
import time
from typing import Any, Mapping

from gatewidgets.models.signal import SignalEvent
from gatewidgets.store.base import FILE_GRACE, ExecKey, Leftover, now
from gatewidgets.store.history import Recording
from gatewidgets.store.leftovers import SHA256, clean
from gatewidgets.store.postgres.connection import retried, translated
from gatewidgets.store.postgres.executions import execution_row
from gatewidgets.store.postgres.signals import Signals
from gatewidgets.store.sql import Row, at, dumps, key_tuple, ts

__all__ = ["History"]

# the columns whose JSON may name a stored file (by its sha256)
_FILE_REFERENCES = (("signals", "value"), ("signals", "context"), ("signals", "identity"), ("events", "value"),
                    ("events", "detail"), ("nodes", "outputs"), ("executions", "inputs"), ("executions", "outputs"),
                    ("task_cache", "outputs"))


def _detail(row: Row) -> dict[str, Any] | None:
    """An event's detail; a decision's (one with ``set_by``) names the login role that wrote it (``db_role``)."""
    detail = json.loads(row["detail"]) if row["detail"] else None
    if row["set_by"] is None or not row["db_role"]:
        return detail
    return {**(detail or {}), "db_role": row["db_role"]}


class History(Signals, Recording):
    """Signal events, stats, task attempts, cached task outputs, and the files' cleanup."""

    @translated
    def history(self, key: ExecKey, signal_id: str | None = None) -> list[SignalEvent]:
        """Every event of an execution (or of one of its signals), oldest first."""
        with self._read() as conn:
            execution_row(conn, key)
            one = " AND signal_id=%s" if signal_id is not None else ""
            rows = conn.execute(f"SELECT * FROM events WHERE project=%s AND domain=%s AND execution=%s{one} "
                                "ORDER BY id", (*key_tuple(key), *((signal_id,) if one else ()))).fetchall()
        return [SignalEvent(r["id"], at(r["at"]), key, r["signal_id"], r["node_id"], r["kind"], r["state"],
                            json.loads(r["value"]) if r["value"] is not None else None, r["set_by"], r["via"],
                            _detail(r)) for r in rows]

    @translated
    def stats(self, project: str | None = None, domain: str | None = None) -> dict[str, Any]:
        """Raw figures for metrics: counts by status and state, and the times gates waited and resumed."""
        self.flush()
        with self._read() as conn:
            return self._figures(conn, "%s", project, domain)

    @retried("record a task's attempt")
    def record_attempt(self, key: ExecKey, node_id: str, attempt: int, error: str) -> None:
        """Note in the history that attempt ``attempt`` of a task node failed with ``error`` and is retried."""
        self._record_attempt(self._tx(), key, node_id, attempt, error)

    @retried("record a step of a gate's timeline")
    def record_event(self, key: ExecKey, signal_id: str, kind: str, detail: Mapping[str, Any]) -> bool:
        """Add a ``reminded`` or ``escalated`` event to a ``PENDING`` signal's history (its row locked meanwhile);
        False once it is not."""
        return self._record_event(self._tx(), key, signal_id, kind, detail)

    @translated
    def cached_output(self, task: str, version: str, inputs_hash: str) -> tuple[bool, Any]:
        """``(True, outputs)`` if a task of that name and cache version ran on those inputs before."""
        with self._read() as conn:
            row = conn.execute("SELECT outputs FROM task_cache WHERE task=%s AND version=%s AND inputs=%s",
                               (task, version, inputs_hash)).fetchone()
        return (True, json.loads(row["outputs"])) if row is not None else (False, None)

    @retried("cache a task's outputs")
    def cache_output(self, task: str, version: str, inputs_hash: str, outputs: Any) -> None:
        """Remember a cacheable task's JSON ``outputs`` for these inputs (the first stored wins)."""
        with self._tx() as conn:
            conn.execute("INSERT INTO task_cache VALUES (%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                         (task, version, inputs_hash, dumps(outputs), ts(now())))

    @retried("hold an uploaded file")
    def hold_file(self, sha256: str, seconds: float) -> None:
        """Keep the stored file with content ``sha256`` from :meth:`clean_files` (in any process) for the next
        ``seconds``; a hold never shortens an earlier one; expired holds are dropped here."""
        stamp = time.time()
        with self._tx() as conn:
            conn.execute("DELETE FROM uploads WHERE until <= %s", (stamp,))
            conn.execute("INSERT INTO uploads VALUES (%s, %s) ON CONFLICT (sha256) DO UPDATE "
                         "SET until = GREATEST(uploads.until, excluded.until)", (sha256, stamp + seconds))

    @translated
    def clean_files(self, older_than: float = FILE_GRACE, *, dry_run: bool = False) -> list[Leftover]:
        """Remove (or list, with ``dry_run``) what interrupted copies left in ``files_dir``: temp files and copies
        no stored value names and no upload holds, unchanged for ``older_than`` seconds."""
        return clean(self.files_dir, older_than, dry_run, self._named_files)

    def _named_files(self) -> set[str]:
        named: set[str] = set()
        with self._read() as conn:
            for table, column in _FILE_REFERENCES:
                for row in conn.execute(f"SELECT {column} AS text FROM {table} "
                                        f"WHERE strpos({column}, 'sha256') > 0"):
                    named.update(SHA256.findall(row["text"]))
            named.update(r["sha256"] for r in conn.execute("SELECT sha256 FROM uploads WHERE until > %s",
                                                           (time.time(),)))
        return named
