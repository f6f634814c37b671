"""Trustworthy decisions over HTTP (issue 13), through a real ``jupyter server`` with the default
configuration: file names and hashes cannot leave the store, server-side paths are refused, files
are uploaded as bytes (also inside lists and structures), bad numbers and deep bodies are 400,
and Prometheus label values are escaped."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from _jupyter_server import Server, call
from prometheus_client.parser import text_string_to_metric_families

from gatewidgets import GateRemote, SignalState
from gatewidgets.telemetry import Metrics, Summary, prometheus_text

SIG = "/gatewidgets/api/signals/default/development"
FILE_SIGNALS = ("receipt", "receipts", "claim")


def upload(name: str, data: bytes) -> dict[str, str]:
    return {"name": name, "content": base64.b64encode(data).decode()}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store_files(server: Server) -> list[str]:
    """Everything under the store's files folder (empty if it was never created)."""
    files = server.store.parent / "files"
    return sorted(str(p.relative_to(files)) for p in files.rglob("*")) if files.exists() else []


def states(name: str) -> list[SignalState]:
    remote = GateRemote.for_sandbox()
    return [remote.get_signal(s, name).state for s in FILE_SIGNALS]


def test_file_names_and_claimed_hashes_cannot_leave_the_store(server: Server, waiting_files: Any,
                                                              tmp_path: Path) -> None:
    name, _ = waiting_files
    files = server.store.parent / "files"
    source = tmp_path / "source.txt"
    source.write_bytes(b"any readable file")
    before = store_files(server)
    escape = "../../../../outside-the-store"
    claimed = f"../../gw-escape-{name}/deep/dir"
    for bad in ("a/b", "a\\b", "..", ".", "a\x00b", "", escape):
        status, data = call(server, "POST", f"{SIG}/{name}/receipt", {"value": upload(bad, b"x")})
        assert status == 400 and data["error"] == "SignalTypeError", (bad, data)
        assert "is not a plain file name" in data["message"] and "base name only" in data["message"]
    status, data = call(server, "POST", f"{SIG}/{name}/receipt", {"value": {"path": str(source), "name": escape}})
    assert status == 400 and "is not a plain file name" in data["message"]
    status, data = call(server, "POST", f"{SIG}/{name}/receipt", {"value": {"path": str(source), "sha256": claimed}})
    assert status == 400 and "send the file's bytes" in data["message"]
    assert states(name) == [SignalState.PENDING] * 3
    assert store_files(server) == before
    # where the copy landed before the fix: outside files/ (and outside the store for the name)
    assert not (files / "ab" / "cd" / escape).resolve().exists()
    assert not Path(os.path.normpath(files / claimed[:2] / claimed)).exists()

    # a claimed hash (or size) is ignored: the copy's place is computed from the bytes
    status, data = call(server, "POST", f"{SIG}/{name}/receipt",
                        {"value": {**upload("receipt.txt", b"honest"), "sha256": claimed, "size": 1}})
    assert status == 200, data
    digest = sha(b"honest")
    assert data["value"] == {"path": str(files / digest[:2] / digest / "receipt.txt"), "name": "receipt.txt",
                             "size": 6, "sha256": digest}
    assert set(store_files(server)) - set(before) <= {digest[:2], f"{digest[:2]}/{digest}",
                                                     f"{digest[:2]}/{digest}/receipt.txt"}
    assert Path(data["value"]["path"]).read_bytes() == b"honest"
    assert not Path(os.path.normpath(files / claimed[:2] / claimed)).exists()


def test_server_side_paths_are_refused_by_default(server: Server, waiting_files: Any, tmp_path: Path) -> None:
    name, _ = waiting_files
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.mkfifo(tmp_path / "fifo")
    before = store_files(server)
    attempts = [
        ("receipt", {"text": str(secret)}), ("receipt", {"text": "/etc/passwd"}),
        ("receipt", {"value": {"path": str(secret)}}), ("receipt", {"value": {"path": secret.as_uri()}}),
        ("receipt", {"text": secret.as_uri()}), ("receipt", {"text": os.path.relpath(secret)}),
        ("receipt", {"text": "/dev/zero"}), ("receipt", {"value": {"path": str(tmp_path / "fifo")}}),
        ("receipts", {"value": [upload("ok.txt", b"ok"), {"path": str(secret)}]}),
        ("receipts", {"text": json.dumps([str(secret)])}),
        ("claim", {"value": {"amount": 1.0, "receipt": {"path": str(secret)}}}),
        ("claim", {"text": json.dumps({"amount": 1.0, "receipt": "/dev/zero"})}),
    ]
    for signal, body in attempts:
        started = time.monotonic()
        status, data = call(server, "POST", f"{SIG}/{name}/{signal}", body)
        assert status == 400 and data["error"] == "SignalTypeError", (body, data)
        assert "server-side paths are not accepted" in data["message"], data
        assert "top secret" not in data["message"]
        assert time.monotonic() - started < 5
    assert states(name) == [SignalState.PENDING] * 3
    assert store_files(server) == before


def test_uploads_reach_the_workflow_as_files_in_the_store(server: Server, waiting_files: Any) -> None:
    name, proc = waiting_files
    files = server.store.parent / "files"
    status, data = call(server, "POST", f"{SIG}/{name}/receipt", {"value": upload("one.txt", b"one")})
    assert status == 200, data
    status, data = call(server, "POST", f"{SIG}/{name}/receipts",
                        {"value": [upload("a.txt", b"two"), upload("b.txt", b"three")]})
    assert status == 200, data
    status, data = call(server, "POST", f"{SIG}/{name}/claim",
                        {"value": {"amount": 2.5, "receipt": upload("c.txt", b"four")}})
    assert status == 200, data

    def record(file_name: str, content: bytes) -> dict[str, Any]:
        d = sha(content)
        return {"path": str(files / d[:2] / d / file_name), "name": file_name, "size": len(content), "sha256": d}

    expected = {"receipt": record("one.txt", b"one"),
                "receipts": [record("a.txt", b"two"), record("b.txt", b"three")],
                "claim": {"amount": 2.5, "receipt": record("c.txt", b"four")}}
    for signal, value in expected.items():  # JSON, not Python reprs, also inside lists and structures
        status, data = call(server, "GET", f"{SIG}/{name}/{signal}")
        assert status == 200 and data["value"] == value, data
    for content, rec in ((b"one", expected["receipt"]), (b"two", expected["receipts"][0]),
                         (b"four", expected["claim"]["receipt"])):
        assert Path(rec["path"]).read_bytes() == content
    assert not [f for f in store_files(server) if ".part-" in f]
    out, _ = proc.communicate(timeout=60)
    assert json.loads(out.strip().splitlines()[-1]) == {"receipt": "one", "receipts": ["two", "three"],
                                                        "claim": [2.5, "four"]}


def test_bad_numbers_and_deep_bodies_are_400_with_a_message(server: Server, waiting: Any) -> None:
    name, _ = waiting
    for path in ("/gatewidgets/api/signals?limit=99999999999999999999",
                 "/gatewidgets/api/signals?offset=99999999999999999999", "/gatewidgets/api/signals?offset=1000000001",
                 "/gatewidgets/api/signals?limit=-1", "/gatewidgets/api/signals?limit=1e3",
                 "/gatewidgets/api/executions?limit=99999999999999999999"):
        status, data = call(server, "GET", path)
        param = path.split("?")[1].split("=")[0]
        assert status == 400 and data["error"] == "BadRequest", (path, data)
        assert f"Query parameter '{param}' must be a whole number from 0 to" in data["message"]
    status, data = call(server, "GET", "/gatewidgets/api/signals?limit=10000&offset=1000000000")
    assert status == 200 and data["signals"] == [] and data["total"] > 0  # the largest values still work
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                 json.dumps({"value": json.loads("[" * 65 + "]" * 65)}).encode()):
        status, data = call(server, "POST", f"{SIG}/{name}/rate", body)
        assert status == 400 and data["error"] == "BadRequest" and "64 levels deep" in data["message"], data
    assert GateRemote.for_sandbox().get_signal("rate", name).state is SignalState.PENDING


def test_metrics_label_values_are_escaped(server: Server) -> None:
    project = 'x"} 1\nfake_metric{a="b'
    # over HTTP such a project name is refused (400, JSON) before anything is measured ...
    status, data = call(server, "GET", f"/gatewidgets/metrics?project={urllib.parse.quote(project)}")
    assert status == 400 and data["error"] and "x" in data["message"], data
    # ... and the exposition itself escapes every label value (prometheus_client writes it)
    text = prometheus_text(Metrics(project, "development", {"RUNNING": 1}, 0, {"PENDING": 2}, {}, 2,
                                   Summary(), Summary(), Summary()))
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert "fake_metric" not in families and not any(line.startswith("fake_metric") for line in text.splitlines())
    (sample,) = families["gatewidgets_gates_waiting"].samples
    assert sample.labels == {"project": project, "domain": "development"} and sample.value == 2
    request = urllib.request.Request(f"{server.url}/gatewidgets/metrics?project=ok-project",
                                     headers={"Authorization": f"token {server.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        families = {f.name: f for f in text_string_to_metric_families(response.read().decode())}
    (sample,) = families["gatewidgets_gates_waiting"].samples
    assert sample.labels == {"project": "ok-project", "domain": "development"} and sample.value == 0
