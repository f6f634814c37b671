"""conditional(): branches chosen at run time by signal values; untaken branches never run."""
from __future__ import annotations

import threading

import pytest

from gatewidgets import (
    BranchFailedError,
    ExecutionStatus,
    GateRemote,
    NodeState,
    SignalState,
    WorkflowDefinitionError,
    approve,
    conditional,
    task,
    wait_for_input,
    workflow,
)

ran: list[str] = []
lock = threading.Lock()


@pytest.fixture(autouse=True)
def _clear() -> None:
    ran.clear()


def _record(name: str) -> None:
    with lock:
        ran.append(name)


@task
def ship(x: int) -> str:
    _record("ship")
    return f"shipped {x}"


@task
def refund(x: int) -> str:
    _record("refund")
    return f"refunded {x}"


@task
def amount(x: int) -> int:
    return x


@workflow
def by_decision(x: int) -> str:
    go = wait_for_input("go", timeout=None, expected_type=bool, description="Ship it?")
    return (
        conditional("ship-or-refund")
        .if_(go.is_true()).then(ship(x=x))
        .else_().then(refund(x=x))
    )


@workflow
def by_threshold(x: int) -> str:
    a = amount(x=x)
    return (
        conditional("big")
        .if_(a > 100).then(approve(ship(x=a), "cfo", timeout=None))
        .elif_(a < 0).then(refund(x=a))
        .else_().then(ship(x=a))
    )


def _states(ex) -> dict[str, SignalState]:
    return {s.signal_id: s.state for s in ex.signals()}


@pytest.mark.parametrize("answer, expected, not_ran", [(True, "shipped 7", "refund"), (False, "refunded 7", "ship")])
def test_branch_chosen_by_bool_signal(answer: bool, expected: str, not_ran: str) -> None:
    ex = by_decision.launch(x=7)
    GateRemote.for_sandbox().set_input("go", ex.name, answer)
    assert ex.wait(timeout=10) == expected
    assert not_ran not in ran and len(ran) == 1
    skipped = [nid for nid, st in ex.node_states.items() if st is NodeState.SKIPPED]
    assert [ex.nodes[nid].name for nid in skipped] == [not_ran]
    stored = {n.node_id: n.state for n in GateRemote.for_sandbox().get_execution(ex.name).nodes}
    assert stored[skipped[0]] is NodeState.SKIPPED


def test_threshold_big_waits_for_cfo_and_small_cancels_it() -> None:
    remote = GateRemote.for_sandbox()
    big = by_threshold.launch(x=500)
    small = by_threshold.launch(x=5)
    assert small.wait(timeout=10) == "shipped 5"
    assert _states(small) == {"cfo": SignalState.CANCELLED}
    assert "refund" not in ran
    # the big one is waiting for the CFO gate inside the taken branch
    for _ in range(200):
        if _states(big)["cfo"] is SignalState.PENDING:
            break
        threading.Event().wait(0.01)
    assert _states(big) == {"cfo": SignalState.PENDING}
    remote.approve("cfo", big.name)
    assert big.wait(timeout=10) == "shipped 500"


def test_negative_takes_elif() -> None:
    ex = by_threshold.launch(x=-3)
    assert ex.wait(timeout=10) == "refunded -3"
    assert ran == ["refund"]
    assert _states(ex) == {"cfo": SignalState.CANCELLED}


def test_else_fail_fails_execution_with_message() -> None:
    @workflow
    def strict(x: int) -> str:
        a = amount(x=x)
        return conditional("check").if_(a >= 0).then(ship(x=a)).else_().fail("negative amounts are not allowed")

    ex = strict.launch(x=-1)
    with pytest.raises(BranchFailedError, match="negative amounts are not allowed"):
        ex.wait(timeout=10)
    assert ex.status is ExecutionStatus.FAILED
    assert ran == []
    assert strict.launch(x=2).wait(timeout=10) == "shipped 2"


def test_combined_conditions_and_or() -> None:
    @workflow
    def combo(x: int) -> str:
        a = amount(x=x)
        return (
            conditional("combo")
            .if_((a > 10) & (a < 20) | a.is_none()).then(ship(x=x))
            .else_().then(refund(x=x))
        )

    assert combo(x=15) == "shipped 15"
    assert combo(x=25) == "refunded 25"


def test_nested_conditional_with_gate_in_untaken_branch_is_cancelled() -> None:
    @workflow
    def nested(x: int) -> str:
        a = amount(x=x)
        inner = conditional("inner")
        return (
            conditional("outer")
            .if_(a > 0).then(
                inner.if_(a > 10).then(approve(ship(x=a), "big-ok", timeout=None))
                .else_().then(ship(x=a)))
            .else_().then(refund(x=a))
        )

    ex = nested.launch(x=-5)
    assert ex.wait(timeout=10) == "refunded -5"
    assert _states(ex) == {"big-ok": SignalState.CANCELLED}
    assert ran == ["refund"]


def test_condition_on_plain_value_is_refused() -> None:
    with pytest.raises(WorkflowDefinitionError, match="must test a promise"):
        @workflow
        def bad(x: int) -> str:
            return conditional("c").if_(5 > 3).then(ship(x=x)).else_().then(refund(x=x))


def test_missing_then_is_refused() -> None:
    with pytest.raises(WorkflowDefinitionError, match="then"):
        @workflow
        def bad(x: int) -> None:
            a = amount(x=x)
            conditional("c").if_(a > 3)


def test_case_before_then_is_refused() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"\.then"):
        @workflow
        def bad(x: int) -> str:
            a = amount(x=x)
            section = conditional("c")
            section.if_(a > 3)
            return section.else_().then(refund(x=x))


def test_branches_with_different_output_types_are_refused() -> None:
    with pytest.raises(WorkflowDefinitionError, match="different types"):
        @workflow
        def bad(x: int) -> str:
            a = amount(x=x)
            return conditional("c").if_(a > 3).then(ship(x=x)).else_().then(amount(x=x))


def test_using_a_branch_node_outside_its_branch_is_refused() -> None:
    with pytest.raises(WorkflowDefinitionError, match="inside one case"):
        @workflow
        def bad(x: int) -> str:
            a = amount(x=x)
            leaked = []
            conditional("c").if_(a > 3).then(leaked.append(amount(x=x)) or amount(x=x)).else_().then(amount(x=1))
            return ship(x=leaked[0])


def test_promise_in_python_if_is_refused() -> None:
    with pytest.raises(WorkflowDefinitionError, match="conditional"):
        @workflow
        def bad(x: int) -> str:
            a = amount(x=x)
            if a > 3:
                return ship(x=x)
            return refund(x=x)
