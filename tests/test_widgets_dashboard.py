"""SignalDashboard: pending signals across executions, filters, paging, live refresh."""
from __future__ import annotations

import subprocess
import sys
import time

from gatewidgets import GateRemote, SignalState, task, wait_for_input, workflow
from gatewidgets.widgets import SignalDashboard


@task
def add(a: int, b: int) -> int:
    return a + b


@workflow
def three(a: int) -> int:
    x = wait_for_input("x", timeout=None, expected_type=int)
    y = wait_for_input("y", timeout=None, expected_type=int)
    z = wait_for_input("z", timeout=None, expected_type=int)
    return add(a=add(a=x, b=y), b=add(a=z, b=a))


def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def launch(n: int):
    executions = [three.launch(a=i) for i in range(n)]
    remote = GateRemote.for_sandbox()
    until(lambda: remote.count_signals(filters="eq(state,PENDING)") == 3 * n)
    return executions


def test_paging_count_and_cards():
    launch(3)
    board = SignalDashboard(page_size=4)
    assert board.total == 9 and board.pages == 3
    assert len(board.cards) == 4 and "<b>9</b>" in board.count.value
    assert board.prev_button.disabled and not board.next_button.disabled
    board.next_button.click()
    assert board.page == 1 and len(board.cards) == 4
    board.next_button.click()
    assert len(board.cards) == 1 and board.next_button.disabled
    board.go(99)
    assert board.page == 2


def test_filters_by_execution_and_state():
    executions = launch(2)
    board = SignalDashboard()
    board.execution_filter.value = executions[1].name
    assert board.total == 3
    assert {s.execution_name for s in board.signals()} == {executions[1].name}
    board.state_filter.value = "SET"
    assert board.total == 0 and board.cards == []
    board.execution_filter.value = "no-such-execution"
    assert board.cards == [] and "no-such-execution" in board.count.value
    board.execution_filter.value = ""
    board.state_filter.value = "ALL"
    assert board.total == 6


def test_answering_a_card_removes_it_and_finishes_execution():
    (ex,) = launch(1)
    board = SignalDashboard()
    for card in list(board.cards):
        card.submit(1)
    assert ex.wait(timeout=10) == 3
    until(lambda: board.total == 0 and board.cards == [])


def test_refreshes_on_changes_from_another_process():
    (ex,) = launch(1)
    board = SignalDashboard(execution_name=ex.name)
    assert board.total == 3
    code = ("from gatewidgets import GateRemote; r = GateRemote.for_sandbox(); "
            f"r.set_input('x', {ex.name!r}, 1)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    until(lambda: board.total == 2, timeout=10)
    assert [s.signal_id for s in board.signals()] == ["y", "z"]
    assert all(s.state is SignalState.PENDING for s in board.signals())
    ex.abort()
    until(lambda: board.total == 0)
