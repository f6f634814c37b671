"""GateRemote: every rule of DESIGN.md "Signals", and typed values round-tripping through signals."""
# no `from __future__ import annotations`: tasks are built from local types below
import dataclasses
import enum
import os
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, Optional

import pydantic
import pytest
from helpers import eventually

from gatewidgets import (
    ExecutionNotFoundError,
    GateFile,
    GateRejectedError,
    GateRemote,
    SignalAlreadySetError,
    SignalClosedError,
    SignalNotFoundError,
    SignalState,
    SignalTypeError,
    approve,
    sleep,
    task,
    wait_for_input,
    workflow,
)
from gatewidgets.models.common import Sort, SortOrdering
from gatewidgets.models.filters import Filter
from gatewidgets.models.signal import SignalKind, Via
from gatewidgets.models.types import SimpleType
from gatewidgets.settings import settings
from gatewidgets.types import GateType


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Point:
    x: int
    y: float
    label: str = ""


class Budget(pydantic.BaseModel):
    amount: float
    owner: str
    tags: list[str] = []


def remote(**kw: Any) -> GateRemote:
    return GateRemote.for_sandbox(**kw)


def echo_workflow(py_type: Any):  # type: ignore[no-untyped-def]
    """A workflow whose one gate ``v`` of ``py_type`` flows into a task that returns it."""

    def echo(v):  # type: ignore[no-untyped-def]
        return v

    echo.__annotations__ = {"v": py_type, "return": py_type}

    def wf():  # type: ignore[no-untyped-def]
        return task(echo)(v=wait_for_input("v", timeout=None, expected_type=py_type))

    wf.__annotations__ = {"return": py_type}
    return workflow(wf)


def snapshot(name: str) -> tuple:
    """Everything stored about an execution's signals: bad input must not change it."""
    r = remote()
    return tuple(r.list_signals(name, limit=None)), tuple(r.history(name))


ROUND_TRIPS = [
    (int, 5),
    (float, 2.5),
    (str, "hello"),
    (bool, False),
    (datetime, datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)),
    (date, date(2024, 5, 1)),
    (timedelta, timedelta(hours=1, seconds=3)),
    (Color, Color.BLUE),
    (Literal["a", "b"], "b"),
    (Optional[int], None),
    (Optional[int], 4),
    (list[int], [1, 2, 3]),
    (dict[str, float], {"a": 1.5, "b": 2.0}),
    (Point, Point(1, 2.5, "p")),
    (Budget, Budget(amount=10.0, owner="ann", tags=["x"])),
]


@pytest.mark.parametrize("py_type,value", ROUND_TRIPS, ids=[f"{i}-{t}" for i, (t, _) in enumerate(ROUND_TRIPS)])
def test_types_round_trip_through_signals(py_type: Any, value: Any) -> None:
    wf = echo_workflow(py_type)
    name = "rt"
    ex = wf.launch(execution_name=name)
    r = remote()
    eventually(lambda: r.get_signal("v", name).state is SignalState.PENDING)
    stored = r.set_input("v", name, value, python_type=py_type)
    assert stored.state is SignalState.SET and stored.value == value
    result = ex.wait(10)
    assert result == value and type(result) is type(value)
    again = r.get_signal("v", name)
    # once the execution ended, its live type is gone: structures come back in JSON form
    assert again.value in (value, GateType.of(py_type).validate(value)) and again.via is Via.API
    # the same value again is a no-op
    assert r.set_input("v", name, value).set_at == again.set_at


def test_float_signal_accepts_int() -> None:
    ex = echo_workflow(float).launch(execution_name="f")
    remote().set_input("v", "f", 3)
    assert ex.wait(10) == 3.0


@pytest.mark.parametrize("py_type,bad", [
    (int, "5"), (int, True), (int, 2.5), (float, "1.0"), (float, True), (str, 5), (bool, 1), (bool, "true"),
    (datetime, "2024-05-01"), (Color, "green"), (Literal["a", "b"], "c"), (list[int], [1, "2"]),
    (dict[str, float], {"a": "x"}), (Point, {"x": "1", "y": 2.0}), (Budget, {"amount": 1.0}),
    (Optional[int], "1"),
])
def test_strict_validation_refuses_and_stores_nothing(py_type: Any, bad: Any) -> None:
    ex = echo_workflow(py_type).launch(execution_name="strict")
    r = remote()
    eventually(lambda: r.get_signal("v", "strict").state is SignalState.PENDING)
    before = snapshot("strict")
    with pytest.raises(SignalTypeError, match="expected") as refused:
        r.set_input("v", "strict", bad)
    assert str(refused.value).startswith("Signal 'v' of execution 'strict': ")  # names what it refused
    with pytest.raises(SignalTypeError, match="^Signal 'v' of execution 'strict': ") as refused:
        r.set_json("v", "strict", {"no": ["such", "form"]} if py_type is not dict[str, float] else {"a": "x"})
    assert snapshot("strict") == before
    assert not ex.done()
    ex.abort()


def test_python_type_mismatch_refused() -> None:
    ex = echo_workflow(int).launch(execution_name="pt")
    before = snapshot("pt")
    with pytest.raises(SignalTypeError, match="python_type says"):
        remote().set_input("v", "pt", 5, python_type=float)
    with pytest.raises(SignalTypeError, match="python_type says"):
        remote().set_input("v", "pt", "5", python_type=str)
    assert snapshot("pt") == before
    remote().set_input("v", "pt", 5, python_type=int)
    assert ex.wait(10) == 5


def test_gate_file(tmp_path: Path) -> None:
    ex = echo_workflow(GateFile).launch(execution_name="gf")
    src = tmp_path / "receipt.csv"
    src.write_text("a,b\n1,2\n")
    r = remote()
    stored = r.set_input("v", "gf", GateFile(src), python_type=GateFile)
    files_dir = Path(r.store.files_dir)
    assert Path(stored.value.path).is_relative_to(files_dir)
    assert stored.value.name == "receipt.csv"
    os.remove(src)
    result = ex.wait(10)
    assert isinstance(result, GateFile) and result.open().read() == b"a,b\n1,2\n"
    assert result.size == 8 and Path(result.path).is_relative_to(files_dir)
    # the same content from another path: no-op; different content: already set
    same = tmp_path / "other-name.csv"
    same.write_text("a,b\n1,2\n")
    before = snapshot("gf")
    assert r.set_input("v", "gf", GateFile(same)).set_at == stored.set_at
    different = tmp_path / "receipt2.csv"
    different.write_text("changed\n")
    with pytest.raises(SignalAlreadySetError):
        r.set_input("v", "gf", GateFile(different))
    assert snapshot("gf") == before
    # a refused file is not copied into the store
    assert [p.name for p in files_dir.rglob("*") if p.is_file()] == ["receipt.csv"]


def test_file_for_closed_signal_not_copied(tmp_path: Path) -> None:
    ex = echo_workflow(GateFile).launch(execution_name="gfc")
    ex.abort()
    src = tmp_path / "late.txt"
    src.write_text("late")
    r = remote()
    before = snapshot("gfc")
    with pytest.raises(SignalClosedError):
        r.set_input("v", "gfc", GateFile(src))
    assert snapshot("gfc") == before
    assert not Path(r.store.files_dir).exists() or not any(Path(r.store.files_dir).rglob("late.txt"))


def test_unreadable_file_is_a_type_error(tmp_path: Path) -> None:
    ex = echo_workflow(GateFile).launch(execution_name="nofile")
    before = snapshot("nofile")
    with pytest.raises(SignalTypeError, match="cannot be read"):
        remote().set_input("v", "nofile", GateFile(tmp_path / "missing.txt"))
    assert snapshot("nofile") == before
    ex.abort()


def test_files_in_lists_are_copied_like_top_level_files(tmp_path: Path) -> None:
    ex = echo_workflow(list[GateFile]).launch(execution_name="gfl")
    src = tmp_path / "a.txt"
    src.write_text("a")
    r = remote()
    claimed = {"path": str(src), "name": "a.txt", "sha256": "0" * 64, "size": 99}
    stored = r.set_json("v", "gfl", [claimed])
    (value,) = stored.value
    assert Path(value.path).is_relative_to(r.store.files_dir) and value.size == 1
    assert value.sha256 == GateFile(src).sha256 != "0" * 64
    os.remove(src)
    (result,) = ex.wait(10)
    assert result.open().read() == b"a"


@pytest.mark.timeout(30)
def test_every_face_refuses_non_regular_and_oversized_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ex = echo_workflow(list[GateFile]).launch(execution_name="nonreg")
    os.mkfifo(tmp_path / "fifo")
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 11)
    monkeypatch.setattr(settings, "max_upload_bytes", 10)
    before = snapshot("nonreg")
    for face in ("api", "cli", "magic", "widget"):
        r = remote().with_face(face)
        for bad in ("/dev/zero", tmp_path / "fifo", tmp_path):
            with pytest.raises(SignalTypeError, match="not a regular file"):
                r.set_input("v", "nonreg", [GateFile(bad)])
            with pytest.raises(SignalTypeError, match="not a regular file"):
                r.set_text("v", "nonreg", f'["{bad}"]')
        with pytest.raises(SignalTypeError, match="larger than the limit of 10 bytes"):
            r.set_input("v", "nonreg", [GateFile(big)])
    assert snapshot("nonreg") == before
    assert not [p for p in Path(remote().store.files_dir).rglob("*")]
    ex.abort()


# --------------------------------------------------------------------- the rules


@task
def passthrough(v: int) -> int:
    return v


@workflow
def gated(a: int) -> int:
    ok = approve(passthrough(v=a), "ok", timeout=None, description="Go?")
    n = wait_for_input("n", timeout=None, expected_type=int)
    s = wait_for_input("s", timeout=None, expected_type=str)
    later = wait_for_input("later", timeout=None, expected_type=int)
    nap = sleep(timedelta(hours=1), name="nap")
    total = passthrough(v=n)
    ok >> total
    s >> total
    nap >> later
    return passthrough(v=later) if False else total  # noqa: SIM108 - later is only declared


def launch_gated(name: str = "g", **kw: Any):  # type: ignore[no-untyped-def]
    ex = gated.launch(a=1, execution_name=name, **kw)
    r = remote(default_project=kw.get("project"))
    eventually(lambda: r.get_signal("ok", name).state is SignalState.PENDING)
    return ex


def test_approve_reject_and_idempotence() -> None:
    launch_gated()
    r = remote()
    first = r.approve("ok", "g")
    assert first.state is SignalState.SET and first.value is True and first.via is Via.API
    assert first.set_by == r.user and first.set_at is not None
    assert r.approve("ok", "g") == first  # same value: no-op
    assert len([e for e in r.history("g", signal_id="ok") if e.kind == "set"]) == 1
    before = snapshot("g")
    with pytest.raises(SignalAlreadySetError) as info:
        r.with_face("cli", user="bob").reject("ok", "g")
    message = str(info.value)
    assert "True" in message and r.user in message and "via api" in message
    assert first.set_at.isoformat()[:19] in message
    assert snapshot("g") == before


@pytest.mark.parametrize("verb,signal_id,args", [("set_input", "n", (3,)), ("set_text", "n", ("3",)),
                                                  ("set_json", "n", (3,)), ("approve", "ok", ())])
def test_a_set_reads_the_signal_once_and_writes_it_once(verb: str, signal_id: str, args: tuple) -> None:
    """Whatever the verb, a set reads the signal's row at most once (to validate) and writes it once; the gate
    waiting in this process resumes without reading it again. A Python value for a plain type (int, float, str,
    bool) whose gate waits in this process is validated against the live type: no read at all."""
    launch_gated()
    r = remote()
    statements: list[str] = []
    conn = r.store._conn()  # this thread's connection: the set, and the engine's listener, run here
    conn.set_trace_callback(statements.append)
    try:
        stored = getattr(r, verb)(signal_id, "g", *args)
    finally:
        conn.set_trace_callback(None)
    assert stored.state is SignalState.SET
    on_signals = [s.split()[0] for s in statements if re.search(r"\bsignals\b", s)]
    assert on_signals == (["UPDATE"] if verb == "set_input" else ["SELECT", "UPDATE"]), statements
    eventually(lambda: r.get_execution("g").nodes and any(
        n.signal_id == signal_id and n.state.value == "SUCCEEDED" for n in r.get_execution("g").nodes),
        what="the gate to resume")


def test_a_plain_value_set_without_a_read_is_refused_and_recorded_as_after_one() -> None:
    launch_gated()
    r = remote()
    before = snapshot("g")
    bad = ["3", 3.0, True, None, 2**70 * 1.5]

    def refusals() -> list[str]:
        messages = []
        for value in bad:
            with pytest.raises(SignalTypeError) as info:
                r.set_input("n", "g", value)
            messages.append(str(info.value))
        return messages

    unread = refusals()
    assert all(m.startswith("Signal 'n' of execution 'g': expected int") for m in unread), unread
    assert snapshot("g") == before
    live = dict(r.store._live_types)
    r.store._live_types.clear()  # the same values checked after a read of the signal (its stored type)
    assert refusals() == unread
    r.store._live_types.update(live)
    first = r.set_input("n", "g", 2**70)
    assert (first.state, first.value, first.via) == (SignalState.SET, 2**70, Via.API)
    assert r.set_input("n", "g", 2**70) == first  # the same answer again: a no-op
    with pytest.raises(SignalAlreadySetError, match="first answer wins"):
        r.set_input("n", "g", 4)
    assert [(e.kind, e.value) for e in r.history("g", signal_id="n")][-1] == ("set", 2**70)


def test_set_by_and_via_recorded() -> None:
    launch_gated()
    widget = remote().with_face("widget", user="alice")
    s = widget.set_input("n", "g", 3)
    assert (s.set_by, s.via) == ("alice", Via.WIDGET)
    magic = remote().with_face(Via.MAGIC, user="zed")
    t = magic.set_text("s", "g", "hi")
    assert (t.set_by, t.via, t.value) == ("zed", Via.MAGIC, "hi")
    events = remote().history("g", signal_id="n")
    assert (events[-1].kind, events[-1].set_by, events[-1].via, events[-1].value) == ("set", "alice", "widget", 3)


def test_closed_signals() -> None:
    @workflow
    def short() -> int:
        return wait_for_input("t", timeout=0.05, expected_type=int, default=1)

    ex = short.launch(execution_name="closed")
    assert ex.wait(10) == 1
    before = snapshot("closed")
    with pytest.raises(SignalClosedError, match="TIMED_OUT"):
        remote().set_input("t", "closed", 2)
    assert snapshot("closed") == before

    ex2 = launch_gated("cancelled")
    ex2.abort()
    before = snapshot("cancelled")
    for call in (lambda: remote().approve("ok", "cancelled"), lambda: remote().set_input("n", "cancelled", 1),
                 lambda: remote().end_sleep("nap", "cancelled")):
        with pytest.raises(SignalClosedError, match="CANCELLED"):
            call()
    assert snapshot("cancelled") == before


def test_unknown_signal_lists_known_ids() -> None:
    launch_gated()
    before = snapshot("g")
    with pytest.raises(SignalNotFoundError, match="ok, n, s, later, nap"):
        remote().approve("nope", "g")
    with pytest.raises(SignalNotFoundError):
        remote().get_signal("nope", "g")
    assert snapshot("g") == before


def test_unknown_execution() -> None:
    r = remote()
    with pytest.raises(ExecutionNotFoundError, match="'ghost'"):
        r.approve("ok", "ghost")
    with pytest.raises(ExecutionNotFoundError):
        r.set_input("n", "ghost", 1)
    with pytest.raises(ExecutionNotFoundError):
        r.list_signals("ghost")
    with pytest.raises(ExecutionNotFoundError):
        r.get_execution("ghost")
    for call in (lambda: r.count_signals("ghost"), lambda: r.history("ghost"), lambda: r.abort("ghost"),
                 lambda: r.end_sleep("nap", "ghost"), lambda: r.set_text("n", "ghost", "1")):
        with pytest.raises(ExecutionNotFoundError):
            call()
    launch_gated()
    with pytest.raises(ExecutionNotFoundError):  # right name, wrong project
        r.approve("ok", "g", project="elsewhere")
    assert r.list_executions(project="elsewhere") == []


def test_approve_on_non_boolean() -> None:
    launch_gated()
    before = snapshot("g")
    with pytest.raises(SignalTypeError, match="not a yes/no answer"):
        remote().approve("n", "g")
    with pytest.raises(SignalTypeError):
        remote().reject("s", "g")
    with pytest.raises(SignalTypeError, match="sleep"):
        remote().set_input("nap", "g", None)
    with pytest.raises(SignalTypeError, match="not a sleep"):
        remote().end_sleep("n", "g")
    assert snapshot("g") == before


def test_reject_fails_execution() -> None:
    ex = launch_gated()
    remote().reject("ok", "g")
    with pytest.raises(GateRejectedError):
        ex.wait(10)


def test_early_set_of_upcoming_signal() -> None:
    launch_gated()
    r = remote()
    assert r.get_signal("later", "g").state is SignalState.UPCOMING
    s = r.set_input("later", "g", 8)
    assert s.state is SignalState.SET and s.value == 8


def test_list_signals_default_order_and_fields() -> None:
    launch_gated()
    signals = remote().list_signals("g")
    assert [s.signal_id for s in signals] == ["ok", "n", "s", "later", "nap"]
    ok = signals[0]
    assert ok.id.execution_id.name == "g" and ok.id.execution_id.project == "default"
    assert ok.id.execution_id.domain == "development" and ok.execution_name == "g"
    assert ok.kind is SignalKind.APPROVE and ok.type.simple is SimpleType.BOOLEAN and ok.description == "Go?"
    assert signals[1].type.simple is SimpleType.INTEGER and signals[2].type.simple is SimpleType.STRING
    assert signals[4].kind is SignalKind.SLEEP
    gate_node = next(n.node_id for n in remote().get_execution("g").nodes if n.signal_id == "ok")
    assert ok.waiting_since is not None and ok.deadline is None and ok.node_id == gate_node
    assert "json_schema" in ok.type_record


def test_filters_and_limits() -> None:
    launch_gated()
    r = remote()
    r.set_input("n", "g", 1)

    def ids(filters: Any, **kw: Any) -> list[str]:
        return [s.signal_id for s in r.list_signals("g", filters=filters, **kw)]

    assert ids([Filter.from_python_std("eq(state,PENDING)")]) == ["ok", "s", "nap"]
    assert ids("eq(state,SET)") == ["n"]
    assert ids("neq(state,PENDING)") == ["n", "later"]
    assert ids("eq(kind,input)") == ["n", "s", "later"]
    assert ids("value_in(kind,approve;sleep)") == ["ok", "nap"]
    assert ids("value_in(state,SET;UPCOMING)") == ["n", "later"]
    assert ids("contains(signal_id,a)") == ["later", "nap"]
    assert ids("eq(signal_id,s)") == ["s"]
    assert ids("eq(node_id,n1)") == ["ok"]
    assert ids(f"eq(set_by,{r.user})") == ["n"]
    assert ids("eq(kind,input)+eq(state,PENDING)") == ["s"]
    created = r.get_signal("ok", "g").created_at
    assert ids(f"gte(created_at,{created.isoformat()})") == ["ok", "n", "s", "later", "nap"]
    assert ids(f"gt(created_at,{created.isoformat()})") == []
    assert ids(f"lt(created_at,{(created + timedelta(seconds=1)).isoformat()})") == ["ok", "n", "s", "later", "nap"]
    assert ids(f"lte(created_at,{(created - timedelta(seconds=1)).isoformat()})") == []
    set_at = r.get_signal("n", "g").set_at
    assert ids(f"gte(set_at,{set_at.isoformat().replace('+00:00', 'Z')})") == ["n"]
    # limit after filtering
    assert ids("eq(state,PENDING)", limit=2) == ["ok", "s"]
    assert ids("eq(state,PENDING)", limit=2, offset=2) == ["nap"]
    assert r.count_signals("g", filters="eq(state,PENDING)") == 3
    # sorting
    assert ids(None, sort_by=Sort("signal_id", SortOrdering.ASCENDING)) == ["later", "n", "nap", "ok", "s"]
    assert ids(None, sort_by=Sort.from_python_std("desc(signal_id)")) == ["s", "ok", "nap", "n", "later"]
    for bad in ("eq(colour,red)", "nonsense"):
        with pytest.raises(ValueError):
            r.list_signals("g", filters=bad)
    with pytest.raises(ValueError, match="ISO-8601"):
        r.list_signals("g", filters="gt(created_at,yesterday)")
    with pytest.raises(ValueError):
        r.list_signals("g", sort_by=Sort("colour"))


def test_signals_across_executions() -> None:
    launch_gated("one")
    launch_gated("two")
    launch_gated("three", project="p2")
    r = remote()
    r.approve("ok", "one")
    everything = r.list_signals(None, limit=None)
    assert {s.execution_name for s in everything} == {"one", "two"}
    assert len(everything) == 10
    pending = r.list_signals(filters="eq(signal_id,ok)+eq(state,PENDING)")
    assert [s.execution_name for s in pending] == ["two"]
    assert [s.execution_name for s in r.list_signals(filters="eq(execution,one)", limit=2)] == ["one", "one"]
    assert [s.execution_name for s in r.list_signals(project="p2", filters="eq(signal_id,ok)")] == ["three"]
    assert r.count_signals(filters="eq(state,PENDING)") == 3 + 4


def test_stored_type_validates_without_live_type() -> None:
    """A process without the workflow's code (here: the types forgotten) validates the same way."""
    ex = echo_workflow(Point).launch(execution_name="detached")
    r = remote()
    eventually(lambda: r.get_signal("v", "detached").state is SignalState.PENDING)
    r.store._live_types.clear()
    with pytest.raises(SignalTypeError):
        r.set_input("v", "detached", {"x": "1", "y": 2.0})
    s = r.set_input("v", "detached", {"x": 1, "y": 2.0, "label": "d"})
    assert s.state is SignalState.SET
    assert ex.wait(10) is not None


def test_python_refusals_suggest_python_calls() -> None:
    @workflow
    def nap_then_ask() -> int:
        nap = sleep(timedelta(hours=1), name="nap")
        n = wait_for_input("n", timeout=None, expected_type=int)
        nap >> n
        return n

    ex = nap_then_ask.launch(execution_name="py-face")
    r = remote()
    eventually(lambda: r.get_signal("nap", "py-face").state is SignalState.PENDING)
    with pytest.raises(SignalTypeError, match=r"End it early with end_sleep\('nap', 'py-face'\)"):
        r.approve("nap", "py-face")
    with pytest.raises(SignalTypeError, match=r"End it early with end_sleep\('nap', 'py-face'\)"):
        r.set_input("nap", "py-face", 1)
    with pytest.raises(SignalTypeError, match=r"Set it instead: set_input\('n', 'py-face', value=...\)"):
        r.approve("n", "py-face")
    assert r.get_signal("nap", "py-face").state is SignalState.PENDING
    r.end_sleep("nap", "py-face")
    r.set_input("n", "py-face", 2)
    assert ex.wait(10) == 2


@task
def add(a: int, b: int, c: int) -> int:
    return a + b + c


@workflow
def assigned(a: int) -> int:
    mine = approve(passthrough(v=a), "mine", timeout=None, assignees=["ann"])
    theirs = approve(passthrough(v=a), "theirs", timeout=None, assignees=["bob"])
    rate = wait_for_input("rate", timeout=None, expected_type=int, assignees=["ann", "bob"])
    return add(a=mine, b=theirs, c=rate)


def test_statuses_read_each_execution_once_and_waiting_for_me_keeps_what_i_may_answer() -> None:
    for name in ("a1", "a2"):
        assigned.launch(a=1, execution_name=name)
        eventually(lambda: all(remote().get_signal(s, name).state is SignalState.PENDING  # noqa: B023 - called now
                               for s in ("mine", "theirs", "rate")), what="the gates to wait")
    ann = remote().with_face("api", user="ann")
    signals = ann.list_signals(None, limit=None, filters="eq(state,PENDING)")
    statements: list[str] = []
    conn = ann.store._conn()  # this thread's connection: statuses read here
    conn.set_trace_callback(statements.append)
    try:
        statuses = ann.statuses(signals)
    finally:
        conn.set_trace_callback(None)
    assert len(signals) == 6 and len([s for s in statements if re.search(r"\bFROM executions\b", s)]) == 2
    assert [(s.execution_name, s.signal_id, st.may_answer) for s, st in zip(signals, statuses)
            if s.signal_id == "theirs"] == [("a1", "theirs", False), ("a2", "theirs", False)]
    assert sorted((s.execution_name, s.signal_id) for s in ann.waiting_for_me(limit=None)) == \
        [("a1", "mine"), ("a1", "rate"), ("a2", "mine"), ("a2", "rate")]
    assert [s.signal_id for s in ann.waiting_for_me(execution_name="a2", filters="eq(kind,input)")] == ["rate"]
    ann.approve("mine", "a1")
    assert sorted(s.signal_id for s in ann.waiting_for_me(execution_name="a1")) == ["rate"]
