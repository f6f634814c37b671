"""The engine's store contract (``ExecutorStore`` in ``gatewidgets.store.base``), checked on every backend that
runs executions (capability ``run``), beside the faces' contract (``tests/test_store_contract.py``).

Each test runs once per factory in ``BACKENDS``: a function of a pytest ``tmp_path`` that returns a fresh,
empty store, and a second store object on the same data (another process's view): ``sqlite`` (one file) and
``postgres`` (a fresh database on the suite's own PostgreSQL server, ``tests/_postgres.py``). Every refusal
leaves the stored state as it was.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from helpers import eventually

from gatewidgets.errors import ExecutionExistsError, ExecutionNotFoundError, SignalAlreadySetError, SignalClosedError
from gatewidgets.models.execution import ExecutionStatus, NodeState, WorkflowExecutionIdentifier
from gatewidgets.models.signal import SignalState, Via
from gatewidgets.store.base import ExecutorStore, NewExecution, NodeRow, SignalRow, StoreEvent, now
from gatewidgets.store.postgres.store import PostgresStore
from gatewidgets.store.sqlite import SqliteStore
from gatewidgets.types import GateType

Factory = Callable[[pytest.FixtureRequest, Path], tuple[ExecutorStore, ExecutorStore]]


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[ExecutorStore, ExecutorStore]:
    path = tmp_path / "engine.db"
    return SqliteStore(path), SqliteStore(path)


def _postgres(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[ExecutorStore, ExecutorStore]:
    url = request.getfixturevalue("postgres_url")
    files = str(tmp_path / "files")  # a folder both share, as a team's processes would
    return PostgresStore(url, files_dir=files), PostgresStore(url, files_dir=files)


BACKENDS: dict[str, Factory] = {"sqlite": _sqlite, "postgres": _postgres}


@dataclasses.dataclass
class Point:
    x: int
    y: int


@pytest.fixture(params=sorted(BACKENDS))
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ExecutorStore, ExecutorStore]]:
    here, other = BACKENDS[request.param](request, tmp_path)
    yield here, other
    here.close()
    other.close()


KEY = WorkflowExecutionIdentifier("p", "d", "run")
NODES: list[NodeRow] = [
    {"node_id": "t0", "kind": "task", "name": "first", "upstream": [], "signal_id": None},
    {"node_id": "g0", "kind": "gate", "name": "go", "upstream": ["t0"], "signal_id": "go"},
    {"node_id": "g1", "kind": "gate", "name": "where", "upstream": [], "signal_id": "where"},
    {"node_id": "t1", "kind": "task", "name": "last", "upstream": ["g0", "g1"], "signal_id": None},
]
SIGNALS: list[SignalRow] = [
    {"signal_id": "go", "kind": "approve", "node_id": "g0", "description": "Go?", "type": GateType.of(bool).to_record(),
     "context": {"declared": 1}},
    {"signal_id": "where", "kind": "input", "node_id": "g1", "description": None,
     "type": GateType.of(Point).to_record(), "context": None},
]


def launched(store: ExecutorStore, key: WorkflowExecutionIdentifier = KEY, pid: int | None = None) -> None:
    store.create_execution(key, "wf", {"a": 1}, NODES, SIGNALS, pid=pid, workflow_path="mod:wf")


def stored(store: ExecutorStore, key: WorkflowExecutionIdentifier = KEY) -> tuple[Any, ...]:
    """Everything a refusal must leave unchanged: the execution, its nodes, signals and events."""
    record = store.get_execution(key)
    return (record.status, record.pid, [(n.node_id, n.state, n.outputs) for n in record.nodes],
            [(s.signal_id, s.state, s.value, s.context) for s in store.list_signals(key, limit=None)],
            len(store.history(key)))


def test_backend_declares_run(stores: tuple[ExecutorStore, ExecutorStore]) -> None:
    here, _ = stores
    assert isinstance(here, ExecutorStore) and here.capabilities.run


def test_create_execution_stores_nodes_queued_and_signals_upcoming(stores: tuple[ExecutorStore, ExecutorStore]) -> None:
    here, other = stores
    launched(here)
    record = other.get_execution(KEY)
    assert (record.status, record.workflow, record.inputs, record.workflow_path, record.pid) == (
        ExecutionStatus.RUNNING, "wf", {"a": 1}, "mod:wf", os.getpid())
    assert [(n.node_id, n.state, n.upstream, n.signal_id) for n in record.nodes] == [
        ("t0", NodeState.QUEUED, (), None), ("g0", NodeState.QUEUED, ("t0",), "go"),
        ("g1", NodeState.QUEUED, (), "where"), ("t1", NodeState.QUEUED, ("g0", "g1"), None)]
    signals = other.list_signals(KEY)
    assert [(s.signal_id, s.state, s.description, s.context) for s in signals] == [
        ("go", SignalState.UPCOMING, "Go?", {"declared": 1}), ("where", SignalState.UPCOMING, None, None)]
    before = stored(other)
    with pytest.raises(ExecutionExistsError):
        launched(here)
    assert stored(other) == before


def test_create_execution_stores_the_gates_it_reaches_pending_with_their_events(
        stores: tuple[ExecutorStore, ExecutorStore]) -> None:
    here, other = stores
    deadline = now() + timedelta(hours=1)
    here.create_execution(KEY, "wf", {"a": 1}, NODES, SIGNALS, reached={"where": deadline})
    go, where = other.list_signals(KEY)
    assert (go.state, go.waiting_since, go.deadline) == (SignalState.UPCOMING, None, None)
    assert where.state is SignalState.PENDING and where.waiting_since is not None
    assert where.deadline is not None and abs((where.deadline - deadline).total_seconds()) < 1e-3
    assert [(e.kind, e.signal_id, e.state) for e in other.history(KEY)] == [
        ("launched", None, "RUNNING"), ("created", "go", "UPCOMING"), ("created", "where", "UPCOMING"),
        ("reached", "where", "PENDING")]
    events = other.history(KEY)
    assert [e.id for e in events] == sorted({e.id for e in events})


def test_create_executions_creates_all_of_them_in_one_transaction_or_none(
        stores: tuple[ExecutorStore, ExecutorStore]) -> None:
    here, other = stores
    launched(here)
    before = stored(other)
    keys = [WorkflowExecutionIdentifier("p", "d", f"many-{i}") for i in range(3)]
    rows = [NewExecution(key, "wf", {"i": i}, NODES, SIGNALS, workflow_path="mod:wf",
                         reached={"where": now() + timedelta(hours=1)} if i == 1 else None)
            for i, key in enumerate(keys)]
    heard: list[StoreEvent] = []
    unsubscribe = here.subscribe(heard.extend)

    def kinds(i: int) -> list[str]:  # the events of execution i: the gate of the second one is reached
        return ["launched", "created", "created"] + ["reached"] * (i == 1)

    try:
        with pytest.raises(ExecutionExistsError, match="p/d/run exists already"):
            here.create_executions([rows[0], NewExecution(KEY, "wf", {}, NODES, SIGNALS), rows[2]])
        for key in keys:  # the one that exists refuses them all: the ones before it are not kept
            with pytest.raises(ExecutionNotFoundError):
                other.get_execution(key)
        assert stored(other) == before and heard == []
        here.create_executions([])  # nothing to create: no error, nothing written
        assert [r.name for r in other.list_executions()] == ["run"]
        here.create_executions(rows)
    finally:
        unsubscribe()
    for i, key in enumerate(keys):
        record = other.get_execution(key)
        assert (record.status, record.workflow, record.inputs, record.workflow_path) == (
            ExecutionStatus.RUNNING, "wf", {"i": i}, "mod:wf")
        assert [n.node_id for n in record.nodes] == ["t0", "g0", "g1", "t1"]
        assert [(s.signal_id, s.state) for s in other.list_signals(key)] == [
            ("go", SignalState.UPCOMING), ("where", SignalState.PENDING if i == 1 else SignalState.UPCOMING)]
        assert [e.kind for e in other.history(key)] == kinds(i)
    assert [(e.execution_id.name, e.kind) for e in heard] == [  # dispatched once committed, in order
        (key.name, kind) for i, key in enumerate(keys) for kind in kinds(i)]


def test_add_nodes_adds_rows_once(stores: tuple[ExecutorStore, ExecutorStore]) -> None:
    here, other = stores
    launched(here)
    added: list[NodeRow] = [{"node_id": "d0", "kind": "gate", "name": "more", "upstream": ["t0"], "signal_id": "more"}]
    more: list[SignalRow] = [{"signal_id": "more", "kind": "input", "node_id": "d0", "description": None,
                              "type": GateType.of(int).to_record(), "context": None}]
    here.add_nodes(KEY, added, more)
    here.update_node(KEY, "d0", state=NodeState.RUNNING)
    here.flush()
    here.add_nodes(KEY, added, more)  # a recovered execution expanding again keeps what is stored
    record = other.get_execution(KEY)
    assert [(n.node_id, n.state, n.upstream) for n in record.nodes][-1] == ("d0", NodeState.RUNNING, ("t0",))
    assert [s.signal_id for s in other.list_signals(KEY)] == ["go", "where", "more"]
    assert [e.kind for e in other.history(KEY, "more")] == ["created"]


def test_node_changes_are_written_behind_and_flushed(stores: tuple[ExecutorStore, ExecutorStore]) -> None:
    here, other = stores
    launched(here)
    here.update_node(KEY, "t0", state=NodeState.RUNNING, started_at=time.time())
    here.update_node(KEY, "t0", state=NodeState.SUCCEEDED, finished_at=time.time(), outputs={"o0": [1, 2]})
    here.durable()
    here.flush()
    node = other.get_execution(KEY).nodes[0]
    assert (node.state, node.outputs) == (NodeState.SUCCEEDED, {"o0": [1, 2]})
    assert node.started_at is not None and node.finished_at is not None and node.started_at <= node.finished_at


def test_reach_set_and_time_out_signals(stores: tuple[ExecutorStore, ExecutorStore]) -> None:
    here, other = stores
    launched(here)
    deadline = now() + timedelta(hours=1)
    reached = here.reach_signal(KEY, "go", deadline, {"evidence": "e"})
    assert reached.state is SignalState.PENDING and reached.deadline == deadline
    assert reached.context == {"declared": 1, "evidence": "e"}
    assert here.reach_signal(KEY, "go", None) == other.get_signal(KEY, "go")  # reached again: as it is
    signal, changed = other.set_signal(KEY, "go", True, "true", set_by="ann", via=Via.CLI,
                                       detail={"comment": "fine"})
    assert changed and (signal.state, signal.value, signal.set_by, signal.via) == (
        SignalState.SET, True, "ann", Via.CLI)
    stamped = {"db_role": "postgres"} if isinstance(other, PostgresStore) else {}  # the login role that set it
    assert signal.context == {"declared": 1, "evidence": "e", "comment": "fine", **stamped}
    assert other.set_signal(KEY, "go", True, "true", set_by="bob", via=Via.API) == (signal, False)
    before = stored(here)
    with pytest.raises(SignalAlreadySetError):
        other.set_signal(KEY, "go", False, "false", set_by="bob", via=Via.API)
    assert here.timeout_signal(KEY, "go", has_value=False) == signal  # the answer won the race
    assert stored(here) == before
    here.reach_signal(KEY, "where", None)
    timed_out = here.timeout_signal(KEY, "where", {"x": 1, "y": 2}, has_value=True)
    assert (timed_out.state, timed_out.via) == (SignalState.TIMED_OUT, Via.TIMEOUT)
    before = stored(here)
    with pytest.raises(SignalClosedError):
        other.set_signal(KEY, "where", {"x": 0, "y": 0}, "x", set_by="bob", via=Via.API)
    assert stored(here) == before


def test_live_types_decode_values_until_forgotten(stores: tuple[ExecutorStore, ExecutorStore]) -> None:
    here, _ = stores
    launched(here)
    here.register_type(KEY, "where", GateType.of(Point), "input")
    here.reach_signal(KEY, "where", None)
    here.set_signal(KEY, "where", {"x": 1, "y": 2}, "p", set_by="ann", via=Via.API)
    assert here.get_signal(KEY, "where").value == Point(1, 2)
    here.forget_types(KEY)
    assert here.gate_type(KEY, "where", SIGNALS[1]["type"]).validate_json({"x": 3, "y": 4}) in (
        {"x": 3, "y": 4}, Point(3, 4))  # the stored record's type (a live one if this process declared it)


def test_cancel_signals_closes_only_open_ones(stores: tuple[ExecutorStore, ExecutorStore]) -> None:
    here, other = stores
    launched(here)
    here.reach_signal(KEY, "go", None)
    here.set_signal(KEY, "go", True, "true", set_by="ann", via=Via.API)
    assert here.cancel_signals(KEY, ["go", "where"]) == ["where"]
    assert other.get_signal(KEY, "where").state is SignalState.CANCELLED
    assert other.get_signal(KEY, "go").state is SignalState.SET


def test_end_execution_cancels_open_signals_once(stores: tuple[ExecutorStore, ExecutorStore]) -> None:
    here, other = stores
    launched(here)
    heard: list[StoreEvent] = []
    unsubscribe = here.subscribe(heard.extend)
    here.reach_signal(KEY, "go", None)
    assert here.request_abort(KEY)
    assert here.end_execution(KEY, ExecutionStatus.ABORTED, error="stop")
    record = other.get_execution(KEY)
    assert (record.status, record.error) == (ExecutionStatus.ABORTED, "stop")
    assert {n.state for n in record.nodes} == {NodeState.ABORTED}
    assert {s.state for s in other.list_signals(KEY)} == {SignalState.CANCELLED}
    assert [e.kind for e in heard] == ["reached", "abort_requested", "cancelled", "cancelled", "finished"]
    unsubscribe()
    before = stored(other)
    assert not here.request_abort(KEY)
    assert here.finish_execution(KEY, ExecutionStatus.SUCCEEDED) == []
    assert stored(other) == before


def test_a_waiting_gates_timeline_is_recorded_only_while_it_waits(
        stores: tuple[ExecutorStore, ExecutorStore]) -> None:
    here, other = stores
    launched(here)
    heard: list[StoreEvent] = []
    unsubscribe = other.subscribe(heard.extend)  # another process's view: it hears them too
    try:
        before = stored(here)
        assert not here.record_event(KEY, "go", "reminded", {"reminder": 1})  # UPCOMING: not waiting yet
        with pytest.raises(ValueError, match="reminded"):
            here.record_event(KEY, "go", "set", {})  # no other event is written this way
        assert stored(here) == before
        here.reach_signal(KEY, "go", None)
        assert here.record_event(KEY, "go", "reminded", {"reminder": 1, "assignees": ["bob"]})
        assert other.record_event(KEY, "go", "escalated", {"added": ["@boss"]})
        timeline = [(e.kind, e.state, e.node_id, e.detail) for e in other.history(KEY, "go")
                    if e.kind in ("reminded", "escalated")]
        assert timeline == [("reminded", "PENDING", "g0", {"reminder": 1, "assignees": ["bob"]}),
                            ("escalated", "PENDING", "g0", {"added": ["@boss"]})]
        eventually(lambda: {"reminded", "escalated"} <= {e.kind for e in heard if e.signal_id == "go"},
                   timeout=10, what="the other store to hear the timeline")  # its own at once, the other's pushed
        assert other.get_signal(KEY, "go").state is SignalState.PENDING  # the signal itself is unchanged
        here.set_signal(KEY, "go", True, "true", set_by="ann", via=Via.API)
        before = stored(here)
        assert not other.record_event(KEY, "go", "reminded", {"reminder": 2})  # decided: the timeline ends
        assert stored(here) == before
    finally:
        unsubscribe()


def test_task_attempts_and_cache(stores: tuple[ExecutorStore, ExecutorStore]) -> None:
    here, other = stores
    launched(here)
    here.record_attempt(KEY, "t0", 1, "boom")
    retry = [e for e in other.history(KEY) if e.kind == "retry"]
    assert [(e.node_id, e.value) for e in retry] == [("t0", {"attempt": 1, "error": "boom"})]
    assert here.cached_output("t", "v1", "h") == (False, None)
    here.cache_output("t", "v1", "h", {"o0": 1})
    here.cache_output("t", "v1", "h", {"o0": 2})  # the first kept wins
    assert other.cached_output("t", "v1", "h") == (True, {"o0": 1})
    assert other.cached_output("t", "v2", "h") == (False, None)


def test_stats_count_only_the_scope_asked_for(stores: tuple[ExecutorStore, ExecutorStore]) -> None:
    here, other = stores
    elsewhere, other_domain = WorkflowExecutionIdentifier("q", "d", "run"), WorkflowExecutionIdentifier("p", "e", "run")
    owner = subprocess.Popen([sys.executable, "-c", "pass"])
    owner.wait(timeout=30)
    for key in (KEY, elsewhere, other_domain):
        launched(here, key)
    launched(here, WorkflowExecutionIdentifier("p", "d", "orphan"), pid=owner.pid)  # its owner is gone
    here.reach_signal(KEY, "go", None)
    here.set_signal(KEY, "go", True, "true", set_by="ann", via=Via.CLI)
    here.update_node(KEY, "g0", state=NodeState.SUCCEEDED, finished_at=time.time())
    here.reach_signal(KEY, "where", None)
    here.reach_signal(elsewhere, "go", None)
    here.timeout_signal(elsewhere, "go", has_value=False)
    here.reach_signal(other_domain, "where", None)
    here.end_execution(other_domain, ExecutionStatus.ABORTED, error="stop")
    here.durable()
    go, where = here.get_signal(KEY, "go"), here.get_signal(KEY, "where")
    assert go.waiting_since is not None and go.set_at is not None and where.waiting_since is not None
    scoped = other.stats("p", "d")
    assert scoped["executions"] == {"RUNNING": 2} and scoped["orphaned"] == 1
    assert scoped["signals"] == {"SET": 1, "PENDING": 1, "UPCOMING": 2}
    assert scoped["set_via"] == {"cli": 1}
    [(waited, decided)] = scoped["waited"]
    assert (datetime.fromisoformat(waited), datetime.fromisoformat(decided)) == (go.waiting_since, go.set_at)
    assert [datetime.fromisoformat(t) for t in scoped["waiting_since"]] == [where.waiting_since]
    [(resumed, finished)] = scoped["resumed"]
    assert datetime.fromisoformat(resumed) == go.set_at <= datetime.fromisoformat(finished)
    assert other.stats(project="q")["executions"] == {"RUNNING": 1}
    assert other.stats(project="q")["set_via"] == {"timeout": 1} and other.stats(project="q")["resumed"] == []
    assert other.stats(domain="e")["executions"] == {"ABORTED": 1}
    assert other.stats(domain="e")["signals"] == {"CANCELLED": 2}
    everything = other.stats()
    assert everything["executions"] == {"RUNNING": 3, "ABORTED": 1} and everything["orphaned"] == 1
    assert everything["signals"] == {"SET": 1, "PENDING": 1, "UPCOMING": 3, "TIMED_OUT": 1, "CANCELLED": 2}
    assert everything["set_via"] == {"cli": 1, "timeout": 1} and len(everything["waited"]) == 2


def test_held_files_survive_a_cleanup(stores: tuple[ExecutorStore, ExecutorStore]) -> None:
    here, other = stores
    launched(here)
    old = time.time() - 7200
    paths = {}
    for sha in ("a" * 64, "b" * 64):
        path = Path(here.files_dir) / sha[:2] / sha / "f.txt"
        path.parent.mkdir(parents=True)
        path.write_text(sha)
        os.utime(path, (old, old))
        paths[sha] = path
    here.hold_file("a" * 64, 600)
    listed = other.clean_files(dry_run=True)
    assert [(f.path, f.reason) for f in listed] == [(str(paths["b" * 64]), "unreferenced")]
    assert all(p.exists() for p in paths.values())  # a dry run removes nothing
    assert [f.path for f in other.clean_files()] == [str(paths["b" * 64])]
    assert paths["a" * 64].exists() and not paths["b" * 64].exists()


def test_adopt_only_an_orphan(stores: tuple[ExecutorStore, ExecutorStore]) -> None:
    here, other = stores
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        launched(here, pid=owner.pid)
        before = stored(other)
        with pytest.raises(ExecutionExistsError, match="still running"):
            other.adopt_execution(KEY)
        assert stored(other) == before
        assert other.owner_alive(other.get_execution(KEY)) is True
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
        assert other.owner_alive(other.get_execution(KEY)) is False
        assert not other.owns(other.get_execution(KEY))  # another process's
        adopted = other.adopt_execution(KEY)
        assert (adopted.pid, adopted.status) == (os.getpid(), ExecutionStatus.RUNNING)
        assert other.owns(adopted) and other.owns(here.get_execution(KEY))
        assert not other.owns(dataclasses.replace(adopted, host="another-host"))
        assert not other.owns(dataclasses.replace(adopted, boot_id="another-boot"))  # this pid, another boot
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(timeout=10)

