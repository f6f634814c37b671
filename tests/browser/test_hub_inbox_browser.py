"""The approvers' inbox served by ``gatewidgets hub-service`` in a real JupyterHub, in Chromium.

Alice's kernel, in her own server, launches a gate only the hub group ``reviewers`` may answer, without
self-approval. Each user logs in to the hub in a browser context of their own (the hub's login form, then the
OAuth redirects into the service under ``/services/gatewidgets/``): alice through her decision's permanent link,
which shows it without buttons and says why; bob through the service's front page, which lands him on the
inbox, where he approves it; her kernel sees the workflow finish. The store is checked after each step.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from _hub import FINISH, PASSWORD, SERVICE, Hub, in_kernel, launch_gate, proxy_command, running_hub
from _postgres import PostgresServer

from .test_visuals_browser import _save

pytestmark = [pytest.mark.browser, pytest.mark.slow]

INBOX = f"/services/{SERVICE}/gatewidgets/inbox"
API = f"/services/{SERVICE}/gatewidgets/api"


@pytest.fixture(scope="module")
def hub(chromium_path: str, tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> Iterator[Hub]:
    """The hub of this module's tests, with the store a fresh database of ``postgres_server``."""
    with running_hub(tmp_path_factory.mktemp("hub"), proxy_command(), postgres_server.new_database()) as running:
        yield running


@contextmanager
def logged_in(browser: Any, hub: Hub, user: str, url: str) -> Iterator[Any]:
    """A page of ``user``'s own browser context that opened ``url``, logged in by the hub's form on the way."""
    context = browser.new_context(viewport={"width": 900, "height": 560})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(url)
        page.wait_for_url(f"{hub.url}/hub/login?**")  # the service sent the browser to the hub's OAuth, then login
        page.fill("#username_input", user)
        page.fill("#password_input", PASSWORD)
        page.click("#login_submit")
        yield page
    finally:
        context.close()


def stored(page: Any, hub: Hub, path: str) -> Any:
    """The service's API answer for ``path``, with the page's login cookie (what the store holds now)."""
    answer = page.request.get(f"{hub.url}{API}{path}")
    assert answer.status == 200, answer.text()
    return answer.json()


def events(page: Any, hub: Hub, key: str) -> list[tuple[str, str | None, str | None]]:
    """The stored history of the decision ``key``'s execution: event, who set the signal, their identity's source."""
    history = stored(page, hub, f"/executions/{key.rsplit('/', 1)[0]}/history")
    return [(e["event"], e.get("set_by"), (e.get("detail") or {}).get("identity_source")) for e in history["events"]]


def test_a_hub_user_approves_another_users_gate_in_the_hubs_inbox(browser: Any, hub: Hub) -> None:
    kernel, execution = launch_gate(hub)
    listed = requests.get(f"{hub.url}{API}/signals?execution={execution}", timeout=30,
                          headers={"Authorization": f"token {kernel.token}"})
    [gate] = listed.json()["signals"]
    key = f"{gate['execution']['project']}/{gate['execution']['domain']}/{execution}/publish"
    link = f"{hub.url}{INBOX}/{key}"

    with logged_in(browser, hub, "alice", link) as alice:
        alice.wait_for_url(link)  # the permanent link survived the hub's login and the OAuth redirects
        mine = alice.locator("#gw-single-body .gw-card")
        mine.wait_for()
        assert alice.locator("#gw-me").inner_text() == "alice"
        assert mine.locator(".gw-evidence-box").inner_text().strip() == "q3 report"
        assert mine.locator("button").count() == 0  # her own decision: nothing to click
        assert "alice launched this execution and self-approval is off" in mine.locator(".gw-why").inner_text()
        before = stored(alice, hub, f"/signals/{key}")
        assert (before["state"], before["decision"]["may_answer"]) == ("PENDING", False), before

        with logged_in(browser, hub, "bob", f"{hub.url}/services/{SERVICE}/") as bob:
            bob.wait_for_url(f"{hub.url}{INBOX}")  # the front page sends a logged-in user to the inbox
            item = bob.locator(f'#gw-list [data-key="{key}"] .gw-card')
            item.wait_for()
            assert bob.locator("#gw-me").inner_text() == "bob"
            assert item.locator(".gw-evidence-box").inner_text().strip() == "q3 report"
            assert item.locator(".gw-link").get_attribute("href") == f"{INBOX}/{key}"  # its permanent link
            now = stored(bob, hub, f"/signals/{key}")  # alice's visit changed nothing (but who may answer)
            assert {**now, "decision": None} == {**before, "decision": None}
            assert now["decision"]["approvals"] == [] and now["decision"]["may_answer"] is True, now
            item.get_by_label("Comment").fill("looks right")
            bob.locator("#gw-live", has_text="live").wait_for()
            _save(bob, "hub-inbox.png")
            item.get_by_role("button", name="Approve").click()
            decided = bob.locator(f'#gw-decided-list [data-key="{key}"]')
            decided.locator(".gw-decided-line", has_text="approved by bob").wait_for()
            after = stored(bob, hub, f"/signals/{key}")
            assert (after["state"], after["set_by"], after["comment"]) == ("SET", "bob", "looks right"), after
            so_far = events(bob, hub, key)  # the execution may have finished already (alice's kernel runs on)
            assert so_far[:4] == [("launched", "alice", None), ("created", None, None), ("reached", None, None),
                                  ("set", "bob", "hub")] and so_far[4:] in ([], [("finished", None, None)]), so_far

        # alice's open page follows the store through the hub's proxy: bob's decision, no reload
        alice.locator("#gw-single-body .gw-decided-line", has_text="approved by bob").wait_for(timeout=20_000)
        assert "OUTPUTS q3 report SUCCEEDED" in in_kernel(kernel, FINISH)  # her execution went on
        assert events(alice, hub, key)[3:] == [("set", "bob", "hub"), ("finished", None, None)]
