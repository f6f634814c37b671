"""The approvers' inbox over HTTP, on a real jupyter_server with two users (alice and bob, by token)."""
from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from _inbox_workflows import for_alice, for_bob, for_both
from _jupyter_server import Server, call
from _two_users import running_users_server
from helpers import eventually

from gatewidgets import GateRemote, SignalState
from gatewidgets.server.inbox import MAX_STREAMS, _Feed, inbox_routes

pytestmark = pytest.mark.slow

ALICE, BOB = secrets.token_hex(8), secrets.token_hex(8)
INBOX = "/gatewidgets/inbox"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_users_server(tmp_path_factory.mktemp("inbox"), {"alice": ALICE, "bob": BOB}) as running:
        yield running


def waiting(wf: Any, signal: str, **inputs: Any) -> Any:
    ex = wf.launch(**inputs)
    eventually(lambda: GateRemote.for_sandbox().get_signal(signal, ex.name).state is SignalState.PENDING,
               timeout=30, what=f"{signal} to wait")
    return ex


def keys(server: Server, token: str, query: str = "") -> list[str]:
    status, data = call(server, "GET", f"{INBOX}/api/items{query}", token=token)
    assert status == 200, data
    return [item["key"] for item in data["items"]]


def test_each_user_sees_only_what_they_may_answer(server: Server) -> None:
    mine, bobs = waiting(for_alice, "pay", a=1), waiting(for_bob, "bob-only", a=2)
    both = waiting(for_both, "release", a=3)
    alice_keys, bob_keys = keys(server, ALICE), keys(server, BOB)
    assert f"default/development/{mine.name}/pay" in alice_keys
    assert f"default/development/{mine.name}/pay" not in bob_keys
    assert f"default/development/{bobs.name}/bob-only" in bob_keys and \
        f"default/development/{bobs.name}/bob-only" not in alice_keys
    assert f"default/development/{both.name}/release" in alice_keys and \
        f"default/development/{both.name}/release" in bob_keys
    assert keys(server, ALICE, "?workflow=for_bob") == []  # a workflow filter
    assert keys(server, BOB, "?workflow=for_bob") == [f"default/development/{bobs.name}/bob-only"]
    status, data = call(server, "GET", f"{INBOX}/api/items", token=ALICE)
    assert data["me"] == {"user": "alice", "source": "server"} and "for_bob" in data["workflows"]
    [pay] = [i for i in data["items"] if i["key"].endswith(f"{mine.name}/pay")]
    assert pay["description_html"] == "<p>Pay <strong>this</strong> amount?</p>\n"
    assert pay["link"] == f"gatewidgets/inbox/default/development/{mine.name}/pay"
    assert [a["action"] for a in pay["answers"]] == ["approve", "reject"] and pay["status"]["may_answer"]
    # newest first
    assert alice_keys.index(f"default/development/{both.name}/release") < \
        alice_keys.index(f"default/development/{mine.name}/pay")


def test_one_decision_for_someone_who_may_not_answer_has_no_answers_and_says_why(server: Server) -> None:
    ex = waiting(for_bob, "bob-only", a=5)
    status, item = call(server, "GET", f"{INBOX}/api/items/default/development/{ex.name}/bob-only", token=ALICE)
    assert status == 200 and item["answers"] == [] and item["me"] == "alice"
    assert item["status"]["why_not"] == "alice is not an assignee; it may be answered by bob"
    # the evidence is the sanitised HTML the cards show: the script is text, not markup
    assert "<script" not in item["evidence_html"] and "&lt;script&gt;" in item["evidence_html"]
    assert [e["event"] for e in item["timeline"]][:2] == ["created", "reached"]
    status, item = call(server, "GET", f"{INBOX}/api/items/default/development/{ex.name}/bob-only", token=BOB)
    assert [a["label"] for a in item["answers"]] == ["Approve", "Reject"]
    status, data = call(server, "GET", f"{INBOX}/api/items/default/development/{ex.name}/nope", token=BOB)
    assert status == 404


def test_decisions_carry_the_evidence_hash_shown(server: Server) -> None:
    ex = waiting(for_bob, "bob-only", a=6)
    path = f"/gatewidgets/api/signals/default/development/{ex.name}/bob-only"  # the API the page posts to
    status, item = call(server, "GET", f"{INBOX}/api/items/default/development/{ex.name}/bob-only", token=BOB)
    status, data = call(server, "POST", f"{path}/approve", {"evidence_hash": "0" * 16}, token=BOB)
    assert status == 403 and "evidence changed" in data["message"]
    status, data = call(server, "POST", f"{path}/approve", {"evidence_hash": item["evidence_hash"]}, token=ALICE)
    assert status == 403 and "not an assignee" in data["message"]
    for body in ({"evidence_hash": 5}, {"other": 1}, [1]):
        assert call(server, "POST", f"{path}/reject", body, token=BOB)[0] == 400
    assert GateRemote.for_sandbox().get_signal("bob-only", ex.name).state is SignalState.PENDING  # nothing changed
    status, data = call(server, "POST", f"{path}/reject", {"evidence_hash": item["evidence_hash"], "comment": "no"},
                        token=BOB)
    assert status == 200 and data["value"] is False and data["set_by"] == "bob" and data["comment"] == "no"
    status, item = call(server, "GET", f"{INBOX}/api/items/default/development/{ex.name}/bob-only", token=BOB)
    assert item["value_text"] == "rejected" and item["answers"] == []
    status, data = call(server, "GET", f"{INBOX}/api/items", token=BOB)
    assert item["key"] not in [i["key"] for i in data["items"]]
    assert item["key"] in [i["key"] for i in data["decided"]]  # recently decided


def test_the_list_is_paged(server: Server) -> None:
    for a in range(3):
        waiting(for_bob, "bob-only", a=10 + a)
    first = call(server, "GET", f"{INBOX}/api/items?workflow=for_bob&limit=2", token=BOB)[1]
    assert len(first["items"]) == 2 and first["more"] is True
    rest = call(server, "GET", f"{INBOX}/api/items?workflow=for_bob&limit=2&offset=2", token=BOB)[1]
    assert rest["items"] and "decided" not in rest  # later pages carry only items
    total = call(server, "GET", f"{INBOX}/api/items?workflow=for_bob&limit=200", token=BOB)[1]
    paged = [i["key"] for i in first["items"] + rest["items"]]
    assert paged == [i["key"] for i in total["items"]][:len(paged)]
    assert call(server, "GET", f"{INBOX}/api/items?limit=x", token=BOB)[0] == 400
    request = urllib.request.Request(f"{server.url}{INBOX}/api/items?workflow=for_bob&limit=200",
                                     headers={"Authorization": f"token {BOB}", "Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as response:  # a slow network gets it compressed
        assert response.headers["Content-Encoding"] == "gzip"
        assert json.loads(gzip.decompress(response.read()))["items"] == total["items"]


def test_the_page_is_behind_login_with_its_own_assets(server: Server) -> None:
    request = urllib.request.Request(f"{server.url}{INBOX}/default/development/ex/sig")
    opener = urllib.request.build_opener(_NoRedirect())
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(request, timeout=10)
    assert refused.value.code == 302
    assert refused.value.headers["Location"].startswith("/login?next=")
    assert "gatewidgets/inbox/default/development/ex/sig" in refused.value.headers["Location"].replace("%2F", "/")
    for path in ("/api/items", "/api/items/default/development/ex/sig", "/api/events"):
        assert call(server, "GET", INBOX + path, token=None)[0] == 403
    with urllib.request.urlopen(f"{server.url}{INBOX}?token={ALICE}", timeout=10) as page:
        html = page.read().decode()
        csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "http" not in html  # nothing from outside: the page's assets are this package's
    for asset in ("inbox.js", "inbox.css"):
        assert f"/gatewidgets/inbox/static/{asset}?v=" in html
        with urllib.request.urlopen(f"{server.url}{INBOX}/static/{asset}", timeout=10) as response:
            assert response.status == 200 and not re.search(rb"https?:|url\(|@import", response.read())


def test_events_stream_the_changes(server: Server) -> None:
    ex = waiting(for_both, "release", a=7)
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=20)
    conn.request("GET", f"{INBOX}/api/events", headers={"Authorization": f"token {ALICE}"})
    response = conn.getresponse()
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    assert response.readline() == b"retry: 3000\n"
    seen: list[Any] = []

    def read() -> None:
        for line in response:
            if line.startswith(b"data: "):
                seen.extend(json.loads(line[6:]))
                if any(c["signal"] == "release" and c["execution"] == ex.name for c in seen):
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        status, _ = call(server, "POST", f"/gatewidgets/api/signals/default/development/{ex.name}/release/approve",
                         {}, token=BOB)
        assert status == 200
        reader.join(timeout=20)
        assert {"execution": ex.name, "signal": "release", "event": "approved", "state": "PENDING",
                "project": "default", "domain": "development"} in seen
    finally:
        conn.close()


def open_stream(server: Server, token: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """An inbox event stream of the user of ``token``: the connection and its response."""
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=20)
    conn.request("GET", f"{INBOX}/api/events", headers={"Authorization": f"token {token}"})
    return conn, conn.getresponse()


def test_a_stream_past_the_limit_is_refused_until_one_closes(tmp_path: Path) -> None:
    with running_users_server(tmp_path, {"alice": ALICE}) as server:
        conns: list[http.client.HTTPConnection] = []
        try:
            for _ in range(MAX_STREAMS):
                conn, response = open_stream(server, ALICE)
                conns.append(conn)
                assert response.status == 200 and response.readline() == b"retry: 3000\n"
            conn, response = open_stream(server, ALICE)  # the 65th
            conns.append(conn)
            assert response.status == 503 and json.loads(response.read())["error"] == "TooManyStreams"
            conns.pop(0).close()  # one page goes away: its place is free again

            def reopened() -> bool:
                conn, response = open_stream(server, ALICE)
                conns.append(conn)
                if response.status == 200:
                    return response.readline() == b"retry: 3000\n"
                assert response.status == 503, response.read()
                conn.close()
                return False

            eventually(reopened, timeout=20, interval=0.2, what="a freed place for a stream")
        finally:
            for conn in conns:
                conn.close()


def test_streams_requested_at_once_still_count_against_the_limit(tmp_path: Path) -> None:
    """Requests sent together, before any answer is read, each take their place before the server awaits anything:
    no more than the limit are streamed."""
    with running_users_server(tmp_path, {"alice": ALICE}) as server:
        url = urlsplit(server.url)
        conns = [http.client.HTTPConnection(url.hostname, url.port, timeout=30) for _ in range(MAX_STREAMS + 40)]
        try:
            for conn in conns:
                conn.request("GET", f"{INBOX}/api/events", headers={"Authorization": f"token {ALICE}"})
            codes = [conn.getresponse().status for conn in conns]
            assert codes.count(200) == MAX_STREAMS and codes.count(503) == 40, codes
        finally:
            for conn in conns:
                conn.close()


def test_a_stream_ends_after_its_configured_lifetime_and_frees_its_place(tmp_path: Path) -> None:
    with running_users_server(tmp_path, {"alice": ALICE}, "--GateWidgets.inbox_stream_seconds=1") as server:
        for _ in range(2):  # the stream that ended no longer counts: the next one opens
            started = time.monotonic()
            conn, response = open_stream(server, ALICE)
            try:
                assert response.status == 200 and response.readline() == b"retry: 3000\n"
                while response.readline():  # a keep-alive comes every 15 s while the stream stays open
                    assert time.monotonic() - started < 10, "the stream outlived its lifetime"
            finally:
                conn.close()
            assert 0.9 < time.monotonic() - started < 10


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_routes_are_under_the_base_url() -> None:
    patterns = [route[0] for route in inbox_routes("/user/alice/")]
    assert all(p.startswith("/user/alice/gatewidgets/inbox") for p in patterns)


def test_a_stream_that_falls_behind_is_told_to_reload() -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue(3)
    for n in range(4):
        _Feed.put(queue, [{"n": n}])
    assert queue.qsize() == 1 and queue.get_nowait() is None


def test_star_lists_the_decisions_of_every_project_and_domain(server: Server) -> None:
    here = waiting(for_alice, "pay", a=11)
    ex = for_alice.launch(a=12, project="finance", domain="production")
    eventually(lambda: GateRemote.for_sandbox().get_signal("pay", ex.name, "finance", "production").state
               is SignalState.PENDING, timeout=30, what="pay in finance/production to wait")
    assert f"finance/production/{ex.name}/pay" not in keys(server, ALICE)  # the server's default scope
    everywhere = keys(server, ALICE, "?project=*&domain=*")
    assert f"finance/production/{ex.name}/pay" in everywhere and f"default/development/{here.name}/pay" in everywhere
    assert f"finance/production/{ex.name}/pay" in keys(server, ALICE, "?project=finance&domain=*")
    assert f"finance/production/{ex.name}/pay" not in keys(server, BOB, "?project=*&domain=*")  # alice's only
    status, data = call(server, "GET", f"{INBOX}/api/items?project=fin%20ance", token=ALICE)
    assert status == 400 and data["error"] == "InvalidNameError"
