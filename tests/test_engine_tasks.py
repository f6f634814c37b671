"""The engine's task options: retries (each failed attempt recorded), a timeout, and the task cache."""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from gatewidgets import GateRemote, NodeState, task, workflow
from gatewidgets.engine.tasks import TaskOptions

CALLS: list[Any] = []
RELEASE = threading.Event()


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    RELEASE.clear()


def options(t: Any, **given: Any) -> Any:
    """Set a task's options as ``@task(retries=..., ...)`` stores them (attributes of the same names)."""
    for name, value in given.items():
        setattr(t, name, value)
    return t


@task
def flaky(x: int) -> int:
    CALLS.append(x)
    if len(CALLS) < 3:
        raise RuntimeError(f"attempt {len(CALLS)} fails")
    return x * 10


@workflow
def flaky_wf(x: int) -> int:
    return flaky(x=x)


@task
def slow(x: int) -> int:
    RELEASE.wait(30)
    return x


@workflow
def slow_wf(x: int) -> int:
    return slow(x=x)


@task
def priced(x: int, note: str) -> int:
    CALLS.append((x, note))
    return x * 100


@workflow
def priced_wf(x: int, note: str) -> int:
    return priced(x=x, note=note)


def test_a_failing_task_runs_again_up_to_its_retries_and_each_failure_is_in_the_history() -> None:
    options(flaky, retries=2)
    try:
        ex = flaky_wf.launch(x=4)
        assert ex.wait(timeout=30) == 40
        assert CALLS == [4, 4, 4]
        retries = [e.value for e in ex.history() if e.kind == "retry"]
        assert retries == [{"attempt": 1, "error": "RuntimeError: attempt 1 fails"},
                           {"attempt": 2, "error": "RuntimeError: attempt 2 fails"}]

        CALLS.clear()
        options(flaky, retries=1)  # one retry is not enough: the second failure fails the node
        failing = flaky_wf.launch(x=5)
        with pytest.raises(RuntimeError, match="attempt 2 fails"):
            failing.wait(timeout=30)
        assert CALLS == [5, 5] and failing.nodes_by_name["flaky"] is NodeState.FAILED
        assert len([e for e in failing.history() if e.kind == "retry"]) == 1
    finally:
        options(flaky, retries=0)


def test_without_retries_a_failure_is_final_and_nothing_is_recorded_as_a_retry() -> None:
    ex = flaky_wf.launch(x=1)
    with pytest.raises(RuntimeError, match="attempt 1 fails"):
        ex.wait(timeout=30)
    assert CALLS == [1] and not [e for e in ex.history() if e.kind == "retry"]


@pytest.mark.parametrize("timeout", [0.3, timedelta(seconds=0.3)])
def test_a_task_past_its_timeout_fails_its_node(timeout: Any) -> None:
    options(slow, timeout=timeout)
    try:
        started = time.monotonic()
        ex = slow_wf.launch(x=1)
        with pytest.raises(TimeoutError, match="task slow did not finish within its timeout"):
            ex.wait(timeout=30)
        assert time.monotonic() - started < 10
        assert ex.nodes_by_name["slow"] is NodeState.FAILED
    finally:
        RELEASE.set()
        options(slow, timeout=None)


def test_a_cached_task_runs_once_per_inputs_and_cache_version() -> None:
    options(priced, cache=True, cache_version="1", cache_ignore=frozenset({"note"}))
    try:
        assert priced_wf.launch(x=3, note="a").wait(timeout=30) == 300
        assert priced_wf.launch(x=3, note="b").wait(timeout=30) == 300  # an ignored input: a hit
        assert priced_wf.launch(x=4, note="a").wait(timeout=30) == 400
        assert CALLS == [(3, "a"), (4, "a")]
        options(priced, cache_version="2")  # a new version: run again
        assert priced_wf.launch(x=3, note="a").wait(timeout=30) == 300
        assert CALLS == [(3, "a"), (4, "a"), (3, "a")]
    finally:
        options(priced, cache=False, cache_version="", cache_ignore=frozenset())


def test_an_uncached_task_runs_every_time() -> None:
    assert priced_wf.launch(x=3, note="a").wait(timeout=30) == 300
    assert priced_wf.launch(x=3, note="a").wait(timeout=30) == 300
    assert CALLS == [(3, "a"), (3, "a")]


def test_options_read_from_a_task_default_to_a_plain_run() -> None:
    assert TaskOptions.of(priced) == TaskOptions()
    given = TaskOptions.of(options(slow, retries=2, timeout=1.5, cache=True, cache_version="v"))
    options(slow, retries=0, timeout=None, cache=False, cache_version="")
    assert given == TaskOptions(retries=2, timeout=timedelta(seconds=1.5), cache=True, cache_version="v")
    assert GateRemote.for_sandbox().list_executions() == []  # reading options runs nothing
