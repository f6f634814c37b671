"""The uploads streamed to this server (``PUT /gatewidgets/api/files/{name}``), waiting to be used.

An upload's bytes are already in the store's ``files/`` folder (content-addressed, hashed as they
came in); its id, ``secrets.token_urlsafe(32)``, is a capability held in this process's memory only:
it names that one file, for ``GateWidgets.http_upload_ttl`` seconds (one hour) and for one signal
value. A set that uses it claims it; a set that fails gives it back. Meanwhile the store holds the
file (``SqliteStore.hold_file``, recorded by the files handler), so no cleanup, in any process,
removes it. It is not bound to a user:
with Jupyter's shared token every request without a cookie is a new anonymous user.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

from gatewidgets.errors import SignalTypeError
from gatewidgets.settings import settings
from gatewidgets.types.file.stored import StoredFile, upload_references

__all__ = ["Uploads", "UPLOADS"]


@dataclass(frozen=True)
class _Upload:
    file: StoredFile
    expires: float  # on the monotonic clock


class Uploads:
    """Upload ids → the stored files they name; ``clock``: monotonic seconds (tests pass their own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting: dict[str, _Upload] = {}

    def add(self, file: StoredFile) -> str:
        """A new id for ``file``."""
        upload_id = secrets.token_urlsafe(32)
        with self._lock:
            self._forget_expired()
            self._waiting[upload_id] = _Upload(file, self._clock() + settings.http_upload_ttl)
        return upload_id

    @contextmanager
    def references(self) -> Iterator[None]:
        """Within this block a file's JSON form may be ``{"upload": "<id>"}``: each id is claimed
        when first read, and given back if the block raises."""
        claimed: dict[str, _Upload] = {}

        def resolve(upload_id: str) -> StoredFile:
            if upload_id not in claimed:
                claimed[upload_id] = self._claim(upload_id)
            return claimed[upload_id].file

        try:
            with upload_references(resolve):
                yield
        except BaseException:
            with self._lock:
                self._waiting.update(claimed)
            raise

    def _claim(self, upload_id: str) -> _Upload:
        with self._lock:
            self._forget_expired()
            upload = self._waiting.get(upload_id)
            if upload is None:
                raise SignalTypeError(
                    f"upload {upload_id[:12]!r}… is unknown, expired (uploads wait {settings.http_upload_ttl:g} s) "
                    "or already used: each upload id names one file for one signal value; upload the file "
                    "again (PUT /gatewidgets/api/files/<name>)")
            del self._waiting[upload_id]
            return upload

    def _forget_expired(self) -> None:
        now = self._clock()
        for upload_id in [i for i, u in self._waiting.items() if u.expires <= now]:
            del self._waiting[upload_id]

    def __len__(self) -> int:
        with self._lock:
            self._forget_expired()
            return len(self._waiting)


UPLOADS = Uploads()
