"""``gatewidgets hub-service`` in a real JupyterHub: two hub users, their own single-user servers, one shared store.

The hub (pip ``jupyterhub``) runs with its proxy (``configurable-http-proxy`` from the npm registry, installed
once per session into ``.cache/``), the dummy authenticator (alice and bob, one password), the simple local
spawner and the service, every process on 127.0.0.1 and the store a PostgreSQL database. Alice's kernel, in
her own server started through the hub's REST API, launches a gate only a hub group may answer, without
self-approval; bob logs in to the hub with his password, follows the OAuth redirects into the service and
approves over its API; alice, logged in the same way, is refused; her kernel sees the workflow finish.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from _jupyter_server import _free_port
from helpers import eventually
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "hub-test-password"
SERVICE = "gatewidgets"
MAX_UPLOAD = 64  # bytes, the service's c.GateWidgets setting
TIMEOUT = 120  # s: the hub, its proxy, the service and a single-user server starting on a busy machine

LAUNCH = """
from datetime import timedelta
from gatewidgets import approve, task, workflow

@task
def quarter() -> str:
    return "q3 report"

@workflow
def publish() -> str:
    return approve(quarter(), "publish", timeout=timedelta(minutes=10), assignees=["@reviewers"],
                   self_approval=False, verified=True)

ex = publish.launch()
ex.reached("publish").wait(timeout=60)
print("EXECUTION", ex.name, ex.status.value)
"""
FINISH = 'print("OUTPUTS", ex.wait(timeout=60), ex.status.value)'


@pytest.fixture(scope="session")
def proxy_command() -> str:
    """``configurable-http-proxy`` from the npm registry, installed once into the repository's ``.cache/``."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: install Node.js and npm (Debian: apt-get install nodejs npm)")
    prefix = REPO / ".cache" / "configurable-http-proxy"
    command = prefix / "node_modules" / ".bin" / "configurable-http-proxy"
    if not command.exists():
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), "configurable-http-proxy"],
                       check=True, timeout=300, capture_output=True)
    return str(command)


@dataclass
class Hub:
    url: str
    admin_token: str
    log: Path

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The hub's REST API with the admin service's token."""
        return requests.request(method, f"{self.url}/hub/api{path}", timeout=30,
                                headers={"Authorization": f"token {self.admin_token}"}, **kwargs)


@pytest.fixture
def hub(tmp_path: Path, proxy_command: str, postgres_url: str) -> Iterator[Hub]:
    """A JupyterHub on 127.0.0.1 with the gatewidgets service, two users and the store in ``postgres_url``."""
    port, admin_token = _free_port(), secrets.token_hex(16)
    service_url = f"http://127.0.0.1:{_free_port()}"
    store_env = {"GATEWIDGETS_STORE": postgres_url}
    service_config = tmp_path / "gatewidgets_service_config.py"  # the service's own Jupyter config
    service_config.write_text(f"c.GateWidgets.max_upload_bytes = {MAX_UPLOAD}\n")
    config = {
        "JupyterHub": {
            "ip": "127.0.0.1", "port": port, "hub_ip": "127.0.0.1", "hub_port": _free_port(),
            "db_url": f"sqlite:///{tmp_path / 'hub.sqlite'}", "cookie_secret_file": str(tmp_path / "cookie_secret"),
            "authenticator_class": "dummy", "spawner_class": "simple",
            "load_groups": {"reviewers": {"users": ["alice", "bob"]}},
            "services": [
                {"name": SERVICE, "url": service_url, "oauth_no_confirm": True, "environment": store_env,
                 "command": [sys.executable, "-m", "gatewidgets", "hub-service", "--config", str(service_config)]},
                {"name": "test-admin", "api_token": admin_token},
            ],
            "load_roles": [
                {"name": "user", "scopes": ["self", f"access:services!service={SERVICE}"]},
                {"name": "test-admin", "services": ["test-admin"],
                 "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"]},
            ],
        },
        "ConfigurableHTTPProxy": {"command": [proxy_command], "api_url": f"http://127.0.0.1:{_free_port()}"},
        "Authenticator": {"allowed_users": ["alice", "bob"]},
        "DummyAuthenticator": {"password": PASSWORD},
        "SimpleLocalProcessSpawner": {"home_dir_template": str(tmp_path / "home" / "{username}")},
        "Spawner": {"cmd": [sys.executable, "-m", "jupyterhub.singleuser"], "args": ["--allow-root"],
                    "environment": store_env, "start_timeout": TIMEOUT, "http_timeout": TIMEOUT},
    }
    (tmp_path / "jupyterhub_config.json").write_text(json.dumps(config))
    log = tmp_path / "hub.log"
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))  # reaches the spawned servers
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(tmp_path / "jupyterhub_config.json")],
                                cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONPATH=path))
    running = Hub(f"http://127.0.0.1:{port}", admin_token, log)
    try:
        def up(path: str) -> bool:  # a JSON answer of the hub's API, or of the service's (not the hub's 404 page)
            assert proc.poll() is None, log.read_text()[-5000:]
            try:
                answer = requests.get(running.url + path, timeout=5, allow_redirects=False)
            except requests.ConnectionError:
                return False
            return answer.status_code == 200 and "version" in answer.json()

        eventually(lambda: up("/hub/api/"), timeout=TIMEOUT, interval=0.5, what="the hub")
        eventually(lambda: up(f"/services/{SERVICE}/api"), timeout=TIMEOUT, interval=0.5, what="the service")
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)  # the hub stops the single-user servers, the service and its proxy
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


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


async def run_in_kernel(base: str, token: str, kernel: str, code: str, timeout: float = 90) -> str:
    """Execute ``code`` in ``kernel`` over its websocket; return its stdout (an error fails the test)."""
    ws_url = re.sub("^http", "ws", base) + f"/api/kernels/{kernel}/channels"
    ws = await asyncio.wait_for(websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {token}"})),
                                timeout)
    msg_id = uuid.uuid4().hex
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "", "session": uuid.uuid4().hex,
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))
    out: list[str] = []
    try:
        while True:
            raw = await asyncio.wait_for(ws.read_message(), timeout)
            assert raw is not None, "the kernel's websocket closed"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                pytest.fail("the kernel raised: " + "\n".join(msg["content"]["traceback"]))
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out)
    finally:
        ws.close()


def test_a_hub_user_approves_another_users_gate_in_the_service(hub: Hub) -> None:
    # alice's own server, started by the hub, and a kernel in it
    assert hub.api("POST", "/users/alice/server").status_code in (201, 202)
    eventually(lambda: (hub.api("GET", "/users/alice").json()["servers"].get("") or {}).get("ready"),
               timeout=TIMEOUT, interval=0.5, what="alice's server")
    alice_token = hub.api("POST", "/users/alice/tokens", json={"expires_in": 3600}).json()["token"]
    alice_server = f"{hub.url}/user/alice"
    kernel = requests.post(f"{alice_server}/api/kernels", json={"name": "python3"}, timeout=60,
                           headers={"Authorization": f"token {alice_token}"})
    assert kernel.status_code == 201, kernel.text
    launched = asyncio.run(run_in_kernel(alice_server, alice_token, kernel.json()["id"], LAUNCH))
    name = re.search(r"EXECUTION (\S+) RUNNING", launched)
    assert name, launched
    execution = name.group(1)

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
                            headers={"Authorization": f"token {alice_token}"}, timeout=30)
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

    finished = asyncio.run(run_in_kernel(alice_server, alice_token, kernel.json()["id"], FINISH))
    assert "OUTPUTS q3 report SUCCEEDED" in finished, finished

    history = service(bob, hub, "GET", f"/executions/{project}/{domain}/{execution}/history").json()
    events = [(e["event"], e.get("set_by"), (e.get("detail") or {}).get("identity_source")) for e in history["events"]]
    assert ("refused", "alice", "hub") in events, events
    assert ("set", "bob", "hub") in events, events
    assert not any(e[0] == "set" and e[1] == "alice" for e in events), events
