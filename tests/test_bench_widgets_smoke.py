"""benchmarks/bench_widgets.py runs at its --smoke size and writes its JSON (no timing assertions)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_widgets.py"


def test_bench_widgets_smoke(tmp_path: Path) -> None:
    out = tmp_path / "widgets.json"
    proc = subprocess.run([sys.executable, str(BENCH), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, f"bench_widgets failed:\n{proc.stdout}\n{proc.stderr}"
    data = json.loads(out.read_text())
    assert data["benchmark"] == "widgets" and data["meta"]["smoke"] is True
    assert data["dashboard"]["signals"] == 10
    assert {"build_s", "next_page_s"} <= set(data["dashboard"])
    assert data["card"]["gate_reached_to_card_ms"]["n"] >= 1
    assert data["rows"]["page_size"] == 10 and "expand_s" in data["rows"]
    assert data["graph"]["nodes"] == 12 and data["graph"]["best_s"] > 0
