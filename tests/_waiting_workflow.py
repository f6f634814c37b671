"""Run by tests in a subprocess: launch a workflow with three gates and wait for it.

Usage: python _waiting_workflow.py EXECUTION_NAME A
Prints the workflow's result as JSON (or ``ERROR <type>: <message>``) when it ends.
"""
from __future__ import annotations

import json
import sys
from datetime import timedelta

from gatewidgets import approve, task, wait_for_input, workflow


@task
def double(v: int) -> int:
    return v * 2


@task
def combine(x: int, rate: float, note: str) -> str:
    return f"{x}|{rate}|{note}"


@workflow
def waiting_wf(a: int) -> str:
    d = double(v=a)
    ok = approve(d, "go", timeout=timedelta(minutes=5), description="Go on?")
    rate = wait_for_input("rate", timeout=timedelta(minutes=5), expected_type=float)
    note = wait_for_input("note", timeout=timedelta(minutes=5), expected_type=str)
    return combine(x=ok, rate=rate, note=note)


if __name__ == "__main__":
    ex = waiting_wf.launch(a=int(sys.argv[2]), execution_name=sys.argv[1])
    try:
        print(json.dumps(ex.wait(timeout=120)), flush=True)
    except Exception as exc:  # reported to the test through stdout
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
