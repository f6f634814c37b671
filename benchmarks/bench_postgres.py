"""PostgreSQL store, the team store's figures in one run on one database:

(a) a signal set in another process -> the task after its gate starts here (``LISTEN/NOTIFY``), p50 / p99;
(b) engine overhead per node on PostgreSQL against flytekit's local execution, the same 1,000-node chain of
    trivial int tasks, repetitions interleaved in this process (every completion committed before its successor
    starts, with the check of the owner's lease);
(c) ``list_signals(limit=100, filters=[eq(state,PENDING)])`` across executions with 1,000,000 signals in the
    database, 100,000 of them pending (inserted by SQL, not launched: this measures the listing), p50 / p99;
(floor) one round trip to this database with psycopg, autocommit: ``SELECT 1``, and a one-row ``UPDATE`` with the
    store's commit setting (``synchronous_commit = off``, durability "process") and with ``on`` ("machine"),
    p50 / p99: what a completion's durable write cannot go below.

    python benchmarks/bench_postgres.py --store postgresql://user@/db?host=/run/postgresql   # an EMPTY database
    python benchmarks/bench_postgres.py --store ... --smoke   # tiny sizes
    python benchmarks/bench_postgres.py --store ... --parts floor,engine   # some parts only
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Any, Callable

import psycopg
from _common import fresh_store, parse_args, percentiles, table, verdict, write_results
from bench_engine import flytekit_shapes, gatewidgets_shapes, measure
from bench_latency import cross_process

from gatewidgets.models.filters import parse_filters
from gatewidgets.store.postgres.store import PostgresStore
from gatewidgets.store.sql import dumps
from gatewidgets.types import GateType

TARGETS = {"wake_p50_ms": 10.0, "wake_p99_ms": 50.0, "engine_ratio": 20.0, "list_p50_ms": 10.0}
SIGNALS = 1_000_000  # (c): signals in the database, one in ten pending (the scale)
STAMP = "'2026-01-01T00:00:00.000000+00:00'"


def seed(url: str, signals: int, *, pending: bool = True, scope: tuple[str, str] = ("p", "d"), prefix: str = "ex-",
         status: str = "RUNNING") -> float:
    """Insert ``signals`` signals, ten per execution (named ``prefix`` + a number, in ``scope``), one in ten
    ``PENDING`` (none without ``pending``), the rest ``SET``; seconds taken."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO executions (project, domain, name, workflow, status, created_at, updated_at) "
                     f"SELECT %s, %s, %s || g, 'wf', %s, {STAMP}, {STAMP} FROM generate_series(0, %s) g",
                     (*scope, prefix, status, signals // 10))
        conn.execute(
            "INSERT INTO signals (project, domain, execution, signal_id, seq, kind, node_id, type, state, created_at) "
            "SELECT %s, %s, %s || (g / 10), 's' || (g %% 10), g %% 10, 'approve', 'n', %s, "
            "CASE WHEN %s AND g %% 10 = 0 THEN 'PENDING' ELSE 'SET' END, to_char(timestamp '2026-01-01' + g * "
            "interval '1 millisecond', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00' FROM generate_series(0, %s - 1) g",
            (*scope, prefix, dumps(GateType.of(bool).to_record()), pending, signals))
        conn.execute("ANALYZE")
    return time.perf_counter() - started


def listing(url: str, signals: int, reps: int) -> dict[str, Any]:
    """(c): seed, then time the dashboard's first page of pending signals."""
    seconds = seed(url, signals)
    store = PostgresStore(url)
    pending = parse_filters("eq(state,PENDING)")
    times = []
    try:
        for _ in range(reps):
            started = time.perf_counter()
            page = store.list_signals(None, filters=pending, limit=100)
            times.append((time.perf_counter() - started) * 1e3)
    finally:
        store.close()
    assert len(page) == 100 and all(s.state.value == "PENDING" for s in page)
    return {"signals": signals, "pending": signals // 10, "seed_s": seconds, "list_signals_ms": percentiles(times)}


def floor(url: str, reps: int) -> dict[str, Any]:
    """(floor): one autocommit round trip, µs: ``SELECT 1``, and a one-row ``UPDATE`` committed without and with
    waiting for the server's disk (a table made for it, dropped after)."""
    out: dict[str, Any] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_floor (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)")
        conn.execute("INSERT INTO bench_floor VALUES (1, 0)")
        try:
            for name, commit, sql in (("select_1", "off", "SELECT 1"),
                                      ("update_async_commit", "off", "UPDATE bench_floor SET n = n + 1 WHERE id = 1"),
                                      ("update_sync_commit", "on", "UPDATE bench_floor SET n = n + 1 WHERE id = 1")):
                conn.execute(f"SET synchronous_commit = {commit}")  # type: ignore[call-overload]  # our text
                times = []
                for i in range(reps + reps // 10):  # the first tenth warms up (and prepares the statement)
                    started = time.perf_counter()
                    conn.execute(sql)  # type: ignore[call-overload]  # our text
                    if i >= reps // 10:
                        times.append((time.perf_counter() - started) * 1e6)
                out[name] = percentiles(times)
        finally:
            conn.execute("DROP TABLE bench_floor")
    out["driver"] = psycopg.pq.__impl__
    return out


def engine(n: int, reps: int) -> dict[str, Any]:
    """(b): the chain on this database against flytekit local (skipped without flytekit)."""
    engines: dict[str, Callable[[int], dict[str, Any]]] = {"gatewidgets": lambda size: {
        "chain": gatewidgets_shapes(size)["chain"]}}
    try:
        import flytekit  # noqa: F401 - the peer, imported by its shapes
    except ImportError as exc:
        skipped = {"skipped": f"flytekit is not installed ({exc}); install the bench extra: pip install -e '.[bench]'"}
    else:
        logging.getLogger("flytekit").setLevel(logging.ERROR)
        os.environ.setdefault("FLYTE_SDK_LOGGING_LEVEL", "40")
        engines["flytekit"] = lambda size: {"chain": flytekit_shapes(size)["chain"]}
        skipped = {}
    out = measure(engines, n, reps)
    if skipped:
        out["flytekit"] = skipped
    gw, fk = out["gatewidgets"]["chain"], out.get("flytekit", {}).get("chain")
    out["ratio"] = fk["per_node_us"] / gw["per_node_us"] if fk else None
    out["ratio_cpu"] = fk["per_node_cpu_us"] / gw["per_node_cpu_us"] if fk else None
    return out


PARTS = ("floor", "engine", "wake", "list")


def main() -> None:
    only = argparse.ArgumentParser(add_help=False)
    only.add_argument("--parts", default=",".join(PARTS), help=f"which parts to run, of {','.join(PARTS)}")
    extra, rest = only.parse_known_args()
    args = parse_args(__doc__.splitlines()[0], rest)
    parts = set(extra.parts.split(","))
    if not args.store:
        raise SystemExit("--store postgresql://... (an empty database) is required")
    if parts - set(PARTS):
        raise SystemExit(f"--parts: choose among {','.join(PARTS)}")
    smoke = args.smoke
    samples, gates, nodes, reps = (20, 10, 20, 1) if smoke else (1_000, 100, 1_000, 5)
    signals, list_reps, trips = (10_000, 20, 100) if smoke else (SIGNALS, 200, 5_000)
    results: dict[str, Any] = {"targets": TARGETS, "store": "postgresql"}
    if "floor" in parts:
        print(f"(floor) one round trip, {trips} times ...", flush=True)
        results["floor"] = floor(args.store, trips)
    with fresh_store(url=args.store) as url:
        if "engine" in parts:
            print(f"(b) engine: a {nodes}-node chain, best of {reps}, interleaved with flytekit local ...", flush=True)
            results["engine"] = engine(nodes, reps)
        if "wake" in parts:
            print(f"(a) wake-ups: {samples} signals set by another process ...", flush=True)
            results["wake_up"] = cross_process(samples, gates, url)
    if "list" in parts:
        print(f"(c) listing: {signals:,} signals seeded ...", flush=True)
        results["listing"] = listing(args.store, signals, list_reps)
    print()
    print(table(rows_of(results, nodes), ["measure", "unit", "figure", "target", ""]))
    write_results("postgres", results, args)


def rows_of(results: dict[str, Any], nodes: int) -> list[list[str]]:
    """The printed table: a row per figure of the parts run."""
    rows = []
    if "floor" in results:
        trip = results["floor"]
        rows += [[f"(floor) one autocommit round trip ({trip['driver']} driver): {what}", "p50 / p99 µs",
                  f"{trip[name]['p50']:.0f} / {trip[name]['p99']:.0f}", "", ""]
                 for name, what in (("select_1", "SELECT 1"),
                                    ("update_async_commit", "one-row UPDATE, synchronous_commit off"),
                                    ("update_sync_commit", "one-row UPDATE, synchronous_commit on"))]
    if "wake_up" in results:
        wake = results["wake_up"]
        rows += [
            ["(a) set elsewhere -> task starts, from the set's return", "p50 / p99 ms",
             f"{wake['after_return_ms']['p50']:.2f} / {wake['after_return_ms']['p99']:.2f}",
             f"< {TARGETS['wake_p50_ms']:g} / < {TARGETS['wake_p99_ms']:g}",
             verdict(wake["after_return_ms"]["p50"] < TARGETS["wake_p50_ms"]
                     and wake["after_return_ms"]["p99"] < TARGETS["wake_p99_ms"])],
            ["(a) the same, from the set's call", "p50 / p99 ms",
             f"{wake['from_call_ms']['p50']:.2f} / {wake['from_call_ms']['p99']:.2f}", "", ""]]
    if "engine" in results:
        eng = results["engine"]
        ratio = eng["ratio"]
        rows += [
            [f"(b) {nodes}-node chain, per node: gatewidgets on PostgreSQL / flytekit local", "µs wall",
             f"{eng['gatewidgets']['chain']['per_node_us']:.0f} / "
             + (f"{eng['flytekit']['chain']['per_node_us']:.0f} = {ratio:.1f}x" if ratio else "skipped"),
             f">= {TARGETS['engine_ratio']:g}x", verdict(None if ratio is None else ratio >= TARGETS["engine_ratio"])],
            ["(b) the same, CPU of this process", "µs CPU",
             f"{eng['gatewidgets']['chain']['per_node_cpu_us']:.0f} / "
             + (f"{eng['flytekit']['chain']['per_node_cpu_us']:.0f} = {eng['ratio_cpu']:.1f}x" if ratio
                else "skipped"), "", ""]]
    if "listing" in results:
        lst = results["listing"]
        rows.append(
            [f"(c) list_signals(limit=100, eq(state,PENDING)), {lst['signals']:,} signals ({lst['pending']:,} pending)",
             "p50 / p99 ms", f"{lst['list_signals_ms']['p50']:.2f} / {lst['list_signals_ms']['p99']:.2f}",
             f"< {TARGETS['list_p50_ms']:g}", verdict(lst["list_signals_ms"]["p50"] < TARGETS["list_p50_ms"])])
    return rows


if __name__ == "__main__":
    sys.exit(main())
