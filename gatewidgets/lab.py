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
from pathlib import Path

__all__ = ["tutorials_dir", "copy_tutorials", "run"]

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
    port = args.port or _free_port(args.ip)
    token = secrets.token_hex(24)
    command = [sys.executable, "-m", module, f"--ip={args.ip}", f"--port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={target}"]
    if args.no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
        print("Running as root: starting Jupyter with --allow-root.", flush=True)
    env = dict(os.environ)
    env.pop("JUPYTER_TOKEN", None)
    proc = subprocess.Popen(command, cwd=target, env=env)
    forward = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        host = "localhost" if args.ip in ("127.0.0.1", "localhost", "0.0.0.0") else args.ip
        base = f"http://{host}:{port}"
        if not _wait_ready(proc, f"http://127.0.0.1:{port}" if args.ip == "0.0.0.0" else base, token):
            print(f"gatewidgets: {module} did not start (exit {proc.poll()}); see its messages above.", file=sys.stderr)
            return 1
        first = sorted(p.name for p in target.glob("*.ipynb"))[0]
        print(f"\n    Open {base}{page.format(first)}?token={token}\n", flush=True)
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # Jupyter got it too and asks whether to shut down
                continue
    finally:
        signal.signal(signal.SIGTERM, forward)
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def _wait_ready(proc: subprocess.Popen[bytes], base: str, token: str) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                return True
        except OSError:
            time.sleep(0.25)
    return False

