"""Run by the lease tests in a subprocess, as a kernel on a machine of its own: launch (or recover) a chain of
steps, then a gate, then a last step, on a PostgreSQL store, and report how the execution ended here.

Usage: ``python lease_holder.py run|recover URL HOST LEASE SIDE_FILE NAME PAUSE``

- ``HOST``: the machine name this process records as an execution's owner (two processes of one test are two
  machines: on one host a paused process still counts as alive, whatever its lease);
- ``LEASE``: seconds of its leases; ``SIDE_FILE``: every step appends ``<step> <pid>`` to it as it starts;
- ``PAUSE``: seconds each step sleeps after that (``recover`` takes the stored one).

Prints one JSON line when the execution ends here: ``{"pid", "outputs"}`` or ``{"pid", "error", "message"}``.
"""
from __future__ import annotations

import json
import os
import sys
import time

from gatewidgets import approve, task, workflow
from gatewidgets.engine import Executor
from gatewidgets.store.postgres.store import PostgresStore

STEPS = 6


@task
def step(side_file: str, i: int, pause: float) -> int:
    with open(side_file, "a") as f:
        f.write(f"step{i} {os.getpid()}\n")
    time.sleep(pause)
    return i + 1


@workflow
def leased(side_file: str, pause: float) -> int:
    done = 0
    for _ in range(STEPS):
        done = step(side_file=side_file, i=done, pause=pause)
    return step(side_file=side_file, i=approve(done, "go", timeout=None), pause=0.0)


if __name__ == "__main__":
    mode, url, host, lease, side_file, name, pause = sys.argv[1:]
    store = PostgresStore(url, lease=float(lease))
    store.host = host
    inputs = {"side_file": side_file, "pause": float(pause)} if mode == "run" else {}  # recovered: the stored ones
    ex = Executor(store).launch(leased, inputs, execution_name=name, recover=mode == "recover")
    try:
        report = {"pid": os.getpid(), "outputs": ex.wait(timeout=120)}
    except Exception as exc:  # reported to the test
        report = {"pid": os.getpid(), "error": type(exc).__name__, "message": str(exc)}
    print(json.dumps(report), flush=True)
