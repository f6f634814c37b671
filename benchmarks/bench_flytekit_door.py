"""flytekit front door overhead: the same flytekit workflows run by flytekit's local execution and
through ``gatewidgets.launch`` (translated once, then run by the engine), side by side in one run.

    python benchmarks/bench_flytekit_door.py            # 200-node chain and fan-out/fan-in, 50-node table chain
    python benchmarks/bench_flytekit_door.py --smoke    # tiny size (CI)

Reports per-node wall and CPU time of a whole run (launch to outputs) for both, their ratio, and the
one-off cost of translating each workflow on its first launch. The int shapes take the door's fast path
(plain values handed over as they are); the ``data`` shape converts on every edge (a DataFrame into a
``StructuredDataset`` through flytekit's type engine, as flytekit's local run does), so it shows what the
conversions cost per node against flytekit doing the same. Needs flytekit and pyarrow (the ``[flyte]`` extra).
"""
from __future__ import annotations

import functools
import logging
import os
import time
from typing import Any, Callable

from _common import best_of, fresh_store, parse_args, table, write_results


def measure(name: str, shapes: dict[str, Any], run: Callable[[Any], Any], n: int, reps: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for shape, wf in shapes.items():
        start = time.perf_counter()
        first = run(wf)  # includes gatewidgets' one-off translation
        first_s = time.perf_counter() - start
        best, cpu, times = best_of(reps, functools.partial(run, wf))
        out[shape] = {"nodes": n, "first_s": first_s, "best_s": best, "runs_s": times, "result": first,
                      "per_node_us": best / n * 1e6, "best_cpu_s": cpu, "per_node_cpu_us": cpu / n * 1e6}
        print(f"  {name:12s} {shape:6s} {n} nodes: first run {first_s * 1e3:7.1f} ms; best {best * 1e3:7.1f} ms = "
              f"{best / n * 1e6:7.1f} µs/node wall, {cpu / n * 1e6:7.1f} µs/node CPU")
    return out


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    n = 20 if args.smoke else 200
    n_data = 5 if args.smoke else 50
    reps = 1 if args.smoke else 5
    logging.getLogger("flytekit").setLevel(logging.ERROR)
    os.environ.setdefault("FLYTE_SDK_LOGGING_LEVEL", "40")
    from _flytekit_shapes import data_shapes, shapes

    import gatewidgets

    results: dict[str, Any] = {"nodes": n, "data_nodes": n_data, "reps": reps}
    print(f"flytekit door: {n}-node chain and {n}-wide fan-out/fan-in of trivial int tasks, and a {n_data}-node "
          f"chain of 10-row tables (DataFrame -> StructuredDataset on every edge), best of {reps}")

    def flytekit_run(wf: Any) -> Any:
        return wf(x=0)

    def door_run(wf: Any) -> Any:
        return gatewidgets.launch(wf, x=0).wait()

    results["flytekit"] = {**measure("flytekit", shapes(n), flytekit_run, n, reps),
                           **measure("flytekit", data_shapes(n_data), flytekit_run, n_data, reps)}
    with fresh_store():
        results["door"] = {**measure("door", shapes(n), door_run, n, reps),
                           **measure("door", data_shapes(n_data), door_run, n_data, reps)}
    rows = []
    results["ratio"], results["ratio_cpu"] = {}, {}
    for shape in ("chain", "fan", "data"):
        assert results["door"][shape]["result"] == results["flytekit"][shape]["result"]
        for clock, field, ratios in (("wall", "per_node_us", results["ratio"]),
                                     ("CPU", "per_node_cpu_us", results["ratio_cpu"])):
            door, fk = results["door"][shape][field], results["flytekit"][shape][field]
            ratios[shape] = fk / door
            rows.append([shape, clock, f"{door:.1f}", f"{fk:.1f}", f"{fk / door:.1f}x",
                         f"{results['door'][shape]['first_s'] * 1e3:.0f} ms"])
    print()
    print(table(rows, ["shape", "clock", "door µs/node", "flytekit µs/node", "flytekit / door",
                       "door first run (translates)"]))
    write_results("flytekit_door", results, args)


if __name__ == "__main__":
    main()
