"""Faults the engine must survive: a store that stays busy, locked or full, and a wall clock that steps back."""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import gatewidgets.executor
import gatewidgets.store.sqlite
from gatewidgets import ExecutionStatus, GateRemote, NodeState, SignalState, task, wait_for_input, workflow
from gatewidgets.errors import StoreError
from gatewidgets.executor import Executor
from gatewidgets.models.execution import WorkflowExecutionIdentifier
from gatewidgets.store import SqliteStore, open_store
from helpers import eventually

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


def _fail_while_finishing(executor: Executor, disk: FullDisk, name: str) -> Any:
    RELEASE.clear()
    disk.times = 0
    ran = RAN.count("held")
    ex = executor.launch(two_steps, {"v": 1}, execution_name=name)
    eventually(lambda: RAN.count("held") > ran, 10, what="held to run")
    disk.times = 10**6  # the disk fills up while the task runs
    RELEASE.set()
    with pytest.raises(StoreError) as caught:
        ex.wait(timeout=20)
    return ex, caught.value


def test_store_that_stays_full_ends_the_execution_and_frees_everything(engine, caplog) -> None:
    executor, disk = engine
    caplog.set_level(logging.ERROR, logger="gatewidgets")
    failed = []
    for i in range(executor.max_workers + 1):  # once leaked a worker slot each: the pool ran dry
        ex, error = _fail_while_finishing(executor, disk, f"full-{i}")
        assert ex.status is ExecutionStatus.FAILED and ex.error is error
        assert executor.store.path in str(error) and "recover=True" in str(error)
        assert executor.get(ex.id) is None  # let go: recoverable here
        ex.abort()  # a no-op on an ended execution, and it returns
        failed.append(ex)
    assert executor.store.path in caplog.text

    disk.times = 0  # the disk has room again
    assert executor.launch(two_steps, {"v": 5}, execution_name="after-the-fault").wait(timeout=20) == 12
    executor.store.flush()
    stored = {n.name: (n.state, n.outputs) for n in executor.store.get_execution(failed[0].id).nodes}
    assert stored == {"held": (NodeState.SUCCEEDED, 2), "doubled": (NodeState.SUCCEEDED, 4)}  # queued states kept

    before = len(RAN)
    recovered = executor.launch(two_steps, {"v": 1}, execution_name="full-0", recover=True)
    assert recovered.wait(timeout=20) == 4
    assert len(RAN) == before  # both finished nodes were kept: nothing ran again
    assert executor.store.get_execution(recovered.id).status is ExecutionStatus.SUCCEEDED
    remote = GateRemote(store=executor.store)
    assert remote.abort("full-1").status is ExecutionStatus.ABORTED  # the other one can still be ended


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
    assert ex.done() and ex.status is ExecutionStatus.FAILED
    with pytest.raises(StoreError, match="ABORTED"):
        ex.wait(timeout=1)
    disk.times = 0
    assert remote.abort("stuck").status is ExecutionStatus.ABORTED  # its process acts on the request
    assert remote.get_signal("n", "stuck").state is SignalState.CANCELLED


def test_deadline_fires_on_time_when_the_wall_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    ex = defaulted.launch()
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal("n", ex.name).state is SignalState.PENDING, 10, what="gate to wait")
    wall = gatewidgets.store.sqlite.now

    def an_hour_ago() -> Any:
        return wall() - timedelta(hours=1)

    for module in (gatewidgets.executor, gatewidgets.store.sqlite):  # the system clock steps back 1 h
        monkeypatch.setattr(module, "now", an_hour_ago)
    assert ex.wait(timeout=5) == 14  # the 1 s timeout fired (with its default), not an hour later
    assert remote.get_signal("n", ex.name).state is SignalState.TIMED_OUT


@pytest.mark.parametrize("journal_size", [1 << 18, 16])
def test_a_completion_survives_once_durable_returns(monkeypatch: pytest.MonkeyPatch, gatewidgets_store: Path,
                                                   journal_size: int) -> None:
    """Journaled, or committed when it does not fit the journal: either way a recovery finds it."""
    monkeypatch.setattr(gatewidgets.store.sqlite, "_JOURNAL_SIZE", journal_size)
    store = open_store()
    key = WorkflowExecutionIdentifier("default", "development", "dur")
    store.create_execution(key, "dur", {}, [{"node_id": "n0", "kind": "task", "name": "t", "upstream": []}], [])
    store.update_node(key, "n0", state=NodeState.SUCCEEDED, finished_at=1.5, outputs=41)
    store.durable()
    committed = sqlite3.connect(gatewidgets_store).execute("SELECT state FROM nodes WHERE node_id='n0'").fetchone()[0]
    journal = Path(f"{store.path}.completions/{store.host}-{os.getpid()}.journal")
    journaled = journal.exists() and b"'n0', 'SUCCEEDED', 41" in journal.read_bytes()
    assert committed == "SUCCEEDED" or journaled
    if journal_size == 16:  # too small for one record
        assert committed == "SUCCEEDED"
