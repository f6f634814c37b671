"""Host workflows in a process of their own, for the cross-process tests.

Usage: ``python host.py MODE OUTDIR [COUNT]`` with ``$GATEWIDGETS_STORE`` pointing at the
test's store. Prints one JSON line with the outcome when its executions end.

- ``signals``: execution ``xp`` waits for ``n`` (int), ``s`` (str), ``cfg`` (a dataclass)
  and the approval ``ok``; prints what the workflow returned, or its error.
- ``latency``: executions ``lat-0`` .. ``lat-{COUNT-1}`` each wait for ``x`` (int); the task
  after the gate writes ``time.time()`` to ``OUTDIR/lat-<x>.txt`` as its first act.
- ``recover-start``: execution ``rec`` runs ``counted`` (appends a line to ``OUTDIR/counter``)
  then waits for ``ok``, and for ``limit`` (10 minute deadline); this process is meant to be
  killed while it waits.
- ``recover``: resumes ``rec`` with ``recover=True`` and prints its result.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

from gatewidgets import GateError, approve, task, wait_for_input, workflow


@dataclasses.dataclass
class Config:
    retries: int
    label: str


@task
def describe(n: int, s: str, cfg: Config) -> str:
    return f"{n}|{s}|{type(cfg).__name__}({cfg.retries},{cfg.label})"


@task
def shout(text: str) -> str:
    return text.upper()


@workflow
def signals_wf() -> str:
    n = wait_for_input("n", timeout=None, expected_type=int)
    s = wait_for_input("s", timeout=None, expected_type=str)
    cfg = wait_for_input("cfg", timeout=None, expected_type=Config)
    return shout(text=approve(describe(n=n, s=s, cfg=cfg), "ok", timeout=None))


@task
def stamp(x: int, outdir: str) -> int:
    now = time.time()
    Path(outdir, f"lat-{x}.txt").write_text(repr(now))
    return x


@workflow
def latency_wf(outdir: str) -> int:
    return stamp(x=wait_for_input("x", timeout=None, expected_type=int), outdir=outdir)


@task
def counted(outdir: str) -> int:
    with open(Path(outdir, "counter"), "a") as f:
        f.write("ran\n")
    return 41


@task
def plus_one(v: int) -> int:
    return v + 1


@task
def add(a: int, b: int) -> int:
    return a + b


@workflow
def recover_wf(outdir: str) -> int:
    limit = wait_for_input("limit", timeout=timedelta(minutes=10), expected_type=int, default=0)
    return add(a=plus_one(v=approve(counted(outdir=outdir), "ok", timeout=None)), b=limit)


def main() -> None:
    mode, outdir = sys.argv[1], sys.argv[2]
    if mode == "signals":
        ex = signals_wf.launch(execution_name="xp")
        try:
            print(json.dumps({"result": ex.wait(60)}), flush=True)
        except GateError as exc:
            print(json.dumps({"error": type(exc).__name__, "status": ex.status.value,
                              "signals": {s.signal_id: s.state.value for s in ex.signals()}}), flush=True)
    elif mode == "latency":
        count = int(sys.argv[3])
        executions = [latency_wf.launch(outdir=outdir, execution_name=f"lat-{i}") for i in range(count)]
        print(json.dumps({"results": [e.wait(120) for e in executions]}), flush=True)
    elif mode == "recover-start":
        recover_wf.launch(outdir=outdir, execution_name="rec")
        time.sleep(120)  # killed by the test long before
    elif mode == "recover":
        ex = recover_wf.launch(outdir=outdir, execution_name="rec", recover=True)
        print(json.dumps({"result": ex.wait(60)}), flush=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
