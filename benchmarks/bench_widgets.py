"""Widget speed: a SignalDashboard of 1,000 pending signals (build, page) — typed inputs, and
approvals each carrying evidence (a DataFrame table) — with all 1,000 as compact rows on one page,
the time to expand a row to its card, the time from a gate being reached to its card shown in an
ExecutionWidget, and the DAG picture of a 1,000-node workflow.

Targets: the dashboard builds in under 1 s and pages; a card appears within 200 ms; a 1,000-node
graph draws in under 1 s.
Usage: python benchmarks/bench_widgets.py [--smoke] [--out FILE]
"""
from __future__ import annotations

import time
from datetime import timedelta

from _common import fresh_store, parse_args, percentiles, table, verdict, wait_until, write_results

BUILD_TARGET_S = 1.0
CARD_TARGET_MS = 200.0
GRAPH_TARGET_S = 1.0


def make_workflow(gates: int):
    from gatewidgets import wait_for_input, workflow

    @workflow
    def many_gates() -> None:
        for i in range(gates):
            wait_for_input(f"g{i}", timeout=timedelta(hours=1), expected_type=int)

    return many_gates


def make_approval_workflow(gates: int):
    """``gates`` approvals of a 20-row table (a DataFrame where pandas is installed, else a dict)."""
    from gatewidgets import approve, task, workflow

    @task
    def expenses() -> object:
        rows = {"amount": list(range(20)), "payee": [f"payee {i}" for i in range(20)]}
        try:
            import pandas as pd
        except ImportError:
            return rows
        return pd.DataFrame(rows)

    @workflow
    def many_approvals() -> None:
        table_ = expenses()
        for i in range(gates):
            approve(table_, f"a{i}", timeout=timedelta(hours=1))

    return many_approvals


def bench_dashboard(executions: int, gates: int, evidence: bool = False, page_size: int = 20) -> dict:
    from gatewidgets import GateRemote
    from gatewidgets.widgets import SignalDashboard

    wf = make_approval_workflow(gates) if evidence else make_workflow(gates)
    launched = [wf.launch() for _ in range(executions)]
    remote = GateRemote.for_sandbox()
    total = executions * gates
    wait_until(lambda: remote.count_signals(filters="eq(state,PENDING)") == total, 120, f"{total} pending signals")
    t0 = time.perf_counter()
    board = SignalDashboard(page_size=page_size)
    build = time.perf_counter() - t0
    assert board.total == total and len(board.list.rows) == min(total, page_size), board.total
    t0 = time.perf_counter()
    card = board.expand(0)
    expand = time.perf_counter() - t0
    assert not evidence or "<table" in card.evidence.value
    pages = []
    for _ in range(min(5, board.pages - 1)):
        t0 = time.perf_counter()
        board.next_button.click()
        pages.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    board.go(board.pages - 1)
    last = time.perf_counter() - t0
    board.close()
    for ex in launched:
        ex.abort()
    return {"signals": total, "executions": executions, "page_size": board.page_size, "build_s": build,
            "expand_s": expand, "next_page_s": percentiles(pages), "jump_to_last_page_s": last,
            "target_build_s": BUILD_TARGET_S, "build_ok": build < BUILD_TARGET_S}


def bench_card(reps: int) -> dict:
    from gatewidgets import task, wait_for_input, workflow
    from gatewidgets.widgets import ExecutionWidget

    @task
    def one() -> int:
        time.sleep(0.05)  # the widget is built before the gate is reached
        return 1

    @task
    def add(a: int, b: int) -> int:
        return a + b

    @workflow
    def gated() -> int:
        first = one()
        n = wait_for_input("n", timeout=None, expected_type=int)
        first >> n
        return add(a=first, b=n)

    samples = []
    for _ in range(reps):
        ex = gated.launch()
        reached: dict[str, float] = {}
        # our listener runs before the widget's (subscribed first): it stamps the gate reached
        ex.subscribe(lambda e, reached=reached: reached.setdefault("t", time.perf_counter())
                     if e.kind == "gate_waiting" else None)
        view = ExecutionWidget(ex)
        wait_until(lambda view=view: "n" in view.cards, 10, "the gate card")
        t_card = time.perf_counter()
        if "t" in reached:  # the gate was reached after the widget was built
            samples.append((t_card - reached["t"]) * 1000)
        view.gate("n").submit(1)
        ex.wait(timeout=10)
        view.close()
    stats = percentiles(samples)
    return {"reps": reps, "gate_reached_to_card_ms": stats, "target_ms": CARD_TARGET_MS,
            "ok": bool(samples) and stats["p90"] < CARD_TARGET_MS}


def make_graph_workflow(branches: int, length: int):
    """``branches`` chains of ``length`` calls of one task, all summed by one task, plus an input gate
    read by the last step: ``branches * length + 3`` nodes, most of them sharing a name."""
    from gatewidgets import task, wait_for_input, workflow

    @task
    def step(x: int) -> int:
        return x + 1

    @task
    def total(xs: list[int]) -> int:
        return sum(xs)

    @task
    def publish(t: int, channel: str) -> str:
        return f"{t} to {channel}"

    @workflow
    def big() -> str:
        ends = []
        for b in range(branches):
            x = step(x=b)
            for _ in range(length - 1):
                x = step(x=x)
            ends.append(x)
        channel = wait_for_input("channel", timeout=None, expected_type=str, default="#general")
        return publish(t=total(xs=ends), channel=channel)

    return big


def bench_graph(branches: int, length: int, reps: int) -> dict:
    from gatewidgets.widgets.dag import dag_html

    wf = make_graph_workflow(branches, length)
    states = {nid: "SUCCEEDED" for nid in wf.nodes}
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        markup = dag_html(wf.nodes, states, wf.order)
        samples.append(time.perf_counter() - t0)
    assert markup.count('class="gatewidgets-node') == len(wf.nodes)
    best = min(samples)
    return {"nodes": len(wf.nodes), "reps": reps, "draw_s": percentiles(samples), "best_s": best,
            "bytes": len(markup), "target_s": GRAPH_TARGET_S, "ok": best < GRAPH_TARGET_S}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    executions, gates, reps = (2, 5, 3) if args.smoke else (50, 20, 30)
    branches, length = (3, 3) if args.smoke else (40, 25)
    with fresh_store():
        dashboard = bench_dashboard(executions, gates)
    with fresh_store():
        rows = bench_dashboard(executions, gates, page_size=executions * gates)
    with fresh_store():
        approvals = bench_dashboard(executions, gates, evidence=True)
    graph = bench_graph(branches, length, 3 if args.smoke else 5)
    with fresh_store():
        card = bench_card(reps)
    print(table([
        ["dashboard build", f"{dashboard['signals']} pending", f"{dashboard['build_s'] * 1000:.0f} ms",
         f"< {BUILD_TARGET_S * 1000:.0f} ms", verdict(dashboard["build_ok"])],
        ["dashboard next page", f"p50 of {dashboard['next_page_s']['n']}",
         f"{dashboard['next_page_s']['p50'] * 1000:.0f} ms", "", ""],
        ["dashboard last page", "", f"{dashboard['jump_to_last_page_s'] * 1000:.0f} ms", "", ""],
        ["dashboard build, every row on one page", f"{rows['signals']} rows", f"{rows['build_s'] * 1000:.0f} ms",
         f"< {BUILD_TARGET_S * 1000:.0f} ms", verdict(rows["build_ok"])],
        ["  expand a row to its card", "", f"{rows['expand_s'] * 1000:.0f} ms", "", ""],
        ["dashboard build, approvals with evidence", f"{approvals['signals']} pending",
         f"{approvals['build_s'] * 1000:.0f} ms", f"< {BUILD_TARGET_S * 1000:.0f} ms", verdict(approvals["build_ok"])],
        ["  next page", f"p50 of {approvals['next_page_s']['n']}",
         f"{approvals['next_page_s']['p50'] * 1000:.0f} ms", "", ""],
        ["gate reached -> card", f"p50 / p90 of {card['gate_reached_to_card_ms']['n']}",
         f"{card['gate_reached_to_card_ms']['p50']:.1f} / {card['gate_reached_to_card_ms']['p90']:.1f} ms",
         f"< {CARD_TARGET_MS:.0f} ms", verdict(card["ok"])],
        ["DAG picture (dag_html)", f"{graph['nodes']} nodes, best of {graph['reps']}",
         f"{graph['best_s'] * 1000:.0f} ms", f"< {GRAPH_TARGET_S * 1000:.0f} ms", verdict(graph["ok"])],
    ], ["what", "size", "time", "target", ""]))
    write_results("widgets", {"dashboard": dashboard, "rows": rows, "approvals_with_evidence": approvals,
                              "card": card, "graph": graph}, args)


if __name__ == "__main__":
    main()
