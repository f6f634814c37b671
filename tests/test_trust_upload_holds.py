"""Uploads and clean-up agree (a real jupyter_server with ``http_upload_ttl=7200``, longer than the cleanup's
grace of an hour): the file behind an upload id still valid survives ``gatewidgets files clean`` run in
another process, however old it is; a set whose uploaded file is gone is refused with nothing set."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from _jupyter_server import Server, call, running_server

from gatewidgets import GateFile, GateRemote, SignalState
from gatewidgets.store import SqliteStore

SIG = "/gatewidgets/api/signals/default/development"
NINETY_MINUTES = 90 * 60


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running_server(tmp_path_factory.mktemp("jupyter"), "--GateWidgets.http_upload_ttl=7200") as running:
        yield running


def upload(server: Server, name: str, data: bytes) -> tuple[dict[str, Any], Path]:
    status, up = call(server, "PUT", f"/gatewidgets/api/files/{name}", data)
    assert status == 201 and up["expires_in"] == 7200, up
    return up, server.store.parent / "files" / up["sha256"][:2] / up["sha256"] / name


def backdate(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def files_clean(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "gatewidgets", "files", "clean", *args], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, GATEWIDGETS_STORE=str(server.store)))
    assert proc.returncode == 0, proc.stderr
    return proc


def content(data: bytes, name: str) -> dict[str, str]:
    return {"name": name, "content": base64.b64encode(data).decode()}


def test_an_old_upload_with_a_valid_id_survives_files_clean(server: Server, waiting_files: Any) -> None:
    name, proc = waiting_files
    data = b"uploaded 90 minutes ago\n"
    up, stored = upload(server, "late.txt", data)
    backdate(stored, NINETY_MINUTES)  # past the cleanup's grace (an hour), within the id's 2 hours
    for args in ((), ("--older-than", "0")):
        files_clean(server, *args)
        assert stored.read_bytes() == data
    status, body = call(server, "POST", f"{SIG}/{name}/receipt", {"value": {"upload": up["upload"]}})
    assert status == 200 and body["value"]["sha256"] == hashlib.sha256(data).hexdigest(), body
    assert call(server, "POST", f"{SIG}/{name}/receipts", {"value": [content(b"two", "two.txt")]})[0] == 200
    claim = {"amount": 1, "receipt": content(b"three", "three.txt")}
    assert call(server, "POST", f"{SIG}/{name}/claim", {"value": claim})[0] == 200
    out, _ = proc.communicate(timeout=60)
    assert json.loads(out.strip().splitlines()[-1]) == {"receipt": data.decode(), "receipts": ["two"],
                                                        "claim": [1.0, "three"]}


def test_a_set_whose_uploaded_file_is_gone_is_refused(server: Server, waiting_files: Any) -> None:
    name, _ = waiting_files
    up, stored = upload(server, "gone.txt", b"soon gone")
    stored.unlink()
    before = {str(p) for p in (server.store.parent / "files").rglob("*")}
    status, body = call(server, "POST", f"{SIG}/{name}/receipt", {"value": {"upload": up["upload"]}})
    assert status == 400 and "no longer in the store" in body["message"], body
    remote = GateRemote.for_sandbox()
    assert remote.get_signal("receipt", name).state is SignalState.PENDING
    assert [e for e in remote.history(name, signal_id="receipt") if e.kind == "set"] == []
    assert {str(p) for p in (server.store.parent / "files").rglob("*")} == before
    status, body = call(server, "POST", f"{SIG}/{name}/receipt", {"value": content(b"again", "again.txt")})
    assert status == 200, body  # the gate still takes a value


def test_a_hold_keeps_an_old_unreferenced_copy_until_it_expires(gatewidgets_store: Path, tmp_path: Path) -> None:
    store = SqliteStore(gatewidgets_store)
    source = tmp_path / "held.txt"
    source.write_bytes(b"held")
    copy = Path(GateFile(str(source)).persist(store.files_dir).path)
    backdate(copy, NINETY_MINUTES)
    store.hold_file(hashlib.sha256(b"held").hexdigest(), 0.5)
    store.hold_file(hashlib.sha256(b"held").hexdigest(), 0.1)  # never shortens the hold
    assert store.clean_files(older_than=0) == [] and copy.exists()
    time.sleep(0.6)
    assert [f.path for f in store.clean_files()] == [str(copy)] and not copy.exists()
