"""Filters (flytekit syntax) and sorting."""
from __future__ import annotations

import pytest

from gatewidgets.models.common import Sort, SortOrdering
from gatewidgets.models.filters import (
    Contains,
    Equal,
    Filter,
    FilterList,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    NotEqual,
    ValueIn,
    parse_filters,
)


@pytest.mark.parametrize(
    "text, cls, function, key, value",
    [
        ("eq(state,PENDING)", Equal, "eq", "state", "PENDING"),
        ("neq(kind,sleep)", NotEqual, "neq", "kind", "sleep"),
        ("ne(kind,sleep)", NotEqual, "neq", "kind", "sleep"),
        ("gt(created_at,2024-01-01T00:00:00+00:00)", GreaterThan, "gt", "created_at", "2024-01-01T00:00:00+00:00"),
        ("gte(set_at,2024-01-01)", GreaterThanOrEqual, "gte", "set_at", "2024-01-01"),
        ("lt(created_at,2024)", LessThan, "lt", "created_at", "2024"),
        ("lte(created_at,2024)", LessThanOrEqual, "lte", "created_at", "2024"),
        ("contains(signal_id,expense)", Contains, "contains", "signal_id", "expense"),
        (" eq( state , SET ) ", Equal, "eq", "state", "SET"),
        ("eq(set_by,alice, bob)", Equal, "eq", "set_by", "alice, bob"),
    ],
)
def test_from_python_std(text, cls, function, key, value):
    f = Filter.from_python_std(text)
    assert type(f) is cls
    assert (f.function, f.key, f.value) == (function, key, value)
    assert Filter.from_python_std(str(f)) == f


def test_value_in():
    f = Filter.from_python_std("value_in(state,PENDING;UPCOMING)")
    assert isinstance(f, ValueIn)
    assert (f.function, f.key, f.value) == ("value_in", "state", ("PENDING", "UPCOMING"))
    assert str(f) == "value_in(state,PENDING;UPCOMING)"
    assert ValueIn("state", ["SET"]).value == ("SET",)


def test_constructors_and_str():
    assert str(Equal("state", "PENDING")) == "eq(state,PENDING)"
    assert str(NotEqual("kind", "sleep")) == "neq(kind,sleep)"
    assert Equal("state", "PENDING") == Filter.from_python_std("eq(state,PENDING)")
    assert Equal("state", "PENDING") != NotEqual("state", "PENDING")
    assert str(FilterList([Equal("a", "1"), GreaterThan("b", "2")])) == "eq(a,1)+gt(b,2)"


@pytest.mark.parametrize(
    "text",
    ["", "eq", "eq(state)", "eq(state,PENDING", "eq state,PENDING", "foo(state,PENDING)",
     "eq(,PENDING)", "value_in(state,)", "value_in(state,a;;b)", "eq(a,b)eq(c,d)"],
)  # fmt: skip
def test_malformed_raises_value_error_with_syntax(text):
    with pytest.raises(ValueError, match="e.g. 'eq\\(state,PENDING\\)'"):
        Filter.from_python_std(text)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError):
        Equal("", "x")
    with pytest.raises(ValueError):
        Equal("state", 5)
    with pytest.raises(ValueError):
        ValueIn("state", "PENDING")
    with pytest.raises(TypeError):
        Filter("state", "PENDING")


def test_parse_filters():
    eq, gt = Equal("state", "PENDING"), GreaterThan("created_at", "2024")
    assert parse_filters(None) == []
    assert parse_filters(eq) == [eq]
    assert parse_filters("eq(state,PENDING)") == [eq]
    assert parse_filters(FilterList([eq, gt])) == [eq, gt]
    assert parse_filters([eq, "gt(created_at,2024)"]) == [eq, gt]
    assert parse_filters([FilterList([eq]), [gt]]) == [eq, gt]
    for joined in ("eq(state,PENDING)+gt(created_at,2024)", "eq(state,PENDING) & gt(created_at,2024)",
                   "eq(state,PENDING) gt(created_at,2024)"):  # fmt: skip
        assert parse_filters(joined) == [eq, gt]
    assert parse_filters("contains(description,pay this)") == [Contains("description", "pay this")]
    with pytest.raises(ValueError):
        parse_filters("eq(state,PENDING) + nonsense")
    with pytest.raises(ValueError):
        parse_filters(42)


def test_sort():
    s = Sort.from_python_std("desc(created_at)")
    assert (s.key, s.direction) == ("created_at", SortOrdering.DESCENDING)
    assert Sort.from_python_std(" ASC( signal_id ) ") == Sort("signal_id")
    assert Sort("x").direction is SortOrdering.ASCENDING
    assert Sort.Direction is SortOrdering
    assert Sort("x", Sort.Direction.DESCENDING) == s.__class__("x", SortOrdering.DESCENDING)
    assert str(s) == "desc(created_at)"
    for bad in ("created_at", "up(created_at)", "asc()", "asc(a b)"):
        with pytest.raises(ValueError, match="asc\\(key\\)"):
            Sort.from_python_std(bad)
    with pytest.raises(ValueError):
        Sort("x", "asc")
