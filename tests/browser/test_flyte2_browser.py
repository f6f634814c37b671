"""Real browser: a Flyte 2 task's conditions answered through their cards in JupyterLab."""
from __future__ import annotations

import pytest

from browser.test_gates_browser import card, run_cells

pytest.importorskip("flyte", reason="flyte is not installed: pip install -e '.[flyte2]'")


def test_answer_flyte2_conditions_in_the_browser(page, open_notebook, run_all_cells, wait_for_output):
    open_notebook("flyte2.ipynb")
    run_cells(page, run_all_cells, wait_for_output)

    approval = card(page, "approve-run")
    approval.wait_for(state="visible", timeout=60_000)
    assert "pipeline" in approval.locator("strong").first.inner_text()  # a Markdown prompt
    approval.locator("button", has_text="Approve").click()
    approval.locator(".gatewidgets-decided", has_text="approved").wait_for(timeout=30_000)

    factor = card(page, "factor")
    number = factor.locator(".widget-text input")  # an int field is a text box that checks its number (cards merge)
    number.fill("2")
    number.press("Enter")
    factor.locator("button", has_text="Submit").click()
    factor.locator(".gatewidgets-decided", has_text="2").wait_for(timeout=30_000)

    out = wait_for_output(page, "result:", timeout=60)
    assert "result: 21 x 2" in out.inner_text()
    texts = " ".join(page.locator(".jp-OutputArea-output").all_inner_texts())
    assert "SUCCEEDED" in texts and "Traceback" not in texts
