"""The live state of a gate card: its traits (``signal``, ``error_message``, ``ready``), the redraw when the signal
changes here or in another process, who may answer and where the decision stands, the history, the clock."""
from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as w
import traitlets

from gatewidgets import kinds
from gatewidgets.errors import GateError
from gatewidgets.evidence import to_html as evidence_html
from gatewidgets.models.execution import ExecutionRecord
from gatewidgets.models.signal import Signal, SignalState
from gatewidgets.remote import GateRemote, StoreEvent
from gatewidgets.widgets._sync import clock, human, since, utcnow
from gatewidgets.widgets.card_html import decided_html, header_html, history_table, inbox_link
from gatewidgets.widgets.controls import Control
from gatewidgets.widgets.file_field import FileField
from gatewidgets.widgets.standing import Decision, decision, standing_html
from gatewidgets.widgets.style import state_class

__all__ = ["CardState"]


class CardState(w.VBox):
    """What a card shows of its signal, kept live; the card (:class:`gatewidgets.widgets.gate.GateWidget`) lays out
    the widgets named here."""

    signal = traitlets.Instance(Signal, allow_none=True)
    error_message = traitlets.Unicode("")
    ready = traitlets.Bool(True)

    remote: GateRemote
    header: w.HTML
    evidence: w.HTML
    standing: w.HTML
    decision: Decision | None  # who may answer, as last drawn (None: not drawn yet)
    timing: w.HTML
    inbox: w.HTML
    error: w.HTML
    decided: w.HTML
    history: w.HTML
    controls: w.VBox
    control: Control | None
    comment: w.Textarea | None
    buttons: dict[str, w.Button]
    files: FileField | None  # the field of a file signal
    upload: w.FileUpload | None
    path: w.Text | None
    _lock: threading.RLock
    _record: ExecutionRecord | None  # the execution, read once for who launched it
    _form_buttons: set[str]  # the buttons that send a field: enabled while it is valid
    _actions: dict[str, str]  # button label -> its answer's action
    _state_class: str
    _field_box: w.VBox
    _button_row: w.HBox

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

    def refresh(self) -> Signal:
        """Re-read the signal through the remote and redraw."""
        ex = self.current_signal.id.execution_id
        signal = self.remote.get_signal(self.signal_id, self.execution_name, ex.project, ex.domain)
        self.signal = signal
        return signal

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
            self.header.value = header_html(signal)
            self.evidence.value = evidence_html(signal.evidence)
            self.inbox.value = inbox_link(signal)
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
        return history_table(events)

    def _freeze(self, signal: Signal) -> None:
        for button in self.buttons.values():
            button.disabled = True
        if self.control is not None:
            self.control.disable()
        for field in (self.upload, self.path, self.comment):
            if field is not None:
                field.disabled = True
        self.controls.layout.display = "none"
        self.decided.value = decided_html(signal)
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
