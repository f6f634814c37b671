"""DSL: workflows build a static DAG at definition; misuse raises WorkflowDefinitionError."""
from __future__ import annotations

from datetime import timedelta

import pytest

from gatewidgets import WorkflowDefinitionError, WorkflowFailure, approve, sleep, task, wait_for_input, workflow
from gatewidgets.dsl import Const, Promise, Ref
from gatewidgets.models.signal import SignalKind
from gatewidgets.models.types import SimpleType


@task
def double(v: int) -> int:
    return v * 2


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def nothing(v: int) -> None:
    return None


@task
def split(v: int) -> tuple[int, str]:
    return v, str(v)


@task
def to_float(x: float) -> float:
    return x


def test_workflow_builds_static_dag() -> None:
    @workflow
    def wf(a: int) -> int:
        e = double(v=a)
        ok = approve(e, "ok", timeout=timedelta(hours=1), description="Pay?")
        rate = wait_for_input("rate", timeout=None, expected_type=int, default=3)
        pause = sleep(timedelta(seconds=1))
        total = add(a=ok, b=rate)
        pause >> total
        return total

    assert list(wf.nodes) == ["n0", "n1", "n2", "n3", "n4"]
    kinds = [n.kind for n in wf.nodes.values()]
    assert kinds == ["task", "approve", "input", "sleep", "task"]
    assert wf.nodes["n1"].upstream == {"n0"}
    assert wf.nodes["n4"].upstream == {"n1", "n2", "n3"}
    assert list(wf.signals) == ["ok", "rate", "sleep-n3"]
    ok = wf.signals["ok"]
    assert ok.kind is SignalKind.APPROVE and ok.timeout == timedelta(hours=1) and ok.description == "Pay?"
    assert ok.gate_type.literal_type.simple is SimpleType.BOOLEAN and not ok.has_default
    rate = wf.signals["rate"]
    assert rate.has_default and rate.default == 3 and rate.timeout is None
    assert wf.signals["sleep-n3"].kind is SignalKind.SLEEP
    assert wf.nodes["n3"].is_gate and not wf.nodes["n0"].is_gate
    order = wf.order
    for nid, node in wf.nodes.items():
        assert all(order.index(up) < order.index(nid) for up in node.upstream)
    assert wf.input_hints == {"a": int}
    assert wf.nodes["n4"].bindings == {"a": Ref(node_id="n1"), "b": Ref(node_id="n2")}
    assert wf.nodes["n0"].bindings == {"v": Ref(input_name="a")}


def test_named_sleep_and_seconds() -> None:
    @workflow
    def wf() -> None:
        sleep(0.5, name="nap")

    spec = wf.signals["nap"]
    assert spec.timeout == timedelta(seconds=0.5) and spec.kind is SignalKind.SLEEP


def test_promises_repr_and_bool() -> None:
    captured: list[Promise] = []

    @workflow
    def wf(a: int) -> int:
        captured.append(a)
        d = double(v=a)
        captured.append(d)
        with pytest.raises(WorkflowDefinitionError, match="cannot be used in"):
            if d:
                pass
        return d

    assert "workflow input 'a'" in repr(captured[0])
    assert "n0 double" in repr(captured[1])
    assert wf.outputs == Ref(node_id="n0")


def test_tuple_outputs_unpack() -> None:
    @workflow
    def wf(a: int) -> tuple[int, str]:
        n, s = split(v=a)
        d = double(v=n)
        return d, s

    assert wf.nodes["n1"].bindings == {"v": Ref(node_id="n0", index=0)}
    assert wf.outputs == (Ref(node_id="n1"), Ref(node_id="n0", index=1))
    assert wf(a=4) == (8, "4")


def test_unpacking_single_output_fails() -> None:
    with pytest.raises(WorkflowDefinitionError, match="not a tuple"):
        @workflow
        def wf(a: int) -> int:
            x, y = double(v=a)
            return x


def test_constants_bound() -> None:
    @workflow
    def wf() -> int:
        return add(a=1, b=2)

    assert wf.nodes["n0"].bindings == {"a": Const(1), "b": Const(2)}
    assert wf() == 3


def test_constant_of_wrong_type() -> None:
    with pytest.raises(WorkflowDefinitionError, match="constant for input 'a'"):
        @workflow
        def wf() -> int:
            return add(a="1", b=2)


def test_int_promise_to_float_input_ok_but_str_refused() -> None:
    @workflow
    def ok(a: int) -> float:
        return to_float(x=a)

    assert ok(a=2) == 2

    with pytest.raises(WorkflowDefinitionError, match="expects"):
        @workflow
        def bad(a: str) -> int:
            return double(v=a)


def test_subworkflow_inlined() -> None:
    @workflow
    def inner(x: int) -> int:
        d = double(v=x)
        return approve(d, "inner-ok", timeout=None)

    @workflow
    def outer(a: int) -> int:
        y = inner(x=a)
        return add(a=y, b=1)

    assert [n.kind for n in outer.nodes.values()] == ["task", "approve", "task"]
    assert list(outer.signals) == ["inner-ok"]
    assert outer.nodes["n2"].upstream == {"n1"}


def test_rshift_chains_and_trivial_workflows() -> None:
    @workflow
    def chain() -> int:
        a, b, c = double(v=1), double(v=2), double(v=3)
        c >> b >> a
        return a

    assert chain.nodes["n0"].upstream == {"n1"} and chain.nodes["n1"].upstream == {"n2"}
    assert chain.order == ["n2", "n1", "n0"]

    @workflow
    def identity(a: int) -> int:
        return a

    @workflow
    def constant() -> int:
        return 5

    assert identity.nodes == {} and identity(a=3) == 3
    assert constant() == 5


def test_task_outside_workflow_just_runs() -> None:
    assert double(v=21) == 42
    assert double(5) == 10


# ------------------------------------------------------------------------- errors


def test_approve_task_without_output() -> None:
    with pytest.raises(WorkflowDefinitionError, match="returns nothing"):
        @workflow
        def wf(a: int) -> None:
            n = nothing(v=a)
            approve(n, "ok", timeout=None)


def test_approve_requires_promise() -> None:
    with pytest.raises(WorkflowDefinitionError, match="first argument"):
        @workflow
        def wf() -> None:
            approve(3, "ok", timeout=None)


def test_task_without_param_hint() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"no type hints.*Annotate"):
        @task
        def f(x) -> int:  # type: ignore[no-untyped-def]
            return x


def test_task_without_return_hint() -> None:
    with pytest.raises(WorkflowDefinitionError, match="no return annotation"):
        @task
        def f(x: int):  # type: ignore[no-untyped-def]
            return x


def test_workflow_without_hints() -> None:
    with pytest.raises(WorkflowDefinitionError, match="no type hints"):
        @workflow
        def wf(a):  # type: ignore[no-untyped-def]
            return None


def test_unknown_keyword_input() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"unknown inputs \['w'\]; it takes \['v'\]"):
        @workflow
        def wf(a: int) -> int:
            return double(v=a, w=a)


def test_missing_keyword_input() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"missing inputs \['b'\]"):
        @workflow
        def wf(a: int) -> int:
            return add(a=a)


def test_positional_args_in_workflow() -> None:
    with pytest.raises(WorkflowDefinitionError, match="keyword arguments only"):
        @workflow
        def wf(a: int) -> int:
            return double(a)


def test_gates_sharing_signal_with_different_types() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"share the signal id 'x'.*another name"):
        @workflow
        def wf() -> None:
            wait_for_input("x", timeout=None, expected_type=int)
            wait_for_input("x", timeout=None, expected_type=str)


def test_approve_and_input_sharing_signal_refused() -> None:
    with pytest.raises(WorkflowDefinitionError, match="share the signal id"):
        @workflow
        def wf(a: int) -> int:
            approve(double(v=a), "x", timeout=None)
            return wait_for_input("x", timeout=None, expected_type=bool)


def test_gates_sharing_signal_same_type_share_one_signal() -> None:
    @workflow
    def wf() -> int:
        a = wait_for_input("x", timeout=None, expected_type=int)
        b = wait_for_input("x", timeout=None, expected_type=int)
        return add(a=a, b=b)

    assert list(wf.signals) == ["x"]
    assert [n.signal.signal_id for n in wf.nodes.values() if n.is_gate] == ["x", "x"]


def test_cycle_with_rshift() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"cycle.*Remove one"):
        @workflow
        def wf(a: int) -> int:
            x = double(v=a)
            y = double(v=x)
            y >> x
            return y


def test_rshift_needs_nodes() -> None:
    with pytest.raises(WorkflowDefinitionError, match="orders two nodes"):
        @workflow
        def wf(a: int) -> int:
            x = double(v=a)
            a >> x
            return x


@pytest.mark.parametrize("name", ["execution_name", "project", "domain", "recover"])
def test_reserved_input_names(name: str) -> None:
    ns: dict = {"int": int}
    exec(f"def wf({name}: int) -> int:\n    return {name}\n", ns)
    with pytest.raises(WorkflowDefinitionError, match=rf"\['{name}'\] clash"):
        workflow(ns["wf"])


def test_bad_on_timeout() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"on_timeout must be one of"):
        @workflow
        def wf(a: int) -> int:
            return approve(double(v=a), "ok", timeout=None, on_timeout="maybe")


def test_bad_default_type() -> None:
    with pytest.raises(WorkflowDefinitionError, match="default does not fit"):
        @workflow
        def wf() -> int:
            return wait_for_input("x", timeout=1, expected_type=int, default="three")


@pytest.mark.parametrize("timeout", ["1h", -1, timedelta(seconds=-1)])
def test_bad_timeout(timeout: object) -> None:
    with pytest.raises(WorkflowDefinitionError, match="timeout must"):
        @workflow
        def wf() -> int:
            return wait_for_input("x", timeout=timeout, expected_type=int)


def test_sleep_needs_duration() -> None:
    with pytest.raises(WorkflowDefinitionError, match="not None"):
        @workflow
        def wf() -> None:
            sleep(None)  # type: ignore[arg-type]


def test_bad_signal_name() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"^workflow wf, node n0 \(wait_for_input\): the signal name"):
        @workflow
        def wf() -> int:
            return wait_for_input("has/slash", timeout=None, expected_type=int)

    @workflow
    def spaced() -> int:  # a space is a name Flyte accepts
        return wait_for_input("has space", timeout=None, expected_type=int)

    assert list(spaced.signals) == ["has space"]


def test_unsupported_expected_type() -> None:
    with pytest.raises(WorkflowDefinitionError, match="wait_for_input"):
        @workflow
        def wf() -> object:
            return wait_for_input("x", timeout=None, expected_type=object)


def test_gates_outside_workflow() -> None:
    with pytest.raises(WorkflowDefinitionError, match="only works inside a @workflow"):
        approve(None, "x", timeout=None)  # type: ignore[arg-type]
    with pytest.raises(WorkflowDefinitionError, match="only works inside a @workflow"):
        wait_for_input("x", timeout=None, expected_type=int)
    with pytest.raises(WorkflowDefinitionError, match="only works inside a @workflow"):
        sleep(1)


def test_failed_definition_leaves_no_builder_behind() -> None:
    with pytest.raises(WorkflowDefinitionError):
        @workflow
        def bad(a: int) -> int:
            return double(a)

    # the builder stack is clean again: a task called now runs directly
    assert double(v=2) == 4
    with pytest.raises(WorkflowDefinitionError, match="only works inside"):
        sleep(1)


def test_launch_input_errors_store_nothing(gatewidgets_store) -> None:
    from gatewidgets import GateRemote

    @workflow
    def wf(a: int) -> int:
        return double(v=a)

    for bad in ({}, {"a": "1"}, {"a": 1, "b": 2}):
        with pytest.raises(TypeError):
            wf.launch(**bad)
    assert GateRemote.for_sandbox().list_executions() == []


def test_on_failure_handler_is_checked_at_definition() -> None:
    @task
    def handler(v: int, err: WorkflowFailure | None = None, note: str = "") -> None:
        return None

    @workflow(on_failure=handler)
    def guarded(v: int, w: int = 1) -> int:
        return double(v=v)

    assert guarded.on_failure is handler

    @task
    def strange(other: int) -> None:
        return None

    with pytest.raises(WorkflowDefinitionError, match="'other' is not an input of the workflow"):
        workflow(on_failure=strange)(guarded.fn)

    @task
    def wrong_type(v: str) -> None:
        return None

    with pytest.raises(WorkflowDefinitionError, match="on_failure wrong_type: input 'v' expects"):
        workflow(on_failure=wrong_type)(guarded.fn)
    with pytest.raises(WorkflowDefinitionError, match="must be a @task"):
        workflow(on_failure=print)(guarded.fn)


def test_task_engine_options_are_checked_and_kept() -> None:
    @task(retries=2, timeout=1.5, cache=True, cache_version="v2")
    def careful(v: int) -> int:
        return v

    assert (careful.retries, careful.timeout, careful.cache, careful.cache_version) == (
        2, timedelta(seconds=1.5), True, "v2")
    assert (double.retries, double.timeout, double.cache, double.cache_version) == (0, None, False, "")

    @task(timeout=timedelta(minutes=1))
    def patient(v: int) -> int:
        return v

    assert patient.timeout == timedelta(minutes=1) and patient(v=4) == 4
    bad = [({"retries": -1}, "retries"), ({"retries": True}, "retries"), ({"retries": 1.0}, "retries"),
           ({"timeout": 0}, "positive"), ({"timeout": -2}, "negative"), ({"timeout": "1s"}, "timeout"),
           ({"timeout": float("inf")}, "finite"), ({"cache": 1}, "cache"), ({"cache_version": 3, "cache": True},
                                                                               "cache_version"),
           ({"cache_version": "v1"}, "needs cache=True")]
    for options, message in bad:
        with pytest.raises(WorkflowDefinitionError, match=message):
            @task(**options)
            def wrong(v: int) -> int:
                return v


def test_gate_builders_are_public_graph_api_and_dsl_reexports_them() -> None:
    import gatewidgets
    from gatewidgets import dsl, graph
    from gatewidgets.kinds import approve as approve_module

    assert dsl.approve is gatewidgets.approve is approve_module.approve
    assert dsl.Node is graph.Node and dsl.SignalSpec is graph.SignalSpec and dsl.Promise is graph.Promise
    with pytest.raises(WorkflowDefinitionError, match="only works inside a @workflow"):
        graph.require_builder("mine")
    with pytest.raises(WorkflowDefinitionError, match="signal name"):
        graph.signal_id("a/b", "mine")
    assert graph.timeout_of(3, "mine") == timedelta(seconds=3) and graph.timeout_of(None, "mine") is None


def test_task_options_have_defaults_for_tasks_that_build_themselves() -> None:
    from gatewidgets.dsl import Task

    class Built(Task):
        def __init__(self) -> None:  # a front door's task sets its own fields, skipping Task.__init__
            self.name = "built"

    built = Built()
    assert (built.retries, built.timeout, built.cache, built.cache_version) == (0, None, False, "")
