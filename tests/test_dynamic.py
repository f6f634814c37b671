"""@dynamic: gates created at run time, one per item, scoped to the top-level execution."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from helpers import eventually, node_id

from gatewidgets import (
    ExecutionStatus,
    GateRejectedError,
    GateRemote,
    SignalState,
    WorkflowDefinitionError,
    approve,
    conditional,
    dynamic,
    task,
    wait_for_input,
    workflow,
)

reviewed: list[int] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    reviewed.clear()


@task
def prepare(item: int) -> int:
    return item * 10


@task
def gather(values: list[int]) -> list[int]:
    return values


@task
def after(values: list[int]) -> int:
    reviewed.extend(values)
    return sum(values)


@dynamic
def review_each(items: list[int]) -> list[int]:
    approved = [approve(prepare(item=i), f"review-{i}", timeout=None, description=f"Item {i}") for i in items]
    return gather(values=approved)


@workflow
def review(items: list[int]) -> int:
    return after(values=review_each(items=items))


def _wait_for_signals(ex, count: int) -> list:
    def pending() -> list:
        signals = [s for s in ex.signals() if s.state is SignalState.PENDING]
        return signals if len(signals) >= count else []

    return eventually(pending, what=f"{count} pending signals")


def _run_in_other_process(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_one_approval_per_item_answered_from_another_process() -> None:
    ex = review.launch(items=[3, 1, 2])
    signals = _wait_for_signals(ex, 3)
    assert [s.signal_id for s in signals] == ["review-3", "review-1", "review-2"]
    assert [s.description for s in signals] == ["Item 3", "Item 1", "Item 2"]
    listed = GateRemote.for_sandbox().list_signals(ex.name, filters="eq(state,PENDING)")
    assert [s.signal_id for s in listed] == ["review-3", "review-1", "review-2"]
    # answer in reverse order from another process: results still come back in item order
    done = _run_in_other_process(f"""
        from gatewidgets import GateRemote
        remote = GateRemote.for_sandbox()
        for sid in ["review-2", "review-1", "review-3"]:
            remote.approve(sid, {ex.name!r})
    """)
    assert done.returncode == 0, done.stderr
    assert ex.wait(timeout=10) == 60
    assert reviewed == [30, 10, 20]
    history = GateRemote.for_sandbox().history(ex.name)
    assert [e.signal_id for e in history if e.kind == "set"] == ["review-2", "review-1", "review-3"]


def test_one_rejection_fails_execution_and_cancels_the_rest() -> None:
    ex = review.launch(items=[1, 2, 3])
    _wait_for_signals(ex, 3)
    remote = GateRemote.for_sandbox()
    remote.approve("review-1", ex.name)
    remote.reject("review-2", ex.name)
    with pytest.raises(GateRejectedError, match="review-2"):
        ex.wait(timeout=10)
    assert ex.status is ExecutionStatus.FAILED
    states = {s.signal_id: s.state for s in ex.signals()}
    assert states == {"review-1": SignalState.SET, "review-2": SignalState.SET, "review-3": SignalState.CANCELLED}
    assert reviewed == []


def test_dynamic_nodes_are_stored_with_their_parent() -> None:
    ex = review.launch(items=[5])
    _wait_for_signals(ex, 1)
    parent = node_id(ex, "review_each")
    children = [nid for nid, node in ex.nodes.items() if node.parent == parent]
    assert children and all(nid.startswith(f"{parent}.") for nid in children)
    stored = {n.node_id for n in GateRemote.for_sandbox().get_execution(ex.name).nodes}
    assert set(children) <= stored
    GateRemote.for_sandbox().approve("review-5", ex.name)
    assert ex.wait(timeout=10) == 50


def test_duplicate_signal_ids_with_different_types_in_one_body_are_refused() -> None:
    @dynamic
    def clash(n: int) -> int:
        wait_for_input("dup", timeout=None, expected_type=int)
        wait_for_input("dup", timeout=None, expected_type=str)
        return prepare(item=n)

    @workflow
    def wf(n: int) -> int:
        return clash(n=n)

    ex = wf.launch(n=1)
    with pytest.raises(WorkflowDefinitionError, match="dup"):
        ex.wait(timeout=10)
    assert ex.signals() == []


def test_dynamic_signal_clashing_with_a_top_level_signal_is_refused() -> None:
    @dynamic
    def clash(n: int) -> int:
        wait_for_input("shared", timeout=None, expected_type=str)
        return prepare(item=n)

    @workflow
    def wf(n: int) -> int:
        first = wait_for_input("shared", timeout=None, expected_type=int)
        return clash(n=first)

    ex = wf.launch(n=1)
    GateRemote.for_sandbox().set_input("shared", ex.name, 4)
    with pytest.raises(WorkflowDefinitionError, match="exists already"):
        ex.wait(timeout=10)


def test_dynamic_body_with_conditional_and_typed_inputs() -> None:
    @dynamic
    def triage(limits: list[int]) -> list[int]:
        out = []
        for i, limit in enumerate(limits):
            value = wait_for_input(f"value-{i}", timeout=None, expected_type=int)
            out.append(conditional(f"cap-{i}").if_(value > limit).then(prepare(item=limit))
                       .else_().then(prepare(item=value)))
        return gather(values=out)

    @workflow
    def wf(limits: list[int]) -> list[int]:
        return triage(limits=limits)

    ex = wf.launch(limits=[5, 5])
    _wait_for_signals(ex, 2)
    remote = GateRemote.for_sandbox()
    remote.set_input("value-0", ex.name, 9)
    remote.set_input("value-1", ex.name, 2)
    assert ex.wait(timeout=10) == [50, 20]
