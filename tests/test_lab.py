"""``gatewidgets lab``: copies the tutorials (missing files only) and serves them, as root or not."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from gatewidgets.lab import copy_tutorials, tutorials_dir

REPO = Path(__file__).resolve().parent.parent


def test_tutorials_are_found_in_a_checkout() -> None:
    assert tutorials_dir() == REPO / "notebooks"


def test_copy_keeps_a_users_edits_and_never_touches_the_source(tmp_path: Path) -> None:
    source = tutorials_dir()
    before = {p: p.read_bytes() for p in source.glob("*.ipynb")}
    copied, kept = copy_tutorials(source, tmp_path)
    assert kept == [] and len(copied) == len(before) + len(list((source / "data").iterdir()))
    edited = sorted(tmp_path.glob("*.ipynb"))[0]
    edited.write_text("mine")
    gone = sorted(tmp_path.glob("*.ipynb"))[1]
    gone.unlink()
    copied, kept = copy_tutorials(source, tmp_path)
    assert copied == [gone] and edited in kept
    assert edited.read_text() == "mine"
    assert {p: p.read_bytes() for p in source.glob("*.ipynb")} == before


@pytest.mark.timeout(200)
def test_lab_prints_the_url_and_serves_the_tutorials(tmp_path: Path) -> None:
    pytest.importorskip("jupyterlab")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), PYTHONPATH=str(REPO))
    work = tmp_path / "tutorials"
    proc = subprocess.Popen([sys.executable, "-m", "gatewidgets", "lab", "--no-browser", "--port", str(port),
                             "--dir", str(work)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "Open http" in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert found.wait(150), "".join(lines[-40:])
        text = "".join(lines)
        assert re.search(r"Tutorials in .*: copied \d+ files", text)
        assert ("Running as root: starting Jupyter with --allow-root." in text) == (os.geteuid() == 0)
        url = re.search(r"Open (http://localhost:\d+/lab/tree/(\S+)\?token=(\w+))", text)
        assert url is not None, text
        first = sorted(p.name for p in tutorials_dir().glob("*.ipynb"))[0]
        assert url.group(2) == first
        with urllib.request.urlopen(url.group(1), timeout=30) as page:
            assert page.status == 200
        api = f"http://localhost:{port}/api/contents/{first}?token={url.group(3)}"
        with urllib.request.urlopen(api, timeout=30) as reply:
            assert json.load(reply)["content"]["cells"]
        assert (work / first).read_bytes() == (tutorials_dir() / first).read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
