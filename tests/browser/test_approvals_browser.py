"""Real browser: approval cards show their evidence; an editable amount, a dataclass form, a float
default and a rejection's reason, answered in JupyterLab's widgets."""
from __future__ import annotations

import re
from pathlib import Path

from .test_gates_browser import card, run_cells

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def field(gate, label: str):
    """The text input of the form row labelled ``label``."""
    row = gate.locator(".widget-hbox").filter(has=gate.page.locator(".widget-label", has_text=re.compile(f"^{label}$")))
    return row.locator("input").first


def test_approval_cards_in_the_browser(page, open_notebook, run_all_cells, wait_for_output):
    open_notebook("approvals.ipynb")
    run_cells(page, run_all_cells, wait_for_output, "awaiting the executions")

    table = card(page, "review-table")
    table.wait_for(state="visible", timeout=30_000)
    evidence = table.locator(".gw-evidence table")
    evidence.wait_for(state="visible", timeout=30_000)  # the DataFrame, before anyone approves
    assert "hotel" in evidence.inner_text() and "3 rows × 2 columns" in table.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    table.screenshot(path=str(ARTIFACTS / "approval-card.png"))
    table.locator("button", has_text="Approve").click()
    table.locator(".gatewidgets-decided", has_text="approved").wait_for(timeout=30_000)

    amount = card(page, "approve-amount")
    amount.wait_for(state="visible", timeout=30_000)
    number = amount.locator(".widget-text input").first
    assert number.input_value() == "240"  # the form starts from the value to approve
    number.fill("250")
    amount.locator("textarea").fill("rounded up")
    amount.locator("button", has_text="Approve").click()
    amount.locator(".gatewidgets-decided", has_text="changed to 250").wait_for(timeout=30_000)

    claim = card(page, "claim")
    submit = claim.locator("button", has_text="Submit")
    assert submit.is_disabled()  # nothing filled yet
    field(claim, "who").fill("ann")
    field(claim, "nights").fill("3")
    page.wait_for_function("b => !b.disabled", arg=submit.element_handle(), timeout=30_000)
    submit.click()
    claim.locator(".gatewidgets-decided").wait_for(timeout=30_000)

    rate = card(page, "rate")
    assert rate.locator(".widget-text input").first.input_value() == "1.0"  # the default, pre-filled
    rate.locator("button", has_text="Submit").click()

    out = wait_for_output(page, "result:", timeout=60)
    assert "result: paid 250.0 to ann for 3 nights (3 rows)" in out.inner_text()

    refund = card(page, "approve-refund")
    refund.locator("textarea").fill("duplicate claim")
    refund.locator("button", has_text="Reject").click()
    refund.locator(".gatewidgets-decided", has_text="duplicate claim").wait_for(timeout=30_000)
    out = wait_for_output(page, "refund error:", timeout=60)
    assert 'Reason: "duplicate claim"' in out.inner_text()
