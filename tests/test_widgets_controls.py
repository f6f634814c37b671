"""Forms from types: a control per field, validated per field, Submit enabled only when valid."""

import dataclasses
import enum
import time
from datetime import date, datetime, timedelta, timezone
from typing import Literal, Optional

import ipywidgets as w
import pydantic
import pytest
from typing_extensions import TypedDict

from gatewidgets import GateRemote, SignalState, task, wait_for_input, workflow
from gatewidgets.widgets import GateWidget
from gatewidgets.widgets.forms import NumberText


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Region(enum.Enum):
    EU = "eu"
    US = "us"
    APAC = "apac"
    LATAM = "latam"
    AFRICA = "africa"
    ANTARCTICA = "antarctica"


@dataclasses.dataclass
class Limits:
    low: int
    high: int = 10


@dataclasses.dataclass
class Range:
    start: int
    end: int


@dataclasses.dataclass
class Order:
    item: str
    quantity: int
    colour: Colour
    note: Optional[str] = None
    size: Range = dataclasses.field(default_factory=lambda: Range(1, 2))


class Person(pydantic.BaseModel):
    name: str
    age: int = 30


class Point(TypedDict):
    x: float
    y: float


def gate_wf(expected_type, **gate):
    @task
    def echo(v: expected_type) -> str:  # type: ignore[valid-type]
        return repr(v)

    @workflow
    def wf() -> str:
        return echo(v=wait_for_input("x", timeout=None, expected_type=expected_type, **gate))

    return wf


def card_for(wf) -> tuple:
    ex = wf.launch()
    remote = GateRemote.for_sandbox()
    deadline = time.monotonic() + 5
    while remote.get_signal("x", ex.name).state is not SignalState.PENDING:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return ex, GateWidget(remote.get_signal("x", ex.name))


@pytest.mark.parametrize("py_type, widget_cls, value, expected", [
    (bool, w.ToggleButtons, True, "True"),
    (int, NumberText, "3", "3"),
    (float, NumberText, "2.5", "2.5"),
    (str, w.Text, "hi", "'hi'"),
    (date, w.DatePicker, date(2024, 5, 1), "datetime.date(2024, 5, 1)"),
    (datetime, w.DatetimePicker, datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
     "datetime.datetime(2024, 5, 1, 12, 0, tzinfo=TzInfo(0))"),
    (timedelta, w.Text, "1h30m", "datetime.timedelta(seconds=5400)"),
    (Colour, w.ToggleButtons, "blue", "<Colour.BLUE: 'blue'>"),
    (Region, w.Dropdown, "apac", "<Region.APAC: 'apac'>"),
    (Literal["a", "b"], w.ToggleButtons, "b", "'b'"),
    (list[int], w.IntsInput, [1, 2], "[1, 2]"),
    (list[float], w.FloatsInput, [1.5], "[1.5]"),
    (list[str], w.TagsInput, ["a", "b"], "['a', 'b']"),
    (list[Colour], w.SelectMultiple, ("red", "blue"), "[<Colour.RED: 'red'>, <Colour.BLUE: 'blue'>]"),
    (list[Literal["x", "y"]], w.SelectMultiple, ("y",), "['y']"),
    (dict[str, float], w.Textarea, '{"a": 1}', "{'a': 1.0}"),
])
def test_control_per_type_submits_value(py_type, widget_cls, value, expected):
    ex, card = card_for(gate_wf(py_type))
    assert type(card.control.field) is widget_cls
    card.control.field.value = value
    assert not card.buttons["Submit"].disabled
    card.buttons["Submit"].click()
    assert card.error_text == ""
    assert ex.wait(timeout=10) == expected
    assert GateRemote.for_sandbox().get_signal("x", ex.name).via.value == "widget"


@pytest.mark.parametrize("py_type", [int, float, str, Colour, date, list[int]])
def test_field_without_default_starts_empty_and_submit_is_disabled(py_type):
    ex, card = card_for(gate_wf(py_type))
    field = card.control.field
    assert field.value in ("", None, (), []) or py_type is str
    if py_type in (int, float):
        assert field.value == "" and field.placeholder  # never a fake 0
    if py_type not in (str, list[int]):
        assert card.buttons["Submit"].disabled
        assert card.submit() is None
        assert GateRemote.for_sandbox().get_signal("x", ex.name).state is SignalState.PENDING
    ex.abort()


def test_float_default_is_prefilled():
    ex, card = card_for(gate_wf(float, default=1.0))
    assert card.control.field.value == "1.0"
    assert not card.buttons["Submit"].disabled
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == "1.0"


def test_number_typed_wrong_shows_inline_error_and_disables_submit():
    ex, card = card_for(gate_wf(int))
    card.control.field.value = "4.5"
    assert "not a whole number" in card.error_text
    assert card.buttons["Submit"].disabled
    card.control.field.value = "4"
    assert card.error_text == "" and not card.buttons["Submit"].disabled
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == "4"


def test_choice_with_no_pick_keeps_submit_disabled():
    ex, card = card_for(gate_wf(Colour))
    assert [name for name, _ in card.control.field.options] == ["RED", "BLUE"]
    assert card.buttons["Submit"].disabled
    card.buttons["Submit"].click()
    assert GateRemote.for_sandbox().get_signal("x", ex.name).state is SignalState.PENDING
    ex.abort()


def test_optional_has_a_none_toggle():
    ex, card = card_for(gate_wf(Optional[int]))
    none = [c for c in card.control.widget.children if isinstance(c, w.Checkbox)][0]
    assert none.description == "none"
    none.value = True
    assert card.control.field.disabled and not card.buttons["Submit"].disabled
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == "None"


def test_dataclass_form_field_by_field_with_nested_level_and_optional():
    ex, card = card_for(gate_wf(Order))
    fields = card.control.form.fields
    assert list(fields) == ["item", "quantity", "colour", "note", "size"]
    labels = [c.value for c in _walk(card.control.widget) if isinstance(c, w.Label)]
    assert labels[:3] == ["item", "quantity", "colour"]
    assert card.buttons["Submit"].disabled
    fields["item"].field.value = "pens"
    fields["quantity"].field.value = "x"
    assert "quantity" in card.error_text and card.buttons["Submit"].disabled
    fields["quantity"].field.value = "12"
    fields["colour"].field.value = "red"
    assert fields["note"].field.disabled  # Optional, default None: its "none" toggle is on
    fields["size"].fields["start"].field.value = "1"  # a nested structure: its fields, one level down
    fields["size"].fields["end"].field.value = "5"
    assert not card.buttons["Submit"].disabled, card.error_text
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == ("Order(item='pens', quantity=12, colour=<Colour.RED: 'red'>, note=None, "
                                   "size=Range(start=1, end=5))")


def test_dataclass_defaults_prefilled_and_edit_as_json_toggle():
    ex, card = card_for(gate_wf(Limits))
    form = card.control.form
    assert form.fields["high"].field.value == "10" and form.fields["low"].field.value == ""
    form.fields["low"].field.value = "2"
    form.as_json.value = True
    assert '"low": 2' in form.text.value and '"high": 10' in form.text.value
    form.text.value = '{"low": 3, "high": "many"}'
    card.buttons["Submit"].click()
    assert "high" in card.error_text
    assert GateRemote.for_sandbox().get_signal("x", ex.name).state is SignalState.PENDING
    form.text.value = '{"low": 3, "high": 4}'
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == "Limits(low=3, high=4)"


def test_pydantic_model_and_typeddict_forms():
    ex, card = card_for(gate_wf(Person))
    assert list(card.control.form.fields) == ["name", "age"]
    card.control.form.fields["name"].field.value = "Ada"
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == "Person(name='Ada', age=30)"
    ex, card = card_for(gate_wf(Point))
    card.control.form.fields["x"].field.value = "1"
    card.control.form.fields["y"].field.value = "2.5"
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == "{'x': 1.0, 'y': 2.5}"


def test_json_textarea_validates_on_submit():
    ex, card = card_for(gate_wf(dict[str, int]))
    card.control.field.value = "{'a': 'x'}"
    card.buttons["Submit"].click()
    assert "'a'" in card.error_text
    assert GateRemote.for_sandbox().get_signal("x", ex.name).state is SignalState.PENDING
    card.control.field.value = '{"a": 3}'
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == "{'a': 3}"


def test_timedelta_text_invalid():
    ex, card = card_for(gate_wf(timedelta))
    card.control.field.value = "soon"
    assert "duration" in card.error_text and card.buttons["Submit"].disabled
    assert GateRemote.for_sandbox().get_signal("x", ex.name).state is SignalState.PENDING
    ex.abort()


def test_form_built_from_stored_schema_alone():
    """Another process has no workflow code: the card builds the form from the stored JSON schema."""
    from gatewidgets.wire import signal_from_json, signal_to_json

    ex = gate_wf(Limits).launch()
    remote = GateRemote.for_sandbox()
    deadline = time.monotonic() + 5
    while remote.get_signal("x", ex.name).state is not SignalState.PENDING:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    detached = signal_from_json(signal_to_json(remote.get_signal("x", ex.name)))
    card = GateWidget(detached, remote=remote)
    assert list(card.control.form.fields) == ["low", "high"]
    card.control.form.fields["low"].field.value = "1"
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == "Limits(low=1, high=10)"


def _walk(widget):
    out = [widget]
    for child in getattr(widget, "children", ()):
        out.extend(_walk(child))
    return out
