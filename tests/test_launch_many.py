"""``Workflow.launch_many``: many executions stored in grouped transactions, each as a single launch would store and
run it; what it refuses before writing anything; what a refused group and a SIGKILL leave. On the SQLite file and
on a PostgreSQL database (``GATEWIDGETS_STORE=postgresql://...``, the suite's own server)."""
from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import eventually

from gatewidgets import ExecutionStatus, GateRemote, SignalState, approve, task, wait_for_input, workflow
from gatewidgets.engine import Execution, default_executor
from gatewidgets.errors import ExecutionExistsError, GateForbiddenError, InvalidNameError
from gatewidgets.models.signal import Via


@task
def add(a: int, n: int) -> int:
    return a + n


@workflow
def two_gates(a: int) -> int:
    """A first gate reached at launch, then a task, then an approval its launcher may not give."""
    n = wait_for_input("n", timeout=timedelta(hours=1), expected_type=int)
    return approve(add(a=a, n=n), "ok", timeout=timedelta(hours=1), self_approval=False)


@pytest.fixture(autouse=True, params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, gatewidgets_store: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store every process of the test names: the test's SQLite file, or a fresh PostgreSQL database."""
    if request.param == "postgres":
        monkeypatch.setenv("GATEWIDGETS_STORE", request.getfixturevalue("postgres_url"))
    return os.environ["GATEWIDGETS_STORE"]


def stored(remote: GateRemote, name: str) -> tuple[Any, ...]:
    """What the store holds of an execution, but its name, inputs and times."""
    default_executor().store.flush()
    record = remote.get_execution(name)
    return (record.status, record.workflow, record.workflow_path, record.launched_by, record.pid,
            [(n.node_id, n.state) for n in record.nodes],
            [(s.signal_id, s.kind, s.state, s.context, s.deadline is not None, s.waiting_since is not None)
             for s in remote.list_signals(name)],
            [(e.kind, e.signal_id, e.state, e.set_by) for e in remote.history(name)])


def names(remote: GateRemote) -> list[str]:
    return sorted(r.name for r in remote.list_executions(limit=None))


def finish(remote: GateRemote, ex: Execution, n: int) -> Any:
    """Answer both gates of a ``two_gates`` execution (the approval by someone else than its launcher)."""
    remote.set_input("n", ex.name, n)
    eventually(lambda: remote.get_signal("ok", ex.name).state is SignalState.PENDING, timeout=30,
               what=f"{ex.name}'s approval waiting")
    with pytest.raises(GateForbiddenError):  # self_approval=False judged against who launched it
        remote.approve("ok", ex.name)
    remote.with_face(Via.API, user="reviewer").approve("ok", ex.name)
    return ex.wait(timeout=30)


def test_each_execution_is_stored_and_runs_as_a_single_launch_stores_and_runs_it() -> None:
    remote = GateRemote.for_sandbox()
    single = two_gates.launch(a=1, execution_name="single")
    bulk = two_gates.launch_many([{"a": 1}, {"a": 2}], execution_names=["bulk-0", "bulk-1"])
    assert [ex.name for ex in bulk] == ["bulk-0", "bulk-1"] and [ex.inputs for ex in bulk] == [{"a": 1}, {"a": 2}]
    expected = stored(remote, "single")
    assert expected[3] == default_executor().identity  # launched_by: this process's user
    assert ("n", "input", SignalState.PENDING, None, True, True) in expected[6]  # the first gate waits
    assert ("ok", "approve", SignalState.UPCOMING) == expected[6][1][:3]
    assert expected[6][1][3]["policy"]["self_approval"] is False
    assert stored(remote, "bulk-0") == stored(remote, "bulk-1") == expected
    assert remote.get_execution("bulk-1").inputs == {"a": 2}
    assert [ex.node_states for ex in bulk] == [single.node_states] * 2
    assert default_executor().launched[-3:] == [single, *bulk]
    assert [finish(remote, ex, 10) for ex in (single, *bulk)] == [11, 11, 12]
    assert [e.kind for e in remote.history("bulk-1")] == [e.kind for e in remote.history("single")]


def test_names_given_twice_are_refused_before_anything_is_written() -> None:
    remote = GateRemote.for_sandbox()
    with pytest.raises(ExecutionExistsError, match="execution default/development/twice is named more than once"):
        two_gates.launch_many([{"a": i} for i in range(3)], execution_names=["twice", "once", "twice"], batch=1)
    assert names(remote) == [] and default_executor().launched == []


@pytest.mark.parametrize(("inputs", "error", "match"), [
    ([{"a": 1}, {"a": "two"}, {"a": 3}], TypeError, "two_gates: input 'a'"),
    ([{"a": 1}, {}, {"a": 3}], TypeError, r"missing inputs \['a'\]"),
    ([{"a": 1}, {"a": 2, "b": 0}, {"a": 3}], TypeError, "b"),
])
def test_a_bad_input_in_the_middle_is_refused_before_anything_is_written(
        inputs: list[dict[str, Any]], error: type[Exception], match: str) -> None:
    remote = GateRemote.for_sandbox()
    with pytest.raises(error, match=match):
        two_gates.launch_many(inputs, batch=1)
    with pytest.raises(InvalidNameError):
        two_gates.launch_many([{"a": 1}] * 3, execution_names=["fine-0", "not fine", "fine-2"], batch=1)
    assert names(remote) == [] and default_executor().launched == []


def test_arguments_that_do_not_fit_are_refused_before_anything_is_written() -> None:
    remote = GateRemote.for_sandbox()
    with pytest.raises(ValueError, match="2 execution names for 3 inputs"):
        two_gates.launch_many([{"a": 1}] * 3, execution_names=["x-0", "x-1"])
    with pytest.raises(ValueError, match="batch must be at least 1"):
        two_gates.launch_many([{"a": 1}], batch=0)
    assert names(remote) == []


def test_no_inputs_launch_nothing() -> None:
    assert two_gates.launch_many([]) == [] and two_gates.launch_many(iter([]), execution_names=[]) == []
    assert names(GateRemote.for_sandbox()) == [] and default_executor().launched == []


def test_a_name_that_exists_refuses_its_group_and_those_after_it_and_the_groups_before_it_run() -> None:
    remote = GateRemote.for_sandbox()
    two_gates.launch(a=0, execution_name="n-5")
    before = stored(remote, "n-5")
    with pytest.raises(ExecutionExistsError,
                       match=r"n-5 exists already.* launch_many created none of executions 5-8 of 10 \(one group, "
                             r"one transaction\) nor any after them; the 4 before them were created and run"):
        two_gates.launch_many([{"a": i} for i in range(10)], execution_names=[f"n-{i}" for i in range(10)], batch=4)
    assert names(remote) == ["n-0", "n-1", "n-2", "n-3", "n-5"]
    assert stored(remote, "n-5") == before
    started = {ex.name: ex for ex in default_executor().launched}
    assert sorted(started) == ["n-0", "n-1", "n-2", "n-3", "n-5"]
    assert [finish(remote, started[f"n-{i}"], 1) for i in range(4)] == [1, 2, 3, 4]
    assert all(started[f"n-{i}"].status is ExecutionStatus.SUCCEEDED for i in range(4))


CHILD = textwrap.dedent("""
    from datetime import timedelta
    from gatewidgets import wait_for_input, workflow

    @workflow
    def gate() -> int:
        return wait_for_input("n", timeout=timedelta(hours=1), expected_type=int)

    gate.launch_many([{}] * 100_000, execution_names=[f"k-{i}" for i in range(100_000)], batch=BATCH)
    print("all launched", flush=True)
""")


def query(store: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read straight from the store's database (the same tables on both backends)."""
    if store.startswith("postgresql"):
        with psycopg.connect(store) as conn:
            return conn.execute(sql).fetchall()  # type: ignore[arg-type]  # a literal query
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        return conn.execute(sql).fetchall()


def launched_count(store: str) -> int:
    """How many executions the store holds (none while the child has not made it yet)."""
    try:
        return int(query(store, "SELECT COUNT(*) FROM executions")[0][0])
    except (sqlite3.Error, psycopg.Error):  # no database file or no tables yet
        return 0


def test_a_kill_in_the_middle_leaves_only_whole_groups(store: str) -> None:
    batch = 100
    child = subprocess.Popen([sys.executable, "-c", CHILD.replace("BATCH", str(batch))], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: launched_count(store) >= 3 * batch, timeout=120,
                   interval=0.005, what="three groups launched")
        assert child.poll() is None, child.communicate()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL and "all launched" not in child.stdout.read()  # type: ignore[union-attr]
    launched = {row[0] for row in query(store, "SELECT name FROM executions")}
    count = len(launched)
    assert count % batch == 0 and 3 * batch <= count < 100_000, count
    assert launched == {f"k-{i}" for i in range(count)}  # groups commit in order, each whole
    signals = query(store, "SELECT execution, signal_id, state FROM signals")
    assert sorted(signals) == sorted((name, "n", "PENDING") for name in launched)
    events: dict[str, list[str]] = {}
    for name, kind in query(store, "SELECT execution, kind FROM events ORDER BY id"):
        events.setdefault(name, []).append(kind)
    assert events == {name: ["launched", "created", "reached"] for name in launched}
    remote = GateRemote.for_sandbox()
    record = remote.get_execution(f"k-{count - 1}")
    assert record.status is ExecutionStatus.RUNNING and remote.is_orphaned(record)  # its process is gone
