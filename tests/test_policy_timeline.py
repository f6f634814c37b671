"""A waiting gate's timeline (gatewidgets.engine.reminders): ``remind_every`` re-sends its notification (the store's
``reminded`` event: webhooks, ``notify.on``, the notebook's toast) until it is decided, times out or is cancelled;
``escalate_after`` adds ``escalate_to`` once, announced and kept in the history. Recovery: tests/test_recovery.py."""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
from helpers import eventually

from gatewidgets import GateRemote, NodeState, approve, notify, task, wait_for_input, workflow
from gatewidgets.engine import default_executor
from gatewidgets.engine.reminders import Timeline
from gatewidgets.engine.state import ExecutionEvent
from gatewidgets.errors import GateForbiddenError
from gatewidgets.models.execution import WorkflowExecutionIdentifier
from gatewidgets.models.policy import Policy
from gatewidgets.models.signal import SignalEvent
from gatewidgets.settings import settings
from gatewidgets.store.base import now

EVERY = 0.25  # seconds between reminders


def reminding_gate(timeout: float) -> Any:
    return wait_for_input("n", timeout=timedelta(seconds=timeout), expected_type=int, remind_every=EVERY,
                          assignees=["alice", "@ops"])


@workflow
def reminding() -> int:
    return reminding_gate(60.0)


@workflow
def reminding_briefly() -> int:
    return reminding_gate(1.2)


@task
def report() -> int:
    return 41


@workflow
def escalating() -> int:
    return approve(report(), "release", timeout=timedelta(seconds=30), assignees=["alice"], escalate_after=1.5,
                   escalate_to=["@boss"])


@workflow
def quiet() -> int:
    return wait_for_input("q", timeout=timedelta(hours=1), expected_type=int, assignees=["alice"], quorum=1)


def kinds_of(name: str, signal_id: str) -> list[str]:
    return [e.kind for e in GateRemote.for_sandbox().history(name, signal_id=signal_id)]


@pytest.fixture
def hook() -> Iterator[list[dict[str, Any]]]:
    """A local HTTP server collecting the webhook's JSON bodies, and a webhook of this process posting to it."""
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    notifier = notify.webhook(f"http://127.0.0.1:{server.server_address[1]}/hook", events="waiting")
    try:
        yield bodies
    finally:
        notifier.close()
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, gatewidgets_store: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store of the test: its SQLite file, or a fresh PostgreSQL database."""
    if request.param == "postgres":
        monkeypatch.setenv("GATEWIDGETS_STORE", request.getfixturevalue("postgres_url"))
    return request.param


def test_a_waiting_gate_is_reminded_every_interval_until_it_is_decided(backend: str,
                                                                        hook: list[dict[str, Any]]) -> None:
    heard: list[notify.Notification] = []
    stop = notify.on("waiting", heard.append)
    ex = reminding.launch(execution_name="remind")
    toasts: list[ExecutionEvent] = []
    ex.subscribe(lambda e: toasts.append(e) if e.kind == "gate_waiting" else None)  # what the notebook toasts
    try:
        eventually(lambda: kinds_of("remind", "n").count("reminded") >= 3, timeout=15, what="three reminders")
        history = GateRemote.for_sandbox().history("remind", signal_id="n")
        reminded = [e for e in history if e.kind == "reminded"]
        assert [e.detail["reminder"] for e in reminded][:3] == [1, 2, 3]
        assert reminded[0].detail["assignees"] == ["alice", "@ops"] and reminded[0].state == "PENDING"
        gaps = [(b.at - a.at).total_seconds() for a, b in zip(reminded, reminded[1:])]
        assert all(gap >= EVERY * 0.9 for gap in gaps), gaps  # one per interval, never a burst
        eventually(lambda: len([n for n in heard if n.reason == "reminder"]) >= 3, timeout=10,
                   what="the reminders announced")
        assert heard[0].reason is None and heard[0].signal.signal_id == "n"  # the first: the gate reached
        assert "Reminder:" in notify.Notification("waiting", heard[-1].signal, "reminder").to_json()["text"]
        eventually(lambda: len([b for b in hook if b["reason"] == "reminder"]) >= 3, timeout=10,
                   what="the webhook's reminders")
        body = next(b for b in hook if b["reason"] == "reminder")
        assert body["event"] == "waiting" and body["assignees"] == ["alice", "@ops"]
        assert body["signal"]["signal_id"] == "n" and body["text"].startswith("Reminder: Gate 'n'")
        assert len(toasts) >= 2  # the execution's listeners (the notebook's notifier) hear the gate waiting again
        GateRemote.for_sandbox(user="alice").set_input("n", "remind", 5)
        assert ex.wait(timeout=10) == 5
        count = kinds_of("remind", "n").count("reminded")
        time.sleep(EVERY * 4)  # several intervals after the decision: nothing more
        kinds = kinds_of("remind", "n")
        assert kinds.count("reminded") == count and kinds[-1] == "set"
        assert not default_executor().waits._follow_ups  # its timer went with its wait
    finally:
        stop()


def test_reminders_stop_when_the_gate_times_out() -> None:
    ex = reminding_briefly.launch(execution_name="remind-timeout")
    with pytest.raises(TimeoutError):
        ex.wait(timeout=15)
    kinds = kinds_of("remind-timeout", "n")
    assert kinds[-1] == "timed_out" and 2 <= kinds.count("reminded") <= 5, kinds
    time.sleep(EVERY * 4)
    assert kinds_of("remind-timeout", "n") == kinds


def test_reminders_stop_when_the_execution_is_cancelled() -> None:
    ex = reminding.launch(execution_name="remind-abort")
    eventually(lambda: "reminded" in kinds_of("remind-abort", "n"), timeout=10, what="a reminder")
    ex.abort()
    eventually(lambda: kinds_of("remind-abort", "n")[-1] == "cancelled", timeout=10, what="the gate cancelled")
    kinds = kinds_of("remind-abort", "n")
    time.sleep(EVERY * 4)
    assert kinds_of("remind-abort", "n") == kinds
    assert not default_executor().waits._follow_ups


def test_escalation_adds_its_assignees_once_and_announces_it() -> None:
    settings.groups = {"boss": ["bob"]}
    heard: list[notify.Notification] = []
    stop = notify.on("waiting", heard.append)
    try:
        ex = escalating.launch(execution_name="esc")
        bob = GateRemote.for_sandbox(user="bob")
        waiting = eventually(lambda: GateRemote.for_sandbox().get_signal("release", "esc").waiting_since, timeout=10,
                             what="the approval to wait")
        if now() < waiting + timedelta(seconds=1):  # well before its escalation, bob may not answer
            with pytest.raises(GateForbiddenError, match="alice"):
                bob.approve("release", "esc")
        eventually(lambda: "escalated" in kinds_of("esc", "release"), timeout=10, what="the escalation")
        escalated = [e for e in GateRemote.for_sandbox().history("esc", signal_id="release") if e.kind == "escalated"]
        assert len(escalated) == 1 and escalated[0].detail == {"added": ["@boss"], "after": 1.5,
                                                                 "assignees": ["alice", "@boss"]}
        eventually(lambda: any(n.reason == "escalation" for n in heard), timeout=10, what="the escalation announced")
        note = next(n for n in heard if n.reason == "escalation")
        assert note.to_json()["assignees"] == ["alice", "@boss"]
        assert note.to_json()["text"].startswith("Escalated to @boss (bob): Gate 'release' of execution 'esc'")
        bob.approve("release", "esc")
        assert ex.wait(timeout=10) == 41
        kinds = kinds_of("esc", "release")
        assert kinds.count("escalated") == 1 and kinds.index("escalated") < kinds.index("set")
        assert GateRemote.for_sandbox().get_signal("release", "esc").set_by == "bob"
    finally:
        stop()
        del settings.groups


def test_gates_without_reminders_schedule_nothing_and_read_no_history() -> None:
    store = default_executor().store
    reads: list[Any] = []
    history = store.history
    store.history = lambda *a, **k: reads.append(a) or history(*a, **k)  # type: ignore[method-assign]
    try:
        runs = [quiet.launch(execution_name=f"quiet-{i}") for i in range(200)]
        eventually(lambda: all(r.nodes_by_name["q"] is NodeState.WAITING for r in runs), timeout=30,
                   what="every gate to wait")
    finally:
        del store.history  # type: ignore[method-assign]
    waits = default_executor().waits
    assert not waits._follow_ups and not reads
    assert len(waits.timers._heap) == 200  # their deadlines only


def test_a_timeline_resumes_from_its_history_with_one_step_of_each_kind_at_most() -> None:
    start = now() - timedelta(hours=10)
    policy = Policy(assignees=("alice",), remind_every=3600.0, escalate_after=7200.0, escalate_to=("@boss",))
    key = WorkflowExecutionIdentifier("p", "d", "e")

    def event(kind: str, hours: float) -> SignalEvent:
        return SignalEvent(1, start + timedelta(hours=hours), key, "n", "n0", kind, "PENDING", None, None, None)

    fresh = Timeline.of(policy, start, [event("reached", 0)])
    assert fresh.next_at() == start + timedelta(hours=1)
    # ten hours later, with nothing recorded: one escalation and one reminder, not ten reminders
    assert fresh.due(now()) == [("escalated", {"added": ["@boss"], "after": 7200.0, "assignees": ["alice", "@boss"]}),
                                ("reminded", {"reminder": 1, "assignees": ["alice", "@boss"]})]
    resumed = Timeline.of(policy, start, [event("reminded", 1), event("escalated", 2), event("reminded", 2)])
    assert (resumed.reminders, resumed.escalated, resumed.last_reminder) == (2, True, start + timedelta(hours=2))
    assert resumed.next_at() == start + timedelta(hours=3)
    assert resumed.due(start + timedelta(hours=2, minutes=59)) == []
    assert [kind for kind, _ in resumed.due(now())] == ["reminded"]
    after = resumed.after(resumed.due(now()), now())
    assert after.reminders == 3 and after.next_at() > now() + timedelta(minutes=59)
    assert not Timeline.wanted(Policy(assignees=("alice",))) and not Timeline.wanted(None)
    assert Timeline.of(Policy(escalate_after=60.0, escalate_to=("bob",)), start, []).next_at() == \
        start + timedelta(minutes=1)
