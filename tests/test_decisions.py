"""Decisions with a value and a reason, through the magic and the command line."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from helpers import eventually
from helpers.shell import gate_shell, run

from gatewidgets import GateRejectedError, GateRemote, SignalState, approve, task, workflow
from gatewidgets.cli import main


@dataclasses.dataclass
class Payment:
    amount: int
    payee: str


@task
def total(a: int) -> int:
    return a * 10


@task
def payment(a: int) -> Payment:
    return Payment(a, "ann")


@workflow
def editable_wf(a: int) -> int:
    return approve(total(a=a), "pay", timeout=None, editable=True, description="Pay it?")


@workflow
def plain_wf(a: int) -> int:
    return approve(total(a=a), "pay", timeout=None)


@workflow
def payment_wf(a: int) -> Payment:
    return approve(payment(a=a), "pay", timeout=None, editable=True)


def pending(ex: Any) -> None:
    eventually(lambda: GateRemote.for_sandbox().get_signal("pay", ex.name).state is SignalState.PENDING,
               timeout=30, what="the gate to wait")


@pytest.fixture
def ip() -> Any:
    with gate_shell() as shell:
        yield shell


def test_magic_approve_with_value_and_comment(ip: Any) -> None:
    ex = editable_wf.launch(a=3)
    pending(ex)
    out = run(ip, f'%gate approve pay -e {ex.name} --value 35 --comment "rounded up"')
    assert out.result.success
    assert "with the value changed to 35" in out.stdout and '("rounded up")' in out.stdout
    assert ex.wait(timeout=10) == 35
    signal = GateRemote.for_sandbox().get_signal("pay", ex.name)
    assert (signal.via.value, signal.comment, signal.original, signal.approved_value) == ("magic", "rounded up", 30, 35)


def test_magic_structured_value(ip: Any) -> None:
    ex = payment_wf.launch(a=3)
    pending(ex)
    assert run(ip, f"""%gate approve pay -e {ex.name} --value '{{"amount": 4, "payee": "bob"}}'""").result.success
    assert ex.wait(timeout=10) == Payment(4, "bob")


def test_magic_bad_value_and_not_editable_change_nothing(ip: Any) -> None:
    ex = editable_wf.launch(a=1)
    pending(ex)
    out = run(ip, f"%gate approve pay -e {ex.name} --value lots")
    assert "SignalTypeError" in out.stderr + out.stdout and "lots" in out.stderr + out.stdout
    assert GateRemote.for_sandbox().get_signal("pay", ex.name).state is SignalState.PENDING
    plain = plain_wf.launch(a=1)
    pending(plain)
    out = run(ip, f"%gate approve pay -e {plain.name} --value 3")
    assert "not editable" in out.stderr + out.stdout
    assert GateRemote.for_sandbox().get_signal("pay", plain.name).state is SignalState.PENDING
    ex.abort()
    plain.abort()


def test_magic_reject_with_comment_reaches_the_error(ip: Any) -> None:
    ex = plain_wf.launch(a=1)
    pending(ex)
    assert run(ip, f'%gate reject pay -e {ex.name} --comment "not this month"').result.success
    with pytest.raises(GateRejectedError, match='Reason: "not this month"'):
        ex.wait(timeout=10)


def test_cli_approve_with_value_comment_json_show_and_history(capsys: pytest.CaptureFixture[str]) -> None:
    ex = editable_wf.launch(a=2)
    pending(ex)
    assert main(["show", ex.name]) == 0
    assert "pay: approving\n20" in capsys.readouterr().out  # the evidence, as text
    assert main(["list", "--json"]) == 0
    [listed] = [s for s in json.loads(capsys.readouterr().out)["signals"] if s["execution"]["name"] == ex.name]
    assert listed["evidence"]["text"] == "20" and listed["edit_type"]["python"] == "int" and listed["original"] == 20
    assert main(["approve", "pay", "-e", ex.name, "--value", "x"]) == 1
    assert "SignalTypeError" in capsys.readouterr().err
    assert main(["approve", "pay", "-e", ex.name, "--value", "25", "-c", "tip included", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["approved_value"], data["comment"], data["via"]) == (25, "tip included", "cli")
    assert ex.wait(timeout=10) == 25
    assert main(["history", ex.name]) == 0
    assert '20 -> 25; "tip included"' in capsys.readouterr().out
    assert main(["history", ex.name, "--json"]) == 0
    [event] = [e for e in json.loads(capsys.readouterr().out) if e["event"] == "set"]
    # how the decider's identity was established is kept too: the CLI's is the OS user's
    assert event["detail"] == {"original": 20, "approved_value": 25, "comment": "tip included",
                               "identity_source": "os"}


def test_cli_reject_with_comment(capsys: pytest.CaptureFixture[str]) -> None:
    ex = plain_wf.launch(a=2)
    pending(ex)
    assert main(["reject", "pay", "-e", ex.name, "--comment", "duplicate"]) == 0
    assert 'Rejected' in capsys.readouterr().out
    with pytest.raises(GateRejectedError, match="duplicate"):
        ex.wait(timeout=10)
