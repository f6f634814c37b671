"""``GateType``: one signal type — its ``LiteralType`` view, JSON schema, validation and
conversions between Python values, their JSON form and text.

A *live* type wraps a Python type and validates with pydantic (strict). A *detached* type is
rebuilt from a stored record (``GateType.from_record``) and validates with fastjsonschema, so a
process without the workflow's code accepts and rejects exactly the same values. Both first
walk the value along the JSON schema, checking Python kinds strictly and producing the
canonical JSON form (ISO-8601 strings for datetimes, dates and durations, enum values, dicts
for structures, ``GateFile.to_json()`` for files).

Every gate defined in a process ``declare``s its live type; ``known()`` of a detached type is
the live type declared with the same record, so stored values decode to the Python type in
any process that has the workflow's definition loaded, and to plain JSON-like values elsewhere.
"""
from __future__ import annotations

import copy
import dataclasses
import enum
import json
import math
import os
import sys
import types
import typing
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

import fastjsonschema
import pydantic
import typing_extensions
from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from gatewidgets.errors import SignalTypeError
from gatewidgets.formatting import short
from gatewidgets.models.types import LiteralType, SimpleType
from gatewidgets.types import text as _text
from gatewidgets.types.file import GateFile, folder_files
from gatewidgets.types.structured.structured_dataset import StructuredDataset

__all__ = ["GateType"]

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
_DATETIME = TypeAdapter(datetime)
_DURATION = TypeAdapter(timedelta)
_DECLARED: dict[str, GateType] = {}  # record (canonical JSON) -> the live type last declared with it; one per type


class _Mismatch(ValueError):
    """A value does not fit; the message is one line of detail."""


# -- Python type -> LiteralType ---------------------------------------------------------
def _unsupported(t: Any, where: str, why: str = "") -> TypeError:
    at = f" (in {where})" if where else ""
    return TypeError(f"unsupported signal type {_type_name(t)}{at}{': ' + why if why else ''}; supported: {SUPPORTED}")


def _type_name(t: Any) -> str:
    if isinstance(t, type) and typing.get_origin(t) is None:
        return t.__qualname__
    return repr(t).replace("typing.", "")


def _literal_type(t: Any, where: str = "", seen: frozenset[type] = frozenset()) -> LiteralType:
    t = type(None) if t is None else t
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is typing.Annotated:
        return _literal_type(args[0], where, seen)
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
                raise _unsupported(t, where, "Enum values must be strings or integers")
            return LiteralType(enum_values=tuple(str(v) for v in values), structure=t.__name__, tag="enum")
        if dataclasses.is_dataclass(t) or issubclass(t, pydantic.BaseModel) or typing_extensions.is_typeddict(t):
            if t in seen:  # recursive structure: name only
                return LiteralType(structure=t.__name__, tag="struct")
            try:
                hints = typing.get_type_hints(t, include_extras=True)
            except Exception as e:
                raise _unsupported(t, where, f"cannot resolve its annotations ({e})") from None
            if dataclasses.is_dataclass(t):
                names = [f.name for f in dataclasses.fields(t)]
            else:
                names = list(t.model_fields) if issubclass(t, pydantic.BaseModel) else list(hints)
            fields = tuple(
                (n, _literal_type(hints[n], f"field {n!r} of {t.__name__}", seen | {t})) for n in names
            )
            return LiteralType(structure=t.__name__, fields=fields, tag="struct")
        raise _unsupported(t, where)
    if origin is typing.Literal:
        if not all(isinstance(a, (str, int)) and not isinstance(a, bool) for a in args):
            raise _unsupported(t, where, "Literal values must be strings or integers")
        return LiteralType(enum_values=tuple(str(a) for a in args), tag="enum")
    if origin in (typing.Union, types.UnionType):
        others = [a for a in args if a is not type(None)]
        if len(others) != 1 or len(others) == len(args):
            raise _unsupported(t, where, "the only union supported is Optional[T]")
        inner = _literal_type(others[0], where, seen)
        return LiteralType(union_variants=(inner, LiteralType(simple=SimpleType.NONE, tag="none")), tag="optional")
    if origin is list and len(args) == 1:
        return LiteralType(collection_type=_literal_type(args[0], where, seen), tag="list")
    if origin is dict and len(args) == 2:
        if args[0] is not str:
            raise _unsupported(t, where, "dict keys must be str")
        return LiteralType(map_value_type=_literal_type(args[1], where, seen), tag="dict")
    raise _unsupported(t, where)


class _SchemaGenerator(GenerateJsonSchema):
    """pydantic's JSON schema, plus the member names of Enums (``x-enum-names``)."""

    def enum_schema(self, schema: Any) -> dict[str, Any]:
        out = super().enum_schema(schema)
        out["x-enum-names"] = [m.name for m in schema["members"]]
        return out


def _keep_order(schema: Any) -> Any:
    """Record the declaration order of every structure's fields (``x-order``): stored JSON sorts keys,
    and forms show fields in the order they were declared."""
    if isinstance(schema, dict):
        if isinstance(schema.get("properties"), dict):
            schema["x-order"] = list(schema["properties"])
        for value in schema.values():
            _keep_order(value)
    elif isinstance(schema, list):
        for value in schema:
            _keep_order(value)
    return schema


# -- JSON-schema formats, really checked (fastjsonschema compiles the schema to Python) --
def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or (len(value) > 10 and value[10] in "Tt " and bool(_text.parse_datetime(value)))


def _is_date(value: object) -> bool:
    return not isinstance(value, str) or _text.parse_date(value) is not None


def _is_duration(value: object) -> bool:
    return not isinstance(value, str) or (
        value.upper().lstrip("-").startswith("P") and _text.parse_duration(value) is not None
    )


def _checked(check: typing.Callable[[object], bool]) -> typing.Callable[[object], bool]:
    def run(value: object) -> bool:
        try:
            return check(value)
        except ValueError:
            return False
    return run


FORMATS = {"date-time": _checked(_is_datetime), "date": _checked(_is_date), "duration": _checked(_is_duration)}


def _encodes(text: str) -> bool:
    """Whether ``text`` is valid UTF-8 (no lone surrogate), as a JSON string must be."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# the builtins whose values are their own JSON form, each with the check a value of exactly that type must pass
_PLAIN: dict[Any, typing.Callable[[Any], bool]] = {
    int: lambda v: v.bit_length() <= 14_000,  # JSON writes ints as text: past ~4,300 digits, see _walk
    bool: lambda v: True, float: math.isfinite, str: _encodes}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class GateType:
    """One signal/value type; build with ``GateType.of(py_type)`` or ``GateType.from_record``."""

    def __init__(
        self,
        literal_type: LiteralType,
        json_schema: dict[str, Any],
        python_type: Any = None,
        python_name: str | None = None,
        *,
        _adapter: TypeAdapter[Any] | None = None,
    ) -> None:
        self.literal_type = literal_type
        self.json_schema = json_schema
        self.python_type = python_type
        self.python_name = python_name or (_type_name(python_type) if python_type is not None else str(literal_type))
        self._adapter = _adapter
        self._defs: dict[str, Any] = json_schema.get("$defs", {})

    @classmethod
    def of(cls, py_type: Any) -> GateType:
        """The type of ``py_type``; raises ``TypeError`` for unsupported types."""
        py_type = type(None) if py_type is None else py_type
        literal_type = _literal_type(py_type)
        try:
            adapter: TypeAdapter[Any] = TypeAdapter(py_type)
            schema = _keep_order(adapter.json_schema(schema_generator=_SchemaGenerator))
        except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError) as e:
            raise _unsupported(py_type, "", str(e).splitlines()[0]) from None
        if isinstance(py_type, type) and typing.get_origin(py_type) is None and py_type.__module__ != "builtins":
            name = f"{py_type.__module__}:{py_type.__qualname__}"
        else:
            name = _type_name(py_type)
        return cls(literal_type, schema, py_type, name, _adapter=adapter)

    # -- records ---------------------------------------------------------------------
    def to_record(self) -> dict[str, Any]:
        """A JSON-able record: ``{"literal_type", "json_schema", "python"}``."""
        return {"literal_type": self.literal_type.to_dict(), "json_schema": self.json_schema,
                "python": self.python_name}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> GateType:
        """A detached type (``python_type`` None) that validates against its JSON schema."""
        return cls(LiteralType.from_dict(record["literal_type"]), record["json_schema"], None, record.get("python"))

    @cached_property
    def _record_key(self) -> str:
        return json.dumps(self.to_record(), sort_keys=True, separators=(",", ":"))

    def declare(self) -> GateType:
        """Make this live type known in this process (a gate's definition does): from now on
        :meth:`known` of a detached type with the same record (Python name, literal type and JSON
        schema) is this type. The latest declaration of a record wins. Returns ``self``."""
        if self.is_live:
            _DECLARED[self._record_key] = self
        return self

    def known(self) -> GateType:
        """The type to decode with: this one if live, else the live type declared in this process
        with the same record, else this detached one (structures then decode as plain dicts)."""
        return self if self.is_live else _DECLARED.get(self._record_key, self)

    @property
    def is_live(self) -> bool:
        """True when the Python type is known (pydantic validates, ``to_python`` rebuilds it)."""
        return self._adapter is not None

    @property
    def is_file(self) -> bool:
        """True for ``GateFile`` and ``StructuredDataset`` signals."""
        return self.literal_type.blob_format is not None

    @cached_property
    def _validator(self) -> typing.Callable[[Any], Any]:
        return fastjsonschema.compile(self.json_schema, formats=FORMATS)

    @cached_property
    def plain(self) -> type | None:
        """``int``, ``float``, ``str`` or ``bool`` when this type is that builtin alone (no constraint, no file)."""
        return next((t for t in _PLAIN if self.python_type is t), None)

    # -- public conversions ----------------------------------------------------------
    def validate(self, value: Any) -> Any:
        """Strictly validate a Python value; return its JSON form or raise ``SignalTypeError``."""
        if type(value) is self.plain and _PLAIN[self.plain](value):  # its own JSON form: no schema walk
            return value
        return self._run(value, lambda: self._walk(value, self.json_schema, True, ""))

    def validate_json(self, json_value: Any) -> Any:
        """Validate a value already in JSON form (stored, or sent over HTTP); return it canonical."""
        return self._run(json_value, lambda: self._walk(json_value, self.json_schema, False, ""))

    def parse_text(self, text: str) -> Any:
        """Leniently parse text typed by a person; return the JSON form or raise ``SignalTypeError``."""
        if not isinstance(text, str):
            raise SignalTypeError(f"expected text for a {self.literal_type} signal, got {short(text, 80)}")

        def parse() -> Any:
            return self._walk(self._from_text(text, self.json_schema), self.json_schema, False, "")

        return self._run(text, parse)

    def to_python(self, json_value: Any) -> Any:
        """The JSON form back to a Python value (the real type when live, best effort otherwise)."""
        if self._adapter is not None:
            try:
                return self._adapter.validate_json(json.dumps(json_value))
            except pydantic.ValidationError as e:
                raise SignalTypeError(self._message(json_value, _pydantic_detail(e))) from None
        return _to_python(json_value, self.literal_type)

    def identity(self, json_value: Any) -> str:
        """A canonical string: two values are the same answer iff their identities are equal
        (files compare by content)."""
        return json.dumps(_identity(json_value, self.literal_type), sort_keys=True, separators=(",", ":"))

    def map_files(self, json_value: Any, fn: typing.Callable[[GateFile], GateFile]) -> Any:
        """The JSON form with every file in it (top level, in lists, dicts and structures)
        replaced by ``fn(file)``."""
        return _map_files(json_value, self.literal_type, fn)

    # -- internals -------------------------------------------------------------------
    def _message(self, value: Any, detail: str) -> str:
        return f"expected {self.literal_type}, got {short(value, 80)}: {detail}"

    def _run(self, value: Any, walk: typing.Callable[[], Any]) -> Any:
        try:
            return self._check(walk())
        except ValueError as e:
            raise SignalTypeError(self._message(value, str(e))) from None

    def _check(self, form: Any) -> Any:
        """Validate a canonical JSON form with pydantic (live) or its JSON schema (detached)."""
        if self._adapter is not None:
            try:
                obj = self._adapter.validate_json(json.dumps(form), strict=True)
            except pydantic.ValidationError as e:
                raise _Mismatch(_pydantic_detail(e)) from None
            return self._adapter.dump_python(obj, mode="json")
        try:
            self._validator(form)
        except fastjsonschema.JsonSchemaValueException as error:
            at = "".join(f"[{p!r}]" for p in error.path[1:])
            raise _Mismatch(f"{at + ': ' if at else ''}{error.message}") from None
        return form

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema or ("allOf" in schema and len(schema["allOf"]) == 1):
            if "$ref" in schema:
                target = self._defs[schema["$ref"].rsplit("/", 1)[-1]]
                schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            else:
                schema = {**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}
        return schema

    def _walk(self, v: Any, s: dict[str, Any], strict: bool, at: str) -> Any:
        """Check Python kinds along the schema and return the canonical JSON form.

        ``strict`` (programmatic values): datetimes, dates and durations must be real
        instances, files GateFiles or paths. Otherwise (JSON or parsed text) their JSON
        forms are accepted too."""
        s = self._resolve(s)
        where = f"{at}: " if at else ""

        def mismatch(expected: str) -> _Mismatch:
            got = short(v, 40) if at or isinstance(v, enum.Enum) or "one of" in expected else type(v).__name__
            return _Mismatch(f"{where}{got} is not {expected}")

        file_kind = s.get("x-gatewidgets")
        if file_kind:
            cls = StructuredDataset if file_kind == "dataframe" else GateFile
            if isinstance(v, (str, os.PathLike)):
                f = cls(v)
            elif not strict and isinstance(v, dict):
                f = cls.from_json(v)
            else:
                raise mismatch(f"a {cls.__name__} or a path")
            return f.to_json() if cls is StructuredDataset else GateFile.to_json(f)
        for key in ("anyOf", "oneOf"):
            if key in s:
                errors = []
                for branch in s[key]:
                    try:
                        return self._walk(v, branch, strict, at)
                    except _Mismatch as e:
                        errors.append(str(e).removeprefix(where))
                raise _Mismatch(where + " or ".join(errors))
        if "enum" in s or "const" in s:
            options = s["enum"] if "enum" in s else [s["const"]]
            names = s.get("x-enum-names")
            if isinstance(v, enum.Enum):
                if names is None or v.name not in names or type(v).__name__ != s.get("title"):
                    raise mismatch(f"one of {options}")
                v = v.value
            for o in options:
                if type(o) is type(v) and o == v:
                    return o
            if not strict and names and isinstance(v, str) and v in names:
                return options[names.index(v)]
            raise mismatch(f"one of {options}" + (f" (names {names})" if names and not strict else ""))
        t = s.get("type")
        fmt = s.get("format")
        if t == "null":
            if v is not None:
                raise mismatch("None")
            return None
        if t == "boolean":
            if not isinstance(v, bool):
                raise mismatch("a bool")
            return v
        if t == "integer":
            if not isinstance(v, int) or isinstance(v, bool):
                raise mismatch("an int")
            if v.bit_length() > 14_000:  # JSON writes ints as text: Python refuses past its digit limit (4300)
                try:
                    str(v)
                except ValueError:
                    raise mismatch(f"an int of at most {sys.get_int_max_str_digits()} digits") from None
            return v
        if t == "number":
            if not _is_number(v):
                raise mismatch("a finite number")
            try:
                number = float(v)
            except OverflowError:  # an int past the largest float
                number = math.inf
            if not math.isfinite(number):
                raise mismatch("a finite number (a float reaches about ±1.8e308)")
            return number
        if t == "string" and fmt == "date-time":
            if not strict and isinstance(v, str):
                v = _text.parse_datetime(v)
            if not isinstance(v, datetime):
                raise mismatch("a datetime")
            return _DATETIME.dump_python(v, mode="json")
        if t == "string" and fmt == "date":
            if not strict and isinstance(v, str):
                v = _text.parse_date(v)
            if not isinstance(v, date) or isinstance(v, datetime):
                raise mismatch("a date")
            return v.isoformat()
        if t == "string" and fmt == "duration":
            if not strict and isinstance(v, str):
                v = _text.parse_duration(v)
            elif not strict and _is_number(v):
                v = timedelta(seconds=v)
            if not isinstance(v, timedelta):
                raise mismatch("a timedelta")
            return _DURATION.dump_python(v, mode="json")
        if t == "string":
            if not isinstance(v, str):
                raise mismatch("a str")
            return v
        if t == "array":
            if isinstance(v, (str, os.PathLike)) and self._resolve(s.get("items", {})).get("x-gatewidgets") == "file":
                try:
                    v = folder_files(v) or v  # a folder where a list of files is expected: its files
                except ValueError as exc:
                    raise _Mismatch(f"{where}{exc}") from None
            if not isinstance(v, (list, tuple)):
                raise mismatch("a list")
            return [self._walk(x, s.get("items", {}), strict, f"{at}[{i}]") for i, x in enumerate(v)]
        if t == "object" and "properties" in s:
            return self._walk_struct(v, s, strict, at, mismatch)
        if t == "object":
            if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
                raise mismatch("a dict with str keys")
            item = s.get("additionalProperties", {})
            item = item if isinstance(item, dict) else {}
            return {k: self._walk(x, item, strict, f"{at}[{k!r}]") for k, x in v.items()}
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            raise mismatch("a JSON value") from None
        return v

    def _walk_struct(self, v: Any, s: dict[str, Any], strict: bool, at: str, mismatch: Any) -> dict[str, Any]:
        title = s.get("title")
        if isinstance(v, dict):
            data = v
        elif dataclasses.is_dataclass(v) and not isinstance(v, type) or isinstance(v, pydantic.BaseModel):
            if type(v).__name__ != title:
                raise mismatch(f"a {title}")
            names = [f.name for f in dataclasses.fields(v)] if dataclasses.is_dataclass(v) else \
                list(type(v).model_fields)
            data = {n: getattr(v, n) for n in names}
        else:
            raise mismatch(f"a {title} or a dict of its fields")
        props: dict[str, Any] = s["properties"]
        extra = s.get("additionalProperties")
        unknown = [k for k in data if k not in props]
        if unknown and not extra:
            raise _Mismatch(f"{at + ': ' if at else ''}unknown field(s) {', '.join(map(repr, unknown))} for {title}; "
                            f"fields are {list(props)}")
        out: dict[str, Any] = {}
        for name, ps in props.items():
            if name in data:
                out[name] = self._walk(data[name], ps, strict, f"{at}.{name}" if at else name)
            elif "default" in self._resolve(ps):
                out[name] = copy.deepcopy(self._resolve(ps)["default"])
            else:
                raise _Mismatch(f"{at + ': ' if at else ''}missing field {name!r} of {title}")
        for k in unknown:
            out[k] = self._walk(data[k], extra if isinstance(extra, dict) else {}, strict, f"{at}.{k}" if at else k)
        return out

    def _from_text(self, text: str, s: dict[str, Any]) -> Any:
        """Parse text at the top of the schema into a value for the lenient walk."""
        s = self._resolve(s)
        if s.get("x-gatewidgets") or s.get("type") == "array" and _is_folder_text(text) and \
                self._resolve(s.get("items", {})).get("x-gatewidgets") == "file":
            return text.strip()  # a file's path; a folder's, where a list of files is expected
        branches = s.get("anyOf") or s.get("oneOf")
        if branches:
            if _text.is_none_text(text) and any(self._resolve(b).get("type") == "null" for b in branches):
                return None
            errors = []
            for b in branches:
                if self._resolve(b).get("type") == "null":
                    continue
                try:
                    return self._walk(self._from_text(text, b), b, False, "")
                except ValueError as e:
                    errors.append(str(e))
            raise _Mismatch(" or ".join(errors))
        if "enum" in s or "const" in s:
            options = s["enum"] if "enum" in s else [s["const"]]
            names = s.get("x-enum-names") or []
            wanted = text.strip()
            for o in options:
                if str(o) == wanted:
                    return o
            for i, n in enumerate(names):
                if n == wanted or n.lower() == wanted.lower():
                    return options[i]
            raise _Mismatch(f"{wanted!r} is not one of {options}" + (f" (names {names})" if names else ""))
        t, fmt = s.get("type"), s.get("format")
        if t == "boolean":
            return _text.parse_bool(text)
        if t == "integer":
            return _text.parse_int(text)
        if t == "number":
            return _text.parse_float(text)
        if t == "null":
            if not _text.is_none_text(text):
                raise _Mismatch(f"{text!r} is not none/null")
            return None
        if t == "string":
            if fmt == "date-time":
                return _text.parse_datetime(text)
            if fmt == "date":
                return _text.parse_date(text)
            if fmt == "duration":
                return _text.parse_duration(text)
            return text
        return _text.parse_structure(text)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GateType):
            return NotImplemented
        return self.literal_type == other.literal_type and self.json_schema == other.json_schema

    def __hash__(self) -> int:
        return hash(self.literal_type)

    def __str__(self) -> str:
        return str(self.literal_type)

    def __repr__(self) -> str:
        return f"GateType({self.literal_type}{'' if self.is_live else ', detached'})"


def _pydantic_detail(e: pydantic.ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    more = f" (+{e.error_count() - 1} more)" if e.error_count() > 1 else ""
    return f"{loc + ': ' if loc else ''}{err['msg']}{more}"


def _non_none(lt: LiteralType) -> list[LiteralType]:
    return [v for v in lt.union_variants or () if v.simple is not SimpleType.NONE]


def _to_python(v: Any, lt: LiteralType) -> Any:
    """Best-effort Python value from the JSON form, knowing only the literal type."""
    if v is None:
        return None
    try:
        if lt.union_variants is not None:
            for variant in _non_none(lt):
                return _to_python(v, variant)
        if lt.collection_type is not None:
            return [_to_python(x, lt.collection_type) for x in v]
        if lt.map_value_type is not None:
            return {k: _to_python(x, lt.map_value_type) for k, x in v.items()}
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
            return {k: _to_python(x, types_[k]) if k in types_ else x for k, x in v.items()}
    except (ValueError, TypeError, AttributeError) as e:
        raise SignalTypeError(f"expected the JSON form of {lt}, got {short(v, 80)}: {e}") from None
    return v


def _is_folder_text(text: str) -> bool:
    """Typed text that names a folder rather than holding JSON (a list of files may be typed as its folder)."""
    stripped = text.strip()
    if not stripped or stripped[0] in "[{\"'":
        return False
    try:
        return folder_files(stripped) is not None  # only folders this process may read (no oracle for others)
    except ValueError:  # a readable folder holding more than files: refused, with its reason, by the walk
        return True


def _map_files(v: Any, lt: LiteralType, fn: typing.Callable[[GateFile], GateFile]) -> Any:
    if v is None:
        return None
    if lt.union_variants is not None:
        return next((_map_files(v, x, fn) for x in _non_none(lt)), v)
    if lt.collection_type is not None and isinstance(v, list):
        return [_map_files(x, lt.collection_type, fn) for x in v]
    if lt.map_value_type is not None and isinstance(v, dict):
        return {k: _map_files(x, lt.map_value_type, fn) for k, x in v.items()}
    if lt.blob_format is not None and isinstance(v, dict):
        return fn((StructuredDataset if lt.blob_format else GateFile).from_json(v)).to_json()
    if lt.fields is not None and isinstance(v, dict):
        types_ = dict(lt.fields)
        return {k: _map_files(x, types_[k], fn) if k in types_ else x for k, x in v.items()}
    return v


def _identity(v: Any, lt: LiteralType) -> Any:
    """The JSON form with files reduced to their content hash."""
    if v is None:
        return None
    if lt.union_variants is not None:
        return next((_identity(v, x) for x in _non_none(lt)), v)
    if lt.collection_type is not None and isinstance(v, list):
        return [_identity(x, lt.collection_type) for x in v]
    if lt.map_value_type is not None and isinstance(v, dict):
        return {k: _identity(x, lt.map_value_type) for k, x in v.items()}
    if lt.blob_format is not None and isinstance(v, dict):
        return {"sha256": v["sha256"]} if v.get("sha256") else {"path": v.get("path")}
    if lt.fields is not None and isinstance(v, dict):
        types_ = dict(lt.fields)
        return {k: _identity(x, types_[k]) if k in types_ else x for k, x in v.items()}
    return v
