"""Proves the real-browser harness: a click and a typed number in Chromium reach the
kernel of a JupyterLab notebook while its last cell awaits."""

from __future__ import annotations

import json
from pathlib import Path

from jupyter_core.paths import jupyter_config_path


def test_click_and_typing_reach_the_kernel(page, open_notebook, run_all_cells,
                                           wait_for_output):
    open_notebook("harness.ipynb")
    run_all_cells(page)

    # The last cell is now awaiting a click: nothing has reached the kernel yet.
    wait_for_output(page, "waiting for a click", timeout=60)
    outputs = page.locator(".jp-OutputArea-output")
    assert "clicked:" not in " ".join(outputs.all_inner_texts())

    button = page.locator("button.jupyter-button", has_text="Press me")
    button.wait_for(state="visible", timeout=30_000)
    button.click()
    # Printed by the kernel only after on_click ran there.
    wait_for_output(page, "clicked: 1", timeout=60)

    number = page.locator(".widget-inline-hbox", has_text="Number").locator(
        "input[type=number]")
    number.fill("42")
    number.press("Enter")  # IntText syncs on Enter / blur
    wait_for_output(page, "typed: 42", timeout=60)

    texts = " ".join(outputs.all_inner_texts())
    assert "clicked: 1" in texts and "typed: 42" in texts
    assert "Error" not in texts, texts


def test_server_extension_config_is_installed():
    """`pip install [-e] .` must put jupyter-config/.../gatewidgets.json where Jupyter
    reads it, so every notebook server loads the `gatewidgets.server` extension."""
    found = [Path(d) / "jupyter_server_config.d" / "gatewidgets.json"
             for d in jupyter_config_path()]
    found = [p for p in found if p.is_file()]
    assert found, ("gatewidgets.json not in any jupyter_server_config.d of "
                   f"{jupyter_config_path()}; reinstall with pip install -e .")
    config = json.loads(found[0].read_text())
    assert config["ServerApp"]["jpserver_extensions"]["gatewidgets.server"] is True
