"""A workflow for the other-machine test: a task, a gate, a task. Each task appends ``<task> <hostname> <pid>`` to
the side file it is given, so the test sees where each ran, and how often.

Usage (imported, so its import path is recorded and another machine can recover it by name):
``python -c "import _machine_workflow; _machine_workflow.main()" EXECUTION_NAME SIDE_FILE``
"""
from __future__ import annotations

import os
import socket
import sys

from gatewidgets import approve, task, workflow


def _ran(side: str, what: str) -> None:
    with open(side, "a") as f:
        f.write(f"{what} {socket.gethostname()} {os.getpid()}\n")


@task
def before(side: str, a: int) -> int:
    _ran(side, "before")
    return a + 1


@task
def after(side: str, b: int) -> int:
    _ran(side, "after")
    return b * 10


@workflow
def across(side: str, a: int) -> int:
    return after(side=side, b=approve(before(side=side, a=a), "go", timeout=None))


def main() -> None:
    """Launch ``across`` (a=1) on the configured store and wait for it."""
    name, side = sys.argv[1:3]
    print(across.launch(side=side, a=1, execution_name=name).wait(timeout=600), flush=True)
