"""``ruff`` and ``mypy`` as configured in ``pyproject.toml`` pass: ruff on the package, its tests and its
benchmarks, mypy on the package (skipped without the tools)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> list[str]:
    pytest.importorskip(name, reason=f"{name} is not installed: pip install -e '.[test]'")
    return [sys.executable, "-m", name]


def test_ruff() -> None:
    command = _tool("ruff") if shutil.which("ruff") is None else ["ruff"]
    out = subprocess.run([*command, "check", "gatewidgets", "tests", "benchmarks"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy() -> None:
    out = subprocess.run(_tool("mypy"), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
