"""GateType: LiteralType views, strict validation, text parsing, JSON round trips, and
agreement between live (pydantic) and detached (jsonschema) types."""
from __future__ import annotations

import dataclasses
import enum
import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List, Literal, Optional

import pytest
from pydantic import BaseModel, Field

from gatewidgets.errors import SignalTypeError
from gatewidgets.models.types import LiteralType, SimpleType
from gatewidgets.types import GateFile, GateType, StructuredDataset
from gatewidgets.types.file.access import file_access


class Color(enum.Enum):
    red = "r"
    green = "g"


class Level(enum.Enum):
    low = 1
    high = 2


@dataclasses.dataclass
class Point:
    x: int
    y: float = 0.0
    when: Optional[datetime] = None


class Order(BaseModel):
    item: str
    qty: int = Field(gt=0)
    color: Color = Color.red
    points: list[Point] = []


class Tree(BaseModel):
    name: str
    children: list[Tree] = []


def detached(t) -> GateType:
    record = json.loads(json.dumps(GateType.of(t).to_record()))
    return GateType.from_record(record)


UTC = timezone.utc
DT = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


# -- LiteralType -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "t, simple, tag",
    [
        (bool, SimpleType.BOOLEAN, "bool"),
        (int, SimpleType.INTEGER, "int"),
        (float, SimpleType.FLOAT, "float"),
        (str, SimpleType.STRING, "str"),
        (datetime, SimpleType.DATETIME, "datetime"),
        (date, SimpleType.DATETIME, "date"),
        (timedelta, SimpleType.DURATION, "timedelta"),
        (type(None), SimpleType.NONE, "none"),
        (Color, None, "enum"),
        (Literal["a", "b"], None, "enum"),
        (Optional[int], None, "optional"),
        (int | None, None, "optional"),
        (list[int], None, "list"),
        (List[int], None, "list"),  # noqa: UP006  (the typing alias itself is the case tested)
        (dict[str, float], None, "dict"),
        (Dict[str, float], None, "dict"),  # noqa: UP006  (the typing alias itself is the case tested)
        (Point, None, "struct"),
        (Order, None, "struct"),
        (GateFile, None, "file"),
        (StructuredDataset, None, "dataframe"),
    ],
)
def test_literal_type_simple_and_tag(t, simple, tag):
    lt = GateType.of(t).literal_type
    assert lt.simple is simple
    assert lt.tag == tag
    assert LiteralType.from_dict(json.loads(json.dumps(lt.to_dict()))) == lt


def test_simple_type_numbers_are_flyteidl():
    assert [(m.name, m.value) for m in SimpleType] == [
        ("NONE", 0), ("INTEGER", 1), ("FLOAT", 2), ("STRING", 3), ("BOOLEAN", 4),
        ("DATETIME", 5), ("DURATION", 6), ("BINARY", 7), ("ERROR", 8), ("STRUCT", 9),
    ]  # fmt: skip


def test_literal_type_shapes():
    assert GateType.of(list[int]).literal_type.collection_type.simple is SimpleType.INTEGER
    assert GateType.of(dict[str, float]).literal_type.map_value_type.simple is SimpleType.FLOAT
    opt = GateType.of(Optional[int]).literal_type
    assert [v.simple for v in opt.union_variants] == [SimpleType.INTEGER, SimpleType.NONE]
    assert GateType.of(Color).literal_type.enum_values == ("r", "g")
    assert GateType.of(Literal["a", "b"]).literal_type.enum_values == ("a", "b")
    assert GateType.of(GateFile).literal_type.blob_format == ""
    assert GateType.of(StructuredDataset).literal_type.blob_format == "csv"
    assert GateType.of(Point).literal_type.structure == "Point"
    assert dict(GateType.of(Point).literal_type.fields)["x"].simple is SimpleType.INTEGER


@pytest.mark.parametrize(
    "t, text",
    [
        (int, "int"),
        (list[int], "list[int]"),
        (dict[str, float], "dict[str, float]"),
        (Optional[int], "Optional[int]"),
        (Literal["a", "b"], "Literal['a','b']"),
        (Color, "Enum Color(r, g)"),
        (GateFile, "GateFile"),
        (StructuredDataset, "StructuredDataset(csv)"),
        (Point, "Point{x: int, y: float, when: Optional[datetime]}"),
        (timedelta, "timedelta"),
    ],
)
def test_str_forms(t, text):
    assert str(GateType.of(t).literal_type) == text
    assert str(GateType.of(t)) == text


@pytest.mark.parametrize(
    "t",
    [set[int], tuple[int, str], dict[int, str], object, complex, bytes, list, dict, int | str,
     list[set[int]], Literal[True], Literal[1.5]],
)
def test_unsupported_types_raise_type_error(t):
    with pytest.raises(TypeError, match="supported: bool, int"):
        GateType.of(t)


def test_unsupported_field_names_the_field():
    @dataclasses.dataclass
    class Bad:
        ok: int
        nope: set[int]

    with pytest.raises(TypeError, match="field 'nope' of Bad"):
        GateType.of(Bad)


def test_recursive_model_is_supported():
    g = GateType.of(Tree)
    value = {"name": "a", "children": [{"name": "b"}]}
    assert g.validate(value) == {"name": "a", "children": [{"name": "b", "children": []}]}
    assert detached(Tree).validate(value) == g.validate(value)


# -- strict validation: accept/reject matrix, live and detached agree -----------------------
ACCEPT = [
    (bool, True, True),
    (bool, False, False),
    (int, 5, 5),
    (int, -3, -3),
    (float, 1.5, 1.5),
    (float, 2, 2.0),
    (str, "hi", "hi"),
    (str, "", ""),
    (datetime, DT, "2024-05-01T12:30:00Z"),
    (datetime, datetime(2024, 5, 1), "2024-05-01T00:00:00"),
    (date, date(2024, 5, 1), "2024-05-01"),
    (timedelta, timedelta(hours=1, minutes=30), "PT1H30M"),
    (timedelta, timedelta(seconds=1.5), "PT1.5S"),
    (type(None), None, None),
    (Color, Color.green, "g"),
    (Color, "g", "g"),
    (Level, Level.high, 2),
    (Level, 1, 1),
    (Literal["a", "b"], "b", "b"),
    (Optional[int], None, None),
    (Optional[int], 4, 4),
    (Optional[datetime], DT, "2024-05-01T12:30:00Z"),
    (list[int], [1, 2], [1, 2]),
    (list[int], (1, 2), [1, 2]),
    (list[float], [1, 2.5], [1.0, 2.5]),
    (list[timedelta], [timedelta(days=2)], ["P2D"]),
    (dict[str, float], {"a": 1}, {"a": 1.0}),
    (dict[str, list[int]], {"a": [1]}, {"a": [1]}),
    (Point, Point(1, 2.0, DT), {"x": 1, "y": 2.0, "when": "2024-05-01T12:30:00Z"}),
    (Point, {"x": 1}, {"x": 1, "y": 0.0, "when": None}),
    (Point, {"x": 1, "y": 3}, {"x": 1, "y": 3.0, "when": None}),
    (list[Point], [{"x": 1}, Point(2)], [{"x": 1, "y": 0.0, "when": None}, {"x": 2, "y": 0.0, "when": None}]),
    (Order, Order(item="tea", qty=2), {"item": "tea", "qty": 2, "color": "r", "points": []}),
    (Order, {"item": "tea", "qty": 2, "color": Color.green, "points": [Point(1)]},
     {"item": "tea", "qty": 2, "color": "g", "points": [{"x": 1, "y": 0.0, "when": None}]}),
]  # fmt: skip

REJECT = [
    (bool, 1),
    (bool, "true"),
    (int, "5"),
    (int, True),
    (int, 5.0),
    (int, None),
    (float, "1.5"),
    (float, True),
    (float, float("nan")),
    (str, 5),
    (str, None),
    (datetime, "2024-05-01T12:30:00Z"),
    (datetime, date(2024, 5, 1)),
    (datetime, 1714566600),
    (date, "2024-05-01"),
    (date, datetime(2024, 5, 1)),
    (timedelta, "PT1H"),
    (timedelta, 60),
    (type(None), 0),
    (Color, "blue"),
    (Color, "red"),  # a name is not a value (text faces accept names)
    (Color, Level.low),
    (Level, "1"),
    (Level, True),
    (Literal["a", "b"], "c"),
    (Optional[int], "4"),
    (list[int], [1, "2"]),
    (list[int], {1, 2}),
    (list[int], 1),
    (dict[str, float], {1: 1.0}),
    (dict[str, float], {"a": "1"}),
    (Point, {"y": 1.0}),
    (Point, {"x": "1"}),
    (Point, {"x": 1, "z": 2}),
    (Point, {"x": 1, "when": "2024-05-01T12:30:00Z"}),
    (Point, "Point(1)"),
    (Point, Order(item="x", qty=1)),
    (Order, {"item": "tea", "qty": 0}),  # Field(gt=0): pydantic / jsonschema constraint
    (Order, {"item": "tea", "qty": 1, "color": "blue"}),
    (Order, {"item": "tea", "qty": 1, "points": [{"x": 1.5}]}),
    (GateFile, 42),
    (GateFile, {"path": "/x"}),  # programmatic calls pass GateFile or a path, not JSON
]


@pytest.mark.parametrize("t, value, expected", ACCEPT)
@pytest.mark.parametrize("mode", ["live", "detached"])
def test_validate_accepts(mode, t, value, expected):
    g = GateType.of(t) if mode == "live" else detached(t)
    out = g.validate(value)
    assert out == expected
    assert type(out) is type(expected)
    json.dumps(out)
    assert g.validate_json(out) == out  # the JSON form is stable


@pytest.mark.parametrize("t, value", REJECT)
@pytest.mark.parametrize("mode", ["live", "detached"])
def test_validate_rejects(mode, t, value):
    g = GateType.of(t) if mode == "live" else detached(t)
    with pytest.raises(SignalTypeError) as info:
        g.validate(value)
    message = str(info.value)
    assert message.startswith(f"expected {g.literal_type}, got ")
    assert "\n" not in message


def test_error_message_names_field_and_detail():
    with pytest.raises(SignalTypeError, match=r"expected Point.*got \{'x': '1'\}: x: '1' is not an int"):
        GateType.of(Point).validate({"x": "1"})
    for g in (GateType.of(Order), detached(Order)):
        with pytest.raises(SignalTypeError, match="qty"):
            g.validate({"item": "tea", "qty": 0})


def test_long_values_are_truncated_in_messages():
    with pytest.raises(SignalTypeError) as info:
        GateType.of(int).validate("x" * 1000)
    assert len(str(info.value)) < 200


# -- to_python -------------------------------------------------------------------------
@pytest.mark.parametrize("t, value, expected", ACCEPT)
def test_to_python_live_round_trip(t, value, expected):
    g = GateType.of(t)
    back = g.to_python(g.validate(value))
    assert g.validate(back) == expected


def test_to_python_live_gives_real_types():
    assert GateType.of(Color).to_python("g") is Color.green
    assert GateType.of(Point).to_python({"x": 1, "y": 0.0, "when": None}) == Point(1)
    assert GateType.of(datetime).to_python("2024-05-01T12:30:00Z") == DT
    assert GateType.of(timedelta).to_python("PT1H30M") == timedelta(hours=1, minutes=30)
    assert GateType.of(date).to_python("2024-05-01") == date(2024, 5, 1)
    order = GateType.of(Order).to_python({"item": "t", "qty": 1, "color": "g", "points": [{"x": 2}]})
    assert order == Order(item="t", qty=1, color=Color.green, points=[Point(2)])


def test_to_python_detached_best_effort():
    assert detached(datetime).to_python("2024-05-01T12:30:00Z") == DT
    assert detached(date).to_python("2024-05-01") == date(2024, 5, 1)
    assert detached(timedelta).to_python("P1Y35D") == timedelta(days=400)
    assert detached(list[timedelta]).to_python(["PT1M"]) == [timedelta(minutes=1)]
    assert detached(Optional[datetime]).to_python(None) is None
    point = detached(Point).to_python({"x": 1, "y": 0.0, "when": "2024-05-01T12:30:00Z"})
    assert point == {"x": 1, "y": 0.0, "when": DT}
    assert detached(Color).to_python("g") == "g"
    assert detached(dict[str, int]).to_python({"a": 1}) == {"a": 1}


# -- records ---------------------------------------------------------------------------
@pytest.mark.parametrize("t", [int, Optional[datetime], list[Point], Order, Color, GateFile])
def test_record_round_trip(t):
    g = GateType.of(t)
    record = json.loads(json.dumps(g.to_record()))
    d = GateType.from_record(record)
    assert d.python_type is None and not d.is_live and g.is_live
    assert d.literal_type == g.literal_type
    assert d.json_schema == g.json_schema
    assert d == g
    assert d.to_record() == record


@pytest.mark.parametrize("t", [list[Point], Optional[Order], Color])
def test_known_is_the_live_type_declared_with_the_same_record(t):
    d = detached(t)
    assert d.known() is d  # nothing declared yet: decoded from the record alone
    live = GateType.of(t).declare()
    assert d.known() is live and live.known() is live
    later = GateType.of(t).declare()  # the latest declaration of a record wins (a re-run cell)
    assert detached(t).known() is later
    sample = _sample(t)
    assert d.known().to_python(live.validate(sample)) == sample != d.to_python(live.validate(sample))
    assert detached(dict[str, Point]).known().python_type is None  # another record: still detached


def _sample(t):
    return {list[Point]: [Point(1)], Optional[Order]: Order(item="a", qty=1), Color: Color.green}[t]


def test_record_names_python_type():
    assert GateType.of(Point).to_record()["python"] == f"{__name__}:Point"
    assert GateType.of(int).to_record()["python"] == "int"


# -- parse_text ------------------------------------------------------------------------
PARSE = [
    (bool, "true", True), (bool, "Yes", True), (bool, "y", True), (bool, "1", True),
    (bool, "FALSE", False), (bool, "no", False), (bool, "n", False), (bool, "0", False),
    (int, " 42 ", 42), (int, "-3", -3),
    (float, "1.5", 1.5), (float, "2", 2.0), (float, "1e3", 1000.0),
    (str, "  hello ", "  hello "),
    (datetime, "2024-05-01T12:30:00Z", "2024-05-01T12:30:00Z"),
    (datetime, "2024-05-01T14:30:00+02:00", "2024-05-01T14:30:00+02:00"),
    (datetime, "2024-05-01", "2024-05-01T00:00:00"),
    (date, "2024-05-01", "2024-05-01"),
    (timedelta, "90s", "PT1M30S"), (timedelta, "5m", "PT5M"), (timedelta, "1h30m", "PT1H30M"),
    (timedelta, "2d", "P2D"), (timedelta, "PT1H30M", "PT1H30M"), (timedelta, "120", "PT2M"),
    (timedelta, "1.5", "PT1.5S"),
    (type(None), "none", None), (type(None), "", None),
    (Color, "red", "r"), (Color, "g", "g"), (Color, "GREEN", "g"),
    (Level, "high", 2), (Level, "1", 1),
    (Literal["a", "b"], "b", "b"),
    (Optional[int], "5", 5), (Optional[int], "none", None), (Optional[int], "null", None),
    (Optional[int], "", None),
    (Optional[timedelta], "1h", "PT1H"),
    (list[int], "[1, 2]", [1, 2]), (list[int], "(1, 2)", [1, 2]),
    (dict[str, float], '{"a": 1}', {"a": 1.0}), (dict[str, float], "{'a': 1.5}", {"a": 1.5}),
    (list[datetime], '["2024-05-01T12:30:00Z"]', ["2024-05-01T12:30:00Z"]),
    (Point, '{"x": 1, "when": "2024-05-01T12:30:00Z"}', {"x": 1, "y": 0.0, "when": "2024-05-01T12:30:00Z"}),
    (Point, "{'x': 1, 'y': 2}", {"x": 1, "y": 2.0, "when": None}),
    (Order, '{"item": "t", "qty": 1, "color": "green"}', {"item": "t", "qty": 1, "color": "g", "points": []}),
]  # fmt: skip

PARSE_REJECT = [
    (bool, "maybe"), (int, "5.5"), (int, "five"), (float, "abc"), (float, "nan"),
    (datetime, "yesterday"), (date, "2024-13-01"), (timedelta, "soon"), (timedelta, "5x"),
    (type(None), "x"), (Color, "blue"), (Literal["a", "b"], "c"), (Optional[int], "x"),
    (list[int], "[1, 'a']"), (list[int], "not a list"), (dict[str, int], "{1: 2}"),
    (Point, '{"y": 1}'), (Order, '{"item": "t", "qty": 0}'),
]  # fmt: skip


@pytest.mark.parametrize("t, text, expected", PARSE)
@pytest.mark.parametrize("mode", ["live", "detached"])
def test_parse_text(mode, t, text, expected):
    g = GateType.of(t) if mode == "live" else detached(t)
    out = g.parse_text(text)
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize("t, text", PARSE_REJECT)
@pytest.mark.parametrize("mode", ["live", "detached"])
def test_parse_text_rejects(mode, t, text):
    g = GateType.of(t) if mode == "live" else detached(t)
    with pytest.raises(SignalTypeError, match=re.escape(f"expected {g.literal_type}")):
        g.parse_text(text)


def test_parse_text_needs_text():
    with pytest.raises(SignalTypeError):
        GateType.of(int).parse_text(5)


# -- identity --------------------------------------------------------------------------
def test_identity_is_canonical():
    g = GateType.of(dict[str, int])
    assert g.identity({"a": 1, "b": 2}) == g.identity({"b": 2, "a": 1})
    assert g.identity({"a": 1}) != g.identity({"a": 2})
    f = GateType.of(float)
    assert f.identity(f.validate(2)) == f.identity(f.validate(2.0))


def test_validate_json_rejects_what_does_not_fit():
    for g in (GateType.of(Point), detached(Point)):
        with pytest.raises(SignalTypeError):
            g.validate_json({"x": 1, "when": "not a date"})
        assert g.validate_json({"x": 1, "when": "2024-05-01T12:30:00Z"})["when"] == "2024-05-01T12:30:00Z"


def test_json_or_none_gives_the_stored_form_or_none():
    from typing import Annotated

    from gatewidgets.types import gate_type_or_none, json_or_none

    assert json_or_none(int, 3) == 3 and json_or_none(bool, True) is True
    assert json_or_none(datetime, datetime(2024, 1, 2, tzinfo=timezone.utc)) == "2024-01-02T00:00:00Z"
    assert json_or_none(Color, Color.green) == "g"
    assert json_or_none(int, "three") is None  # does not fit
    assert json_or_none(object, object()) is None  # a hint without a type
    unhashable = Annotated[int, []]
    assert gate_type_or_none(unhashable) is None and json_or_none(unhashable, 1) is None
    assert gate_type_or_none(int) is gate_type_or_none(int)  # cached


def test_a_folder_where_a_list_of_files_is_expected_gives_its_files(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "b.txt").write_text("second")
    (folder / "a.txt").write_text("first")
    files = GateType.of(list[GateFile])
    for value in (files.validate(folder), files.validate(str(folder)), files.parse_text(f" {folder} ")):
        assert [(f["name"], f["size"]) for f in value] == [("a.txt", 5), ("b.txt", 6)]
    (folder / "sub").mkdir()
    with pytest.raises(SignalTypeError, match="holds more than files .*sub.*send a zip"):
        files.validate(folder)
    with pytest.raises(SignalTypeError, match="holds more than files"):
        files.parse_text(str(folder))


def test_a_folder_outside_the_allowed_ones_is_not_listed_and_reads_as_any_other_text(tmp_path: Path) -> None:
    folder = tmp_path / "secret"
    folder.mkdir()
    (folder / "key.txt").write_text("k")
    files = GateType.of(list[GateFile])
    with file_access(()):  # HTTP's default: no server paths
        messages = []
        for name in (str(folder), str(tmp_path / "nonexistent")):
            with pytest.raises(SignalTypeError) as refused:
                files.parse_text(name)
            messages.append(str(refused.value).replace(name, "NAME"))
            with pytest.raises(SignalTypeError, match="is not a list"):
                files.validate(name)
    assert messages[0] == messages[1]  # a caller learns nothing of the folder


@pytest.mark.parametrize("py_type", [int, float, str, bool])
def test_a_plain_value_validated_without_the_schema_walk_agrees_with_the_full_validation(py_type: type) -> None:
    """A live ``int`` / ``float`` / ``str`` / ``bool`` type takes a value of exactly its type as it is; the full
    validation (the schema walk, then pydantic: ``validate_json``, the same checks for these types) accepts and
    refuses the same values."""
    live = GateType.of(py_type)
    values = [0, 1, -(2**70), 10**4200, 10**4400, True, False, 1.5, float("nan"), float("inf"), -0.0, 1e308,
              "", "text", "\ud800", "é", None]
    for value in values:
        outcomes = []
        for check in (live.validate, live.validate_json):
            try:
                outcomes.append(("ok", check(value)))
            except SignalTypeError:
                outcomes.append(("refused", None))
        assert outcomes[0] == outcomes[1], (py_type, value, outcomes)
    detached = GateType.from_record(live.to_record())
    assert live.plain is py_type and detached.plain is None and GateType.of(Optional[int]).plain is None
