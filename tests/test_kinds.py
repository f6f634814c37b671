"""Gate kinds registry: a test-only kind (``choose``) works end to end from one module plus one
registration line; an unregistered kind is refused by the DSL, executor, card and DAG."""
from __future__ import annotations

import types

import pytest
from _choose_kind import ChooseKind, choose
from helpers import eventually

from gatewidgets import GateRemote, SignalState, kinds, task, workflow
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
    assert gate.kind == "choose" and gate.gate_kind.name == "choose"
    assert next(n for n in wf.nodes.values() if not n.is_gate).kind is NodeKind.TASK
    svg = dag_svg(wf.nodes, {}, wf.order)
    assert 'rx="2"' in svg and 'stroke-dasharray="6 3"' in svg

    ex = wf.launch()
    signal = _pending(ex, "flavour")
    assert signal.kind.value == "choose"
    assert "waiting for a choice" in notify.Notification("waiting", signal).to_json()["text"]
    card = GateWidget(signal)
    assert list(card.choice.options) == ["vanilla", "chocolate"]
    card.choice.value = "chocolate"
    card.buttons["Choose"].click()
    assert ex.wait(timeout=10) == "a chocolate ice cream"
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
        ex._guarded(ex._deadline, node)  # the executor will not time it out (nor resolve it to None)
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
