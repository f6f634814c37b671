"""``GateWidget``: one live card per signal — answer it, watch it, see who decided it."""
from __future__ import annotations

import functools
import threading
from typing import Any, Callable

import ipywidgets as w

from gatewidgets import kinds
from gatewidgets.evidence import description_html
from gatewidgets.evidence import to_html as evidence_html
from gatewidgets.models.signal import Signal
from gatewidgets.remote import GateRemote
from gatewidgets.widgets._sync import clock, weak_listener
from gatewidgets.widgets.card_actions import CardActions
from gatewidgets.widgets.controls import Control, field_control
from gatewidgets.widgets.file_field import FileField
from gatewidgets.widgets.style import html as html_widget
from gatewidgets.widgets.style import kind_class, shared_layout, shared_style, stylesheet

__all__ = ["GateWidget", "evidence_html"]

_ICONS = {"approve": "check", "reject": "times", "end": "forward"}  # a button's icon, by its answer's action


def remote_for(remote: GateRemote | None, project: str | None = None, domain: str | None = None) -> GateRemote:
    """The widget face of ``remote`` (default: this machine's store)."""
    base = remote if remote is not None else GateRemote.for_sandbox(project, domain)
    return base.with_face("widget")


class GateWidget(CardActions):
    """A card for one signal: Approve/Reject (with the value to approve, a reason, and for an
    editable approval its form), a typed form, an upload with a preview, or a countdown.

    Its state is traits: ``signal`` (the signal as last read; set it to update the card),
    ``error_message`` (the inline error) and ``ready`` (whether the answer is valid, which
    enables Submit). Invalid input shows an inline error and sets nothing. Once the signal
    is closed — here or anywhere else — the card freezes and shows the value, who set it,
    when, through which face, and the reason given. While it waits for a decision, a "Review in inbox"
    link opens its page of the approvers' inbox, where that page's address is known (:mod:`gatewidgets.links`).

    A signal with a policy shows who may answer, where the decision stands (``1 of 2: bob approved 10:02 —
    waiting for @finance``, live as approvals arrive) and, to an identity that may not answer, no buttons for
    what it may not do but the sentence saying why (:attr:`decision`). Approve and Reject send the hash of the
    evidence shown: a decision on evidence that changed since is refused, and shown as the card's error.
    """

    # close() also runs on a card whose __init__ raised (ipywidgets' __del__ closes every widget; an
    # unknown gate kind raises in _build_controls): until __init__ subscribes there is nothing to undo
    _unsubscribe: Callable[[], None] | None = None

    def __init__(self, signal: Signal, remote: GateRemote | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("gatewidgets-card")
        self.add_class("gw-card")
        self.add_class(kind_class(signal.kind.value))
        self.remote = remote_for(remote, signal.id.execution_id.project, signal.id.execution_id.domain)
        self._lock = threading.RLock()
        self.header = html_widget()
        self.header.add_class("gatewidgets-header")
        self.description = html_widget(description_html(signal))
        self.evidence = html_widget()
        self.evidence.add_class("gatewidgets-evidence")
        self.standing = html_widget()
        self.standing.add_class("gatewidgets-standing")
        self.decision = None
        self._record = None
        self.timing = html_widget()
        self.inbox = html_widget()
        self.inbox.add_class("gatewidgets-inbox-link")
        self.error = html_widget()
        self.error.add_class("gatewidgets-error")
        self.decided = html_widget()
        self.history = html_widget()
        self.history.add_class("gatewidgets-history")
        self.history.add_class("gw-history")
        self.control = None
        self.comment = None
        self.buttons = {}
        self.files = None
        self.upload = None
        self.path = None
        self.preview: w.HTML | None = None
        self._form_buttons = set()
        self._actions = {}
        self._state_class = ""
        self.controls = w.VBox(self._build_controls(signal))
        self.children = [stylesheet(), self.header, self.description, self.evidence, self.standing, self.controls,
                         self.error, self.timing, self.inbox, self.decided, self.history]
        self._unsubscribe = weak_listener(self.remote.subscribe, self._on_store_events)
        self.signal = signal  # draws the card (see _on_signal)
        clock.add(self)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        clock.discard(self)
        super().close()

    # -- building ----------------------------------------------------------------------
    def _button(self, label: str, style: str, action: Callable[[], Any], icon: str = "") -> w.Button:
        button = w.Button(description=label, button_style=style, icon=icon, layout=shared_layout(),
                          style=shared_style(w.ButtonStyle))
        button.on_click(lambda _b: action())
        self.buttons[label] = button
        return button

    def _build_controls(self, signal: Signal) -> list[w.Widget]:
        """Draw the answers the signal's kind offers: a field's form (an upload for files), a comment box if
        an answer takes one, and a button per answer."""
        answers = kinds.get(signal.kind).answers(signal)  # UnknownGateKindError: no card for an unknown kind
        fields: list[w.Widget] = []
        field = next((a.field for a in answers if a.field is not None), None)
        if field is not None and field.files:
            fields.extend(self._upload_controls(signal))
        elif field is not None:
            self.control = field_control(field)
            self._watch(self.control, signal)
            fields.append(self.control.widget)
        self._field_box = w.VBox(fields)  # its own layout: hidden from someone who may not send it
        parts: list[w.Widget] = [self._field_box]
        commented = [a.label.lower() for a in answers if a.comment]
        if commented:
            self.comment = w.Textarea(placeholder=f"comment (optional): why {' or '.join(commented)}",
                                      layout=shared_layout("comment", width="420px", height="48px"))
            self.comment.add_class("gw-comment-field")
            parts.append(self.comment)
        buttons = [self._button(a.label, a.style, functools.partial(self._give, a), _ICONS.get(a.action, ""))
                   for a in answers]
        self._form_buttons = {a.label for a in answers if a.field is not None}
        self._actions = {a.label: a.action for a in answers}
        self._button_row = w.HBox(buttons, layout=shared_layout())
        return [*parts, self._button_row]

    def _upload_controls(self, signal: Signal) -> list[w.Widget]:
        """A file upload, a path on the server and a preview: the field of a file signal."""
        files = self.files = FileField(many=signal.type.collection_type is not None)
        self.upload, self.path, self.preview = files.upload, files.path, files.preview
        files.upload.observe(self._on_upload, names="value")
        files.path.observe(lambda _c: self._check_file(), names="value")
        self._check_file()
        return files.widgets

    def _watch(self, control: Control, signal: Signal) -> None:
        """Follow the form: Submit (Approve) enabled only while it is valid; its error shown inline.

        An empty form starts without an error (its fields say what they need); a pre-filled
        one that does not validate shows why at once."""
        control.form.observe(lambda _c: self._on_form_change(control), names=["valid", "error"])
        self.ready = control.form.valid
        if not control.form.valid and (signal.has_default or signal.editable):
            self.error_message = control.form.error

    def _on_form_change(self, control: Control) -> None:
        self.ready = control.form.valid
        self.error_message = control.form.error
