"""Streamed uploads (``PUT /gatewidgets/api/files/{name}``, then ``{"upload": id}`` in a value) against
a real Jupyter server with a 1 MiB upload limit: the bytes and hash in the store are the server's own,
an oversize body is refused mid-stream with nothing left in ``files/``, ids are unguessable and
single-use, and Jupyter keeps answering while an upload is slow."""
from __future__ import annotations

import hashlib
import http.client
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from _jupyter_server import Server, call, running_server

from gatewidgets import GateFile, GateRemote, SignalState
from gatewidgets.errors import SignalTypeError
from gatewidgets.server.uploads import Uploads
from gatewidgets.store.jupyter import JupyterStore
from gatewidgets.types.file.stored import StoredFile, upload_references

SIG = "/gatewidgets/api/signals/default/development"
LIMIT = 1 << 20
CHUNK = 64 << 10


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running_server(tmp_path_factory.mktemp("jupyter"), f"--GateWidgets.max_upload_bytes={LIMIT}") as running:
        yield running


def store_files(server: Server) -> set[str]:
    """Every file under the store's ``files/`` folder, temporary ``.part-*`` files included."""
    files = server.store.parent / "files"
    return {str(p.relative_to(files)) for p in files.rglob("*") if p.is_file()} if files.exists() else set()


def connect(server: Server, name: str, headers: dict[str, str] | None = None,
            token: str | None = "default") -> http.client.HTTPConnection:
    """A PUT to the files endpoint with its headers sent and its body still to come."""
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(server.url).netloc, timeout=10)
    conn.putrequest("PUT", f"/gatewidgets/api/files/{name}")
    for key, value in {"Transfer-Encoding": "chunked", **(headers or {})}.items():
        conn.putheader(key, value)
    if token:
        conn.putheader("Authorization", f"token {server.token if token == 'default' else token}")
    conn.endheaders()
    return conn


def send_chunk(conn: http.client.HTTPConnection, data: bytes) -> None:
    conn.send(b"%x\r\n%s\r\n" % (len(data), data))


def answer(conn: http.client.HTTPConnection) -> tuple[int, Any]:
    response = conn.getresponse()
    status, body = response.status, response.read()
    conn.close()
    return status, json.loads(body)


def put(server: Server, name: str, data: bytes, chunk: int = CHUNK) -> tuple[int, Any]:
    """Stream ``data`` in chunks of ``chunk`` bytes (chunked transfer encoding)."""
    conn = connect(server, name)
    for i in range(0, len(data), chunk):
        send_chunk(conn, data[i:i + chunk])
    conn.send(b"0\r\n\r\n")
    return answer(conn)


def status_seconds(server: Server) -> float:
    started = time.monotonic()
    status, _ = call(server, "GET", "/api/status")
    assert status == 200
    return time.monotonic() - started


def test_a_streamed_upload_is_stored_as_its_bytes_then_set_once(server: Server, waiting_files: Any) -> None:
    name, proc = waiting_files
    data = b"receipt line\n" * 30_000  # 390,000 bytes in 6 chunks
    status, up = put(server, "receipt.bin", data)
    assert status == 201, up
    assert up["name"] == "receipt.bin" and up["size"] == len(data)
    assert up["sha256"] == hashlib.sha256(data).hexdigest()  # computed by the server from the bytes
    assert len(up["upload"]) >= 40 and up["expires_in"] == 3600
    stored = server.store.parent / "files" / up["sha256"][:2] / up["sha256"] / "receipt.bin"
    assert stored.read_bytes() == data and not any(".part-" in f for f in store_files(server))

    status, body = call(server, "POST", f"{SIG}/{name}/receipt", {"value": {"upload": up["upload"]}})
    assert status == 200, body
    assert body["value"] == {"path": str(stored), "name": "receipt.bin", "size": len(data), "sha256": up["sha256"]}
    remote = GateRemote.for_sandbox()
    assert remote.get_signal("receipt", name).state is SignalState.SET

    before = store_files(server)  # the id is used: a second value cannot name it
    status, body = call(server, "POST", f"{SIG}/{name}/receipts", {"value": [{"upload": up["upload"]}]})
    assert status == 400 and body["error"] == "SignalTypeError" and "already used" in body["message"], body
    assert remote.get_signal("receipts", name).state is SignalState.PENDING and store_files(server) == before

    status, two = put(server, "two.txt", b"two")
    assert status == 201
    status, body = call(server, "POST", f"{SIG}/{name}/receipts", {"value": [{"upload": two["upload"]}]})
    assert status == 200 and body["value"][0]["sha256"] == hashlib.sha256(b"two").hexdigest()
    status, three = put(server, "c.txt", b"three")
    status, body = call(server, "POST", f"{SIG}/{name}/claim",
                        {"value": {"amount": 2, "receipt": {"upload": three["upload"]}}})
    assert status == 200, body
    out, _ = proc.communicate(timeout=60)
    assert json.loads(out.strip().splitlines()[-1]) == {"receipt": data.decode(), "receipts": ["two"],
                                                        "claim": [2.0, "three"]}


def test_an_oversize_body_is_refused_mid_stream_and_leaves_no_file(server: Server) -> None:
    before = store_files(server)
    conn = connect(server, "big.bin")
    for _ in range(LIMIT // CHUNK):
        send_chunk(conn, b"x" * CHUNK)  # exactly the limit: still accepted
    started = time.monotonic()
    send_chunk(conn, b"x")  # one byte past it; no final chunk: the answer comes mid-stream
    status, body = answer(conn)
    assert status == 413 and body["error"] == "SignalTypeError", body
    assert f"larger than the limit of {LIMIT} bytes" in body["message"]
    assert time.monotonic() - started < 5
    assert store_files(server) == before  # the partial file is deleted

    conn = connect(server, "big.bin", {"Transfer-Encoding": "identity", "Content-Length": str(LIMIT + 1)})
    status, body = answer(conn)  # refused on the announcement, before a byte of the body
    assert status == 413 and f"limit of {LIMIT} bytes" in body["message"], body
    assert store_files(server) == before

    status, up = put(server, "exact.bin", b"y" * LIMIT)  # the limit itself is fine
    assert status == 201 and up["size"] == LIMIT


def test_an_early_refusal_closes_the_connection_so_the_next_request_works(server: Server) -> None:
    """A refusal sent before the body is read (bad name, no auth, a size announced past the limit, the
    limit passed mid-stream) says ``Connection: close``: a client keeping its connection alive opens a
    new one for its next request instead of writing into one the server drops (ECONNRESET)."""
    before = store_files(server)
    auth = {"Authorization": f"token {server.token}"}
    netloc = urllib.parse.urlsplit(server.url).netloc

    def refused(conn: http.client.HTTPConnection, code: int) -> None:
        response = conn.getresponse()
        response.read()
        assert (response.status, response.getheader("Connection")) == (code, "close")
        conn.request("GET", "/api/status", headers=auth)  # the same client object: on a new connection
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["started"]

    conn = http.client.HTTPConnection(netloc, timeout=10)
    try:
        for _ in range(10):
            conn.request("PUT", "/gatewidgets/api/files/a%2Fb.txt", body=b"z" * 4096, headers=auth)
            refused(conn, 400)
            conn.request("PUT", "/gatewidgets/api/files/x.txt", body=b"z" * 4096)
            refused(conn, 403)
            conn.putrequest("PUT", "/gatewidgets/api/files/big.bin")  # as curl sends a large file:
            for key, value in {**auth, "Content-Length": str(LIMIT + 1), "Expect": "100-continue"}.items():
                conn.putheader(key, value)
            conn.endheaders()  # the body waits for "100 Continue", which a refusal replaces
            refused(conn, 413)
            mid_stream = connect(server, "big.bin")
            for _ in range(LIMIT // CHUNK + 1):
                send_chunk(mid_stream, b"x" * CHUNK)
            refused(mid_stream, 413)
            mid_stream.close()
    finally:
        conn.close()
    assert store_files(server) == before


@pytest.mark.parametrize("name", ["a%2Fb.txt", "..", "%2E%2E", "a%5Cb", "a%00b"])
def test_a_name_that_is_not_a_plain_base_name_is_refused(server: Server, name: str) -> None:
    before = store_files(server)
    status, body = answer(connect(server, name))  # refused on the headers: the body is never read
    assert status == 400 and body["error"] == "SignalTypeError" and "not a plain file name" in body["message"], body
    assert store_files(server) == before


def test_uploads_need_jupyter_auth(server: Server) -> None:
    before = store_files(server)
    for token in (None, "wrong"):
        conn = connect(server, "x.txt", token=token)
        status = conn.getresponse().status  # refused on the headers: the body is never read
        conn.close()
        assert status == 403
    assert store_files(server) == before


def test_unknown_ids_and_paths_into_the_store_are_refused_and_change_nothing(server: Server,
                                                                            waiting_files: Any) -> None:
    name, _ = waiting_files
    remote = GateRemote.for_sandbox()
    status, up = put(server, "ok.txt", b"ok")
    stored_path = str(server.store.parent / "files" / up["sha256"][:2] / up["sha256"] / "ok.txt")
    history = remote.history(name, signal_id="receipts")
    for value, message in [
        ({"upload": "no-such-upload"}, "unknown, expired"),
        ({"upload": 42}, '{"upload": "<id>"}'),
        ({"upload": up["upload"], "path": "/etc/passwd"}, '{"upload": "<id>"}'),
        ({"path": stored_path}, "server-side paths are not accepted"),  # the stored copy, without its id
    ]:
        status, body = call(server, "POST", f"{SIG}/{name}/receipt", {"value": value})
        assert status == 400 and body["error"] == "SignalTypeError" and message in body["message"], (value, body)
    # one good id beside an unknown one: the set fails as a whole and the good id stays usable
    status, body = call(server, "POST", f"{SIG}/{name}/receipts",
                        {"value": [{"upload": up["upload"]}, {"upload": "no-such-upload"}]})
    assert status == 400 and "unknown, expired" in body["message"], body
    for signal_id in ("receipt", "receipts"):
        assert remote.get_signal(signal_id, name).state is SignalState.PENDING
    assert remote.history(name, signal_id="receipts") == history
    status, body = call(server, "POST", f"{SIG}/{name}/receipts", {"value": [{"upload": up["upload"]}]})
    assert status == 200 and body["value"][0]["path"] == stored_path, body


def test_jupyter_keeps_answering_during_a_slow_upload(server: Server) -> None:
    conn = connect(server, "slow.bin")
    send_chunk(conn, b"a" * CHUNK)
    time.sleep(0.5)  # the upload pauses mid-body
    assert max(status_seconds(server) for _ in range(3)) < 1
    assert any(f.rsplit("/", 1)[-1].startswith(".part-") for f in store_files(server))  # being written
    send_chunk(conn, b"b" * CHUNK)
    conn.send(b"0\r\n\r\n")
    status, up = answer(conn)
    assert status == 201 and up["sha256"] == hashlib.sha256(b"a" * CHUNK + b"b" * CHUNK).hexdigest()
    assert not any(".part-" in f for f in store_files(server))


def test_the_client_streams_files_alone_and_in_lists(server: Server, waiting_files: Any, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    name, proc = waiting_files
    sent: list[tuple[str, str, Any]] = []
    send = JupyterStore._send

    def spy(self: JupyterStore, method: str, url: str, data: Any, headers: dict[str, str]) -> Any:
        sent.append((method, url.rsplit("/gatewidgets/api/", 1)[-1],
                     json.loads(data) if isinstance(data, bytes) else type(data).__name__))
        return send(self, method, url, data, headers)

    monkeypatch.setattr(JupyterStore, "_send", spy)
    client = GateRemote.for_jupyter(server.url, token=server.token)
    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * (LIMIT + 1))
    before = store_files(server)
    with pytest.raises(SignalTypeError, match="max_upload_bytes"):
        client.set_input("receipt", name, GateFile(big))
    assert GateRemote.for_sandbox().get_signal("receipt", name).state is SignalState.PENDING
    assert store_files(server) == before

    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_bytes(b"o" * 300_000)
    two.write_text("two")
    sent.clear()
    receipt = client.set_input("receipt", name, GateFile(one))
    assert receipt.value["sha256"] == hashlib.sha256(b"o" * 300_000).hexdigest()
    assert Path(receipt.value["path"]).read_bytes() == one.read_bytes()
    puts = [s for s in sent if s[0] == "PUT"]
    assert puts == [("PUT", "files/one.txt", "generator")]  # streamed, not read whole
    posts = [s for s in sent if s[0] == "POST"]
    assert len(posts) == 1 and set(posts[0][2]["value"]) == {"upload"}
    sent.clear()
    receipts = client.set_input("receipts", name, [GateFile(two)])
    assert receipts.value[0]["name"] == "two.txt" and Path(receipts.value[0]["path"]).read_text() == "two"
    assert [s[1] for s in sent if s[0] == "PUT"] == ["files/two.txt"]
    assert client.set_input("claim", name, {"amount": 1.0, "receipt": GateFile(two)}).state is SignalState.SET
    one.unlink()
    two.unlink()  # the server holds copies
    out, _ = proc.communicate(timeout=60)
    assert json.loads(out.strip().splitlines()[-1]) == {"receipt": "o" * 300_000, "receipts": ["two"],
                                                        "claim": [1.0, "two"]}


def test_upload_ids_are_single_use_expire_and_come_back_after_a_failed_set(tmp_path: Path) -> None:
    clock = [0.0]
    uploads = Uploads(clock=lambda: clock[0])
    file = StoredFile(str(tmp_path / "f"), "f", "0" * 64, 1)
    first, second = uploads.add(file), uploads.add(file)
    assert first != second and len(first) >= 40
    with pytest.raises(RuntimeError), uploads.references():  # a failed set gives its ids back
        assert GateFile.from_json({"upload": first}).sha256 == "0" * 64
        raise RuntimeError("the set failed")
    with uploads.references():
        assert GateFile.from_json({"upload": first}).name == "f"
        assert GateFile.from_json({"upload": first}).name == "f"  # the same value may name it twice
    with pytest.raises(SignalTypeError, match="already used"), uploads.references():
        GateFile.from_json({"upload": first})
    clock[0] = 3600.0
    with pytest.raises(SignalTypeError, match="expired"), uploads.references():
        GateFile.from_json({"upload": second})
    assert len(uploads) == 0
    with pytest.raises(SignalTypeError, match="accepted only by the Jupyter server"):
        GateFile.from_json({"upload": first})  # outside the server's requests
    with upload_references(lambda i: file):
        assert GateFile.from_json({"upload": "x"}).path == file.path
