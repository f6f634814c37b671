"""Leftovers in the store's files/: ``clean_files``, ``gatewidgets files clean``, ``%gate files clean``, and
the cleanup a store starts by itself."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from _procs import FILE_WORKFLOW, start_waiting_workflow, stop
from helpers import eventually
from helpers.shell import gate_shell, run

from gatewidgets import GateFile, GateRemote, SignalState
from gatewidgets.models.execution import WorkflowExecutionIdentifier as Key
from gatewidgets.store import SqliteStore, open_store

OLD = time.time() - 2 * 3600  # older than the default grace of an hour


def gw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gatewidgets", *args], capture_output=True, text=True, timeout=60)


def backdate(path: Path) -> None:
    os.utime(path, (OLD, OLD), follow_symlinks=False)


def copy_in(store: SqliteStore, path: Path, data: bytes) -> Path:
    """``data`` copied into the store as a set does (content-addressed), and left unreferenced."""
    path.write_bytes(data)
    return Path(GateFile(path).persist(store.files_dir).path)


@dataclass
class Files:
    """A store whose files/ holds one of each kind of file, and things outside it."""

    store: SqliteStore
    execution: str
    proc: subprocess.Popen[str]
    referenced: Path  # the copy a set signal names, old
    stale_part: Path  # an interrupted copy's temp file, old
    fresh_part: Path  # a copy being written now
    unreferenced: Path  # an old copy no value names
    fresh_copy: Path  # a copy a set in flight is about to name
    link: Path  # a symbolic link inside files/ (old) to a file outside
    linked_dir: Path  # a symbolic link inside files/ to a folder outside, holding an old copy-like file
    outside: list[Path]  # files outside files/ that must never be touched

    def removable(self) -> set[Path]:
        return {self.stale_part, self.unreferenced}

    def kept(self) -> set[Path]:
        return {self.referenced, self.fresh_part, self.fresh_copy, *self.outside}


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Files]:
    remote = GateRemote.for_sandbox()
    name = "files-clean"
    proc = start_waiting_workflow(name, script=FILE_WORKFLOW)
    try:
        eventually(lambda: remote.get_signal("receipt", name).state is SignalState.PENDING, timeout=30,
                   what="the file gate to wait")
        store = open_store()
        mine = tmp_path / "receipt.txt"
        mine.write_bytes(b"the receipt")
        referenced = Path(remote.set_input("receipt", name, str(mine)).value.path)
        assert referenced.is_relative_to(store.files_dir)
        unreferenced = copy_in(store, tmp_path / "refused.txt", b"a refused set's copy")
        fresh_copy = copy_in(store, tmp_path / "inflight.txt", b"a copy about to be set")
        stale_part = Path(store.files_dir, ".part-stale1")
        stale_part.write_bytes(b"half an upl")
        fresh_part = Path(store.files_dir, ".part-fresh1")
        fresh_part.write_bytes(b"being written")

        outside_dir = tmp_path / "elsewhere"
        target = outside_dir / "target.txt"
        sha = "ab" + "c" * 62
        hidden = outside_dir / ("cd" + "e" * 62) / "x.txt"  # would be files/cd/<sha>/x.txt through the link
        hidden.parent.mkdir(parents=True)
        target.write_bytes(b"not the store's")
        hidden.write_bytes(b"not the store's either")
        link_dir = Path(store.files_dir, "ab", sha)
        link_dir.mkdir(parents=True)
        link = link_dir / "link.txt"
        link.symlink_to(target)
        linked_dir = Path(store.files_dir, "cd")
        linked_dir.symlink_to(outside_dir)
        old_outside = tmp_path / ".part-outside"
        old_outside.write_bytes(b"a temp-looking file outside files/")
        for path in (referenced, unreferenced, stale_part, target, hidden, old_outside, link, linked_dir):
            backdate(path)
        yield Files(store, name, proc, referenced, stale_part, fresh_part, unreferenced, fresh_copy, link,
                    linked_dir, [target, hidden, old_outside, Path(store.path)])
    finally:
        stop(proc)


def test_dry_run_lists_the_leftovers_and_removes_nothing(files: Files) -> None:
    done = gw("files", "clean", "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {Path(f["path"]) for f in report["files"]} == files.removable()
    assert {f["reason"] for f in report["files"]} == {"unfinished", "unreferenced"}
    assert report["dry_run"] is True and report["bytes"] == sum(p.stat().st_size for p in files.removable())
    assert all(p.exists() for p in files.removable() | files.kept())

    text = gw("files", "clean", "--dry-run")
    assert text.returncode == 0, text.stderr
    assert f"Would remove 2 leftover files from {files.store.files_dir} (would free {report['bytes']} bytes)." \
        in text.stdout
    assert str(files.stale_part) in text.stdout and str(files.unreferenced) in text.stdout
    assert all(p.exists() for p in files.removable())


def test_clean_removes_stale_temp_files_and_unreferenced_copies_only(files: Files) -> None:
    freed = sum(p.stat().st_size for p in files.removable())
    done = gw("files", "clean")
    assert done.returncode == 0, done.stderr
    assert f"Removed 2 leftover files from {files.store.files_dir} (freed {freed} bytes)." in done.stdout
    assert not any(p.exists() for p in files.removable())
    assert not files.unreferenced.parent.exists() and files.referenced.exists()  # its emptied folder went
    assert all(p.exists() for p in files.kept())
    assert files.link.is_symlink() and files.linked_dir.is_symlink()  # links are left, their targets too

    again = gw("files", "clean", "--json")
    assert json.loads(again.stdout) == {"dry_run": False, "bytes": 0, "files": []}

    # the workflow still reads the copy its signal names
    remote = GateRemote.for_sandbox()
    remote.set_input("receipts", files.execution, [str(files.referenced)])
    remote.set_input("claim", files.execution, {"amount": 1.5, "receipt": str(files.referenced)})
    out, err = files.proc.communicate(timeout=60)
    assert json.loads(out.strip().splitlines()[-1])["receipt"] == "the receipt", err


def test_older_than_zero_takes_fresh_leftovers_too(files: Files) -> None:
    removed = {Path(f.path) for f in files.store.clean_files(older_than=0)}
    assert removed == files.removable() | {files.fresh_part, files.fresh_copy}
    assert files.referenced.exists() and all(p.exists() for p in files.outside)
    assert gw("files", "clean", "--older-than", "-5").returncode == 2


def test_a_set_reusing_an_old_copy_keeps_it(files: Files, tmp_path: Path) -> None:
    """A copy kept by a new set (same content) is touched, so a cleanup does not take it from under the set."""
    again = tmp_path / "again" / "refused.txt"  # the same name and bytes
    again.parent.mkdir()
    again.write_bytes(b"a refused set's copy")
    assert Path(GateFile(again).persist(files.store.files_dir).path) == files.unreferenced
    assert files.unreferenced.stat().st_mtime > OLD + 3600
    assert files.unreferenced not in {Path(f.path) for f in files.store.clean_files()}


def test_gate_magic_cleans_files(files: Files) -> None:
    with gate_shell() as ip:
        shown = run(ip, "%gate files clean --dry-run").outputs[0].data["text/plain"]
        assert "Would remove 2 leftover files" in shown and str(files.unreferenced) in shown
        assert all(p.exists() for p in files.removable())
        shown = run(ip, "%gate files clean").outputs[0].data["text/plain"]
        assert "Removed 2 leftover files" in shown
    assert not any(p.exists() for p in files.removable()) and all(p.exists() for p in files.kept())


def _cleaned_at(store: Path) -> float | None:
    raw = sqlite3.connect(store)
    try:
        row = raw.execute("SELECT value FROM meta WHERE key='files_cleaned_at'").fetchone()
        return float(row[0]) if row else None
    finally:
        raw.close()


def _launch(store: SqliteStore, name: str) -> None:
    store.create_execution(Key("default", "development", name), "wf", {},
                           [{"node_id": "n0", "kind": "task", "name": "t", "upstream": []}], [])


def test_a_store_cleans_by_itself_once_a_day(gatewidgets_store: Path, tmp_path: Path) -> None:
    first = SqliteStore(gatewidgets_store)
    leftover = copy_in(first, tmp_path / "a.txt", b"left over")
    backdate(leftover)
    _launch(first, "one")
    eventually(lambda: _cleaned_at(gatewidgets_store), timeout=10, what="the first launch to start counting")
    first.close()
    assert leftover.exists()  # a store starts counting: nothing is cleaned at its first launch

    raw = sqlite3.connect(gatewidgets_store)
    raw.execute("UPDATE meta SET value=? WHERE key='files_cleaned_at'", (repr(time.time() - 2 * 86400),))
    raw.commit()
    raw.close()
    later = subprocess.run([sys.executable, "-c", (
        "import sys; from gatewidgets.store import SqliteStore; from gatewidgets.models.execution import "
        "WorkflowExecutionIdentifier as K; s = SqliteStore(sys.argv[1]); "
        "s.create_execution(K('default', 'development', 'two'), 'wf', {}, [], []); s.close()"),
        str(gatewidgets_store)], capture_output=True, text=True, timeout=60)
    assert later.returncode == 0, later.stderr
    assert not leftover.exists()
    assert time.time() - (_cleaned_at(gatewidgets_store) or 0) < 60


def test_clean_files_refuses_a_read_only_store_but_lists(gatewidgets_store: Path, tmp_path: Path) -> None:
    store = SqliteStore(gatewidgets_store)
    leftover = copy_in(store, tmp_path / "a.txt", b"left over")
    backdate(leftover)
    store.close()
    reader = SqliteStore(gatewidgets_store)
    reader.read_only = True
    try:
        assert [Path(f.path) for f in reader.clean_files(dry_run=True)] == [leftover]
        from gatewidgets import StoreError

        with pytest.raises(StoreError, match="read-only"):
            reader.clean_files()
        assert leftover.exists()
    finally:
        reader.close()
