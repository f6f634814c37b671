"""Helpers for tests that drive other processes: a workflow waiting in another process."""
from __future__ import annotations

import json
import secrets
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from helpers import eventually

WAITING_WORKFLOW = Path(__file__).with_name("_waiting_workflow.py")
FILE_WORKFLOW = Path(__file__).with_name("_file_workflow.py")


def start_waiting_workflow(name: str, a: int = 3, env: dict[str, str] | None = None,
                           script: Path = WAITING_WORKFLOW) -> subprocess.Popen[str]:
    """Start ``script`` (``_waiting_workflow.py``) in another process (the caller stops it in ``finally``)."""
    return subprocess.Popen([sys.executable, str(script), name, str(a)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def stop(proc: subprocess.Popen[Any], grace: float = 10) -> None:
    """Terminate ``proc`` if it still runs (SIGTERM, SIGKILL after ``grace`` seconds), and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def waiting_execution(prefix: str, a: int, script: Path = WAITING_WORKFLOW,
                      signal: str = "go") -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A ``script`` (``_waiting_workflow.py``) execution waiting at its gate ``signal`` in another process."""
    from gatewidgets import GateRemote, SignalState

    name = f"{prefix}-{secrets.token_hex(3)}"
    proc = start_waiting_workflow(name, a=a, script=script)
    try:
        remote = GateRemote.for_sandbox()
        eventually(lambda: remote.get_signal(signal, name).state is SignalState.PENDING, timeout=30,
                   what=f"the gate {signal!r} to wait")
        yield name, proc
    finally:
        stop(proc)


def released_together(commands: Sequence[Sequence[str]], sync: Path, timeout: float = 90) -> list[dict[str, Any]]:
    """Run each command (a helper script that writes ``sync/ready-*``, then waits for ``sync/go``) in a process
    of its own, release them all at once, and return the JSON each printed last, in order."""
    sync.mkdir()
    procs = [subprocess.Popen([sys.executable, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for command in commands]
    try:
        eventually(lambda: len(list(sync.glob("ready-*"))) == len(procs), 120, what="every process ready")
        (sync / "go").touch()
        reports = []
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, stderr
            reports.append(json.loads(stdout.splitlines()[-1]))
        return reports
    finally:
        for proc in procs:
            stop(proc)
