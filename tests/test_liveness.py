"""Owner liveness: a zombie, a reused pid or a reboot does not keep an orphaned execution from recovery."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from _procs import start_waiting_workflow, stop
from helpers import eventually

from gatewidgets import ExecutionExistsError, ExecutionStatus, GateRemote, SignalState
from gatewidgets.models.execution import WorkflowExecutionIdentifier as Key
from gatewidgets.store import SqliteStore, open_store, process

linux = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="start times and boot ids need /proc")


def _state(pid: int) -> str:
    """The state letter of ``pid`` in /proc (``Z``: a zombie)."""
    text = Path(f"/proc/{pid}/stat").read_bytes()
    return text[text.rindex(b")") + 2:].split()[0].decode()


def _create(store: SqliteStore, name: str, pid: int) -> Key:
    key = Key("default", "development", name)
    store.create_execution(key, "wf", {}, [{"node_id": "n0", "kind": "task", "name": "t", "upstream": []}], [],
                           pid=pid)
    return key


def _owner(store: Path, key: Key) -> tuple[int, str, int | None, str | None]:
    """What the store file holds about the owner of ``key``, read without gatewidgets."""
    raw = sqlite3.connect(store)
    try:
        return raw.execute("SELECT pid, host, pid_started, boot_id FROM executions WHERE name=?",
                           (key.name,)).fetchone()
    finally:
        raw.close()


def _rewrite(store: Path, key: Key, **columns: object) -> None:
    """Change the owner columns of ``key`` in the store file, as an older version or another process left them."""
    raw = sqlite3.connect(store)
    try:
        raw.execute(f"UPDATE executions SET {', '.join(f'{c}=?' for c in columns)} WHERE name=?",
                    (*columns.values(), key.name))
        raw.commit()
    finally:
        raw.close()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live child process."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield proc
    finally:
        stop(proc)


@linux
def test_a_live_owner_is_recorded_with_its_identity_and_refused(gatewidgets_store: Path,
                                                                sleeper: subprocess.Popen[bytes]) -> None:
    store = open_store()
    key = _create(store, "live", sleeper.pid)
    started, boot = process.identity(sleeper.pid)
    assert started is not None and boot == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert _owner(gatewidgets_store, key) == (sleeper.pid, store.host, started, boot)
    assert store.owner_alive(store.get_execution(key)) is True
    with pytest.raises(ExecutionExistsError, match=f"still running in process {sleeper.pid}"):
        store.adopt_execution(key)
    assert _owner(gatewidgets_store, key) == (sleeper.pid, store.host, started, boot)  # unchanged


@linux
def test_a_reused_pid_does_not_keep_an_orphan(gatewidgets_store: Path, sleeper: subprocess.Popen[bytes]) -> None:
    """The recorded owner's pid now belongs to another live process (another start time): the owner is gone."""
    store = open_store()
    key = _create(store, "reused", sleeper.pid)
    started, boot = process.identity(sleeper.pid)
    assert started is not None
    _rewrite(gatewidgets_store, key, pid_started=started - 1)  # the owner had started earlier, then died
    assert store.owner_alive(store.get_execution(key)) is False
    assert GateRemote.for_sandbox().is_orphaned(store.get_execution(key))
    record = store.adopt_execution(key)
    assert record.status is ExecutionStatus.RUNNING and record.pid == os.getpid()
    assert _owner(gatewidgets_store, key) == (os.getpid(), store.host, *process.identity(os.getpid()))
    assert sleeper.poll() is None  # the process that holds the pid now was left alone


@linux
def test_this_process_holding_a_dead_owners_pid_is_not_that_owner(gatewidgets_store: Path) -> None:
    store = open_store()
    key = _create(store, "mine", os.getpid())
    started, _ = process.own_identity()
    assert started is not None and store.owner_alive(store.get_execution(key)) is True
    _rewrite(gatewidgets_store, key, pid_started=started + 1)
    assert store.owner_alive(store.get_execution(key)) is False


@linux
def test_an_owner_of_an_earlier_boot_is_gone(gatewidgets_store: Path, sleeper: subprocess.Popen[bytes]) -> None:
    store = open_store()
    key = _create(store, "rebooted", sleeper.pid)
    _rewrite(gatewidgets_store, key, boot_id="00000000-0000-0000-0000-000000000000")
    assert store.owner_alive(store.get_execution(key)) is False
    assert store.adopt_execution(key).pid == os.getpid()


@linux
def test_a_zombie_owner_is_dead_and_its_execution_recovered(gatewidgets_store: Path) -> None:
    """A workflow process killed at its gate and not reaped by its parent (a zombie) still answers
    ``kill(pid, 0)``; its execution is recovered all the same, and runs to its end here."""
    from _waiting_workflow import waiting_wf

    remote = GateRemote.for_sandbox()
    proc = start_waiting_workflow("zombie", a=3)
    try:
        eventually(lambda: remote.get_signal("go", "zombie").state is SignalState.PENDING, timeout=30,
                   what="the gate to wait")
        os.kill(proc.pid, signal.SIGKILL)
        eventually(lambda: _state(proc.pid) == "Z", timeout=10, what="the killed process to become a zombie")
        os.kill(proc.pid, 0)  # the pid alone says it runs
        record = remote.get_execution("zombie")
        assert record.pid == proc.pid and remote.is_orphaned(record)

        execution = waiting_wf.launch(a=3, execution_name="zombie", recover=True)
        remote.approve("go", "zombie")
        remote.set_input("rate", "zombie", 0.5)
        remote.set_input("note", "zombie", "z")
        assert execution.wait(timeout=30) == "6|0.5|z"
        assert _state(proc.pid) == "Z"  # recovered while the zombie was still there
    finally:
        stop(proc)
    stored = remote.get_execution("zombie")
    assert (stored.status, stored.pid, stored.outputs) == (ExecutionStatus.SUCCEEDED, os.getpid(), "6|0.5|z")
    assert (stored.pid_started, stored.boot_id) == process.own_identity()


def test_an_unreaped_short_lived_owner_is_dead(gatewidgets_store: Path) -> None:
    """A child that exited and was not waited for: dead on Linux (a zombie), gone elsewhere once reaped."""
    store = open_store()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        key = _create(store, "short", child.pid)
        if os.path.exists("/proc/self/stat"):
            eventually(lambda: _state(child.pid) == "Z", timeout=30, what="the child to exit")
        else:
            child.wait(timeout=30)
        assert store.owner_alive(store.get_execution(key)) is False
        assert store.adopt_execution(key).pid == os.getpid()
    finally:
        child.wait(timeout=30)
    assert _owner(gatewidgets_store, key)[0] == os.getpid()


def test_rows_without_identity_are_judged_by_pid(gatewidgets_store: Path, sleeper: subprocess.Popen[bytes]) -> None:
    """Rows written before the identity columns (NULL) keep the pid-only check: a live pid is refused,
    a gone one adopted."""
    store = open_store()
    live = _create(store, "old-live", sleeper.pid)
    _rewrite(gatewidgets_store, live, pid_started=None, boot_id=None)
    assert store.owner_alive(store.get_execution(live)) is True
    with pytest.raises(ExecutionExistsError, match="still running"):
        store.adopt_execution(live)

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          timeout=30)
    gone = _create(store, "old-gone", int(dead.stdout))
    _rewrite(gatewidgets_store, gone, pid_started=None, boot_id=None)
    assert store.owner_alive(store.get_execution(gone)) is False
    assert store.adopt_execution(gone).pid == os.getpid()
    assert _owner(gatewidgets_store, gone) == (os.getpid(), store.host, *process.own_identity())


def test_an_older_store_gains_the_identity_columns(tmp_path: Path) -> None:
    """A store made before the identity columns is migrated in place; its rows read NULL (pid only)."""
    path = tmp_path / "old.db"
    store = SqliteStore(path)
    key = _create(store, "before", os.getpid())
    store.close()
    raw = sqlite3.connect(path)
    try:
        raw.execute("ALTER TABLE executions DROP COLUMN pid_started")
        raw.execute("ALTER TABLE executions DROP COLUMN boot_id")
        raw.commit()
    finally:
        raw.close()
    reopened = SqliteStore(path)
    try:
        record = reopened.get_execution(key)
        assert (record.pid_started, record.boot_id) == (None, None) and reopened.owner_alive(record) is True
    finally:
        reopened.close()
