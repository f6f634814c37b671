"""Issue 13 (HTTP clients): credentials never follow a redirect to another origin; the webhook thread
survives malformed responses and never logs the secret part of its URL. Real servers on 127.0.0.1."""
from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import eventually

from gatewidgets import GateRemote, approve, notify, task, wait_for_input, workflow
from gatewidgets.notify import redact


@task
def value(x: int) -> int:
    return x


@task
def add(a: int, b: int) -> int:
    return a + b


@workflow
def gated(x: int) -> int:
    return add(a=approve(value(x=x), "ok", timeout=None), b=wait_for_input("n", timeout=None, expected_type=int))


@dataclass
class Site:
    """A local HTTP server: records each request's method, path and headers; redirects when told to."""

    url: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    redirect: tuple[int, str] | None = None  # (status, location) for every request outside /moved/


def _serve(site: Site) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            site.requests.append((self.command, self.path, dict(self.headers.items())))
            if site.redirect is not None and not self.path.startswith("/moved/"):
                self.send_response(site.redirect[0])
                self.send_header("Location", site.redirect[1])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b'{"signals": [], "executions": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def sites() -> Iterator[tuple[Site, Site]]:
    """Two servers on different ports: ``a`` (the one the client was given) and ``b`` (elsewhere)."""
    a, b = Site(), Site()
    servers = [_serve(a), _serve(b)]
    try:
        yield a, b
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def _secrets(headers: dict[str, str]) -> set[str]:
    return {k.lower() for k in headers} & {"authorization", "cookie", "x-hook-secret"}


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_jupyter_client_token_stays_on_its_origin(sites: tuple[Site, Site], status: int) -> None:
    a, b = sites
    a.redirect = (status, f"{b.url}/gatewidgets/api/signals")
    client = GateRemote.for_jupyter(a.url, token="s3cret-token")
    assert client.list_signals("ex") == []
    assert [r[0] for r in b.requests] == ["GET"]  # the redirect was followed ...
    assert a.requests[0][2]["Authorization"] == "token s3cret-token"
    assert _secrets(b.requests[0][2]) == set()  # ... without the token
    assert "s3cret-token" not in repr(b.requests)


def test_jupyter_client_same_origin_redirect_keeps_the_token(sites: tuple[Site, Site]) -> None:
    a, _ = sites
    a.redirect = (302, "/moved/gatewidgets/api/signals")
    assert GateRemote.for_jupyter(a.url, token="tok").list_signals("ex") == []
    assert [r[1].split("/")[1] for r in a.requests] == ["gatewidgets", "moved"]
    assert a.requests[1][2]["Authorization"] == "token tok"


def test_webhook_secret_headers_stay_on_their_origin(sites: tuple[Site, Site]) -> None:
    a, b = sites
    a.redirect = (303, f"{b.url}/elsewhere")
    hook = notify.webhook(f"{a.url}/hook", headers={"X-Hook-Secret": "s3cret", "Authorization": "Bearer k"},
                          retries=0)
    try:
        ex = gated.launch(x=1)
        eventually(lambda: len(b.requests) >= 1, timeout=20)
        ex.abort()
        assert hook.drain(timeout=20)
    finally:
        hook.close()
    assert a.requests[0][2]["X-Hook-Secret"] == "s3cret"
    assert all(_secrets(headers) == set() for _, _, headers in b.requests)


class _Garbage:
    """A raw socket server: its first ``bad`` connections get a malformed status line, later ones a 204."""

    def __init__(self, bad: int) -> None:
        self.bad = bad
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(2)
                try:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(65536)
                    self.connections += 1
                    if self.connections <= self.bad:
                        conn.sendall(b"\x00\xffNOT HTTP AT ALL\r\n\r\n")
                    else:
                        conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def garbage() -> Iterator[_Garbage]:
    server = _Garbage(bad=2)
    try:
        yield server
    finally:
        server.close()


def test_webhook_thread_survives_malformed_responses_and_redacts_its_url(
        garbage: _Garbage, caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{garbage.port}/hooks/T0KEN-path?key=s3cret-query"
    hook = notify.webhook(url, retries=0, backoff=0.01, timeout=5)
    remote = GateRemote.for_sandbox()
    try:
        with caplog.at_level(logging.WARNING, logger="gatewidgets.notify"):
            ex = gated.launch(x=1)
            eventually(lambda: hook.failed == 2, timeout=20)  # "waiting" for ok and n: two garbage answers
            assert hook.is_alive()
            remote.approve("ok", ex.name)  # later notifications are still delivered
            eventually(lambda: hook.delivered >= 1, timeout=20)
            remote.set_input("n", ex.name, 2)
            assert ex.wait(timeout=10) == 3
            # notifications reach the webhook's queue from the store's notifier thread: wait for the second
            # "decided" to arrive before draining, or the drain may find the queue empty before it
            eventually(lambda: hook.delivered == 2, timeout=20)
            assert hook.drain(timeout=20)
    finally:
        hook.close()
    assert hook.failed == 2 and hook.delivered == 2
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 2 and all(f"http://127.0.0.1:{garbage.port}/…" in m for m in failures)
    assert "BadStatusLine" in failures[0]
    assert "T0KEN" not in caplog.text and "s3cret" not in caplog.text


def test_redact_keeps_only_scheme_host_and_port() -> None:
    assert redact("https://hooks.example.com/services/T0/B1/XyZ?token=abc") == "https://hooks.example.com/…"
    assert redact("http://user:pw@[::1]:8080/x") == "http://[::1]:8080/…"
    assert redact("http://host:notaport/secret") == "http://host/…"


def test_webhook_failure_message_never_carries_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    """urllib puts the request path, query included, into some errors (here: a space in the URL)."""
    hook = notify.webhook("http://127.0.0.1:9/hooks/T0KEN path?key=s3cret", retries=0)
    try:
        with caplog.at_level(logging.WARNING, logger="gatewidgets.notify"):
            ex = gated.launch(x=1)
            eventually(lambda: hook.failed >= 1, timeout=20)
            ex.abort()
            assert hook.drain(timeout=20)
    finally:
        hook.close()
    assert "InvalidURL" in caplog.text and "http://127.0.0.1:9/…" in caplog.text
    assert "T0KEN" not in caplog.text and "s3cret" not in caplog.text
