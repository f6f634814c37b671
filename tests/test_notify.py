"""Notifications: callbacks and the webhook notifier against a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest
from helpers import eventually

from gatewidgets import GateRemote, GateTimeoutError, approve, notify, task, wait_for_input, workflow
from gatewidgets.notify import Notification

pytestmark = pytest.mark.usefixtures("each_store")  # on SQLite and on PostgreSQL


@task
def value(x: int) -> int:
    return x


@task
def add(a: int, b: int) -> int:
    return a + b


@workflow
def two_gates(x: int) -> int:
    ok = approve(value(x=x), "ok", timeout=None, description="Go?")
    n = wait_for_input("n", timeout=None, expected_type=int)
    return add(a=ok, b=n)


@workflow
def timed(x: int) -> int:
    ok = approve(value(x=x), "ok", timeout=None, description="Go?")
    n = wait_for_input("n", timeout=0.5, expected_type=int)
    return add(a=ok, b=n)


def _collect(events, scope: str = "local") -> tuple[list[Notification], threading.Event, object]:
    seen: list[Notification] = []
    arrived = threading.Event()

    def callback(note: Notification) -> None:
        seen.append(note)
        arrived.set()

    stop = notify.on(events, callback, scope=scope)
    return seen, arrived, stop


def test_callbacks_for_waiting_decided_and_timed_out() -> None:
    seen, _, stop = _collect(["waiting", "decided", "timed_out"])
    try:
        ex = timed.launch(x=2)
        eventually(lambda: {(n.event, n.signal.signal_id) for n in seen} >= {("waiting", "ok"), ("waiting", "n")})
        GateRemote.for_sandbox().with_face("cli", user="ana").approve("ok", ex.name)
        with pytest.raises(GateTimeoutError):
            ex.wait(timeout=10)  # "n" has no default: it times out
        eventually(lambda: ("timed_out", "n") in {(n.event, n.signal.signal_id) for n in seen})
    finally:
        stop()
    decided = [n for n in seen if n.event == "decided"]
    assert [(n.signal.signal_id, n.signal.set_by, n.signal.via.value) for n in decided] == [("ok", "ana", "cli")]
    body = decided[0].to_json()
    assert body["actions"]["approve"].endswith(f"/{ex.name}/ok/approve")
    assert "ana" in body["text"]


def test_unsubscribed_callback_hears_nothing_and_bad_events_are_refused() -> None:
    seen, _, stop = _collect("waiting")
    stop()
    heard, _, stop_hearing = _collect("waiting")  # still subscribed: hears what the other would have
    try:
        ex = two_gates.launch(x=1)
        eventually(lambda: {n.signal.signal_id for n in heard} >= {"ok", "n"}, what="both gates notified")
    finally:
        stop_hearing()
    assert seen == []
    ex.abort()
    with pytest.raises(ValueError, match="Unknown notification events"):
        notify.on("exploded", print)
    with pytest.raises(ValueError, match="scope"):
        notify.on("waiting", print, scope="galaxy")


def test_local_scope_ignores_other_processes_executions_but_all_scope_hears_them(tmp_path) -> None:
    import subprocess
    import sys
    import textwrap

    local, _, stop_local = _collect("waiting")
    everything, _, stop_all = _collect("waiting", scope="all")
    code = textwrap.dedent("""
        import time
        from gatewidgets import task, workflow, wait_for_input
        @task
        def show(x: int) -> int:
            return x
        @workflow
        def remote_wf() -> int:
            return show(x=wait_for_input("elsewhere", timeout=None, expected_type=int))
        ex = remote_wf.launch(execution_name="elsewhere-1")
        time.sleep(1.0)
        ex.abort()
    """)
    try:
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
        eventually(lambda: any(n.signal.signal_id == "elsewhere" for n in everything))
    finally:
        stop_local()
        stop_all()
    assert not any(n.signal.signal_id == "elsewhere" for n in local)


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        length = int(self.headers["Content-Length"])
        _Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[str]:
    _Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_posts_json_to_a_real_server(hook_server: str) -> None:
    hook = notify.webhook(hook_server, retries=1, backoff=0.05)
    try:
        ex = two_gates.launch(x=3)
        eventually(lambda: len(_Hook.received) >= 2)
        GateRemote.for_sandbox().set_input("n", ex.name, 4)
        GateRemote.for_sandbox().approve("ok", ex.name)
        assert ex.wait(timeout=10) == 7
        eventually(lambda: hook.delivered + hook.failed == 4, timeout=30)  # notifications arrive asynchronously
        assert hook.drain(timeout=10)
    finally:
        hook.close()
    events = sorted((b["event"], b["signal"]["signal_id"]) for b in _Hook.received)
    assert events == [("decided", "n"), ("decided", "ok"), ("waiting", "n"), ("waiting", "ok")]
    decided_n = next(b for b in _Hook.received if b["event"] == "decided" and b["signal"]["signal_id"] == "n")
    assert decided_n["signal"]["value"] == 4 and decided_n["execution"]["name"] == ex.name
    assert hook.delivered == 4 and hook.failed == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_webhook_server_down_never_blocks_the_workflow() -> None:
    hook = notify.webhook(f"http://127.0.0.1:{_free_port()}/nobody", retries=2, backoff=0.05, timeout=0.5)
    try:
        ex = two_gates.launch(x=1)
        eventually(lambda: len(ex.signals()) == 2 and all(s.state.value == "PENDING" for s in ex.signals()))
        remote = GateRemote.for_sandbox()
        remote.approve("ok", ex.name)
        remote.set_input("n", ex.name, 1)
        assert ex.wait(timeout=10) == 2
        eventually(lambda: hook.delivered + hook.failed == 4, timeout=60)  # retries take a while; never blocked
        assert hook.drain(timeout=20)
    finally:
        hook.close()
    assert hook.delivered == 0 and hook.failed == 4


def test_webhook_rejects_non_http_urls() -> None:
    with pytest.raises(ValueError, match="http"):
        notify.webhook("ftp://example.org/hook")


def test_webhook_from_settings_is_installed_by_the_executor(hook_server: str, monkeypatch) -> None:
    from gatewidgets.settings import settings

    monkeypatch.setattr(settings, "webhook_url", hook_server)
    ex = two_gates.launch(x=5)
    eventually(lambda: {b["signal"]["signal_id"] for b in _Hook.received} >= {"ok", "n"})
    ex.abort()


def test_payloads_link_to_the_inbox_and_a_slack_webhook_gets_block_kit(hook_server: str, monkeypatch) -> None:
    from slack_sdk.models.blocks import Block

    from gatewidgets.settings import settings

    monkeypatch.setattr(settings, "public_url", "https://hub.example.org/user/ana/")
    plain = notify.webhook(hook_server, retries=1, backoff=0.05)
    slack = notify.webhook(hook_server + "/slack", retries=1, backoff=0.05, format="slack", events="waiting")
    try:
        ex = two_gates.launch(x=3)
        eventually(lambda: plain.delivered + slack.delivered >= 4, timeout=30)
    finally:
        ex.abort()
        plain.close()
        slack.close()
    url = f"https://hub.example.org/user/ana/gatewidgets/inbox/default/development/{ex.name}/ok"
    [body] = [b for b in _Hook.received if "event" in b and b["signal"]["signal_id"] == "ok"]
    assert body["inbox_url"] == url
    [message] = [b for b in _Hook.received if "blocks" in b and "'ok'" in b["text"]]
    blocks = Block.parse_all(message["blocks"])
    for block in blocks:
        block.validate_json()
    assert blocks[-1].elements[0].url == url


def test_a_webhook_format_must_be_known() -> None:
    with pytest.raises(ValueError, match="format"):
        notify.WebhookNotifier("http://127.0.0.1:9/x", format="teams")


@workflow
def team(x: int) -> int:
    return approve(value(x=x), "ok", timeout=None, assignees=["bob", "carol"], quorum=2)


def test_the_webhook_says_who_may_answer_and_where_the_decision_stands(hook_server: str) -> None:
    hook = notify.webhook(hook_server, retries=1, backoff=0.05)
    try:
        ex = team.launch(x=3)
        eventually(lambda: len(_Hook.received) >= 1, what="the 'waiting' webhook")
        GateRemote.for_sandbox(user="bob").approve("ok", ex.name)
        GateRemote.for_sandbox(user="carol").approve("ok", ex.name)
        assert ex.wait(timeout=10) == 3
        eventually(lambda: hook.delivered + hook.failed == 2, timeout=30)
    finally:
        hook.close()
    bodies = {b["event"]: b for b in _Hook.received}
    waiting, decided = bodies["waiting"], bodies["decided"]
    assert waiting["signal"]["policy"] == {"assignees": ["bob", "carol"], "quorum": 2}
    assert waiting["signal"]["standing"] == "0 of 2 — waiting for bob, carol"
    assert waiting["signal"]["approvals"] is None
    assert waiting["assignees"] == ["bob", "carol"]
    assert [a["user"] for a in decided["signal"]["approvals"]] == ["bob", "carol"]
    assert decided["signal"]["identity_source"] == "claimed" and decided["signal"]["standing"] is None  # decided
