"""SQLite store: WAL, versioned schema, atomic signal decisions from many threads, events."""
from __future__ import annotations

import os
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gatewidgets import (
    ExecutionExistsError,
    ExecutionNotFoundError,
    ExecutionStatus,
    NodeState,
    SignalAlreadySetError,
    SignalClosedError,
    SignalNotFoundError,
    SignalState,
    StoreError,
)
from gatewidgets.models.execution import WorkflowExecutionIdentifier as Key
from gatewidgets.store import SqliteStore, default_store_path, open_store
from gatewidgets.store.sqlite import SCHEMA_VERSION
from gatewidgets.types import GateType

INT = GateType.of(int)


def make(store: SqliteStore, name: str, signals: tuple[str, ...] = ("x",)) -> Key:
    key = Key("default", "development", name)
    nodes = [{"node_id": f"n{i}", "kind": "input", "name": sid, "upstream": [], "signal_id": sid}
             for i, sid in enumerate(signals)]
    sigs = [{"signal_id": sid, "kind": "input", "node_id": f"n{i}", "description": None, "type": INT.to_record()}
            for i, sid in enumerate(signals)]
    store.create_execution(key, "wf", {"a": 1}, nodes, sigs)
    return key


def set_int(store: SqliteStore, key: Key, sid: str, value: int, who: str = "t"):  # type: ignore[no-untyped-def]
    return store.set_signal(key, sid, value, INT.identity(value), set_by=who, via="api")


def test_default_path_follows_env(gatewidgets_store: Path) -> None:
    assert default_store_path() == str(gatewidgets_store)
    assert open_store().path == str(gatewidgets_store) and open_store() is open_store()


def test_wal_and_schema_version(gatewidgets_store: Path) -> None:
    store = open_store()
    make(store, "e")
    raw = sqlite3.connect(gatewidgets_store)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"meta", "executions", "nodes", "signals", "events"} <= tables
    finally:
        raw.close()


def test_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    SqliteStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="newer than this gatewidgets"):
        SqliteStore(path)


def test_reopen_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "again.db"
    first = SqliteStore(path)
    key = make(first, "kept")
    set_int(first, key, "x", 3)
    first.close()
    second = SqliteStore(path)
    try:
        assert second.get_signal(key, "x").value == 3
    finally:
        second.close()


def test_signal_lifecycle_and_errors() -> None:
    store = open_store()
    key = make(store, "life", ("x", "y"))
    with pytest.raises(ExecutionExistsError):
        make(store, "life")
    with pytest.raises(ExecutionNotFoundError):
        store.get_signal(Key("default", "development", "nope"), "x")
    with pytest.raises(SignalNotFoundError, match="x, y"):
        store.get_signal(key, "z")
    assert store.get_signal(key, "x").state is SignalState.UPCOMING
    reached = store.reach_signal(key, "x", None)
    assert reached.state is SignalState.PENDING and reached.waiting_since is not None
    signal, changed = set_int(store, key, "x", 4)
    assert changed and signal.state is SignalState.SET
    assert set_int(store, key, "x", 4)[1] is False
    with pytest.raises(SignalAlreadySetError):
        set_int(store, key, "x", 5)
    assert store.reach_signal(key, "x", None).state is SignalState.SET
    assert store.timeout_signal(key, "x", has_value=False).state is SignalState.SET  # the answer won
    assert store.finish_execution(key, ExecutionStatus.FAILED, error="e") == ["y"]
    assert store.finish_execution(key, ExecutionStatus.SUCCEEDED) == []  # already ended
    with pytest.raises(SignalClosedError):
        set_int(store, key, "y", 1)
    record = store.get_execution(key)
    assert record.status is ExecutionStatus.FAILED and record.error == "e"
    kinds = [(e.signal_id, e.kind) for e in store.history(key)]
    assert kinds == [(None, "launched"), ("x", "created"), ("y", "created"), ("x", "reached"), ("x", "set"),
                     ("y", "cancelled"), (None, "finished")]


def test_node_updates_written_behind_and_flushed() -> None:
    store = open_store()
    key = make(store, "nodes")
    store.update_node(key, "n0", state=NodeState.RUNNING)
    store.update_node(key, "n0", state=NodeState.SUCCEEDED, outputs={"v": [1, 2]})
    node = store.get_execution(key).nodes[0]
    assert node.state is NodeState.SUCCEEDED and node.outputs == {"v": [1, 2]}


def test_many_threads_one_winner() -> None:
    store = open_store()
    keys = [make(store, f"t{i}") for i in range(8)]
    barrier = threading.Barrier(16)

    def race(i: int) -> tuple[str, int]:
        barrier.wait(10)
        key = keys[i % 8]
        try:
            set_int(store, key, "x", i, who=f"w{i}")
            return "won", i
        except SignalAlreadySetError:
            return "lost", i

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(race, range(16)))
    winners = [i for outcome, i in results if outcome == "won"]
    assert len(winners) == 8 and sorted(i % 8 for i in winners) == list(range(8))
    for i in winners:
        s = store.get_signal(keys[i % 8], "x")
        assert s.value == i and s.set_by == f"w{i}"
        assert [e.kind for e in store.history(keys[i % 8], "x")].count("set") == 1


def test_many_threads_create_and_read() -> None:
    store = open_store()
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            key = make(store, f"c{i}", ("a", "b"))
            store.reach_signal(key, "a", None)
            set_int(store, key, "a", i)
            store.update_node(key, "n0", state=NodeState.SUCCEEDED)
            assert store.get_signal(key, "a").value == i
            store.list_signals(None, limit=None)
        except BaseException as exc:  # collected, re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert store.count_signals(None, project="default", domain="development") == 48
    assert store.count_signals(None, filters=[], project="default", domain="development") == 48
    assert len(store.list_executions()) == 24


def test_events_reach_subscribers() -> None:
    store = open_store()
    seen: list[str] = []
    unsubscribe = store.subscribe(lambda events: seen.extend(e.kind for e in events))
    key = make(store, "ev")
    set_int(store, key, "x", 1)
    unsubscribe()
    set_int(store, key, "x", 1)
    assert seen == ["launched", "created", "set"]


def test_forgetting_types_while_other_threads_register() -> None:
    """An execution ending (forget_types) while others reach gates (register_type) must not raise."""
    store = open_store()
    stop = threading.Event()
    errors: list[BaseException] = []

    def register() -> None:
        i = 0
        while not stop.is_set():
            store.register_type(Key("p", "d", f"e{i}"), "x", INT, "input")
            i += 1

    def forget() -> None:
        i = 0
        while not stop.is_set():
            try:
                store.forget_types(Key("p", "d", f"e{i}"))
            except BaseException as exc:  # re-raised in the test thread
                errors.append(exc)
                return
            i += 1

    threads = [threading.Thread(target=register), threading.Thread(target=forget)]
    for t in threads:
        t.start()
    stop.wait(1.0)
    stop.set()
    for t in threads:
        t.join(10)
    assert errors == []


def test_every_public_method_that_reads_sqlite_raises_store_error(tmp_path: Path) -> None:
    """Each public method says it translates SQLite's errors (a decorator per method): with the store's tables
    gone from under it, every one raises ``StoreError`` naming the file, never a raw ``sqlite3.Error``."""
    path = tmp_path / "gates.db"
    store = SqliteStore(path)
    key = Key("p", "d", "e")
    node = {"node_id": "n", "kind": "gate", "name": "g", "upstream": [], "signal_id": "s"}
    store.create_execution(key, "wf", {}, [node], [{"signal_id": "s", "kind": "input", "node_id": "n",
                                                    "description": None, "type": GateType.of(int).to_record(),
                                                    "context": None}])
    store.flush()
    with sqlite3.connect(path) as raw:
        for table in ("signals", "executions", "events", "task_cache", "uploads", "nodes", "meta"):
            raw.execute(f"DROP TABLE {table}")
    calls = {
        "get_signal": lambda: store.get_signal(key, "s"),
        "list_signals": lambda: store.list_signals(key),
        "count_signals": lambda: store.count_signals(),
        "set_signal": lambda: store.set_signal(key, "s", 1, "1", set_by="u", via="api"),
        "reach_signal": lambda: store.reach_signal(key, "s", None),
        "timeout_signal": lambda: store.timeout_signal(key, "s", has_value=False),
        "cancel_signals": lambda: store.cancel_signals(key, ["s"]),
        "get_execution": lambda: store.get_execution(key),
        "list_executions": lambda: store.list_executions(),
        "adopt_execution": lambda: store.adopt_execution(key),
        "finish_execution": lambda: store.finish_execution(key, ExecutionStatus.ABORTED),
        "request_abort": lambda: store.request_abort(key),
        "add_nodes": lambda: store.add_nodes(key, [], []),
        "history": lambda: store.history(key),
        "stats": lambda: store.stats(),
        "record_attempt": lambda: store.record_attempt(key, "n", 1, "boom"),
        "cached_output": lambda: store.cached_output("t", "v", "h"),
        "cache_output": lambda: store.cache_output("t", "v", "h", 1),
        "hold_file": lambda: store.hold_file("a" * 64, 60),
    }
    for name, call in calls.items():
        with pytest.raises(StoreError, match=f"store {path}") as info:
            call()
        assert isinstance(info.value.__cause__, sqlite3.Error), name


def test_close_closes_the_connection_of_every_thread_that_used_the_store(tmp_path: Path) -> None:
    """Each thread opens its own connection (the database, its WAL and shared memory: three files); a closed store
    leaves none open, whichever threads used it (a kernel running many workflows must not run out of files)."""
    def open_files() -> int:
        return sum(1 for fd in os.listdir("/proc/self/fd") if os.path.realpath(f"/proc/self/fd/{fd}").startswith(
            str(tmp_path)))

    store = SqliteStore(str(tmp_path / "gates.db"))
    together = threading.Barrier(8, timeout=30)  # eight threads at once: a pool would otherwise reuse a free one

    def use() -> None:
        store.list_executions("p", "d")
        together.wait()

    with ThreadPoolExecutor(8) as pool:  # threads that outlive nothing: their connections stay until closed
        list(pool.map(lambda _: use(), range(8)))
        assert open_files() >= 8  # a connection (its database file at least) for each of the eight threads
        store.close()
        assert open_files() == 0
        assert store.list_executions("p", "d") == []  # used again: it opens a connection again
    store.close()
    assert open_files() == 0
