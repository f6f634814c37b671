"""PostgreSQL store: ``list_signals(limit=100, filters=[eq(state,PENDING)])`` across executions with 1,000,000
signals in the database, 100,000 of them pending (the dashboard's first page).

The signals are inserted by SQL (``generate_series``), not launched: this measures the listing, not launches.

    python benchmarks/bench_postgres_list.py --store postgresql://user@/db?host=/run/postgresql   # an EMPTY database
    python benchmarks/bench_postgres_list.py --store ... --smoke   # 10,000 signals
"""
from __future__ import annotations

import time
from typing import Any

import psycopg
from _common import parse_args, percentiles, table, verdict, write_results

from gatewidgets.models.filters import parse_filters
from gatewidgets.store.postgres.store import PostgresStore
from gatewidgets.store.sql import dumps
from gatewidgets.types import GateType

TARGET_P50_MS = 10.0
STAMP = "'2026-01-01T00:00:00.000000+00:00'"


def seed(url: str, signals: int) -> float:
    """Insert ``signals`` signals, ten per execution, one in ten ``PENDING``; seconds taken."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO executions (project, domain, name, workflow, status, created_at, updated_at) "
                     f"SELECT 'p', 'd', 'ex-' || g, 'wf', 'RUNNING', {STAMP}, {STAMP} "
                     "FROM generate_series(0, %s) g", (signals // 10,))
        conn.execute(
            "INSERT INTO signals (project, domain, execution, signal_id, seq, kind, node_id, type, state, created_at) "
            "SELECT 'p', 'd', 'ex-' || (g / 10), 's' || (g %% 10), g %% 10, 'approve', 'n', %s, "
            "CASE WHEN g %% 10 = 0 THEN 'PENDING' ELSE 'SET' END, to_char(timestamp '2026-01-01' + g * interval "
            "'1 millisecond', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00' FROM generate_series(0, %s - 1) g",
            (dumps(GateType.of(bool).to_record()), signals))
        conn.execute("ANALYZE")
    return time.perf_counter() - started


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    if not args.store:
        raise SystemExit("--store postgresql://... (an empty database) is required")
    signals, reps = (10_000, 20) if args.smoke else (1_000_000, 200)
    store = PostgresStore(args.store)
    try:
        seconds = seed(args.store, signals)
        pending = parse_filters("eq(state,PENDING)")
        times = []
        for _ in range(reps):
            started = time.perf_counter()
            page = store.list_signals(None, filters=pending, limit=100)
            times.append((time.perf_counter() - started) * 1e3)
        assert len(page) == 100 and all(s.state.value == "PENDING" for s in page)
    finally:
        store.close()
    figures = percentiles(times)
    results: dict[str, Any] = {"signals": signals, "pending": signals // 10, "seed_s": seconds,
                               "list_signals_ms": figures, "target_p50_ms": TARGET_P50_MS}
    print(table([["list_signals(limit=100, eq(state,PENDING))", f"{figures['p50']:.2f}", f"{figures['p99']:.2f}",
                  f"< {TARGET_P50_MS}", verdict(figures["p50"] < TARGET_P50_MS)]],
                ["call", "p50 ms", "p99 ms", "target p50 ms", ""]))
    print(f"{signals:,} signals ({signals // 10:,} pending) seeded in {seconds:.1f} s")
    write_results("postgres_list", results, args)


if __name__ == "__main__":
    main()
