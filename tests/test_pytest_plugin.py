"""The pytest plugin (``gatewidgets.testing.pytest_plugin``, entry point ``pytest11``): ``--gate-answers`` and
the ``gate_answers`` fixture in plain pytest runs (pytester), and nothing at all unless asked."""
from __future__ import annotations

import importlib.metadata
import os
import re
import sys
from pathlib import Path

import pytest

from gatewidgets.config import ANSWERS_ENV

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

pytest_plugins = ["pytester"]

PLUGIN = "gatewidgets.testing.pytest_plugin"
ROOT = Path(__file__).resolve().parent.parent

WORKFLOWS = '''
from datetime import timedelta
from gatewidgets import GateRejectedError, UnansweredGateError, approve, task, wait_for_input, workflow

@task
def double(v: int) -> int:
    return v * 2

@task
def times(v: int, rate: float) -> float:
    return v * rate

@workflow
def expense_wf(a: int) -> float:
    ok = approve(double(v=a), "approve-expense", timeout=timedelta(days=1), description="Pay?")
    return times(v=ok, rate=wait_for_input("rate", timeout=None, expected_type=float))
'''


@pytest.fixture(autouse=True)
def _no_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ANSWERS_ENV, raising=False)


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # the entry point loads the plugin where gatewidgets is installed from this tree; `-p` by the same name
    # loads it once either way
    return pytester.runpytest("-p", PLUGIN, "-p", "no:cacheprovider", *args)


def test_the_fixture_answers_and_records_what_was_asked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_wf=WORKFLOWS + '''
def test_expense(gate_answers):
    gate_answers.update({"approve-expense": True, "rate": "1.5"})
    assert expense_wf(a=3) == 9.0
    asked = {a.signal_id: a for a in gate_answers.asked}
    assert sorted(asked) == ["approve-expense", "rate"]
    assert asked["approve-expense"].evidence == "6" and asked["approve-expense"].description == "Pay?"
    assert asked["rate"].answer == "1.5 (by answering() via test)"

def test_rejected(gate_answers):
    gate_answers.update({"rate": 1.0})
    gate_answers.add("approve-*", approve=False, comment="too much")
    try:
        expense_wf(a=3)
    except GateRejectedError as exc:
        assert "too much" in str(exc)
    else:
        raise AssertionError("not rejected")
''')
    _run(pytester).assert_outcomes(passed=2)


def test_gate_answers_file_answers_the_fixture_and_the_process(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", answers='[[answer]]\nsignal = "approve-*"\napprove = true\n\n'
                                       '[[answer]]\nsignal = "rate"\nvalue = 2\n')
    pytester.makepyfile(test_wf=WORKFLOWS + '''
import os
from gatewidgets.answers import active

def test_from_the_environment():
    assert os.environ["GATEWIDGETS_ANSWERS"].endswith("answers.toml")  # what kernels started now inherit
    assert expense_wf(a=1) == 4.0
    assert [a.signal_id for a in active().asked][-2:] in (["approve-expense", "rate"], ["rate", "approve-expense"])

def test_fixture_adds_to_the_file(gate_answers):
    gate_answers.update({"rate": 0.5})
    assert expense_wf(a=2) == 2.0
''')
    result = _run(pytester, "--gate-answers", "answers.toml")
    result.assert_outcomes(passed=2)
    assert ANSWERS_ENV not in os.environ  # put back as it was after the run


def test_an_unanswered_gate_fails_the_test_at_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_wf=WORKFLOWS + '''
def test_forgot_the_rate(gate_answers):
    gate_answers.update({"approve-expense": True})
    expense_wf(a=3)
''')
    result = _run(pytester, "--timeout", "120")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*UnansweredGateError: Gate 'rate' of execution * (workflow 'expense_wf') is not "
                                 "answered by the answering(): no entry matches it*"])
    assert float(re.search(r"in ([\d.]+)s", result.stdout.str()).group(1)) < 60  # type: ignore[union-attr]


def test_a_broken_answers_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", answers='[[answer]]\nsignal = "rate"\nvalue = 1\nfile = "x"\n')
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = _run(pytester, "--gate-answers", "answers.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "answers.toml is not valid:\n  line 1 ([[answer]] #1): Value error, give exactly one of approve, value, " \
           "file, end (got value, file)" in result.stderr.str()


def test_without_the_option_or_the_fixture_nothing_changes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_wf=WORKFLOWS + '''
import os
from gatewidgets.answers import active

def test_gates_wait():
    assert "GATEWIDGETS_ANSWERS" not in os.environ and active() is None
    ex = expense_wf.launch(a=1)
    assert ex.reached("approve-expense").wait(timeout=30).state.value == "PENDING"
    ex.abort()
''')
    _run(pytester).assert_outcomes(passed=1)
    _run(pytester, "--help").stdout.fnmatch_lines(["*--gate-answers=FILE*"])


def test_the_entry_point_registers_the_plugin(pytester: pytest.Pytester) -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]
    assert declared == {PLUGIN: PLUGIN}
    installed = [ep for ep in importlib.metadata.entry_points(group="pytest11") if ep.value == PLUGIN]
    if not installed:
        pytest.skip("gatewidgets is installed from a tree without the entry point: pip install -e . again")
    result = pytester.runpytest_subprocess("--help")  # no -p: found through the entry point
    result.stdout.fnmatch_lines(["*--gate-answers=FILE*"])
