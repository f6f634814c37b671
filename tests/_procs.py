"""Helpers for tests that drive other processes: a waiting workflow, polling with a deadline."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

WAITING_WORKFLOW = Path(__file__).with_name("_waiting_workflow.py")


def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``check()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except LookupError:  # not created yet
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


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
