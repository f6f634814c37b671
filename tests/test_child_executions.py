"""Child executions: ``launch_child`` (and a flytekit launch plan used as a node) runs a workflow as an
execution of its own, owning its signals; the parent's node waits for it without holding a thread."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import _child_workflows as cw
import pytest
from _procs import stop
from helpers import eventually, node_id

from gatewidgets import (
    ChildExecutionError,
    ExecutionAbortedError,
    ExecutionStatus,
    GateRemote,
    NodeState,
    SignalState,
    WorkflowDefinitionError,
    launch_child,
    workflow,
)
from gatewidgets.engine import Execution, Executor, default_executor
from gatewidgets.models.execution import WorkflowExecutionIdentifier as ExecKey
from gatewidgets.models.execution import child_execution_name, is_valid_name
from gatewidgets.store import open_store

SCRIPT = Path(cw.__file__)


def child_of(ex: Execution, name: str = "review") -> Execution:
    """The running child execution that ``ex``'s node ``name`` launched in this process."""
    nid = node_id(ex, name)
    key = eventually(lambda: ex.children.get(nid), timeout=10, what=f"the child of {name}")
    return eventually(lambda: ex.executor.get(key), timeout=10, what=f"child execution {key}")


def test_the_childs_gate_is_a_signal_of_the_child_and_answering_it_finishes_both() -> None:
    ex = cw.parent.launch(v=1)
    child = child_of(ex)
    assert child.name == child_execution_name(ex.name, node_id(ex, "review")) and child.workflow is cw.review
    child.reached("ok").wait(timeout=10)
    remote = GateRemote.for_sandbox()
    assert remote.list_signals(ex.name) == []
    assert [s.signal_id for s in remote.list_signals(child.name)] == ["ok"]
    assert ex.nodes_by_name["review"] is NodeState.RUNNING
    remote.approve("ok", child.name)
    assert ex.wait(timeout=10) == 3 and child.wait(timeout=10) == 2
    node = remote.store.get_execution(ex.id).nodes[0]
    assert (node.kind, node.name, node.child_execution, node.outputs) == ("child", "review", str(child.id), 2)
    assert child not in ex.executor.launched  # the magics' default execution stays the parent


def test_a_failing_child_fails_the_parents_node_naming_the_child() -> None:
    ex = cw.parent_of_failing.launch(v=4)
    child = re.escape(child_execution_name(ex.name, node_id(ex, "failing")))
    with pytest.raises(ChildExecutionError, match=rf"{child} \(workflow 'failing'\) ended FAILED.*exploded on 4"):
        ex.wait(timeout=10)
    assert ex.nodes_by_name["failing"] is NodeState.FAILED and ex.nodes_by_name["inc"] is not NodeState.SUCCEEDED


def test_aborting_the_parent_aborts_its_running_child() -> None:
    ex = cw.parent.launch(v=1)
    child = child_of(ex)
    child.reached("ok").wait(timeout=10)
    ex.abort()
    with pytest.raises(ExecutionAbortedError):
        child.wait(timeout=10)
    remote = GateRemote.for_sandbox()
    assert remote.store.get_execution(child.id, with_nodes=False).status is ExecutionStatus.ABORTED
    assert remote.get_signal("ok", child.name).state is SignalState.CANCELLED


def test_waiting_children_hold_no_worker_thread() -> None:
    executor = Executor(open_store(), max_workers=2)
    try:
        ex = executor.launch(cw.many, {})
        names = ["review", *(f"review-{i}" for i in range(2, 6))]
        children = [child_of(ex, name) for name in names]  # more waiting children than workers
        for child in children:
            child.reached("ok").wait(timeout=10)
        remote = GateRemote.for_sandbox()
        for child in children:
            remote.approve("ok", child.name)
        assert ex.wait(timeout=10) == [1, 2, 3, 4, 5]
    finally:
        executor.shutdown()


def test_child_names_are_valid_deterministic_and_at_most_128_characters() -> None:
    assert child_execution_name("run-1", "n3.n0") == "run-1-n3.n0"
    long = child_execution_name("x" * 128, "n12")
    assert len(long) == 128 and is_valid_name(long) and long == child_execution_name("x" * 128, "n12")
    assert long != child_execution_name("x" * 128, "n13")


def test_launch_child_is_checked_at_definition() -> None:
    with pytest.raises(WorkflowDefinitionError, match="only works inside a @workflow"):
        launch_child(cw.review, v=1)
    with pytest.raises(WorkflowDefinitionError, match="takes a @workflow"):
        @workflow
        def bad(v: int) -> int:
            return launch_child(cw.inc, v=v)  # type: ignore[arg-type]
    with pytest.raises(WorkflowDefinitionError, match=r"missing inputs \['v'\]"):
        @workflow
        def missing(v: int) -> int:
            return launch_child(cw.review)


# ------------------------------------------------------------------ recovery


@pytest.fixture
def orphaned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ExecKey, ExecKey, Path]:
    """``parent`` killed in another process while its child waits at its gate: (parent, child, inc log)."""
    monkeypatch.setenv("CHILD_OUT", str(tmp_path))
    name = "orphan-parent"
    child_name = child_execution_name(name, node_id(cw.parent, "review"))
    proc = subprocess.Popen([sys.executable, str(SCRIPT), name, "5"], env=os.environ.copy(),
                            stdout=subprocess.DEVNULL)
    remote = GateRemote.for_sandbox()
    try:
        eventually(lambda: remote.get_signal("ok", child_name).state is SignalState.PENDING, timeout=60,
                   what="the child's gate to wait in the other process")
    finally:
        proc.send_signal(signal.SIGKILL)
        stop(proc)
    parent = ExecKey("default", "development", name)
    return parent, ExecKey("default", "development", child_name), tmp_path / "inc"


def test_a_recovered_parent_recovers_its_orphaned_child(orphaned: tuple[ExecKey, ExecKey, Path]) -> None:
    parent, child_key, runs = orphaned
    ex = cw.parent.launch(execution_name=parent.name, recover=True)
    child = child_of(ex)
    assert child.id == child_key
    GateRemote.for_sandbox().approve("ok", child_key.name)
    assert ex.wait(timeout=10) == 7
    assert runs.read_text().split() == ["5", "6"]  # the child's inc ran once, before the kill


def test_a_recovered_parent_takes_the_outputs_of_a_child_that_finished(
        orphaned: tuple[ExecKey, ExecKey, Path]) -> None:
    parent, child_key, runs = orphaned
    child = cw.review.launch(execution_name=child_key.name, recover=True)  # recovered and finished first
    GateRemote.for_sandbox().approve("ok", child_key.name)
    assert child.wait(timeout=10) == 6
    ex = cw.parent.launch(execution_name=parent.name, recover=True)
    assert ex.wait(timeout=10) == 7
    assert default_executor().get(child_key) is None  # not launched again
    assert runs.read_text().split() == ["5", "6"]


@contextmanager
def hosted_elsewhere(child_key: ExecKey) -> Iterator[subprocess.Popen[str]]:
    """``gatewidgets recover CHILD`` in another process: it adopts the orphaned child and hosts it, waiting at
    its gate, until the child ends (then prints its outputs and exits)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SCRIPT.parent), *sys.path])}
    proc = subprocess.Popen([sys.executable, "-m", "gatewidgets", "recover", child_key.name,
                             "--workflow", "_child_workflows:review", "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = GateRemote.for_sandbox().store
    try:
        eventually(lambda: proc.poll() is not None or store.get_execution(child_key, with_nodes=False).pid == proc.pid,
                   timeout=60, what="the other process to adopt the child")
        assert proc.poll() is None, proc.communicate()
        yield proc
    finally:
        stop(proc)


@pytest.mark.parametrize("answer", ["approve", "reject"])
def test_a_recovered_parent_follows_its_child_running_in_another_live_process(
        orphaned: tuple[ExecKey, ExecKey, Path], answer: str) -> None:
    """Parent and child orphaned by a kill; another process recovers only the child; the parent, recovered
    here, neither launches nor recovers the child again: its node follows the child through the store's
    ``finished`` event, and takes the child's outputs, or fails naming it."""
    parent, child_key, runs = orphaned
    remote = GateRemote.for_sandbox()
    with hosted_elsewhere(child_key) as host:
        ex = cw.parent.launch(execution_name=parent.name, recover=True)
        assert ex.children[node_id(ex, "review")] == child_key and ex.nodes_by_name["review"] is NodeState.RUNNING
        assert default_executor().get(child_key) is None  # neither launched nor recovered here
        assert child_key in ex.executor._following
        record = remote.store.get_execution(child_key, with_nodes=False)
        assert (record.pid, record.status) == (host.pid, ExecutionStatus.RUNNING)  # still the other process's
        assert [e.name for e in remote.list_executions() if e.workflow == "review"] == [child_key.name]
        assert remote.get_signal("ok", child_key.name).state is SignalState.PENDING
        assert not ex.done() and host.poll() is None

        getattr(remote, answer)("ok", child_key.name)
        out, err = host.communicate(timeout=60)  # the child ends in the other process, which then exits
        if answer == "approve":
            assert (host.returncode, out.split()[-1]) == (0, "6"), err
            assert ex.wait(timeout=30) == 7
            assert runs.read_text().split() == ["5", "6"]  # the child's inc once (before the kill), the parent's
        else:
            assert host.returncode == 1 and "FAILED" in err, (out, err)
            with pytest.raises(ChildExecutionError,
                               match=rf"{child_key.name} \(workflow 'review'\) ended FAILED"):
                ex.wait(timeout=30)
            assert ex.nodes_by_name["review"] is NodeState.FAILED and ex.nodes_by_name["inc"] is not NodeState.SUCCEEDED
            assert runs.read_text().split() == ["5"]
    assert remote.store.get_execution(child_key, with_nodes=False).pid == host.pid  # never adopted here
    assert not ex.executor._following


def test_a_recovered_parent_follows_a_child_adopted_elsewhere_while_it_looked(
        orphaned: tuple[ExecKey, ExecKey, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the parent's look at its child's owner (gone) and its own recovery of the child, another process
    adopts the child: the parent's recovery of it is refused, and the node follows the child instead of failing."""
    parent, child_key, runs = orphaned
    store = default_executor().store
    alive = store.owner_alive
    looks: list[str] = []

    def gone_at_first_look(record):  # type: ignore[no-untyped-def]
        if record.name == child_key.name and not looks:
            looks.append(record.name)
            return False  # what the parent saw a moment before the other process adopted the child
        return alive(record)

    with hosted_elsewhere(child_key) as host:
        monkeypatch.setattr(store, "owner_alive", gone_at_first_look)
        ex = cw.parent.launch(execution_name=parent.name, recover=True)
        assert looks == [child_key.name] and ex.nodes_by_name["review"] is NodeState.RUNNING, ex.error
        assert child_key in ex.executor._following and default_executor().get(child_key) is None
        GateRemote.for_sandbox().approve("ok", child_key.name)
        out, err = host.communicate(timeout=60)
        assert (host.returncode, out.split()[-1]) == (0, "6"), err
        assert ex.wait(timeout=30) == 7
    assert runs.read_text().split() == ["5", "6"]
