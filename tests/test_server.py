"""The Jupyter server extension, through a real ``jupyter server`` subprocess on 127.0.0.1."""
from __future__ import annotations

import json
import urllib.request
from typing import Any

from _jupyter_server import Server, call
from helpers import eventually
from prometheus_client.parser import text_string_to_metric_families

from gatewidgets import GateRemote, SignalState

SIG = "/gatewidgets/api/signals/default/development"


def test_extension_is_enabled_by_the_installed_config(server: Server) -> None:
    status, data = call(server, "GET", "/gatewidgets/api/executions")
    assert status == 200 and "executions" in data


def test_list_and_set_resume_a_workflow_in_another_process(server: Server, waiting: Any) -> None:
    name, proc = waiting
    status, data = call(server, "GET", f"/gatewidgets/api/signals?execution={name}")
    assert status == 200
    assert [s["signal_id"] for s in data["signals"]] == ["go", "rate", "note"]
    assert data["signals"][0]["state"] == "PENDING" and data["signals"][0]["type"] == str(
        GateRemote.for_sandbox().get_signal("go", name).type)
    status, data = call(server, "GET", f"/gatewidgets/api/signals?execution={name}&state=pending&limit=2")
    assert [s["signal_id"] for s in data["signals"]] == ["go", "rate"] and data["total"] == 3
    status, data = call(server, "GET", f"/gatewidgets/api/signals?execution={name}&state=SET,TIMED_OUT")
    assert data == {"signals": [], "total": 0}
    [listed] = eventually(lambda: [e for e in call(server, "GET", "/gatewidgets/api/executions")[1]["executions"]
                                   if e["name"] == name and "SUCCEEDED" in {n["state"] for n in e["nodes"]}],
                          timeout=30, interval=0.1, what="the node states in the listing")
    assert (listed["orphaned"], listed["pending_signals"]) == (False, 3)
    labels = {n["node_id"]: n["label"] for n in listed["nodes"]}  # what a page shows: the workflow's names
    assert set(labels.values()) >= {"go", "rate", "note"} and not set(labels.values()) & set(labels)

    assert call(server, "POST", f"{SIG}/{name}/go/approve", {})[0] == 200
    status, data = call(server, "GET", f"/gatewidgets/api/signals?execution={name}&state=set")
    assert [(s["signal_id"], s["value"], s["via"]) for s in data["signals"]] == [("go", True, "http")]
    status, data = call(server, "POST", f"{SIG}/{name}/rate", {"value": 1.5})
    assert status == 200 and data["value"] == 1.5 and data["state"] == "SET" and data["via"] == "http"
    status, data = call(server, "POST", f"{SIG}/{name}/note", {"text": "via http"})
    assert status == 200 and data["value"] == "via http"
    assert data["set_by"]  # the Jupyter user

    out, _ = proc.communicate(timeout=60)
    assert json.loads(out.strip().splitlines()[-1]) == "8|1.5|via http"


def test_403_without_token_sets_nothing(server: Server, waiting: Any) -> None:
    name, _ = waiting
    for token in (None, "wrong-token"):
        status, _ = call(server, "POST", f"{SIG}/{name}/go/approve", {}, token=token)
        assert status == 403
        status, _ = call(server, "POST", f"{SIG}/{name}/rate", {"value": 2.0}, token=token)
        assert status == 403
        assert call(server, "GET", f"/gatewidgets/api/signals?execution={name}", token=token)[0] == 403
    remote = GateRemote.for_sandbox()
    assert remote.get_signal("go", name).state is SignalState.PENDING
    assert remote.get_signal("rate", name).state is SignalState.PENDING


def test_error_bodies(server: Server, waiting: Any) -> None:
    name, _ = waiting
    remote = GateRemote.for_sandbox()
    # 400: a value of the wrong type (strict: "1.5" is a string), text that does not parse, bad JSON, bad body
    for body in ({"value": "1.5"}, {"text": "fast"}, b"{not json", {"value": 1, "text": "1"}, [1]):
        status, data = call(server, "POST", f"{SIG}/{name}/rate", body)
        assert status == 400, (body, data)
        assert set(data) == {"error", "message"} and data["message"]
    assert call(server, "POST", f"{SIG}/{name}/rate", {"value": "1.5"})[1]["error"] == "SignalTypeError"
    assert call(server, "POST", f"{SIG}/{name}/rate/approve", {})[1]["error"] == "SignalTypeError"
    assert call(server, "GET", "/gatewidgets/api/signals?limit=many")[0] == 400
    assert call(server, "GET", "/gatewidgets/api/signals?state=DONE")[0] == 400
    assert remote.get_signal("rate", name).state is SignalState.PENDING
    # 404: unknown signal, unknown execution
    status, data = call(server, "POST", f"{SIG}/{name}/nope", {"value": 1})
    assert status == 404 and data["error"] == "SignalNotFoundError" and "go, rate, note" in data["message"]
    status, data = call(server, "GET", "/gatewidgets/api/signals?execution=no-such-execution")
    assert status == 404 and data["error"] == "ExecutionNotFoundError"
    assert call(server, "GET", f"{SIG}/no-such-execution/go")[0] == 404
    # 409: already set to something else; the same value again is fine
    assert call(server, "POST", f"{SIG}/{name}/go/approve", {})[0] == 200
    assert call(server, "POST", f"{SIG}/{name}/go/approve", {})[0] == 200
    status, data = call(server, "POST", f"{SIG}/{name}/go/reject", {})
    assert status == 409 and data["error"] == "SignalAlreadySetError"
    assert remote.get_signal("go", name).value is True


def test_history_and_prometheus_metrics(server: Server, waiting: Any) -> None:
    name, proc = waiting
    assert call(server, "POST", f"{SIG}/{name}/rate", {"value": 2.5})[0] == 200
    status, body = call(server, "GET", f"/gatewidgets/api/executions/default/development/{name}/history")
    assert status == 200
    sets = [e for e in body["events"] if e["event"] == "set"]
    assert [(e["signal_id"], e["value"], e["via"]) for e in sets] == [("rate", 2.5, "http")]
    assert call(server, "GET", f"/gatewidgets/api/executions/default/development/{name}/history",
                token=None)[0] == 403

    request = urllib.request.Request(f"{server.url}/gatewidgets/metrics",
                                     headers={"Authorization": f"token {server.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    where = {"project": "default", "domain": "development"}
    assert [s.value for s in families["gatewidgets_signals_closed"].samples if s.labels == {**where, "via": "http"}]
    assert families["gatewidgets_gate_wait_seconds"].type == "summary"
    (waiting_sample,) = families["gatewidgets_gates_waiting"].samples
    assert waiting_sample.labels == where and waiting_sample.value >= 2  # "go" and "note" still wait
    assert call(server, "GET", "/gatewidgets/metrics", token=None)[0] == 403
    assert call(server, "GET", "/gatewidgets/metrics", token="wrong")[0] == 403
