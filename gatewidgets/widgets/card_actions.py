"""What a gate card does: approve, reject, end a sleep, submit a value or files, through the card's remote; a
refusal is shown as the card's error and sets nothing."""
from __future__ import annotations

import os
from typing import Any, Callable

from gatewidgets.errors import GateError
from gatewidgets.kinds import Answer
from gatewidgets.kinds.base import takes_files
from gatewidgets.models.signal import Signal
from gatewidgets.remote import UNCHANGED
from gatewidgets.types import GateFile
from gatewidgets.widgets.card_state import CardState

__all__ = ["CardActions"]


class CardActions(CardState):
    """The answers of a card, as its buttons give them and as code calls them."""

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

    @property
    def _is_file(self) -> bool:
        return takes_files(self.current_signal)

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
        if self.files is not None:
            return self._submit_files()
        assert self.control is not None
        try:
            value = self.control.read()
        except ValueError as exc:
            self.error_message = str(exc)
            return None
        return self._answer(lambda r, s, e, **k: r.set_json(s, e, value, **k))

    def _check_file(self) -> str:
        """Preview the chosen files (or the typed path); returns an error message ("" if ready)."""
        assert self.files is not None
        error = self.files.check()
        self.ready = not error
        return error

    def _submit_files(self) -> Signal | None:
        """Send the chosen files (or the path) as ``GateFile`` values; the remote copies them into the store."""
        error = self._check_file()
        if error:
            self.error_message = error
            return None
        assert self.files is not None
        with self.files.value() as value:
            return self._answer(lambda r, s, e, **k: r.set_input(s, e, value, **k))

    def _on_upload(self, _change: dict[str, Any]) -> None:
        self.error_message = self._check_file() if self.files is not None and self.files.uploads() else ""
