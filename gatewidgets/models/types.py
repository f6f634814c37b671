"""A Flyte-like view of a signal's type: ``SimpleType`` and ``LiteralType``."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["SimpleType", "LiteralType"]


class SimpleType(enum.Enum):
    """flyteidl's ``SimpleType``: same names, same numbers."""

    NONE = 0
    INTEGER = 1
    FLOAT = 2
    STRING = 3
    BOOLEAN = 4
    DATETIME = 5
    DURATION = 6
    BINARY = 7
    ERROR = 8
    STRUCT = 9


@dataclass(frozen=True)
class LiteralType:
    """What a signal holds, like flyteidl's ``LiteralType``.

    Exactly one of ``simple``, ``enum_values``, ``collection_type``, ``map_value_type``,
    ``union_variants``, ``blob_format`` (files: ``""``; tables: their format) and
    ``structure`` (dataclasses and pydantic models, whose ``fields`` are listed) describes
    the type. Enums carry their class name in ``structure`` beside ``enum_values``;
    ``tag`` is a short human name.
    """

    simple: SimpleType | None = None
    enum_values: tuple[str, ...] | None = None
    collection_type: LiteralType | None = None
    map_value_type: LiteralType | None = None
    union_variants: tuple[LiteralType, ...] | None = None
    blob_format: str | None = None
    structure: str | None = None
    tag: str = ""
    fields: tuple[tuple[str, LiteralType], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; ``LiteralType.from_dict`` turns it back."""
        d: dict[str, Any] = {"tag": self.tag}
        if self.simple is not None:
            d["simple"] = self.simple.name
        if self.enum_values is not None:
            d["enum_values"] = list(self.enum_values)
        if self.collection_type is not None:
            d["collection_type"] = self.collection_type.to_dict()
        if self.map_value_type is not None:
            d["map_value_type"] = self.map_value_type.to_dict()
        if self.union_variants is not None:
            d["union_variants"] = [v.to_dict() for v in self.union_variants]
        if self.blob_format is not None:
            d["blob_format"] = self.blob_format
        if self.structure is not None:
            d["structure"] = self.structure
        if self.fields is not None:
            d["fields"] = [[name, t.to_dict()] for name, t in self.fields]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LiteralType:
        """Rebuild a ``LiteralType`` from ``to_dict()``'s output."""

        def sub(key: str) -> LiteralType | None:
            return cls.from_dict(d[key]) if d.get(key) is not None else None

        return cls(
            simple=SimpleType[d["simple"]] if d.get("simple") is not None else None,
            enum_values=tuple(d["enum_values"]) if d.get("enum_values") is not None else None,
            collection_type=sub("collection_type"),
            map_value_type=sub("map_value_type"),
            union_variants=(
                tuple(cls.from_dict(v) for v in d["union_variants"])
                if d.get("union_variants") is not None
                else None
            ),
            blob_format=d.get("blob_format"),
            structure=d.get("structure"),
            tag=d.get("tag", ""),
            fields=(
                tuple((name, cls.from_dict(t)) for name, t in d["fields"])
                if d.get("fields") is not None
                else None
            ),
        )

    def __str__(self) -> str:
        if self.collection_type is not None:
            return f"list[{self.collection_type}]"
        if self.map_value_type is not None:
            return f"dict[str, {self.map_value_type}]"
        if self.union_variants is not None:
            others = [v for v in self.union_variants if v.simple is not SimpleType.NONE]
            if len(others) == 1 and len(self.union_variants) == 2:
                return f"Optional[{others[0]}]"
            return "Union[" + ", ".join(map(str, self.union_variants)) + "]"
        if self.blob_format is not None:
            return f"StructuredDataset({self.blob_format})" if self.blob_format else "GateFile"
        if self.enum_values is not None:
            if self.structure:
                return f"Enum {self.structure}({', '.join(self.enum_values)})"
            return "Literal[" + ",".join(repr(v) for v in self.enum_values) + "]"
        if self.structure is not None:
            inner = ", ".join(f"{n}: {t}" for n, t in self.fields or ())
            return f"{self.structure}{{{inner}}}"
        return self.tag or (self.simple.name.lower() if self.simple else "?")
