"""Which local files a value may name, and how big: :func:`file_access` (folders, a size limit),
:func:`also_readable` (single files besides), and the rules every file name and size meets."""
from __future__ import annotations

import contextvars
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from gatewidgets.errors import SignalTypeError

__all__ = ["Access", "also_readable", "check_size", "current", "file_access", "inside", "safe_name"]


@dataclass(frozen=True)
class Access:
    """The folders, single files and size limit that local paths are read under."""

    dirs: tuple[str, ...] | None  # real paths of the folders local paths must be in; None: any
    max_bytes: int | None
    files: frozenset[str] = frozenset()  # real paths of single files readable as well (see also_readable)


_ANY_FILE = Access(None, None)  # outside file_access(): any local file, any size
_access: contextvars.ContextVar[Access] = contextvars.ContextVar("gatewidgets_file_access", default=_ANY_FILE)


@contextmanager
def file_access(allowed_dirs: Sequence[str | os.PathLike[str]] | None = None,
                max_bytes: int | None = None) -> Iterator[None]:
    """Within this block, files are read only from local paths whose real path (symlinks
    resolved) is inside ``allowed_dirs`` (``None``: any path; ``()``: none, uploads only), and
    none larger than ``max_bytes``. Non-regular files (devices, FIFOs, folders) are always refused."""
    dirs = None if allowed_dirs is None else tuple(os.path.realpath(os.fspath(d)) for d in allowed_dirs)
    token = _access.set(Access(dirs, max_bytes))
    try:
        yield
    finally:
        _access.reset(token)


@contextmanager
def also_readable(paths: Iterable[str | os.PathLike[str]]) -> Iterator[None]:
    """Within this block, the local files at ``paths`` may be read too, whatever the folders
    :func:`file_access` allows (files a workflow itself put in a value, named back by a caller);
    the size limit still applies."""
    access = _access.get()
    token = _access.set(replace(
        access, files=access.files | {os.path.realpath(os.fspath(p)) for p in paths}))
    try:
        yield
    finally:
        _access.reset(token)


def current() -> Access:
    """The access in force: what :func:`file_access` and :func:`also_readable` allow here."""
    return _access.get()


def check_size(name: Any, size: int, max_bytes: int | None) -> None:
    """``SignalTypeError`` if ``size`` bytes of file ``name`` are more than ``max_bytes`` (``None``: no limit)."""
    if max_bytes is not None and size > max_bytes:
        raise SignalTypeError(f"file {name!r} is refused: it is larger than the limit of {max_bytes} bytes "
                              "(GateWidgets.max_upload_bytes)")


def safe_name(name: Any) -> str:
    """``name`` if it is a plain file name, else ``SignalTypeError``."""
    if (not isinstance(name, str) or name in ("", ".", "..") or any(c in name for c in "/\\\0")
            or len(name.encode("utf-8", "surrogatepass")) > 255):
        raise SignalTypeError(
            f"file name {name!r} is not a plain file name: expected 1 to 255 bytes without '/', '\\' "
            "or NUL, and not '.' or '..' (send the base name only, e.g. 'receipt.pdf')")
    return name


def inside(path: str, folder: str) -> bool:
    """True if ``path`` is ``folder`` or below it (both real paths)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
