"""Real browser: what people see. The graph of an eleven-node and of a 200-node workflow fits the output
width (scrolling inside its own view past the readable minimum, never the whole execution widget), nodes
read by the workflow's names, card headers carry no internal ids, the notify bell's icon renders without
an emoji font, and the dashboard shows one compact row per pending decision that expands to its card.

With ``GATEWIDGETS_UPDATE_SCREENSHOTS=1`` the screenshots the README shows are written to ``docs/images/``
(always to ``test-artifacts/``).
"""
from __future__ import annotations

import os
import re
import shutil

import pytest

from .conftest import ARTIFACTS, REPO
from .test_tutorials_browser import _clear_outputs

SCREENSHOTS = REPO / "docs" / "images"
NODE_ID = re.compile(r"\bn\d+\b")

# Where each node of a graph is, relative to its scroll view's content, and that view's size.
_GRAPH_JS = """(view) => {
  const scroll = view.querySelector('.gw-dag-scroll'), s = scroll.getBoundingClientRect();
  const svg = scroll.querySelector('svg').getBoundingClientRect();
  const out = view.closest('.jp-OutputArea-output').getBoundingClientRect();
  const nodes = Array.from(scroll.querySelectorAll('g.gatewidgets-node'), (g) => {
    const r = g.getBoundingClientRect();
    return {label: g.dataset.label, text: g.querySelector('text').textContent,
            left: r.left - s.left + scroll.scrollLeft, right: r.right - s.left + scroll.scrollLeft,
            top: r.top - s.top + scroll.scrollTop, bottom: r.bottom - s.top + scroll.scrollTop,
            visible: r.left >= s.left - 1 && r.right <= s.right + 1 && r.top >= s.top - 1 && r.bottom <= s.bottom + 1};
  });
  const execution = view.closest('.gatewidgets-execution');
  return {nodes, svg: {left: svg.left, right: svg.right, width: svg.width}, out: {left: out.left, right: out.right},
          scrollWidth: scroll.scrollWidth, scrollHeight: scroll.scrollHeight,
          clientWidth: scroll.clientWidth, clientHeight: scroll.clientHeight,
          execution: {scrollWidth: execution.scrollWidth, clientWidth: execution.clientWidth}};
}"""

# Time to draw the rows again as the widget draws them (their markup into the list), layout included.
_REDRAW_MS_JS = """(list) => {
  const rows = list.querySelector('.gw-rows'), markup = rows.innerHTML;
  const t0 = performance.now();
  rows.innerHTML = markup;
  void rows.scrollHeight, rows.getBoundingClientRect();  // force style and layout
  return performance.now() - t0;
}"""


@pytest.fixture
def lab_server(new_lab_server, tmp_path):
    """A fresh server and store (the notebook's execution names are fixed; its dashboards count every gate)."""
    with new_lab_server(tmp_path / "lab") as server:
        _clear_outputs(server.root_dir / "notebooks" / "01-gatewidgets-in-five-minutes.ipynb")
        yield server


def _save(locator, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    locator.screenshot(path=str(ARTIFACTS / name))
    if os.environ.get("GATEWIDGETS_UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(ARTIFACTS / name, SCREENSHOTS / name)


def _check_graph(page, execution, count: int, all_visible: bool) -> dict:
    view = execution.locator(".gatewidgets-dag-view")
    view.wait_for(state="visible", timeout=60_000)
    page.wait_for_function(f"(v) => v.querySelectorAll('g.gatewidgets-node').length >= {count}",
                           arg=view.element_handle(), timeout=60_000)
    graph = view.evaluate(_GRAPH_JS)
    assert len(graph["nodes"]) == count
    # the picture fits the output area; past the readable minimum it scrolls inside its own view
    assert graph["out"]["left"] - 1 <= graph["svg"]["left"] and \
        (graph["svg"]["right"] <= graph["out"]["right"] + 1 or graph["clientWidth"] < graph["scrollWidth"])
    assert graph["execution"]["scrollWidth"] <= graph["execution"]["clientWidth"] + 1  # cards never scroll sideways
    for node in graph["nodes"]:  # every node reachable by scrolling the view
        assert node["left"] >= -1 and node["right"] <= graph["scrollWidth"] + 1, node
        assert node["top"] >= -1 and node["bottom"] <= graph["scrollHeight"] + 1, node
        assert node["text"] == node["label"] and not NODE_ID.fullmatch(node["text"]), node
        assert not all_visible or node["visible"], node
    return graph


def test_graphs_cards_bell_and_dashboard(page, open_notebook, run_all_cells, wait_for_output):
    open_notebook("visuals.ipynb")
    run_all_cells(page)
    wait_for_output(page, "ready: 100 1000", timeout=300)

    small = page.locator(".gatewidgets-execution", has_text="eleven").first
    graph = _check_graph(page, small, 13, all_visible=True)  # the "eleven-node" graph of the issue: 13 nodes
    labels = sorted(n["label"] for n in graph["nodes"])
    assert labels == sorted(["load"] + [f"load-{i}" for i in range(2, 9)] + ["total", "report", "sign-off", "channel",
                                                                    "publish"])
    card = small.locator(".gatewidgets-card", has_text="sign-off").first
    card.wait_for(state="visible", timeout=60_000)
    header = card.locator(".gatewidgets-header").inner_text()
    assert "sign-off" in header and not NODE_ID.search(header), header
    # the notify toggle: an inline SVG bell, rendered with a width (no missing-glyph box, no emoji font needed)
    icon = small.locator(".gatewidgets-bell svg.gatewidgets-bell-icon")
    box = icon.bounding_box()
    assert box is not None and 8 <= box["width"] <= 16, box
    assert "\U0001F514" not in small.locator(".gatewidgets-bell").inner_text()
    _save(small.locator(".gatewidgets-dag-view"), "graph.png")

    large = page.locator(".gatewidgets-execution", has_text="two-hundred").first
    large.scroll_into_view_if_needed()
    graph = _check_graph(page, large, 203, all_visible=False)
    assert graph["scrollWidth"] > graph["clientWidth"]  # wider than the output at its readable minimum: scrolls
    assert len({n["label"] for n in graph["nodes"]}) == 203
    zoom = large.locator(".gw-dag-zoom input")
    zoom.check()
    zoomed = large.locator(".gatewidgets-dag-view").evaluate(_GRAPH_JS)
    assert zoomed["scrollWidth"] > graph["scrollWidth"]  # actual size: larger, still inside the view
    assert zoomed["execution"]["scrollWidth"] <= zoomed["execution"]["clientWidth"] + 1

    board = page.locator(".gatewidgets-dashboard").first
    board.scroll_into_view_if_needed()
    rows = board.locator(".gatewidgets-decisions .gw-row[data-key]")
    assert rows.count() == 100
    assert board.locator(".gatewidgets-card").count() == 0  # no card before a row is opened
    row = rows.nth(4)
    signal = row.locator("b").first.inner_text()
    row.click()
    opened = board.locator(".gatewidgets-card", has_text=signal)
    opened.wait_for(state="visible", timeout=30_000)
    assert row.get_attribute("aria-expanded") == "true"
    assert not NODE_ID.search(opened.locator(".gatewidgets-header").inner_text())
    # keyboard: down a row, Enter opens that one's card instead
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    following = rows.nth(5).locator("b").first.inner_text()
    board.locator(".gatewidgets-card", has_text=following).wait_for(state="visible", timeout=30_000)
    assert rows.nth(5).get_attribute("aria-expanded") == "true"
    assert "100</span> pending" in board.locator(".gatewidgets-state-counts").inner_html()
    _save(board, "dashboard.png")

    thousand = page.locator(".gatewidgets-dashboard").nth(1)
    thousand.scroll_into_view_if_needed()
    rows = thousand.locator(".gatewidgets-decisions .gw-row[data-key]")
    assert rows.count() == 1000
    redraw_ms = thousand.locator(".gatewidgets-decisions").evaluate(_REDRAW_MS_JS)
    print(f"1,000 rows redrawn in {redraw_ms:.0f} ms")
    assert redraw_ms < 1000


def test_tutorial_card_headers_show_no_node_ids(page, open_notebook, run_all_cells, wait_for_output):
    open_notebook("notebooks/01-gatewidgets-in-five-minutes.ipynb")
    run_all_cells(page)
    wait_for_output(page, "'purchase-4: SUCCEEDED'", timeout=180)
    headers = page.locator(".gatewidgets-card .gatewidgets-header").all_inner_texts()
    assert headers and any("approve-purchase" in h for h in headers)
    assert not any(NODE_ID.search(h) for h in headers), headers
    nodes = page.locator("g.gatewidgets-node text").all_text_contents()
    assert "place_order" in nodes and not any(NODE_ID.fullmatch(t) for t in nodes)
