"""``ex.reached`` / ``ex.node`` / ``ex.finished`` / ``ex.nodes_by_name``: waits by name, awaitable or blocking."""
from __future__ import annotations

import asyncio
import threading

import pytest

import gatewidgets
from gatewidgets import (
    Awaiting,
    ExecutionAbortedError,
    GateRejectedError,
    GateRemote,
    NodeState,
    SignalState,
    approve,
    dynamic,
    task,
    workflow,
)

RELEASE = threading.Event()


@pytest.fixture(autouse=True)
def _release():
    RELEASE.clear()
    yield
    RELEASE.set()


@task
def slow(v: int) -> int:
    assert RELEASE.wait(10)
    return v


@task
def audit(v: int) -> str:
    return f"audit {v}"


@task
def pay(v: int) -> str:
    return f"paid {v}"


@workflow
def pay_wf(v: int) -> tuple[str, str]:
    ok = approve(slow(v=v), "go", timeout=None)
    return pay(v=ok), audit(v=v)


@task
def item(i: int) -> int:
    return i


@dynamic
def each(n: int) -> list[int]:
    return [approve(item(i=i), f"review-{i}", timeout=None) for i in range(n)]


@workflow
def dyn_wf(n: int) -> list[int]:
    return each(n=n)


def test_reached_returns_the_pending_signal_once_the_gate_waits() -> None:
    ex = pay_wf.launch(v=3)
    waiting = ex.reached("go", timeout=10)
    assert isinstance(waiting, Awaiting) and not waiting.done()  # the gate needs `slow` first
    RELEASE.set()
    signal = waiting.wait()
    assert signal.signal_id == "go" and signal.state is SignalState.PENDING
    assert ex.nodes_by_name["go"] is NodeState.WAITING
    GateRemote.for_sandbox().approve("go", ex.name)
    assert ex.finished(timeout=10).wait() == ("paid 3", "audit 3")
    assert ex.reached("go").wait(1).state is SignalState.SET  # an answered gate was reached too


def test_awaiting_is_public_for_annotations() -> None:
    RELEASE.set()
    ex = pay_wf.launch(v=5)
    waiting: Awaiting[object] = ex.reached("go", timeout=10)
    assert "Awaiting" in gatewidgets.__all__ and Awaiting is gatewidgets.engine.Awaiting
    assert isinstance(waiting, Awaiting) and isinstance(ex.node("slow", timeout=10), Awaiting)
    assert isinstance(ex.finished(timeout=10), Awaiting)
    GateRemote.for_sandbox().approve("go", waiting.wait().execution_name)
    assert ex.finished(timeout=10).wait() == ("paid 5", "audit 5")


def test_awaitable_in_a_running_loop() -> None:
    RELEASE.set()
    ex = pay_wf.launch(v=4)

    async def main() -> tuple:
        signal = await ex.reached("go", timeout=10)
        state = await ex.node("audit", timeout=10)
        GateRemote.for_sandbox().approve(signal.signal_id, ex.name)
        return state, await ex.finished(timeout=10)

    assert asyncio.run(main()) == (NodeState.SUCCEEDED, ("paid 4", "audit 4"))
    assert ex.nodes_by_name == {"slow": NodeState.SUCCEEDED, "go": NodeState.SUCCEEDED,
                                "pay": NodeState.SUCCEEDED, "audit": NodeState.SUCCEEDED}


def test_timeouts_raise_and_leave_the_execution_running() -> None:
    ex = pay_wf.launch(v=5)
    with pytest.raises(TimeoutError, match="not gate 'go' was reached within 0.1 s; it is RUNNING"):
        ex.reached("go", timeout=0.1).wait()
    with pytest.raises(TimeoutError, match="not node 'pay' ended within 0.1 s"):
        asyncio.run(_await(ex.node("pay", timeout=0.1)))
    with pytest.raises(TimeoutError, match="not execution finished within 0.05 s"):
        ex.finished().wait(0.05)
    assert not ex.done()
    RELEASE.set()
    GateRemote.for_sandbox().approve("go", ex.name)
    assert ex.node("pay", timeout=10).wait() is NodeState.SUCCEEDED


async def _await(awaiting: Awaiting) -> object:
    return await awaiting


def test_unknown_names_list_the_ones_that_exist() -> None:
    ex = pay_wf.launch(v=6)
    with pytest.raises(LookupError, match=r"no signal 'og'; its signals are go\."):
        ex.reached("og")
    with pytest.raises(LookupError, match=r"no node 'n3'; its nodes are slow, go, pay, audit\."):
        ex.node("n3")
    RELEASE.set()
    ex.abort()


def test_ending_before_the_gate_raises_the_execution_error() -> None:
    ex = pay_wf.launch(v=7)
    waiting = ex.reached("go", timeout=10)
    ex.abort()
    with pytest.raises(ExecutionAbortedError):
        waiting.wait()
    with pytest.raises(ExecutionAbortedError):
        ex.reached("go").wait(1)  # made after the end
    RELEASE.set()


def test_node_gives_its_final_state_even_when_the_execution_fails() -> None:
    RELEASE.set()
    ex = pay_wf.launch(v=7)
    pay_done = ex.node("pay", timeout=10)
    GateRemote.for_sandbox().reject(ex.reached("go", timeout=10).wait().signal_id, ex.name)
    assert pay_done.wait() is NodeState.ABORTED
    assert ex.nodes_by_name["go"] is NodeState.FAILED
    with pytest.raises(GateRejectedError):
        ex.finished(timeout=10).wait()


def test_dynamic_gates_can_be_awaited_before_they_exist() -> None:
    ex = dyn_wf.launch(n=2)
    signals = [ex.reached(f"review-{i}", timeout=10).wait() for i in (1, 0)]
    assert [s.state for s in signals] == [SignalState.PENDING] * 2
    for s in signals:
        GateRemote.for_sandbox().approve(s.signal_id, ex.name)
    assert ex.finished(timeout=10).wait() == [0, 1]
    with pytest.raises(LookupError, match="no signal 'review-9'; its signals are review-0, review-1"):
        ex.reached("review-9")


def test_repeated_task_names_are_numbered() -> None:
    @workflow
    def twice(v: int) -> tuple[str, str]:
        return audit(v=v), audit(v=item(i=2))

    ex = twice.launch(v=1)
    assert ex.finished(timeout=10).wait() == ("audit 1", "audit 2")
    assert list(ex.nodes_by_name) == ["audit", "item", "audit-2"]
    assert ex.node("audit-2").wait(1) is NodeState.SUCCEEDED


def test_blocking_wait_warns_in_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    from gatewidgets.engine import BlockingWaitWarning, awaiting

    monkeypatch.setattr(awaiting, "in_kernel_main_thread", lambda: True)
    ex = pay_wf.launch(v=8)
    with pytest.warns(BlockingWaitWarning, match="Use `await` in notebook cells"):
        with pytest.raises(TimeoutError):
            ex.reached("go").wait(0.05)
    RELEASE.set()
    ex.abort()
