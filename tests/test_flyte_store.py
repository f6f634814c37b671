"""``FlyteStore`` / ``GateRemote.for_endpoint``: flytekit's real client against a real gRPC server.

The server (``tests/flyte_fake``) implements flyteidl's ``SignalService`` and the
``AdminService`` execution calls with flyteidl's generated classes, on 127.0.0.1; every
request it receives is recorded, so the tests assert what went over the wire.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("flytekit", reason="flytekit is not installed: pip install -e '.[flyte]' to test the Flyte store")

from flyte_fake.server import FakeFlyteAdmin, blob, bool_literal, list_of, simple  # noqa: E402
from flyteidl.core import types_pb2  # noqa: E402
from flytekit.configuration import Config as FlyteConfig  # noqa: E402
from flytekit.remote import FlyteRemote  # noqa: E402
from helpers import eventually  # noqa: E402

from gatewidgets import GateFile, GateRemote, SignalState  # noqa: E402
from gatewidgets.errors import (  # noqa: E402
    ExecutionNotFoundError,
    SignalAlreadySetError,
    SignalNotFoundError,
    SignalTypeError,
)
from gatewidgets.models.filters import Filter  # noqa: E402
from gatewidgets.models.signal import SignalKind  # noqa: E402
from gatewidgets.remote import Config  # noqa: E402
from gatewidgets.store.flyte import FlyteStore  # noqa: E402

EX = "exp-42"


@pytest.fixture
def admin() -> Iterator[FakeFlyteAdmin]:
    server = FakeFlyteAdmin().start()
    server.add_execution(EX)
    server.add_signal(EX, "approve-expense", simple(types_pb2.BOOLEAN))
    server.add_signal(EX, "count", simple(types_pb2.INTEGER))
    server.add_signal(EX, "rate", simple(types_pb2.FLOAT))
    server.add_signal(EX, "note", simple(types_pb2.STRING))
    server.add_signal(EX, "ids", list_of(simple(types_pb2.INTEGER)))
    server.add_signal(EX, "receipt", blob())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def remote(admin: FakeFlyteAdmin, tmp_path: Path) -> Iterator[GateRemote]:
    r = GateRemote.for_endpoint(admin.endpoint, insecure=True, default_project="flytesnacks",
                                default_domain="development", data_upload_location=str(tmp_path / "raw"),
                                flyte_poll_interval=0.1, files_dir=str(tmp_path / "staging"))
    try:
        yield r
    finally:
        r.store.close()


def sets(admin: FakeFlyteAdmin) -> list[Any]:
    return admin.calls("SetSignal")


# -- construction -----------------------------------------------------------------------

def test_every_way_to_reach_a_flyte_admin_builds_a_flyte_store(admin: FakeFlyteAdmin, tmp_path: Path) -> None:
    via_config = GateRemote(Config.for_endpoint(admin.endpoint, insecure=True), "flytesnacks", "development")
    flyte = FlyteRemote(FlyteConfig.for_endpoint(admin.endpoint, insecure=True), default_project="flytesnacks",
                        default_domain="development", data_upload_location=str(tmp_path))
    via_flytekit = GateRemote.from_flyte(flyte, flyte_poll_interval=0.5)
    try:
        for r in (via_config, via_flytekit):
            assert isinstance(r.store, FlyteStore)
            assert repr(r) == f"GateRemote('flyte://{admin.endpoint}', project='flytesnacks', domain='development')"
            assert [s.signal_id for s in r.list_signals(EX)][:2] == ["approve-expense", "count"]
        assert via_flytekit.store.client is flyte.client  # flytekit's own client, not a copy
        assert via_flytekit.store.flyte_poll_interval == 0.5
        assert via_config.store.flyte_poll_interval == 2.0
    finally:
        via_config.store.close()
        via_flytekit.store.close()
    with pytest.raises(ValueError, match="flyte_poll_interval"):
        FlyteStore(flyte, flyte_poll_interval=0)


# -- listing ------------------------------------------------------------------------------

def test_listing_follows_the_token_past_one_page(admin: FakeFlyteAdmin, tmp_path: Path) -> None:
    for i in range(7):
        admin.add_signal("big", f"s{i}", simple(types_pb2.BOOLEAN))
    admin.add_execution("big")
    r = GateRemote.for_endpoint(admin.endpoint, insecure=True, default_project="flytesnacks",
                                default_domain="development", page_size=3)
    try:
        signals = r.list_signals("big", limit=None)
        assert [s.signal_id for s in signals] == [f"s{i}" for i in range(7)]
        pages = admin.calls("ListSignals")
        assert [(p.limit, p.token) for p in pages] == [(3, ""), (3, "3"), (3, "6")]
        assert [s.signal_id for s in r.list_signals("big", limit=2, offset=4)] == ["s4", "s5"]
        assert r.count_signals("big") == 7
        # flytekit alone stops at the first page (it ignores the token)
        flyte = FlyteRemote(FlyteConfig.for_endpoint(admin.endpoint, insecure=True),
                            default_project="flytesnacks", default_domain="development")
        assert len(flyte.list_signals("big", limit=3)) == 3
    finally:
        r.store.close()


def test_filters_reach_admin_as_one_plus_joined_string(admin: FakeFlyteAdmin, remote: GateRemote) -> None:
    filters = [Filter.from_python_std("value_in(signal_id,count;rate;note)"), "neq(signal_id,note)",
               "eq(state,PENDING)"]
    before = len(admin.calls("ListSignals"))
    signals = remote.list_signals(EX, filters=filters)
    assert [s.signal_id for s in signals] == ["count", "rate"]
    received = [p.filters for p in admin.calls("ListSignals")[before:]]
    assert received == ["value_in(signal_id,count;rate;note)+neq(signal_id,note)"]  # state is derived, filtered here
    # flytekit passes the list itself to the proto, which refuses it
    flyte = FlyteRemote(FlyteConfig.for_endpoint(admin.endpoint, insecure=True),
                        default_project="flytesnacks", default_domain="development")
    from flytekit.models.filters import Filter as FlyteFilter

    with pytest.raises(TypeError):
        flyte.list_signals(EX, filters=[FlyteFilter.from_python_std("eq(signal_id,count)")])


def test_state_kind_and_types_are_derived_from_flyte_signals(admin: FakeFlyteAdmin, remote: GateRemote) -> None:
    admin.add_signal(EX, "done", simple(types_pb2.BOOLEAN), value=bool_literal(False))
    by_id = {s.signal_id: s for s in remote.list_signals(EX, limit=None)}
    assert by_id["approve-expense"].state is SignalState.PENDING and by_id["approve-expense"].value is None
    assert by_id["done"].state is SignalState.SET and by_id["done"].value is False
    assert by_id["approve-expense"].kind is SignalKind.APPROVE and by_id["count"].kind is SignalKind.INPUT
    assert {k: str(s.type) for k, s in by_id.items()} == {
        "approve-expense": "bool", "count": "int", "rate": "float", "note": "str", "ids": "list[int]",
        "receipt": "GateFile", "done": "bool"}
    assert by_id["count"].type.simple.name == "INTEGER" and by_id["ids"].type.simple is None
    pending = remote.list_signals(EX, filters=["eq(state,PENDING)"], limit=None)
    assert "done" not in {s.signal_id for s in pending} and len(pending) == 6
    assert remote.count_signals(EX, filters="eq(state,SET)") == 1


def test_unknown_execution_and_unknown_signal(admin: FakeFlyteAdmin, remote: GateRemote) -> None:
    with pytest.raises(ExecutionNotFoundError, match="nope"):
        remote.list_signals("nope")
    with pytest.raises(SignalNotFoundError, match="approve-expense, count, rate"):
        remote.approve("missing", EX)
    assert sets(admin) == []


# -- writing ------------------------------------------------------------------------------

def test_approve_and_reject_send_boolean_literals(admin: FakeFlyteAdmin, remote: GateRemote) -> None:
    admin.add_signal(EX, "second-look", simple(types_pb2.BOOLEAN))
    approved = remote.approve("approve-expense", EX)
    rejected = remote.reject("second-look", EX)
    first, second = sets(admin)
    assert (first.id.signal_id, first.id.execution_id.project, first.id.execution_id.domain,
            first.id.execution_id.name) == ("approve-expense", "flytesnacks", "development", EX)
    assert first.value.scalar == bool_literal(True).scalar
    assert second.value.scalar == bool_literal(False).scalar
    assert first.value.metadata["gatewidgets.via"] == "api"
    assert approved.state is SignalState.SET and approved.value is True and approved.via.value == "api"
    assert rejected.value is False
    assert admin.value_of(EX, "approve-expense").scalar.primitive.boolean is True


def test_set_input_sends_typed_literals(admin: FakeFlyteAdmin, remote: GateRemote, tmp_path: Path) -> None:
    receipt = tmp_path / "receipt.pdf"
    receipt.write_bytes(b"%PDF-1.4 receipt")
    remote.set_input("count", EX, 7, python_type=int)
    remote.set_input("rate", EX, 2, python_type=float)  # an int is a valid float
    remote.set_input("note", EX, "ok")
    remote.set_input("ids", EX, [1, 2, 3])
    stored = remote.set_input("receipt", EX, GateFile(receipt), python_type=GateFile)
    wire = {r.id.signal_id: r.value for r in sets(admin)}
    assert wire["count"].scalar.primitive.integer == 7
    assert wire["rate"].scalar.primitive.float_value == 2.0
    assert wire["note"].scalar.primitive.string_value == "ok"
    assert [x.scalar.primitive.integer for x in wire["ids"].collection.literals] == [1, 2, 3]
    uri = wire["receipt"].scalar.blob.uri
    assert wire["receipt"].scalar.blob.metadata.type.dimensionality == types_pb2.BlobType.SINGLE
    assert uri.startswith(str(tmp_path / "raw")) and Path(uri).read_bytes() == b"%PDF-1.4 receipt"  # uploaded
    assert stored.state is SignalState.SET and isinstance(stored.value, GateFile)
    assert Path(stored.value.path).read_bytes() == b"%PDF-1.4 receipt"
    assert remote.get_signal("ids", EX).value == [1, 2, 3]
    assert remote.get_signal("rate", EX).value == 2.0


def test_more_flyte_types_round_trip_and_unsupported_ones_are_refused(admin: FakeFlyteAdmin,
                                                                       remote: GateRemote) -> None:
    from datetime import datetime, timedelta, timezone

    admin.add_signal(EX, "when", simple(types_pb2.DATETIME))
    admin.add_signal(EX, "wait", simple(types_pb2.DURATION))
    admin.add_signal(EX, "limits", types_pb2.LiteralType(map_value_type=simple(types_pb2.INTEGER)))
    admin.add_signal(EX, "colour", types_pb2.LiteralType(enum_type=types_pb2.EnumType(values=["red", "green"])))
    admin.add_signal(EX, "maybe", types_pb2.LiteralType(union_type=types_pb2.UnionType(
        variants=[simple(types_pb2.INTEGER), simple(types_pb2.NONE)])))
    admin.add_signal(EX, "blob-struct", simple(types_pb2.STRUCT))
    when = datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)
    assert remote.set_input("when", EX, when).value == when
    assert remote.set_text("wait", EX, "5m").value == timedelta(minutes=5)
    assert remote.set_input("limits", EX, {"a": 1}).value == {"a": 1}
    assert remote.set_text("colour", EX, "green").value == "green"
    assert remote.set_input("maybe", EX, 3).value == 3
    wire = {r.id.signal_id: r.value for r in sets(admin)}
    assert wire["when"].scalar.primitive.datetime.seconds == int(when.timestamp())
    assert wire["wait"].scalar.primitive.duration.seconds == 300
    assert wire["limits"].map.literals["a"].scalar.primitive.integer == 1
    assert wire["colour"].scalar.primitive.string_value == "green"
    assert wire["maybe"].scalar.union.value.scalar.primitive.integer == 3
    assert str(remote.get_signal("colour", EX).type) == "Literal['red','green']"
    with pytest.raises(SignalTypeError, match="no gatewidgets equivalent"):
        remote.set_input("blob-struct", EX, {"a": 1})
    assert len(sets(admin)) == 5


@pytest.mark.parametrize("call", [
    lambda r: r.set_input("count", EX, "5"),
    lambda r: r.set_input("count", EX, True),
    lambda r: r.set_input("ids", EX, [1, "2"]),
    lambda r: r.set_input("count", EX, 5, python_type=float),
    lambda r: r.approve("count", EX),
    lambda r: r.set_input("receipt", EX, GateFile("/no/such/file.pdf")),
], ids=["str-for-int", "bool-for-int", "bad-list-item", "python-type-mismatch", "approve-an-int", "missing-file"])
def test_type_errors_are_raised_before_any_set_request(admin: FakeFlyteAdmin, remote: GateRemote, call: Any) -> None:
    with pytest.raises(SignalTypeError):
        call(remote)
    assert sets(admin) == []  # only reads went out
    assert {m for m, _ in admin.requests} <= {"ListSignals", "GetExecution"}
    assert all(admin.value_of(EX, s) is None for s in ("count", "ids", "receipt"))


def test_a_value_set_elsewhere_wins_and_the_same_value_is_a_no_op(admin: FakeFlyteAdmin, remote: GateRemote) -> None:
    admin.add_signal(EX, "console-approved", simple(types_pb2.BOOLEAN), value=bool_literal(True))
    with pytest.raises(SignalAlreadySetError, match="already set to True by someone outside gatewidgets"):
        remote.reject("console-approved", EX)
    again = remote.approve("console-approved", EX)
    assert sets(admin) == [] and again.value is True
    assert admin.value_of(EX, "console-approved").scalar.primitive.boolean is True


def test_the_first_gatewidgets_answer_wins_with_who_and_when(admin: FakeFlyteAdmin, remote: GateRemote) -> None:
    alice = remote.with_face("widget", user="alice")
    alice.set_input("count", EX, 3)
    bob = remote.with_face("magic", user="bob")
    with pytest.raises(SignalAlreadySetError, match=r"already set to 3 by alice via widget at 20\d\d-"):
        bob.set_input("count", EX, 4)
    assert bob.set_input("count", EX, 3).set_by == "alice"  # same value: no-op, first answer kept
    assert len(sets(admin)) == 1
    # the refusal came from a fresh read, not from a cache: the last ListSignals preceded no SetSignal
    assert [m for m, _ in admin.requests][-1] == "ListSignals"
    signal = remote.get_signal("count", EX)
    assert (signal.value, signal.set_by, signal.via.value) == (3, "alice", "widget")


def test_same_file_again_is_a_no_op_and_another_file_is_refused(admin: FakeFlyteAdmin, remote: GateRemote,
                                                                 tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("one")
    b.write_text("two")
    remote.set_input("receipt", EX, GateFile(a))
    copy = tmp_path / "copy-of-a.txt"
    copy.write_text("one")
    remote.set_input("receipt", EX, GateFile(copy))  # same content
    with pytest.raises(SignalAlreadySetError):
        remote.set_input("receipt", EX, GateFile(b))
    assert len(sets(admin)) == 1


# -- executions, polling -----------------------------------------------------------------------

def test_executions_listing_and_abort_through_admin(admin: FakeFlyteAdmin, remote: GateRemote) -> None:
    admin.add_execution("old", phase="SUCCEEDED")
    running = remote.list_executions(status="RUNNING")
    assert [r.name for r in running] == [EX]
    assert admin.calls("ListExecutions")[-1].filters == (
        "value_in(phase,UNDEFINED;QUEUED;RUNNING;SUCCEEDING;FAILING;ABORTING)")
    assert {r.name for r in remote.list_executions()} == {EX, "old"}
    assert remote.get_execution("old").status.value == "SUCCEEDED"
    assert remote.is_orphaned(running[0]) is False
    record = remote.abort(EX)
    assert record.status.value == "ABORTED" and admin.calls("TerminateExecution")[0].id.name == EX
    with pytest.raises(NotImplementedError, match="history"):
        remote.history(EX)
    with pytest.raises(NotImplementedError, match="event history"):
        remote.stats()


def test_signals_across_running_executions(admin: FakeFlyteAdmin, remote: GateRemote) -> None:
    admin.add_execution("exp-43")
    admin.add_signal("exp-43", "approve-expense", simple(types_pb2.BOOLEAN))
    admin.add_execution("finished", phase="SUCCEEDED")
    admin.add_signal("finished", "late", simple(types_pb2.BOOLEAN))
    pending = remote.list_signals(None, filters="eq(signal_id,approve-expense)")
    assert sorted(s.execution_name for s in pending) == [EX, "exp-43"]
    assert {p.filters for p in admin.calls("ListSignals")} == {"eq(signal_id,approve-expense)"}


def test_subscribe_polls_flyte_for_changes_made_elsewhere(admin: FakeFlyteAdmin, remote: GateRemote) -> None:
    remote.list_signals(EX)  # watched from now on
    events: list[Any] = []
    unsubscribe = remote.subscribe(events.extend)
    try:
        eventually(lambda: any(e.kind == "created" for e in events))  # first poll saw the signals
        with admin.lock:  # another client (the console, say) sets a signal
            for sig in admin.signals[("flytesnacks", "development", EX)]:
                if sig.id.signal_id == "approve-expense":
                    sig.value.CopyFrom(bool_literal(True))
        eventually(lambda: any(e.kind == "set" and e.signal_id == "approve-expense" and not e.local for e in events))
        remote.set_input("count", EX, 1)  # a set made here is announced at once
        assert any(e.kind == "set" and e.signal_id == "count" and e.local for e in events)
    finally:
        unsubscribe()


# -- faces on a Flyte-backed remote ----------------------------------------------------------

def test_gate_widget_approves_through_flyte(admin: FakeFlyteAdmin, remote: GateRemote) -> None:
    from gatewidgets.widgets import GateWidget

    card = GateWidget(remote.get_signal("approve-expense", EX), remote=remote)
    other = GateWidget(remote.get_signal("approve-expense", EX), remote=remote)
    try:
        card.buttons["Approve"].click()
        assert card.state is SignalState.SET and card.buttons["Approve"].disabled
        assert sets(admin)[0].value.scalar == bool_literal(True).scalar
        assert sets(admin)[0].value.metadata["gatewidgets.via"] == "widget"
        assert other.reject() is None and "already set to True" in other.error_text
        assert other.state is SignalState.SET and len(sets(admin)) == 1
        typed = GateWidget(remote.get_signal("count", EX), remote=remote)
        try:
            assert typed.submit("abc") is None and typed.error_text  # inline error, nothing sent
            assert len(sets(admin)) == 1
            assert typed.submit("12").value == 12
            assert sets(admin)[-1].value.scalar.primitive.integer == 12
        finally:
            typed.close()
    finally:
        card.close()
        other.close()


def test_dashboard_lists_pending_flyte_signals_and_refreshes(admin: FakeFlyteAdmin, remote: GateRemote) -> None:
    from gatewidgets.widgets import SignalDashboard

    dash = SignalDashboard(remote=remote, page_size=4, sort="workflow order")
    try:
        assert dash.total == 6 and len(dash.list.rows) == 4 and dash.pages == 2
        dash.go(1)
        assert [s.signal_id for s in dash.signals()] == ["ids", "receipt"]
        dash.go(0)
        with admin.lock:  # answered elsewhere: the poll notices, the dashboard refreshes
            admin.signals[("flytesnacks", "development", EX)][0].value.CopyFrom(bool_literal(False))
        eventually(lambda: dash.total == 5 and "approve-expense" not in [s.signal_id for s in dash.signals()])
        assert [s.signal_id for s in dash.signals()] == ["count", "rate", "note", "ids"]
        assert dash.expand(3).signal_id == "ids"
    finally:
        dash.close()


def test_gate_magics_list_and_approve_on_flyte(admin: FakeFlyteAdmin, remote: GateRemote) -> None:
    from helpers.shell import global_shell
    from IPython.utils.capture import capture_output

    from gatewidgets.magics import GateMagics

    ip = global_shell()
    ip.run_line_magic("load_ext", "gatewidgets")
    GateMagics.remote = remote
    try:
        with capture_output() as listed:
            ip.run_cell(f"%gate list {EX}")
        text = listed.outputs[0].data["text/plain"]
        assert "approve-expense" in text and "receipt" in text and "PENDING" in text
        with capture_output() as approved:
            ip.run_cell(f"%gate approve approve-expense -e {EX}")
        assert "Approved signal 'approve-expense'" in approved.stdout
        with capture_output() as refused:
            ip.run_cell(f"%gate reject approve-expense -e {EX}")
        assert "SignalAlreadySetError" in refused.stdout + refused.stderr
        assert len(sets(admin)) == 1 and sets(admin)[0].value.metadata["gatewidgets.via"] == "magic"
    finally:
        GateMagics.remote = None
        ip.run_line_magic("unload_ext", "gatewidgets")
