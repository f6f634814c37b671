"""Each benchmark script runs at its ``--smoke`` size and writes its JSON (no timing assertions)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"

EXPECTED = {
    "bench_engine.py": {"nodes", "reps", "gatewidgets", "flytekit", "ratio", "ratio_cpu", "target_ratio"},
    "bench_latency.py": {"in_process", "cross_process", "targets_ms", "flyte_propeller_reevaluation_interval_s",
                         "poll_interval_s"},
    "bench_scale.py": {"hold", "traced", "list_signals", "targets"},
    "bench_flytekit_door.py": {"nodes", "reps", "flytekit", "door", "ratio", "ratio_cpu"},
    "bench_journal.py": {"nodes", "reps", "chain", "fan", "last tasks"},
    "bench_waiting.py": {"sizes", "targets"},
}


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_smoke(script: str, tmp_path: Path, gatewidgets_store: Path) -> None:
    if script == "bench_flytekit_door.py":
        pytest.importorskip("flytekit")
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, str(BENCH / script), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    data = json.loads(out.read_text())
    assert EXPECTED[script] <= set(data), f"missing keys: {EXPECTED[script] - set(data)}"
    assert data["meta"]["smoke"] is True
    assert data["benchmark"] == script[len("bench_"):-len(".py")]
    if script == "bench_engine.py":
        gw = data["gatewidgets"]
        assert gw["chain"]["nodes"] == data["nodes"] and gw["chain"]["per_node_us"] > 0
        assert gw["fan"]["per_node_us"] > 0
        assert "skipped" in data["flytekit"] or data["flytekit"]["chain"]["per_node_us"] > 0
    elif script == "bench_latency.py":
        assert data["in_process"]["samples"] == data["in_process"]["after_return_ms"]["n"] > 0
        assert data["cross_process"]["samples"] == data["cross_process"]["after_return_ms"]["n"] > 0
    elif script == "bench_journal.py":
        assert data["chain"]["return_to_journal_us"]["n"] == data["nodes"]
        assert data["last tasks"]["return_to_stored_end_us"]["n"] == data["nodes"] // 2
    elif script == "bench_flytekit_door.py":
        assert data["door"]["chain"]["per_node_us"] > 0 and data["flytekit"]["fan"]["per_node_us"] > 0
    elif script == "bench_waiting.py":
        assert [r["waiting"] for r in data["sizes"]] == [20, 200]
        assert all(r["answer_resume_ms"]["n"] == r["answered"] > 0 for r in data["sizes"])
    else:
        assert data["hold"]["waiting_registrations"] == data["hold"]["gates"] > 0
        assert data["list_signals"]["some_pending"]["returned"] == 100


def test_postgres_smoke(postgres_url: str, tmp_path: Path) -> None:
    """``bench_postgres.py`` on an empty database of the suite's server: its three figures and the round-trip
    floor, at smoke size."""
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, str(BENCH / "bench_postgres.py"), "--smoke", "--out", str(out), "--store",
                           postgres_url], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, f"bench_postgres.py failed:\n{proc.stdout}\n{proc.stderr}"
    data = json.loads(out.read_text())
    assert data["benchmark"] == "postgres" and data["meta"]["smoke"] is True
    assert data["wake_up"]["samples"] == data["wake_up"]["after_return_ms"]["n"] > 0
    assert data["engine"]["gatewidgets"]["chain"]["per_node_us"] > 0
    assert "skipped" in data["engine"]["flytekit"] or data["engine"]["ratio"] > 0
    assert data["listing"]["signals"] == 10_000 and data["listing"]["list_signals_ms"]["n"] == 20
    assert all(data["floor"][trip]["n"] == 100 and data["floor"][trip]["p50"] > 0
               for trip in ("select_1", "update_async_commit", "update_sync_commit"))


def test_postgres_kernels_smoke(postgres_url: str, tmp_path: Path) -> None:
    """``bench_postgres_kernels.py``: four kernel processes hold their waiting gates on one database, the listing
    beside them finds every one pending, and answers from here finish executions in each kernel."""
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, str(BENCH / "bench_postgres_kernels.py"), "--smoke", "--out", str(out),
                           "--store", postgres_url], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, f"bench_postgres_kernels.py failed:\n{proc.stdout}\n{proc.stderr}"
    data = json.loads(out.read_text())
    assert data["benchmark"] == "postgres_kernels" and data["meta"]["smoke"] is True
    assert [r["kernel"] for r in data["per_kernel"]] == [0, 1, 2, 3]
    assert data["pending_listed"] == data["waiting"] == 600  # 4 kernels x 150 gates, none answered yet
    assert data["answer_to_done_ms"]["n"] == 8 and data["done_per_kernel"] == [2, 2, 2, 2]
    assert all(r["threads_after"] == r["threads_before"] for r in data["per_kernel"])  # none per gate
