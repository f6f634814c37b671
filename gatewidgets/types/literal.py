"""Python type hints as Flyte ``LiteralType``s: which hints a signal may have, and what each is called."""
from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import date, datetime, timedelta
from typing import Any

import pydantic
import typing_extensions

from gatewidgets.models.types import LiteralType, SimpleType
from gatewidgets.types.file import GateFile
from gatewidgets.types.structured.structured_dataset import StructuredDataset

__all__ = ["SUPPORTED", "to_literal_type", "type_name", "unsupported"]

SUPPORTED = (
    "bool, int, float, str, datetime, date, timedelta, None, Enum subclasses, Literal[...], "
    "Optional[T], list[T], dict[str, T], dataclasses, pydantic models, GateFile and "
    "StructuredDataset (nested freely)"
)
_SCALARS: dict[Any, tuple[SimpleType, str]] = {
    bool: (SimpleType.BOOLEAN, "bool"),
    int: (SimpleType.INTEGER, "int"),
    float: (SimpleType.FLOAT, "float"),
    str: (SimpleType.STRING, "str"),
    datetime: (SimpleType.DATETIME, "datetime"),
    date: (SimpleType.DATETIME, "date"),
    timedelta: (SimpleType.DURATION, "timedelta"),
    type(None): (SimpleType.NONE, "none"),
}


def unsupported(t: Any, where: str, why: str = "") -> TypeError:
    at = f" (in {where})" if where else ""
    return TypeError(f"unsupported signal type {type_name(t)}{at}{': ' + why if why else ''}; supported: {SUPPORTED}")


def type_name(t: Any) -> str:
    if isinstance(t, type) and typing.get_origin(t) is None:
        return t.__qualname__
    return repr(t).replace("typing.", "")


def to_literal_type(t: Any, where: str = "", seen: frozenset[type] = frozenset()) -> LiteralType:
    t = type(None) if t is None else t
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is typing.Annotated:
        return to_literal_type(args[0], where, seen)
    if isinstance(t, type) and origin is None:
        if t in _SCALARS:
            simple, tag = _SCALARS[t]
            return LiteralType(simple=simple, tag=tag)
        if issubclass(t, StructuredDataset):
            return LiteralType(blob_format="csv", tag="dataframe")
        if issubclass(t, GateFile):
            return LiteralType(blob_format="", tag="file")
        if issubclass(t, enum.Enum):
            values = [m.value for m in t]
            if not values or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
                raise unsupported(t, where, "Enum values must be strings or integers")
            return LiteralType(enum_values=tuple(str(v) for v in values), structure=t.__name__, tag="enum")
        if dataclasses.is_dataclass(t) or issubclass(t, pydantic.BaseModel) or typing_extensions.is_typeddict(t):
            if t in seen:  # recursive structure: name only
                return LiteralType(structure=t.__name__, tag="struct")
            try:
                hints = typing.get_type_hints(t, include_extras=True)
            except Exception as e:
                raise unsupported(t, where, f"cannot resolve its annotations ({e})") from None
            if dataclasses.is_dataclass(t):
                names = [f.name for f in dataclasses.fields(t)]
            else:
                names = list(t.model_fields) if issubclass(t, pydantic.BaseModel) else list(hints)
            fields = tuple(
                (n, to_literal_type(hints[n], f"field {n!r} of {t.__name__}", seen | {t})) for n in names
            )
            return LiteralType(structure=t.__name__, fields=fields, tag="struct")
        raise unsupported(t, where)
    if origin is typing.Literal:
        if not all(isinstance(a, (str, int)) and not isinstance(a, bool) for a in args):
            raise unsupported(t, where, "Literal values must be strings or integers")
        return LiteralType(enum_values=tuple(str(a) for a in args), tag="enum")
    if origin in (typing.Union, types.UnionType):
        others = [a for a in args if a is not type(None)]
        if len(others) != 1 or len(others) == len(args):
            raise unsupported(t, where, "the only union supported is Optional[T]")
        inner = to_literal_type(others[0], where, seen)
        return LiteralType(union_variants=(inner, LiteralType(simple=SimpleType.NONE, tag="none")), tag="optional")
    if origin is list and len(args) == 1:
        return LiteralType(collection_type=to_literal_type(args[0], where, seen), tag="list")
    if origin is dict and len(args) == 2:
        if args[0] is not str:
            raise unsupported(t, where, "dict keys must be str")
        return LiteralType(map_value_type=to_literal_type(args[1], where, seen), tag="dict")
    raise unsupported(t, where)
