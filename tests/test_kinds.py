"""Gate kinds registry: a test-only kind (``choose``) works end to end from one module plus one
registration line; an unregistered kind is refused by the DSL, executor, card and DAG."""
from __future__ import annotations

import types

import pytest
from _choose_kind import ChooseKind, choose
from helpers import eventually

from gatewidgets import GateRemote, SignalState, approve, kinds, task, wire, workflow
from gatewidgets.dsl import Node, NodeKind, SignalSpec
from gatewidgets.errors import GateError, UnknownGateKindError
from gatewidgets.models.signal import SignalKind
from gatewidgets.types import GateType


@pytest.fixture(scope="module", autouse=True)
def _choose_registered():
    kinds.register(ChooseKind())  # the one registration line
    yield
    kinds.unregister("choose")


@task
def serve(flavour: str) -> str:
    return f"a {flavour} ice cream"


def _wf():
    @workflow
    def ice_cream() -> str:
        return serve(flavour=choose("flavour", ("vanilla", "chocolate"), timeout=60))
    return ice_cream


def _pending(ex, signal_id: str):
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal(signal_id, ex.name).state is SignalState.PENDING)
    return remote.get_signal(signal_id, ex.name)


def test_builtins_are_registered_and_signal_kind_comes_from_the_registry():
    assert {"approve", "input", "sleep", "choose"} <= set(kinds.names())
    assert kinds.get("approve").signal_kind is SignalKind.APPROVE
    assert SignalKind("choose").value == "choose" and SignalKind("choose") is SignalKind("choose")
    with pytest.raises(ValueError):
        SignalKind("nonesuch")


def test_test_only_kind_end_to_end():
    from gatewidgets import notify
    from gatewidgets.widgets import GateWidget
    from gatewidgets.widgets.dag import dag_svg

    wf = _wf()
    gate = next(n for n in wf.nodes.values() if n.is_gate)
    assert gate.kind == "choose" and kinds.of(gate).name == "choose"
    assert next(n for n in wf.nodes.values() if not n.is_gate).kind is NodeKind.TASK
    svg = dag_svg(wf.nodes, {}, wf.order)
    assert 'rx="2"' in svg and 'stroke-dasharray="6 3"' in svg

    ex = wf.launch()
    signal = _pending(ex, "flavour")
    assert signal.kind.value == "choose"
    body = notify.Notification("waiting", signal).to_json()
    assert "waiting for a choice" in body["text"]
    # the webhook lists the kind's answers, each with the path that gives it; its signal JSON is the API's
    assert [(a["label"], a["value"], a["action"]) for a in body["answers"]] == [
        ("Choose vanilla", "vanilla", "set"), ("Choose chocolate", "chocolate", "set")]
    assert {a["path"] for a in body["answers"]} == {body["actions"]["set"]} and set(body["actions"]) == {"set"}
    assert body["signal"] == wire.signal_to_json(signal)
    # the card draws the same answers: one button each, no form
    card = GateWidget(signal)
    assert [b.description for b in card.controls.children[-1].children] == ["Choose vanilla", "Choose chocolate"]
    assert card.control is None and card.comment is None
    card.buttons["Choose chocolate"].click()
    assert ex.wait(timeout=10) == "a chocolate ice cream"
    assert card.state is SignalState.SET and card.buttons["Choose vanilla"].disabled
    done = GateRemote.for_sandbox().get_signal("flavour", ex.name)
    assert kinds.of(done).value_text(done) == "chose chocolate"


def test_test_only_kind_answered_through_remote_and_refuses_other_values():
    ex = _wf().launch()
    _pending(ex, "flavour")
    remote = GateRemote.for_sandbox()
    with pytest.raises(GateError):
        remote.set_input("flavour", ex.name, "strawberry")
    remote.set_input("flavour", ex.name, "vanilla")
    assert ex.wait(timeout=10) == "a vanilla ice cream"


def test_test_only_kind_timeout_picks_the_first_option():
    @workflow
    def quick() -> str:
        return serve(flavour=choose("flavour", ("vanilla", "chocolate"), timeout=0.2))

    ex = quick.launch()
    assert ex.wait(timeout=10) == "a vanilla ice cream"
    assert GateRemote.for_sandbox().get_signal("flavour", ex.name).state is SignalState.TIMED_OUT


def test_unregistered_kind_is_refused_everywhere():
    from ipywidgets.widgets.widget import _instances as widget_instances

    from gatewidgets.widgets import GateWidget
    from gatewidgets.widgets.dag import dag_svg

    assert issubclass(UnknownGateKindError, GateError)
    # the DSL: a spec or a gate node of an unknown kind
    with pytest.raises(UnknownGateKindError, match="nonesuch"):
        SignalSpec("x", "nonesuch", GateType.of(int))  # type: ignore[arg-type]
    with pytest.raises(UnknownGateKindError):
        Node(id="n1", kind="nonesuch", name="x")
    # the executor: a gate node whose kind was unregistered after the workflow was defined
    kinds.register(ChooseKind())
    wf = _wf()
    ex = wf.launch()
    signal = _pending(ex, "flavour")
    kinds.unregister("choose")
    try:
        with pytest.raises(UnknownGateKindError):  # the remote will not answer it
            GateRemote.for_sandbox().set_input("flavour", ex.name, "vanilla")
        node = next(n for n in wf.nodes.values() if n.is_gate)
        ex.deadline(node)  # the engine will not time it out (nor resolve it to None)
        with pytest.raises(UnknownGateKindError):
            ex.wait(timeout=10)
        # the card and the DAG
        opened = set(widget_instances)
        with pytest.raises(UnknownGateKindError):
            GateWidget(signal)
        # the half-built card stays registered by ipywidgets, whose __del__ closes it (at exit): that is quiet
        [half_built] = [v for k, v in widget_instances.items() if k not in opened and isinstance(v, GateWidget)]
        half_built.close()
        with pytest.raises(UnknownGateKindError):
            dag_svg({"n1": types.SimpleNamespace(kind="nonesuch", name="x", upstream=set())}, {})
        with pytest.raises(UnknownGateKindError):
            kinds.get("nonesuch")
    finally:
        kinds.register(ChooseKind())


def test_registering_a_kind_names_it_in_models_and_via_is_open_the_same_way():
    from gatewidgets.models.signal import Via, kind_named, register_name, unregister_name

    class Poll(ChooseKind):
        name = "poll"

    with pytest.raises(ValueError):
        SignalKind("poll")
    with pytest.raises(UnknownGateKindError, match="poll"):
        kind_named("poll")
    kinds.register(Poll())
    try:
        assert SignalKind("poll").value == "poll" and kind_named("poll") is SignalKind("poll")
    finally:
        kinds.unregister("poll")
    with pytest.raises(UnknownGateKindError):  # known as a member, but no longer registered
        kind_named("poll")
    # a new face: its Via is registered, not edited into models; an unknown face is refused
    with pytest.raises(ValueError):
        Via("pager")
    register_name(Via, "pager")
    try:
        assert Via("pager").value == "pager" and str(Via("pager")) == "pager" and Via("widget") is Via.WIDGET
        remote = GateRemote.for_sandbox().with_face("pager")
        assert remote.via is Via("pager")
    finally:
        unregister_name(Via, "pager")
    for bad in ("", " pager", None):
        with pytest.raises(ValueError):
            register_name(Via, bad)  # type: ignore[arg-type]


def test_built_in_answers_are_data_and_the_webhook_paths_come_from_them():
    from gatewidgets import notify
    from gatewidgets.kinds import Answer, AnswerField

    @task
    def amount() -> int:
        return 7

    @workflow
    def checked() -> int:
        return approve(amount(), "ok", timeout=60, editable=True)

    ex = checked.launch()
    signal = _pending(ex, "ok")
    approve_answers = kinds.of(signal).answers(signal)
    assert [(a.label, a.style, a.value, a.comment, a.action) for a in approve_answers] == [
        ("Approve", "success", True, True, "approve"), ("Reject", "danger", False, True, "reject")]
    assert approve_answers[0].field == AnswerField({"type": "integer"}, 7) and approve_answers[1].field is None
    body = notify.Notification("waiting", signal).to_json()
    assert body["actions"] == {"set": body["actions"]["set"], "approve": body["actions"]["set"] + "/approve",
                               "reject": body["actions"]["set"] + "/reject"}
    assert [a["path"] for a in body["answers"]] == [body["actions"]["approve"], body["actions"]["reject"]]
    assert body["answers"][0]["field"] == {"schema": {"type": "integer"}, "files": False, "default": 7}
    GateRemote.for_sandbox().approve("ok", ex.name)
    assert ex.wait(timeout=10) == 7
    assert kinds.get("sleep").answers(signal) == [Answer("End now", "warning", action="end")]
    with pytest.raises(ValueError, match="action"):
        Answer("Shout", action="shout")


def test_kinds_and_the_graph_import_nothing_above_the_core():
    """Counting imports inside functions: kinds, the graph, models and types reach no DSL decorator, engine,
    store, remote, observer or face (on main, kinds reached the executor, the widgets and notify)."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("gatewidgets")
    above = ["gatewidgets.dsl", "gatewidgets.engine", "gatewidgets.store", "gatewidgets.remote",
             "gatewidgets.widgets", "gatewidgets.notify", "gatewidgets.answers",
             "gatewidgets.server", "gatewidgets.commands", "gatewidgets.frontdoors"]
    chains = [chain for low in ("gatewidgets.kinds", "gatewidgets.graph", "gatewidgets.models", "gatewidgets.types",
                                "gatewidgets.wire", "gatewidgets.evidence")
              for high in above if high in graph.modules
              for chain in graph.find_shortest_chains(importer=low, imported=high, as_packages=True)]
    assert chains == []
    assert not graph.find_shortest_chains(importer="gatewidgets.graph", imported="gatewidgets.kinds", as_packages=True)
    assert not graph.find_shortest_chains(importer="gatewidgets.models", imported="gatewidgets.kinds", as_packages=True)
