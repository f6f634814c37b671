"""The layers of ARCHITECTURE.md hold: ``lint-imports`` checks the contracts of ``pyproject.toml``
(``[tool.importlinter]``: layers, faces independent, a pure core, no cycles; imports inside functions and
type-only ones count), and ARCHITECTURE.md draws the layers those contracts state."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint is None:
        pytest.skip("import-linter is not installed: pip install -e '.[test]'")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([lint, "--no-cache", "--no-logo"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def _contract_layers() -> list[tuple[str, set[str]]]:
    """The layers of the ``layers`` contract, top first, as (delimiter, names)."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["id"] == "layers")["layers"]
    parsed = []
    for layer in layers:
        delimiter = "|" if "|" in layer else ":"
        parsed.append((delimiter, {n.strip() for n in layer.split(delimiter)}))
    return parsed


def _drawn_layers() -> list[tuple[str, set[str]]]:
    """The layer diagram of ARCHITECTURE.md's "Layers" section: names before the description, top first."""
    section = (ROOT / "ARCHITECTURE.md").read_text().split("## Layers", 1)[1]
    block = section.split("```", 2)[1].splitlines()[1:]
    drawn = []
    for line in block:
        modules = re.split(r"\s{2,}", line.strip())[0]
        delimiter = "|" if "|" in modules else ":"
        drawn.append((delimiter, {n.strip() for n in modules.split(delimiter)}))
    return drawn


def test_architecture_draws_the_layers_the_contract_states() -> None:
    assert _drawn_layers() == _contract_layers()
    assert len(_drawn_layers()) > 10 and ("|", {"magics", "cli", "server", "testing"}) in _drawn_layers()
