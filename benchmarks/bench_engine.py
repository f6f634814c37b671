"""Engine overhead: a 1,000-node chain and a 1,000-wide fan-out/fan-in of trivial int tasks,
gatewidgets vs flytekit local execution, in one process on one machine.

    python benchmarks/bench_engine.py            # full size
    python benchmarks/bench_engine.py --smoke    # tiny size (CI)

flytekit is optional (``pip install -e '.[bench]'``); without it its half is skipped with a message.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable

from _common import fresh_store, parse_args, table, verdict, write_results

TARGET_RATIO = 50.0


def best_of(reps: int, run: Callable[[], Any]) -> tuple[float, float, list[float]]:
    """Run ``run`` ``reps`` times; return the best wall time, the best CPU time of this process (every
    thread; less disturbed by other programs on a busy machine) and all wall times, in seconds."""
    walls, cpus = [], []
    for _ in range(reps):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return min(walls), min(cpus), walls


def gatewidgets_shapes(n: int) -> dict[str, Any]:
    """The two workflows, defined with gatewidgets."""
    from gatewidgets import task, workflow

    @task
    def inc(x: int) -> int:
        return x + 1

    @task
    def total(xs: list[int]) -> int:
        return sum(xs)

    @workflow
    def chain(x: int) -> int:
        v = inc(x=x)
        for _ in range(n - 1):
            v = inc(x=v)
        return v

    @workflow
    def fan(x: int) -> int:
        first = inc(x=x)
        return total(xs=[inc(x=first) for _ in range(n - 2)])

    return {"chain": chain, "fan": fan}


def flytekit_shapes(n: int) -> dict[str, Any]:
    """The same two workflows, defined with flytekit (its fan-in takes the list of promises)."""
    from _flytekit_shapes import shapes

    return shapes(n)


def measure(name: str, define: Callable[[int], dict[str, Any]], n: int, reps: int) -> dict[str, Any]:
    start = time.perf_counter()
    shapes = define(n)
    define_s = time.perf_counter() - start
    out: dict[str, Any] = {"define_s": define_s}
    for shape, wf in shapes.items():
        wf(x=0)  # warm-up (imports, caches, store creation)
        best, cpu, times = best_of(reps, lambda: wf(x=0))
        out[shape] = {"nodes": n, "best_s": best, "runs_s": times, "per_node_us": best / n * 1e6,
                      "best_cpu_s": cpu, "per_node_cpu_us": cpu / n * 1e6}
        print(f"  {name:12s} {shape:6s} {n} nodes: best {best * 1e3:8.1f} ms = {best / n * 1e6:8.1f} µs/node wall, "
              f"{cpu / n * 1e6:8.1f} µs/node CPU  (runs: {', '.join(f'{t * 1e3:.0f}' for t in times)} ms)")
    return out


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    n = 20 if args.smoke else 1000
    reps = 1 if args.smoke else 7
    results: dict[str, Any] = {"nodes": n, "reps": reps, "target_ratio": TARGET_RATIO}
    print(f"engine overhead: {n}-node chain and {n}-wide fan-out/fan-in of trivial int tasks, best of {reps}")
    with fresh_store():
        results["gatewidgets"] = measure("gatewidgets", gatewidgets_shapes, n, reps)
    try:
        import flytekit  # noqa: F401
    except ImportError as exc:
        reason = f"flytekit is not installed ({exc}); install the bench extra: pip install -e '.[bench]'"
        print(f"  flytekit     skipped: {reason}")
        results["flytekit"] = {"skipped": reason}
    else:
        logging.getLogger("flytekit").setLevel(logging.ERROR)
        os.environ.setdefault("FLYTE_SDK_LOGGING_LEVEL", "40")
        results["flytekit"] = measure("flytekit", flytekit_shapes, n, reps)
        results["flytekit"]["version"] = flytekit.__version__
    rows = []
    results["ratio"], results["ratio_cpu"] = {}, {}
    for shape in ("chain", "fan"):
        for clock, field, ratios in (("wall", "per_node_us", results["ratio"]),
                                     ("CPU", "per_node_cpu_us", results["ratio_cpu"])):
            gw = results["gatewidgets"][shape][field]
            fk = results["flytekit"].get(shape, {}).get(field)
            ratio = fk / gw if fk and gw else None
            ratios[shape] = ratio
            rows.append([shape, clock, f"{gw:.1f}", f"{fk:.1f}" if fk else "skipped",
                         f"{ratio:.0f}x" if ratio else "-", f">= {TARGET_RATIO:.0f}x",
                         verdict(None if ratio is None else ratio >= TARGET_RATIO)])
    print()
    print(table(rows, ["shape", "clock", "gatewidgets µs/node", "flytekit µs/node", "speed-up", "target", ""]))
    write_results("engine", results, args)


if __name__ == "__main__":
    main()
