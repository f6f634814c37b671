"""Run by tests in a subprocess: launch a workflow whose gates have policies, and wait for it. The launcher is
this process's user (the tests set ``JUPYTERHUB_USER``, as a hub does for its users' kernels).

Usage: python _policy_workflow.py EXECUTION_NAME LOG_FILE
Each task appends its name to LOG_FILE when it runs; prints the workflow's result as JSON (or
``ERROR <type>: <message>``) when it ends.
"""
from __future__ import annotations

import json
import sys
from datetime import timedelta

from gatewidgets import approve, task, workflow

WAIT = timedelta(minutes=10)


def _log(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


@task
def report(log: str) -> int:
    _log(log, "report")
    return 42


@task
def released(log: str, amount: int) -> int:
    _log(log, "released")
    return amount


@task
def ship(log: str, review: int, release: int, signoff: int) -> str:
    _log(log, "ship")
    return f"{review}|{release}|{signoff}"


@workflow
def policy_wf(log: str) -> str:
    amount = report(log=log)
    review = approve(amount, "review", timeout=WAIT, self_approval=False)
    release = approve(amount, "release", timeout=WAIT, assignees=["@finance"], quorum=2)
    signoff = approve(amount, "signoff", timeout=WAIT, assignees=["bob"], verified=True)
    return ship(log=log, review=review, release=released(log=log, amount=release), signoff=signoff)


if __name__ == "__main__":
    ex = policy_wf.launch(log=sys.argv[2], execution_name=sys.argv[1])
    try:
        print(json.dumps(ex.wait(timeout=300)), flush=True)
    except Exception as exc:  # reported to the test through stdout
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
