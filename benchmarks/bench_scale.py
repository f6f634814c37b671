"""Scale: 10,000 gates waiting at once across 1,000 executions in one process, and
``list_signals(limit=100, filters=[eq(state,PENDING)])`` with 100,000 signals in the store.

Reports threads held, memory per waiting gate (RSS delta and tracemalloc, each divided by
the number of gates, so the executions' own bookkeeping is counted in), and time to launch.

    python benchmarks/bench_scale.py            # full size
    python benchmarks/bench_scale.py --smoke    # tiny size (CI)
"""
from __future__ import annotations

import threading
import time
import tracemalloc
from datetime import timedelta
from typing import Any

from _common import collect, fresh_store, parse_args, percentiles, rss_bytes, table, verdict, write_results

GATES_PER_EXECUTION = 10
TARGET_BYTES_PER_GATE = 4096
TARGET_LIST_P50_MS = 10.0


def os_threads() -> int:
    """Threads of this process as the kernel sees them (Python's count misses none, but say so plainly)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
    except (OSError, StopIteration):
        return threading.active_count()


def define() -> Any:
    """A workflow of independent gates, each with a deadline (so the timer heap holds them too)."""
    from gatewidgets import wait_for_input, workflow

    @workflow
    def held() -> None:
        for i in range(GATES_PER_EXECUTION):
            wait_for_input(f"g{i}", timeout=timedelta(days=1), expected_type=int)

    return held


def launch_all(wf: Any, executions: int) -> tuple[list[Any], float]:
    from gatewidgets import NodeState

    start = time.perf_counter()
    runs = [wf.launch() for _ in range(executions)]
    for ex in runs:
        if not all(s is NodeState.WAITING for s in ex.node_states.values()):
            raise RuntimeError(f"{ex.name}: not every gate is waiting after launch: {ex.node_states}")
    return runs, time.perf_counter() - start


def hold_gates(wf: Any, executions: int) -> dict[str, Any]:
    """Launch ``executions`` runs, measure threads, RSS and launch time while all gates wait."""
    from gatewidgets import ExecutionStatus
    from gatewidgets.engine import default_executor

    gates = executions * GATES_PER_EXECUTION
    collect()
    threads_before, rss_before = os_threads(), rss_bytes()
    runs, launch_s = launch_all(wf, executions)
    default_executor().store.flush()
    collect()
    threads_after, rss_after = os_threads(), rss_bytes()
    registered = len(default_executor().waits)
    print(f"  launched {executions} executions / {gates} waiting gates in {launch_s:.2f} s "
          f"({launch_s / executions * 1e3:.2f} ms per execution); registrations held: {registered}")
    print(f"  threads: {threads_before} before, {threads_after} while {gates} gates wait")
    print(f"  RSS: +{(rss_after - rss_before) / 2**20:.1f} MiB = {(rss_after - rss_before) / gates:.0f} B per gate")
    for ex in runs:
        if ex.status is not ExecutionStatus.RUNNING:
            raise RuntimeError(f"{ex.name} ended while its gates should wait: {ex.status} {ex.error}")
    return {"executions": executions, "gates": gates, "launch_s": launch_s,
            "launch_ms_per_execution": launch_s / executions * 1e3,
            "threads_before": threads_before, "threads_while_waiting": threads_after,
            "threads_added": threads_after - threads_before, "waiting_registrations": registered,
            "rss_delta_bytes": rss_after - rss_before, "rss_bytes_per_gate": (rss_after - rss_before) / gates,
            "runs": runs}


def traced_gates(wf: Any, executions: int) -> dict[str, Any]:
    """The same launch under tracemalloc: Python heap bytes per waiting gate."""
    gates = executions * GATES_PER_EXECUTION
    collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    runs, _ = launch_all(wf, executions)
    from gatewidgets.engine import default_executor

    default_executor().store.flush()
    collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    stats = after.compare_to(before, "filename")
    delta = sum(s.size_diff for s in stats)
    top = [{"file": str(s.traceback[0].filename).rsplit("/", 2)[-1] if s.traceback else "?", "bytes": s.size_diff}
           for s in sorted(stats, key=lambda s: -s.size_diff)[:8]]
    print(f"  tracemalloc: +{delta / 2**20:.1f} MiB = {delta / gates:.0f} B per gate; biggest: "
          + ", ".join(f"{t['file']} {t['bytes'] / gates:.0f} B" for t in top[:4]))
    return {"gates": gates, "traced_delta_bytes": delta, "traced_bytes_per_gate": delta / gates,
            "top_files_bytes": top, "runs": runs}


def fill_store(total: int, existing: int) -> None:
    """Add finished-looking executions until the store holds ``total`` signals (``UPCOMING``)."""
    from gatewidgets.engine import default_executor
    from gatewidgets.models.execution import WorkflowExecutionIdentifier
    from gatewidgets.settings import settings
    from gatewidgets.types import GateType

    store = default_executor().store
    record = GateType.of(int).to_record()
    nodes = [{"node_id": f"n{i}", "kind": "input", "name": f"g{i}", "upstream": [], "signal_id": f"g{i}"}
             for i in range(GATES_PER_EXECUTION)]
    signals = [{"signal_id": f"g{i}", "kind": "input", "description": None, "node_id": f"n{i}", "type": record}
               for i in range(GATES_PER_EXECUTION)]
    for e in range((total - existing) // GATES_PER_EXECUTION):
        key = WorkflowExecutionIdentifier(settings.default_project, settings.default_domain, f"filler-{e}")
        store.create_execution(key, "filler", {}, nodes, signals)


def time_list(reps: int) -> dict[str, Any]:
    from gatewidgets import GateRemote
    from gatewidgets.models.filters import Filter

    remote = GateRemote.for_sandbox()
    filters = [Filter.from_python_std("eq(state,PENDING)")]
    got = remote.list_signals(limit=100, filters=filters)
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        got = remote.list_signals(limit=100, filters=filters)
        samples.append((time.perf_counter() - start) * 1e3)
    return {"returned": len(got), "pending": remote.count_signals(filters=filters), "ms": percentiles(samples)}


def all_pending() -> None:
    """Benchmark fixture: mark every ``UPCOMING`` signal ``PENDING`` in one statement (the worst case)."""
    from gatewidgets.engine import default_executor
    from gatewidgets.store.base import now
    from gatewidgets.store.sqlite.rows import ts

    store = default_executor().store
    with store._write() as conn:
        conn.execute("UPDATE signals SET state='PENDING', waiting_since=? WHERE state='UPCOMING'", (ts(now()),))


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    executions = 20 if args.smoke else 1000
    total_signals = 1000 if args.smoke else 100_000
    reps = 5 if args.smoke else 200
    results: dict[str, Any] = {"targets": {"threads_added": "no thread per gate",
                                           "bytes_per_gate": TARGET_BYTES_PER_GATE,
                                           "list_signals_p50_ms": TARGET_LIST_P50_MS}}
    with fresh_store():
        wf = define()
        warm = wf.launch()
        warm.abort()
        print(f"{executions * GATES_PER_EXECUTION} gates waiting across {executions} executions:")
        held = hold_gates(wf, executions)
        traced = traced_gates(wf, executions)
        for ex in traced.pop("runs"):
            ex.abort()
        results["hold"] = {k: v for k, v in held.items() if k != "runs"}
        results["traced"] = traced
        print(f"list_signals(limit=100, filters=[eq(state,PENDING)]) with {total_signals} signals in the store:")
        fill_store(total_signals, 2 * executions * GATES_PER_EXECUTION)
        from gatewidgets.remote import GateRemote

        stored = GateRemote.for_sandbox().count_signals()
        some = time_list(reps)
        print(f"  {some['pending']:>6} of {stored} pending: p50 {some['ms']['p50']:.2f} ms, "
              f"p99 {some['ms']['p99']:.2f} ms")
        all_pending()
        every = time_list(reps)
        print(f"  {every['pending']:>6} of {stored} pending: p50 {every['ms']['p50']:.2f} ms, "
              f"p99 {every['ms']['p99']:.2f} ms")
        results["list_signals"] = {"signals_in_store": stored, "reps": reps, "some_pending": some,
                                   "all_pending": every}
        for ex in held["runs"]:
            ex.abort()
    h, t = results["hold"], results["traced"]
    worst = max(some["ms"]["p50"], every["ms"]["p50"])
    rows = [
        ["threads added while gates wait", f"{h['threads_added']} (for {h['gates']} gates)", "no thread per gate",
         verdict(h["threads_added"] < h["gates"] / 100)],
        ["memory per gate (tracemalloc)", f"{t['traced_bytes_per_gate']:.0f} B", f"< {TARGET_BYTES_PER_GATE} B",
         verdict(t["traced_bytes_per_gate"] < TARGET_BYTES_PER_GATE)],
        ["memory per gate (RSS delta)", f"{h['rss_bytes_per_gate']:.0f} B", f"< {TARGET_BYTES_PER_GATE} B",
         verdict(h["rss_bytes_per_gate"] < TARGET_BYTES_PER_GATE)],
        ["time to launch all", f"{h['launch_s']:.2f} s", "-", ""],
        ["list_signals p50 (worst case)", f"{worst:.2f} ms", f"< {TARGET_LIST_P50_MS} ms",
         verdict(worst < TARGET_LIST_P50_MS)],
    ]
    print()
    print(table(rows, ["measure", "measured", "target", ""]))
    write_results("scale", results, args)


if __name__ == "__main__":
    main()
