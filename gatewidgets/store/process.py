"""Whether the process that owns an execution still runs: its pid and, on Linux, which process holds it.

A pid alone misleads: a dead owner stays a zombie until its parent reaps it, its pid may be reused
by another process, and pids start over after a reboot. On Linux an owner is therefore recorded
with its start time (field 22 of ``/proc/<pid>/stat``, clock ticks since boot) and the boot id
(``/proc/sys/kernel/random/boot_id``): it is alive while a process with that pid, start time and
boot id runs and is not a zombie. Without ``/proc`` (macOS, Windows), or for an owner recorded
without them (stores before these columns), only the pid is checked.
"""
from __future__ import annotations

import functools
import os

__all__ = ["identity", "own_identity", "alive", "pid_namespace"]

_PROC = "/proc"
_GONE = ("Z", "X")  # /proc states of a process that has exited (zombie, dead)


@functools.cache
def _boot_id() -> str | None:
    """This boot's id (the same for every process until the machine restarts); ``None`` without ``/proc``."""
    try:
        with open(f"{_PROC}/sys/kernel/random/boot_id") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _stat(pid: int) -> tuple[str, int] | None:
    """``(state, start time)`` of ``pid`` from ``/proc/<pid>/stat``; ``None`` if it cannot be read."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            text = f.read()
        fields = text[text.rindex(b")") + 2:].split()  # after the command name, which may hold spaces and ")"
        return fields[0].decode(), int(fields[19])  # fields 3 (state) and 22 (start time)
    except (OSError, ValueError, IndexError):
        return None


def identity(pid: int) -> tuple[int | None, str | None]:
    """``(start time, boot id)`` of the running process ``pid``; ``(None, None)`` where ``/proc`` cannot tell."""
    stat, boot = _stat(pid), _boot_id()
    return (stat[1], boot) if stat is not None and boot is not None else (None, None)


@functools.lru_cache(maxsize=4)
def _identity_of(pid: int) -> tuple[int | None, str | None]:
    return identity(pid)


def pid_namespace(pid: int | None = None) -> str | None:
    """The pid namespace of ``pid`` (default: this process), such as ``pid:[4026531836]``: a pid names one process
    only within its namespace (a container has its own); ``None`` where ``/proc`` cannot tell."""
    try:
        return os.readlink(f"{_PROC}/{pid if pid is not None else 'self'}/ns/pid")
    except OSError:
        return None


def own_identity() -> tuple[int | None, str | None]:
    """:func:`identity` of this process, read once (per pid: a forked child reads its own)."""
    return _identity_of(os.getpid())


def alive(pid: int, started: int | None = None, boot: str | None = None) -> bool:
    """Whether ``pid`` runs, is no zombie and, where recorded, is the process started at ``started``
    (clock ticks since boot) in boot ``boot``."""
    if pid <= 0:  # 0 and negative numbers name process groups, never an owner
        return False
    if pid != os.getpid():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process: it exists
            pass
    if boot is not None and _boot_id() not in (None, boot):  # recorded before the machine restarted
        return False
    stat = _stat(pid)
    if stat is None:  # no /proc, or it hides the process: the pid is all we know
        return True
    state, start = stat
    return state not in _GONE and (started is None or start == started)
