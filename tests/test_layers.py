"""The layers of ARCHITECTURE.md hold: ``lint-imports`` checks the contracts of ``pyproject.toml``
(``[tool.importlinter]``: layers, faces independent, a pure core, no cycles), imports inside functions included."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.xfail(strict=False, reason=(
    "the cycles are broken in parallel branches; what remains here: kinds -> dsl / widgets / executor, "
    "models.signal and models.flyte2 -> kinds, executor -> notify / widgets, jupyter_client -> remote "
    "(and the chains through them: testing / commands / server -> widgets, the core -> ipywidgets / sqlite3)"))
def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint is None:
        pytest.skip("import-linter is not installed: pip install -e '.[test]'")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([lint, "--no-cache", "--no-logo"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
