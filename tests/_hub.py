"""A real JupyterHub with ``gatewidgets hub-service``: two hub users, their own single-user servers, one store.

``running_hub(folder, proxy, store_url)`` starts the hub (pip ``jupyterhub``) with its proxy
(``configurable-http-proxy`` from the npm registry: :func:`proxy_command` installs it once into ``.cache/``),
the dummy authenticator (alice and bob, one password), the simple local spawner and the service, every process
on 127.0.0.1 and the store the database ``store_url``. :func:`launch_gate` starts alice's server through the
hub's REST API and launches, in a kernel there, a gate only the hub group ``reviewers`` may answer, without
self-approval; :func:`in_kernel` runs more code in that kernel.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from _jupyter_server import _free_port
from _procs import stop
from helpers import eventually
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

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


@contextmanager
def running_hub(folder: Path, proxy: str, store_url: str) -> Iterator[Hub]:
    """A JupyterHub on 127.0.0.1 with the gatewidgets service, two users and the store ``store_url``."""
    port, admin_token = _free_port(), secrets.token_hex(16)
    service_url = f"http://127.0.0.1:{_free_port()}"
    store_env = {"GATEWIDGETS_STORE": store_url}
    service_config = folder / "gatewidgets_service_config.py"  # the service's own Jupyter config
    service_config.write_text(f"c.GateWidgets.max_upload_bytes = {MAX_UPLOAD}\n")
    config = {
        "JupyterHub": {
            "ip": "127.0.0.1", "port": port, "hub_ip": "127.0.0.1", "hub_port": _free_port(),
            "db_url": f"sqlite:///{folder / 'hub.sqlite'}", "cookie_secret_file": str(folder / "cookie_secret"),
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
        "ConfigurableHTTPProxy": {"command": [proxy], "api_url": f"http://127.0.0.1:{_free_port()}"},
        "Authenticator": {"allowed_users": ["alice", "bob"]},
        "DummyAuthenticator": {"password": PASSWORD},
        "SimpleLocalProcessSpawner": {"home_dir_template": str(folder / "home" / "{username}")},
        "Spawner": {"cmd": [sys.executable, "-m", "jupyterhub.singleuser"], "args": ["--allow-root"],
                    "environment": store_env, "start_timeout": TIMEOUT, "http_timeout": TIMEOUT},
    }
    (folder / "jupyterhub_config.json").write_text(json.dumps(config))
    log = folder / "hub.log"
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))  # reaches the spawned servers
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(folder / "jupyterhub_config.json")],
                                cwd=folder, stdout=out, stderr=subprocess.STDOUT,
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
        stop(proc, grace=60)  # on SIGTERM the hub stops the single-user servers, the service and its proxy


@dataclass
class Kernel:
    """A kernel in a hub user's own server, reached through the hub's proxy with the user's API token."""

    server: str
    token: str
    id: str


def launch_gate(hub: Hub) -> tuple[Kernel, str]:
    """Start alice's server, a kernel in it, and :data:`LAUNCH` there: her kernel and the waiting execution."""
    started = hub.api("POST", "/users/alice/server")
    assert started.status_code in (201, 202), started.text
    eventually(lambda: (hub.api("GET", "/users/alice").json()["servers"].get("") or {}).get("ready"),
               timeout=TIMEOUT, interval=0.5, what="alice's server")
    token = hub.api("POST", "/users/alice/tokens", json={"expires_in": 3600}).json()["token"]
    server = f"{hub.url}/user/alice"
    created = requests.post(f"{server}/api/kernels", json={"name": "python3"}, timeout=60,
                            headers={"Authorization": f"token {token}"})
    assert created.status_code == 201, created.text
    kernel = Kernel(server, token, created.json()["id"])
    launched = in_kernel(kernel, LAUNCH)
    name = re.search(r"EXECUTION (\S+) RUNNING", launched)
    assert name, launched
    return kernel, name.group(1)


def in_kernel(kernel: Kernel, code: str, timeout: float = 90) -> str:
    """Execute ``code`` in ``kernel`` over its websocket; return its stdout (an error fails the test). Runs in a
    thread of its own, so it also works while Playwright's sync API holds the main thread's event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _execute(kernel, code, timeout)).result(timeout=timeout + 30)


async def _execute(kernel: Kernel, code: str, timeout: float) -> str:
    ws_url = re.sub("^http", "ws", kernel.server) + f"/api/kernels/{kernel.id}/channels"
    ws = await asyncio.wait_for(
        websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {kernel.token}"})), timeout)
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
