"""``gatewidgets hub-service`` in a real JupyterHub: two hub users, their own single-user servers, one shared store.

The hub (pip ``jupyterhub``) runs with its proxy (``configurable-http-proxy`` from the npm registry, installed
once per session into ``.cache/``), the dummy authenticator (alice and bob, one password), the simple local
spawner and the service, every process on 127.0.0.1 and the store a PostgreSQL database. Alice's kernel, in
her own server started through the hub's REST API, launches a gate only a hub group may answer, without
self-approval; bob logs in to the hub with his password, follows the OAuth redirects into the service and
approves over its API; alice, logged in the same way, is refused; her kernel sees the workflow finish.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from _hub import FINISH, MAX_UPLOAD, PASSWORD, SERVICE, Hub, in_kernel, launch_gate, proxy_command, running_hub
from _postgres import PostgresServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> Iterator[Hub]:
    """The hub of this module's tests, with the store a fresh database of ``postgres_server``."""
    with running_hub(tmp_path_factory.mktemp("hub"), proxy_command(), postgres_server.new_database()) as running:
        yield running


def logged_in(hub: Hub, user: str) -> requests.Session:
    """A browser-like session of ``user``: the service's front page, the hub's login form, the OAuth redirects
    back into the service (its cookie); the session ends on the page the service sends a logged-in user to."""
    session = requests.Session()
    form = session.get(f"{hub.url}/services/{SERVICE}/", timeout=30)
    assert form.status_code == 200 and "/hub/login" in form.url, (form.status_code, form.url)
    landed = session.post(form.url, timeout=30, data={"username": user, "password": PASSWORD,
                                                      "_xsrf": session.cookies.get("_xsrf", path="/hub/")})
    assert landed.status_code == 200, (landed.status_code, landed.url, landed.text[:500])
    pages = (f"{hub.url}/services/{SERVICE}/gatewidgets/inbox", f"{hub.url}/services/{SERVICE}/gatewidgets/api/signals")
    assert landed.url.startswith(pages), landed.url
    assert any(r.status_code == 302 and "/oauth_callback" in r.url for r in landed.history), landed.history
    return session


def service(session: requests.Session, hub: Hub, method: str, path: str, body: Any = None,
            data: bytes | None = None) -> requests.Response:
    """A call to the service's API in ``session``, with its XSRF cookie echoed as a header (as its pages do)."""
    xsrf = session.cookies.get("_xsrf", path=f"/services/{SERVICE}/") or ""
    return session.request(method, f"{hub.url}/services/{SERVICE}/gatewidgets/api{path}", json=body, data=data,
                           timeout=30, headers={"X-XSRFToken": xsrf})


def test_a_hub_user_approves_another_users_gate_in_the_service(hub: Hub) -> None:
    kernel, execution = launch_gate(hub)  # alice's own server, started by the hub, a kernel in it, her gate

    anonymous = requests.get(f"{hub.url}/services/{SERVICE}/gatewidgets/api/signals", timeout=30)
    assert anonymous.status_code == 403, anonymous.text
    bob, alice = logged_in(hub, "bob"), logged_in(hub, "alice")
    for api in ("kernels", "contents", "terminals", "sessions"):  # the service runs no code and serves no files
        assert bob.get(f"{hub.url}/services/{SERVICE}/api/{api}", timeout=30).status_code == 404, api
    assert bob.get(f"{hub.url}/services/{SERVICE}/api/me", timeout=30).json()["identity"]["username"] == "bob"
    too_big = service(bob, hub, "PUT", "/files/notes.txt", data=b"x" * (MAX_UPLOAD + 1))  # --config reached it
    assert too_big.status_code == 413, too_big.text
    assert service(bob, hub, "PUT", "/files/notes.txt", data=b"x" * MAX_UPLOAD).status_code == 201
    scripted = requests.get(f"{hub.url}/services/{SERVICE}/gatewidgets/api/signals?execution={execution}",
                            headers={"Authorization": f"token {kernel.token}"}, timeout=30)
    assert [s["signal_id"] for s in scripted.json()["signals"]] == ["publish"], scripted.text
    listed = service(bob, hub, "GET", f"/signals?execution={execution}&state=PENDING")
    assert listed.status_code == 200, listed.text
    [gate] = listed.json()["signals"]
    project, domain = gate["execution"]["project"], gate["execution"]["domain"]
    path = f"/signals/{project}/{domain}/{execution}/publish"
    for_bob = service(bob, hub, "GET", path).json()
    assert for_bob["state"] == "PENDING" and for_bob["decision"]["may_answer"] is True, for_bob
    assert for_bob["decision"]["launched_by"] == {"user": "alice", "source": "hub-env"}
    mine = {user: [s["signal_id"] for s in service(session, hub, "GET", f"/signals?execution={execution}&for=me")
                   .json()["signals"]] for user, session in (("bob", bob), ("alice", alice))}
    assert mine == {"bob": ["publish"], "alice": []}

    # the launcher may not approve her own gate: 403, and the signal is as it was
    before = service(alice, hub, "GET", path).json()
    assert before["decision"]["may_answer"] is False and "self-approval is off" in before["decision"]["why_not"]
    refused = service(alice, hub, "POST", f"{path}/approve", {"comment": "mine"})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "GateForbiddenError"
    assert "alice launched this execution and self-approval is off" in refused.json()["message"]
    assert service(alice, hub, "GET", path).json() == before

    # bob answers as the hub user he logged in as, allowed by his hub group
    approved = service(bob, hub, "POST", f"{path}/approve", {"comment": "looks right"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "SET"

    finished = in_kernel(kernel, FINISH)
    assert "OUTPUTS q3 report SUCCEEDED" in finished, finished

    history = service(bob, hub, "GET", f"/executions/{project}/{domain}/{execution}/history").json()
    events = [(e["event"], e.get("set_by"), (e.get("detail") or {}).get("identity_source")) for e in history["events"]]
    assert ("refused", "alice", "hub") in events, events
    assert ("set", "bob", "hub") in events, events
    assert not any(e[0] == "set" and e[1] == "alice" for e in events), events
