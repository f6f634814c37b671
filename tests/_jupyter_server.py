"""A real ``jupyter server`` subprocess on 127.0.0.1 for the server and HTTP-client tests.

The fixtures built on it (``server``, ``waiting``, ``waiting_files``) are in ``tests/conftest.py``;
test modules import only ``Server`` (for annotations), ``call``, ``running_server`` and ``_free_port`` (a free
port on 127.0.0.1) from here.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _procs import stop
from helpers import eventually


@dataclass
class Server:
    url: str
    token: str
    store: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(root: Path, *args: str, store: str | None = None,
                   env: Mapping[str, str] | None = None) -> Iterator[Server]:
    """A ``jupyter server`` on 127.0.0.1 with its store in ``root`` (or ``store``, a database URL), extra
    command-line ``args`` and extra environment variables ``env``."""
    store = store or str(root / "gates.db")
    port, token = _free_port(), secrets.token_hex(12)
    env = {**os.environ, **(env or {}), "GATEWIDGETS_STORE": str(store), "JUPYTER_RUNTIME_DIR": str(root / "runtime")}
    log = open(root / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--allow-root", *args], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            assert proc.poll() is None, (root / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        eventually(up, timeout=60, what="the Jupyter server")
        yield Server(url, token, Path(store))  # a URL: use it as ``str(server.store)``
    finally:
        stop(proc)
        log.close()


def call(server: Server, method: str, path: str, body: Any = None, token: str | None = "default",
         timeout: float = 10, headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        headers["Authorization"] = f"token {server.token if token == 'default' else token}"
    data = body if isinstance(body, bytes) else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(server.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw.decode(errors="replace")
