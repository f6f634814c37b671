"""GateWidget: approve/reject, typed submit, uploads, sleep, errors, decided elsewhere."""
from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta

import pytest
import traitlets
from _team_workflow import team_wf
from helpers import eventually

from gatewidgets import (
    GateFile,
    GateRejectedError,
    GateRemote,
    SignalState,
    approve,
    sleep,
    task,
    wait_for_input,
    workflow,
)
from gatewidgets.errors import GateError
from gatewidgets.settings import settings
from gatewidgets.store.sqlite import SqliteStore
from gatewidgets.widgets import ExecutionWidget, GateWidget, SignalDashboard, StoredExecutionWidget


@task
def double(v: int) -> int:
    return v * 2


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def read_file(f: GateFile) -> str:
    with open(f.path, "rb") as fh:
        return fh.read().decode()


@workflow
def approval_wf(a: int) -> int:
    return approve(double(v=a), "ok", timeout=timedelta(minutes=5), description="Pay **this**?")


@workflow
def number_wf(a: int) -> int:
    n = wait_for_input("n", timeout=None, expected_type=int)
    return add(a=a, b=n)


@workflow
def file_wf() -> str:
    return read_file(f=wait_for_input("doc", timeout=None, expected_type=GateFile))


@dataclass
class Point:
    x: int
    y: int


@task
def where(p: Point) -> str:
    return f"{type(p).__name__} {p.x},{p.y}"


@workflow
def point_wf() -> str:
    return where(p=wait_for_input("at", timeout=None, expected_type=Point))


@workflow
def sleep_wf() -> None:
    sleep(timedelta(minutes=10), name="nap")


@workflow
def spaced_wf() -> int:
    return approve(double(v=1), "pay <now> & then", timeout=None)


def pending(ex, signal_id: str):
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal(signal_id, ex.name).state is SignalState.PENDING)
    return remote.get_signal(signal_id, ex.name)


def test_card_header_names_the_gate_not_its_node_id():
    ex = approval_wf.launch(a=4)
    signal = pending(ex, "ok")
    card = GateWidget(signal)
    shown = re.sub(r"<[^>]*>", "", card.header.value)  # what a reader sees (the tooltip aside)
    assert shown.startswith("ok ") and ex.name in shown
    assert not re.search(r"\bn\d+\b", shown) and "node" not in shown
    assert f'title="node {signal.node_id}"' in card.header.value  # the internal id, on hover only
    ex.abort()


def test_approve_button_resumes_execution_and_freezes_card():
    ex = approval_wf.launch(a=4)
    card = GateWidget(pending(ex, "ok"))
    assert "<strong>this</strong>" in card.description.value
    assert "PENDING" in card.header.value and "ok" in card.header.value
    assert "time left" in card.timing.value
    card.buttons["Approve"].click()
    assert ex.wait(timeout=10) == 8
    stored = GateRemote.for_sandbox().get_signal("ok", ex.name)
    assert stored.state is SignalState.SET and stored.value is True and stored.via.value == "widget"
    assert card.buttons["Approve"].disabled and card.buttons["Reject"].disabled
    assert "approved" in card.decided.value and "widget" in card.decided.value
    assert card.controls.layout.display == "none"


def test_reject_from_code_fails_execution():
    ex = approval_wf.launch(a=1)
    card = GateWidget(pending(ex, "ok"))
    assert card.reject() is not None
    with pytest.raises(GateRejectedError):
        ex.wait(timeout=10)
    assert "rejected" in card.decided.value


def test_int_field_submit_and_invalid_text_sets_nothing():
    ex = number_wf.launch(a=1)
    card = GateWidget(pending(ex, "n"))
    assert card.submit("not a number") is None
    assert "not a whole number" in card.error_text
    assert GateRemote.for_sandbox().get_signal("n", ex.name).state is SignalState.PENDING
    card.control.field.value = 41
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == 42
    assert card.error_text == ""
    assert "41" in card.decided.value


def test_upload_is_stored_as_file_and_read_by_task(tmp_path):
    ex = file_wf.launch()
    card = GateWidget(pending(ex, "doc"))
    card.upload.set_state({"value": [{"name": "receipt.txt", "type": "text/plain", "size": 5,
                                      "last_modified": 0, "content": memoryview(b"hello")}]})
    assert "receipt.txt (5 bytes)" in card.preview.value and "hello" in card.preview.value
    assert GateRemote.for_sandbox().get_signal("doc", ex.name).state is SignalState.PENDING  # a look first
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == "hello"
    stored = GateRemote.for_sandbox().get_signal("doc", ex.name)
    assert stored.state is SignalState.SET and stored.value.name == "receipt.txt"
    assert "receipt.txt" in card.decided.value


def test_file_path_field_rejects_missing_then_accepts(tmp_path):
    ex = file_wf.launch()
    card = GateWidget(pending(ex, "doc"))
    card.path.value = str(tmp_path / "missing.txt")
    assert card.buttons["Submit"].disabled
    assert card.submit() is None
    assert "No readable file" in card.error_text
    assert GateRemote.for_sandbox().get_signal("doc", ex.name).state is SignalState.PENDING
    real = tmp_path / "real.txt"
    real.write_text("on disk")
    card.path.value = str(real)
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == "on disk"


def test_sleep_end_now():
    ex = sleep_wf.launch()
    card = GateWidget(pending(ex, "nap"))
    assert "ends in" in card.timing.value
    card.buttons["End now"].click()
    assert ex.wait(timeout=10) is None
    assert GateRemote.for_sandbox().get_signal("nap", ex.name).state is SignalState.SET


def test_card_freezes_when_set_elsewhere_and_shows_who():
    ex = number_wf.launch(a=0)
    card = GateWidget(pending(ex, "n"))
    GateRemote.for_sandbox(user="carol").with_face("cli").set_input("n", ex.name, 7)
    eventually(lambda: card.state is SignalState.SET)
    assert "carol via cli" in card.decided.value
    assert card.buttons["Submit"].disabled
    assert ex.wait(timeout=10) == 7
    # a late click shows why nothing happened
    assert card.submit(8) is None
    assert "already" in card.error_text.lower()


def test_card_sees_other_process(gatewidgets_store):
    import subprocess
    import sys

    ex = number_wf.launch(a=2)
    card = GateWidget(pending(ex, "n"))
    code = ("from gatewidgets import GateRemote; "
            f"GateRemote.for_sandbox(user='dave').with_face('cli').set_input('n', {ex.name!r}, 5)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    eventually(lambda: card.state is SignalState.SET, timeout=10)
    assert "dave via cli" in card.decided.value
    assert ex.wait(timeout=10) == 7


def test_a_dataclass_value_stays_the_dataclass_after_its_execution_ends(gatewidgets_store):
    """The execution's live types go when it ends; this process still defines ``point_wf``, so
    its stored value decodes to ``Point`` (remote, listing, the card's refresh, another store
    object); a process without the definition gets the plain dict."""
    ex = point_wf.launch()
    card = GateWidget(pending(ex, "at"))
    assert card.submit(Point(3, 4)) is not None
    assert ex.wait(timeout=10) == "Point 3,4"
    remote = GateRemote.for_sandbox()
    got = remote.get_signal("at", ex.name).value
    assert isinstance(got, Point) and got == Point(3, 4)
    assert [s.value for s in remote.list_signals(ex.name)] == [Point(3, 4)]
    refreshed = card.refresh()
    assert isinstance(refreshed.value, Point) and "Point(x=3, y=4)" in card.decided.value
    store = SqliteStore(gatewidgets_store)  # another store object of this process
    try:
        assert isinstance(GateRemote(store=store).get_signal("at", ex.name).value, Point)
    finally:
        store.close()
    code = ("import json, sys; from gatewidgets import GateRemote; "
            "v = GateRemote.for_sandbox().get_signal('at', sys.argv[1]).value; "
            "print(json.dumps([type(v).__name__, v]))")
    out = subprocess.run([sys.executable, "-c", code, ex.name], capture_output=True, text=True, check=True,
                         timeout=60)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["dict", {"x": 3, "y": 4}]


@pytest.mark.parametrize("build", [
    lambda: GateWidget(),  # wrong arguments: __init__ never starts
    lambda: GateWidget(None, layout=5),  # a bad trait: Widget.__init__ raises
    lambda: ExecutionWidget(),
    lambda: ExecutionWidget(None, layout=5),
    lambda: StoredExecutionWidget(),
    lambda: StoredExecutionWidget("no-such-execution", layout=5),
    lambda: StoredExecutionWidget("no-such-execution"),  # raises after subscribing (and closes itself)
    lambda: SignalDashboard(1, 2, 3, 4),
    lambda: SignalDashboard(layout=5),
], ids=["card-args", "card-trait", "execution-args", "execution-trait", "stored-args", "stored-trait",
        "stored-unknown", "dashboard-args", "dashboard-trait"])
def test_a_widget_whose_init_raised_is_finalised_quietly(build, monkeypatch) -> None:
    """ipywidgets' ``__del__`` closes every widget, also one whose ``__init__`` raised, wherever it raised
    (a card of an unknown gate kind: ``test_kinds.py``)."""
    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(f"{u.exc_type.__name__}: {u.exc_value}"))
    with pytest.raises((TypeError, traitlets.TraitError, GateError)):
        build()
    gc.collect()
    assert unraisable == []


INBOX = "https://hub.example.org/user/alice/"


def test_a_pending_decision_links_to_its_inbox_page_until_it_is_decided(no_inbox_base):
    settings.public_url = INBOX
    ex = approval_wf.launch(a=4)
    card = GateWidget(pending(ex, "ok"))
    url = f"{INBOX}gatewidgets/inbox/{ex.id.project}/{ex.id.domain}/{ex.name}/ok"
    assert card.inbox.value == (f'<a class="gw-inbox-link" href="{url}" target="_blank" rel="noopener noreferrer">'
                                "Review in inbox ↗</a>")
    card.buttons["Approve"].click()
    assert ex.wait(timeout=10) == 8
    assert card.inbox.value == ""  # decided: nothing left to review


def test_the_inbox_link_is_quoted_and_escaped(no_inbox_base):
    settings.public_url = 'https://hub.example.org/a"b/'  # a URL may hold a quote: the attribute stays closed
    ex = spaced_wf.launch()
    card = GateWidget(pending(ex, "pay <now> & then"))
    assert (f'href="https://hub.example.org/a&quot;b/gatewidgets/inbox/{ex.id.project}/{ex.id.domain}/{ex.name}/'
            'pay%20%3Cnow%3E%20%26%20then"') in card.inbox.value
    ex.abort()


def test_a_hub_kernel_links_under_its_servers_prefix(no_inbox_base, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    ex = number_wf.launch(a=1)
    card = GateWidget(pending(ex, "n"))
    assert f'href="/user/alice/gatewidgets/inbox/{ex.id.project}/{ex.id.domain}/{ex.name}/n"' in card.inbox.value
    ex.abort()


def test_no_inbox_link_without_a_known_address_nor_for_a_sleep(no_inbox_base):
    ex = approval_wf.launch(a=4)
    card = GateWidget(pending(ex, "ok"))
    assert card.inbox.value == ""  # a plain server's kernel does not know where its server is
    settings.public_url = INBOX
    nap = sleep_wf.launch()
    assert GateWidget(pending(nap, "nap")).inbox.value == ""  # a sleep ends by itself: no decision
    ex.abort()
    nap.abort()


# -- who may answer (a policy) -------------------------------------------------------------------------------
@workflow
def own_wf(a: int) -> int:
    return approve(double(v=a), "ok", timeout=timedelta(minutes=5), assignees=["alice", "bob"],
                   self_approval=False)


def as_user(monkeypatch, user: str) -> None:
    """Run what follows as ``user``: the kernel of a hub's notebook server (``Identity.of_process()``)."""
    monkeypatch.setenv("JUPYTERHUB_USER", user)


def live(card: GateWidget) -> list[str]:
    """The buttons a user can click on ``card``: shown and enabled, its controls visible."""
    if card.controls.layout.display == "none":
        return []
    return [b.description for b in card._button_row.children if not b.disabled]


def text(value: str) -> str:
    return re.sub(r"<[^>]*>", "", value)


def test_the_launcher_sees_why_not_an_assignee_approves_and_both_cards_count_live(monkeypatch):
    as_user(monkeypatch, "alice")
    ex = team_wf.launch(a=2)
    signal = pending(ex, "ok")
    mine = GateWidget(signal)
    assert live(mine) == []  # no button: the launcher may not approve, and is no assignee to reject
    shown = text(mine.standing.value)
    assert "may answer: bob, carol · 2 approvals · no self-approval" in shown
    assert "0 of 2 — waiting for bob, carol" in shown
    assert "alice may not approve: alice launched this execution and self-approval is off" in shown
    assert mine.decision is not None and mine.decision.blocked
    # a click from code is refused by the store: the card says why and nothing changed
    assert mine.approve() is None
    assert "alice may not approve" in mine.error_text and "self-approval is off" in mine.error_text
    stored = GateRemote.for_sandbox().get_signal("ok", ex.name)
    assert stored.state is SignalState.PENDING and stored.approvals == []
    eventually(lambda: "refused: alice launched this execution and self-approval is off; as hub-env"
               in mine.history.value, timeout=10, what="the refusal in the card's history")

    as_user(monkeypatch, "bob")
    bobs = GateWidget(signal)
    assert live(bobs) == ["Approve", "Reject"] and "gw-why-not" not in bobs.standing.value
    bobs.buttons["Approve"].click()
    assert bobs.error_text == "" and bobs.state is SignalState.PENDING
    assert "1 of 2: bob approved" in text(bobs.standing.value)
    eventually(lambda: "1 of 2: bob approved" in text(mine.standing.value), timeout=10,
               what="the launcher's card to count bob's approval")
    assert live(mine) == []

    as_user(monkeypatch, "carol")
    GateRemote.for_sandbox().with_face("cli").approve("ok", ex.name)
    assert ex.wait(timeout=10) == 4
    eventually(lambda: mine.state is SignalState.SET and bobs.state is SignalState.SET, timeout=10)
    assert "approved by bob" in text(mine.standing.value) and "carol" in text(mine.standing.value)
    assert "may not" not in text(mine.standing.value)  # decided: nobody is told they may not answer


def test_the_launcher_may_still_reject_their_own(monkeypatch):
    as_user(monkeypatch, "alice")
    ex = own_wf.launch(a=1)
    card = GateWidget(pending(ex, "ok"))
    assert live(card) == ["Reject"]
    assert "alice may not approve: alice launched this execution and self-approval is off (may still reject)" \
        in text(card.standing.value)
    card.reject("not ready")
    with pytest.raises(GateRejectedError):
        ex.wait(timeout=10)


def test_a_card_sends_the_evidence_it_showed_and_changed_evidence_is_refused(monkeypatch, gatewidgets_store):
    import sqlite3

    as_user(monkeypatch, "alice")
    ex = team_wf.launch(a=2)
    as_user(monkeypatch, "bob")
    card = GateWidget(pending(ex, "ok"))
    shown = card.current_signal.evidence_hash
    assert shown is not None
    with sqlite3.connect(gatewidgets_store) as db:  # recomputed behind the card's back (a recovery, say)
        db.execute("UPDATE signals SET context=json_set(context, '$.evidence.text', '5') WHERE execution=?",
                   (ex.name,))
    assert card.approve() is None
    assert "the evidence changed since it was shown" in card.error_text and shown in card.error_text
    stored = GateRemote.for_sandbox().get_signal("ok", ex.name)
    assert stored.state is SignalState.PENDING and stored.approvals == []
    assert stored.evidence_hash != shown and card.current_signal.evidence_hash == stored.evidence_hash  # redrawn
    assert card.approve() is not None  # what it shows now
    assert [a.user for a in GateRemote.for_sandbox().get_signal("ok", ex.name).approvals] == ["bob"]
    ex.abort()


@workflow
def escalating_wf() -> int:
    return wait_for_input("n", timeout=None, expected_type=int, assignees=["carol"],
                          escalate_after=timedelta(seconds=3), escalate_to=["dave"])


def test_a_card_comes_alive_when_escalation_adds_its_viewer(monkeypatch):
    as_user(monkeypatch, "dave")
    ex = escalating_wf.launch()
    card = GateWidget(pending(ex, "n"))
    assert live(card) == []
    assert "dave may not set: dave is not an assignee; it may be answered by carol" in text(card.standing.value)
    eventually(lambda: card.controls.layout.display != "none", timeout=10, what="the card to come alive")
    assert "may not" not in text(card.standing.value) and "later also dave" in text(card.standing.value)
    card.control.field.value = "3"
    assert live(card) == ["Submit"]
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == 3
