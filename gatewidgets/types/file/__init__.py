"""``GateFile``: a file value, like flytekit's ``FlyteFile`` (also exported under that name).

A file is identified by its content (sha256). ``persist`` copies it, content-addressed,
into a folder so the value survives the original being deleted. Its JSON form is
``{"path", "name", "size", "sha256"}``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlparse

from pydantic_core import core_schema

from gatewidgets.errors import SignalTypeError

__all__ = ["GateFile", "FlyteFile"]

_CHUNK = 1 << 20


def _local_path(uri: str) -> str | None:
    """The local path of a plain path or ``file://`` URI; ``None`` for other schemes."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if len(parsed.scheme) <= 1:  # no scheme, or a Windows drive letter
        return uri
    return None


class GateFile(os.PathLike):
    """A file: a local path, a ``file://`` URI, or a remote URI (opened with fsspec)."""

    _format_key: str | None = None

    def __init__(self, path: str | os.PathLike[str], *, name: str | None = None) -> None:
        if isinstance(path, GateFile):
            path = path.uri
        if not isinstance(path, (str, os.PathLike)):
            raise SignalTypeError(f"a GateFile needs a path or URI, got {path!r}")
        self._uri = os.fspath(path)
        if not self._uri:
            raise SignalTypeError("a GateFile needs a path or URI, got an empty string")
        local = _local_path(self._uri)
        self._local = os.path.abspath(local) if local is not None else None
        self._name = name or os.path.basename(unquote(urlparse(self._uri).path).rstrip("/")) or self._uri
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

    @property
    def size(self) -> int | None:
        """Size in bytes; ``None`` for a remote file."""
        if self._size is None and self._local is not None:
            try:
                self._size = os.path.getsize(self._local)
            except OSError as e:
                raise self._unreadable(e) from None
        return self._size

    @property
    def sha256(self) -> str | None:
        """Hex sha256 of the content, computed once; ``None`` for a remote file."""
        if self._sha256 is None and self._local is not None:
            digest = hashlib.sha256()
            try:
                with open(self._local, "rb") as f:
                    while chunk := f.read(_CHUNK):
                        digest.update(chunk)
            except OSError as e:
                raise self._unreadable(e) from None
            self._sha256 = digest.hexdigest()
        return self._sha256

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
        if self._local is not None:
            return open(self._local, mode)
        try:
            import fsspec
        except ImportError:
            raise OSError(
                f"cannot open {self._uri!r}: only local paths and file:// URIs are supported "
                "without fsspec (pip install fsspec)"
            ) from None
        return fsspec.open(self._uri, mode).open()

    def persist(self, folder: str | os.PathLike[str]) -> GateFile:
        """Copy into ``folder/<sha[:2]>/<sha>/<name>`` (atomic, skipped if present) and
        return a file pointing at the copy."""
        sha = self.sha256
        if sha is None:
            raise SignalTypeError(f"file {self._uri!r} cannot be read: only local files can be stored")
        dest_dir = Path(folder) / sha[:2] / sha
        dest = dest_dir / self._name
        if not dest.exists():
            dest_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as out, self.open("rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK)
                os.replace(tmp, dest)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        copy = self._copy_to(str(dest))
        copy._sha256, copy._size = sha, self.size
        return copy

    def _copy_to(self, path: str) -> GateFile:
        return type(self)(path, name=self._name)

    # -- JSON form -------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """``{"path", "name", "size", "sha256"}``; reads a local file to hash it."""
        return {"path": self.path, "name": self.name, "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateFile:
        """Rebuild from ``to_json()``; the recorded size and sha256 are trusted."""
        if not isinstance(data, dict) or not isinstance(data.get("path"), str):
            raise SignalTypeError(f"a file's JSON form needs a 'path', got {data!r}")
        f = cls._from_json_path(data)
        f._sha256, f._size = data.get("sha256"), data.get("size")
        return f

    @classmethod
    def _from_json_path(cls, data: dict[str, Any]) -> GateFile:
        return cls(data["path"], name=data.get("name"))

    # -- comparison ------------------------------------------------------------------
    def _key(self) -> str:
        return self.sha256 if self._local is not None else self._uri

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
            },
            "required": ["path"],
        }


FlyteFile = GateFile
