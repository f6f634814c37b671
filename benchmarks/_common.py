"""Shared helpers for the benchmark scripts: arguments, percentiles, memory, JSON results."""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

RESULTS_DIR = Path(__file__).resolve().parent / "results"
FLYTE_PROPELLER_INTERVAL_S = 10.0  # propeller's default workflow re-evaluation interval ("round latency")

# Run from a checkout without installing: make `import gatewidgets` find the package beside us.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``--smoke`` (tiny sizes, for CI) and ``--out`` (where the JSON goes)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script works, times mean nothing")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write (default: benchmarks/results/)")
    parser.add_argument("--store", default=None, help="a postgresql:// URL of an empty database to measure on "
                        "(default: a new SQLite file)")
    return parser.parse_args(argv)


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """``n``, ``mean``, ``p50``, ``p90``, ``p99``, ``min``, ``max`` of ``samples`` (nearest-rank)."""
    ordered = sorted(samples)
    n = len(ordered)
    if n == 0:
        return {"n": 0, "mean": float("nan"), "p50": float("nan"), "p90": float("nan"), "p99": float("nan"),
                "min": float("nan"), "max": float("nan")}

    def rank(q: float) -> float:
        return ordered[min(n - 1, max(0, int(round(q * n + 0.5)) - 1))]

    return {"n": n, "mean": statistics.fmean(ordered), "p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99),
            "min": ordered[0], "max": ordered[-1]}


def rss_bytes() -> int:
    """Resident memory of this process (psutil if installed, else /proc)."""
    try:
        import psutil
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return int(psutil.Process().memory_info().rss)


def timed(run: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU time (this process, every thread) of one call, in seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def best_of(reps: int, run: Callable[[], Any]) -> tuple[float, float, list[float]]:
    """Run ``run`` ``reps`` times; return the best wall time, the best CPU time of this process (every
    thread; less disturbed by other programs on a busy machine) and all wall times, in seconds."""
    walls, cpus = [], []
    for _ in range(reps):
        wall, cpu = timed(run)
        walls.append(wall)
        cpus.append(cpu)
    return min(walls), min(cpus), walls


@contextmanager
def fresh_store(name: str = "gates.db", url: str | None = None) -> Iterator[str]:
    """Point ``$GATEWIDGETS_STORE`` at a new file in a temporary directory (or at the database ``url``) for the
    duration."""
    old = os.environ.get("GATEWIDGETS_STORE")
    with tempfile.TemporaryDirectory(prefix="gatewidgets-bench-") as tmp:
        path = url or os.path.join(tmp, name)
        os.environ["GATEWIDGETS_STORE"] = path
        try:
            yield path
        finally:
            from gatewidgets.engine import shutdown_executors
            from gatewidgets.store import close_stores

            shutdown_executors()
            close_stores()
            if old is None:
                os.environ.pop("GATEWIDGETS_STORE", None)
            else:
                os.environ["GATEWIDGETS_STORE"] = old


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.001) -> None:
    """Poll ``predicate()`` until true; raise ``TimeoutError`` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark gave up waiting for {what} after {timeout} s")
        time.sleep(interval)


def collect() -> None:
    """Full garbage collection, so memory figures do not carry garbage from earlier phases."""
    for _ in range(3):
        gc.collect()


def meta(smoke: bool) -> dict[str, Any]:
    """Where and how the figures were taken."""
    try:
        from importlib.metadata import version

        gw_version = version("gatewidgets")
    except Exception:
        gw_version = "unknown"
    return {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "gatewidgets": gw_version,
        "smoke": smoke,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def write_results(name: str, results: dict[str, Any], args: argparse.Namespace) -> Path:
    """Write ``{"meta": ..., **results}`` as JSON to ``--out`` or ``benchmarks/results/<name>.json``."""
    path = args.out or RESULTS_DIR / (f"{name}.smoke.json" if args.smoke else f"{name}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmark": name, "meta": meta(args.smoke), **results}, indent=2, default=str))
    print(f"\nresults written to {path}")
    return path


def verdict(ok: bool | None) -> str:
    """A short pass/miss mark for printed tables."""
    return "n/a" if ok is None else ("ok" if ok else "MISSED")


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain aligned text table."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
