"""``GateFile``: a file value, like flytekit's ``FlyteFile`` (also exported under that name).

A file is identified by its content (sha256), always computed from its bytes. ``persist`` is
the one way a file enters a store: it copies the bytes, content-addressed, into a folder so
the value survives the original being deleted; ``FileSink`` is the routine under it, and
under streamed HTTP uploads. Its JSON form is ``{"path", "name", "size", "sha256"}``; an upload
(bytes sent with the value, e.g. over HTTP) is ``{"name", "content"}`` with the bytes
base64-encoded, and a file already streamed into the store is ``{"upload": "<id>"}`` within
``upload_references``. Beside it: ``access.py`` (``file_access``: which local paths may be read,
server-side paths over HTTP, and how many bytes) and ``stored.py`` (``FileSink``, ``StoredFile``,
``upload_references``: files in a store's folder).
"""
from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import io
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any
from urllib.parse import unquote, urlparse

from pydantic_core import core_schema

from gatewidgets.errors import SignalTypeError
from gatewidgets.types.file.access import check_size, current, inside, safe_name
from gatewidgets.types.file.stored import CHUNK, FileSink, StoredFile, destination, references

__all__ = ["GateFile", "FlyteFile", "folder_files"]

_UPLOAD = "upload:"  # the URI of a file whose bytes came with the value


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
        access, path, flags = current(), self._local, os.O_RDONLY | os.O_NONBLOCK  # a FIFO must not block
        if access.dirs is not None and self._stored is None:
            path, flags = os.path.realpath(path), flags | os.O_NOFOLLOW  # open what was checked
            if path not in access.files and not any(inside(path, d) for d in access.dirs):
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
        limit, total = current().max_bytes, 0
        while chunk := f.read(CHUNK):
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
        if self._stored is not None and self._stored.path == str(destination(folder, self._stored)):
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
        with self._read() as src, FileSink(folder, self._name, current().max_bytes) as sink:
            while chunk := src.read(CHUNK):
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
        refs = references()
        stored = refs.seen.get(f.path) if refs is not None and f.is_local else None
        return f._in_store(stored) if stored is not None and stored.name == f.name else f

    @classmethod
    def _from_upload(cls, data: dict[str, Any]) -> GateFile:
        refs, upload_id = references(), data["upload"]
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


def folder_files(path: str | os.PathLike[str]) -> list[GateFile] | None:
    """The files of the local folder ``path`` (a directory given where a list of files is expected), sorted by
    name; ``None`` when ``path`` is no folder the current :func:`file_access` lets this process read (so a
    caller learns nothing of folders it may not read). A folder with anything but regular files in it (a
    subfolder, a link, a device) raises ``ValueError``: send a zip of it instead."""
    access = current()
    real = os.path.realpath(os.fspath(path))
    if access.dirs is not None and not any(inside(real, d) for d in access.dirs):
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


def _decode(data: dict[str, Any]) -> bytes:
    limit = current().max_bytes
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
