"""The window in which a finished task would run again after a kill: from a task's return to its completion's
record in the process's completion journal (what recovery replays), p50/p99, for a 1,000-node chain, a
1,000-wide fan-out and the last tasks of 500 two-task executions (for those, also the time to the stored end).

    python benchmarks/bench_journal.py            # full size
    python benchmarks/bench_journal.py --smoke    # tiny size (CI)
"""
from __future__ import annotations

import functools
import itertools
import time
from typing import Any, Callable

from _common import fresh_store, parse_args, percentiles, table, write_results

RETURNED: dict[int, int] = {}  # a task's output -> perf_counter_ns() as it returned (each output is unique)


def shapes(n: int) -> dict[str, Callable[[], Any]]:
    """Runs of each shape, each task's output unique within the run."""
    from gatewidgets import task, workflow

    @task
    def inc(x: int) -> int:
        RETURNED[x + 1] = time.perf_counter_ns()
        return x + 1

    @task
    def tag(i: int) -> int:
        RETURNED[i] = time.perf_counter_ns()
        return i

    @task
    def total(xs: list[int]) -> int:
        RETURNED[-1] = time.perf_counter_ns()
        return -1

    @workflow
    def chain(x: int) -> int:
        return functools.reduce(lambda v, _: inc(x=v), range(n - 1), inc(x=x))

    @workflow
    def fan() -> int:
        return total(xs=[tag(i=i) for i in range(n)])

    @workflow
    def two(x: int) -> int:
        return inc(x=tag(i=x))

    names = itertools.count()

    def many() -> None:  # executions that end with their task: the last one's completion has no successor
        runs = [two.launch(x=10 * i, execution_name=f"two-{next(names)}") for i in range(n // 2)]
        for ex in runs:
            ex.wait(timeout=120)

    return {"chain": functools.partial(chain, x=0), "fan": fan, "last tasks": many}


def measure(n: int, reps: int) -> dict[str, Any]:
    from gatewidgets.store import open_store

    store = open_store()
    journaled: dict[int, int] = {}  # output -> perf_counter_ns() once its completion is in the journal
    ended: dict[int, int] = {}  # execution output -> perf_counter_ns() once its end is committed
    append, finish = store._journal_append, store.finish_execution

    def journal_append(line: str) -> bool:
        done = append(line)
        journaled[int(line.rstrip("\0").rsplit("\t", 1)[1])] = time.perf_counter_ns()
        return done

    def finish_execution(key: Any, status: Any, **kwargs: Any) -> list[str]:
        cancelled = finish(key, status, **kwargs)
        ended[kwargs.get("outputs")] = time.perf_counter_ns()  # type: ignore[index]
        return cancelled

    store._journal_append = journal_append  # type: ignore[method-assign]
    store.finish_execution = finish_execution  # type: ignore[method-assign]
    out: dict[str, Any] = {}
    for name, run in shapes(n).items():
        to_journal: list[float] = []
        to_end: list[float] = []
        for _ in range(reps):
            RETURNED.clear()
            journaled.clear()
            ended.clear()
            run()
            to_journal += [(journaled[v] - t) / 1e3 for v, t in RETURNED.items() if v in journaled]
            if name == "last tasks":
                to_end += [(ended[v] - t) / 1e3 for v, t in RETURNED.items() if v in ended]
        out[name] = {"return_to_journal_us": percentiles(to_journal)}
        if to_end:
            out[name]["return_to_stored_end_us"] = percentiles(to_end)
    return out


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    n = 20 if args.smoke else 1000
    reps = 1 if args.smoke else 5
    print(f"task return -> completion journaled: {n}-node chain, {n}-wide fan, last tasks of {n // 2} executions; "
          f"{reps} runs each")
    with fresh_store():
        results: dict[str, Any] = {"nodes": n, "reps": reps, **measure(n, reps)}
    rows = []
    for shape in ("chain", "fan", "last tasks"):
        for what, field in (("journal record", "return_to_journal_us"), ("stored end", "return_to_stored_end_us")):
            if field in results[shape]:
                p = results[shape][field]
                rows.append([shape, what, p["n"], f"{p['p50']:.1f}", f"{p['p99']:.1f}", f"{p['max']:.1f}"])
    print()
    print(table(rows, ["shape", "task return ->", "samples", "p50 µs", "p99 µs", "max µs"]))
    write_results("journal", results, args)


if __name__ == "__main__":
    main()
