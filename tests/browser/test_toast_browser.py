"""Real browser: a gate that starts waiting off screen announces itself with a toast that leads back to it."""
from __future__ import annotations

import pytest

from .test_gates_browser import run_cells


@pytest.fixture
def lab_server(new_lab_server, tmp_path):
    """A fresh server and store per app (overrides the package-wide one): toast.ipynb's execution name is fixed."""
    with new_lab_server(tmp_path / "lab") as server:
        yield server


@pytest.mark.parametrize("app", ["lab", "notebook"])  # JupyterLab and Jupyter Notebook 7
def test_toast_when_gate_waits_off_screen(app, page, open_notebook, run_all_cells, wait_for_output):
    open_notebook("toast.ipynb", app=app)
    run_cells(page, run_all_cells, wait_for_output)
    page.locator(".jp-Notebook .jp-Cell").last.scroll_into_view_if_needed()
    card = page.locator(".gatewidgets-card", has_text="far-away").first
    toast = page.locator(".gatewidgets-toast", has_text="far-away")
    toast.wait_for(state="visible", timeout=60_000)
    assert "is waiting for you" in toast.inner_text()
    assert not card.is_visible() or card.bounding_box()["y"] < 0  # the card really was off screen
    toast.click()
    page.wait_for_timeout(1500)  # smooth scroll
    box = card.bounding_box()
    viewport = page.viewport_size
    assert box is not None and 0 <= box["y"] < viewport["height"], box
    card.locator("button", has_text="Approve").click()
    out = wait_for_output(page, "result:", timeout=60)
    assert "result: 42" in out.inner_text()
    assert page.locator(".gatewidgets-toast").count() == 0  # clicked away
