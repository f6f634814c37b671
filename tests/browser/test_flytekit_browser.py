"""Real browser: the gates of a plain flytekit workflow, launched with gatewidgets.launch, answered on their cards."""
from __future__ import annotations

import pytest

from .test_gates_browser import card, run_cells

pytest.importorskip("flytekit")


def test_flytekit_approval_card_clicked_and_flytefile_uploaded(page, open_notebook, run_all_cells, wait_for_output,
                                                               tmp_path):
    open_notebook("flytekit_gates.ipynb")
    run_cells(page, run_all_cells, wait_for_output)

    approval = card(page, "approve-purchase")
    approval.wait_for(state="visible", timeout=30_000)
    assert "approve bool" in approval.inner_text()  # Flyte's approval: a boolean signal
    approval.locator("button", has_text="Approve").click()
    approval.locator(".gatewidgets-decided", has_text="approved").wait_for(timeout=30_000)

    invoice_file = tmp_path / "invoice.txt"
    invoice_file.write_text("invoice 77\n")
    invoice = card(page, "invoice")
    invoice.wait_for(state="visible", timeout=30_000)
    with page.expect_file_chooser() as chooser:
        invoice.locator(".widget-upload").click()
    chooser.value.set_files(str(invoice_file))
    invoice.locator(".gw-preview", has_text="invoice 77").wait_for(timeout=30_000)  # a look first, then Submit
    invoice.locator("button", has_text="Submit").click()

    out = wait_for_output(page, "result:", timeout=60)
    assert "result: ordered for 10.0 with invoice 77" in out.inner_text()
    texts = " ".join(page.locator(".jp-OutputArea-output").all_inner_texts())
    assert "SUCCEEDED" in texts and "Traceback" not in texts
