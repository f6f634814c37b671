"""``benchmarks/bench_inbox.py --smoke`` runs (a real server, Chromium) and writes its figures; no timing asserted."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_inbox.py"

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_smoke(tmp_path: Path, gatewidgets_store: Path) -> None:
    out, shot = tmp_path / "result.json", tmp_path / "inbox.png"
    proc = subprocess.run([sys.executable, str(BENCH), "--smoke", "--out", str(out), "--screenshot", str(shot)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    data = json.loads(out.read_text())
    assert data["benchmark"] == "inbox" and data["meta"]["smoke"] is True and data["pending"] == 20
    assert data["local"]["cards"] == 20 and data["local"]["items_shown_s"]["p50"] > 0
    assert data["slow_network"]["page_bytes"] == data["local"]["page_bytes"] > data["local"]["page_bytes_wire"]
    assert shot.read_bytes().startswith(b"\x89PNG")
