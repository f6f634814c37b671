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


def test_a_core_workflow_spec_launches_through_the_engine_entry_and_not_by_itself() -> None:
    from gatewidgets import dsl, engine

    @dsl.workflow
    def spec(x: int) -> int:
        return inc(x=x)

    assert type(spec) is dsl.Workflow and not isinstance(spec, engine.Workflow)
    with pytest.raises(TypeError, match="workflow spec of gatewidgets.dsl; declare it with gatewidgets.workflow"):
        spec.launch(x=1)
    assert gatewidgets.GateRemote.for_sandbox().list_executions() == []  # the refusal stored nothing
    assert gatewidgets.launch(spec, x=1).wait(timeout=30) == 2
    assert engine.launch(spec, {"x": 2}, execution_name="door-entry").wait(timeout=30) == 3
    assert not hasattr(dsl, "set_launcher")  # no launcher is installed into the core
    assert isinstance(inc_wf, engine.Workflow) and inc_wf(x=3) == 4  # gatewidgets.workflow launches
