"""Signal filters in flytekit's syntax: ``eq(state,PENDING)``, ``value_in(kind,approve;input)``.

Mirrors ``flytekit.models.filters``: ``Filter.from_python_std`` parses one filter,
``Equal``/``NotEqual``/... build one, ``FilterList`` ANDs several. ``parse_filters``
normalises whatever a caller hands over into a list of ``Filter``.

:meth:`Filter.matches` is the one definition of what a filter means on a signal: every
store backend either pushes a filter down (SQL) with the same semantics or calls it.
"""
from __future__ import annotations

import enum
import operator
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, Callable, Union

from gatewidgets.models.common import Sort, SortOrdering

__all__ = [
    "Filter",
    "Equal",
    "NotEqual",
    "GreaterThan",
    "GreaterThanOrEqual",
    "LessThan",
    "LessThanOrEqual",
    "Contains",
    "ValueIn",
    "FilterList",
    "parse_filters",
    "SIGNAL_FIELDS",
    "TIME_FIELDS",
    "signal_field",
    "check_fields",
    "sort_signals",
]

SYNTAX = (
    "expected 'function(key,value)' with function one of eq, neq, gt, gte, lt, lte, "
    "contains, value_in (value_in takes values separated by ';'), "
    "e.g. 'eq(state,PENDING)' or 'value_in(kind,approve;input)'"
)
_ONE = re.compile(r"\s*([A-Za-z_]+)\s*\(\s*([^,()]*?)\s*,([^()]*)\)\s*")

SIGNAL_FIELDS = frozenset({"state", "kind", "signal_id", "node_id", "created_at", "set_at", "set_by", "via",
                           "execution", "execution_name", "project", "domain", "waiting_since", "deadline"})
"""The signal fields filters and sorts may name."""
TIME_FIELDS = frozenset({"created_at", "set_at", "waiting_since", "deadline"})
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "neq": operator.ne, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt,
    "lte": operator.le}


def check_fields(filters: Iterable[Filter]) -> None:
    """Raise ``ValueError`` for a filter on a field signals do not have."""
    for f in filters:
        if f.key not in SIGNAL_FIELDS:
            raise ValueError(f"Cannot filter signals on {f.key!r}; use one of {sorted(SIGNAL_FIELDS)}.")


def signal_field(signal: Any, key: str) -> Any:
    """A signal's field as filters see it: enums as their values, execution fields by name."""
    ex = signal.id.execution_id
    scope = {"execution": ex.name, "execution_name": ex.name, "project": ex.project, "domain": ex.domain}
    value = scope[key] if key in scope else getattr(signal, key)
    return value.value if isinstance(value, enum.Enum) else value


class Filter:
    """One comparison ``function(key, value)``; use a subclass or ``from_python_std``."""

    function = ""

    def __init__(self, key: str, value: str) -> None:
        if not self.function:
            raise TypeError("use Filter.from_python_std(...) or a subclass such as Equal(key, value)")
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"filter key must be a non-empty string, got {key!r}; {SYNTAX}")
        self.key = key.strip()
        self.value = self._coerce(value)

    @staticmethod
    def _coerce(value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"filter value must be a string, got {value!r}; {SYNTAX}")
        return value.strip()

    @classmethod
    def from_python_std(cls, string: str) -> Filter:
        """Parse one filter, e.g. ``"eq(state,PENDING)"``; raises ``ValueError`` if malformed."""
        m = _ONE.fullmatch(string) if isinstance(string, str) else None
        if m is None:
            raise ValueError(f"{string!r} could not be parsed into a filter: {SYNTAX}")
        function, key, value = m.groups()
        sub = _FUNCTIONS.get(function.lower())
        if sub is None:
            raise ValueError(f"unknown filter function {function!r} in {string!r}: {SYNTAX}")
        if not key:
            raise ValueError(f"filter {string!r} has no key: {SYNTAX}")
        if sub is ValueIn:
            return ValueIn(key, [v for v in value.split(";")])
        return sub(key, value)

    def _value_text(self) -> str:
        return self.value

    def time_value(self, text: str | None = None) -> datetime:
        """The value (or ``text``) as a UTC time, for filters on ``created_at``, ``set_at``, ...;
        ``ValueError`` if it is not ISO-8601."""
        text = self.value if text is None else text
        try:
            at = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"Filter on {self.key} needs an ISO-8601 time, got {text!r}.") from None
        return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)

    def matches(self, signal: Any) -> bool:
        """Whether ``signal`` passes this filter (a missing field passes only ``neq``)."""
        check_fields([self])
        actual = signal_field(signal, self.key)
        if self.function == "value_in":
            if actual is not None and self.key in TIME_FIELDS:
                return any(actual == self.time_value(v) for v in self.value)
            return actual is not None and str(actual) in self.value
        if self.function == "contains":
            return actual is not None and str(self.value) in str(actual)
        if actual is None:
            return self.function == "neq"
        if self.key in TIME_FIELDS:
            return _COMPARE[self.function](actual, self.time_value())
        return _COMPARE[self.function](str(actual), self.value)

    def __str__(self) -> str:
        return f"{self.function}({self.key},{self._value_text()})"

    def __repr__(self) -> str:
        return f"Filter.from_python_std({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and (self.function, self.key, self.value) == (
            other.function,
            other.key,
            other.value,
        )

    def __hash__(self) -> int:
        return hash((self.function, self.key, self.value))


def sort_signals(signals: Iterable[Any], sort_by: Sort) -> list[Any]:
    """Signals ordered by ``sort_by`` as SQLite orders them: a missing value is the smallest."""
    if sort_by.key not in SIGNAL_FIELDS:
        raise ValueError(f"Cannot sort signals by {sort_by.key!r}; use one of {sorted(SIGNAL_FIELDS)}.")
    return sorted(signals, key=lambda s: _sort_key(signal_field(s, sort_by.key)),
                  reverse=sort_by.direction == SortOrdering.DESCENDING)


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is not None, value if value is not None else 0)


class Equal(Filter):
    function = "eq"


class NotEqual(Filter):
    function = "neq"


class GreaterThan(Filter):
    function = "gt"


class GreaterThanOrEqual(Filter):
    function = "gte"


class LessThan(Filter):
    function = "lt"


class LessThanOrEqual(Filter):
    function = "lte"


class Contains(Filter):
    """``contains(key,text)``: the field's text contains ``text``."""

    function = "contains"


class ValueIn(Filter):
    """``value_in(key,a;b;c)``: the field equals one of the values (a tuple of strings)."""

    function = "value_in"

    def __init__(self, key: str, values: Iterable[str]) -> None:
        super().__init__(key, values)  # type: ignore[arg-type]

    @staticmethod
    def _coerce(value: object) -> tuple[str, ...]:  # type: ignore[override]
        items = list(value) if isinstance(value, Iterable) and not isinstance(value, str) else None
        if items is None or not all(isinstance(v, str) for v in items):
            raise ValueError(f"value_in takes a list of strings, got {value!r}; {SYNTAX}")
        values = tuple(v.strip() for v in items)
        if not values or any(not v for v in values):
            raise ValueError(f"value_in needs non-empty values, got {value!r}; {SYNTAX}")
        return values

    def _value_text(self) -> str:
        return ";".join(self.value)


_FUNCTIONS: dict[str, type[Filter]] = {
    "eq": Equal,
    "neq": NotEqual,
    "ne": NotEqual,  # flytekit's spelling
    "gt": GreaterThan,
    "gte": GreaterThanOrEqual,
    "lt": LessThan,
    "lte": LessThanOrEqual,
    "contains": Contains,
    "value_in": ValueIn,
}


class FilterList:
    """Several filters, ANDed together; ``str()`` joins them with ``+`` like flytekit."""

    def __init__(self, filter_list: Iterable[Filter]) -> None:
        self.filters = list(filter_list)

    def __iter__(self) -> Iterator[Filter]:
        return iter(self.filters)

    def __len__(self) -> int:
        return len(self.filters)

    def __str__(self) -> str:
        return "+".join(str(f) for f in self.filters)


FilterSpec = Union[None, str, Filter, FilterList, Iterable["FilterSpec"]]
_SPLIT = re.compile(r"(?<=\))\s*[+&\s]\s*(?=[A-Za-z_]+\s*\()")


def parse_filters(filters: FilterSpec) -> list[Filter]:
    """Normalise ``None``, a ``Filter``, a ``FilterList``, a string (several filters may be
    joined by ``+``, ``&`` or spaces) or a list of any of those into a list of ``Filter``."""
    if filters is None:
        return []
    if isinstance(filters, Filter):
        return [filters]
    if isinstance(filters, str):
        parts = [p for p in _SPLIT.split(filters.strip()) if p.strip()]
        return [Filter.from_python_std(p) for p in parts]
    if isinstance(filters, (FilterList, list, tuple)):
        return [f for item in filters for f in parse_filters(item)]
    raise ValueError(f"cannot use {filters!r} as a filter: {SYNTAX}")
