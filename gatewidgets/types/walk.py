"""The walk along a JSON schema that checks a value's Python kinds and returns its canonical JSON form
(strict for values from code; lenient for JSON and for text typed by a person)."""
from __future__ import annotations

import copy
import dataclasses
import enum
import json
import math
import os
import sys
from datetime import date, datetime, timedelta
from typing import Any

import pydantic
from pydantic import TypeAdapter

from gatewidgets.formatting import short
from gatewidgets.types import text as _text
from gatewidgets.types.file import GateFile, folder_files
from gatewidgets.types.structured.structured_dataset import StructuredDataset

__all__ = ["Mismatch", "SchemaWalk"]

_DATETIME = TypeAdapter(datetime)
_DURATION = TypeAdapter(timedelta)


class Mismatch(ValueError):
    """A value does not fit; the message is one line of detail."""


class SchemaWalk:
    """The walk along one type's JSON schema (``$defs`` resolved)."""

    __slots__ = ("defs",)

    def __init__(self, json_schema: dict[str, Any]) -> None:
        self.defs: dict[str, Any] = json_schema.get("$defs", {})

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema or ("allOf" in schema and len(schema["allOf"]) == 1):
            if "$ref" in schema:
                target = self.defs[schema["$ref"].rsplit("/", 1)[-1]]
                schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            else:
                schema = {**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}
        return schema

    def walk(self, v: Any, s: dict[str, Any], strict: bool, at: str) -> Any:
        """Check Python kinds along the schema and return the canonical JSON form.

        ``strict`` (programmatic values): datetimes, dates and durations must be real
        instances, files GateFiles or paths. Otherwise (JSON or parsed text) their JSON
        forms are accepted too."""
        s = self.resolve(s)
        where = f"{at}: " if at else ""

        def mismatch(expected: str) -> Mismatch:
            got = short(v, 40) if at or isinstance(v, enum.Enum) or "one of" in expected else type(v).__name__
            return Mismatch(f"{where}{got} is not {expected}")

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
                        return self.walk(v, branch, strict, at)
                    except Mismatch as e:
                        errors.append(str(e).removeprefix(where))
                raise Mismatch(where + " or ".join(errors))
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
            if isinstance(v, (str, os.PathLike)) and self.resolve(s.get("items", {})).get("x-gatewidgets") == "file":
                try:
                    v = folder_files(v) or v  # a folder where a list of files is expected: its files
                except ValueError as exc:
                    raise Mismatch(f"{where}{exc}") from None
            if not isinstance(v, (list, tuple)):
                raise mismatch("a list")
            return [self.walk(x, s.get("items", {}), strict, f"{at}[{i}]") for i, x in enumerate(v)]
        if t == "object" and "properties" in s:
            return self.walk_struct(v, s, strict, at, mismatch)
        if t == "object":
            if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
                raise mismatch("a dict with str keys")
            item = s.get("additionalProperties", {})
            item = item if isinstance(item, dict) else {}
            return {k: self.walk(x, item, strict, f"{at}[{k!r}]") for k, x in v.items()}
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            raise mismatch("a JSON value") from None
        return v

    def walk_struct(self, v: Any, s: dict[str, Any], strict: bool, at: str, mismatch: Any) -> dict[str, Any]:
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
            raise Mismatch(f"{at + ': ' if at else ''}unknown field(s) {', '.join(map(repr, unknown))} for {title}; "
                            f"fields are {list(props)}")
        out: dict[str, Any] = {}
        for name, ps in props.items():
            if name in data:
                out[name] = self.walk(data[name], ps, strict, f"{at}.{name}" if at else name)
            elif "default" in self.resolve(ps):
                out[name] = copy.deepcopy(self.resolve(ps)["default"])
            else:
                raise Mismatch(f"{at + ': ' if at else ''}missing field {name!r} of {title}")
        for k in unknown:
            out[k] = self.walk(data[k], extra if isinstance(extra, dict) else {}, strict, f"{at}.{k}" if at else k)
        return out

    def from_text(self, text: str, s: dict[str, Any]) -> Any:
        """Parse text at the top of the schema into a value for the lenient walk."""
        s = self.resolve(s)
        if s.get("x-gatewidgets") or s.get("type") == "array" and _is_folder_text(text) and \
                self.resolve(s.get("items", {})).get("x-gatewidgets") == "file":
            return text.strip()  # a file's path; a folder's, where a list of files is expected
        branches = s.get("anyOf") or s.get("oneOf")
        if branches:
            if _text.is_none_text(text) and any(self.resolve(b).get("type") == "null" for b in branches):
                return None
            errors = []
            for b in branches:
                if self.resolve(b).get("type") == "null":
                    continue
                try:
                    return self.walk(self.from_text(text, b), b, False, "")
                except ValueError as e:
                    errors.append(str(e))
            raise Mismatch(" or ".join(errors))
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
            raise Mismatch(f"{wanted!r} is not one of {options}" + (f" (names {names})" if names else ""))
        t, fmt = s.get("type"), s.get("format")
        if t == "boolean":
            return _text.parse_bool(text)
        if t == "integer":
            return _text.parse_int(text)
        if t == "number":
            return _text.parse_float(text)
        if t == "null":
            if not _text.is_none_text(text):
                raise Mismatch(f"{text!r} is not none/null")
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


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_folder_text(text: str) -> bool:
    """Typed text that names a folder rather than holding JSON (a list of files may be typed as its folder)."""
    stripped = text.strip()
    if not stripped or stripped[0] in "[{\"'":
        return False
    try:
        return folder_files(stripped) is not None  # only folders this process may read (no oracle for others)
    except ValueError:  # a readable folder holding more than files: refused, with its reason, by the walk
        return True
