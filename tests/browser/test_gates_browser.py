"""Real browser: answer an approval, an int input and a file upload in JupyterLab's widgets."""
from __future__ import annotations


def card(page, signal_id: str):
    return page.locator(".gatewidgets-card", has_text=signal_id).first


def run_cells(page, run_all_cells, wait_for_output, ready: str = "awaiting the execution") -> None:
    """Run > Run All Cells; if nothing ran, run the cells one by one with Shift+Enter."""
    run_all_cells(page)
    try:
        wait_for_output(page, ready, timeout=30)
        return
    except Exception:  # the menu click did not reach the kernel: use the keyboard
        pass
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.keyboard.press("Escape")
    for _ in range(page.locator(".jp-Notebook .jp-Cell").count()):
        page.keyboard.press("Shift+Enter")
        page.wait_for_timeout(300)
    wait_for_output(page, ready, timeout=90)


def test_answer_gates_in_the_browser(page, open_notebook, run_all_cells, wait_for_output, tmp_path):
    open_notebook("gates.ipynb")
    run_cells(page, run_all_cells, wait_for_output)

    approval = card(page, "approve-expense")
    approval.wait_for(state="visible", timeout=30_000)
    assert "expense" in approval.locator("strong").first.inner_text()  # description as Markdown
    approval.locator("button", has_text="Approve").click()
    approval.locator(".gatewidgets-decided", has_text="approved").wait_for(timeout=30_000)

    count = card(page, "count")
    number = count.locator(".widget-text input")  # a number field that can start empty
    number.fill("3")
    count.locator("button", has_text="Submit").click()
    count.locator(".gatewidgets-decided", has_text="3").wait_for(timeout=30_000)

    receipt_file = tmp_path / "receipt.txt"
    receipt_file.write_text("coffee 4.20\n")
    receipt = card(page, "receipt")
    with page.expect_file_chooser() as chooser:
        receipt.locator(".widget-upload").click()
    chooser.value.set_files(str(receipt_file))
    receipt.locator(".gw-preview", has_text="coffee 4.20").wait_for(timeout=30_000)  # a look first
    receipt.locator("button", has_text="Submit").click()

    out = wait_for_output(page, "result:", timeout=60)
    assert "result: paid 42 x 3 with receipt.txt: coffee 4.20" in out.inner_text()
    texts = " ".join(page.locator(".jp-OutputArea-output").all_inner_texts())
    assert "SUCCEEDED" in texts and "Traceback" not in texts
