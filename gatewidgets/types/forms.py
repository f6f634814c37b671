"""What a value's JSON form means, knowing only its ``LiteralType``: the builtins that are their own
JSON form, a best-effort Python value, its files mapped, its identity (files by content)."""
from __future__ import annotations

import math
import typing
from typing import Any

from gatewidgets.errors import SignalTypeError
from gatewidgets.formatting import short
from gatewidgets.models.types import LiteralType, SimpleType
from gatewidgets.types import text as _text
from gatewidgets.types.file import GateFile
from gatewidgets.types.structured.structured_dataset import StructuredDataset

__all__ = ["PLAIN", "identity", "map_files", "to_python"]


def _encodes(text: str) -> bool:
    """Whether ``text`` is valid UTF-8 (no lone surrogate), as a JSON string must be."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# the builtins whose values are their own JSON form, each with the check a value of exactly that type must pass
PLAIN: dict[Any, typing.Callable[[Any], bool]] = {
    int: lambda v: v.bit_length() <= 14_000,  # JSON writes ints as text: past ~4,300 digits, see SchemaWalk.walk
    bool: lambda v: True, float: math.isfinite, str: _encodes}


def _non_none(lt: LiteralType) -> list[LiteralType]:
    return [v for v in lt.union_variants or () if v.simple is not SimpleType.NONE]


def to_python(v: Any, lt: LiteralType) -> Any:
    """Best-effort Python value from the JSON form, knowing only the literal type."""
    if v is None:
        return None
    try:
        if lt.union_variants is not None:
            for variant in _non_none(lt):
                return to_python(v, variant)
        if lt.collection_type is not None:
            return [to_python(x, lt.collection_type) for x in v]
        if lt.map_value_type is not None:
            return {k: to_python(x, lt.map_value_type) for k, x in v.items()}
        if lt.blob_format is not None:
            return (StructuredDataset if lt.blob_format else GateFile).from_json(v)
        if lt.tag == "datetime":
            return _text.parse_datetime(v)
        if lt.tag == "date":
            return _text.parse_date(v)
        if lt.tag == "timedelta":
            return _text.parse_duration(v)
        if lt.fields is not None:
            types_ = dict(lt.fields)
            return {k: to_python(x, types_[k]) if k in types_ else x for k, x in v.items()}
    except (ValueError, TypeError, AttributeError) as e:
        raise SignalTypeError(f"expected the JSON form of {lt}, got {short(v, 80)}: {e}") from None
    return v


def map_files(v: Any, lt: LiteralType, fn: typing.Callable[[GateFile], GateFile]) -> Any:
    if v is None:
        return None
    if lt.union_variants is not None:
        return next((map_files(v, x, fn) for x in _non_none(lt)), v)
    if lt.collection_type is not None and isinstance(v, list):
        return [map_files(x, lt.collection_type, fn) for x in v]
    if lt.map_value_type is not None and isinstance(v, dict):
        return {k: map_files(x, lt.map_value_type, fn) for k, x in v.items()}
    if lt.blob_format is not None and isinstance(v, dict):
        return fn((StructuredDataset if lt.blob_format else GateFile).from_json(v)).to_json()
    if lt.fields is not None and isinstance(v, dict):
        types_ = dict(lt.fields)
        return {k: map_files(x, types_[k], fn) if k in types_ else x for k, x in v.items()}
    return v


def identity(v: Any, lt: LiteralType) -> Any:
    """The JSON form with files reduced to their content hash."""
    if v is None:
        return None
    if lt.union_variants is not None:
        return next((identity(v, x) for x in _non_none(lt)), v)
    if lt.collection_type is not None and isinstance(v, list):
        return [identity(x, lt.collection_type) for x in v]
    if lt.map_value_type is not None and isinstance(v, dict):
        return {k: identity(x, lt.map_value_type) for k, x in v.items()}
    if lt.blob_format is not None and isinstance(v, dict):
        return {"sha256": v["sha256"]} if v.get("sha256") else {"path": v.get("path")}
    if lt.fields is not None and isinstance(v, dict):
        types_ = dict(lt.fields)
        return {k: identity(x, types_[k]) if k in types_ else x for k, x in v.items()}
    return v
