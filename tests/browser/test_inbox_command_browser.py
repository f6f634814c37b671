"""Real browser: the way into the approvers' inbox. The "Gate inbox" command of the labextension opens
``<base_url>/gatewidgets/inbox`` in a new tab, from JupyterLab's command palette, launcher and File menu, and from
Notebook 7's palette and File menu; a card waiting for a decision links to that decision's page.

The server runs as a JupyterHub user's server would: under a prefix, which its kernels know from
``$JUPYTERHUB_SERVICE_PREFIX``. The assertions are on the URL each new tab opens, not on the page it shows."""
from __future__ import annotations

import re

import pytest

from .conftest import _start_lab_server
from .test_gates_browser import card, run_cells

PREFIX = "/user/alice/"
TAB_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def lab_server(chromium_path, tmp_path_factory):
    """One server under PREFIX for this module (overrides the package-wide one at the root URL)."""
    with _start_lab_server(tmp_path_factory.mktemp("inbox-command"), base_url=PREFIX,
                           extra_env={"JUPYTERHUB_SERVICE_PREFIX": PREFIX}) as server:
        yield server


def inbox_tab(page, action) -> str:
    """Run ``action()`` (which should run the command) and return the URL of the new tab's first navigation (what
    the command opened, before any redirect of the server), once the tab has left about:blank; the tab is closed."""
    navigations: list[str] = []  # a popup's first request has no frame yet: the opener stays put (checked below)
    before = page.url

    def seen(request) -> None:
        if request.is_navigation_request():
            navigations.append(request.url)

    page.context.on("request", seen)
    try:
        with page.context.expect_page(timeout=TAB_TIMEOUT_MS) as opened:
            action()
        tab = opened.value
        tab.wait_for_url(lambda url: url != "about:blank", timeout=TAB_TIMEOUT_MS)
    finally:
        page.context.remove_listener("request", seen)
    tab.close()
    assert page.url == before, "the command navigated the page itself"
    assert navigations, "the new tab made no request"
    return navigations[0]


def from_palette(page) -> None:
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette:visible")
    palette.locator("input").fill("Gate inbox")
    palette.locator(".lm-CommandPalette-item", has_text="Gate inbox").first.click()


def from_file_menu(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^File$")).first.click()
    page.get_by_role("menuitem", name=re.compile(r"^Gate inbox")).first.click()


def test_gate_inbox_in_jupyterlab(page, lab_server) -> None:
    page.goto(lab_server.url("/lab") + "&reset")
    card = page.locator(".jp-LauncherCard", has_text="Gate inbox")
    card.wait_for(state="visible", timeout=60_000)
    assert page.url.startswith(f"{lab_server.base_url}/lab")  # JupyterLab itself is under the prefix
    inbox = f"{lab_server.base_url}/gatewidgets/inbox"
    assert inbox.startswith(f"http://127.0.0.1:{lab_server.port}{PREFIX}")
    assert inbox_tab(page, lambda: from_palette(page)) == inbox
    assert inbox_tab(page, card.click) == inbox
    assert inbox_tab(page, lambda: from_file_menu(page)) == inbox
    assert len(page.context.pages) == 1  # every tab it opened was closed again: none opened twice


def test_gate_inbox_in_notebook7(page, lab_server) -> None:
    page.goto(lab_server.url("/tree"))
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^File$")).first.wait_for(state="visible",
                                                                                     timeout=60_000)
    inbox = f"{lab_server.base_url}/gatewidgets/inbox"
    assert inbox_tab(page, lambda: from_file_menu(page)) == inbox
    assert inbox_tab(page, lambda: from_palette(page)) == inbox
    assert len(page.context.pages) == 1


def test_a_card_links_to_its_decisions_inbox_page(page, lab_server, open_notebook, run_all_cells, wait_for_output):
    open_notebook("inbox_link.ipynb")
    run_cells(page, run_all_cells, wait_for_output)
    waiting = card(page, "sign off #1")
    link = waiting.locator("a.gw-inbox-link", has_text="Review in inbox")
    link.wait_for(state="visible", timeout=60_000)
    page_of_decision = f"{lab_server.base_url}/gatewidgets/inbox/default/development/inbox-link-1/sign%20off%20%231"
    assert inbox_tab(page, link.click) == page_of_decision
    waiting.locator("button", has_text="Approve").click()
    assert "result: 42" in wait_for_output(page, "result:", timeout=60).inner_text()
    waiting.locator(".gatewidgets-decided").wait_for(timeout=30_000)
    assert link.count() == 0  # decided: no link left
