"""Helpers for tests that drive other processes: a workflow waiting in another process."""
from __future__ import annotations

import secrets
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from helpers import eventually

WAITING_WORKFLOW = Path(__file__).with_name("_waiting_workflow.py")


def start_waiting_workflow(name: str, a: int = 3, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``_waiting_workflow.py`` in another process (the caller stops it in ``finally``)."""
    return subprocess.Popen([sys.executable, str(WAITING_WORKFLOW), name, str(a)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def stop(proc: subprocess.Popen[Any]) -> None:
    """Terminate ``proc`` if it still runs, and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def waiting_execution(prefix: str, a: int) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A ``_waiting_workflow.py`` execution waiting at its gate ``go`` in another process."""
    from gatewidgets import GateRemote, SignalState

    name = f"{prefix}-{secrets.token_hex(3)}"
    proc = start_waiting_workflow(name, a=a)
    try:
        remote = GateRemote.for_sandbox()
        eventually(lambda: remote.get_signal("go", name).state is SignalState.PENDING, timeout=30,
                   what="the gate 'go' to wait")
        yield name, proc
    finally:
        stop(proc)
