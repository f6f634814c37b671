"""The tutorials read as user documentation: no polling loops, node ids or private helpers in their code."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))

# what a tutorial must not show, and why
FORBIDDEN = {
    r"\bfor\s+_\s+in\s+range\(": "a polling loop: await ex.reached(...) / ex.node(...) / ex.finished(...) instead",
    r"\bwhile\s+True\b": "a polling loop: await what you wait for instead",
    r"\buntil_gate\b": "a private helper: await ex.reached(signal_id), then view.gate(signal_id)",
    r"\bnode_states\b": "node ids: ex.nodes_by_name[...] / await ex.node(name) instead",
    r"[\"']n\d+[\"']": "a node id: name nodes by their task name or signal id",
    r"\b(?:from\s+gatewidgets(?:\.\w+)*\s+import\s+_|gatewidgets(?:\.\w+)*\._\w)": "private gatewidgets API",
    r"^\s*(?:async\s+)?def\s+_": "a private helper defined in the tutorial",
}


def _code(path: Path) -> list[tuple[int, str]]:
    cells = json.loads(path.read_text())["cells"]
    return [(i, "".join(c["source"])) for i, c in enumerate(cells) if c["cell_type"] == "code"]


def test_tutorials_are_numbered_without_gaps() -> None:
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(numbers) + 1)), [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_tutorial_code_has_no_polling_node_ids_or_private_helpers(path: Path) -> None:
    found = [f"cell {i}: {why}: {m.group(0).strip()!r}"
             for i, source in _code(path) for pattern, why in FORBIDDEN.items()
             for m in re.finditer(pattern, source, re.MULTILINE)]
    assert not found, f"{path.name}:\n" + "\n".join(found)


def test_the_scan_catches_what_it_should() -> None:
    bad = ['for _ in range(500):\n    await asyncio.sleep(0.02)', 'card = await until_gate(view, "x")',
           'ex.node_states["n3"]', 'from gatewidgets.executor import _launch', 'async def _wait(view):\n    pass',
           'while True:\n    pass']
    for source in bad:
        assert any(re.search(p, source, re.MULTILINE) for p in FORBIDDEN), source
    good = 'await ex.reached("go", timeout=30)\nfor name, state in ex.nodes_by_name.items():\n    print(name)'
    assert not any(re.search(p, good, re.MULTILINE) for p in FORBIDDEN)
