"""Telemetry and history for a workflow whose gates are set through different faces."""
from __future__ import annotations

import time

import pytest
from helpers import eventually
from prometheus_client.parser import text_string_to_metric_families

from gatewidgets import GateRemote, approve, metrics, task, wait_for_input, workflow
from gatewidgets.telemetry import Summary, prometheus_text


@task
def total(a: int, b: int, c: str) -> str:
    return f"{a}+{b}:{c}"


@workflow
def faces() -> str:
    a = wait_for_input("a", timeout=None, expected_type=int)
    b = wait_for_input("b", timeout=None, expected_type=int)
    c = wait_for_input("c", timeout=0.4, expected_type=str, default="late")
    return total(a=approve(a, "ok", timeout=None), b=b, c=c)


def _pending(ex, ids: set[str]) -> None:
    eventually(lambda: {s.signal_id for s in ex.signals() if s.state.value == "PENDING"} >= ids,
               what=f"signals {sorted(ids)} pending")


@pytest.fixture
def finished_and_waiting():
    remote = GateRemote.for_sandbox()
    done = faces.launch(execution_name="done")
    _pending(done, {"a", "b"})
    time.sleep(0.05)
    remote.with_face("widget", user="wendy").set_input("a", "done", 1)
    remote.with_face("cli", user="carl").set_text("b", "done", "2")
    _pending(done, {"ok"})
    remote.with_face("http", user="hana").approve("ok", "done")
    assert done.wait(timeout=10) == "1+2:late"
    waiting = faces.launch(execution_name="waiting")
    _pending(waiting, {"a", "b"})
    yield done, waiting
    waiting.abort()


def test_metrics_count_gates_faces_and_latencies(finished_and_waiting) -> None:
    m = metrics()
    assert m.executions == {"SUCCEEDED": 1, "RUNNING": 1}
    assert m.orphaned == 0
    assert m.gates_waiting == 3  # a, b and c of "waiting"
    assert m.signals == {"SET": 3, "TIMED_OUT": 1, "PENDING": 3, "UPCOMING": 1}
    assert m.set_via == {"widget": 1, "cli": 1, "http": 1, "timeout": 1}
    assert m.wait_time.count == 4 and m.wait_time.quantiles[0.5] >= 0.05
    assert m.resume_latency.count == 3
    assert 0 <= m.resume_latency.max < 5
    text = str(m)
    assert "gates waiting: 3" in text and "widget 1" in text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(prometheus_text(m)) for s in family.samples}
    where = (("domain", "development"), ("project", "default"))
    assert samples[("gatewidgets_gates_waiting", where)] == 3
    assert samples[("gatewidgets_signals_closed", (*where, ("via", "http")))] == 1
    assert samples[("gatewidgets_signal_resume_latency_seconds_count", where)] == 3
    assert set(m.as_dict()["wait_time_seconds"]) == {"count", "sum", "max", "p50", "p90", "p99"}


def test_history_records_every_event_with_who_and_how(finished_and_waiting) -> None:
    done, _ = finished_and_waiting
    events = [(e.signal_id, e.kind, e.set_by, e.via, e.value) for e in done.history() if e.signal_id]
    assert ("a", "set", "wendy", "widget", 1) in events
    assert ("b", "set", "carl", "cli", 2) in events
    assert ("ok", "set", "hana", "http", True) in events
    assert ("c", "timed_out", None, "timeout", "late") in events
    for sid in "abc":
        kinds = [k for s, k, *_ in events if s == sid]
        assert kinds[:2] == ["created", "reached"]
    assert [k for s, k, *_ in events if s == "ok"] == ["created", "reached", "set"]


def test_summary_percentiles_are_nearest_rank() -> None:
    s = Summary.of([float(i) for i in range(1, 101)])
    assert s.quantiles == {0.5: 50.0, 0.9: 90.0, 0.99: 99.0} and s.max == 100.0 and s.count == 100
    assert Summary.of([]).count == 0 and str(Summary.of([])) == "n=0"
