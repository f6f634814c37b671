"""Signals across processes: a workflow waits in one process, others set its signals; each test runs on a SQLite
file and on a PostgreSQL database (``GATEWIDGETS_STORE=postgresql://...``, the suite's own server), which every
process it starts inherits."""
from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import HELPERS, eventually

from gatewidgets import (
    ExecutionExistsError,
    ExecutionStatus,
    GateRemote,
    NodeState,
    SignalAlreadySetError,
    SignalState,
    task,
    wait_for_input,
    workflow,
)

HOST = str(HELPERS / "host.py")
SETTER = str(HELPERS / "setter.py")


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> dict:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


pytestmark = pytest.mark.usefixtures("each_store")


@pytest.fixture
def procs():  # type: ignore[no-untyped-def]
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def pending(remote: GateRemote, name: str, signal_id: str, timeout: float = 60) -> None:
    def check() -> bool:
        try:
            return remote.get_signal(signal_id, name).state is SignalState.PENDING
        except LookupError:  # not launched yet
            return False

    eventually(check, timeout, interval=0.005, what=f"{name}/{signal_id} pending")


def node_state(remote: GateRemote, name: str, node_name: str) -> NodeState:
    return next(n.state for n in remote.get_execution(name).nodes if n.name == node_name)


def test_other_process_sets_signals(tmp_path: Path, procs: list) -> None:
    host = start(HOST, "signals", str(tmp_path))
    procs.append(host)
    remote = GateRemote.for_sandbox(user="setter")
    pending(remote, "xp", "n")
    pending(remote, "xp", "cfg")
    # this process has no live type for "cfg": it validates against the stored schema
    with pytest.raises(Exception, match="expected"):
        remote.set_input("cfg", "xp", {"retries": "3", "label": "x"})
    assert remote.get_signal("cfg", "xp").state is SignalState.PENDING
    remote.set_input("n", "xp", 7)
    remote.set_input("s", "xp", "seven")
    remote.set_input("cfg", "xp", {"retries": 3, "label": "cfg"})
    pending(remote, "xp", "ok")
    remote.approve("ok", "xp")
    assert finish(host) == {"result": "7|SEVEN|CONFIG(3,CFG)"}
    record = remote.get_execution("xp")
    assert record.status is ExecutionStatus.SUCCEEDED and record.outputs == "7|SEVEN|CONFIG(3,CFG)"
    assert {s.signal_id: (s.state, s.set_by) for s in remote.list_signals("xp")} == {
        sid: (SignalState.SET, "setter") for sid in ("n", "s", "cfg", "ok")}


def test_remote_subscribers_see_other_process_events(tmp_path: Path, procs: list) -> None:
    remote = GateRemote.for_sandbox()
    seen: list = []
    unsubscribe = remote.subscribe(seen.extend)
    try:
        host = start(HOST, "signals", str(tmp_path))
        procs.append(host)
        eventually(lambda: any(e.kind == "reached" and e.signal_id == "cfg" for e in seen), 60,
                   what="reached event from the host")
        assert all(not e.local for e in seen) and {e.execution_id.name for e in seen} == {"xp"}
        kinds = [e.kind for e in seen]
        assert kinds[0] == "launched" and kinds.count("created") == 4
    finally:
        unsubscribe()
    from helpers.host import signals_wf

    with pytest.raises(ExecutionExistsError, match=f"still running in process {host.pid}"):
        signals_wf.launch(execution_name="xp", recover=True)
    assert remote.get_execution("xp").pid == host.pid
    remote.abort("xp")
    assert finish(host)["error"] == "ExecutionAbortedError"


def test_abort_from_other_process(tmp_path: Path, procs: list) -> None:
    host = start(HOST, "signals", str(tmp_path))
    procs.append(host)
    remote = GateRemote.for_sandbox()
    pending(remote, "xp", "n")
    remote.set_input("n", "xp", 1)
    record = remote.abort("xp")
    assert record.status is ExecutionStatus.RUNNING  # the owning process ends it
    assert finish(host) == {"error": "ExecutionAbortedError", "status": "ABORTED", "signals": {
        "n": "SET", "s": "CANCELLED", "cfg": "CANCELLED", "ok": "CANCELLED"}}
    assert remote.get_execution("xp").status is ExecutionStatus.ABORTED


def test_abort_orphaned_execution(tmp_path: Path, procs: list) -> None:
    host = start(HOST, "signals", str(tmp_path))
    procs.append(host)
    remote = GateRemote.for_sandbox()
    pending(remote, "xp", "n")
    os.kill(host.pid, signal.SIGKILL)
    host.wait(10)
    assert remote.is_orphaned(remote.get_execution("xp"))
    assert remote.abort("xp").status is ExecutionStatus.ABORTED
    assert {s.state for s in remote.list_signals("xp")} == {SignalState.CANCELLED}


def test_cross_process_resume_latency(tmp_path: Path, procs: list) -> None:
    samples = 20
    host = start(HOST, "latency", str(tmp_path), str(samples))
    procs.append(host)
    remote = GateRemote.for_sandbox()
    latencies = []
    for i in range(samples):
        pending(remote, f"lat-{i}", "x")
        time.sleep(random.uniform(0, 0.05))  # do not stay in phase with the host's store watcher
        remote.set_input("x", f"lat-{i}", i)
        returned = time.time()
        stamp_file = tmp_path / f"lat-{i}.txt"
        eventually(lambda stamp_file=stamp_file: stamp_file.exists() and stamp_file.read_text(), 10,
                   interval=0.001, what=f"stamp {i}")
        latencies.append(float(stamp_file.read_text()) - returned)
    assert finish(host) == {"results": list(range(samples))}
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    print(f"\ncross-process resume latency over {samples} samples: p50 {p50 * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms")
    assert p99 < 2.0


def test_recover_after_sigkill(tmp_path: Path, procs: list) -> None:
    first = start(HOST, "recover-start", str(tmp_path))
    procs.append(first)
    remote = GateRemote.for_sandbox(user="ops")
    pending(remote, "rec", "ok")
    eventually(lambda: node_state(remote, "rec", "counted") is NodeState.SUCCEEDED, 10,
               what="counted node stored as succeeded")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    record = remote.get_execution("rec")
    assert record.status is ExecutionStatus.RUNNING and remote.is_orphaned(record)
    limit = remote.get_signal("limit", "rec")
    assert limit.state is SignalState.PENDING and limit.deadline is not None
    # the answer arrives while no process runs the execution
    remote.approve("ok", "rec")
    second = start(HOST, "recover", str(tmp_path))
    procs.append(second)
    eventually(lambda: remote.get_execution("rec").pid == second.pid, 60, what="recovered")
    eventually(lambda: node_state(remote, "rec", "ok") is NodeState.SUCCEEDED, 30,
               what="approval consumed after recovery")
    resumed = remote.get_signal("limit", "rec")
    assert (resumed.state, resumed.deadline, resumed.waiting_since) == (
        SignalState.PENDING, limit.deadline, limit.waiting_since)  # the gate kept its deadline
    remote.set_input("limit", "rec", 100)
    assert finish(second) == {"result": 142}
    assert (tmp_path / "counter").read_text() == "ran\n"  # the finished node did not run again
    record = remote.get_execution("rec")
    assert record.status is ExecutionStatus.SUCCEEDED and record.pid == second.pid
    ok = remote.get_signal("ok", "rec")
    assert ok.state is SignalState.SET and ok.set_by == "ops"


@task
def plus(a: int, b: int) -> int:
    return a + b


@workflow
def racy(a: int) -> int:
    return plus(a=a, b=wait_for_input("x", timeout=None, expected_type=int))


@pytest.mark.parametrize("same_value", [False, True], ids=["different-values", "same-value"])
def test_race_between_processes(tmp_path: Path, procs: list, same_value: bool) -> None:
    ex = racy.launch(a=1000, execution_name="race")
    remote = GateRemote.for_sandbox()
    pending(remote, "race", "x")
    setters = 5
    for i in range(setters):
        value = 5 if same_value else i
        procs.append(start(SETTER, "race", "x", str(value), f"user{i}", str(tmp_path)))
    eventually(lambda: len(list(tmp_path.glob("ready-*"))) == setters, 120, what="setters ready")
    (tmp_path / "go").touch()
    outcomes = [finish(p) for p in procs]
    won = [(i, o) for i, o in enumerate(outcomes) if o["outcome"] == "won"]
    assert len(won) == 1, outcomes
    winner, _ = won[0]
    others = {o["outcome"] for i, o in enumerate(outcomes) if i != winner}
    assert others == ({"noop"} if same_value else {"already"}), outcomes
    expected = 5 if same_value else winner
    if not same_value:
        assert all(f"by user{winner}" in o["message"] for i, o in enumerate(outcomes) if i != winner)
    stored = remote.get_signal("x", "race")
    assert (stored.state, stored.value, stored.set_by) == (SignalState.SET, expected, f"user{winner}")
    sets = [e for e in remote.history("race", signal_id="x") if e.kind == "set"]
    assert [(e.value, e.set_by) for e in sets] == [(expected, f"user{winner}")]
    assert ex.wait(10) == 1000 + expected
    with pytest.raises(SignalAlreadySetError):
        remote.set_input("x", "race", expected + 1)
