"""``GateFile``: a file value, like flytekit's ``FlyteFile`` (also exported under that name).

A file is identified by its content (sha256), always computed from its bytes. ``persist`` is
the one way a file enters a store: it copies the bytes, content-addressed, into a folder so
the value survives the original being deleted; :class:`FileSink` is the routine under it, and
under streamed HTTP uploads. Its JSON form is ``{"path", "name", "size", "sha256"}``; an upload
(bytes sent with the value, e.g. over HTTP) is ``{"name", "content"}`` with the bytes
base64-encoded, and a file already streamed into the store is ``{"upload": "<id>"}`` within
:func:`upload_references`. :func:`file_access` limits which local paths may be read
(server-side paths over HTTP) and how many bytes.
"""
from __future__ import annotations

import base64
import binascii
import contextvars
import copy
import hashlib
import io
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Callable
from urllib.parse import unquote, urlparse

from pydantic_core import core_schema

from gatewidgets import private
from gatewidgets.errors import SignalTypeError

__all__ = ["GateFile", "FlyteFile", "FileSink", "StoredFile", "also_readable", "check_size", "file_access",
           "folder_files", "safe_name", "upload_references", "PART_PREFIX"]

PART_PREFIX = ".part-"  # a copy being written into a store's folder (see GateFile.persist)
_CHUNK = 1 << 20
_UPLOAD = "upload:"  # the URI of a file whose bytes came with the value


@dataclass(frozen=True)
class _Access:
    dirs: tuple[str, ...] | None  # real paths of the folders local paths must be in; None: any
    max_bytes: int | None
    files: frozenset[str] = frozenset()  # real paths of single files readable as well (see also_readable)


_ANY_FILE = _Access(None, None)  # outside file_access(): any local file, any size
_access: contextvars.ContextVar[_Access] = contextvars.ContextVar("gatewidgets_file_access", default=_ANY_FILE)


@contextmanager
def file_access(allowed_dirs: Sequence[str | os.PathLike[str]] | None = None,
                max_bytes: int | None = None) -> Iterator[None]:
    """Within this block, files are read only from local paths whose real path (symlinks
    resolved) is inside ``allowed_dirs`` (``None``: any path; ``()``: none, uploads only), and
    none larger than ``max_bytes``. Non-regular files (devices, FIFOs, folders) are always refused."""
    dirs = None if allowed_dirs is None else tuple(os.path.realpath(os.fspath(d)) for d in allowed_dirs)
    token = _access.set(_Access(dirs, max_bytes))
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


@dataclass(frozen=True)
class StoredFile:
    """A file in a store's files folder, at ``<folder>/<sha[:2]>/<sha>/<name>``; its sha256 and size
    were computed from its bytes as they came in."""

    path: str
    name: str
    sha256: str
    size: int


@dataclass
class _References:
    resolve: Callable[[str], StoredFile]
    seen: dict[str, StoredFile] = field(default_factory=dict)  # by path: the files resolved in this block


_references: contextvars.ContextVar[_References | None] = contextvars.ContextVar("gatewidgets_uploads", default=None)


@contextmanager
def upload_references(resolve: Callable[[str], StoredFile]) -> Iterator[None]:
    """Within this block a file's JSON form may be ``{"upload": "<id>"}``: ``resolve(id)`` gives the
    file already in the store (or raises ``SignalTypeError``). Those files are not read again: their
    hash and size are the ones computed when they came in, and persisting them into the folder they
    are in is a no-op."""
    token = _references.set(_References(resolve))
    try:
        yield
    finally:
        _references.reset(token)


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


def _derived_name(uri: str) -> str:
    """A safe base name taken from a path or URI ("file" when it has none)."""
    base = os.path.basename(unquote(urlparse(uri).path).rstrip("/")).rsplit("\\", 1)[-1]
    try:
        return safe_name(base)
    except SignalTypeError:
        return "file"


def _local_path(uri: str) -> str | None:
    """The local path of a plain path or ``file://`` URI; ``None`` for other schemes."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if len(parsed.scheme) <= 1:  # no scheme, or a Windows drive letter
        return uri
    return None


class GateFile(os.PathLike[str]):
    """A file: a local path, a ``file://`` URI, or a remote URI (opened with fsspec)."""

    _format_key: str | None = None

    def __init__(self, path: str | os.PathLike[str], *, name: str | None = None) -> None:
        self._data: bytes | None = None
        if isinstance(path, GateFile):
            self._data, name, path = path._data, name or path.name, path.uri
        if not isinstance(path, (str, os.PathLike)):
            raise SignalTypeError(f"a GateFile needs a path or URI, got {path!r}")
        self._uri = os.fspath(path)
        if not self._uri:
            raise SignalTypeError("a GateFile needs a path or URI, got an empty string")
        local = _local_path(self._uri) if self._data is None else None
        self._local = os.path.abspath(local) if local is not None else None
        self._name = safe_name(name) if name is not None else _derived_name(self._uri)
        self._sha256: str | None = None
        self._size: int | None = None
        self._stored: StoredFile | None = None  # already in a store's files folder, hashed on the way in
        self._reference: str | None = None  # sent as {"upload": <id>} (an upload streamed beforehand)

    # -- properties ------------------------------------------------------------------
    @property
    def uri(self) -> str:
        """The path or URI this file was made from."""
        return self._uri

    @property
    def path(self) -> str:
        """The local path (the URI itself for remote files)."""
        return self._local if self._local is not None else self._uri

    @property
    def name(self) -> str:
        """The file's base name."""
        return self._name

    @property
    def is_local(self) -> bool:
        """True for a local path or file:// URI."""
        return self._local is not None

    @classmethod
    def from_bytes(cls, data: bytes, name: str) -> GateFile:
        """A file whose bytes are in memory (an upload); ``persist`` writes them into a store."""
        f = cls(_UPLOAD + safe_name(name), name=name)
        f._data = bytes(data)
        return f

    @property
    def size(self) -> int | None:
        """Size in bytes; ``None`` for a remote file."""
        if self._size is None and self._data is not None:
            self._size = len(self._data)
        elif self._size is None and self._local is not None:
            with self._read() as f:
                self._size = os.fstat(f.fileno()).st_size
        return self._size

    @property
    def sha256(self) -> str | None:
        """Hex sha256 of the content, computed once from the bytes; ``None`` for a remote file."""
        if self._sha256 is None and (self._local is not None or self._data is not None):
            digest = hashlib.sha256()
            with self._read() as f:
                for chunk in self._chunks(f):
                    digest.update(chunk)
            self._sha256 = digest.hexdigest()
        return self._sha256

    @contextmanager
    def _read(self) -> Iterator[IO[bytes]]:
        """The bytes of an upload or a local regular file, under the current :func:`file_access`."""
        if self._data is not None:
            yield io.BytesIO(self._data)
            return
        assert self._local is not None, "a remote file is read with open()"
        access, path, flags = _access.get(), self._local, os.O_RDONLY | os.O_NONBLOCK  # a FIFO must not block
        if access.dirs is not None and self._stored is None:
            path, flags = os.path.realpath(path), flags | os.O_NOFOLLOW  # open what was checked
            if path not in access.files and not any(_inside(path, d) for d in access.dirs):
                where = ("server-side paths are not accepted here" if not access.dirs else
                         f"only files inside {', '.join(access.dirs)} are accepted here")
                raise SignalTypeError(f"file {self._uri!r} is refused: {where}; send the file's bytes instead "
                                      '({"name": ..., "content": <base64>})')
        try:
            fd = os.open(path, flags)
        except OSError as e:
            raise self._unreadable(e) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise SignalTypeError(f"file {self._uri!r} is refused: it is not a regular file (a folder, "
                                      "device, FIFO or socket); send a regular file")
            check_size(self._name, info.st_size, access.max_bytes)
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "rb") as f:
            yield f

    def _chunks(self, f: IO[bytes]) -> Iterator[bytes]:
        """``f``'s bytes, refusing more than the current limit (a file may grow while read)."""
        limit, total = _access.get().max_bytes, 0
        while chunk := f.read(_CHUNK):
            total += len(chunk)
            check_size(self._name, total, limit)
            yield chunk

    def _unreadable(self, error: OSError) -> SignalTypeError:
        return SignalTypeError(
            f"file {self._uri!r} cannot be read ({error.strerror or error}); "
            "check that it exists and is readable"
        )

    # -- file protocol ---------------------------------------------------------------
    def __fspath__(self) -> str:
        return self.path

    def open(self, mode: str = "rb") -> IO[Any]:
        """Open the file; remote URIs need ``fsspec``."""
        if self._data is not None:
            return io.BytesIO(self._data) if "b" in mode else io.StringIO(self._data.decode())
        if self._local is not None:
            return open(self._local, mode)
        try:
            import fsspec
        except ImportError:
            raise OSError(
                f"cannot open {self._uri!r}: only local paths and file:// URIs are supported "
                "without fsspec (pip install fsspec)"
            ) from None
        opened: IO[Any] = fsspec.open(self._uri, mode).open()
        return opened

    def persist(self, folder: str | os.PathLike[str]) -> GateFile:
        """Copy the bytes into ``folder/<sha[:2]>/<sha>/<name>`` and return a file pointing at the copy.

        The one way a file enters a store, through :class:`FileSink`: the sha256 is computed from the
        bytes while they are copied, and the copy is renamed into place atomically. A file that came
        into ``folder`` that way already (an upload, a copy made here) is returned as it is."""
        if self._stored is not None and self._stored.path == str(_destination(folder, self._stored)):
            try:
                os.utime(self._stored.path)  # in use again: a cleanup of old unreferenced copies keeps it
            except FileNotFoundError:
                raise SignalTypeError(f"file {self._name!r} is no longer in the store (removed since it came in); "
                                      "send it again") from None
            except OSError:  # a read-only folder: the copy is there, its time stays
                pass
            return self
        if self._local is None and self._data is None:
            raise SignalTypeError(f"file {self._uri!r} cannot be read: only local files can be stored")
        with self._read() as src, FileSink(folder, self._name, _access.get().max_bytes) as sink:
            while chunk := src.read(_CHUNK):
                sink.write(chunk)
            stored = sink.commit()
        return self._copy_to(stored.path)._in_store(stored)

    def _in_store(self, stored: StoredFile) -> GateFile:
        self._stored, self._sha256, self._size = stored, stored.sha256, stored.size
        return self

    def as_upload(self, upload_id: str) -> GateFile:
        """This file as a reference to bytes already streamed to a server: its JSON form is
        ``{"upload": upload_id}``."""
        ref = copy.copy(self)
        ref._reference = upload_id
        return ref

    def _copy_to(self, path: str) -> GateFile:
        return type(self)(path, name=self._name)

    # -- JSON form -------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """``{"path", "name", "size", "sha256"}`` (``content`` instead of ``path`` for an upload);
        reads a local file to hash it. ``{"upload": id}`` for :meth:`as_upload`."""
        if self._reference is not None:
            return {"upload": self._reference}
        if self._data is not None:
            return {"name": self.name, "size": self.size, "sha256": self.sha256,
                    "content": base64.b64encode(self._data).decode("ascii")}
        return {"path": self.path, "name": self.name, "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateFile:
        """Rebuild from ``to_json()``, an upload ``{"name", "content"}`` or, within
        :func:`upload_references`, ``{"upload": "<id>"}``; a recorded size and sha256 are not trusted
        (they are computed from the bytes when needed)."""
        if isinstance(data, dict) and "upload" in data:
            return cls._from_upload(data)
        if isinstance(data, dict) and isinstance(data.get("content"), str):
            return cls._from_json_path({**data, "path": _UPLOAD + safe_name(data.get("name"))}, _decode(data))
        if not isinstance(data, dict) or not isinstance(data.get("path"), str):
            raise SignalTypeError(f"a file's JSON form needs a 'path', a 'name' and base64 'content', or an "
                                  f"'upload' id, got {_short(data)}")
        f = cls._from_json_path(data)
        refs = _references.get()
        stored = refs.seen.get(f.path) if refs is not None and f.is_local else None
        return f._in_store(stored) if stored is not None and stored.name == f.name else f

    @classmethod
    def _from_upload(cls, data: dict[str, Any]) -> GateFile:
        refs, upload_id = _references.get(), data["upload"]
        if refs is None:
            raise SignalTypeError('a file given as {"upload": <id>} is accepted only by the Jupyter server '
                                  "extension that received the upload (PUT /gatewidgets/api/files/<name>)")
        if not isinstance(upload_id, str) or {"path", "content"} & data.keys():
            raise SignalTypeError(f'a file given as an upload is {{"upload": "<id>"}}, got {_short(data)}')
        stored = refs.resolve(upload_id)
        refs.seen[stored.path] = stored
        return cls._from_json_path({**data, "path": stored.path, "name": stored.name})._in_store(stored)

    @classmethod
    def _from_json_path(cls, data: dict[str, Any], content: bytes | None = None) -> GateFile:
        f = cls(data["path"], name=data.get("name"))
        f._data = content
        return f

    # -- comparison ------------------------------------------------------------------
    def _key(self) -> str:
        return (self.sha256 or self._uri) if self._local is not None or self._data is not None else self._uri

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GateFile):
            return NotImplemented
        try:
            return self._key() == other._key()
        except SignalTypeError:
            return self.path == other.path

    def __hash__(self) -> int:
        try:
            return hash(self._key())
        except SignalTypeError:
            return hash(self.path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._uri!r})"

    # -- pydantic --------------------------------------------------------------------
    @classmethod
    def _coerce(cls, value: Any) -> GateFile:
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls.from_json(value)
        if isinstance(value, (str, os.PathLike)):
            return cls(value)
        raise ValueError(f"expected a {cls.__name__} or a path, got {type(value).__name__}")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._coerce,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda v: v.to_json(), when_used="json"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return cls._json_schema()

    @classmethod
    def _json_schema(cls) -> dict[str, Any]:
        return {
            "type": "object",
            "title": cls.__name__,
            "x-gatewidgets": "file",
            "properties": {
                "path": {"type": "string"},
                "name": {"type": "string"},
                "size": {"type": ["integer", "null"]},
                "sha256": {"type": ["string", "null"]},
                "content": {"type": "string", "contentEncoding": "base64"},
            },
            "anyOf": [{"required": ["path"]}, {"required": ["name", "content"]}],
        }


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
        dest = _destination(self.folder, stored)
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


def folder_files(path: str | os.PathLike[str]) -> list[GateFile] | None:
    """The files of the local folder ``path`` (a directory given where a list of files is expected), sorted by
    name; ``None`` when ``path`` is no folder the current :func:`file_access` lets this process read (so a
    caller learns nothing of folders it may not read). A folder with anything but regular files in it (a
    subfolder, a link, a device) raises ``ValueError``: send a zip of it instead."""
    access = _access.get()
    real = os.path.realpath(os.fspath(path))
    if access.dirs is not None and not any(_inside(real, d) for d in access.dirs):
        return None
    if not os.path.isdir(real):
        return None
    files: list[str] = []
    others: list[str] = []
    with os.scandir(real) as entries:
        for entry in entries:
            (files if entry.is_file(follow_symlinks=False) else others).append(entry.name)
    if others:
        raise ValueError(f"the folder {os.fspath(path)!r} holds more than files ({', '.join(sorted(others)[:3])}); "
                         "send a zip of it")
    return [GateFile(os.path.join(real, name)) for name in sorted(files)]


def _destination(folder: str | os.PathLike[str], stored: StoredFile) -> Path:
    return Path(os.path.abspath(folder)) / stored.sha256[:2] / stored.sha256 / stored.name


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


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
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest() == sha


def _decode(data: dict[str, Any]) -> bytes:
    limit = _access.get().max_bytes
    text = data["content"]
    if limit is not None:
        check_size(data.get("name"), len(text) * 3 // 4 - 2, limit)
    try:
        content = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SignalTypeError(f"file {data.get('name')!r}: 'content' must be the file's bytes in base64") from None
    check_size(data.get("name"), len(content), limit)
    return content


def _short(value: Any, limit: int = 80) -> str:
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."


FlyteFile = GateFile
