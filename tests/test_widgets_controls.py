"""Typed controls: the natural ipywidgets control per signal type, values reach the task."""

import dataclasses
import enum
import time
from datetime import date, datetime, timedelta, timezone
from typing import Literal

import ipywidgets as w
import pytest

from gatewidgets import GateRemote, SignalState, task, wait_for_input, workflow
from gatewidgets.widgets import GateWidget


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Limits:
    low: int
    high: int = 10


def gate_wf(expected_type):
    @task
    def echo(v: expected_type) -> str:  # type: ignore[valid-type]
        return repr(v)

    @workflow
    def wf() -> str:
        return echo(v=wait_for_input("x", timeout=None, expected_type=expected_type))

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
    (int, w.IntText, 3, "3"),
    (float, w.FloatText, 2.5, "2.5"),
    (str, w.Text, "hi", "'hi'"),
    (date, w.DatePicker, date(2024, 5, 1), "datetime.date(2024, 5, 1)"),
    (datetime, w.DatetimePicker, datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
     "datetime.datetime(2024, 5, 1, 12, 0, tzinfo=TzInfo(0))"),
    (timedelta, w.Text, "1h30m", "datetime.timedelta(seconds=5400)"),
    (Colour, w.Dropdown, "blue", "<Colour.BLUE: 'blue'>"),
    (Literal["a", "b"], w.Dropdown, "b", "'b'"),
    (list[int], w.Textarea, "[1, 2]", "[1, 2]"),
    (dict[str, float], w.Textarea, '{"a": 1}', "{'a': 1.0}"),
    (Limits, w.Textarea, '{"low": 1}', "Limits(low=1, high=10)"),
])
def test_control_per_type_submits_value(py_type, widget_cls, value, expected):
    ex, card = card_for(gate_wf(py_type))
    assert type(card.control.field) is widget_cls
    card.control.field.value = value
    card.buttons["Submit"].click()
    assert card.error_text == ""
    assert ex.wait(timeout=10) == expected
    assert GateRemote.for_sandbox().get_signal("x", ex.name).via.value == "widget"


def test_empty_choice_shows_error_and_sets_nothing():
    ex, card = card_for(gate_wf(Colour))
    assert [name for name, _ in card.control.field.options] == ["RED", "BLUE"]
    card.buttons["Submit"].click()
    assert "choose one of" in card.error_text
    assert GateRemote.for_sandbox().get_signal("x", ex.name).state is SignalState.PENDING
    ex.abort()


def test_json_textarea_validates_live():
    ex, card = card_for(gate_wf(list[int]))
    card.control.field.value = "[1, 'x']"
    assert "[1]" in card.error_text  # error names the bad item, as soon as it is typed
    card.buttons["Submit"].click()
    assert GateRemote.for_sandbox().get_signal("x", ex.name).state is SignalState.PENDING
    card.control.field.value = "[1, 2, 3]"
    assert card.error_text == ""
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == "[1, 2, 3]"


def test_struct_skeleton_lists_fields():
    ex, card = card_for(gate_wf(Limits))
    assert '"low"' in card.control.field.value and '"high": 10' in card.control.field.value
    ex.abort()


def test_timedelta_text_invalid():
    ex, card = card_for(gate_wf(timedelta))
    card.control.field.value = "soon"
    assert "duration" in card.error_text
    card.buttons["Submit"].click()
    assert GateRemote.for_sandbox().get_signal("x", ex.name).state is SignalState.PENDING
    ex.abort()
