"""A Jupyter server configured to accept server-side paths from one folder
(``GateWidgets.http_allowed_file_dirs``), with a small upload limit and the default store waits:
only regular files really inside the folder are copied, nothing hangs the server, an attacker
cannot plant bytes under someone else's hash, and a locked store answers 503 within
``http_busy_timeout`` (not ``busy_timeout``) while Jupyter keeps answering."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from _jupyter_server import Server, call, running_server
from _procs import stop
from helpers import eventually

from gatewidgets import GateRemote, SignalState

SIG = "/gatewidgets/api/signals/default/development"
LIMIT = 4096


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("jupyter")
    (root / "shared").mkdir()
    with running_server(root, f"--GateWidgets.http_allowed_file_dirs={root / 'shared'}",
                        f"--GateWidgets.max_upload_bytes={LIMIT}") as running:
        yield running


def upload(name: str, data: bytes) -> dict[str, str]:
    return {"name": name, "content": base64.b64encode(data).decode()}


def store_files(server: Server) -> set[str]:
    files = server.store.parent / "files"
    return {str(p.relative_to(files)) for p in files.rglob("*") if p.is_file()} if files.exists() else set()


def status_seconds(server: Server) -> float:
    """How long Jupyter's own ``/api/status`` takes to answer."""
    started = time.monotonic()
    with urllib.request.urlopen(f"{server.url}/api/status?token={server.token}", timeout=10) as r:
        assert r.status == 200
    return time.monotonic() - started


def test_only_regular_files_inside_the_allowed_folder_are_copied(server: Server, waiting_files: Any) -> None:
    name, _ = waiting_files
    shared = server.store.parent / "shared"
    secret = shared.parent / f"secret-{name}.txt"  # beside the allowed folder, not in it
    secret.write_text("top secret")
    os.mkfifo(shared / f"fifo-{name}")
    (shared / f"dir-{name}").mkdir()
    (shared / f"zero-{name}").symlink_to("/dev/zero")
    (shared / f"leak-{name}").symlink_to(secret)
    (shared / f"big-{name}.bin").write_bytes(b"x" * (LIMIT + 1))
    before = store_files(server)
    refusals = [
        ({"text": str(shared / f"fifo-{name}")}, "not a regular file"),
        ({"value": {"path": str(shared / f"dir-{name}")}}, "not a regular file"),
        ({"text": str(shared / f"zero-{name}")}, "only files inside"),
        ({"text": "/dev/zero"}, "only files inside"),
        ({"text": str(shared / f"leak-{name}")}, "only files inside"),
        ({"text": f"{shared}/../{secret.name}"}, "only files inside"),
        ({"value": {"path": os.path.relpath(secret)}}, "only files inside"),
        ({"text": str(shared / f"big-{name}.bin")}, f"larger than the limit of {LIMIT} bytes"),
        ({"value": upload("big.bin", b"x" * (LIMIT + 1))}, f"larger than the limit of {LIMIT} bytes"),
        ({"value": {"name": "bad.bin", "content": "not base64!"}}, "must be the file's bytes in base64"),
    ]
    for body, message in refusals:
        started = time.monotonic()
        status, data = call(server, "POST", f"{SIG}/{name}/receipt", body)
        assert status == 400 and data["error"] == "SignalTypeError" and message in data["message"], (body, data)
        assert "top secret" not in data["message"]
        assert time.monotonic() - started < 5 and status_seconds(server) < 1
    remote = GateRemote.for_sandbox()
    assert remote.get_signal("receipt", name).state is SignalState.PENDING
    assert store_files(server) == before

    ok = shared / f"ok-{name}.txt"
    ok.write_bytes(b"shared bytes")
    status, data = call(server, "POST", f"{SIG}/{name}/receipt", {"text": str(ok)})
    assert status == 200, data
    copy = Path(data["value"]["path"])
    assert copy.parent.parent.parent == server.store.parent / "files" and copy.read_bytes() == b"shared bytes"
    ok.write_bytes(b"changed later")
    assert copy.read_bytes() == b"shared bytes"


def test_bytes_planted_under_a_claimed_hash_do_not_replace_an_honest_upload(server: Server,
                                                                            waiting_files: Any) -> None:
    name, proc = waiting_files
    shared = server.store.parent / "shared"
    honest = b"honest receipt"
    evil = shared / f"evil-{name}.txt"
    evil.write_bytes(b"attacker bytes")
    # the attacker names the hash of the honest file the approver will upload next, under the same name
    status, data = call(server, "POST", f"{SIG}/{name}/receipt",
                        {"value": {"path": str(evil), "name": "r.txt",
                                   "sha256": hashlib.sha256(honest).hexdigest()}})
    assert status == 200 and data["value"]["sha256"] == hashlib.sha256(b"attacker bytes").hexdigest()
    status, data = call(server, "POST", f"{SIG}/{name}/receipts", {"value": [upload("r.txt", honest)]})
    assert status == 200 and Path(data["value"][0]["path"]).read_bytes() == honest
    status, data = call(server, "POST", f"{SIG}/{name}/claim", {"value": {"amount": 1, "receipt": upload("c", b"c")}})
    assert status == 200, data
    out, _ = proc.communicate(timeout=60)
    assert json.loads(out.strip().splitlines()[-1]) == {"receipt": "attacker bytes", "receipts": ["honest receipt"],
                                                        "claim": [1.0, "c"]}


LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_locked_store_answers_503_while_jupyter_keeps_answering(server: Server, waiting: Any) -> None:
    """With the default settings (``busy_timeout`` 30 s, ``http_busy_timeout`` 2 s) the refusal comes
    in about 2 s, and the refused set leaves the signal and its history as they were."""
    name, _ = waiting
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal("rate", name).state is SignalState.PENDING, timeout=30,
               what="the gate 'rate' to wait")
    before, history = remote.get_signal("rate", name), remote.history(name, signal_id="rate")
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(server.store)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        answer: dict[str, Any] = {}

        def post() -> None:
            started = time.monotonic()
            answer["reply"] = call(server, "POST", f"{SIG}/{name}/rate", {"value": 1.5}, timeout=30)
            answer["seconds"] = time.monotonic() - started

        thread = threading.Thread(target=post)
        thread.start()
        time.sleep(0.5)  # the POST now waits for the lock
        assert "reply" not in answer
        assert max(status_seconds(server) for _ in range(3)) < 1  # Jupyter's own API is not frozen
        thread.join(timeout=30)
        assert not thread.is_alive() and "reply" in answer, "the POST got no answer within 30 s"
        status, data = answer["reply"]
        assert status == 503 and data["error"] == "StoreError" and "locked" in data["message"], data
        assert 1 < answer["seconds"] < 10  # it waited for the lock: http_busy_timeout, not busy_timeout
    finally:
        stop(locker)
    after = remote.get_signal("rate", name)  # the refused request changed nothing
    assert after == before and after.state is SignalState.PENDING and after.value is None
    assert remote.history(name, signal_id="rate") == history
    assert call(server, "POST", f"{SIG}/{name}/rate", {"value": 1.5})[0] == 200
