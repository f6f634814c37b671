"""The value boundary of ``GateRemote``: errors that name the signal, the size limit of a value's JSON form, and
values with their files replaced by references that need no read."""
from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

from gatewidgets.errors import SignalTypeError
from gatewidgets.models.signal import SignalIdentifier
from gatewidgets.settings import settings
from gatewidgets.types import GateType
from gatewidgets.types.file import GateFile

__all__ = ["naming", "check_size", "json_size", "unread_files", "is_structure"]


@contextlib.contextmanager
def naming(at: SignalIdentifier) -> Iterator[None]:
    """A ``SignalTypeError`` raised inside names the signal and its execution."""
    try:
        yield
    except SignalTypeError as exc:
        where = f"Signal {at.signal_id!r} of execution {at.execution_id.name!r}"
        if str(exc).startswith(where):
            raise
        raise SignalTypeError(f"{where}: {exc}") from exc


def check_size(at: SignalIdentifier, size: int, what: str) -> None:
    """Refuse a value larger than ``settings.max_value_bytes`` (``SignalTypeError``), before anything is stored."""
    if size > settings.max_value_bytes:
        raise SignalTypeError(
            f"The {what} for signal {at.signal_id!r} of execution {at.execution_id.name!r} is {size:,} bytes, "
            f"more than GateWidgets.max_value_bytes ({settings.max_value_bytes:,}). Send a smaller value or a file "
            "(GateFile), or raise the limit (%config GateWidgets.max_value_bytes = N)."
        )


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def unread_files(gate_type: GateType, value: Any) -> tuple[Any, list[str]]:
    """``value`` (a JSON form of ``gate_type``) with each file replaced by a reference whose JSON form needs no
    read of the file, and the paths of those files."""
    paths: list[str] = []

    def unread(file: GateFile) -> GateFile:
        paths.append(file.path)
        return file.as_upload("")

    return gate_type.map_files(value, unread), paths


def is_structure(value: Any) -> bool:
    """A dataclass or pydantic instance (validated against a detached type in its JSON form)."""
    return (dataclasses.is_dataclass(value) and not isinstance(value, type)) or hasattr(value, "model_dump")
