"""Waits: the one owner of which gate waits for which signal, and of its deadline."""
from __future__ import annotations

import threading
from datetime import timedelta

from gatewidgets import GateRemote, SignalState, task, wait_for_input, workflow


@task
def plus(x: int, y: int) -> int:
    return x + y


@workflow
def answered(x: int) -> int:
    return plus(x=x, y=wait_for_input("y", timeout=timedelta(seconds=0.5), expected_type=int, default=100))


def test_an_answer_takes_the_wait_off_with_its_deadline_which_then_never_fires() -> None:
    ex = answered.launch(x=1)
    signal = ex.reached("y").wait(10)
    waits = ex.executor.waits
    assert len(waits) == 1 and signal.deadline is not None
    GateRemote.for_sandbox().set_input("y", ex.name, 5)
    assert ex.wait(timeout=10) == 6
    assert len(waits) == 0
    later = threading.Event()  # the timer thread runs callbacks in order: this one comes after the deadline's
    waits.timers.schedule(signal.deadline + timedelta(seconds=0.1), later.set)
    assert later.wait(10)
    assert [e.kind for e in ex.history() if e.kind == "timed_out"] == []
    assert GateRemote.for_sandbox().get_signal("y", ex.name).state is SignalState.SET


def test_a_deadline_takes_the_wait_off_and_resolves_the_gate_once() -> None:
    ex = answered.launch(x=1)
    assert ex.wait(timeout=10) == 101  # the default, at the deadline
    assert len(ex.executor.waits) == 0
    assert [e.kind for e in ex.history()].count("timed_out") == 1


def test_an_ending_execution_takes_its_waits_off() -> None:
    ex = answered.launch(x=1)
    ex.reached("y").wait(10)
    assert len(ex.executor.waits) == 1
    ex.abort()
    assert len(ex.executor.waits) == 0
    assert GateRemote.for_sandbox().get_signal("y", ex.name).state is SignalState.CANCELLED
