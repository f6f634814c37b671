"""The JSON schema of a signal type: pydantic's, with Enum member names and field order, and the
formats (date-time, date, duration) that fastjsonschema checks for real."""
from __future__ import annotations

import typing
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from gatewidgets.types import text as _text

__all__ = ["FORMATS", "SchemaGenerator", "keep_order"]


class SchemaGenerator(GenerateJsonSchema):
    """pydantic's JSON schema, plus the member names of Enums (``x-enum-names``)."""

    def enum_schema(self, schema: Any) -> dict[str, Any]:
        out = super().enum_schema(schema)
        out["x-enum-names"] = [m.name for m in schema["members"]]
        return out


def keep_order(schema: Any) -> Any:
    """Record the declaration order of every structure's fields (``x-order``): stored JSON sorts keys,
    and forms show fields in the order they were declared."""
    if isinstance(schema, dict):
        if isinstance(schema.get("properties"), dict):
            schema["x-order"] = list(schema["properties"])
        for value in schema.values():
            keep_order(value)
    elif isinstance(schema, list):
        for value in schema:
            keep_order(value)
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
