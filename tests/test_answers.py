"""Answers from a file (``GATEWIDGETS_ANSWERS``, ``c.GateWidgets.answers``) and from code (``answering``):
every gate kind answered through GateRemote with ``via="test"``, unanswered gates failing at once, broken
files named by line and field, and what was asked kept with its evidence."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from _choose_kind import ChooseKind, choose

from gatewidgets import (
    AnswersFileError,
    ExecutionStatus,
    GateFile,
    GateRejectedError,
    GateRemote,
    NodeState,
    SignalState,
    UnansweredGateError,
    approve,
    kinds,
    sleep,
    task,
    wait_for_input,
    workflow,
)
from gatewidgets.answers import Answers, active, answer_reached, answering
from gatewidgets.config import ANSWERS_ENV, GateWidgets
from gatewidgets.engine import events
from gatewidgets.models.signal import Via
from gatewidgets.settings import settings


@dataclass
class Expense:
    total: float
    lines: dict[str, float]


@task
def calculate_expense(v: int) -> Expense:
    return Expense(total=v * 2.0, lines={"train": v * 1.5, "coffee": v * 0.5})


@task
def pay(expense: Expense, rate: float, receipt: GateFile) -> str:
    with open(receipt) as f:
        return f"paid {expense.total * rate:.2f} with {receipt.name}: {f.read().strip()}"


@workflow
def expense_wf(a: int) -> str:
    ok = approve(calculate_expense(v=a), "approve-expense", timeout=timedelta(days=1), editable=True,
                 description="Pay this expense?")
    rate = wait_for_input("rate", timeout=timedelta(hours=1), expected_type=float)
    receipt = wait_for_input("receipt", timeout=None, expected_type=GateFile)
    pause = sleep(timedelta(hours=1), name="cool-off")
    p = pay(expense=ok, rate=rate, receipt=receipt)
    pause >> p
    return p


@workflow
def refund_wf(a: int) -> Expense:
    return approve(calculate_expense(v=a), "approve-refund", timeout=None)


@workflow
def rate_wf() -> float:
    return wait_for_input("rate", timeout=None, expected_type=float)


FULL = """
[[answer]]
signal = "approve-expense"
approve = true
comment = "rounded up to the receipt"
edited = { total = 7.0, lines = { train = 4.5, coffee = 2.5 } }

[[answer]]
signal = "rate"
value = "1.5"

[[answer]]
signal = "receipt"
file = "fixtures/receipt.txt"

[[answer]]
signal = "cool-*"
end = true
"""


@pytest.fixture(autouse=True)
def _no_answers(monkeypatch: pytest.MonkeyPatch):
    """No answers file from the environment or the settings unless a test sets one."""
    monkeypatch.delenv(ANSWERS_ENV, raising=False)
    saved = settings.answers
    yield
    settings.answers = saved


def _answers_file(folder: Path, text: str) -> Path:
    (folder / "fixtures").mkdir(exist_ok=True)
    (folder / "fixtures" / "receipt.txt").write_text("Taxi, 7.00 EUR\n")
    path = folder / "answers.toml"
    path.write_text(text)
    return path


def test_a_file_answers_every_gate_kind_through_the_remote(tmp_path, monkeypatch):
    path = _answers_file(tmp_path, FULL)
    monkeypatch.chdir(tmp_path / "fixtures")  # files are found beside the answers file, not in the cwd
    monkeypatch.setenv(ANSWERS_ENV, str(path))
    ex = expense_wf.launch(a=3, execution_name="exp-file")
    assert ex.wait(timeout=30) == "paid 10.50 with receipt.txt: Taxi, 7.00 EUR"  # the edited 7.0 x 1.5

    signals = {s.signal_id: s for s in ex.signals()}
    assert {(s.state, s.set_by, s.via) for s in signals.values()} == {(SignalState.SET, "answers.toml", Via.TEST)}
    assert signals["approve-expense"].comment == "rounded up to the receipt"
    assert signals["approve-expense"].approved_value == {"total": 7.0, "lines": {"train": 4.5, "coffee": 2.5}}
    assert signals["rate"].value == 1.5
    assert signals["receipt"].value.name == "receipt.txt"
    sets = [e for e in ex.history() if e.kind == "set"]
    assert sorted(e.signal_id for e in sets) == ["approve-expense", "cool-off", "rate", "receipt"]
    assert {(e.set_by, e.via) for e in sets} == {("answers.toml", "test")}

    asked = {a.signal_id: a for a in active().asked}  # type: ignore[union-attr]
    assert asked["approve-expense"].evidence is not None and "total=6.0" in asked["approve-expense"].evidence
    assert asked["approve-expense"].description == "Pay this expense?"
    assert asked["approve-expense"].answer.startswith("approved, changed to")
    assert asked["cool-off"].kind == "sleep" and asked["cool-off"].answer.startswith("ended early")
    assert "evidence:" in str(asked["approve-expense"]) and "answers.toml via test" in repr(active())


def test_a_rejection_with_its_reason_matched_by_workflow_and_execution(tmp_path, monkeypatch):
    path = _answers_file(tmp_path, """
[[answer]]
signal = "approve-*"
workflow = "refund_*"
execution = "refund-big-*"
approve = false
comment = "over budget"

[[answer]]
signal = "approve-*"
approve = true
""")
    monkeypatch.setenv(ANSWERS_ENV, str(path))
    with pytest.raises(GateRejectedError, match="over budget") as err:
        refund_wf.launch(a=5, execution_name="refund-big-1").wait(timeout=30)
    assert "answers.toml via test" in str(err.value)
    small = refund_wf.launch(a=1, execution_name="refund-small-1")
    assert small.wait(timeout=30) == Expense(total=2.0, lines={"train": 1.5, "coffee": 0.5})  # the second entry


def test_an_unanswered_gate_fails_at_once_naming_gate_execution_and_file(tmp_path, monkeypatch):
    path = _answers_file(tmp_path, '[[answer]]\nsignal = "approve-*"\napprove = true\n')
    monkeypatch.setenv(ANSWERS_ENV, str(path))
    started = time.monotonic()
    ex = expense_wf.launch(a=3, execution_name="exp-unanswered")
    with pytest.raises(UnansweredGateError) as err:
        ex.wait(timeout=30)
    assert time.monotonic() - started < 10
    message = str(err.value)
    assert "'exp-unanswered'" in message and str(path) in message and "unanswered = \"wait\"" in message
    assert "'rate'" in message or "'receipt'" in message or "'cool-off'" in message
    assert ex.status is ExecutionStatus.FAILED
    assert any(s is NodeState.FAILED for s in ex.nodes_by_name.values())
    unanswered = [s for s in ex.signals() if s.signal_id in message.split(" of execution")[0]]
    assert [s.state for s in unanswered] == [SignalState.CANCELLED]  # nothing set it


def test_unanswered_wait_lets_the_gate_wait_for_a_person(tmp_path, monkeypatch):
    path = _answers_file(tmp_path, 'unanswered = "wait"\n')
    monkeypatch.setenv(ANSWERS_ENV, str(path))
    ex = rate_wf.launch(execution_name="rate-wait")
    signal = ex.reached("rate").wait(timeout=30)
    assert signal.state is SignalState.PENDING and not ex.done()
    assert [(a.signal_id, a.answer) for a in active().asked] == [("rate", None)]  # type: ignore[union-attr]
    GateRemote.for_sandbox().set_input("rate", "rate-wait", 2.5)
    assert ex.wait(timeout=30) == 2.5


def test_the_setting_names_the_file_and_config_says_where_it_came_from(tmp_path, monkeypatch):
    from_env = _answers_file(tmp_path, 'unanswered = "wait"\n')
    monkeypatch.setenv(ANSWERS_ENV, str(from_env))
    config = GateWidgets()
    assert config.source("answers") == f"${ANSWERS_ENV}"
    shown = subprocess.run([sys.executable, "-m", "gatewidgets", "config", "--json"], capture_output=True, text=True,
                           timeout=60, check=True)
    assert json.loads(shown.stdout)["answers"] == {"value": str(from_env), "source": f"${ANSWERS_ENV}"}
    (tmp_path / "set").mkdir()
    from_setting = _answers_file(tmp_path / "set", '[[answer]]\nsignal = "rate"\nvalue = 4\n')
    settings.answers = str(from_setting)  # the setting wins over the environment
    assert rate_wf.launch(execution_name="rate-setting").wait(timeout=30) == 4.0
    assert GateRemote.for_sandbox().get_signal("rate", "rate-setting").set_by == "answers.toml"
    assert active().source == f"answers file {from_setting}"  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "expected"), [
    ('[[answer]]\nsignal = "rate"\nvalue = \n', r"not valid TOML: .*line 3"),
    ('unanswered = "fail"\n\n[[answer]]\nsignal = "a"\napprove = true\n\n[[answer]]\nsignal = "rate"\n'
     'vaule = "1.5"\n', r"line 9 \(\[\[answer\]\] #2\), field 'vaule': Extra inputs"),
    ('[[answer]]\nsignal = "rate"\nvalue = 1\nfile = "x"\n', r"line 1 \(\[\[answer\]\] #1\): .*exactly one of"),
    ('[[answer]]\nsignal = "x"\napprove = false\nedited = 3\n', r"'edited' goes with approve = true"),
    ('unanswered = "sometimes"\n', r"field 'unanswered': Input should be 'fail' or 'wait'"),
])
def test_a_broken_file_is_named_by_line_and_field(tmp_path, text, expected):
    path = _answers_file(tmp_path, text)
    with pytest.raises(AnswersFileError, match=expected) as err:
        Answers.from_file(path)
    assert str(path) in str(err.value)


def test_a_broken_file_fails_the_gate_and_sets_nothing(tmp_path, monkeypatch):
    path = _answers_file(tmp_path, '[[answer]]\nsignal = "rate"\nvalue = "1.5"\nwhy = 1\n')
    monkeypatch.setenv(ANSWERS_ENV, str(path))
    ex = rate_wf.launch(execution_name="rate-broken")
    with pytest.raises(AnswersFileError, match="field 'why'"):
        ex.wait(timeout=30)
    assert GateRemote.for_sandbox().get_signal("rate", "rate-broken").state is SignalState.CANCELLED


def test_a_value_that_does_not_fit_fails_naming_the_entry_and_sets_nothing(tmp_path, monkeypatch):
    path = _answers_file(tmp_path, '[[answer]]\nsignal = "rate"\nvalue = "fast"\n')
    monkeypatch.setenv(ANSWERS_ENV, str(path))
    ex = rate_wf.launch(execution_name="rate-bad")
    with pytest.raises(AnswersFileError, match=r"cannot answer gate 'rate' .* with .*value = 'fast'") as err:
        ex.wait(timeout=30)
    assert "float" in str(err.value)
    signal = GateRemote.for_sandbox().get_signal("rate", "rate-bad")
    assert (signal.state, signal.set_by) == (SignalState.CANCELLED, None)


def test_answering_in_code_answers_within_the_block_only(tmp_path):
    with answering({"approve-expense": True, "rate": 1.5, "cool-off": True,
                    "receipt": GateFile(_answers_file(tmp_path, "").parent / "fixtures" / "receipt.txt")}) as answers:
        assert expense_wf(a=3) == "paid 9.00 with receipt.txt: Taxi, 7.00 EUR"
    assert sorted(a.signal_id for a in answers.asked) == ["approve-expense", "cool-off", "rate", "receipt"]
    assert {a.entry.signal for a in answers.asked if a.entry} == {"approve-expense", "rate", "cool-off", "receipt"}
    assert active() is None
    ex = rate_wf.launch(execution_name="rate-after")  # no answers in force: the gate waits for a person
    assert ex.reached("rate").wait(timeout=30).state is SignalState.PENDING
    with pytest.raises(TimeoutError):  # an answer would end it at once
        ex.wait(timeout=0.5)
    ex.abort()


def test_answering_entries_reject_with_a_reason_and_the_innermost_block_wins():
    with answering([{"signal": "approve-*", "approve": True}]):
        with answering([{"signal": "approve-refund", "approve": False, "comment": "no receipt"}]) as inner:
            with pytest.raises(GateRejectedError, match="no receipt"):
                refund_wf(a=1)
        assert refund_wf(a=2) == Expense(total=4.0, lines={"train": 3.0, "coffee": 1.0})
    assert inner.asked[0].answer == "rejected (by answering() via test): no receipt"


def test_what_was_asked_is_recorded_before_the_execution_ends():
    async def rejected(n: int) -> list[str | None]:
        with answering({"approve-refund": False}) as answers:
            with pytest.raises(GateRejectedError):
                await refund_wf.launch(a=n)
            return [a.answer for a in answers.asked]  # the awaiting loop wakes as the answer lands

    for n in range(20):
        assert asyncio.run(rejected(n)) == ["rejected (by answering() via test)"]


def test_a_registered_kind_is_answered_by_text():
    kinds.register(ChooseKind())
    try:
        @workflow
        def pick() -> str:
            return choose("colour", ("red", "green"), timeout=None)

        with answering({"colour": "green"}) as answers:
            assert pick() == "green"
        assert answers.asked[0].kind == "choose"
    finally:
        kinds.unregister("choose")


def test_entries_in_code_are_checked_as_the_file_is():
    with pytest.raises(AnswersFileError, match="exactly one of"):
        answering([{"signal": "x", "approve": True, "value": 1}]).__enter__()
    with pytest.raises(AnswersFileError, match="'comment' goes with a decision"):
        Answers.from_mapping({}).add("x", end=True, comment="why")
    assert active() is None


def test_a_person_who_answers_first_wins_and_is_what_was_asked():
    def person(execution, signal):  # answers between the gate's reach and the answers file
        GateRemote.for_sandbox(user="alice", via="cli").set_input(signal.signal_id, signal.execution_name, 9.0)

    events.gate_reached.unsubscribe(answer_reached)  # the person first, then the answers file
    events.gate_reached.subscribe(person)
    events.gate_reached.subscribe(answer_reached)
    try:
        with answering({"rate": 1.5}) as answers:
            assert rate_wf() == 9.0
    finally:
        events.gate_reached.unsubscribe(person)
    assert [a.answer for a in answers.asked] == ["9.0 (by alice via cli)"]
