"""SignalDashboard: pending signals across executions as compact rows that expand to cards; filters, sorting,
grouping, counts per state, paging, live refresh."""
from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from helpers import eventually

from gatewidgets import GateRemote, SignalState, task, wait_for_input, workflow
from gatewidgets.widgets import GateWidget, SignalDashboard

pytestmark = pytest.mark.usefixtures("each_store")  # on SQLite and on PostgreSQL


@task
def add(a: int, b: int) -> int:
    return a + b


@workflow
def three(a: int) -> int:
    x = wait_for_input("x", timeout=None, expected_type=int)
    y = wait_for_input("y", timeout=None, expected_type=int)
    z = wait_for_input("z", timeout=None, expected_type=int)
    return add(a=add(a=x, b=y), b=add(a=z, b=a))


def launch(n: int):
    executions = [three.launch(a=i) for i in range(n)]
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.count_signals(filters="eq(state,PENDING)") == 3 * n)
    return executions


def test_paging_count_and_rows():
    launch(3)
    board = SignalDashboard(page_size=4)
    assert board.total == 9 and board.pages == 3
    assert len(board.list.rows) == 4 and "<b>9</b>" in board.count.value
    assert board.cards == {} and board.cards_box.children == ()  # no card is built before a row is expanded
    assert board.prev_button.disabled and not board.next_button.disabled
    board.next_button.click()
    assert board.page == 1 and len(board.list.rows) == 4
    board.next_button.click()
    assert len(board.list.rows) == 1 and board.next_button.disabled
    board.go(99)
    assert board.page == 2


def test_filters_by_execution_and_state():
    executions = launch(2)
    board = SignalDashboard()
    board.execution_filter.value = executions[1].name
    assert board.total == 3
    assert {s.execution_name for s in board.signals()} == {executions[1].name}
    board.state_filter.value = "SET"
    assert board.total == 0 and board.list.rows == []
    board.execution_filter.value = "no-such-execution"
    assert board.list.rows == [] and "no-such-execution" in board.count.value
    board.execution_filter.value = ""
    board.state_filter.value = "ALL"
    assert board.total == 6


def test_answering_an_expanded_card_removes_its_row_and_finishes_execution():
    (ex,) = launch(1)
    board = SignalDashboard()
    for signal_id in ("x", "y", "z"):
        eventually(lambda signal_id=signal_id: [r["signal"] for r in board.list.rows][:1] == [signal_id])
        board.expand(0).submit(1)
    assert ex.wait(timeout=10) == 3
    eventually(lambda: board.total == 0 and board.list.rows == [])
    assert list(board.cards) == [f"{ex.name}/z"]  # the card answered last stays open, showing the decision
    assert "Decided" in board.card.decided.value


def test_rows_expand_to_their_card_on_click():
    (ex,) = launch(1)
    board = SignalDashboard()
    row = board.list.rows[1]
    assert row["signal"] == "y" and row["execution"] == ex.name and row["workflow"] == "three"
    assert row["state"] == "PENDING" and row["waiting"].endswith("+00:00") and row["deadline"] == ""
    board.list.expanded = row["key"]  # what a click (or Enter) in the browser sends
    card = board.card
    assert isinstance(card, GateWidget) and card.signal_id == "y" and board.cards_box.children == (card,)
    board.list.expanded = ""
    assert board.cards_box.children == ()
    assert board.expand(2) is board.cards[f"{ex.name}/z"]


def test_sorts_groups_and_counts_per_state():
    @workflow
    def deadlines() -> None:
        wait_for_input("late", timeout=timedelta(hours=5), expected_type=int)
        wait_for_input("soon", timeout=timedelta(minutes=5), expected_type=int)
        wait_for_input("never", timeout=None, expected_type=int)

    first, second = launch(2)
    remote = GateRemote.for_sandbox()
    remote.set_input("x", first.name, 1)
    ex = deadlines.launch()
    eventually(lambda: remote.count_signals(ex.name, filters="eq(state,PENDING)") == 3)
    board = SignalDashboard(sort="deadline soonest")
    assert [r["signal"] for r in board.list.rows][:2] == ["soon", "late"]
    assert all(r["deadline"] == "" for r in board.list.rows[2:]) and len(board.list.rows) == 8  # none: last
    board.sort.value = "waiting longest"
    waiting = [r["waiting"] for r in board.list.rows]
    assert waiting == sorted(waiting)
    board.group.value = True
    executions = [r["execution"] for r in board.list.rows]
    assert board.list.grouped and executions == sorted(executions, key=executions.index)  # each group together
    assert len({e: 1 for e in executions}) == 3
    assert "8</span> pending" in board.states.value and "1</span> set" in board.states.value


def test_refreshes_on_changes_from_another_process():
    (ex,) = launch(1)
    board = SignalDashboard(execution_name=ex.name)
    assert board.total == 3
    code = ("from gatewidgets import GateRemote; r = GateRemote.for_sandbox(); "
            f"r.set_input('x', {ex.name!r}, 1)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    eventually(lambda: board.total == 2, timeout=10)
    assert [s.signal_id for s in board.signals()] == ["y", "z"]
    assert [r["signal"] for r in board.list.rows] == ["y", "z"]
    assert all(s.state is SignalState.PENDING for s in board.signals())
    ex.abort()
    eventually(lambda: board.total == 0)


@workflow
def for_bob(a: int) -> int:
    return wait_for_input("x", timeout=None, expected_type=int, assignees=["bob"])


@workflow
def for_carol(a: int) -> int:
    return wait_for_input("x", timeout=None, expected_type=int, assignees=["carol"])


def test_rows_say_whether_i_may_answer_and_waiting_for_me_keeps_only_mine(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "bob")
    mine, other = for_bob.launch(a=1), for_carol.launch(a=2)
    plain = three.launch(a=3)
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.count_signals(filters="eq(state,PENDING)") == 5)
    board = SignalDashboard()
    rows = {r["execution"]: r for r in board.list.rows}
    assert rows[mine.name]["why"] == "" and rows[mine.name]["standing"] == "waiting for bob"
    assert rows[other.name]["why"] == "bob may not set: bob is not an assignee; it may be answered by carol"
    assert rows[other.name]["rules"] == "may answer: carol"
    assert rows[plain.name]["why"] == rows[plain.name]["standing"] == ""  # no policy: anyone
    board.mine.value = True
    assert sorted(r["execution"] for r in board.list.rows) == sorted([mine.name] + [plain.name] * 3)
    assert board.total == 4 and "waiting for bob" in board.count.value
    card = board.expand(0)
    assert card.decision is not None and not card.decision.refused
    board.execution_filter.value = mine.name
    assert [r["execution"] for r in board.list.rows] == [mine.name]
    remote.with_face("cli").set_input("x", mine.name, 1)
    eventually(lambda: board.list.rows == [], what="the answered row to leave 'waiting for me'")
    for ex in (other, plain):
        ex.abort()
