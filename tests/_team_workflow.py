"""A workflow with a policy, for the tests of each face: two of bob and carol must approve; whoever launched
it may not."""
from __future__ import annotations

from datetime import timedelta

from gatewidgets import approve, task, workflow


@task
def twice(n: int) -> int:
    return n * 2


@workflow
def team_wf(a: int) -> int:
    return approve(twice(n=a), "ok", timeout=timedelta(minutes=5), assignees=["bob", "carol"], quorum=2,
                   self_approval=False)
