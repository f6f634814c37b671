"""Values in their stored JSON form, for any type hint: what the engine stores of inputs and outputs."""
from __future__ import annotations

import functools
from typing import Any

from gatewidgets.types.engine import GateType

__all__ = ["gate_type_or_none", "json_or_none"]


def gate_type_or_none(hint: Any) -> GateType | None:
    """The ``GateType`` of ``hint``, or None for a hint that has none (or is unhashable, e.g. an ``Annotated``
    with a list inside); cached per hint."""
    try:
        return _cached_gate_type(hint)
    except TypeError:  # unhashable hint
        return None


@functools.lru_cache(maxsize=512)
def _cached_gate_type(hint: Any) -> GateType | None:
    try:
        return GateType.of(hint)
    except TypeError:
        return None


def json_or_none(hint: Any, value: Any) -> Any:
    """``value`` (of type ``hint``) in JSON form, or None when the hint has no ``GateType`` or the value does
    not fit it."""
    if type(value) is hint and hint in (int, str, bool) and (hint is not int or -2**63 <= value < 2**63):
        return value  # already its own JSON form: skip the validator (the hot path of every task output)
    gate_type = gate_type_or_none(hint)
    if gate_type is None:
        return None
    try:
        return gate_type.validate(value)
    except Exception:
        return None
