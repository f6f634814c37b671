"""Approve with a changed value and a reason, and reject with a reason, over HTTP (a real jupyter_server)."""
from __future__ import annotations

from typing import Any

import pytest
from _jupyter_server import Server, call
from helpers import eventually

from gatewidgets import GateRejectedError, GateRemote, SignalState, approve, task, workflow

SIG = "/gatewidgets/api/signals/default/development"


@task
def amount(a: int) -> int:
    return a * 10


@workflow
def editable_wf(a: int) -> int:
    return approve(amount(a=a), "pay", timeout=None, editable=True)


@workflow
def plain_wf(a: int) -> int:
    return approve(amount(a=a), "pay", timeout=None)


def launched(wf: Any) -> Any:
    ex = wf.launch(a=4)
    eventually(lambda: GateRemote.for_sandbox().get_signal("pay", ex.name).state is SignalState.PENDING,
               timeout=30, what="the gate to wait")
    return ex


def test_approve_with_value_and_comment(server: Server) -> None:
    ex = launched(editable_wf)
    status, data = call(server, "GET", f"/gatewidgets/api/signals?execution={ex.name}")
    [signal] = data["signals"]
    assert signal["evidence"]["text"] == "40" and signal["original"] == 40 and signal["edit_type"]
    for body in ({"value": "45"}, {"value": 45, "extra": 1}, {"comment": 3}):
        status, data = call(server, "POST", f"{SIG}/{ex.name}/pay/approve", body)
        assert status == 400, (body, data)
    assert GateRemote.for_sandbox().get_signal("pay", ex.name).state is SignalState.PENDING
    status, data = call(server, "POST", f"{SIG}/{ex.name}/pay/approve", {"value": 45, "comment": "with tax"})
    assert status == 200 and data["approved_value"] == 45 and data["comment"] == "with tax" and data["via"] == "http"
    assert ex.wait(timeout=30) == 45
    status, data = call(server, "GET", f"/gatewidgets/api/executions/default/development/{ex.name}/history")
    [event] = [e for e in data["events"] if e["event"] == "set"]
    assert event["detail"] == {"original": 40, "approved_value": 45, "comment": "with tax", "identity_source": "server"}


def test_value_on_a_plain_approval_is_400_and_changes_nothing(server: Server) -> None:
    ex = launched(plain_wf)
    status, data = call(server, "POST", f"{SIG}/{ex.name}/pay/approve", {"value": 5})
    assert status == 400 and data["error"] == "SignalTypeError" and "not editable" in data["message"]
    assert GateRemote.for_sandbox().get_signal("pay", ex.name).state is SignalState.PENDING
    assert call(server, "POST", f"{SIG}/{ex.name}/pay/approve", None)[0] == 200  # no body: a plain approval
    assert ex.wait(timeout=30) == 40


def test_reject_with_comment_over_http_and_the_client(server: Server) -> None:
    ex = launched(plain_wf)
    status, _ = call(server, "POST", f"{SIG}/{ex.name}/pay/reject", {"comment": "wrong payee", "value": 1})
    assert status == 400
    client = GateRemote.for_jupyter(server.url, token=server.token)
    signal = client.reject("pay", ex.name, comment="wrong payee")
    assert signal.comment == "wrong payee" and signal.state is SignalState.SET
    with pytest.raises(GateRejectedError, match='Reason: "wrong payee"'):
        ex.wait(timeout=30)


def test_client_approve_with_value(server: Server) -> None:
    ex = launched(editable_wf)
    client = GateRemote.for_jupyter(server.url, token=server.token)
    assert client.approve("pay", ex.name, value=41, comment="ok").approved_value == 41
    assert ex.wait(timeout=30) == 41
