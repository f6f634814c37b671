"""Folders and files only their user may use: every folder gatewidgets makes is 0700 and every file 0600,
whatever the umask (it is set exactly, not asked of ``os.mkdir``), whether or not the parent existed.

A file or folder made this way never has more permissions than that at any moment: a umask can only
take bits away from 0700 / 0600, and the mode is then set to exactly that.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile

__all__ = ["FOLDER_MODE", "FILE_MODE", "make_folders", "open_file", "temp_file", "is_private"]

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def make_folders(path: str | os.PathLike[str]) -> None:
    """``os.makedirs(path, exist_ok=True)``, giving every folder it creates mode 0700; existing ones stay as
    they are (they may not be gatewidgets')."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        return
    make_folders(os.path.dirname(path))
    try:
        os.mkdir(path, FOLDER_MODE)
    except FileExistsError:
        return  # made meanwhile by another process (or a file: the caller's next step says so)
    with contextlib.suppress(OSError):  # a file system without modes (FAT, some network shares)
        os.chmod(path, FOLDER_MODE)


def open_file(path: str | os.PathLike[str], flags: int) -> int:
    """``os.open(path, flags)``; a file it creates (``O_CREAT``) gets mode 0600. The file descriptor."""
    fd = os.open(path, flags, FILE_MODE)
    if flags & os.O_CREAT:
        _exact(fd)
    return fd


def temp_file(folder: str | os.PathLike[str], prefix: str) -> tuple[int, str]:
    """A new file in ``folder`` (created 0700 if missing), mode 0600: ``(fd, path)``, as ``tempfile.mkstemp``."""
    make_folders(folder)
    fd, path = tempfile.mkstemp(dir=folder, prefix=prefix)
    _exact(fd)
    return fd, path


def is_private(info: os.stat_result) -> bool:
    """Whether a file or folder (its ``lstat`` / ``fstat``) belongs to this process's user and no one else
    may use it (no group or other permission bits); always true where there are no POSIX owners (Windows)."""
    if os.name != "posix":
        return True
    return info.st_uid == os.geteuid() and not stat.S_IMODE(info.st_mode) & 0o077


def _exact(fd: int) -> None:
    with contextlib.suppress(OSError):  # a file system without modes (FAT, some network shares)
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
