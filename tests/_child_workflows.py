"""Workflows that launch child executions, for tests/test_child_executions.py (also run as a script).

Usage: python _child_workflows.py EXECUTION_NAME V — launches ``parent`` and sleeps (a test kills it).
Each ``inc`` call appends a line to ``$CHILD_OUT/inc`` if set, so a test can count the runs.
"""
from __future__ import annotations

import os
import sys
import time

from gatewidgets import approve, launch_child, task, workflow


@task
def inc(v: int) -> int:
    out = os.environ.get("CHILD_OUT")
    if out:
        with open(os.path.join(out, "inc"), "a") as f:
            f.write(f"{v}\n")
    return v + 1


@task
def explode(v: int) -> int:
    raise ValueError(f"exploded on {v}")


@workflow
def review(v: int) -> int:
    """A child: one task, then a gate of its own."""
    return approve(inc(v=v), "ok", timeout=None)


@workflow
def failing(v: int) -> int:
    return explode(v=v)


@workflow
def parent(v: int) -> int:
    return inc(v=launch_child(review, v=v))


@workflow
def parent_of_failing(v: int) -> int:
    return inc(v=launch_child(failing, v=v))


@workflow
def many() -> list[int]:
    return [launch_child(review, v=i) for i in range(5)]


if __name__ == "__main__":
    parent.launch(execution_name=sys.argv[1], v=int(sys.argv[2]))
    print("started", flush=True)
    time.sleep(600)
