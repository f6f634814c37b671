"""``gatewidgets lab``: the tutorials in JupyterLab (or Notebook 7) from a fresh install, as root or not.

The tutorials are copied into a working folder (default ``~/gatewidgets-tutorials``) so the
installed or checked-out ones are never modified; files already there are kept (a user's
edits win), only missing ones are copied. Where the tutorials come from: a wheel ships them
as package data (``gatewidgets/tutorials/``, force-included from ``notebooks/``); an
editable install or a checkout reads the repository's ``notebooks/`` beside the package.
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["tutorials_dir", "copy_tutorials", "run", "start_server", "JupyterServer"]

HELP = ("Copy the tutorials into a working folder (missing files only) and open them in JupyterLab "
        "(or Notebook 7) with this machine's store; prints the URL.")
APPS = {"lab": ("jupyterlab", "/lab/tree/{}"), "notebook": ("notebook", "/notebooks/{}")}
START_TIMEOUT = 120.0  # s, JupyterLab's first start on a slow machine


def tutorials_dir() -> Path:
    """The tutorials of this installation: package data in a wheel, ``notebooks/`` in a checkout."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "tutorials", package.parent / "notebooks"):
        if any(candidate.glob("*.ipynb")):
            return candidate
    raise FileNotFoundError(f"No tutorials found beside the gatewidgets package ({package}): reinstall it "
                            "from a wheel or a checkout of the repository.")


def copy_tutorials(source: Path, target: Path) -> tuple[list[Path], list[Path]]:
    """Copy the notebooks and their ``data/`` into ``target``, skipping files that exist; return (copied, kept)."""
    copied, kept = [], []
    files = sorted(source.glob("*.ipynb")) + sorted(p for p in (source / "data").rglob("*") if p.is_file())
    for path in files:
        dest = target / path.relative_to(source)
        if dest.exists():
            kept.append(dest)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
        copied.append(dest)
    return copied, kept


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gatewidgets lab``."""
    parser.add_argument("--dir", type=Path, default=Path.home() / "gatewidgets-tutorials",
                        help="working copy of the tutorials (default: ~/gatewidgets-tutorials)")
    parser.add_argument("--app", choices=sorted(APPS), default="lab",
                        help="JupyterLab (lab, the default) or Jupyter Notebook 7 (notebook)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")


def run(args: argparse.Namespace) -> int:
    """Copy the tutorials, start the app on them, print the URL, and wait until the server stops."""
    try:
        source = tutorials_dir()
    except FileNotFoundError as exc:
        print(f"gatewidgets: {exc}", file=sys.stderr)
        return 1
    target = args.dir.expanduser().resolve()
    if target == source.resolve():
        print(f"gatewidgets: --dir is the tutorials' own folder ({source}); choose a working folder.", file=sys.stderr)
        return 2
    copied, kept = copy_tutorials(source, target)
    print(f"Tutorials in {target}: copied {len(copied)} files"
          + (f", kept {len(kept)} already there (yours win; delete one to get it back)." if kept else "."), flush=True)
    module, page = APPS[args.app]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        print("Running as root: starting Jupyter with --allow-root.", flush=True)
    forward = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # stops the server below
    try:
        server = start_server(target, module=module, ip=args.ip, port=args.port, open_browser=not args.no_browser)
    except RuntimeError as exc:
        print(f"gatewidgets: {exc}", file=sys.stderr)
        return 1
    try:
        first = sorted(p.name for p in target.glob("*.ipynb"))[0]
        print(f"\n    Open {server.url(page.format(first))}\n", flush=True)
        while True:
            try:
                return server.process.wait()
            except KeyboardInterrupt:  # Jupyter got it too and asks whether to shut down
                continue
    finally:
        signal.signal(signal.SIGTERM, forward)
        server.stop()


@dataclass
class JupyterServer:
    """A Jupyter server started by :func:`start_server`; ``stop()`` ends it."""

    process: subprocess.Popen[bytes]
    base_url: str
    token: str

    def url(self, path: str = "/") -> str:
        """The URL of ``path`` with the token."""
        return f"{self.base_url}/{path.lstrip('/')}?token={self.token}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def start_server(root_dir: Path | str, *, module: str = "jupyter_server", ip: str = "127.0.0.1", port: int = 0,
                 open_browser: bool = False, **popen: Any) -> JupyterServer:
    """Start ``python -m module`` (``jupyter_server``, ``jupyterlab`` or ``notebook``) on ``root_dir`` with a
    fresh token, adding ``--allow-root`` only as root; return once it answers (``RuntimeError`` if it does not)."""
    port = port or _free_port(ip)
    token = secrets.token_hex(24)
    command = [sys.executable, "-m", module, f"--ip={ip}", f"--port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}"]
    if not open_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    env = {k: v for k, v in popen.pop("env", os.environ).items() if k != "JUPYTER_TOKEN"}
    process = subprocess.Popen(command, cwd=root_dir, env=env, **popen)
    host = "localhost" if ip in ("127.0.0.1", "localhost", "0.0.0.0") else ip
    server = JupyterServer(process, f"http://{host}:{port}", token)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while process.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(server.url("/api/status"), timeout=2):
                    return server
            except OSError:
                time.sleep(0.25)
    except BaseException:  # e.g. Ctrl-C while it starts: never leave it behind
        server.stop()
        raise
    server.stop()
    raise RuntimeError(f"{module} did not answer on {server.base_url} within {START_TIMEOUT:.0f} s "
                       f"(exit code {process.returncode}); see its messages.")


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        port: int = s.getsockname()[1]  # the address is typed Any
        return port
