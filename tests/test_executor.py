"""Executor: background runs, gates without threads, branches, rejections, timeouts, sleep, abort."""
from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import eventually, node_id, stored_states

from gatewidgets import (
    ExecutionAbortedError,
    ExecutionExistsError,
    ExecutionStatus,
    GateRejectedError,
    GateRemote,
    GateTimeoutError,
    NodeState,
    SignalState,
    WorkflowFailure,
    approve,
    sleep,
    task,
    wait_for_input,
    workflow,
)
from gatewidgets.engine import Executor, default_executor
from gatewidgets.engine.executor import default_execution_name
from gatewidgets.models.execution import check_name
from gatewidgets.settings import settings
from gatewidgets.store import SqliteStore, open_store
from gatewidgets.store.base import StoreCapabilities, UnsupportedError

RAN: list[str] = []
BRANCH_DONE = threading.Event()


@pytest.fixture(autouse=True)
def _reset() -> None:
    RAN.clear()
    BRANCH_DONE.clear()


@task
def double(v: int) -> int:
    RAN.append("double")
    return v * 2


@task
def pay(amount: int) -> str:
    RAN.append("pay")
    return f"paid {amount}"


@task
def branch(v: int) -> int:
    RAN.append("branch")
    BRANCH_DONE.set()
    return v + 1


@task
def combine(a: int, b: int) -> int:
    RAN.append("combine")
    return a + b


@task
def explode(v: int) -> int:
    raise ValueError(f"boom {v}")


@task
def stamp(x: int) -> float:
    RAN.append("stamp")
    return time.monotonic()


@workflow
def expense(a: int) -> str:
    e = double(v=a)
    ok = approve(e, "ok", timeout=None)
    return pay(amount=ok)


@workflow
def two_branches(a: int) -> int:
    ok = approve(double(v=a), "ok", timeout=None)
    side = branch(v=a)
    extra = wait_for_input("extra", timeout=None, expected_type=int)
    return combine(a=combine(a=ok, b=side), b=extra)


@workflow
def with_default(a: int) -> int:
    x = wait_for_input("x", timeout=timedelta(milliseconds=200), expected_type=int, default=7)
    return combine(a=a, b=x)


@workflow
def no_default(a: int) -> int:
    x = wait_for_input("x", timeout=timedelta(milliseconds=200), expected_type=int)
    return combine(a=a, b=x)


@workflow
def auto_approve(a: int) -> str:
    return pay(amount=approve(double(v=a), "ok", timeout=0.2, on_timeout="approve"))


@workflow
def auto_reject(a: int) -> str:
    return pay(amount=approve(double(v=a), "ok", timeout=0.2, on_timeout="reject"))


@workflow
def napping(a: int) -> float:
    nap = sleep(timedelta(milliseconds=400), name="nap")
    s = stamp(x=a)
    nap >> s
    return s


@workflow
def long_nap(a: int) -> float:
    nap = sleep(timedelta(hours=1), name="nap")
    s = stamp(x=a)
    nap >> s
    return s


@workflow
def failing(a: int) -> int:
    later = wait_for_input("later", timeout=None, expected_type=int)
    return combine(a=explode(v=a), b=later)


@workflow
def one_input(a: int) -> int:
    x = wait_for_input("x", timeout=None, expected_type=int)
    return combine(a=a, b=x)


def remote() -> GateRemote:
    return GateRemote.for_sandbox()


def wait_pending(name: str, signal_id: str, timeout: float = 10) -> None:
    r = remote()
    eventually(lambda: r.get_signal(signal_id, name).state is SignalState.PENDING, timeout,
               what=f"{signal_id} PENDING")


def test_launch_runs_in_background_and_records() -> None:
    t0 = time.monotonic()
    ex = expense.launch(a=3, execution_name="exp-1")
    assert time.monotonic() - t0 < 1
    assert ex.status is ExecutionStatus.RUNNING and not ex.done()
    wait_pending("exp-1", "ok")
    assert ex.nodes_by_name["ok"] is NodeState.WAITING
    assert default_executor().get(ex.id) is ex
    remote().approve("ok", "exp-1")
    assert ex.wait(timeout=10) == "paid 6"
    assert ex.status is ExecutionStatus.SUCCEEDED and ex.outputs == "paid 6" and ex.error is None
    assert ex.done() and ex.finished_at is not None and ex.elapsed.total_seconds() > 0
    assert all(s is NodeState.SUCCEEDED for s in ex.node_states.values())
    record = remote().get_execution("exp-1")
    assert record.status is ExecutionStatus.SUCCEEDED and record.outputs == "paid 6"
    assert [n.state for n in record.nodes] == [NodeState.SUCCEEDED] * 3
    assert record.nodes[0].outputs == 6
    assert default_executor().launched[-1] is ex
    assert default_executor().get(ex.id) is None  # a finished execution is let go (the caller keeps it)


def test_calling_workflow_blocks_until_done() -> None:
    @workflow
    def plain(a: int) -> int:
        return combine(a=a, b=double(v=a))

    assert plain(a=2) == 6


def test_independent_branch_finishes_while_gate_pending() -> None:
    ex = two_branches.launch(a=1, execution_name="br")
    assert BRANCH_DONE.wait(10)
    wait_pending("br", "ok")
    eventually(lambda: ex.nodes_by_name["branch"] is NodeState.SUCCEEDED, what="branch node succeeded")
    assert ex.status is ExecutionStatus.RUNNING and "combine" not in RAN
    remote().approve("ok", "br")
    remote().set_input("extra", "br", 100)
    assert ex.wait(10) == 2 + 2 + 100


def test_reject_fails_and_cancels_other_signals() -> None:
    ex = two_branches.launch(a=1, execution_name="rej")
    wait_pending("rej", "ok")
    remote().reject("ok", "rej")
    with pytest.raises(GateRejectedError, match="rejected by"):
        ex.wait(10)
    # checked right after wait() returned: no polling
    assert ex.status is ExecutionStatus.FAILED and isinstance(ex.error, GateRejectedError)
    assert "combine" not in RAN
    signals = {s.signal_id: s for s in remote().list_signals("rej")}
    assert signals["ok"].state is SignalState.SET and signals["ok"].value is False
    assert signals["extra"].state is SignalState.CANCELLED
    record = remote().get_execution("rej")
    assert record.status is ExecutionStatus.FAILED and "GateRejectedError" in record.error
    states = stored_states(record)
    assert states["ok"] is NodeState.FAILED
    assert states["combine"] is not NodeState.SUCCEEDED and states["combine-2"] is not NodeState.SUCCEEDED
    assert ex.error_traceback and "GateRejectedError" in ex.error_traceback


def test_timeout_takes_default() -> None:
    ex = with_default.launch(a=1, execution_name="td")
    assert ex.wait(10) == 8
    s = remote().get_signal("x", "td")
    assert s.state is SignalState.TIMED_OUT and s.via.value == "timeout" and s.value == 7
    events = remote().history("td", signal_id="x")
    assert [e.kind for e in events] == ["created", "reached", "timed_out"]
    assert events[-1].value == 7 and events[-1].via == "timeout"


def test_timeout_without_default_fails() -> None:
    t0 = time.monotonic()
    ex = no_default.launch(a=1, execution_name="tnd")
    with pytest.raises(GateTimeoutError, match="'x'"):
        ex.wait(10)
    assert time.monotonic() - t0 >= 0.2
    assert ex.status is ExecutionStatus.FAILED and isinstance(ex.error, GateTimeoutError)
    s = remote().get_signal("x", "tnd")
    assert s.state is SignalState.TIMED_OUT and s.value is None and s.via.value == "timeout"
    assert "combine" not in RAN


def test_on_timeout_approve() -> None:
    ex = auto_approve.launch(a=2, execution_name="ota")
    assert ex.wait(10) == "paid 4"
    s = remote().get_signal("ok", "ota")
    assert s.state is SignalState.TIMED_OUT and s.value is True and s.via.value == "timeout"


def test_on_timeout_reject() -> None:
    ex = auto_reject.launch(a=2, execution_name="otr")
    with pytest.raises(GateRejectedError, match="on_timeout='reject'"):
        ex.wait(10)
    s = remote().get_signal("ok", "otr")
    assert s.state is SignalState.TIMED_OUT and s.value is False
    assert "pay" not in RAN


def test_answer_before_deadline_wins_over_timeout() -> None:
    ex = with_default.launch(a=1, execution_name="early-answer")
    wait_pending("early-answer", "x")
    remote().set_input("x", "early-answer", 41)
    assert ex.wait(10) == 42
    time.sleep(0.3)  # past the deadline: nothing changes
    s = remote().get_signal("x", "early-answer")
    assert s.state is SignalState.SET and s.value == 41 and s.via.value == "api"


def test_sleep_really_sleeps() -> None:
    t0 = time.monotonic()
    ex = napping.launch(a=0, execution_name="nap")
    stamped = ex.wait(10)
    assert stamped - t0 >= 0.4
    s = remote().get_signal("nap", "nap")
    assert s.kind.value == "sleep" and s.state is SignalState.TIMED_OUT


def test_end_sleep_early() -> None:
    t0 = time.monotonic()
    ex = long_nap.launch(a=0, execution_name="long")
    wait_pending("long", "nap")
    s = remote().get_signal("nap", "long")
    assert s.deadline is not None and s.deadline > s.waiting_since + timedelta(minutes=59)
    remote().end_sleep("nap", "long")
    ex.wait(10)
    assert time.monotonic() - t0 < 10
    assert remote().get_signal("nap", "long").state is SignalState.SET


def test_abort() -> None:
    ex = two_branches.launch(a=1, execution_name="ab")
    wait_pending("ab", "ok")
    ex.abort()
    with pytest.raises(ExecutionAbortedError):
        ex.wait(10)
    assert ex.status is ExecutionStatus.ABORTED
    assert {s.signal_id: s.state for s in remote().list_signals("ab")} == {
        "ok": SignalState.CANCELLED, "extra": SignalState.CANCELLED}
    ran = list(RAN)
    from gatewidgets import SignalClosedError

    with pytest.raises(SignalClosedError):
        remote().approve("ok", "ab")
    time.sleep(0.1)
    assert RAN == ran and "combine" not in RAN
    assert remote().get_execution("ab").status is ExecutionStatus.ABORTED
    ex.abort()  # aborting twice is harmless
    assert ex.status is ExecutionStatus.ABORTED


def test_abort_while_task_runs_starts_nothing_new() -> None:
    started, release = threading.Event(), threading.Event()

    @task
    def blocking(v: int) -> int:
        started.set()
        assert release.wait(10)
        RAN.append("blocking")
        return v

    @workflow
    def chain(a: int) -> int:
        return double(v=blocking(v=a))

    ex = chain.launch(a=1, execution_name="abt")
    assert started.wait(10)
    ex.abort()
    with pytest.raises(ExecutionAbortedError):
        ex.wait(10)
    release.set()
    eventually(lambda: "blocking" in RAN, what="running task finished")
    time.sleep(0.1)
    assert "double" not in RAN
    assert ex.outputs is None and ex.status is ExecutionStatus.ABORTED
    assert ex.nodes_by_name["double"] is NodeState.ABORTED
    assert stored_states(remote().get_execution("abt")) == {"blocking": NodeState.ABORTED, "double": NodeState.ABORTED}


def test_remote_abort_reaches_local_execution() -> None:
    ex = one_input.launch(a=1, execution_name="rab")
    wait_pending("rab", "x")
    remote().abort("rab")
    with pytest.raises(ExecutionAbortedError):
        ex.wait(10)
    assert remote().get_signal("x", "rab").state is SignalState.CANCELLED


def test_wait_timeout_leaves_running() -> None:
    ex = one_input.launch(a=1, execution_name="wt")
    with pytest.raises(TimeoutError) as info:
        ex.wait(timeout=0.1)
    assert not isinstance(info.value, GateTimeoutError)
    assert ex.status is ExecutionStatus.RUNNING and not ex.done()
    remote().set_input("x", "wt", 1)
    assert ex.wait(10) == 2


def test_await_execution() -> None:
    ex = one_input.launch(a=1, execution_name="aw")

    async def main() -> int:
        wait_pending("aw", "x")
        threading.Timer(0.05, lambda: remote().set_input("x", "aw", 5)).start()
        return await asyncio.wait_for(ex, 10)

    assert asyncio.run(main()) == 6


def test_task_exception_fails_execution() -> None:
    ex = failing.launch(a=3, execution_name="boom")
    with pytest.raises(ValueError, match="boom 3"):
        ex.wait(10)
    assert ex.status is ExecutionStatus.FAILED and isinstance(ex.error, ValueError)
    assert "ValueError: boom 3" in ex.error_traceback
    record = remote().get_execution("boom")
    assert record.status is ExecutionStatus.FAILED and "boom 3" in record.error
    assert remote().get_signal("later", "boom").state is SignalState.CANCELLED


def test_duplicate_execution_name() -> None:
    ex = one_input.launch(a=1, execution_name="dup")
    with pytest.raises(ExecutionExistsError, match="recover=True"):
        one_input.launch(a=2, execution_name="dup")
    assert remote().get_execution("dup").inputs == {"a": 1}
    assert len(remote().list_executions()) == 1
    ex.abort()


def test_same_name_other_project_is_fine() -> None:
    a = one_input.launch(a=1, execution_name="same")
    b = one_input.launch(a=1, execution_name="same", project="other")
    assert a.id != b.id and b.id.project == "other"
    GateRemote.for_sandbox(default_project="other").set_input("x", "same", 2)
    assert b.wait(10) == 3 and not a.done()


def test_early_set_of_upcoming_signal_consumed() -> None:
    gate_open = threading.Event()

    @task
    def slow(v: int) -> int:
        assert gate_open.wait(10)
        return v

    @workflow
    def later(a: int) -> int:
        s = slow(v=a)
        x = wait_for_input("x", timeout=None, expected_type=int)
        s >> x
        return combine(a=s, b=x)

    ex = later.launch(a=1, execution_name="early")
    assert remote().get_signal("x", "early").state is SignalState.UPCOMING
    remote().set_input("x", "early", 9)
    assert remote().get_signal("x", "early").state is SignalState.SET
    gate_open.set()
    assert ex.wait(10) == 10


def test_listeners_get_events() -> None:
    events: list = []
    ex = one_input.launch(a=1, execution_name="ev")
    ex.subscribe(events.append)
    wait_pending("ev", "x")
    remote().set_input("x", "ev", 1)
    ex.wait(10)
    kinds = [e.kind for e in events]
    assert "signal_set" in kinds and kinds[-1] == "finished"
    assert events[-1].state is ExecutionStatus.SUCCEEDED
    assert ("node", node_id(ex, "combine"), NodeState.SUCCEEDED) in [(e.kind, e.node_id, e.state) for e in events]
    assert all(e.execution is ex for e in events)
    assert [s.signal_id for s in ex.signals()] == ["x"]
    assert [e.kind for e in ex.history()] == ["launched", "created", "reached", "set", "finished"]


def test_gate_waiting_event_and_pool_size() -> None:
    import os

    go, waiting = threading.Event(), threading.Event()

    @task
    def held(v: int) -> int:
        assert go.wait(10)
        return v

    @workflow
    def gated(a: int) -> int:
        return approve(held(v=a), "ok", timeout=None)

    ex = gated.launch(a=1, execution_name="gw")
    ex.subscribe(lambda e: e.kind == "gate_waiting" and e.signal_id == "ok" and e.node_id == node_id(ex, "ok")
                 and waiting.set())
    go.set()
    assert waiting.wait(10)
    assert default_executor().max_workers == min(32, (os.cpu_count() or 1) + 4)
    ex.abort()


def test_thousand_waiting_gates_hold_no_threads() -> None:
    before = threading.active_count()
    # a task runs before each gate, so the worker pool is fully started too
    executions = [expense.launch(a=i, execution_name=f"many-{i}") for i in range(1000)]
    r = remote()
    eventually(lambda: r.count_signals(filters="eq(state,PENDING)") == 1000, timeout=120, interval=0.2,
               what="1000 pending gates")
    threads = threading.active_count()
    print(f"\nthreads with 1000 gates waiting: {threads} (before launching: {before})")
    assert threads < 50
    assert all(e.status is ExecutionStatus.RUNNING for e in executions)
    for i in (0, 999):
        r.approve("ok", f"many-{i}")
        assert executions[i].wait(10) == f"paid {2 * i}"


def test_gates_sharing_one_signal_both_resume() -> None:
    @workflow
    def shared() -> int:
        a = wait_for_input("x", timeout=None, expected_type=int)
        b = wait_for_input("x", timeout=None, expected_type=int)
        return combine(a=a, b=b)

    ex = shared.launch(execution_name="shared")
    wait_pending("shared", "x")
    remote().set_input("x", "shared", 4)
    assert ex.wait(10) == 8
    assert [s.signal_id for s in remote().list_signals("shared")] == ["x"]


def test_shared_signal_timeout_with_default() -> None:
    @workflow
    def shared() -> int:
        a = wait_for_input("x", timeout=0.1, expected_type=int, default=2)
        b = wait_for_input("x", timeout=0.1, expected_type=int, default=2)
        return combine(a=a, b=b)

    assert shared.launch(execution_name="shared-t").wait(10) == 4
    assert remote().get_signal("x", "shared-t").state is SignalState.TIMED_OUT


def test_approve_passes_workflow_input_through() -> None:
    @workflow
    def direct(a: int) -> int:
        return approve(a, "ok", timeout=None)

    ex = direct.launch(a=5, execution_name="direct")
    wait_pending("direct", "ok")
    remote().approve("ok", "direct")
    assert ex.wait(10) == 5


def test_node_states_stored_after_finish() -> None:
    ex = expense.launch(a=1, execution_name="states")
    wait_pending("states", "ok")
    remote().approve("ok", "states")
    ex.wait(10)
    record = remote().get_execution("states")
    assert list(stored_states(record).items()) == [(name, NodeState.SUCCEEDED) for name in ("double", "ok", "pay")]
    assert all(n.started_at is not None and n.finished_at is not None for n in record.nodes)


def test_approve_timeout_fails_by_default() -> None:
    @workflow
    def strict(a: int) -> str:
        return pay(amount=approve(double(v=a), "ok", timeout=timedelta(0)))

    ex = strict.launch(a=1, execution_name="strict")
    with pytest.raises(GateTimeoutError, match="no default"):
        ex.wait(10)
    s = remote().get_signal("ok", "strict")
    assert s.state is SignalState.TIMED_OUT and s.value is None
    assert "pay" not in RAN and ex.nodes_by_name["pay"] is NodeState.ABORTED


def test_tuple_outputs_are_stored_and_bad_execution_names_refused() -> None:
    from gatewidgets import GateRemote, task, workflow

    @task
    def pair(x: int) -> tuple[int, str]:
        return x, str(x)

    @workflow
    def twice(x: int) -> tuple[int, str]:
        a, b = pair(x=x)
        return a, b

    ex = twice.launch(x=4, execution_name="tuple-out")
    assert ex.wait(timeout=10) == (4, "4")
    assert GateRemote.for_sandbox().get_execution("tuple-out").outputs == [4, "4"]
    for bad in ("a/b", "x" * 129, "sp ace"):
        with pytest.raises(ValueError, match="execution_name"):
            twice.launch(x=1, execution_name=bad)
    assert [r.name for r in GateRemote.for_sandbox().list_executions()] == ["tuple-out"]


def test_executor_keeps_only_recent_launches() -> None:
    from gatewidgets import task, workflow

    @task
    def one(x: int) -> int:
        return x

    @workflow
    def tiny(x: int) -> int:
        return one(x=x)

    runs = [tiny.launch(x=i) for i in range(130)]
    assert [r.wait(timeout=10) for r in runs] == list(range(130))
    executor = default_executor()
    assert len(executor.launched) == 100 and executor.launched[-1] is runs[-1]
    assert all(executor.get(r.id) is None for r in runs)


# ------------------------------------------------------------------ on_failure

HANDLED: list[tuple[int, WorkflowFailure | None]] = []


@task
def handle(a: int, err: WorkflowFailure | None = None) -> None:
    time.sleep(0.1)  # the execution ends only after its handler
    HANDLED.append((a, err))


@task
def handle_badly(a: int) -> None:
    HANDLED.append((a, None))
    raise RuntimeError("the clean-up broke too")


@workflow(on_failure=handle)
def guarded(a: int) -> int:
    later = wait_for_input("later", timeout=None, expected_type=int)
    return combine(a=explode(v=double(v=a)), b=later)


@workflow(on_failure=handle)
def guarded_gate(a: int) -> str:
    return pay(amount=approve(double(v=a), "ok", timeout=None))


@workflow(on_failure=handle_badly)
def badly_guarded(a: int) -> int:
    return explode(v=a)


@pytest.fixture()
def handled() -> list[tuple[int, WorkflowFailure | None]]:
    HANDLED.clear()
    return HANDLED


def test_on_failure_runs_once_with_the_inputs_and_the_error_and_the_execution_still_fails(handled) -> None:
    ex = guarded.launch(a=3, execution_name="guarded")
    with pytest.raises(ValueError, match="boom 6"):
        ex.wait(10)
    assert ex.status is ExecutionStatus.FAILED and isinstance(ex.error, ValueError)
    ((a, err),) = handled
    assert a == 3 and err is not None
    assert (err.message, err.node_id, err.error) == ("ValueError: boom 6", node_id(ex, "explode"), ex.error)
    assert ex.node_states["on_failure"] is NodeState.SUCCEEDED
    assert ex.nodes["on_failure"].upstream == {node_id(ex, "explode")}
    record = remote().get_execution("guarded")
    assert record.status is ExecutionStatus.FAILED and "boom 6" in record.error and "clean-up" not in record.error
    stored = {n.node_id: (n.kind, n.name, n.state) for n in record.nodes}
    assert stored["on_failure"] == ("task", "handle", NodeState.SUCCEEDED)
    assert remote().get_signal("later", "guarded").state is SignalState.CANCELLED
    time.sleep(0.1)
    assert len(handled) == 1


def test_on_failure_runs_when_a_gate_fails_the_execution(handled) -> None:
    ex = guarded_gate.launch(a=2, execution_name="rejected")
    wait_pending("rejected", "ok")
    remote().reject("ok", "rejected", comment="no")
    with pytest.raises(GateRejectedError):
        ex.wait(10)
    ((a, err),) = handled
    assert a == 2 and err is not None and isinstance(err.error, GateRejectedError) and err.node_id == node_id(ex, "ok")


def test_a_failing_on_failure_handler_never_masks_the_original_error(handled) -> None:
    ex = badly_guarded.launch(a=4, execution_name="badly")
    with pytest.raises(ValueError, match="boom 4"):
        ex.wait(10)
    assert handled == [(4, None)] and isinstance(ex.error, ValueError)
    assert ex.error_traceback is not None
    assert ex.error_traceback.index("boom 4") < ex.error_traceback.index("the clean-up broke too")
    assert "on_failure handler 'handle_badly' failed" in ex.error_traceback
    assert ex.node_states["on_failure"] is NodeState.FAILED
    record = remote().get_execution("badly")
    assert record.status is ExecutionStatus.FAILED
    assert "boom 4" in record.error and "the clean-up broke too" in record.error


def test_abort_does_not_run_on_failure(handled) -> None:
    ex = guarded_gate.launch(a=1, execution_name="aborted")
    wait_pending("aborted", "ok")
    ex.abort()
    with pytest.raises(ExecutionAbortedError):
        ex.wait(10)
    time.sleep(0.3)
    assert handled == [] and "on_failure" not in ex.nodes
    assert "on_failure" not in {n.node_id for n in remote().get_execution("aborted").nodes}


BARRIER = threading.Barrier(4, timeout=10)
THREADS: set[str] = set()


@task
def meet(i: int) -> int:
    BARRIER.wait()  # passes only once four of these run at the same time
    return i


@task
def note_thread(i: int) -> int:
    THREADS.add(threading.current_thread().name)
    return i


@workflow
def four_meet() -> list[int]:
    return [meet(i=i) for i in range(4)]


@workflow
def quick_burst() -> list[int]:
    return [note_thread(i=i) for i in range(300)]


def test_slow_tasks_of_a_fan_run_side_by_side() -> None:
    """A backlog that makes no progress gets more workers: four tasks that wait for each other all run."""
    BARRIER.reset()
    executor = Executor(open_store(), max_workers=8)
    try:
        assert executor.launch(four_meet, {}).wait(timeout=30) == [0, 1, 2, 3]
    finally:
        executor.shutdown()


def test_a_burst_of_quick_tasks_stays_on_few_workers() -> None:
    """Quick tasks are drained by one worker, more joining only when the backlog stalls, not one per task."""
    THREADS.clear()
    executor = Executor(open_store(), max_workers=8)
    try:
        assert executor.launch(quick_burst, {}).wait(timeout=30) == list(range(300))
    finally:
        executor.shutdown()
    assert 1 <= len(THREADS) <= 4, THREADS


def test_default_execution_names_do_not_collide_and_fit() -> None:
    # 6 random hex digits collided after about 5,000 launches of one workflow (a birthday bound of 2**24)
    names = [default_execution_name("expense_wf") for _ in range(200_000)]
    assert len(set(names)) == len(names)
    assert all(n.startswith("expense-wf-") for n in names[:10])
    long = default_execution_name("w" * 128)
    assert len(long) <= 128 and check_name(long, "execution_name") == long


class UnjudgingStore(SqliteStore):
    """A store that runs executions but, like the Flyte stores, does not judge who may answer."""

    capabilities = StoreCapabilities(run=True, policies=False)


@workflow
def governed_gate() -> int:
    return wait_for_input("n", timeout=timedelta(hours=1), expected_type=int, assignees=["alice"])


@workflow
def plain_gate() -> int:
    return wait_for_input("n", timeout=timedelta(hours=1), expected_type=int)


def test_a_policy_a_store_would_not_enforce_is_refused_at_launch_and_nothing_is_stored(tmp_path: Path) -> None:
    store = UnjudgingStore(tmp_path / "unjudging.db")
    executor = Executor(store, max_workers=2)
    try:
        with pytest.raises(UnsupportedError, match=r"policies.*gates \['n'\] of execution 'gov'"):
            executor.launch(governed_gate, {}, execution_name="gov")
        settings.policies = {"*": {"quorum": 2}}  # a configured default is a policy too
        with pytest.raises(UnsupportedError, match="GateWidgets.policies"):
            executor.launch(plain_gate, {}, execution_name="by-default")
        assert store.list_executions() == [] and executor.launched == []
        del settings.policies
        ex = executor.launch(plain_gate, {}, execution_name="plain")  # no policy: it runs there as before
        GateRemote(store=store).set_input("n", "plain", 3)
        assert ex.wait(timeout=10) == 3
    finally:
        del settings.policies
        executor.shutdown()
        store.close()
