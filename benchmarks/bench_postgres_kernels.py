"""PostgreSQL store at a team's scale: 1,000,000 signals in one database, 100,000 of them waiting in four kernel
processes (25,000 executions each, one gate each, launched with ``launch_many``), and the dashboard's query beside
them.

Each kernel reports the time it took to reach its waiting gates, its threads (no thread per gate: the count must
not grow with the gates) and its memory per waiting gate (RSS delta); this process then times
``list_signals(limit=100, filters=[eq(state,PENDING)])`` across executions (the other 900,000 signals are closed,
inserted by SQL), and answers a sample of gates spread over the four kernels from here, each resuming in its
kernel (a task runs on the answer).

    python benchmarks/bench_postgres_kernels.py --store postgresql://user@/db?host=/run/postgresql  # EMPTY database
    python benchmarks/bench_postgres_kernels.py --store ... --smoke   # tiny sizes
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

from _common import fresh_store, parse_args, percentiles, rss_bytes, table, verdict, write_results
from bench_postgres import seed

from gatewidgets.models.filters import parse_filters
from gatewidgets.store.postgres.store import PostgresStore

KERNELS = 4
FIRST = 100  # gates reached before the thread count is taken: the store's own threads are up by then
TARGETS = {"list_p50_ms": 10.0, "threads_growth": 0}


def kernel(index: int, gates: int) -> None:
    """One kernel process: reach ``gates`` waiting executions, report, then run the tasks of answered gates until
    told to stop (stdin closed)."""
    from gatewidgets import task, wait_for_input, workflow

    @task
    def after(n: int) -> int:
        return n + 1

    @workflow
    def waits_once() -> int:
        return after(n=wait_for_input("n", timeout=86_400, expected_type=int))

    names = [f"k{index}-{i}" for i in range(gates)]
    first = min(FIRST, gates)
    started = time.perf_counter()
    runs = waits_once.launch_many([{}] * first, execution_names=names[:first])
    time.sleep(1.0)  # the store's own threads (pool, heartbeat, listener, writer) are up now
    threads, rss = threading.active_count(), rss_bytes()
    runs += waits_once.launch_many([{}] * (gates - first), execution_names=names[first:])
    reach_s = time.perf_counter() - started - 1.0
    time.sleep(1.0)
    print(json.dumps({"kernel": index, "reach_s": reach_s, "first": first, "threads_before": threads,
                      "threads_after": threading.active_count(),
                      "rss_per_gate": (rss_bytes() - rss) / max(1, gates - first)}), flush=True)
    sys.stdin.read()  # the parent answers some gates meanwhile, then closes stdin
    print(json.dumps({"kernel": index, "done": sum(ex.done() for ex in runs)}), flush=True)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    if not args.store:
        raise SystemExit("--store postgresql://... (an empty database) is required")
    per_kernel, closed, list_reps, answered = (150, 1_000, 20, 8) if args.smoke else (25_000, 900_000, 200, 100)
    results: dict[str, Any] = {"targets": TARGETS, "kernels": KERNELS, "waiting": KERNELS * per_kernel}
    with fresh_store(url=args.store) as url:
        PostgresStore(url).close()  # the tables, before the seed
        print(f"seeding {closed:,} closed signals ...", flush=True)
        results["seed_s"] = seed(url, closed, pending=False, scope=("default", "development"), prefix="old-",
                                 status="SUCCEEDED")
        print(f"{KERNELS} kernels reach {per_kernel:,} waiting gates each ...", flush=True)
        env = {**os.environ, "GATEWIDGETS_STORE": url}
        kernels = [subprocess.Popen([sys.executable, __file__, "_kernel", str(k), str(per_kernel)], env=env,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                   for k in range(KERNELS)]
        try:
            reports = [json.loads(k.stdout.readline()) for k in kernels if k.stdout is not None]
            store = PostgresStore(url)
            pending = parse_filters("eq(state,PENDING)")
            times = []
            for _ in range(list_reps):
                started = time.perf_counter()
                page = store.list_signals(None, filters=pending, limit=100)
                times.append((time.perf_counter() - started) * 1e3)
            assert len(page) == 100 and all(s.state.value == "PENDING" for s in page)
            total = store.count_signals(None, filters=pending)
            from gatewidgets import GateRemote

            remote = GateRemote(store=store)
            resumed = []
            for i in range(answered):
                name = f"k{i % KERNELS}-{i * 7919 % per_kernel}"
                started = time.perf_counter()
                remote.set_input("n", name, i)
                while remote.get_execution(name).status.value == "RUNNING":
                    time.sleep(0.001)
                resumed.append((time.perf_counter() - started) * 1e3)
            store.close()
        finally:
            for k in kernels:
                if k.stdin is not None:
                    k.stdin.close()
            finals = [json.loads(k.stdout.readline()) for k in kernels if k.stdout is not None]
            for k in kernels:
                k.wait(timeout=120)
    results.update({"per_kernel": reports, "pending_listed": total, "list_signals_ms": percentiles(times),
                    "answer_to_done_ms": percentiles(resumed), "done_per_kernel": [f["done"] for f in finals]})
    grown = max(r["threads_after"] - r["threads_before"] for r in reports)
    rows = [[f"kernel {r['kernel']}: reach {per_kernel:,} waiting (launch_many)", f"{r['reach_s']:.1f} s",
             f"threads {r['threads_before']} -> {r['threads_after']}", f"{r['rss_per_gate']:.0f} B/gate", ""]
            for r in reports]
    rows += [[f"list_signals(limit=100, eq(state,PENDING)), {closed + KERNELS * per_kernel:,} signals, "
              f"{total:,} pending", "p50 / p99 ms",
              f"{results['list_signals_ms']['p50']:.2f} / {results['list_signals_ms']['p99']:.2f}",
              f"< {TARGETS['list_p50_ms']:g}", verdict(results["list_signals_ms"]["p50"] < TARGETS["list_p50_ms"])],
             [f"answer here -> its execution done in its kernel ({answered} answers)", "p50 / p99 ms",
              f"{results['answer_to_done_ms']['p50']:.1f} / {results['answer_to_done_ms']['p99']:.1f}", "", ""],
             [f"threads a kernel grew by from {FIRST} to {per_kernel:,} waiting gates", "threads", str(grown),
              "0 (no thread per gate)", verdict(grown <= TARGETS["threads_growth"])]]
    print()
    print(table(rows, ["measure", "unit", "figure", "target", ""]))
    write_results("postgres_kernels", results, args)


if __name__ == "__main__":
    if sys.argv[1:2] == ["_kernel"]:
        kernel(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(main())
