"""Typed input controls: one ipywidgets control per signal type.

``make_control(signal)`` returns a :class:`Control` whose ``read()`` gives what to send
through ``GateRemote``: ``("value", python_value)`` for ``set_input`` or ``("text", str)``
for ``set_text`` (which parses typed text into the signal's type). ``read()`` raises
``ValueError`` with a message for the user when the control holds no valid answer.
"""
from __future__ import annotations

import json
from datetime import timezone
from typing import Any, Callable

import ipywidgets as w

from gatewidgets.errors import SignalTypeError
from gatewidgets.models.signal import Signal
from gatewidgets.models.types import SimpleType
from gatewidgets.types import GateType

Answer = tuple[str, Any]


class Control:
    """A control for one signal: ``widget`` to show, ``read()`` for its answer."""

    def __init__(self, widget: w.Widget, read: Callable[[], Answer], *, live_check: GateType | None = None,
                 field: w.ValueWidget | None = None) -> None:
        self.widget = widget
        self.read = read
        self.field = field
        self.live_check = live_check

    def disable(self) -> None:
        for child in _walk(self.widget):
            if hasattr(child, "disabled"):
                child.disabled = True


def _walk(widget: w.Widget) -> list[w.Widget]:
    out = [widget]
    for child in getattr(widget, "children", ()):
        out.extend(_walk(child))
    return out


def detached_type(signal: Signal) -> GateType | None:
    """The signal's type rebuilt from its stored record (validates without the workflow's code)."""
    try:
        return GateType.from_record(signal.type_record) if signal.type_record else None
    except (KeyError, TypeError, ValueError):
        return None


def _schema(signal: Signal) -> dict[str, Any]:
    record = signal.type_record or {}
    schema = dict(record.get("json_schema") or {})
    defs = schema.get("$defs", {})
    while "$ref" in schema:
        schema = {**defs.get(schema["$ref"].rsplit("/", 1)[-1], {}),
                  **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _layout() -> w.Layout:
    return w.Layout(width="320px")


def make_control(signal: Signal) -> Control:
    """The natural control for the signal's type (see module docstring)."""
    lt = signal.type
    tag = lt.tag
    if lt.blob_format is not None:
        raise ValueError("files use the upload control")  # GateWidget builds it (needs the remote)
    if lt.enum_values is not None:
        schema = _schema(signal)
        values = list(schema.get("enum", lt.enum_values))
        names = schema.get("x-enum-names") or [str(v) for v in values]
        field = w.Dropdown(options=list(zip(names, values)), value=None, layout=_layout())

        def read_enum() -> Answer:
            if field.value is None:
                raise ValueError("choose one of: " + ", ".join(map(str, names)))
            return "value", field.value

        return Control(field, read_enum, field=field)
    if lt.simple is SimpleType.BOOLEAN:
        field = w.ToggleButtons(options=[("True", True), ("False", False)], value=None)
        return Control(field, lambda: _required(field, "choose True or False"), field=field)
    if lt.simple is SimpleType.INTEGER:
        field = w.IntText(value=0, layout=_layout())
        return Control(field, lambda: ("value", int(field.value)), field=field)
    if lt.simple is SimpleType.FLOAT:
        field = w.FloatText(value=0.0, layout=_layout())
        return Control(field, lambda: ("value", float(field.value)), field=field)
    if lt.simple is SimpleType.STRING:
        field = w.Text(value="", placeholder="text", layout=_layout())
        return Control(field, lambda: ("value", field.value), field=field)
    if tag == "datetime":
        field = w.DatetimePicker(value=None)

        def read_dt() -> Answer:
            value = _required(field, "pick a date and time")[1]
            return "value", value if value.tzinfo else value.replace(tzinfo=timezone.utc)

        return Control(field, read_dt, field=field)
    if tag == "date":
        field = w.DatePicker(value=None)
        return Control(field, lambda: _required(field, "pick a date"), field=field)
    if tag == "timedelta":
        field = w.Text(value="", placeholder="e.g. 90s, 5m, 1h30m, 2d, PT1H", layout=_layout())
        return _text_control(field, signal)
    # lists, dicts, structures, optionals: JSON (or a Python literal), validated as typed
    field = w.Textarea(value=_json_skeleton(signal), placeholder="JSON",
                       layout=w.Layout(width="420px", height="90px"))
    return _text_control(field, signal)


def _required(field: w.ValueWidget, message: str) -> Answer:
    if field.value is None:
        raise ValueError(message)
    return "value", field.value


def _text_control(field: w.Text | w.Textarea, signal: Signal) -> Control:
    gate_type = detached_type(signal)

    def read_text() -> Answer:
        if gate_type is not None:
            try:
                gate_type.parse_text(field.value)
            except SignalTypeError as exc:
                raise ValueError(str(exc)) from None
        return "text", field.value

    return Control(field, read_text, live_check=gate_type, field=field)


def _json_skeleton(signal: Signal) -> str:
    """A starting value for the JSON editor: ``[]``, ``{}`` or the structure's fields."""
    lt = signal.type
    if lt.collection_type is not None:
        return "[]"
    if lt.fields is not None:
        props = _schema(signal).get("properties", {})
        return json.dumps({name: props.get(name, {}).get("default") for name, _ in lt.fields}, indent=1)
    if lt.map_value_type is not None:
        return "{}"
    return ""
