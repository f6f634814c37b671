"""ExecutionWidget: live status, DAG, gate cards appearing, outputs and errors; display hook."""
from __future__ import annotations

from datetime import timedelta

import pytest
from helpers import eventually

from gatewidgets import GateRejectedError, approve, task, wait_for_input, workflow
from gatewidgets.links import inbox_url
from gatewidgets.settings import settings
from gatewidgets.widgets import ExecutionWidget, execution_widget


@task
def double(v: int) -> int:
    return v * 2


@task
def boom(v: int) -> int:
    raise ValueError(f"boom {v}")


@workflow
def failing(a: int) -> int:
    return boom(v=double(v=a))


@task
def add(a: int, b: int) -> int:
    return a + b


@workflow
def two_gates(a: int) -> int:
    ok = approve(double(v=a), "ok", timeout=timedelta(minutes=5))
    n = wait_for_input("n", timeout=None, expected_type=int)
    return add(a=ok, b=n)


def test_cards_appear_and_answering_them_finishes():
    ex = two_gates.launch(a=2)
    view = ExecutionWidget(ex)
    assert "two_gates" in view.header.value and ex.name in view.header.value
    eventually(lambda: "ok" in view.cards and "n" in view.cards)
    eventually(lambda: 'data-state="WAITING"' in view.dag.value)
    view.gate("ok").buttons["Approve"].click()
    view.gate("n").submit(5)
    assert ex.wait(timeout=10) == 9
    eventually(lambda: "SUCCEEDED" in view.header.value)
    assert "Outputs" in view.result.value and "9" in view.result.value
    eventually(lambda: 'data-state="WAITING"' not in view.dag.value and 'data-state="QUEUED"' not in view.dag.value)
    assert "approved" in view.gate("ok").decided.value


def test_each_pending_decision_links_to_its_inbox_page(no_inbox_base):
    settings.public_url = "https://hub.example.org/user/alice/"
    ex = two_gates.launch(a=2)
    view = ExecutionWidget(ex)
    eventually(lambda: "ok" in view.cards and "n" in view.cards)
    for signal_id in ("ok", "n"):
        url = inbox_url(signal_id, ex.id)
        assert url is not None and url.startswith("https://hub.example.org/user/alice/gatewidgets/inbox/")
        assert f'href="{url}"' in view.gate(signal_id).inbox.value
    view.gate("ok").approve()
    eventually(lambda: view.gate("ok").inbox.value == "")
    assert "Review in inbox" in view.gate("n").inbox.value  # still waiting
    ex.abort()


def test_gate_finds_a_reached_card_whose_event_has_not_reached_the_view():
    ex = two_gates.launch(a=2)
    view = ExecutionWidget(ex)
    view._unsubscribe()  # as if ex.reached() returned before the gate_waiting event got to the view
    ex.reached("ok", timeout=10).wait(10)
    view.gate("ok").buttons["Approve"].click()
    assert "ok" in view.cards
    ex.abort()


def test_rejection_shows_error_and_cancels_open_cards():
    ex = two_gates.launch(a=1)
    view = ExecutionWidget(ex)
    eventually(lambda: "ok" in view.cards and "n" in view.cards)
    view.gate("ok").reject()
    with pytest.raises(GateRejectedError):
        ex.wait(timeout=10)
    eventually(lambda: "FAILED" in view.header.value)
    assert "GateRejectedError" in view.result.value and "traceback" in view.result.value
    eventually(lambda: "Cancelled" in view.gate("n").decided.value)


def test_task_failure_traceback():
    ex = failing.launch(a=1)
    with pytest.raises(ValueError):
        ex.wait(timeout=10)
    view = ExecutionWidget(ex)  # built after the end: shows it at once
    assert "FAILED" in view.header.value
    assert "boom 2" in view.result.value and "Traceback" in view.result.value
    assert 'data-state="FAILED"' in view.dag.value


def test_execution_displays_as_its_widget():
    """No registration needed: ``Execution._repr_mimebundle_`` builds the (one, cached) widget."""
    from helpers.shell import global_shell

    ip = global_shell()  # not InteractiveShell.instance(): see global_shell
    ex = failing.launch(a=1)
    with pytest.raises(ValueError):
        ex.wait(timeout=10)
    data, _ = ip.display_formatter.format(ex)
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/plain"] == repr(ex)
    assert execution_widget(ex) is execution_widget(ex)


def test_an_execution_shows_as_the_view_subscribed_to_the_engine_display_event() -> None:
    from gatewidgets.engine import events
    from gatewidgets.widgets import display

    assert display.execution_mimebundle in list(events.display)  # gatewidgets subscribed the widget's view
    ex = failing.launch(a=1)
    with pytest.raises(ValueError):
        ex.wait(timeout=10)
    events.display.unsubscribe(display.execution_mimebundle)
    shown: list[object] = []

    def view(e, include, exclude):
        shown.append(e)
        return {"text/plain": "mine"}

    try:
        assert ex._repr_mimebundle_() == {"text/plain": repr(ex)}  # no face: plain text
        events.display.subscribe(view)
        assert ex._repr_mimebundle_() == {"text/plain": "mine"} and shown == [ex]
    finally:
        events.display.unsubscribe(view)
        events.display.subscribe(display.execution_mimebundle)


@workflow
def team_gates(a: int) -> int:
    ok = approve(double(v=a), "ok", timeout=timedelta(minutes=5), assignees=["bob", "carol"], quorum=2)
    n = wait_for_input("n", timeout=None, expected_type=int, assignees=["alice"])
    return add(a=ok, b=n)


def test_the_cards_of_an_execution_say_who_may_answer_and_where_it_stands(monkeypatch):
    from gatewidgets import GateRemote

    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    ex = team_gates.launch(a=2)
    view = ExecutionWidget(ex)
    eventually(lambda: "ok" in view.cards and "n" in view.cards)
    ok, n = view.gate("ok"), view.gate("n")
    assert "0 of 2 — waiting for bob, carol" in ok.standing.value
    assert "alice may not approve or reject: alice is not an assignee; it may be answered by bob, carol" \
        in ok.standing.value
    assert ok.controls.layout.display == "none" and n.controls.layout.display != "none"  # alice answers n
    for user in ("bob", "carol"):
        GateRemote.for_sandbox(user=user).with_face("cli").approve("ok", ex.name)
        if user == "bob":
            eventually(lambda: "1 of 2: bob approved" in ok.standing.value, what="the count on the card")
    n.submit(5)
    assert ex.wait(timeout=10) == 9
