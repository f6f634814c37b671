"""The approvers' inbox in Chromium: two users (alice, bob) on one real jupyter_server, each logged in with a token."""
from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _inbox_workflows import for_alice, for_bob, for_both, typed
from _jupyter_server import Server, call
from _two_users import running_users_server
from helpers import eventually

from gatewidgets import GateRejectedError, GateRemote, SignalState

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ALICE, BOB = secrets.token_hex(8), secrets.token_hex(8)
INBOX = "/gatewidgets/inbox"


@pytest.fixture(scope="module")
def server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_users_server(tmp_path_factory.mktemp("inbox"), {"alice": ALICE, "bob": BOB}) as running:
        yield running


@pytest.fixture
def alice(browser: Any, server: Server) -> Iterator[Any]:
    """Alice's page on the inbox (logged in by her token in the URL; her cookie does the rest)."""
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


def waiting(wf: Any, signal: str, **inputs: Any) -> Any:
    ex = wf.launch(**inputs)
    eventually(lambda: GateRemote.for_sandbox().get_signal(signal, ex.name).state is SignalState.PENDING,
               timeout=30, what=f"{signal} to wait")
    return ex


def card(page: Any, ex: Any, signal: str) -> Any:
    return page.locator(f'#gw-list [data-key="default/development/{ex.name}/{signal}"] .gw-card')


def open_inbox(page: Any, server: Server, token: str = ALICE) -> None:
    page.goto(f"{server.url}{INBOX}?token={token}")
    page.locator("#gw-live", has_text="live").wait_for()


def test_lists_only_mine_approve_by_keyboard_and_reject_with_a_reason(alice: Any, server: Server) -> None:
    paid, refused = waiting(for_alice, "pay", a=1), waiting(for_alice, "pay", a=2)
    bobs = waiting(for_bob, "bob-only", a=3)
    open_inbox(alice, server)
    card(alice, paid, "pay").wait_for()
    card(alice, refused, "pay").wait_for()
    assert card(alice, bobs, "bob-only").count() == 0  # bob's: not listed for alice
    first = card(alice, paid, "pay")
    assert first.locator(".gw-description strong").inner_text() == "this"  # Markdown, rendered
    assert first.locator(".gw-evidence-box").inner_text().strip() == "10"
    comment = first.get_by_label("Comment")
    comment.fill("checked the invoice")
    comment.focus()
    alice.keyboard.press("Tab")  # from the comment to Approve, then Enter: no mouse
    assert alice.evaluate("document.activeElement.textContent") == "Approve"
    alice.keyboard.press("Enter")
    assert paid.wait(timeout=30) == 10
    signal = GateRemote.for_sandbox().get_signal("pay", paid.name)
    assert (signal.set_by, signal.comment, signal.via.value) == ("alice", "checked the invoice", "http")
    decided = alice.locator(f'#gw-decided-list [data-key="default/development/{paid.name}/pay"]')
    decided.locator(".gw-decided-line", has_text="approved by alice").wait_for()
    assert decided.locator(".gw-comment").inner_text() == "checked the invoice"
    assert decided.locator("button").count() == 0

    second = card(alice, refused, "pay")
    second.get_by_label("Comment").fill("wrong payee")
    second.get_by_role("button", name="Reject").click()
    with pytest.raises(GateRejectedError, match='Reason: "wrong payee"'):
        refused.wait(timeout=30)
    alice.locator(f'#gw-decided-list [data-key="default/development/{refused.name}/pay"] .gw-decided-line',
                  has_text="rejected by alice").wait_for()


def test_typed_input_structure_and_upload(alice: Any, server: Server, tmp_path: Path) -> None:
    ex = waiting(typed, "receipt", a=1)
    open_inbox(alice, server)
    rate = card(alice, ex, "rate")
    rate.get_by_label("Value").fill("one and a half")
    rate.get_by_role("button", name="Submit").click()
    rate.locator(".gw-error", has_text="is not a number").wait_for()  # checked before anything is sent
    assert GateRemote.for_sandbox().get_signal("rate", ex.name).state is SignalState.PENDING
    rate.get_by_label("Value").fill("1.5")
    rate.get_by_role("button", name="Submit").click()

    expense = card(alice, ex, "expense")
    expense.get_by_label("total").fill("12.5")
    expense.get_by_label("payee").fill("ACME")
    expense.get_by_label("urgent").select_option(label="True")
    expense.get_by_label("category").select_option(label="FOOD")  # an enum, by its names
    expense.get_by_role("button", name="Add lines item").click()  # a list of structures
    expense.get_by_label("item", exact=True).fill("lunch")
    expense.get_by_role("button", name="Submit").click()
    expense.locator(".gw-error", has_text="amount: required").wait_for()
    assert GateRemote.for_sandbox().get_signal("expense", ex.name).state is SignalState.PENDING
    expense.get_by_label("amount", exact=True).fill("12.5")
    expense.get_by_role("button", name="Submit").click()

    receipt = card(alice, ex, "receipt")
    path = tmp_path / "receipt.txt"
    path.write_text("hello")
    receipt.locator("input[type=file]").set_input_files(str(path))
    receipt.get_by_role("button", name="Submit").click()
    assert ex.wait(timeout=60) == "1.5|12.5|ACME|True|food|lunch=12.5|None|receipt.txt|hello"
    assert not GateRemote.for_sandbox().list_signals(ex.name, filters=["eq(state,PENDING)"])


def test_a_second_approval_appears_live_on_a_phone(browser: Any, server: Server) -> None:
    ex = waiting(for_both, "release", a=4)
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        open_inbox(page, server)
        item = card(page, ex, "release")
        item.get_by_text("0 of 2 — waiting for alice, bob").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the phone
        item.get_by_label("Comment").fill("looks right")  # being typed when bob's approval comes in
        status, _ = call(server, "POST", f"/gatewidgets/api/signals/default/development/{ex.name}/release/approve",
                         {}, token=BOB)
        assert status == 200
        item.get_by_text("1 of 2: bob approved").wait_for(timeout=20_000)  # no reload
        assert item.get_by_label("Comment").input_value() == "looks right"  # the live update kept it
        item.get_by_role("button", name="Approve").tap()
        assert ex.wait(timeout=30) == 40
        signal = GateRemote.for_sandbox().get_signal("release", ex.name)
        assert sorted((a.user, a.comment) for a in signal.approvals) == [("alice", "looks right"), ("bob", None)]
    finally:
        context.close()


def test_a_deep_link_opens_after_login_without_buttons_for_who_may_not_answer(browser: Any, server: Server) -> None:
    ex = waiting(for_bob, "bob-only", a=5)
    link = f"{server.url}{INBOX}/default/development/{ex.name}/bob-only"
    for user, token in (("alice", ALICE), ("bob", BOB)):
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(link)
            page.wait_for_url("**/login?next=**")
            page.fill("#password_input", token)
            page.click("#login_submit")
            page.wait_for_url(link)
            item = page.locator("#gw-single-body .gw-card")
            item.wait_for()
            assert page.locator("#gw-me").inner_text() == user
            assert item.locator(".gw-title").inner_text() == "bob-only"
            if user == "alice":
                assert item.locator("button").count() == 0
                assert item.locator(".gw-why").inner_text() == (
                    "You cannot answer this decision: alice is not an assignee; it may be answered by bob.")
            else:
                assert item.locator(".gw-why").count() == 0
                item.get_by_label("Comment").fill("fine")
                item.get_by_role("button", name="Approve").click()
                page.locator("#gw-single-body .gw-decided-line", has_text="approved by bob").wait_for()
                assert page.locator("#gw-single-body .gw-comment").inner_text() == "fine"
        finally:
            context.close()
    assert "invoice 5" in ex.wait(timeout=30)


def test_the_page_reconnects_when_its_stream_ends_and_stays_live(browser: Any, tmp_path: Path) -> None:
    """Streams last one second here (``GateWidgets.inbox_stream_seconds``): the page's EventSource opens a new one
    by itself each time (it does not fall back to polling), reads the list again, and a gate reached after a few
    reconnections still appears without a reload."""
    with running_users_server(tmp_path, {"alice": ALICE}, "--GateWidgets.inbox_stream_seconds=1") as short:
        context = browser.new_context(viewport={"width": 1000, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        streams: list[str] = []
        page.on("request", lambda request: streams.append(request.url) if "/api/events" in request.url else None)
        try:
            open_inbox(page, short)
            deadline = time.monotonic() + 30
            while len(streams) < 3:  # Playwright reports requests while the page is waited on
                assert time.monotonic() < deadline, f"the page opened {len(streams)} streams in 30 s"
                page.wait_for_timeout(200)
            page.locator("#gw-live", has_text="live").wait_for()
            ex = waiting(for_alice, "pay", a=5)
            card(page, ex, "pay").wait_for()  # followed live through a reopened stream
            assert page.locator("#gw-live").inner_text() in ("live", "reconnecting…")  # never "updates every 30 s"
        finally:
            context.close()
