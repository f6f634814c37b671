"""GateNotifier and the parts of the execution view that come from durability: history, branches, dynamic nodes."""
from __future__ import annotations

import threading

from helpers import eventually, node_id

from gatewidgets import GateRemote, approve, conditional, dynamic, task, wait_for_input, workflow
from gatewidgets.widgets import ExecutionWidget, GateNotifier, GateWidget


@task
def double(x: int) -> int:
    return x * 2


@workflow
def gated(x: int) -> int:
    return approve(double(x=x), "ok", timeout=None)


release = threading.Event()


@task
def held(x: int) -> int:
    release.wait(10)
    return x * 2


@workflow
def later(x: int) -> int:
    return approve(held(x=x), "ok", timeout=None)


def test_execution_widget_announces_gates_that_start_waiting(monkeypatch) -> None:
    sent: list[dict] = []
    monkeypatch.setattr(GateNotifier, "send", lambda self, content, buffers=None: sent.append(content))
    release.clear()
    ex = later.launch(x=2, execution_name="notify-me")
    view = ExecutionWidget(ex)
    try:
        assert sent == []
        release.set()  # the gate is reached while the view is on screen (or not)
        eventually(lambda: sent)
        assert sent[0]["type"] == "waiting" and "'ok'" in sent[0]["text"] and "notify-me" in sent[0]["text"]
        assert view.notifier in view.children
        view.gate("ok").approve()
        assert ex.wait(timeout=10) == 4
    finally:
        view.close()


def test_notifier_has_its_esm_and_settings() -> None:
    notifier = GateNotifier(toast_ms=500)
    assert "IntersectionObserver" in notifier._esm and "gatewidgets-toast" in notifier._esm
    assert notifier.toast_ms == 500 and notifier.always is False


def test_gate_card_shows_collapsible_history() -> None:
    ex = gated.launch(x=1)
    eventually(lambda: ex.signals()[0].state.value == "PENDING")
    card = GateWidget(ex.signals()[0])
    try:
        assert "history (2 events)" in card.history.value
        GateRemote.for_sandbox(user="zoe").with_face("cli").approve("ok", ex.name)
        eventually(lambda: "history (3 events)" in card.history.value)
        assert "<details>" in card.history.value and "zoe" in card.history.value and ">cli<" in card.history.value
    finally:
        card.close()
    ex.wait(timeout=10)


def test_dag_shows_skipped_branch_and_expanded_dynamic_nodes() -> None:
    @dynamic
    def fan(n: int) -> list[int]:
        return [double(x=i) for i in range(n)]

    @task
    def total(xs: list[int]) -> int:
        return sum(xs)

    @workflow
    def shaped(n: int) -> int:
        go = wait_for_input("go", timeout=None, expected_type=bool)
        return conditional("go?").if_(go.is_true()).then(total(xs=fan(n=n))).else_().then(double(x=n))

    ex = shaped.launch(n=3)
    view = ExecutionWidget(ex)
    try:
        GateRemote.for_sandbox().set_input("go", ex.name, True)
        assert ex.wait(timeout=10) == 6
        fan_children = [nid for nid, node in ex.nodes.items() if node.parent == node_id(ex, "fan")]
        assert len(fan_children) == 4  # three doubles and the result
        eventually(lambda: all(f'data-node="{nid}"' in view.dag.value for nid in fan_children))  # drawn
        svg = view.dag.value
        assert 'data-state="SKIPPED"' in svg  # the else branch
        assert svg.count('data-state="SUCCEEDED"') >= 7
    finally:
        view.close()


def test_notify_setting_turns_announcements_off(monkeypatch) -> None:
    from gatewidgets.settings import settings

    sent: list[dict] = []
    monkeypatch.setattr(GateNotifier, "send", lambda self, content, buffers=None: sent.append(content))
    monkeypatch.setattr(settings, "notify", False)
    release.clear()
    ex = later.launch(x=1, execution_name="quiet")
    view = ExecutionWidget(ex)
    try:
        release.set()
        eventually(lambda: "ok" in view.cards)
        assert sent == []
        view.gate("ok").approve()
        assert ex.wait(timeout=10) == 2
    finally:
        view.close()
