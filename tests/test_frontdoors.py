"""gatewidgets.launch: one entry point, whatever SDK wrote the workflow."""
from __future__ import annotations

import pytest

import gatewidgets
from gatewidgets import ExecutionStatus, task, workflow


@task
def inc(x: int) -> int:
    return x + 1


@workflow
def inc_wf(x: int) -> int:
    return inc(x=x)


def test_launch_runs_a_gatewidgets_workflow_like_wf_launch() -> None:
    ex = gatewidgets.launch(inc_wf, execution_name="door-1", x=41)
    assert ex.wait(timeout=30) == 42
    assert ex.name == "door-1"
    assert ex.status is ExecutionStatus.SUCCEEDED


def test_launch_refuses_what_no_door_accepts_and_says_what_it_takes() -> None:
    with pytest.raises(TypeError, match=r"builtins\.int.*gatewidgets @workflow.*flytekit.*Flyte 2"):
        gatewidgets.launch(3)
