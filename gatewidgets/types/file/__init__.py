"""``GateFile``: a file value, like flytekit's ``FlyteFile`` (also exported under that name).

A file is identified by its content (sha256), always computed from its bytes. ``persist`` is
the one way a file enters a store: it copies the bytes, content-addressed, into a folder so
the value survives the original being deleted. Its JSON form is ``{"path", "name", "size",
"sha256"}``; an upload (bytes sent with the value, e.g. over HTTP) is ``{"name", "content"}``
with the bytes base64-encoded. :func:`file_access` limits which local paths may be read
(server-side paths over HTTP) and how many bytes.
"""
from __future__ import annotations

import base64
import binascii
import contextvars
import hashlib
import io
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlparse

from pydantic_core import core_schema

from gatewidgets.errors import SignalTypeError

__all__ = ["GateFile", "FlyteFile", "file_access", "safe_name", "PART_PREFIX"]

PART_PREFIX = ".part-"  # a copy being written into a store's folder (see GateFile.persist)
_CHUNK = 1 << 20
_UPLOAD = "upload:"  # the URI of a file whose bytes came with the value


@dataclass(frozen=True)
class _Access:
    dirs: tuple[str, ...] | None  # real paths of the folders local paths must be in; None: any
    max_bytes: int | None


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
        if access.dirs is not None:
            path, flags = os.path.realpath(path), flags | os.O_NOFOLLOW  # open what was checked
            if not any(_inside(path, d) for d in access.dirs):
                where = ("server-side paths are not accepted here" if not access.dirs else
                         f"only files inside {', '.join(access.dirs)} are accepted here")
                raise SignalTypeError(f"file {self._uri!r} is refused: {where}; send the file's bytes instead "
                                      '({"name": ..., "content": <base64>})')
        try:
            fd = os.open(path, flags)
        except OSError as e:
            raise self._unreadable(e) from None
        info = os.fstat(fd)
        refusal = None
        if not stat.S_ISREG(info.st_mode):
            refusal = SignalTypeError(f"file {self._uri!r} is refused: it is not a regular file (a folder, "
                                      "device, FIFO or socket); send a regular file")
        elif access.max_bytes is not None and info.st_size > access.max_bytes:
            refusal = _too_big(self._name, access.max_bytes)
        if refusal is not None:
            os.close(fd)
            raise refusal
        with os.fdopen(fd, "rb") as f:
            yield f

    def _chunks(self, f: IO[bytes]) -> Iterator[bytes]:
        """``f``'s bytes, refusing more than the current limit (a file may grow while read)."""
        limit, total = _access.get().max_bytes, 0
        while chunk := f.read(_CHUNK):
            total += len(chunk)
            if limit is not None and total > limit:
                raise _too_big(self._name, limit)
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

        The one way a file enters a store. The sha256 is computed from the bytes while they are
        copied to a temporary file in ``folder``, which is then renamed into place atomically; a
        file already there is kept only if its bytes have that hash, else replaced."""
        if self._local is None and self._data is None:
            raise SignalTypeError(f"file {self._uri!r} cannot be read: only local files can be stored")
        with self._read() as src:
            Path(folder).mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=PART_PREFIX)
            try:
                digest, size = hashlib.sha256(), 0
                with os.fdopen(fd, "wb") as out:
                    for chunk in self._chunks(src):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                sha = digest.hexdigest()
                dest = Path(folder) / sha[:2] / sha / self._name
                _place(tmp, dest, sha)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        copy = self._copy_to(str(dest))
        copy._sha256, copy._size = sha, size
        return copy

    def _copy_to(self, path: str) -> GateFile:
        return type(self)(path, name=self._name)

    # -- JSON form -------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """``{"path", "name", "size", "sha256"}`` (``content`` instead of ``path`` for an upload);
        reads a local file to hash it."""
        if self._data is not None:
            return {"name": self.name, "size": self.size, "sha256": self.sha256,
                    "content": base64.b64encode(self._data).decode("ascii")}
        return {"path": self.path, "name": self.name, "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateFile:
        """Rebuild from ``to_json()`` or an upload ``{"name", "content"}``; a recorded size and sha256
        are not trusted (they are computed from the bytes when needed)."""
        if isinstance(data, dict) and isinstance(data.get("content"), str):
            return cls._from_json_path({**data, "path": _UPLOAD + safe_name(data.get("name"))}, _decode(data))
        if not isinstance(data, dict) or not isinstance(data.get("path"), str):
            raise SignalTypeError(f"a file's JSON form needs a 'path', or a 'name' and base64 'content', "
                                  f"got {_short(data)}")
        return cls._from_json_path(data)

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


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _place(tmp: str, dest: Path, sha: str) -> None:
    """Rename the copy ``tmp`` to ``dest``, or keep a copy with hash ``sha`` there (touched: in use, so a
    cleanup of old unreferenced copies leaves it); retried if a cleanup removes its emptied folder meanwhile."""
    for attempt in range(3):
        dest.parent.mkdir(parents=True, exist_ok=True)
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
    if limit is not None and len(text) * 3 // 4 > limit + 2:
        raise _too_big(data.get("name"), limit)
    try:
        content = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SignalTypeError(f"file {data.get('name')!r}: 'content' must be the file's bytes in base64") from None
    if limit is not None and len(content) > limit:
        raise _too_big(data.get("name"), limit)
    return content


def _too_big(name: Any, limit: int) -> SignalTypeError:
    return SignalTypeError(f"file {name!r} is refused: it is larger than the limit of {limit} bytes "
                           "(GateWidgets.max_upload_bytes)")


def _short(value: Any, limit: int = 80) -> str:
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."


FlyteFile = GateFile
