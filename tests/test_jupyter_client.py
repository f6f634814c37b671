"""``GateRemote.for_jupyter``: the HTTP client, against a real Jupyter server subprocess."""
from __future__ import annotations

import json
from typing import Any

import pytest
from _jupyter_server import Server, gatewidgets_store, server, waiting  # noqa: F401 (fixtures)

from gatewidgets import GateRemote, SignalState
from gatewidgets.errors import ExecutionNotFoundError, SignalAlreadySetError, SignalNotFoundError, SignalTypeError
from gatewidgets.jupyter_client import JupyterGateRemote


def test_url_with_token_in_query() -> None:
    client = GateRemote.for_jupyter("http://127.0.0.1:8888/base/?token=abc")
    assert isinstance(client, JupyterGateRemote)
    assert client.token == "abc" and client.base == "http://127.0.0.1:8888/base"


def test_for_jupyter_client(server: Server, waiting: Any) -> None:
    name, proc = waiting
    client = GateRemote.for_jupyter(server.url, token=server.token)
    assert [s.signal_id for s in client.list_signals(name)] == ["go", "rate", "note"]
    assert [s.signal_id for s in client.list_signals(filters="eq(state,PENDING)") if s.execution_name == name] == [
        "go", "rate", "note"]
    assert name in [e.name for e in client.list_executions()]
    assert [n.node_id for n in client.get_execution(name).nodes]
    with pytest.raises(SignalTypeError):
        client.set_input("rate", name, "fast")
    with pytest.raises(SignalNotFoundError):
        client.get_signal("nope", name)
    with pytest.raises(ExecutionNotFoundError):
        client.list_signals("no-such-execution")
    assert GateRemote.for_sandbox().get_signal("rate", name).state is SignalState.PENDING
    assert client.approve("go", name).state is SignalState.SET
    with pytest.raises(SignalAlreadySetError):
        client.reject("go", name)
    assert client.set_input("rate", name, 2.5).value == 2.5
    assert client.set_text("note", name, "from the client").via.value == "http"
    out, _ = proc.communicate(timeout=60)
    assert json.loads(out.strip().splitlines()[-1]) == "8|2.5|from the client"
    with pytest.raises(PermissionError):
        GateRemote.for_jupyter(server.url, token="wrong").list_signals(name)
