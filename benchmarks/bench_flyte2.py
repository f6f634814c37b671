"""Flyte 2 conditions: time from a condition created in a task to its signal PENDING in the store
and its card (a ``GateWidget``) on the execution's widget.

One Flyte 2 task, launched with ``gatewidgets.launch``, creates and waits on N conditions one after
the other; the task stamps ``perf_counter()`` just before ``flyte.new_condition``. The store's
``reached`` event (signal PENDING) and the widget's card list changing are stamped in this process;
each card is answered at once through ``GateRemote`` so the next condition follows.
Needs ``gatewidgets[flyte2]``.
Usage: python benchmarks/bench_flyte2.py [--smoke] [--out FILE]
"""
from __future__ import annotations

import threading
import time

from _common import fresh_store, parse_args, percentiles, table, write_results

CARD_TARGET_MS = 200.0
created: dict[str, float] = {}


def make_task():
    import flyte

    env = flyte.TaskEnvironment(name="bench")

    @env.task
    async def ask_many(n: int) -> int:
        total = 0
        for i in range(n):
            created[f"c{i}"] = time.perf_counter()
            cond = await flyte.new_condition.aio(f"c{i}", prompt="Value?", data_type=int)
            total += await cond.wait.aio()
        return total

    return ask_many


def bench(n: int) -> dict:
    import gatewidgets
    from gatewidgets import GateRemote
    from gatewidgets.widgets import ExecutionWidget

    ex = gatewidgets.launch(make_task(), n=n)
    pending: dict[str, float] = {}
    carded: dict[str, float] = {}
    remote = GateRemote.for_sandbox()
    lock = threading.Lock()

    def on_store(events) -> None:
        for e in events:
            if e.kind == "reached" and e.signal_id:
                pending.setdefault(e.signal_id, time.perf_counter())

    unsubscribe = remote.subscribe(on_store)
    widget = ExecutionWidget(ex)

    def on_cards(change) -> None:
        stamp = time.perf_counter()
        with lock:
            fresh = [sid for sid in widget.cards if sid not in carded]
            for sid in fresh:
                carded[sid] = stamp
        for sid in fresh:
            threading.Thread(target=remote.set_input, args=(sid, ex.name, 1)).start()

    widget.gates.observe(on_cards, names="children")
    on_cards(None)
    try:
        result = ex.wait(timeout=60 + n)
    finally:
        unsubscribe()
        widget.close()
    assert result == n, result
    to_pending = [(pending[s] - created[s]) * 1e3 for s in created]
    to_card = [(carded[s] - created[s]) * 1e3 for s in created]
    return {"conditions": n, "created_to_pending_ms": percentiles(to_pending),
            "created_to_card_ms": percentiles(to_card)}


def main() -> None:
    args = parse_args(__doc__)
    n = 5 if args.smoke else 200
    with fresh_store():
        bench(min(n, 5))  # warm up: imports, Flyte's controller and event loop
        created.clear()
        results = bench(n)
    results["target_card_ms"] = CARD_TARGET_MS
    p, c = results["created_to_pending_ms"], results["created_to_card_ms"]
    print(table([["condition created -> signal PENDING", f"{p['p50']:.1f}", f"{p['p90']:.1f}", f"{p['p99']:.1f}"],
                 ["condition created -> card on the widget", f"{c['p50']:.1f}", f"{c['p90']:.1f}",
                  f"{c['p99']:.1f}"]],
                ["", "p50 ms", "p90 ms", "p99 ms"]))
    write_results("flyte2", results, args)


if __name__ == "__main__":
    main()
