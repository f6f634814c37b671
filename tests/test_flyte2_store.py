"""``Flyte2Store`` / ``GateRemote.for_flyte2``: the ``flyte`` SDK's real client against a fake run service.

The server (``tests/flyte2_fake``) implements the parts of Flyte 2's ``RunService`` the
store uses with flyteidl2's generated connect-rpc WSGI application, on 127.0.0.1; every
request it receives is recorded, so the tests assert what went over the wire.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator

import pytest
from helpers import eventually

pytest.importorskip("flyte", reason="flyte is not installed: pip install -e '.[flyte2]' to test the Flyte 2 store")

from flyte2_fake.server import FakeRunService  # noqa: E402
from flyteidl2.common import list_pb2, phase_pb2  # noqa: E402
from flyteidl2.workflow import run_definition_pb2  # noqa: E402

from gatewidgets import GateRemote, SignalState  # noqa: E402
from gatewidgets.errors import (  # noqa: E402
    ExecutionNotFoundError,
    SignalAlreadySetError,
    SignalClosedError,
    SignalNotFoundError,
    SignalTypeError,
)
from gatewidgets.models.signal import SignalKind, Via  # noqa: E402
from gatewidgets.models.types import SimpleType  # noqa: E402

RUN = "r-42"
P = phase_pb2.ActionPhase


@pytest.fixture
def fake() -> Iterator[FakeRunService]:
    server = FakeRunService().start()
    server.add_run(RUN)
    server.add_condition(RUN, "approve-n", bool, prompt="Double *it*?", timeout=timedelta(hours=1))
    server.add_condition(RUN, "n", int, prompt="How **many**?", markdown=True, description="a count")
    server.add_condition(RUN, "rate", float, prompt="Rate?", parent="a0-child")
    server.add_condition(RUN, "note", str, prompt="Note?")
    server.add_condition(RUN, "n", int, prompt="Again?")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def remote(fake: FakeRunService) -> Iterator[GateRemote]:
    r = GateRemote.for_flyte2(fake.endpoint, project="flytesnacks", domain="development", insecure=True,
                              page_size=2, flyte_poll_interval=0.1)
    try:
        yield r
    finally:
        r.store.close()


def events(fake: FakeRunService) -> list[Any]:
    return fake.calls("SignalEvent")


def test_conditions_of_a_run_are_listed_every_page_with_the_condition_filter(fake: FakeRunService,
                                                                               remote: GateRemote) -> None:
    signals = remote.list_signals(RUN)
    assert [(s.signal_id, s.kind, s.type.simple, s.state) for s in signals] == [
        ("approve-n", SignalKind.APPROVE, SimpleType.BOOLEAN, SignalState.PENDING),
        ("n", SignalKind.INPUT, SimpleType.INTEGER, SignalState.PENDING),
        ("rate", SignalKind.INPUT, SimpleType.FLOAT, SignalState.PENDING),
        ("note", SignalKind.INPUT, SimpleType.STRING, SignalState.PENDING),
        ("n-2", SignalKind.INPUT, SimpleType.INTEGER, SignalState.PENDING),
    ]
    first, second = signals[0], signals[1]
    assert first.description == "Double *it*?"  # a text prompt is kept as written, and shown as text:
    from gatewidgets.widgets import GateWidget

    assert "<p>Double *it*?</p>" in GateWidget(first, remote=remote).description.value
    assert second.description == "How **many**?\n\na count"  # a Markdown prompt stays Markdown
    assert first.deadline - first.waiting_since == timedelta(hours=1) and second.deadline is None
    assert first.node_id == "a0-cond-approve-n-0"  # the action `flyte signal condition` takes
    pages = fake.calls("ListActions")[:3]
    assert [p.request.token for p in pages] == ["", "2", "4"] and {p.request.limit for p in pages} == {2}
    for page in pages:
        assert page.run_id.name == RUN and (page.run_id.project, page.run_id.domain) == ("flytesnacks", "development")
        assert list(page.request.filters) == [list_pb2.Filter(
            function=list_pb2.Filter.Function.EQUAL, field="action_type",
            values=[str(int(run_definition_pb2.ACTION_TYPE_CONDITION))])]
    assert [s.signal_id for s in remote.list_signals(RUN, filters="eq(kind,input)", limit=2)] == ["n", "rate"]


def test_approve_and_set_send_one_signal_event_each_with_the_typed_payload(fake: FakeRunService,
                                                                            remote: GateRemote) -> None:
    done = remote.approve("approve-n", RUN)
    assert (done.state, done.value, done.via) == (SignalState.SET, True, Via.API)
    remote.set_input("n", RUN, 3)
    remote.set_input("rate", RUN, 2)  # an int is a valid float: sent as a float
    remote.set_text("note", RUN, "fine")
    sent = events(fake)
    assert [(e.action_id.name, e.payload.WhichOneof("value")) for e in sent] == [
        ("a0-cond-approve-n-0", "bool_value"), ("a0-cond-n-1", "int_value"), ("a0-child-cond-rate-2", "float_value"),
        ("a0-cond-note-3", "string_value")]
    assert (sent[0].payload.bool_value, sent[1].payload.int_value, sent[2].payload.float_value) == (True, 3, 2.0)
    assert [e.parent_action_name for e in sent] == ["a0", "a0", "a0-child", "a0"]
    assert sent[0].action_id.run.name == RUN
    fresh = remote.get_signal("approve-n", RUN)
    assert (fresh.state, fresh.value, fresh.set_by) == (SignalState.SET, True, "gatewidgets-test")  # Flyte's record


def test_wrong_types_are_refused_before_anything_is_sent(fake: FakeRunService, remote: GateRemote) -> None:
    for bad in ("3", True, 2.5):
        with pytest.raises(SignalTypeError):
            remote.set_input("n", RUN, bad)
    with pytest.raises(SignalTypeError):
        remote.approve("note", RUN)
    with pytest.raises(SignalTypeError):
        remote.set_text("n", RUN, "many")
    assert events(fake) == []
    assert remote.get_signal("n", RUN).state is SignalState.PENDING


def test_first_answer_wins_and_the_same_answer_again_sends_nothing(fake: FakeRunService, remote: GateRemote) -> None:
    remote.reject("approve-n", RUN)
    assert remote.reject("approve-n", RUN).value is False
    with pytest.raises(SignalAlreadySetError, match="already signalled with False by gatewidgets-test"):
        remote.approve("approve-n", RUN)
    assert len(events(fake)) == 1


def test_an_answer_given_in_the_flyte_ui_shows_who_gave_it(fake: FakeRunService, remote: GateRemote) -> None:
    fake.signal_from_outside(RUN, "a0-cond-note-3", "from the UI", user="ann")
    signal = remote.get_signal("note", RUN)
    assert (signal.state, signal.value, signal.set_by, signal.via) == (SignalState.SET, "from the UI", "ann", None)
    with pytest.raises(SignalAlreadySetError, match="ann"):
        remote.set_input("note", RUN, "mine")
    assert events(fake) == []


def test_timed_out_and_aborted_conditions_are_closed(fake: FakeRunService, remote: GateRemote) -> None:
    fake.set_phase(RUN, "a0-cond-approve-n-0", P.ACTION_PHASE_TIMED_OUT)
    fake.set_phase(RUN, "a0-child-cond-rate-2", P.ACTION_PHASE_ABORTED)
    assert remote.get_signal("approve-n", RUN).state is SignalState.TIMED_OUT
    assert remote.get_signal("rate", RUN).state is SignalState.CANCELLED
    with pytest.raises(SignalClosedError):
        remote.approve("approve-n", RUN)
    with pytest.raises(SignalClosedError):
        remote.set_input("rate", RUN, 1.0)
    assert events(fake) == []


def test_unknown_ids_runs_and_scopes_are_clear_errors(fake: FakeRunService, remote: GateRemote) -> None:
    with pytest.raises(SignalNotFoundError, match="approve-n, n, rate, note, n-2"):
        remote.get_signal("nope", RUN)
    with pytest.raises(ExecutionNotFoundError, match="no-such-run"):
        remote.get_execution("no-such-run")
    with pytest.raises(ExecutionNotFoundError, match="flytesnacks"):
        remote.list_signals(RUN, project="other")
    with pytest.raises(NotImplementedError, match="no history"):
        remote.history(RUN)
    assert remote.get_execution(RUN).workflow == "wf.main"


def test_pending_conditions_across_runs_come_from_runs_with_a_paused_action(fake: FakeRunService,
                                                                             remote: GateRemote) -> None:
    fake.add_run("idle")
    fake.add_run("r-7")
    fake.add_condition("r-7", "ok", bool)
    pending = remote.list_signals(filters="eq(state,PENDING)")
    assert sorted({s.execution_name for s in pending}) == ["r-42", "r-7"]
    assert [r.paused_actions_only for r in fake.calls("ListRuns")] == [True]


def test_changes_made_elsewhere_reach_subscribers_by_polling(fake: FakeRunService, remote: GateRemote) -> None:
    seen: list[Any] = []
    remote.list_signals(RUN)
    unsubscribe = remote.subscribe(seen.extend)
    try:
        eventually(lambda: any(e.kind == "reached" for e in seen), what="the first poll")
        fake.signal_from_outside(RUN, "a0-cond-n-1", 7, user="bob")
        eventually(lambda: any(e.kind == "set" and e.signal_id == "n" and not e.local for e in seen),
                   what="the set to be polled")
    finally:
        unsubscribe()


def test_a_card_on_the_cluster_answers_with_a_click(fake: FakeRunService, remote: GateRemote) -> None:
    from gatewidgets.widgets import GateWidget, SignalDashboard

    card = GateWidget(remote.get_signal("approve-n", RUN), remote=remote)
    card.approve()
    assert [e.payload.bool_value for e in events(fake)] == [True]
    assert remote.get_signal("approve-n", RUN).state is SignalState.SET
    dashboard = SignalDashboard(remote=remote, state="PENDING", sort="workflow order")
    try:
        assert [s.signal_id for s in dashboard.signals()] == ["n", "rate", "note", "n-2"]
        assert dashboard.total == 4
    finally:
        dashboard.close()
        card.close()


def test_abort_aborts_the_run(fake: FakeRunService, remote: GateRemote) -> None:
    remote.abort(RUN)
    assert [r.run_id.name for r in fake.calls("AbortRun")] == [RUN]
    assert remote.get_signal("n", RUN).state is SignalState.CANCELLED
