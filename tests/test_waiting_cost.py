"""The cost of answering one gate, and of holding one waiting, does not grow with the executions waiting beside it.

Counted, not timed (the machine is shared): the Python lines run to answer one gate and end its
execution, in the answering thread, with few and with many executions waiting; and the heap an
execution holds while it waits (tracemalloc).
"""
from __future__ import annotations

import gc
import math
import sys
import tracemalloc
from datetime import timedelta
from types import FrameType
from typing import Any

from gatewidgets import ExecutionStatus, GateRemote, NodeState, SignalState, wait_for_input, workflow
from gatewidgets.engine import Execution, default_executor


@workflow
def one_gate() -> int:
    return wait_for_input("answer", timeout=timedelta(days=1), expected_type=int)


def launch(prefix: str, n: int) -> list[Execution]:
    runs = [one_gate.launch(execution_name=f"{prefix}-{i}") for i in range(n)]
    default_executor().store.flush()
    assert all(ex.node_states[next(iter(ex.nodes))] is NodeState.WAITING for ex in runs)
    return runs


def lines_to_answer(ex: Execution, value: int) -> int:
    """Python lines run in this thread by ``GateRemote.set_input`` for a gate whose execution then ends at once
    (the workflow returns the answer: the resolution, the end and the store's bookkeeping all run inline)."""
    remote = GateRemote.for_sandbox()
    count = 0

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return trace

    sys.settrace(trace)
    try:
        remote.set_input("answer", ex.name, value)
    finally:
        sys.settrace(None)
    assert ex.done() and ex.status is ExecutionStatus.SUCCEEDED and ex.wait(timeout=10) == value
    return count


def test_answering_a_gate_runs_no_more_lines_with_ten_times_more_executions_waiting() -> None:
    few = launch("few", 100)
    lines_to_answer(few[0], 0)  # warm: first-use caches
    at_100 = [lines_to_answer(ex, i) for i, ex in enumerate(few[1:4])]
    launch("many", 900)
    at_1000 = [lines_to_answer(ex, i) for i, ex in enumerate(few[4:7])]
    # a scan of the executions beside it (the live types of every execution, as forget_types did) would add
    # at least one line per execution waiting: 900 here
    assert min(at_1000) <= min(at_100) + 50, (at_100, at_1000)


def test_a_waiting_execution_holds_under_2_kib() -> None:
    launch("warm", 1100)  # fills the store's bounded caches (plans of the latest 1,024 executions)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        runs = launch("held", 2000)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert all(ex._future is None for ex in runs)  # nobody waited on them: no Future, no Condition
    assert held / len(runs) < 2048, f"{held / len(runs):.0f} B per waiting execution"


def test_a_launch_that_waits_at_its_first_gate_writes_one_transaction() -> None:
    one_gate.launch(execution_name="warm")  # first-use: schema, plan
    conn = default_executor().store._conn()  # the launching thread's connection: the launch writes through it
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        ex = one_gate.launch(execution_name="counted")
    finally:
        conn.set_trace_callback(None)
    # before: a transaction to create the execution, another to open its gate (13 statements)
    assert [s for s in statements if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE"], statements
    assert len(statements) <= 6, statements
    signal = GateRemote.for_sandbox().get_signal("answer", ex.name)
    assert signal.state is SignalState.PENDING and signal.deadline is not None and signal.waiting_since is not None
    assert [e.kind for e in ex.history()] == ["launched", "created", "reached"]
    assert ex.node_states[next(iter(ex.nodes))] is NodeState.WAITING


def test_launch_many_of_1000_writes_one_transaction_per_group_and_each_runs_when_answered() -> None:
    one_gate.launch(execution_name="warm")  # first-use: schema, plan
    conn = default_executor().store._conn()  # the launching thread's connection: the launch writes through it
    statements: list[str] = []
    batch = 300
    conn.set_trace_callback(statements.append)
    try:
        runs = one_gate.launch_many([{}] * 1000, execution_names=[f"bulk-{i}" for i in range(1000)], batch=batch)
    finally:
        conn.set_trace_callback(None)
    # one launch() each: 1,000 transactions
    assert len([s for s in statements if s.startswith("BEGIN")]) <= math.ceil(1000 / batch) == 4, statements[:20]
    assert len([s for s in statements if "INTO executions" in s]) == 1000
    assert [ex.name for ex in runs] == [f"bulk-{i}" for i in range(1000)]
    remote = GateRemote.for_sandbox()
    assert {s.state for s in remote.list_signals(limit=None)} == {SignalState.PENDING}
    for i, ex in enumerate(runs):
        assert ex.node_states[next(iter(ex.nodes))] is NodeState.WAITING
        remote.set_input("answer", ex.name, i)
    assert [ex.wait(timeout=30) for ex in runs] == list(range(1000))
    assert all(ex.status is ExecutionStatus.SUCCEEDED for ex in runs)


def test_a_first_gate_answered_before_the_engine_reaches_it_resumes() -> None:
    remote = GateRemote.for_sandbox()
    answered: list[int] = []

    def answer_when_stored(events: list[Any]) -> None:  # runs in the launch, after its commit, before the reach
        if not answered and any(e.kind == "reached" and e.execution_id.name == "early" for e in events):
            answered.append(1)
            remote.set_input("answer", "early", 7)

    unsubscribe = default_executor().store.subscribe(answer_when_stored)
    try:
        ex = one_gate.launch(execution_name="early")
    finally:
        unsubscribe()
    assert answered and ex.wait(timeout=10) == 7
    assert [e.kind for e in ex.history()].count("set") == 1
