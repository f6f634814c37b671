"""``GateWidget``: one live card per signal — answer it, watch it, see who decided it."""
from __future__ import annotations

import functools
import html
import os
import tempfile
import threading
from typing import Any, Callable

import ipywidgets as w
import traitlets

from gatewidgets import formatting, kinds, private
from gatewidgets.errors import GateError
from gatewidgets.evidence import description_html, file_preview
from gatewidgets.evidence import to_html as evidence_html
from gatewidgets.kinds import Answer
from gatewidgets.kinds.base import takes_files
from gatewidgets.links import inbox_url
from gatewidgets.models.execution import ExecutionRecord
from gatewidgets.models.signal import Signal, SignalState
from gatewidgets.remote import UNCHANGED, GateRemote, StoreEvent
from gatewidgets.settings import settings
from gatewidgets.types import GateFile
from gatewidgets.widgets._sync import clock, human, since, utcnow, weak_listener
from gatewidgets.widgets.controls import Control, field_control
from gatewidgets.widgets.standing import Decision, decision, standing_html
from gatewidgets.widgets.style import html as html_widget
from gatewidgets.widgets.style import kind_class, shared_layout, shared_style, state_class, stylesheet

__all__ = ["GateWidget", "evidence_html"]

_ICONS = {"approve": "check", "reject": "times", "end": "forward"}  # a button's icon, by its answer's action


def remote_for(remote: GateRemote | None, project: str | None = None, domain: str | None = None) -> GateRemote:
    """The widget face of ``remote`` (default: this machine's store)."""
    base = remote if remote is not None else GateRemote.for_sandbox(project, domain)
    return base.with_face("widget")


class GateWidget(w.VBox):
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

    signal = traitlets.Instance(Signal, allow_none=True)
    error_message = traitlets.Unicode("")
    ready = traitlets.Bool(True)

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
        self.decision: Decision | None = None  # who may answer, as last drawn (None: not drawn yet)
        self._record: ExecutionRecord | None = None  # the execution, read once for who launched it
        self.timing = html_widget()
        self.inbox = html_widget()
        self.inbox.add_class("gatewidgets-inbox-link")
        self.error = html_widget()
        self.error.add_class("gatewidgets-error")
        self.decided = html_widget()
        self.history = html_widget()
        self.history.add_class("gatewidgets-history")
        self.history.add_class("gw-history")
        self.control: Control | None = None
        self.comment: w.Textarea | None = None
        self.buttons: dict[str, w.Button] = {}
        self.upload: w.FileUpload | None = None
        self.path: w.Text | None = None
        self.preview: w.HTML | None = None
        self._form_buttons: set[str] = set()  # the buttons that send a field: enabled while it is valid
        self._actions: dict[str, str] = {}  # button label -> its answer's action
        self._state_class = ""
        self.controls = w.VBox(self._build_controls(signal))
        self.children = [stylesheet(), self.header, self.description, self.evidence, self.standing, self.controls,
                         self.error, self.timing, self.inbox, self.decided, self.history]
        self._unsubscribe = weak_listener(self.remote.subscribe, self._on_store_events)
        self.signal = signal  # draws the card (see _on_signal)
        clock.add(self)

    # -- public, programmatic ----------------------------------------------------------
    @property
    def current_signal(self) -> Signal:
        """``signal``, never None: the trait allows None only until ``__init__`` has set it."""
        signal = self.signal
        if signal is None:
            raise RuntimeError("GateWidget.signal is not set yet: the card is still being built")
        return signal

    @property
    def signal_id(self) -> str:
        return self.current_signal.signal_id

    @property
    def execution_name(self) -> str:
        return self.current_signal.execution_name

    @property
    def state(self) -> SignalState:
        return self.current_signal.state

    @property
    def error_text(self) -> str:
        """The inline error shown, as plain text ("" when none)."""
        return self.error_message

    def approve(self, comment: str | None = None, value: Any = UNCHANGED) -> Signal | None:
        """Approve (what the Approve button does): with the comment typed on the card (or ``comment``) and,
        for an editable approval, the form's value if changed (or ``value``); returns the stored signal,
        or None on error."""
        form = "python"
        signal = self.current_signal
        if value is UNCHANGED and signal.editable and self.control is not None:
            try:
                edited = self.control.read()
            except ValueError as exc:
                self.error_message = f"The value to approve is not valid: {exc}"
                return None
            if edited != signal.original:
                value, form = edited, "json"
        why, seen = self._comment(comment), signal.evidence_hash
        return self._answer(lambda r, s, e, **k: r.approve(s, e, **k, value=value, comment=why, value_form=form,
                                                           evidence_hash=seen))

    def reject(self, comment: str | None = None) -> Signal | None:
        """Reject (what the Reject button does), with the comment typed on the card (or ``comment``)."""
        why, seen = self._comment(comment), self.current_signal.evidence_hash
        return self._answer(lambda r, s, e, **k: r.reject(s, e, **k, comment=why, evidence_hash=seen))

    def end_sleep(self) -> Signal | None:
        """End a sleep gate now (the End now button)."""
        return self._answer(lambda r, s, e, **k: r.end_sleep(s, e, **k))

    def submit(self, value: Any = None) -> Signal | None:
        """Send ``value`` — or, with no argument, what the card's control holds.

        Text for a non-text signal is parsed like a typed field; a path or ``GateFile``
        (or a list of them) answers a file signal. Errors are shown inline (and nothing is
        set); returns the stored signal or None.
        """
        if value is None:
            return self._submit_control()
        if self._is_file and isinstance(value, (str, os.PathLike)):
            value = GateFile(value)
        elif self._is_file and isinstance(value, list):
            value = [GateFile(v) if isinstance(v, (str, os.PathLike)) else v for v in value]
        elif isinstance(value, str) and self.current_signal.type.tag != "str":
            return self._answer(lambda r, s, e, **k: r.set_text(s, e, value, **k))
        return self._answer(lambda r, s, e, **k: r.set_input(s, e, value, **k))

    def refresh(self) -> Signal:
        """Re-read the signal through the remote and redraw."""
        ex = self.current_signal.id.execution_id
        signal = self.remote.get_signal(self.signal_id, self.execution_name, ex.project, ex.domain)
        self.signal = signal
        return signal

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        clock.discard(self)
        super().close()

    # -- building ----------------------------------------------------------------------
    @property
    def _is_file(self) -> bool:
        return takes_files(self.current_signal)

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
        many = signal.type.collection_type is not None
        self.upload = w.FileUpload(accept="", multiple=many, description="Choose files" if many else "Choose file")
        self.upload.observe(self._on_upload, names="value")
        self.path = w.Text(placeholder="or a path on the server", layout=w.Layout(width="260px"))
        self.path.observe(lambda _c: self._check_file(), names="value")
        self.preview = html_widget()
        self.preview.add_class("gw-preview")
        self._check_file()
        return [w.HBox([self.upload, self.path]), self.preview]

    def _give(self, answer: Answer) -> Signal | None:
        """What a button does: send ``answer`` (its field's value, or its own) through the remote's verb."""
        if answer.action == "approve":
            return self.approve()
        if answer.action == "reject":
            return self.reject()
        if answer.action == "end":
            return self.end_sleep()
        if answer.field is not None:
            return self._submit_control()
        return self._answer(lambda r, s, e, **k: r.set_json(s, e, answer.value, **k))

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

    # -- actions -------------------------------------------------------------------------
    def _comment(self, given: str | None) -> str | None:
        if given is not None:
            return given
        return self.comment.value if self.comment is not None and self.comment.value.strip() else None

    def _answer(self, call: Callable[..., Signal]) -> Signal | None:
        try:  # never hold the card's lock while the store notifies listeners
            ex = self.current_signal.id.execution_id
            stored = call(self.remote, self.signal_id, ex.name, project=ex.project, domain=ex.domain)
        except GateError as exc:
            self.error_message = str(exc)
            try:
                self.refresh()  # e.g. already set elsewhere: show who decided
            except GateError:
                pass
            return None
        self.error_message = ""
        self.signal = stored
        if not stored.state.is_open:
            self._redraw(stored)  # idempotent: frozen at once, whatever order other threads' updates came in
        return stored

    def _submit_control(self) -> Signal | None:
        if self.upload is not None:
            return self._submit_files()
        assert self.control is not None
        try:
            value = self.control.read()
        except ValueError as exc:
            self.error_message = str(exc)
            return None
        return self._answer(lambda r, s, e, **k: r.set_json(s, e, value, **k))

    def _uploads(self) -> list[dict[str, Any]]:
        return list(self.upload.value) if self.upload is not None else []

    def _check_file(self) -> str:
        """Preview the chosen files (or the typed path); returns an error message ("" if ready)."""
        uploads = self._uploads()
        limit = settings.max_upload_bytes
        path = (self.path.value if self.path is not None else "").strip()
        error, previews = "", []
        if uploads:
            for upload in uploads:
                data = bytes(upload["content"])
                if len(data) > limit:
                    error = (f"{upload.get('name')} is {len(data)} bytes, larger than the limit of {limit} bytes "
                             "(c.GateWidgets.max_upload_bytes); choose a smaller file.")
                previews.append(file_preview(str(upload.get("name") or "upload"), len(data), data[:300_000]))
        elif path:
            if not os.path.isfile(path):
                error = f"No readable file at {path!r} on the server."
            elif os.path.getsize(path) > limit:
                error = f"{path} is larger than the limit of {limit} bytes (c.GateWidgets.max_upload_bytes)."
            else:
                with open(path, "rb") as fh:
                    previews.append(file_preview(os.path.basename(path), os.path.getsize(path), fh.read(300_000)))
        else:
            error = "Choose a file (or type the path of a file on the server)."
        if self.preview is not None:
            self.preview.value = "".join(evidence_html(p) for p in previews)
        self.ready = not error
        return error

    def _submit_files(self) -> Signal | None:
        """Send the chosen files (or the path) as ``GateFile`` values; the remote copies them into the store."""
        error = self._check_file()
        if error:
            self.error_message = error
            return None
        uploads = self._uploads()
        many = self.current_signal.type.collection_type is not None
        if not uploads:
            assert self.path is not None  # _check_file found a typed path: a file card has the field
            path = GateFile(self.path.value.strip())
            return self._answer(lambda r, s, e, **k: r.set_input(s, e, [path] if many else path, **k))
        with tempfile.TemporaryDirectory(prefix="gatewidgets-upload-") as tmp:
            files = []
            for i, upload in enumerate(uploads):
                name = os.path.basename(str(upload.get("name") or "upload")) or "upload"
                private.make_folders(os.path.join(tmp, str(i)))
                saved = os.path.join(tmp, str(i), name)
                with os.fdopen(private.open_file(saved, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "wb") as fh:
                    fh.write(bytes(upload["content"]))
                files.append(GateFile(saved))
            value: Any = files if many else files[0]
            return self._answer(lambda r, s, e, **k: r.set_input(s, e, value, **k))

    def _on_upload(self, _change: dict[str, Any]) -> None:
        self.error_message = self._check_file() if self._uploads() else ""

    # -- traits --------------------------------------------------------------------------
    @traitlets.observe("error_message")
    def _show_error(self, change: dict[str, Any]) -> None:
        message = change["new"]
        self.error.value = f'<div class="gw-error-text">{html.escape(message)}</div>' if message else ""

    @traitlets.observe("ready")
    def _enable(self, change: dict[str, Any]) -> None:
        if self.signal is not None and self.signal.state.is_open:
            for label in self._form_buttons:
                self.buttons[label].disabled = not change["new"] or self._refused(label)

    @traitlets.observe("signal")
    def _on_signal(self, change: dict[str, Any]) -> None:
        old, new = change["old"], change["new"]
        if old is not None and new.state is old.state and new.set_at == old.set_at and new.context == old.context:
            self.tick()
            return
        self._redraw(new)

    def _refused(self, label: str) -> bool:
        return self.decision is not None and self._actions[label] in self.decision.refused

    def _launch_record(self, signal: Signal) -> ExecutionRecord | None:
        """The execution (who launched it), read once, for a signal with a policy."""
        if self._record is None and signal.policy is not None:
            self._record = self.remote.launch_record(signal)
        return self._record

    def _show_decision(self, signal: Signal, record: ExecutionRecord | None) -> None:
        """Who may answer and where it stands; only the answers this identity may give stay live."""
        found = self.decision = decision(self.remote, signal, record)
        value = standing_html(signal, found)
        if value != self.standing.value:
            self.standing.value = value
        if not signal.state.is_open:
            return
        live = [b for label, b in self.buttons.items() if not self._refused(label)]
        if list(self._button_row.children) != live:
            self._button_row.children = live
        for label, button in self.buttons.items():  # escalation may allow what was refused
            button.disabled = self._refused(label) or (label in self._form_buttons and not self.ready)
        self._field_box.layout.display = "none" if any(self._refused(label) for label in self._form_buttons) else ""
        self.controls.layout.display = "none" if found.blocked else ""

    def _redraw(self, signal: Signal) -> None:
        record = self._launch_record(signal)  # outside the lock: it reads the store
        with self._lock:
            if self.signal is not None and not self.signal.state.is_open:
                signal = self.signal  # never redraw a closed card from an older, open read
            self._show_decision(signal, record)
            self.header.value = _header(signal)
            self.evidence.value = evidence_html(signal.evidence)
            self.inbox.value = _inbox_link(signal)
            new_class = state_class(signal.state.value)
            if new_class != self._state_class:
                if self._state_class:
                    self.remove_class(self._state_class)
                self.add_class(new_class)
                self._state_class = new_class
            if not signal.state.is_open:
                self._freeze(signal)
            else:
                self._enable({"new": self.ready})
            self.tick()
        self._show_history()

    def _show_history(self) -> None:
        history = self._history_html()  # outside the lock: it reads the store
        with self._lock:
            self.history.value = history

    # -- updates (any thread) ------------------------------------------------------------
    def _on_store_events(self, events: list[StoreEvent]) -> None:
        key = self.current_signal.id.execution_id
        mine = [e for e in events if e.execution_id == key and (e.signal_id == self.signal_id or e.signal_id is None
                                                                 and e.kind in ("finished", "cancelled"))]
        if mine:
            try:
                self.refresh()
            except GateError:
                pass
        if any(e.kind == "refused" for e in mine):  # the signal did not change: only its history did
            self._show_history()

    def _history_html(self) -> str:
        """The signal's audit trail as a collapsed table (empty if the remote keeps none)."""
        ex = self.current_signal.id.execution_id
        try:
            events = self.remote.history(ex.name, ex.project, ex.domain, signal_id=self.signal_id)
        except (GateError, NotImplementedError):
            return ""
        rows = "".join(
            f"<tr><td>{html.escape(formatting.clock(e.at))}</td><td>{html.escape(e.kind)}</td>"
            f"<td>{html.escape(repr(e.value)) if e.value is not None else ''}</td>"
            f"<td>{html.escape(e.set_by or '')}</td><td>{html.escape(e.via or '')}</td>"
            f"<td>{html.escape(_detail_text(e.detail))}</td></tr>" for e in events)
        return (f'<details><summary class="gw-muted">history ({len(events)} events)</summary>'
                '<table><tr><th>time</th><th>event</th><th>value</th><th>who</th>'
                f'<th>via</th><th>detail</th></tr>{rows}</table></details>')

    def _freeze(self, signal: Signal) -> None:
        for button in self.buttons.values():
            button.disabled = True
        if self.control is not None:
            self.control.disable()
        for field in (self.upload, self.path, self.comment):
            if field is not None:
                field.disabled = True
        self.controls.layout.display = "none"
        self.decided.value = _decided(signal)
        clock.discard(self)

    def tick(self) -> None:
        """Refresh time waiting / time left (called every second by the shared clock)."""
        signal = self.current_signal
        if not signal.state.is_open:
            self.timing.value = ""
            return
        now = utcnow()
        if self.decision is not None and self.decision.changes_at is not None and now >= self.decision.changes_at:
            self._redraw(signal)  # escalation: more people may answer now
        parts = []
        waited = since(signal.waiting_since, now)
        if waited is not None:
            parts.append(f"waiting {human(waited)}")
        left = since(signal.deadline, now)
        if left is not None:
            parts.append(f"{kinds.get(signal.kind).timing_label(signal)} {human(-left)}")
        elif signal.state is SignalState.PENDING and not kinds.get(signal.kind).ends_by_itself:
            parts.append("no deadline")
        text = " · ".join(parts)
        value = f'<span class="gw-muted">{html.escape(text)}</span>' if text else ""
        if value != self.timing.value:
            self.timing.value = value


def _badge(state: SignalState) -> str:
    return f'<span class="gatewidgets-badge gw-badge gw-badge-{state.value}">{state.value}</span>'


def _header(signal: Signal) -> str:
    ex = signal.id.execution_id
    what = kinds.get(signal.kind).header_type(signal)
    return (f'<b title="node {html.escape(signal.node_id)}">{html.escape(signal.signal_id)}</b> '
            f'{_badge(signal.state)} <span class="gw-muted">· execution <code>{html.escape(ex.name)}</code> · '
            f'{html.escape(signal.kind.value)} '
            f'<code>{html.escape(what)}</code>{" · editable" if signal.editable else ""}</span>')


def _inbox_link(signal: Signal) -> str:
    """A link to the signal's page of the approvers' inbox, in a new tab, while it waits for a decision (not a
    sleep) and the inbox's address is known; else ""."""
    if signal.state is not SignalState.PENDING or kinds.get(signal.kind).ends_by_itself:
        return ""
    try:
        url = inbox_url(signal.signal_id, signal.id.execution_id)
    except ValueError:  # a part named "." or "..": no URL can carry it
        return ""
    if url is None:
        return ""
    return (f'<a class="gw-inbox-link" href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">'
            "Review in inbox ↗</a>")


def _detail_text(detail: dict[str, Any] | None) -> str:
    if not detail:
        return ""
    parts = []
    if "approved_value" in detail:
        original, changed = formatting.short(detail.get('original'), 60), formatting.short(detail['approved_value'], 60)
        parts.append(f"changed {original} to {changed}")
    if detail.get("comment"):
        parts.append(f"“{detail['comment']}”")
    return "; ".join(parts + formatting.who_decided(detail))


def _decided(signal: Signal) -> str:
    if signal.state is SignalState.CANCELLED:
        return '<span class="gw-muted">Cancelled: the execution ended before this gate was answered.</span>'
    at = formatting.when(signal.set_at) or "?"
    who = "timeout" if signal.state is SignalState.TIMED_OUT else f"{signal.set_by or '?'} via {signal.via or '?'}"
    verb = "Timed out" if signal.state is SignalState.TIMED_OUT else "Decided"
    why = (f'<div class="gw-comment">Comment: “{html.escape(signal.comment)}”</div>'
           if signal.comment else "")
    value = kinds.get(signal.kind).value_text(signal, 200)
    return (f'<div class="gatewidgets-decided">{verb}: <b>{html.escape(value)}</b> '
            f'— {html.escape(who)} at {html.escape(at)}{why}</div>')
