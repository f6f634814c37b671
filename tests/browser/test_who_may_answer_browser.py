"""Real browser: who may answer. Two JupyterLab servers share one store, their kernels run as two hub users
(``JUPYTERHUB_USER``): the launcher's card shows no Approve and says why; the assignee's card has Approve, and
approving makes both cards count "1 of 2" without a reload."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import _dismiss_dialogs, _run_all_cells, _wait_for_output, _wait_kernel_idle

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def two_users(new_lab_server, tmp_path):
    """alice's server (the launcher's) and bob's, on alice's store."""
    (tmp_path / "alice").mkdir()
    (tmp_path / "bob").mkdir()
    with new_lab_server(tmp_path / "alice", extra_env={"JUPYTERHUB_USER": "alice"}) as alice:
        with new_lab_server(tmp_path / "bob", extra_env={"JUPYTERHUB_USER": "bob",
                                                          "GATEWIDGETS_STORE": str(alice.store)}) as bob:
            yield alice, bob


def open_and_run(page, server, name: str, ready: str):
    page.goto(server.notebook_url(name), timeout=60_000)
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first.wait_for(state="visible", timeout=60_000)
    for _ in range(30):
        _dismiss_dialogs(page, timeout=1.0)
        try:
            _wait_kernel_idle(page, timeout=2.0)
            break
        except Exception:  # playwright TimeoutError: not idle yet
            continue
    _run_all_cells(page)
    _wait_for_output(page, ready, timeout=90)
    return page


def release_card(page):
    return page.locator(".gatewidgets-card", has_text="release").first


def test_the_launcher_may_not_approve_an_assignee_may_and_both_cards_count(two_users, page, browser):
    alice, bob = two_users
    open_and_run(page, alice, "who_launches.ipynb", "launched as team-release")
    mine = release_card(page)
    mine.locator(".gw-standing", has_text="0 of 2").wait_for(timeout=30_000)
    assert mine.locator("button", has_text="Approve").count() == 0 or \
        not mine.locator("button", has_text="Approve").first.is_visible()
    why = mine.locator(".gw-why-not").inner_text()
    assert "alice may not approve: alice launched this execution and self-approval is off" in why

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        other = open_and_run(context.new_page(), bob, "who_approves.ipynb", "shown for bob")
        theirs = release_card(other)
        theirs.locator(".gw-standing", has_text="0 of 2").wait_for(timeout=30_000)
        assert theirs.locator(".gw-why-not").count() == 0
        theirs.locator("button", has_text="Approve").click()
        counted = re.compile(r"1 of 2: bob approved \d\d:\d\d")
        theirs.locator(".gw-standing", has_text=counted).wait_for(timeout=30_000)
        mine.locator(".gw-standing", has_text=counted).wait_for(timeout=30_000)  # no reload: live
        ARTIFACTS.mkdir(exist_ok=True)
        mine.screenshot(path=str(ARTIFACTS / "who-may-answer-launcher.png"))
        theirs.screenshot(path=str(ARTIFACTS / "who-may-answer-assignee.png"))
        assert theirs.locator(".gw-badge", has_text="PENDING").count() == 1  # one of two: still waiting
    finally:
        context.close()
