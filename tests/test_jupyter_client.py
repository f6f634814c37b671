"""``GateRemote.for_jupyter``: the HTTP client, against a real Jupyter server subprocess."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _jupyter_server import Server

from gatewidgets import GateFile, GateRemote, SignalState
from gatewidgets.errors import ExecutionNotFoundError, SignalAlreadySetError, SignalNotFoundError, SignalTypeError
from gatewidgets.store.jupyter import JupyterStore


def test_url_with_token_in_query() -> None:
    client = GateRemote.for_jupyter("http://127.0.0.1:8888/base/?token=abc")
    assert isinstance(client, GateRemote) and isinstance(client.store, JupyterStore)
    assert client.store.token == "abc" and client.store.base == "http://127.0.0.1:8888/base"


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


def test_client_uploads_files_alone_in_lists_and_in_structures(server: Server, waiting_files: Any,
                                                               tmp_path: Path) -> None:
    name, proc = waiting_files
    client = GateRemote.for_jupyter(server.url, token=server.token)
    paths = []
    for text in ("one", "two", "three"):
        paths.append(tmp_path / f"{text}.txt")
        paths[-1].write_text(text)
    receipt = client.set_input("receipt", name, GateFile(paths[0]))
    assert receipt.value["name"] == "one.txt" and Path(receipt.value["path"]).parent.parent.parent == (
        server.store.parent / "files")
    assert client.set_input("receipts", name, [GateFile(paths[1])]).value[0]["name"] == "two.txt"
    assert client.set_input("claim", name, {"amount": 3.0, "receipt": GateFile(paths[2])}).state is SignalState.SET
    for p in paths:
        p.unlink()  # the server holds copies
    out, _ = proc.communicate(timeout=60)
    assert json.loads(out.strip().splitlines()[-1]) == {"receipt": "one", "receipts": ["two"],
                                                        "claim": [3.0, "three"]}
