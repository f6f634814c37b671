"""Typed input controls: a form built from the signal's stored JSON schema.

``make_control(signal)`` returns a :class:`Control` whose ``read()`` gives the value to send
through ``GateRemote.set_json`` (JSON form) and raises ``ValueError`` with a message for the
user when the control holds no valid answer. See :mod:`gatewidgets.widgets.forms`.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as w

from gatewidgets.models.signal import Signal
from gatewidgets.widgets.forms import MISSING, Field, build_field

__all__ = ["Control", "make_control", "edit_control"]


class Control:
    """A control for one value: ``widget`` to show, ``read()`` for its JSON form, ``form`` (the :class:`Field`)."""

    def __init__(self, form: Field) -> None:
        self.form = form
        self.widget = form.widget
        self.field = form.field  # the main control of a scalar value (what code sets), else None

    def read(self) -> Any:
        return self.form.read()

    def disable(self) -> None:
        for child in _walk(self.widget):
            if hasattr(child, "disabled"):
                child.disabled = True


def _walk(widget: w.Widget) -> list[w.Widget]:
    out = [widget]
    for child in getattr(widget, "children", ()):
        out.extend(_walk(child))
    return out


def make_control(signal: Signal) -> Control:
    """The form for an input signal, pre-filled with its default (if the gate has one)."""
    if signal.type.blob_format is not None:
        raise ValueError("files use the upload control")  # GateWidget builds it (needs the remote)
    schema = (signal.type_record or {}).get("json_schema") or {}
    return Control(build_field(schema, default=signal.default if signal.has_default else MISSING))


def edit_control(signal: Signal) -> Control:
    """The form of an editable approval's value, pre-filled with the value to approve."""
    schema = (signal.edit_type or {}).get("json_schema") or {}
    original = signal.original
    return Control(build_field(schema, default=original if original is not None else MISSING))
