"""Forms from a stored JSON schema: one control per field, validated per field, inline.

:func:`build_field` turns a JSON schema (as stored with a signal, so no workflow code is
needed) into a :class:`Field`: a widget, ``read()`` giving the value in JSON form (or
``ValueError`` with a message for the user), ``set()`` to pre-fill it, and ``valid`` kept
up to date as the user types. Structures (dataclasses, pydantic models, TypedDicts) get a
labelled row per attribute, nested one level, with an "edit as JSON" toggle; ``Optional``
adds a "none" toggle; enums and ``Literal`` get toggle buttons (≤5 options) or a dropdown;
lists of choices a multi-select, lists of numbers or text a tags input; dates, datetimes
and durations pickers. A field with no default starts empty (never a fake ``0``).
"""
from __future__ import annotations

import ast
import html
import json
import re
from datetime import date, datetime, timezone
from typing import Any, Callable

import ipywidgets as w
import traitlets

from gatewidgets.widgets.style import html as html_widget
from gatewidgets.widgets.style import shared_layout

__all__ = ["Field", "build_field", "NumberText", "MISSING", "resolve"]

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()
MAX_TOGGLES = 5
_WIDTH = "320px"
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*d)?\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m)?\s*"
                       r"(?:(\d+(?:\.\d+)?)\s*s)?\s*$", re.IGNORECASE)


def resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$ref`` / single ``allOf`` replaced by what they point to."""
    while "$ref" in schema or ("allOf" in schema and len(schema["allOf"]) == 1):
        if "$ref" in schema:
            target = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        else:
            schema = {**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}
    return schema


class NumberText(w.Text):
    """A text box for a number: it can be empty (a ``FloatText`` cannot); numbers set from code become text."""

    value = traitlets.CUnicode("", help="The number as typed").tag(sync=True)


class Field(traitlets.HasTraits):
    """One value's control. ``valid`` and ``error`` follow every change."""

    valid = traitlets.Bool(False)
    error = traitlets.Unicode("")

    def __init__(self, widget: w.Widget, read: Callable[[], Any], write: Callable[[Any], None],
                 watched: list[w.Widget], *, field: w.Widget | None = None) -> None:
        super().__init__()
        self.widget = widget
        self.field = field  # the main control of a scalar field (for code driving the card)
        self._read = read
        self._write = write
        for control in watched:
            control.observe(lambda _c: self.check(), names="value")

    def read(self) -> Any:
        """The value in JSON form; ``ValueError`` with a message when it is missing or invalid."""
        return self._read()

    def set(self, json_value: Any) -> None:
        """Pre-fill with a value in JSON form."""
        self._write(json_value)
        self.check()

    def check(self) -> None:
        try:
            self._read()
        except ValueError as exc:
            self.error, self.valid = str(exc), False
        else:
            self.error, self.valid = "", True


def build_field(schema: dict[str, Any], defs: dict[str, Any] | None = None, *, default: Any = MISSING,
                depth: int = 0) -> Field:
    """The control for a value of JSON ``schema`` (``defs``: its ``$defs``), pre-filled with ``default``."""
    defs = defs if defs is not None else schema.get("$defs", {})
    s = resolve(schema, defs)
    if default is MISSING and "default" in s:
        default = s["default"]
    field = _build(s, defs, depth)
    if default is not MISSING:
        field.set(default)
    else:
        field.check()
    return field


def _build(s: dict[str, Any], defs: dict[str, Any], depth: int) -> Field:
    options = [resolve(o, defs) for o in s.get("anyOf", s.get("oneOf", []))]
    if options and any(o.get("type") == "null" for o in options):
        rest = [o for o in options if o.get("type") != "null"]
        if len(rest) == 1:
            return _optional(_build(rest[0], defs, depth))
    if "enum" in s or "const" in s:
        return _choice(s)
    kind = s.get("type")
    if s.get("x-gatewidgets") == "file":
        return _json(s)  # files are uploaded by the card, not typed
    if kind == "boolean":
        toggle = w.ToggleButtons(options=[("True", True), ("False", False)], value=None)
        return Field(toggle, lambda: _required(toggle.value, "choose True or False"),
                     lambda v: setattr(toggle, "value", v), [toggle], field=toggle)
    if kind in ("integer", "number"):
        return _number(kind == "integer")
    if kind == "string":
        return _string(s.get("format"))
    if kind == "array":
        return _array(resolve(s.get("items", {}), defs), defs, depth)
    if kind == "object" and "properties" in s and depth < 2:
        return _structure(s, defs, depth)
    return _json(s)


def _required(value: Any, message: str) -> Any:
    if value is None:
        raise ValueError(message)
    return value


def _number(integer: bool) -> Field:
    box = NumberText(value="", placeholder="a whole number" if integer else "a number",
                     layout=shared_layout("field", width=_WIDTH), continuous_update=True)

    def read() -> Any:
        text = box.value.strip().replace("_", "")
        if not text:
            raise ValueError("required: type a number")
        try:
            return int(text) if integer else float(text)
        except ValueError:
            raise ValueError(f"{box.value!r} is not {'a whole number' if integer else 'a number'}") from None

    return Field(box, read, lambda v: setattr(box, "value", "" if v is None else repr(v)), [box], field=box)


def _string(fmt: str | None) -> Field:
    if fmt == "date":
        picker = w.DatePicker(value=None)
        return Field(picker, lambda: _required(picker.value, "pick a date").isoformat(),
                     lambda v: setattr(picker, "value", date.fromisoformat(v) if v else None), [picker], field=picker)
    if fmt == "date-time":
        dt_picker = w.DatetimePicker(value=None)

        def read_dt() -> str:
            value: datetime = _required(dt_picker.value, "pick a date and time")
            return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()

        def write_dt(v: Any) -> None:
            parsed = datetime.fromisoformat(v.replace("Z", "+00:00")) if v else None
            dt_picker.value = parsed if parsed is None or parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)

        return Field(dt_picker, read_dt, write_dt, [dt_picker], field=dt_picker)
    if fmt == "duration":
        box = w.Text(value="", placeholder="e.g. 90s, 5m, 1h30m, 2d, PT1H", layout=shared_layout("field", width=_WIDTH))
        return Field(box, lambda: _duration(box.value), lambda v: setattr(box, "value", v or ""), [box], field=box)
    text = w.Text(value="", placeholder="text", layout=shared_layout("field", width=_WIDTH))
    return Field(text, lambda: text.value, lambda v: setattr(text, "value", v or ""), [text], field=text)


def _duration(text: str) -> str:
    """``90s``, ``1h30m``, ``2d`` or ISO ``PT1H`` as an ISO-8601 duration."""
    text = text.strip()
    if not text:
        raise ValueError("required: type a duration such as 90s, 5m or 1h30m")
    if text.upper().startswith("P"):
        return text.upper()
    match = _DURATION.match(text)
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration: write 90s, 5m, 1h30m, 2d or PT1H")
    days, hours, minutes, seconds = (float(g or 0) for g in match.groups())
    return f"PT{days * 86400 + hours * 3600 + minutes * 60 + seconds:g}S"


def _choice(s: dict[str, Any]) -> Field:
    values = list(s["enum"]) if "enum" in s else [s["const"]]
    names = s.get("x-enum-names") or [str(v) for v in values]
    pairs = list(zip(names, values))
    control: w.ToggleButtons | w.Dropdown
    if len(pairs) <= MAX_TOGGLES:
        control = w.ToggleButtons(options=pairs, value=None)
    else:
        control = w.Dropdown(options=pairs, value=None, layout=shared_layout("field", width=_WIDTH))
    return Field(control, lambda: _required(control.value, "choose one of: " + ", ".join(map(str, names))),
                 lambda v: setattr(control, "value", v), [control], field=control)


def _array(items: dict[str, Any], defs: dict[str, Any], depth: int) -> Field:
    if "enum" in items:
        values = list(items["enum"])
        names = items.get("x-enum-names") or [str(v) for v in values]
        multi = w.SelectMultiple(options=list(zip(names, values)), value=(), rows=min(6, len(values)),
                                 layout=shared_layout("field", width=_WIDTH))
        return Field(multi, lambda: list(multi.value), lambda v: setattr(multi, "value", tuple(v or ())), [multi],
                     field=multi)
    tags: w.TagsInput | w.IntsInput | w.FloatsInput
    kind = items.get("type")
    if kind == "integer":
        tags = w.IntsInput(value=[])
    elif kind == "number":
        tags = w.FloatsInput(value=[])
    elif kind == "string" and "format" not in items:
        tags = w.TagsInput(value=[], allow_duplicates=True)
    else:
        return _json({"type": "array"})
    return Field(tags, lambda: list(tags.value), lambda v: setattr(tags, "value", list(v or [])), [tags],
                 field=tags)


def _optional(inner: Field) -> Field:
    none = w.Checkbox(value=False, description="none", indent=False, layout=shared_layout("none", width="80px"))

    def toggle(_change: Any = None) -> None:
        for child in _walk(inner.widget):
            if hasattr(child, "disabled"):
                child.disabled = none.value

    none.observe(toggle, names="value")

    def write(v: Any) -> None:
        none.value = v is None
        if v is not None:
            inner.set(v)

    box = w.HBox([inner.widget, none])
    return Field(box, lambda: None if none.value else inner.read(), write, [none, *_values(inner.widget)],
                 field=inner.field)


def _structure(s: dict[str, Any], defs: dict[str, Any], depth: int) -> Field:
    props = {name: s["properties"][name] for name in s.get("x-order", s["properties"]) if name in s["properties"]}
    required = set(s.get("required", ()))
    fields = {name: build_field(sub, defs, depth=depth + 1) for name, sub in props.items()}
    rows = []
    for name, field in fields.items():
        label = w.Label(name + ("" if name in required else " (optional)"),
                        layout=shared_layout("label", width="140px"))
        label.add_class("gw-field-label")
        error = html_widget()
        error.add_class("gw-field-error")
        field.observe(lambda c, e=error: setattr(e, "value", _error_html(c["new"])), names="error")
        error.value = _error_html(field.error)
        rows.append(w.VBox([w.HBox([label, field.widget]), error]))
    form = w.VBox(rows)
    form.add_class("gw-form")

    def read_form() -> dict[str, Any]:
        out = {}
        for name, field in fields.items():
            try:
                out[name] = field.read()
            except ValueError as exc:
                if name not in required and not field.valid and _is_empty(field):
                    continue  # an optional field left empty takes its default
                raise ValueError(f"{name}: {exc}") from None
        return out

    def write_form(v: Any) -> None:
        for name, field in fields.items():
            if isinstance(v, dict) and name in v:
                field.set(v[name])

    if depth > 0:
        nested = Field(form, read_form, write_form, _values(form))
        nested.fields = fields  # type: ignore[attr-defined]
        return nested
    text = w.Textarea(value="", placeholder="JSON", layout=w.Layout(width="420px", height="110px",
                                                                     display="none"))
    as_json = w.ToggleButton(value=False, description="edit as JSON", icon="code")

    def switch(change: Any) -> None:
        if change["new"]:
            try:
                text.value = json.dumps(read_form(), indent=1)
            except ValueError:
                text.value = json.dumps({n: _safe_read(f) for n, f in fields.items()}, indent=1)
        else:
            try:
                write_form(_parse_json(text.value))
            except ValueError:
                pass
        text.layout.display = "" if change["new"] else "none"
        form.layout.display = "none" if change["new"] else ""

    as_json.observe(switch, names="value")
    box = w.VBox([as_json, form, text])
    structure = Field(box, lambda: _parse_json(text.value) if as_json.value else read_form(),
                      lambda v: text.set_trait("value", json.dumps(v, indent=1)) if as_json.value else write_form(v),
                      [as_json, text, *_values(form)])
    structure.fields = fields  # type: ignore[attr-defined]
    structure.as_json = as_json  # type: ignore[attr-defined]
    structure.text = text  # type: ignore[attr-defined]
    return structure


def _json(s: dict[str, Any]) -> Field:
    text = w.Textarea(value="", placeholder="JSON (or a Python literal)", layout=w.Layout(width="420px", height="90px"))
    return Field(text, lambda: _parse_json(text.value),
                 lambda v: setattr(text, "value", json.dumps(v, indent=1)), [text], field=text)


def _parse_json(text: str) -> Any:
    if not text.strip():
        raise ValueError("required: write the value as JSON")
    try:
        return json.loads(text)
    except ValueError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ValueError("not valid JSON (nor a Python literal)") from None


def _safe_read(field: Field) -> Any:
    try:
        return field.read()
    except ValueError:
        return None


def _is_empty(field: Field) -> bool:
    control = field.field
    value = getattr(control, "value", None)
    return value in (None, "", (), [])


def _error_html(message: str) -> str:
    return f'<span class="gw-error-text">{html.escape(message)}</span>' if message else ""


def _walk(widget: w.Widget) -> list[w.Widget]:
    out = [widget]
    for child in getattr(widget, "children", ()):
        out.extend(_walk(child))
    return out


def _values(widget: w.Widget) -> list[w.Widget]:
    """Every value-holding control inside ``widget``."""
    return [c for c in _walk(widget) if isinstance(c, w.ValueWidget) and not isinstance(c, (w.Label, w.HTML))]
