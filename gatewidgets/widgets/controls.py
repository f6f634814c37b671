"""Typed input controls: the form of an answer's ``AnswerField`` (a JSON schema and a starting value).

``field_control(field)`` returns a :class:`Control` whose ``read()`` gives the value to send
through ``GateRemote.set_json`` (JSON form) and raises ``ValueError`` with a message for the
user when the control holds no valid answer. See :mod:`gatewidgets.widgets.forms`.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as w

from gatewidgets.kinds import AnswerField
from gatewidgets.kinds.base import NO_DEFAULT
from gatewidgets.widgets.forms import MISSING, Field, build_field

__all__ = ["Control", "field_control"]


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


def field_control(field: AnswerField) -> Control:
    """The form of ``field``, pre-filled with its starting value (if it has one). Files use the card's upload."""
    if field.files:
        raise ValueError("files use the upload control")  # GateWidget builds it (needs the remote)
    return Control(build_field(field.schema, default=MISSING if field.default is NO_DEFAULT else field.default))
