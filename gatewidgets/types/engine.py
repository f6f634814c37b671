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

import json
import typing
from functools import cached_property
from typing import Any

import fastjsonschema
import pydantic
from pydantic import TypeAdapter

from gatewidgets.errors import SignalTypeError
from gatewidgets.formatting import short
from gatewidgets.models.types import LiteralType
from gatewidgets.types import forms
from gatewidgets.types.file import GateFile
from gatewidgets.types.literal import to_literal_type, type_name, unsupported
from gatewidgets.types.schema import FORMATS, SchemaGenerator, keep_order
from gatewidgets.types.walk import Mismatch, SchemaWalk

__all__ = ["GateType"]

_DECLARED: dict[str, GateType] = {}  # record (canonical JSON) -> the live type last declared with it; one per type


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
        self.python_name = python_name or (type_name(python_type) if python_type is not None else str(literal_type))
        self._adapter = _adapter

    @classmethod
    def of(cls, py_type: Any) -> GateType:
        """The type of ``py_type``; raises ``TypeError`` for unsupported types."""
        py_type = type(None) if py_type is None else py_type
        literal_type = to_literal_type(py_type)
        try:
            adapter: TypeAdapter[Any] = TypeAdapter(py_type)
            schema = keep_order(adapter.json_schema(schema_generator=SchemaGenerator))
        except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError) as e:
            raise unsupported(py_type, "", str(e).splitlines()[0]) from None
        if isinstance(py_type, type) and typing.get_origin(py_type) is None and py_type.__module__ != "builtins":
            name = f"{py_type.__module__}:{py_type.__qualname__}"
        else:
            name = type_name(py_type)
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
    def _walker(self) -> SchemaWalk:
        return SchemaWalk(self.json_schema)

    @cached_property
    def _validator(self) -> typing.Callable[[Any], Any]:
        return fastjsonschema.compile(self.json_schema, formats=FORMATS)

    @cached_property
    def plain(self) -> type | None:
        """``int``, ``float``, ``str`` or ``bool`` when this type is that builtin alone (no constraint, no file)."""
        return next((t for t in forms.PLAIN if self.python_type is t), None)

    # -- public conversions ----------------------------------------------------------
    def validate(self, value: Any) -> Any:
        """Strictly validate a Python value; return its JSON form or raise ``SignalTypeError``."""
        if type(value) is self.plain and forms.PLAIN[self.plain](value):  # its own JSON form: no schema walk
            return value
        return self._run(value, lambda: self._walker.walk(value, self.json_schema, True, ""))

    def validate_json(self, json_value: Any) -> Any:
        """Validate a value already in JSON form (stored, or sent over HTTP); return it canonical."""
        return self._run(json_value, lambda: self._walker.walk(json_value, self.json_schema, False, ""))

    def parse_text(self, text: str) -> Any:
        """Leniently parse text typed by a person; return the JSON form or raise ``SignalTypeError``."""
        if not isinstance(text, str):
            raise SignalTypeError(f"expected text for a {self.literal_type} signal, got {short(text, 80)}")

        def parse() -> Any:
            return self._walker.walk(self._walker.from_text(text, self.json_schema), self.json_schema, False, "")

        return self._run(text, parse)

    def to_python(self, json_value: Any) -> Any:
        """The JSON form back to a Python value (the real type when live, best effort otherwise)."""
        if self._adapter is not None:
            try:
                return self._adapter.validate_json(json.dumps(json_value))
            except pydantic.ValidationError as e:
                raise SignalTypeError(self._message(json_value, _pydantic_detail(e))) from None
        return forms.to_python(json_value, self.literal_type)

    def identity(self, json_value: Any) -> str:
        """A canonical string: two values are the same answer iff their identities are equal
        (files compare by content)."""
        return json.dumps(forms.identity(json_value, self.literal_type), sort_keys=True, separators=(",", ":"))

    def map_files(self, json_value: Any, fn: typing.Callable[[GateFile], GateFile]) -> Any:
        """The JSON form with every file in it (top level, in lists, dicts and structures)
        replaced by ``fn(file)``."""
        return forms.map_files(json_value, self.literal_type, fn)

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
                raise Mismatch(_pydantic_detail(e)) from None
            return self._adapter.dump_python(obj, mode="json")
        try:
            self._validator(form)
        except fastjsonschema.JsonSchemaValueException as error:
            at = "".join(f"[{p!r}]" for p in error.path[1:])
            raise Mismatch(f"{at + ': ' if at else ''}{error.message}") from None
        return form

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
