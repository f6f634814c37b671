"""The deciding verbs of ``GateRemote``: approve, reject, set (a Python value, typed text, JSON), end a sleep,
abort; every value enters through one function (``_ingest``)."""
from __future__ import annotations

import functools
import json
import shlex
from typing import Any, Callable, TypeVar

from gatewidgets import kinds
from gatewidgets.errors import SignalTypeError, StoreError
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus
from gatewidgets.models.policy import Ballot
from gatewidgets.models.signal import Signal, SignalIdentifier, Via
from gatewidgets.models.types import LiteralType, SimpleType
from gatewidgets.remote.reading import ReadingVerbs
from gatewidgets.remote.values import check_size, is_structure, json_size, naming, unread_files
from gatewidgets.settings import settings
from gatewidgets.types import GateType
from gatewidgets.types.file.access import also_readable, file_access
from gatewidgets.wire import jsonable

__all__ = ["DecidingVerbs", "MAX_COMMENT", "UNCHANGED"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _reading_files(method: _F) -> _F:
    """Run ``method`` under the remote's file access: its allowed folders and ``settings.max_upload_bytes``."""
    @functools.wraps(method)
    def run(self: DecidingVerbs, *args: Any, **kwargs: Any) -> Any:
        with file_access(self.file_dirs, settings.max_upload_bytes):
            return method(self, *args, **kwargs)
    return run  # type: ignore[return-value]


UNCHANGED: Any = type("Unchanged", (), {"__repr__": lambda self: "UNCHANGED"})()  # approve(value=...) not given
MAX_COMMENT = 2000  # characters of a decision's comment


class DecidingVerbs(ReadingVerbs):
    """What ``GateRemote`` writes: decisions and values, validated against the signal's stored type, recorded with
    who set them and through which face."""

    def _ballot(self, action: str, value_key: str = "", comment: str | None = None,
                seen: str | None = None) -> Ballot:
        return Ballot(self.identity, self.via.value, action, value_key, self.member_of(), comment, seen)

    # writing ---------------------------------------------------------------------

    def approve(self, signal_id: str, execution_name: str, project: str | None = None,
                domain: str | None = None, *, value: Any = UNCHANGED, comment: str | None = None,
                value_form: str = "python", evidence_hash: str | None = None) -> Signal:
        """Set the boolean signal to ``True``, with an optional ``comment`` (the reason).

        ``value`` changes the approved value of an ``approve(..., editable=True)`` gate (validated
        against the upstream type; refused with ``SignalTypeError`` on other gates). Faces pass
        it as typed text (``value_form="text"``) or JSON (``"json"``). ``evidence_hash``: the
        ``Signal.evidence_hash`` the approver was shown; if the stored evidence differs now, the
        decision is refused (``GateForbiddenError``). Under a ``quorum`` the signal stays open until
        enough people approved; the returned signal shows the approvals so far.
        """
        return self._decide(signal_id, execution_name, project, domain, True, comment, value, value_form,
                            evidence_hash)

    def reject(self, signal_id: str, execution_name: str, project: str | None = None,
               domain: str | None = None, *, comment: str | None = None, evidence_hash: str | None = None) -> Signal:
        """Set the boolean signal to ``False``, with an optional ``comment`` (the reason); ``evidence_hash`` as for
        :meth:`approve`."""
        return self._decide(signal_id, execution_name, project, domain, False, comment,
                            evidence_hash=evidence_hash)

    @_reading_files
    def _decide(self, signal_id: str, execution_name: str, project: str | None, domain: str | None,
                value: bool, comment: str | None = None, edited: Any = UNCHANGED,
                value_form: str = "python", evidence_hash: str | None = None) -> Signal:
        signal = self.get_signal(signal_id, execution_name, project, domain)
        verb = "approve" if value else "reject"
        if kinds.get(signal.kind).ends_by_itself:
            raise SignalTypeError(
                f"Cannot {verb} signal {signal_id!r} of execution {execution_name!r}: it is a sleep. End it early "
                f"with {self._suggest('end-sleep', signal_id, execution_name)}."
            )
        if signal.type.simple is not SimpleType.BOOLEAN:
            raise SignalTypeError(
                f"Cannot {verb} signal {signal_id!r} of execution {execution_name!r}: it expects "
                f"{signal.type}, not a yes/no answer. Set it instead: "
                f"{self._suggest('set', signal_id, execution_name, 'VALUE')}."
            )
        detail: dict[str, Any] = {}
        if comment is not None:
            if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
                raise SignalTypeError(f"A comment must be text of at most {MAX_COMMENT} characters, got "
                                      f"{type(comment).__name__} of length {len(str(comment))}.")
            if comment.strip():
                detail["comment"] = comment.strip()
        if edited is not UNCHANGED:
            detail.update(self._edited(signal, edited, value_form))
        gate_type = self._type(signal)
        form = self._ingest(signal, gate_type, value)
        identity = gate_type.identity(form)
        if "approved_value" in detail:
            identity += "|" + json.dumps(detail["approved_value"], sort_keys=True, separators=(",", ":"))
        ballot = self._ballot("approve" if value else "reject", identity, detail.get("comment"), evidence_hash)
        stored, _changed = self.store.set_signal(
            signal.id.execution_id, signal.signal_id, form, identity, set_by=self.user, via=self.via,
            describe=lambda v: repr(gate_type.to_python(v)), detail=detail or None, read=signal, ballot=ballot)
        return stored

    def _edited(self, signal: Signal, value: Any, form: str) -> dict[str, Any]:
        """``{"original", "approved_value"}`` for a changed editable approval (empty if unchanged)."""
        where = f"signal {signal.signal_id!r} of execution {signal.execution_name!r}"
        if signal.edit_type is None:
            raise SignalTypeError(
                f"Cannot approve {where} with a changed value: its gate is not editable. Approve it as it is, or "
                "declare approve(..., editable=True) in the workflow."
            )
        edit_type = GateType.from_record(signal.edit_type)
        original = signal.original
        with also_readable(unread_files(edit_type, original)[1]):  # the workflow's own files, named back unchanged
            approved = self._ingest(signal, edit_type, value, form)
        if original is not None and edit_type.identity(approved) == edit_type.identity(original):
            return {}
        return {"original": original, "approved_value": approved}

    @_reading_files
    def set_input(self, signal_id: str, execution_name: str, value: Any, project: str | None = None,
                  domain: str | None = None, python_type: Any = None,
                  literal_type: LiteralType | None = None) -> Signal:
        """Set a signal to a Python value, validated strictly against the signal's type."""
        key = self._key(execution_name, project, domain)
        if python_type is None and literal_type is None:
            known = self.store.live_type(key, signal_id)
            if known is not None and known[1].plain is not None and not kinds.get(known[0]).ends_by_itself:
                return self._set_plain(SignalIdentifier(signal_id, key), known[1], value)
        signal = self.store.get_signal(key, signal_id)
        if kinds.get(signal.kind).ends_by_itself:
            raise SignalTypeError(
                f"Signal {signal_id!r} of execution {execution_name!r} is a sleep. End it early with "
                f"{self._suggest('end-sleep', signal_id, execution_name)}."
            )
        if python_type is not None:
            try:
                expected = GateType.of(python_type).literal_type
            except TypeError as exc:
                raise SignalTypeError(f"python_type {python_type!r} is not supported: {exc}") from None
            if expected != signal.type:
                raise SignalTypeError(
                    f"Signal {signal_id!r} of execution {execution_name!r} expects {signal.type}, but "
                    f"python_type says {expected}. Pass the signal's type (or none)."
                )
        if literal_type is not None and literal_type != signal.type:
            raise SignalTypeError(
                f"Signal {signal_id!r} of execution {execution_name!r} expects {signal.type}, but literal_type "
                f"says {literal_type}."
            )
        return self._set(signal, value)

    set_signal = set_input

    @_reading_files
    def set_text(self, signal_id: str, execution_name: str, text: str, project: str | None = None,
                 domain: str | None = None) -> Signal:
        """Set a signal from text typed by a person (widget field, magic, command line, HTTP form)."""
        signal = self.get_signal(signal_id, execution_name, project, domain)
        if kinds.get(signal.kind).ends_by_itself:
            return self.end_sleep(signal_id, execution_name, project, domain)
        return self._set(signal, text, "text")

    @_reading_files
    def set_json(self, signal_id: str, execution_name: str, value: Any, project: str | None = None,
                 domain: str | None = None) -> Signal:
        """Set a signal to a value in JSON form (an HTTP body), validated strictly against its type."""
        signal = self.get_signal(signal_id, execution_name, project, domain)
        if kinds.get(signal.kind).ends_by_itself:
            return self.end_sleep(signal_id, execution_name, project, domain)
        return self._set(signal, value, "json")

    def end_sleep(self, signal_id: str, execution_name: str, project: str | None = None,
                  domain: str | None = None) -> Signal:
        """End a sleep gate now."""
        signal = self.get_signal(signal_id, execution_name, project, domain)
        if not kinds.get(signal.kind).ends_by_itself:
            raise SignalTypeError(f"Signal {signal_id!r} of execution {execution_name!r} is not a sleep.")
        return self._set(signal, None, "json", "end")

    def _suggest(self, command: str, signal_id: str, execution_name: str, value: str = "") -> str:
        """The call that does ``command`` (``set`` / ``end-sleep``) in the language of this remote's face: the
        ``gatewidgets`` command line, the ``%gate`` magic, else Python."""
        if self.via in (Via.CLI, Via.MAGIC):
            args = [shlex.quote(signal_id), *([value] if value else [])]
            option = ["-e", shlex.quote(execution_name)]
            # a name starting with '-' follows '--', or it would be read as an option
            words = [*option, "--", *args] if signal_id.startswith("-") else [*args, *option]
            return ("gatewidgets " if self.via is Via.CLI else "%gate ") + " ".join([command, *words])
        if command == "set":
            return f"set_input({signal_id!r}, {execution_name!r}, value=...)"
        return f"end_sleep({signal_id!r}, {execution_name!r})"

    def _type(self, signal: Signal) -> GateType:
        return self.store.gate_type(signal.id.execution_id, signal.signal_id, signal.type_record or {})

    def _set(self, signal: Signal, value: Any, form: str = "python", action: str = "set") -> Signal:
        gate_type = self._type(signal)
        return self._write(signal.id, gate_type, self._ingest(signal, gate_type, value, form), signal, action)

    def _set_plain(self, at: SignalIdentifier, gate_type: GateType, value: Any) -> Signal:
        """Set a signal whose live type this process holds, a plain ``int``, ``float``, ``str`` or ``bool`` (no
        file in it): validated as :meth:`_ingest` would, without reading the signal first (its type cannot
        change once stored; whether it is open is the write's compare-and-set)."""
        with naming(at):
            form = gate_type.validate(value)
        check_size(at, json_size(form), "value as JSON")
        return self._write(at, gate_type, form)

    def _write(self, at: SignalIdentifier, gate_type: GateType, form: Any, read: Signal | None = None,
               action: str = "set") -> Signal:
        identity = gate_type.identity(form)
        stored, _changed = self.store.set_signal(
            at.execution_id, at.signal_id, form, identity, set_by=self.user, via=self.via,
            describe=lambda v: repr(gate_type.to_python(v)), read=read, ballot=self._ballot(action, identity))
        return stored

    def _ingest(self, signal: Signal, gate_type: GateType, value: Any, form: str = "python") -> Any:
        """The one way a value enters the store, whatever the verb (a set, an editable approval's changed
        value): validated against ``gate_type`` as a Python value, typed ``"text"`` or ``"json"``; its files
        copied into the store's folder (bytes hashed as they are copied, local paths and sizes under the
        current :func:`file_access`); refused if its JSON form is larger than ``settings.max_value_bytes``.
        Returns the JSON form to store; raises ``SignalTypeError`` (``StoreError`` for an unwritable folder)."""
        if form == "text" and isinstance(value, str):  # refuse a huge text before parsing it
            check_size(signal.id, len(value.encode("utf-8", "surrogatepass")), "text")
        with naming(signal.id):
            if form == "text":
                parsed = gate_type.parse_text(value)
            elif form == "json":
                parsed = gate_type.validate_json(value)
            elif is_structure(value) and not gate_type.is_live:  # its JSON form, as the detached type knows it
                parsed = gate_type.validate_json(jsonable(value))
            else:
                parsed = gate_type.validate(value)
        # refused before a file is copied (a stored file's JSON form is small), and measured again once they are
        light, paths = unread_files(gate_type, parsed)
        check_size(signal.id, json_size(light), "value as JSON")
        # copy the files of an open signal of a writable store (alone, in lists, in structures): a set or closed
        # one refuses them (or, for the same content, keeps its copy), a read-only one refuses, without leaving
        # a file behind; files compare by content alone
        if paths and self.capabilities.files and not getattr(self.store, "read_only", False) and \
                signal.state.is_open:
            try:
                parsed = gate_type.map_files(parsed, lambda f: f.persist(self.store.files_dir))
            except OSError as exc:  # a read-only store, a full disk
                raise StoreError(f"Cannot copy the file into the store's folder {self.store.files_dir}: {exc}. To "
                                 "fix: make that folder writable by you and free disk space, or point "
                                 "GATEWIDGETS_STORE at another store.") from None
        if paths:  # measured again with what the files' references hold now
            check_size(signal.id, json_size(parsed), "value as JSON")
        return parsed

    def abort(self, execution_name: str, project: str | None = None, domain: str | None = None) -> ExecutionRecord:
        """Abort an execution, wherever it runs; an orphaned one is marked ``ABORTED`` directly."""
        key = self._key(execution_name, project, domain)
        record = self.store.get_execution(key, with_nodes=False)
        if record.status is ExecutionStatus.RUNNING:
            if self.store.owner_alive(record) is False:
                self.store.finish_execution(key, ExecutionStatus.ABORTED,
                                            error=f"Aborted by {self.user} via {self.via.value} (process gone).")
            else:
                self.store.request_abort(key)
        return self.store.get_execution(key)
