"""Faults the engine must survive: a store that stays busy, locked or full, and a wall clock that steps back."""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from helpers import eventually
from traitlets import TraitError
from traitlets.config import Config

import gatewidgets.engine.gates
import gatewidgets.store.sqlite.connection
import gatewidgets.store.sqlite.signals
import gatewidgets.store.sqlite.writebehind
from gatewidgets import ExecutionStatus, GateRemote, NodeState, SignalState, task, wait_for_input, workflow
from gatewidgets.config import GateWidgets
from gatewidgets.engine import Executor
from gatewidgets.errors import ExecutionAbortedError, ExecutionExistsError
from gatewidgets.models.execution import WorkflowExecutionIdentifier
from gatewidgets.store import SqliteStore, open_store

RAN: list[str] = []
RELEASE = threading.Event()


@task
def held(v: int) -> int:
    RAN.append("held")
    RELEASE.wait(30)
    return v + 1


@task
def doubled(v: int) -> int:
    RAN.append("doubled")
    return v * 2


@workflow
def two_steps(v: int) -> int:
    return doubled(v=held(v=v))


@workflow
def doubled_twice(v: int) -> int:
    return doubled(v=doubled(v=v))


@workflow
def gated() -> int:
    return doubled(v=wait_for_input("n", timeout=None, expected_type=int))


@workflow
def defaulted() -> int:
    return doubled(v=wait_for_input("n", timeout=timedelta(seconds=1), expected_type=int, default=7))


class FullDisk:
    """Makes the store's transactions fail with ``message`` (a full disk by default) the next ``times`` times."""

    def __init__(self, store: SqliteStore) -> None:
        self.times = 0
        self.message = "database or disk is full"
        self._write: Callable[[], AbstractContextManager[sqlite3.Connection]] = store._write

    def __call__(self) -> AbstractContextManager[sqlite3.Connection]:
        if self.times > 0:
            self.times -= 1
            raise sqlite3.OperationalError(self.message)
        return self._write()


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Executor, FullDisk]]:
    RAN.clear()
    RELEASE.clear()
    store = open_store()
    store.retry_for = 0.3
    disk = FullDisk(store)
    monkeypatch.setattr(store, "_write", disk)
    executor = Executor(store, max_workers=2)
    try:
        yield executor, disk
    finally:
        RELEASE.set()
        disk.times = 0
        executor.shutdown()


def _finish_while_full(executor: Executor, disk: FullDisk, name: str) -> Any:
    RELEASE.clear()
    disk.times = 0
    ran = RAN.count("held")
    ex = executor.launch(two_steps, {"v": 1}, execution_name=name)
    eventually(lambda: RAN.count("held") > ran, 10, what="held to run")
    disk.times = 10**6  # the disk fills up while the task runs
    RELEASE.set()
    return ex


def _stored(path: str, name: str) -> tuple[Any, ...]:
    """An execution's status and outputs and its nodes' states, read with plain sqlite3 (no flush of ours)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        status, outputs = conn.execute("SELECT status, outputs FROM executions WHERE name=?", (name,)).fetchone()
        nodes = conn.execute("SELECT name, state, outputs FROM nodes WHERE execution=? ORDER BY seq",
                             (name,)).fetchall()
        return status, outputs, nodes
    finally:
        conn.close()


def test_an_end_a_full_store_did_not_take_is_written_once_it_has_room(engine, caplog) -> None:
    """The execution ends with its real result at once and frees its worker; the store shows it RUNNING while
    full and SUCCEEDED, with its outputs and nodes, as soon as it has room again: nobody has to recover it."""
    executor, disk = engine
    caplog.set_level(logging.WARNING, logger="gatewidgets")
    ended = []
    for i in range(executor.max_workers + 1):  # once leaked a worker slot each: the pool ran dry
        ex = _finish_while_full(executor, disk, f"full-{i}")
        assert ex.wait(timeout=20) == 4
        assert ex.status is ExecutionStatus.SUCCEEDED and ex.error is None and ex.outputs == 4
        assert executor.get(ex.id) is None  # let go
        with pytest.raises(ExecutionExistsError, match="ended in this process"):
            executor.store.adopt_execution(ex.id)  # not recoverable here: its end is on its way
        assert _stored(executor.store.path, ex.name)[0] == "RUNNING"
        ended.append(ex)
    assert executor.store.path in caplog.text and "as soon as" in caplog.text

    runs = len(RAN)
    disk.times = 0  # the disk has room again: nobody calls the store, its writer does
    for ex in ended:
        eventually(lambda: _stored(executor.store.path, ex.name)[0] == "SUCCEEDED", 10,  # noqa: B023
                   what=f"the end of {ex.name} to be written")
        assert _stored(executor.store.path, ex.name) == ("SUCCEEDED", "4", [("held", "SUCCEEDED", "2"),
                                                                           ("doubled", "SUCCEEDED", "4")])
    assert len(RAN) == runs
    assert executor.launch(two_steps, {"v": 5}, execution_name="after-the-fault").wait(timeout=20) == 12


LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
"""

READER = """
import json, sqlite3, sys, time
deadline = time.monotonic() + float(sys.argv[3])
while True:  # plain sqlite3, read-only: opening a store takes its write lock once (to migrate it)
    conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    status, outputs = conn.execute("SELECT status, outputs FROM executions WHERE name=?", (sys.argv[2],)).fetchone()
    nodes = conn.execute("SELECT name, state, outputs FROM nodes WHERE execution=? ORDER BY seq", (sys.argv[2],))
    nodes = [list(row) for row in nodes]
    conn.close()
    if status != "RUNNING" or time.monotonic() > deadline:
        break
    time.sleep(0.02)
print(json.dumps([status, outputs, nodes]))
"""


def _read_elsewhere(path: Path, name: str, wait: float) -> Any:
    """The execution as another process reads it, once it is no longer RUNNING or after ``wait`` seconds."""
    done = subprocess.run([sys.executable, "-c", READER, str(path), name, str(wait)], capture_output=True,
                          text=True, timeout=wait + 60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_end_held_up_by_another_process_lock_is_written_once_it_is_released(gatewidgets_store: Path) -> None:
    """Another process holds the store's write lock past the busy timeout and the retries while a workflow ends:
    ``await ex`` gives the real outputs at once, the store shows the execution RUNNING while the lock is held, and
    SUCCEEDED with its outputs within seconds of the release, written by the store's own writer."""
    RAN.clear()
    RELEASE.clear()
    store = SqliteStore(gatewidgets_store, busy_timeout=0.2, retry_for=0.5)
    executor = Executor(store, max_workers=2)
    try:
        ex = executor.launch(two_steps, {"v": 1}, execution_name="held-up")
        eventually(lambda: "held" in RAN, 10, what="held to run")
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(gatewidgets_store)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
            RELEASE.set()
            assert ex.wait(timeout=30) == 4  # the store took none of it: the real end all the same
            assert ex.status is ExecutionStatus.SUCCEEDED and ex.error is None
            time.sleep(2 * (store.busy_timeout + store.retry_for))  # the writer keeps trying meanwhile
            assert _read_elsewhere(gatewidgets_store, "held-up", 0)[0] == "RUNNING"
        finally:
            assert locker.stdin is not None
            locker.stdin.close()
            locker.wait(timeout=10)
        released = time.monotonic()
        assert _read_elsewhere(gatewidgets_store, "held-up", 20) == [
            "SUCCEEDED", "4", [["held", "SUCCEEDED", "2"], ["doubled", "SUCCEEDED", "4"]]]
        assert time.monotonic() - released < 20
        assert RAN == ["held", "doubled"]
    finally:
        RELEASE.set()
        executor.shutdown()
        store.close()


@pytest.mark.parametrize("message", ["database or disk is full", "database is locked"])
def test_store_errors_are_retried_then_the_execution_goes_on(engine, caplog, message: str) -> None:
    executor, disk = engine
    disk.message = message  # a full disk, or a lock held past the busy timeout
    caplog.set_level(logging.WARNING, logger="gatewidgets")
    ex = executor.launch(gated, {}, execution_name="flaky")
    remote = GateRemote(store=executor.store)
    eventually(lambda: remote.get_signal("n", "flaky").state is SignalState.PENDING, 10, what="gate to wait")
    disk.times = 3  # shorter than the retry window
    remote.set_input("n", "flaky", 4)
    assert ex.wait(timeout=20) == 8
    assert executor.store.get_execution(ex.id).status is ExecutionStatus.SUCCEEDED
    assert message in caplog.text and "retrying" in caplog.text


def test_abort_ends_an_execution_while_the_store_is_full(engine) -> None:
    executor, disk = engine
    ex = executor.launch(gated, {}, execution_name="stuck")
    remote = GateRemote(store=executor.store)
    eventually(lambda: remote.get_signal("n", "stuck").state is SignalState.PENDING, 10, what="gate to wait")
    disk.times = 10**6
    ex.abort()
    assert ex.done() and ex.status is ExecutionStatus.ABORTED
    with pytest.raises(ExecutionAbortedError):
        ex.wait(timeout=1)
    assert _stored(executor.store.path, "stuck")[0] == "RUNNING"
    disk.times = 0  # written by the store's writer, unasked
    eventually(lambda: _stored(executor.store.path, "stuck")[0] == "ABORTED", 10, what="the abort to be written")
    assert remote.get_signal("n", "stuck").state is SignalState.CANCELLED


def test_deadline_fires_on_time_when_the_wall_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    ex = defaulted.launch()
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal("n", ex.name).state is SignalState.PENDING, 10, what="gate to wait")
    wall = gatewidgets.store.sqlite.signals.now

    def an_hour_ago() -> Any:
        return wall() - timedelta(hours=1)

    for module in (gatewidgets.engine.gates, gatewidgets.store.sqlite.signals,  # the system clock steps back 1 h
                   gatewidgets.store.sqlite.connection):
        monkeypatch.setattr(module, "now", an_hour_ago)
    assert ex.wait(timeout=5) == 14  # the 1 s timeout fired (with its default), not an hour later
    assert remote.get_signal("n", ex.name).state is SignalState.TIMED_OUT


def plant_journal(path: Path, data: bytes) -> None:
    """Write a journal as a process of this user does: a private file in a private folder."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("journal_size", [1 << 18, 16])
def test_a_completion_survives_once_durable_returns(monkeypatch: pytest.MonkeyPatch, gatewidgets_store: Path,
                                                   journal_size: int) -> None:
    """Journaled as update_node records it, or, when it does not fit the journal, committed by durable(): either
    way a recovery finds it."""
    monkeypatch.setattr(gatewidgets.store.sqlite.writebehind, "_JOURNAL_SIZE", journal_size)
    store = open_store()
    key = WorkflowExecutionIdentifier("default", "development", "dur")
    store.create_execution(key, "dur", {}, [{"node_id": "n0", "kind": "task", "name": "t", "upstream": []}], [])
    store.update_node(key, "n0", state=NodeState.SUCCEEDED, finished_at=1.5, outputs=41)
    journal = Path(store._own_journal_path())
    journaled = journal.exists() and b"\tn0\tSUCCEEDED\t1500000\t41\0" in journal.read_bytes()
    assert journaled == (journal_size > 16)  # at once, before any durable()
    store.durable()
    row = sqlite3.connect(gatewidgets_store).execute("SELECT state FROM nodes WHERE node_id='n0'").fetchone()
    committed = row[0] if row else None  # a node's row is written when a flush first writes a change of it
    assert committed == "SUCCEEDED" or journaled
    if journal_size == 16:  # too small for one record
        assert committed == "SUCCEEDED"


@pytest.mark.parametrize("line", [
    b"default\tdevelopment\tdead\tn0\tSUCCEEDED\t1500000\t41",  # what durable() writes (time in µs)
    b"('default', 'development', 'dead', 'n0', 'SUCCEEDED', 41, 1.5)",  # what it wrote before schema 3
])
def test_a_dead_process_journal_is_replayed_by_adoption(gatewidgets_store: Path, line: bytes) -> None:
    """The completion a killed process journaled (but never committed) is the node's state once adopted; a torn
    line after it changes nothing."""
    store = open_store()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True, timeout=30)
    pid = int(dead.stdout)  # a process that has exited
    key = WorkflowExecutionIdentifier("default", "development", "dead")
    store.create_execution(key, "dead", {}, [{"node_id": f"n{i}", "kind": "task", "name": "t", "upstream": []}
                                             for i in range(2)], [], pid=pid)
    journal = Path(f"{store.path}.completions/{store.host}-{pid}.journal")
    plant_journal(journal, b"\n" + line + b"\ndefault\tdevelopment\tdead\tn1\tSUCC" + b"\0" + b"\0" * 64)
    record = store.adopt_execution(key)
    states = {n.node_id: (n.state, n.outputs, n.finished_at and n.finished_at.timestamp()) for n in record.nodes}
    assert states == {"n0": (NodeState.SUCCEEDED, 41, 1.5), "n1": (NodeState.QUEUED, None, None)}
    assert record.pid == os.getpid() and not journal.exists()  # spent: no other execution of that process left


def test_machine_durability_syncs_commits_and_commits_every_completion(tmp_path: Path,
                                                                       gatewidgets_store: Path) -> None:
    """``durability="machine"``: SQLite syncs each commit (``synchronous=FULL``) and durable() commits every
    completion (journaled too, as in the default, which keeps ``NORMAL``); the journal goes at close."""
    default = open_store()
    assert default.durability == "process" and default._conn().execute("PRAGMA synchronous").fetchone()[0] == 1
    store = SqliteStore(tmp_path / "machine.db", durability="machine")
    assert store._conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    key = WorkflowExecutionIdentifier("default", "development", "synced")
    store.create_execution(key, "synced", {}, [{"node_id": "n0", "kind": "task", "name": "t", "upstream": []}], [])
    store.update_node(key, "n0", state=NodeState.SUCCEEDED, finished_at=1.5, outputs=41)
    store.durable()
    row = sqlite3.connect(tmp_path / "machine.db").execute("SELECT state, outputs FROM nodes").fetchone()
    assert row == ("SUCCEEDED", "41")  # committed
    executor = Executor(store)
    try:
        assert executor.launch(doubled_twice, {"v": 5}, execution_name="chain").wait(timeout=30) == 20
    finally:
        executor.shutdown()
    assert [n.state for n in store.get_execution(WorkflowExecutionIdentifier(
        "default", "development", "chain")).nodes] == [NodeState.SUCCEEDED] * 2
    store.close()
    assert not Path(store._own_journal_path()).exists()
    with pytest.raises(TraitError, match="durability"):
        GateWidgets(config=Config({"GateWidgets": {"durability": "disk"}}))


def test_a_journal_is_the_one_of_the_process_that_owned_the_execution(gatewidgets_store: Path) -> None:
    """Journals are named by pid and start time: a later process given the same pid keeps its own, and recovery
    replays the dead owner's only."""
    store = open_store()
    key = WorkflowExecutionIdentifier("default", "development", "reused")
    store.create_execution(key, "reused", {}, [{"node_id": f"n{i}", "kind": "task", "name": "t", "upstream": []}
                                               for i in range(2)], [], pid=2**22 + 7)  # no such process
    with sqlite3.connect(gatewidgets_store) as raw:
        raw.execute("UPDATE executions SET pid_started=111 WHERE name='reused'")
    folder = Path(f"{store.path}.completions")
    owner = folder / f"{store.host}-{2**22 + 7}-111.journal"
    plant_journal(owner, b"\ndefault\tdevelopment\treused\tn0\tSUCCEEDED\t1500000\t1\n\0")
    later = folder / f"{store.host}-{2**22 + 7}-222.journal"  # another process that got the pid afterwards
    plant_journal(later, b"\ndefault\tdevelopment\treused\tn1\tSUCCEEDED\t1500000\t2\n\0")
    states = {n.node_id: n.state for n in store.adopt_execution(key).nodes}
    assert states == {"n0": NodeState.SUCCEEDED, "n1": NodeState.QUEUED}
    assert not owner.exists() and later.exists()
