"""Cost beside waiting work: N executions in one process, each waiting at one gate (N = 1,000,
10,000, 100,000), then 1,000 of them answered through ``GateRemote.set_input`` and awaited one
by one.

Reports, for each N: time to reach N waiting gates (wall and CPU of this process), by
``wf.launch_many`` (groups of 500 executions per store transaction; the < 20 s goal at 100,000 is
for this path) and, in a fresh store of its own, by one ``wf.launch()`` each (a transaction each);
memory per waiting gate (RSS delta; and tracemalloc in a separate run at 10,000, where the store's
bounded caches weigh little), and answer + resume time percentiles (``set_input`` called →
``Execution.wait()`` returned). The answer's cost should not grow with the gates beside it.

    python benchmarks/bench_waiting.py                # 1,000 / 10,000 / 100,000 waiting
    python benchmarks/bench_waiting.py --max 10000    # stop at 10,000
    python benchmarks/bench_waiting.py --smoke        # tiny sizes (CI)
"""
from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from datetime import timedelta
from typing import Any

from _common import collect, fresh_store, parse_args, percentiles, rss_bytes, table, verdict, write_results

ANSWERED = 1000
TARGET_GROWTH = 2.0  # answer + resume p50 at the largest N over the smallest
TARGET_BYTES_PER_GATE = 2048
TARGET_REACH_100K_S = 20.0  # by launch_many; one launch() each is a store transaction each
BATCH = 500  # executions per store transaction in launch_many (its default)


def define() -> Any:
    """A workflow that waits at one typed gate (with a deadline, so the timer heap holds it too) and then runs
    one task on the answer."""
    from gatewidgets import task, wait_for_input, workflow

    @task
    def double(x: int) -> int:
        return 2 * x

    @workflow
    def one_gate() -> int:
        return double(x=wait_for_input("answer", timeout=timedelta(days=1), expected_type=int))

    return one_gate


def reach(wf: Any, n: int, *, bulk: bool = True) -> tuple[list[Any], float, float]:
    """Launch ``n`` executions, by ``launch_many`` (``bulk``) or by one ``launch()`` each; return them and the wall
    and CPU seconds (this process, every thread) until every one waits at its gate."""
    from gatewidgets import NodeState
    from gatewidgets.engine import default_executor

    names = [f"waiting-{i}" for i in range(n)]
    start, cpu = time.perf_counter(), time.process_time()
    if bulk:
        runs = wf.launch_many([{}] * n, execution_names=names, batch=BATCH)
    else:
        runs = [wf.launch(execution_name=name) for name in names]
    default_executor().store.flush()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    for ex in runs:
        if NodeState.WAITING not in ex.node_states.values():
            raise RuntimeError(f"{ex.name}: its gate is not waiting after launch: {ex.node_states}")
    return runs, elapsed, cpu


def answer(runs: list[Any], count: int) -> list[float]:
    """Answer ``count`` of ``runs`` through ``GateRemote`` one by one; ms from the call to ``wait()`` returning."""
    from gatewidgets import GateRemote

    remote = GateRemote.for_sandbox()
    samples = []
    step = max(1, len(runs) // count)
    for i, ex in enumerate(runs[::step][:count]):
        start = time.perf_counter()
        remote.set_input("answer", ex.name, i)
        got = ex.wait(timeout=60)
        samples.append((time.perf_counter() - start) * 1e3)
        if got != 2 * i:
            raise RuntimeError(f"{ex.name} returned {got!r}, not {2 * i}")
    return samples


def measure(n: int, answered: int) -> dict[str, Any]:
    """One size: in a fresh store, reach ``n`` waiting gates by ``launch_many`` (RSS delta), then answer
    ``answered`` of them; in another fresh store, reach ``n`` by one ``launch()`` each."""
    with fresh_store():
        wf = define()
        warm = wf.launch()
        warm.abort()
        collect()
        rss_before = rss_bytes()
        runs, reach_s, reach_cpu_s = reach(wf, n)
        collect()
        rss_delta = rss_bytes() - rss_before
        ms = percentiles(answer(runs, answered))
        row: dict[str, Any] = {"waiting": n, "reach_s": reach_s, "reach_cpu_s": reach_cpu_s, "batch": BATCH,
                               "rss_bytes_per_gate": rss_delta / n, "answered": answered, "answer_resume_ms": ms}
        print(f"  {n:>7} waiting: reached by launch_many in {reach_s:.2f} s ({reach_cpu_s:.2f} s CPU); "
              f"{rss_delta / n:.0f} B per gate (RSS delta); answer + resume p50 {ms['p50']:.3f} ms, "
              f"p90 {ms['p90']:.3f} ms, p99 {ms['p99']:.3f} ms", flush=True)
        start = time.perf_counter()
        for ex in runs:
            ex.abort()
        row["abort_all_s"] = time.perf_counter() - start
    del runs
    with fresh_store():
        wf = define()
        wf.launch().abort()
        collect()
        runs, row["reach_single_s"], row["reach_single_cpu_s"] = reach(wf, n, bulk=False)
        print(f"  {n:>7} waiting: reached by one launch() each in {row['reach_single_s']:.2f} s "
              f"({row['reach_single_cpu_s']:.2f} s CPU)", flush=True)
        for ex in runs:
            ex.abort()
    return row


def traced(n: int) -> float:
    """Python heap bytes per waiting gate (tracemalloc) while ``n`` gates wait, in a fresh store of its own:
    tracing slows the launches it watches and its own records would swell the RSS figures."""
    with fresh_store():
        wf = define()
        collect()
        tracemalloc.start()
        runs, _, _ = reach(wf, n)
        collect()
        per_gate = tracemalloc.get_traced_memory()[0] / n
        tracemalloc.stop()
        print(f"  {n:>7} waiting: {per_gate:.0f} B per gate (tracemalloc)", flush=True)
        for ex in runs:
            ex.abort()
    return per_gate


def main() -> None:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--max", type=int, default=100_000, help="largest number of waiting gates (default 100,000)")
    known, rest = extra.parse_known_args()
    args = parse_args(__doc__.splitlines()[0], rest)
    args.max = known.max
    sizes = [20, 200] if args.smoke else [n for n in (1_000, 10_000, 100_000) if n <= args.max]
    answered = 10 if args.smoke else ANSWERED
    print(f"N executions each waiting at one gate; {answered} answered through GateRemote and awaited:")
    rows = [measure(n, answered) for n in sizes]
    traced_at = sizes[min(1, len(sizes) - 1)]  # 10,000: the store's bounded caches weigh little
    traced_bytes = traced(traced_at)
    first, last = rows[0], rows[-1]
    growth = last["answer_resume_ms"]["p50"] / first["answer_resume_ms"]["p50"]
    big = next((r for r in rows if r["waiting"] == 100_000), None)
    lines = [[f"answer + resume p50, {r['waiting']:,} waiting", f"{r['answer_resume_ms']['p50']:.3f} ms", "", ""]
             for r in rows]
    lines += [
        [f"p50 growth {first['waiting']:,} → {last['waiting']:,}", f"{growth:.2f}×", f"< {TARGET_GROWTH:.0f}×",
         verdict(growth < TARGET_GROWTH)],
        [f"memory per waiting gate (tracemalloc, {traced_at:,})", f"{traced_bytes:.0f} B",
         f"< {TARGET_BYTES_PER_GATE} B", verdict(traced_bytes < TARGET_BYTES_PER_GATE)],
        [f"memory per waiting gate (RSS delta, {last['waiting']:,})", f"{last['rss_bytes_per_gate']:.0f} B",
         f"< {TARGET_BYTES_PER_GATE} B", verdict(last["rss_bytes_per_gate"] < TARGET_BYTES_PER_GATE)],
        *[[f"time to reach {r['waiting']:,} waiting by launch_many (batch {BATCH})",
           f"{r['reach_s']:.2f} s ({r['reach_cpu_s']:.2f} s CPU)", f"< {TARGET_REACH_100K_S:.0f} s" if r is big else "",
           verdict(r["reach_s"] < TARGET_REACH_100K_S) if r is big else ""] for r in rows],
        *[[f"time to reach {r['waiting']:,} waiting by single launches", f"{r['reach_single_s']:.2f} s "
           f"({r['reach_single_cpu_s']:.2f} s CPU)", "", ""] for r in rows],
    ]
    print()
    print(table(lines, ["measure", "measured", "target", ""]))
    write_results("waiting", {"targets": {"p50_growth": TARGET_GROWTH, "bytes_per_gate": TARGET_BYTES_PER_GATE,
                                          "reach_100k_s": TARGET_REACH_100K_S}, "sizes": rows,
                              "traced": {"waiting": traced_at, "bytes_per_gate": traced_bytes}}, args)


if __name__ == "__main__":
    sys.exit(main())
