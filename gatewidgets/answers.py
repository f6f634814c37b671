"""Answers from a file: gates reached in this process answered by what a file (or a test) says.

For notebooks run as tests or jobs (nbval, papermill, ``jupyter execute``) and for tests of workflows:
``GATEWIDGETS_ANSWERS=answers.toml`` (or ``c.GateWidgets.answers``) makes every gate that starts waiting in
this process be answered at once from the file, through :class:`~gatewidgets.remote.GateRemote` (``via`` is
``test``, ``set_by`` the file's name)::

    unanswered = "fail"              # default; "wait": a gate no entry answers waits for a person

    [[answer]]
    signal = "approve-*"             # a glob (fnmatch) on the signal id; first matching entry wins
    workflow = "expense_wf"          # optional globs on the workflow and the execution name
    approve = true                   # or false: a rejection
    comment = "checked by CI"
    edited = { total = 7.0, lines = {} }   # an approve(..., editable=True) gate: the changed value

    [[answer]]
    signal = "rate"
    value = "1.5"                    # text is parsed with the signal's type, as %gate set does; 1.5 works too

    [[answer]]
    signal = "receipt"
    file = "fixtures/receipt.pdf"    # relative to this file; a list for list[GateFile]

    [[answer]]
    signal = "sleep-*"
    end = true                       # a sleep ends at once

A gate that no entry answers fails its execution at once with :class:`UnansweredGateError` (naming the gate,
its execution and the file), instead of waiting until a runner's timeout. In code, :func:`answering` does the
same for a block (``gatewidgets.testing`` re-exports it, with the pytest plugin's ``gate_answers`` fixture);
what was asked is kept in :attr:`Answers.asked`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import json
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gatewidgets import formatting, kinds
from gatewidgets.config import ANSWERS_ENV
from gatewidgets.engine import Execution
from gatewidgets.errors import (
    AnswersFileError,
    GateError,
    SignalAlreadySetError,
    SignalClosedError,
    UnansweredGateError,
)
from gatewidgets.models.signal import Signal, Via
from gatewidgets.remote import GateRemote
from gatewidgets.settings import settings
from gatewidgets.types import GateFile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Answer", "Answers", "Asked", "answering", "active", "answers_file", "load", "ANSWERS_ENV"]

Unanswered = Literal["fail", "wait"]
ACTIONS = ("approve", "value", "file", "end")


class Answer(BaseModel):
    """One ``[[answer]]`` entry: which gates it answers (globs) and how (exactly one of ``approve``,
    ``value``, ``file``, ``end``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    signal: str = Field(min_length=1, description="glob on the signal id")
    execution: str | None = Field(None, description="glob on the execution name")
    workflow: str | None = Field(None, description="glob on the workflow name")
    approve: bool | None = None
    value: Any = None
    file: str | list[str] | None = None
    end: Literal[True] | None = None
    comment: str | None = None
    edited: Any = None

    @model_validator(mode="after")
    def _one_action(self) -> Answer:
        given = [name for name in ACTIONS if name in self.model_fields_set]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(ACTIONS)} (got {', '.join(given) or 'none'})")
        if "edited" in self.model_fields_set and self.approve is not True:
            raise ValueError("'edited' goes with approve = true (the changed value of an editable approval)")
        if "comment" in self.model_fields_set and given[0] not in ("approve", "value"):
            raise ValueError("'comment' goes with a decision (approve = true or false)")
        return self

    def matches(self, signal_id: str, execution_name: str, workflow_name: str) -> bool:
        """The entry's globs match this gate."""
        return (fnmatch.fnmatchcase(signal_id, self.signal)
                and (self.execution is None or fnmatch.fnmatchcase(execution_name, self.execution))
                and (self.workflow is None or fnmatch.fnmatchcase(workflow_name, self.workflow)))


class AnswersSpec(BaseModel):
    """An answers file as written: ``unanswered`` and its ``[[answer]]`` entries."""

    model_config = ConfigDict(extra="forbid")

    unanswered: Unanswered = "fail"
    answer: list[Answer] = []


@dataclass(frozen=True)
class Asked:
    """A gate that reached answers: what it asked (with the evidence its card showed) and what it got."""

    signal_id: str
    execution_name: str
    workflow: str
    kind: str
    type: str
    description: str | None
    evidence: str | None
    entry: Answer | None  # None: no entry answered it
    answer: str | None  # the answer given, as a card reads it (who gave it, the comment); None: none given

    def __str__(self) -> str:
        asked = f"{self.kind} gate {self.signal_id!r} of execution {self.execution_name!r} ({self.workflow})"
        if self.description:
            asked += f" — {self.description}"
        if self.evidence:
            asked += f"\n  evidence: {self.evidence}"
        return asked + f"\n  answer: {self.answer if self.answer is not None else 'none'}"


class Answers:
    """Answers in force for a process or a block: entries, what to do with a gate none answers, and what
    was asked (:attr:`asked`). ``source`` names them in errors; ``name`` is recorded as ``set_by``; files
    are found relative to ``base``."""

    def __init__(self, entries: Sequence[Answer] = (), *, unanswered: Unanswered = "fail", source: str,
                 name: str, base: Path | None = None) -> None:
        self.entries = list(entries)
        self.unanswered = unanswered
        self.source = source
        self.name = name
        self.base = base or Path.cwd()
        self.asked: list[Asked] = []
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Answers:
        """The answers of a TOML file (``AnswersFileError`` naming the line and field of what is wrong)."""
        full = Path(path).resolve()
        try:
            text = full.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AnswersFileError(f"Cannot read the answers file {full}: {exc}.") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise AnswersFileError(f"The answers file {full} is not valid TOML: {exc}.") from None
        try:
            spec = AnswersSpec.model_validate(data)
        except pydantic.ValidationError as exc:
            problems = "\n".join(f"  {_where(text, err['loc'])}: {err['msg']}" for err in exc.errors())
            raise AnswersFileError(f"The answers file {full} is not valid:\n{problems}") from None
        return cls(spec.answer, unanswered=spec.unanswered, source=f"answers file {full}", name=full.name,
                   base=full.parent)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | Sequence[Mapping[str, Any] | Answer], *,
                     unanswered: Unanswered = "fail", name: str = "answering()") -> Answers:
        """Answers given in code: ``{signal glob: value}`` (a bool decides an approval, text is parsed with
        the signal's type) or a list of entries as in the file."""
        answers = cls(unanswered=unanswered, source=name, name=name)
        if isinstance(mapping, Mapping):
            answers.update(mapping)
        else:
            answers.entries.extend(_entry(e) for e in mapping)
        return answers

    def add(self, signal: str, **fields: Any) -> Answer:
        """Add an entry (fields as in the file) before the others, so it wins over them."""
        entry = _entry({"signal": signal, **fields})
        with self._lock:
            self.entries.insert(0, entry)
        return entry

    def update(self, mapping: Mapping[str, Any]) -> None:
        """Add ``{signal glob: value}`` entries before the others."""
        for signal, value in reversed(list(mapping.items())):
            self.add(signal, value=value)

    def match(self, signal_id: str, execution_name: str, workflow_name: str) -> Answer | None:
        """The first entry that answers this gate."""
        with self._lock:
            return next((e for e in self.entries if e.matches(signal_id, execution_name, workflow_name)), None)

    def answer(self, execution: Execution, signal: Signal) -> None:
        """Answer a gate that just started waiting, through ``GateRemote`` (``via="test"``); raise
        :class:`UnansweredGateError` if no entry answers it and ``unanswered`` is ``fail``."""
        workflow = execution.workflow.name
        entry = self.match(signal.signal_id, signal.execution_name, workflow)
        evidence = signal.evidence
        asked = Asked(signal_id=signal.signal_id, execution_name=signal.execution_name, workflow=workflow,
                      kind=signal.kind.value, type=str(signal.type), description=signal.description,
                      evidence=evidence.text if evidence is not None else None, entry=entry, answer=None)
        if entry is None:
            self._record(asked)
            if self.unanswered == "wait":
                return
            raise UnansweredGateError(
                f"Gate {signal.signal_id!r} of execution {signal.execution_name!r} (workflow {workflow!r}) is not "
                f"answered by the {self.source}: no entry matches it. Add one, e.g.\n\n"
                f"[[answer]]\nsignal = {json.dumps(signal.signal_id)}\n{_example(signal)}\n\n"
                "or let unanswered gates wait for a person with unanswered = \"wait\".")
        remote = GateRemote(store=execution.store, default_project=execution.id.project,
                            default_domain=execution.id.domain, user=self.name, via=Via.TEST)
        # recorded before the set: whoever awaits the execution may see its outcome before this thread returns
        index = self._record(dataclasses.replace(asked, answer=self._describe(entry, signal)))
        try:
            self._apply(remote, entry, signal)
        except (SignalAlreadySetError, SignalClosedError):  # answered or closed meanwhile: the first answer wins
            stored = remote.get_signal(signal.signal_id, signal.execution_name)
            self._record(dataclasses.replace(asked, answer=_decided(stored)), index)
        except GateError as exc:
            self._record(asked, index)
            raise AnswersFileError(f"The {self.source} cannot answer gate {signal.signal_id!r} of execution "
                                   f"{signal.execution_name!r} with {_shown(entry)}: {exc}") from None

    def _describe(self, entry: Answer, signal: Signal) -> str:
        """What ``entry`` answers, as a card reads it, with who answers and the comment."""
        decision = _decision(entry, signal)
        if decision is not None:
            what = "rejected" if not decision else "approved" if "edited" not in entry.model_fields_set else \
                f"approved, changed to {formatting.short(entry.edited, 200)}"
        elif entry.end or kinds.get(signal.kind).ends_by_itself:
            what = "ended early"
        elif entry.file is not None:
            what = f"file {entry.file}" if isinstance(entry.file, str) else f"files {', '.join(entry.file)}"
        else:
            what = entry.value if isinstance(entry.value, str) else formatting.short(entry.value, 200)
        return f"{what} (by {self.name} via {Via.TEST})" + (f": {entry.comment}" if entry.comment else "")

    def _apply(self, remote: GateRemote, entry: Answer, signal: Signal) -> Signal:
        """Set the gate's signal as ``entry`` says."""
        sid, name = signal.signal_id, signal.execution_name
        decision = _decision(entry, signal)
        if decision is True:
            edited = {} if "edited" not in entry.model_fields_set else {
                "value": entry.edited, "value_form": _form(entry.edited)}
            return remote.approve(sid, name, comment=entry.comment, **edited)
        if decision is False:
            return remote.reject(sid, name, comment=entry.comment)
        if entry.end:
            return remote.end_sleep(sid, name)
        if entry.file is not None:
            files = [GateFile(self.base / p) for p in ([entry.file] if isinstance(entry.file, str) else entry.file)]
            return remote.set_input(sid, name, files[0] if isinstance(entry.file, str) else files)
        form = _form(entry.value)
        if form == "text":
            return remote.set_text(sid, name, entry.value)
        if form == "json":
            return remote.set_json(sid, name, entry.value)
        return remote.set_input(sid, name, entry.value)

    def _record(self, asked: Asked, index: int | None = None) -> int:
        """Append ``asked`` (or put it in place of record ``index``); its index."""
        with self._lock:
            if index is None:
                self.asked.append(asked)
                return len(self.asked) - 1
            self.asked[index] = asked
            return index

    def __repr__(self) -> str:
        asked = "".join(f"\n{a}" for a in self.asked)
        return f"<Answers from {self.source}: {len(self.entries)} entries, {len(self.asked)} asked>{asked}"


def _entry(fields: Mapping[str, Any] | Answer) -> Answer:
    if isinstance(fields, Answer):
        return fields
    try:
        return Answer(**fields)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())
        raise AnswersFileError(f"Answer {dict(fields)!r} is not valid: {problems}") from None


def _decision(entry: Answer, signal: Signal) -> bool | None:
    """The decision ``entry`` gives an approval: ``approve``, or a bool ``value`` for an approve gate."""
    if entry.approve is None and isinstance(entry.value, bool) and signal.kind.value == "approve":
        return entry.value
    return entry.approve


def _form(value: Any) -> str:
    """How a value is given: ``text`` (parsed with the signal's type), ``json`` (plain data), ``python``."""
    if isinstance(value, str):
        return "text"
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return "python"
    return "json"


def _decided(signal: Signal) -> str:
    """The decided value as a card reads it, with who set it and the comment."""
    text = f"{kinds.get(signal.kind).value_text(signal)} (by {signal.set_by} via {signal.via})"
    return text + (f": {signal.comment}" if signal.comment else "")


def _example(signal: Signal) -> str:
    if kinds.get(signal.kind).ends_by_itself:
        return "end = true"
    if signal.kind.value == "approve":
        return "approve = true"
    return f"value = \"...\"  # {signal.type}"


def _shown(entry: Answer) -> str:
    return ", ".join(f"{k} = {formatting.short(getattr(entry, k), 80)}" for k in entry.model_fields_set)


_HEADER = re.compile(r"^\s*\[\[\s*answer\s*\]\]", re.MULTILINE)


def _where(text: str, loc: tuple[int | str, ...]) -> str:
    """Where a validation error is in the file: ``line N ([[answer]] #k), field 'x'`` as far as it can tell."""
    if len(loc) >= 2 and loc[0] == "answer" and isinstance(loc[1], int):
        place, start = f"[[answer]] #{loc[1] + 1}", None
        headers = [m.start() for m in _HEADER.finditer(text)]
        if loc[1] < len(headers):
            start = headers[loc[1]]
            end = headers[loc[1] + 1] if loc[1] + 1 < len(headers) else len(text)
            field = re.compile(rf"^\s*{re.escape(str(loc[2]))}\s*=", re.MULTILINE) if len(loc) > 2 else None
            found = field.search(text, start, end) if field is not None else None
            start = found.start() if found is not None else start
        line = f"line {text.count(chr(10), 0, start) + 1} " if start is not None else ""
        field_name = f", field {'.'.join(map(str, loc[2:]))!r}" if len(loc) > 2 else ""
        return f"{line}({place}){field_name}"
    return f"field {'.'.join(map(str, loc))!r}" if loc else "the file"


# -- the answers in force ------------------------------------------------------------------

_blocks: list[Answers] = []  # answering() blocks, innermost last
_files: dict[Path, tuple[tuple[int, int], Answers]] = {}
_state_lock = threading.Lock()


def load(path: str | os.PathLike[str]) -> Answers:
    """The answers of the file at ``path``, read again only when the file changes (so ``asked`` accumulates)."""
    full = Path(path).resolve()
    try:
        stat = full.stat()
    except OSError as exc:
        raise AnswersFileError(f"Cannot read the answers file {full}: {exc}.") from None
    key = (stat.st_mtime_ns, stat.st_size)
    with _state_lock:
        cached = _files.get(full)
        if cached is not None and cached[0] == key:
            return cached[1]
    answers = Answers.from_file(full)
    with _state_lock:
        _files[full] = (key, answers)
    return answers


def active() -> Answers | None:
    """The answers in force: the innermost :func:`answering` block, else the configured file
    (``c.GateWidgets.answers``, else ``$GATEWIDGETS_ANSWERS``), else none."""
    with _state_lock:
        if _blocks:
            return _blocks[-1]
    path = answers_file()
    return load(path) if path else None


def answers_file() -> str | None:
    """The answers file configured for this process: ``c.GateWidgets.answers``, else ``$GATEWIDGETS_ANSWERS``."""
    return settings.answers or os.environ.get(ANSWERS_ENV) or None


@contextlib.contextmanager
def answering(answers: Mapping[str, Any] | Sequence[Mapping[str, Any] | Answer] | str | os.PathLike[str] | Answers,
              *, unanswered: Unanswered = "fail") -> Iterator[Answers]:
    """Within the block, answer every gate this process reaches from ``answers`` (a mapping of signal globs to
    values, a list of entries, a file path or :class:`Answers`); yields the :class:`Answers`, whose ``asked``
    lists what was asked. ``unanswered`` is for mappings and lists (a file says its own)."""
    if isinstance(answers, Answers):
        given = answers
    elif isinstance(answers, (str, os.PathLike)):
        given = Answers.from_file(answers)
    else:
        given = Answers.from_mapping(answers, unanswered=unanswered)
    with _state_lock:
        _blocks.append(given)
    try:
        yield given
    finally:
        with _state_lock:
            _blocks.remove(given)


def answer_reached(execution: Execution, signal: Signal) -> None:
    """Answer a gate ``execution`` reached from the active answers, if any (subscribed to the engine's
    ``gate_reached`` by ``gatewidgets``)."""
    answers = active()
    if answers is not None:
        answers.answer(execution, signal)

