"""``GateWidget``: one live card per signal — answer it, watch it, see who decided it."""
from __future__ import annotations

import html
import os
import re
import tempfile
import threading
from typing import Any, Callable

import ipywidgets as w

from gatewidgets.errors import GateError
from gatewidgets.models.signal import Signal, SignalKind, SignalState
from gatewidgets.remote import GateRemote, StoreEvent
from gatewidgets.types import GateFile
from gatewidgets.widgets._sync import clock, human, since, utcnow
from gatewidgets.widgets.controls import Control, make_control

__all__ = ["GateWidget", "render_markdown"]

BADGE_COLOURS = {
    SignalState.UPCOMING: "#9e9e9e", SignalState.PENDING: "#ef6c00", SignalState.SET: "#2e7d32",
    SignalState.TIMED_OUT: "#6a1b9a", SignalState.CANCELLED: "#616161",
}


def render_markdown(text: str | None) -> str:
    """Markdown to HTML (markdown-it-py when installed, raw HTML escaped); else escaped text."""
    if not text:
        return ""
    try:
        from markdown_it import MarkdownIt
    except ImportError:
        return "<p>" + html.escape(text).replace("\n", "<br>") + "</p>"
    return MarkdownIt("commonmark", {"html": False}).render(text)


def remote_for(remote: GateRemote | None, project: str | None = None, domain: str | None = None) -> GateRemote:
    """The widget face of ``remote`` (default: this machine's store)."""
    base = remote if remote is not None else GateRemote.for_sandbox(project, domain)
    return base.with_face("widget")


class GateWidget(w.VBox):
    """A card for one signal: Approve/Reject, a typed control, an upload, or a countdown.

    Invalid input shows an inline error and sets nothing. Once the signal is closed —
    here or anywhere else (another process, the command line, HTTP) — the card freezes and
    shows the value, who set it, when and through which face.
    """

    def __init__(self, signal: Signal, remote: GateRemote | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("gatewidgets-card")
        self.layout.border = "1px solid #ddd"
        self.layout.padding = "6px 10px"
        self.layout.margin = "4px 0"
        self.remote = remote_for(remote, signal.id.execution_id.project, signal.id.execution_id.domain)
        self.signal = signal
        self._lock = threading.RLock()
        self.header = w.HTML()
        self.description = w.HTML(render_markdown(signal.description))
        self.timing = w.HTML()
        self.error = w.HTML()
        self.error.add_class("gatewidgets-error")
        self.decided = w.HTML()
        self.history = w.HTML()
        self.history.add_class("gatewidgets-history")
        self.control: Control | None = None
        self.buttons: dict[str, w.Button] = {}
        self.upload: w.FileUpload | None = None
        self.path: w.Text | None = None
        self.controls = w.HBox(self._build_controls())
        self.controls.layout.flex_flow = "row wrap"
        self.controls.layout.align_items = "center"
        self.children = [self.header, self.description, self.controls, self.error, self.timing, self.decided,
                         self.history]
        self._unsubscribe: Callable[[], None] | None = self.remote.subscribe(self._on_store_events)
        self._apply(signal)
        clock.add(self)

    # -- public, programmatic ----------------------------------------------------------
    @property
    def signal_id(self) -> str:
        return self.signal.signal_id

    @property
    def execution_name(self) -> str:
        return self.signal.execution_name

    @property
    def state(self) -> SignalState:
        return self.signal.state

    @property
    def error_text(self) -> str:
        """The inline error shown, as plain text ("" when none)."""
        return html.unescape(_strip_tags(self.error.value))

    def approve(self) -> Signal | None:
        """Approve (what the Approve button does); returns the stored signal, or None on error."""
        return self._answer(lambda r, s, e, **k: r.approve(s, e, **k))

    def reject(self) -> Signal | None:
        """Reject (what the Reject button does)."""
        return self._answer(lambda r, s, e, **k: r.reject(s, e, **k))

    def end_sleep(self) -> Signal | None:
        """End a sleep gate now (the End now button)."""
        return self._answer(lambda r, s, e, **k: r.end_sleep(s, e, **k))

    def submit(self, value: Any = None) -> Signal | None:
        """Send ``value`` — or, with no argument, what the card's control holds.

        Text for a non-text signal is parsed like a typed field; a path or ``GateFile``
        answers a file signal. Errors are shown inline (and nothing is set); returns the
        stored signal or None.
        """
        if value is None:
            return self._submit_control()
        if isinstance(value, str) and self.signal.type.tag != "str" and self.signal.type.blob_format is None:
            return self._answer(lambda r, s, e, **k: r.set_text(s, e, value, **k))
        if self.signal.type.blob_format is not None and isinstance(value, (str, os.PathLike)):
            value = GateFile(value)
        return self._answer(lambda r, s, e, **k: r.set_input(s, e, value, **k))

    def refresh(self) -> Signal:
        """Re-read the signal through the remote and redraw."""
        signal = self.remote.get_signal(self.signal_id, self.execution_name,
                                        self.signal.id.execution_id.project, self.signal.id.execution_id.domain)
        self._apply(signal)
        return signal

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        clock.discard(self)
        super().close()

    # -- building ----------------------------------------------------------------------
    def _button(self, label: str, style: str, action: Callable[[], Any], icon: str = "") -> w.Button:
        button = w.Button(description=label, button_style=style, icon=icon)
        button.on_click(lambda _b: action())
        self.buttons[label] = button
        return button

    def _build_controls(self) -> list[w.Widget]:
        signal = self.signal
        if signal.kind is SignalKind.SLEEP:
            return [self._button("End now", "warning", self.end_sleep, "forward")]
        if signal.kind is SignalKind.APPROVE:
            return [self._button("Approve", "success", self.approve, "check"),
                    self._button("Reject", "danger", self.reject, "times")]
        if signal.type.blob_format is not None:
            self.upload = w.FileUpload(accept="", multiple=False, description="Upload")
            self.upload.observe(self._on_upload, names="value")
            self.path = w.Text(placeholder="or a path on the server", layout=w.Layout(width="260px"))
            return [self.upload, self.path, self._button("Submit", "primary", self._submit_control)]
        self.control = make_control(signal)
        if self.control.live_check is not None and self.control.field is not None:
            self.control.field.observe(self._on_typing, names="value")
        return [self.control.widget, self._button("Submit", "primary", self._submit_control)]

    # -- actions -------------------------------------------------------------------------
    def _answer(self, call: Callable[..., Signal]) -> Signal | None:
        try:  # never hold the card's lock while the store notifies listeners
            ex = self.signal.id.execution_id
            stored = call(self.remote, self.signal_id, ex.name, project=ex.project, domain=ex.domain)
        except GateError as exc:
            self._show_error(str(exc))
            try:
                self.refresh()  # e.g. already set elsewhere: show who decided
            except GateError:
                pass
            return None
        self._show_error("")
        self._apply(stored)
        return stored

    def _submit_control(self) -> Signal | None:
        if self.upload is not None:
            if self.upload.value:
                return self._submit_upload(self.upload.value[0])
            path = (self.path.value if self.path is not None else "").strip()
            if not path:
                self._show_error("Upload a file or type the path of a file on the server.")
                return None
            if not os.path.isfile(path):
                self._show_error(f"No readable file at {path!r} on the server.")
                return None
            return self._answer(lambda r, s, e, **k: r.set_input(s, e, GateFile(path), **k))
        assert self.control is not None
        try:
            how, value = self.control.read()
        except ValueError as exc:
            self._show_error(str(exc))
            return None
        if how == "text":
            return self._answer(lambda r, s, e, **k: r.set_text(s, e, value, **k))
        return self._answer(lambda r, s, e, **k: r.set_input(s, e, value, **k))

    def _submit_upload(self, upload: dict[str, Any]) -> Signal | None:
        """Write the uploaded bytes to a temp file and send it as a ``GateFile`` (the remote
        copies it, content-addressed, into the store)."""
        name = os.path.basename(str(upload.get("name") or "upload")) or "upload"
        with tempfile.TemporaryDirectory(prefix="gatewidgets-upload-") as tmp:
            path = os.path.join(tmp, name)
            with open(path, "wb") as fh:
                fh.write(bytes(upload["content"]))
            return self._answer(lambda r, s, e, **k: r.set_input(s, e, GateFile(path), **k))

    def _on_upload(self, change: dict[str, Any]) -> None:
        if change["new"] and self.signal.state.is_open:
            self._submit_upload(change["new"][0])

    def _on_typing(self, change: dict[str, Any]) -> None:
        assert self.control is not None
        try:
            self.control.read()
        except ValueError as exc:
            self._show_error(str(exc))
        else:
            self._show_error("")

    def _show_error(self, message: str) -> None:
        self.error.value = (f'<div style="color:#c62828;white-space:pre-wrap">{html.escape(message)}</div>'
                            if message else "")

    # -- updates (any thread) ------------------------------------------------------------
    def _on_store_events(self, events: list[StoreEvent]) -> None:
        key = self.signal.id.execution_id
        if any(e.execution_id == key and (e.signal_id == self.signal_id or e.signal_id is None
                                          and e.kind in ("finished", "cancelled")) for e in events):
            try:
                self.refresh()
            except GateError:
                pass

    def _apply(self, signal: Signal) -> None:
        with self._lock:
            if signal.state is self.signal.state and signal.set_at == self.signal.set_at and self.header.value:
                self.signal = signal
                self.tick()
                return
            self.signal = signal
            self.header.value = _header(signal)
            if not signal.state.is_open:
                self._freeze(signal)
            self.tick()
        history = self._history_html()  # outside the lock: it reads the store
        with self._lock:
            self.history.value = history

    def _history_html(self) -> str:
        """The signal's audit trail as a collapsed table (empty if the remote keeps none)."""
        ex = self.signal.id.execution_id
        try:
            events = self.remote.history(ex.name, ex.project, ex.domain, signal_id=self.signal_id)
        except (GateError, NotImplementedError):
            return ""
        rows = "".join(
            f"<tr><td>{html.escape(e.at.astimezone().strftime('%H:%M:%S'))}</td><td>{html.escape(e.kind)}</td>"
            f"<td>{html.escape(repr(e.value)) if e.value is not None else ''}</td>"
            f"<td>{html.escape(e.set_by or '')}</td><td>{html.escape(e.via or '')}</td></tr>" for e in events)
        return (f'<details><summary style="color:#666;font-size:85%">history ({len(events)} events)</summary>'
                '<table style="font-size:85%"><tr><th>time</th><th>event</th><th>value</th><th>who</th>'
                f'<th>via</th></tr>{rows}</table></details>')

    def _freeze(self, signal: Signal) -> None:
        for button in self.buttons.values():
            button.disabled = True
        if self.control is not None:
            self.control.disable()
        for field in (self.upload, self.path):
            if field is not None:
                field.disabled = True
        self.controls.layout.display = "none"
        self.decided.value = _decided(signal)
        clock.discard(self)

    def tick(self) -> None:
        """Refresh time waiting / time left (called every second by the shared clock)."""
        signal = self.signal
        if not signal.state.is_open:
            self.timing.value = ""
            return
        now = utcnow()
        parts = []
        waited = since(signal.waiting_since, now)
        if waited is not None:
            parts.append(f"waiting {human(waited)}")
        left = since(signal.deadline, now)
        if left is not None:
            label = "ends in" if signal.kind is SignalKind.SLEEP else "time left"
            parts.append(f"{label} {human(-left)}")
        elif signal.state is SignalState.PENDING and signal.kind is not SignalKind.SLEEP:
            parts.append("no deadline")
        text = " · ".join(parts)
        value = f'<span style="color:#666">{html.escape(text)}</span>' if text else ""
        if value != self.timing.value:
            self.timing.value = value


def _badge(state: SignalState) -> str:
    colour = BADGE_COLOURS.get(state, "#616161")
    return (f'<span class="gatewidgets-badge" style="background:{colour};color:white;border-radius:8px;'
            f'padding:1px 7px;font-size:85%">{state.value}</span>')


def _header(signal: Signal) -> str:
    ex = signal.id.execution_id
    what = "sleep" if signal.kind is SignalKind.SLEEP else str(signal.type)
    return (f'<b>{html.escape(signal.signal_id)}</b> {_badge(signal.state)} '
            f'<span style="color:#666">· execution <code>{html.escape(ex.name)}</code> · node '
            f'<code>{html.escape(signal.node_id)}</code> · {html.escape(signal.kind.value)} '
            f'<code>{html.escape(what)}</code></span>')


def _format_value(signal: Signal) -> str:
    value = signal.value
    if isinstance(value, GateFile):
        return f"file {value.name}"
    if signal.kind is SignalKind.APPROVE and isinstance(value, bool):
        return "approved" if value else "rejected"
    if signal.kind is SignalKind.SLEEP:
        return "ended early" if signal.via and signal.via.value != "timeout" else "slept"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _decided(signal: Signal) -> str:
    if signal.state is SignalState.CANCELLED:
        return '<span style="color:#616161">Cancelled: the execution ended before this gate was answered.</span>'
    when = signal.set_at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if signal.set_at else "?"
    who = "timeout" if signal.state is SignalState.TIMED_OUT else f"{signal.set_by or '?'} via {signal.via or '?'}"
    verb = "Timed out" if signal.state is SignalState.TIMED_OUT else "Decided"
    return (f'<div class="gatewidgets-decided">{verb}: <b>{html.escape(_format_value(signal))}</b> '
            f'— {html.escape(who)} at {html.escape(when)}</div>')


def _strip_tags(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text)


