"""Engine overhead: a 1,000-node chain and a 1,000-wide fan-out/fan-in of trivial int tasks,
gatewidgets vs flytekit local execution, in one process on one machine.

    python benchmarks/bench_engine.py            # full size
    python benchmarks/bench_engine.py --smoke    # tiny size (CI)

flytekit is optional (``pip install -e '.[bench]'``); without it its half is skipped with a message.
"""
from __future__ import annotations

import functools
import logging
import os
import time
from typing import Any, Callable

from _common import fresh_store, parse_args, table, timed, verdict, write_results

TARGET_RATIO = 50.0


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


def measure(engines: dict[str, Callable[[int], dict[str, Any]]], n: int, reps: int) -> dict[str, Any]:
    """Run every shape of every engine ``reps`` times, interleaved (repetition by repetition, engine by engine),
    so a machine that speeds up or slows down meanwhile weighs on both engines alike; keep each one's best."""
    shapes, out = {}, {}
    for name, define in engines.items():
        start = time.perf_counter()
        shapes[name] = define(n)
        out[name] = {"define_s": time.perf_counter() - start}
        for wf in shapes[name].values():
            wf(x=0)  # warm-up (imports, caches, store creation)
    walls: dict[tuple[str, str], list[float]] = {}
    cpus: dict[tuple[str, str], list[float]] = {}
    for _ in range(reps):
        for name in engines:
            for shape, wf in shapes[name].items():
                wall, cpu = timed(functools.partial(wf, x=0))
                walls.setdefault((name, shape), []).append(wall)
                cpus.setdefault((name, shape), []).append(cpu)
    for (name, shape), times in walls.items():
        best, cpu = min(times), min(cpus[(name, shape)])
        out[name][shape] = {"nodes": n, "best_s": best, "runs_s": times, "per_node_us": best / n * 1e6,
                            "best_cpu_s": cpu, "per_node_cpu_us": cpu / n * 1e6}
        print(f"  {name:12s} {shape:6s} {n} nodes: best {best * 1e3:8.1f} ms = {best / n * 1e6:8.1f} µs/node wall, "
              f"{cpu / n * 1e6:8.1f} µs/node CPU  (runs: {', '.join(f'{t * 1e3:.0f}' for t in times)} ms)")
    return out


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    n = 20 if args.smoke else 1000
    reps = 1 if args.smoke else 7
    results: dict[str, Any] = {"nodes": n, "reps": reps, "target_ratio": TARGET_RATIO}
    print(f"engine overhead: {n}-node chain and {n}-wide fan-out/fan-in of trivial int tasks, best of {reps}, "
          "the two engines' repetitions interleaved")
    engines: dict[str, Callable[[int], dict[str, Any]]] = {"gatewidgets": gatewidgets_shapes}
    try:
        import flytekit
    except ImportError as exc:
        reason = f"flytekit is not installed ({exc}); install the bench extra: pip install -e '.[bench]'"
        print(f"  flytekit     skipped: {reason}")
        results["flytekit"] = {"skipped": reason}
    else:
        logging.getLogger("flytekit").setLevel(logging.ERROR)
        os.environ.setdefault("FLYTE_SDK_LOGGING_LEVEL", "40")
        engines["flytekit"] = flytekit_shapes
    with fresh_store():
        results.update(measure(engines, n, reps))
    if "flytekit" in engines:
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
