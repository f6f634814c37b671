"""A notebook executed headless (nbclient): its stored widget state shows the decided cards."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parent / "notebooks" / "decided_cards.ipynb"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def test_stored_widget_state_shows_decided_cards(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=60, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "result: 42" in outputs
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    html_values = [m["state"].get("value", "") for m in state.values() if m["model_name"] == "HTMLModel"]
    decided = [v for v in html_values if "gatewidgets-decided" in v]
    assert any("approved" in v and "via widget" in v for v in decided), decided
    assert any("<b>40</b>" in v for v in decided), decided
    assert any("SUCCEEDED" in v for v in html_values)
    assert any('class="gatewidgets-dag"' in v and 'data-state="WAITING"' not in v for v in html_values)
    assert any("<strong>on</strong>" in v for v in html_values)  # Markdown description
