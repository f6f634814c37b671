"""Files in a store's files folder: what one is (:class:`StoredFile`), the one way bytes get there
(:class:`FileSink`: hashed while copied, renamed into place atomically), and references to files already
there (:func:`upload_references`)."""
from __future__ import annotations

import contextvars
import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Callable

from gatewidgets import private
from gatewidgets.types.file.access import check_size, safe_name

__all__ = ["CHUNK", "PART_PREFIX", "FileSink", "StoredFile", "destination", "references", "upload_references"]

PART_PREFIX = ".part-"  # a copy being written into a store's folder (see GateFile.persist)
CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    """A file in a store's files folder, at ``<folder>/<sha[:2]>/<sha>/<name>``; its sha256 and size
    were computed from its bytes as they came in."""

    path: str
    name: str
    sha256: str
    size: int


@dataclass
class UploadReferences:
    """The files ``{"upload": "<id>"}`` names in an :func:`upload_references` block: how an id resolves, and
    those resolved so far."""

    resolve: Callable[[str], StoredFile]
    seen: dict[str, StoredFile] = field(default_factory=dict)  # by path: the files resolved in this block


_references: contextvars.ContextVar[UploadReferences | None] = contextvars.ContextVar("gatewidgets_uploads",
                                                                                     default=None)


@contextmanager
def upload_references(resolve: Callable[[str], StoredFile]) -> Iterator[None]:
    """Within this block a file's JSON form may be ``{"upload": "<id>"}``: ``resolve(id)`` gives the
    file already in the store (or raises ``SignalTypeError``). Those files are not read again: their
    hash and size are the ones computed when they came in, and persisting them into the folder they
    are in is a no-op."""
    token = _references.set(UploadReferences(resolve))
    try:
        yield
    finally:
        _references.reset(token)


def references() -> UploadReferences | None:
    """The upload references in force (:func:`upload_references`), or None outside such a block."""
    return _references.get()


class FileSink:
    """Bytes on their way into a store's files folder: written to a temporary file in ``folder``
    (``write``, refusing more than ``max_bytes``) while their sha256 and size are computed, then
    renamed atomically to ``folder/<sha[:2]>/<sha>/<name>`` (``commit``); a file already there is
    kept only if its bytes have that hash, else replaced. The one ingest routine of stores
    (``GateFile.persist``, streamed HTTP uploads). A sink not committed when its ``with`` block
    ends, or on :meth:`discard`, leaves no file behind."""

    def __init__(self, folder: str | os.PathLike[str], name: str, max_bytes: int | None = None) -> None:
        self.folder, self.name, self.max_bytes, self.size = os.path.abspath(folder), safe_name(name), max_bytes, 0
        fd, self._tmp = private.temp_file(self.folder, PART_PREFIX)
        self._out: IO[bytes] = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()
        self._done = False

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; ``SignalTypeError`` (nothing written) if the file would pass ``max_bytes``."""
        check_size(self.name, self.size + len(chunk), self.max_bytes)
        self._digest.update(chunk)
        self._out.write(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        """Hex sha256 of the bytes written so far."""
        return self._digest.hexdigest()

    def commit(self) -> StoredFile:
        """Move the bytes into place; the stored file."""
        self._out.close()
        stored = StoredFile("", self.name, self.sha256, self.size)
        dest = destination(self.folder, stored)
        _place(self._tmp, dest, stored.sha256)
        self._done = True
        return StoredFile(str(dest), self.name, stored.sha256, self.size)

    def discard(self) -> None:
        """Delete the temporary file (nothing once committed)."""
        if not self._done:
            self._done = True
            self._out.close()
            Path(self._tmp).unlink(missing_ok=True)

    def __enter__(self) -> FileSink:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.discard()


def destination(folder: str | os.PathLike[str], stored: StoredFile) -> Path:
    """Where ``stored`` lies in ``folder``: ``<sha[:2]>/<sha>/<name>``."""
    return Path(os.path.abspath(folder)) / stored.sha256[:2] / stored.sha256 / stored.name


def _place(tmp: str, dest: Path, sha: str) -> None:
    """Rename the copy ``tmp`` to ``dest``, or keep a copy with hash ``sha`` there (touched: in use, so a
    cleanup of old unreferenced copies leaves it); retried if a cleanup removes its emptied folder meanwhile."""
    for attempt in range(3):
        private.make_folders(dest.parent)
        try:
            if _holds(dest, sha):
                os.utime(dest)
                os.unlink(tmp)
            else:
                os.replace(tmp, dest)
            return
        except FileNotFoundError:
            if attempt == 2 or not os.path.exists(tmp):
                raise


def _holds(path: Path, sha: str) -> bool:
    """True if ``path`` is a regular file (not a link) whose bytes have the hash ``sha``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return False
    with os.fdopen(fd, "rb") as f:
        digest = hashlib.sha256()
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest() == sha
