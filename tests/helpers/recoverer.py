"""Executions that are killed at their gate and recovered, for the recovery tests.

Usage (``$GATEWIDGETS_STORE`` points at the test's store; ``OUTDIR/before-NAME`` and
``OUTDIR/after-NAME`` get one line each time the task before / after the gate ``ok`` runs):

- ``python recoverer.py start OUTDIR NAME...``: launches an execution per name, prints
  ``started`` and waits to be killed.
- ``python recoverer.py fork OUTDIR``: imports everything once, then for each ``NAME`` line
  on stdin forks a child that launches that execution and waits to be killed; prints the
  child's pid as one JSON line. Forking spares the tests a Python start-up per trial.
- ``python recoverer.py recover OUTDIR SYNCDIR ME NAME...``: writes ``SYNCDIR/ready-ME``,
  waits for ``SYNCDIR/go`` (all recoverers start together), recovers each execution, waits
  for the ones it won and prints ``{"pid", "won", "lost": {name: message}, "results"}``.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

from gatewidgets import ExecutionExistsError, approve, task, workflow

OUT = Path(sys.argv[2])


def bump(name: str) -> None:
    with open(OUT / name, "a") as f:
        f.write("ran\n")


@task
def before(name: str) -> str:
    bump(f"before-{name}")
    return name


@task
def after(name: str) -> str:
    bump(f"after-{name}")
    return name.upper()


@workflow
def guarded(name: str) -> str:
    return after(name=approve(before(name=name), "ok", timeout=None))


def fork_each() -> None:
    assert threading.active_count() == 1, "fork only from a process without threads"
    for line in sys.stdin:
        name = line.strip()
        pid = os.fork()
        if pid == 0:
            guarded.launch(name=name, execution_name=name)
            time.sleep(600)  # killed by the test
            os._exit(0)
        print(json.dumps({"pid": pid}), flush=True)
        while os.waitpid(-1, os.WNOHANG)[0]:  # reap the children killed so far: a zombie looks alive
            pass
    while True:  # the test kills every child before it closes our stdin
        try:
            os.wait()
        except ChildProcessError:
            return


def recover(syncdir: Path, me: str, names: list[str]) -> None:
    (syncdir / f"ready-{me}").touch()
    deadline = time.monotonic() + 60
    while not (syncdir / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.001)
    won, lost = [], {}
    for name in names:
        try:
            won.append(guarded.launch(name=name, execution_name=name, recover=True))
        except ExecutionExistsError as exc:
            lost[name] = str(exc)
    print(json.dumps({"pid": os.getpid(), "won": [e.name for e in won], "lost": lost,
                      "results": {e.name: e.wait(60) for e in won}}), flush=True)


def main() -> None:
    mode = sys.argv[1]
    if mode == "start":
        for name in sys.argv[3:]:
            guarded.launch(name=name, execution_name=name)
        print("started", flush=True)
        time.sleep(600)  # killed by the test
    elif mode == "fork":
        fork_each()
    elif mode == "recover":
        recover(Path(sys.argv[3]), sys.argv[4], sys.argv[5:])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
