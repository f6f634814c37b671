"""The value boundary, property-based: random JSON values (and random text) against random declared
types, through the text face (what ``%gate set`` and the CLI call), ``GateRemote.set_input`` and the
JSON face (HTTP), into a real SqliteStore with an execution waiting at its gates. Either the stored
value validates against the type (checked by pydantic, strictly, not by gatewidgets' own validator),
or a ``GateError`` is raised and nothing is stored: the signal still PENDING, no history event.

A refused value leaves its signal waiting, so the next example reuses it; an accepted one sets it, so
the next example takes the next waiting signal (a new execution when they run out).
"""
from __future__ import annotations

import dataclasses
import enum
import json
import secrets
from collections import deque
from typing import Any, Literal, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from gatewidgets import GateError, GateRemote, SignalState, wait_for_input, workflow
from gatewidgets.models.signal import Signal


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclasses.dataclass
class Point:
    x: int
    label: str
    tags: list[str]


TYPES: dict[str, Any] = {
    "int": int, "float": float, "str": str, "bool": bool, "list[int]": list[int],
    "dict[str, float]": dict[str, float], "Optional[int]": Optional[int], "Color": Color,
    "Literal": Literal["low", "high", 3], "Point": Point, "list[Optional[Point]]": list[Optional[Point]],
}
GATES = 40  # waiting signals per execution

JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def json_of(py_type: Any) -> st.SearchStrategy[Any]:
    """Random JSON, and values of the type itself in JSON form (so that sets are accepted too)."""
    own = st.from_type(py_type).map(lambda v: TypeAdapter(py_type).dump_python(v, mode="json"))
    return st.one_of(JSON, own.filter(_finite))


def _finite(value: Any) -> bool:
    """JSON has no NaN or infinity: values with them are not JSON values."""
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return False
    return True


FACES = ("text", "text-raw", "set_input", "set_json")


class Waiting:
    """Signals of ``py_type`` waiting in the store, oldest first; launches more when none is left."""

    def __init__(self, py_type: Any) -> None:
        def boundary() -> None:
            for i in range(GATES):
                wait_for_input(f"s{i}", timeout=None, expected_type=py_type)

        self.workflow = workflow(boundary)
        self.strict = TypeAdapter(py_type)
        self.remote = GateRemote.for_sandbox()
        self.queue: deque[tuple[str, str]] = deque()
        self.executions: list[Any] = []
        self.outcomes = {"stored": 0, "refused": 0}

    def next(self) -> tuple[str, str]:
        if not self.queue:
            ex = self.workflow.launch(execution_name=f"boundary-{secrets.token_hex(4)}")
            for i in range(GATES):
                ex.reached(f"s{i}").wait(timeout=30)
            self.executions.append(ex)
            self.queue.extend((ex.name, f"s{i}") for i in range(GATES))
        return self.queue[0]

    def attempt(self, face: str, value: Any, text: str) -> None:
        """Set the next waiting signal to ``value`` (``text``, for the raw text face) through ``face``:
        stored and valid, or refused with nothing stored."""
        name, signal_id = self.next()
        remote = self.remote
        events = remote.history(name, signal_id=signal_id)
        try:
            if face == "text":
                signal = remote.set_text(signal_id, name, json.dumps(value, ensure_ascii=False))
            elif face == "text-raw":
                signal = remote.set_text(signal_id, name, text)
            elif face == "set_input":
                signal = remote.set_input(signal_id, name, value)
            else:
                signal = remote.set_json(signal_id, name, value)
        except GateError:
            after = remote.get_signal(signal_id, name)
            assert (after.state, after.value, after.set_by) == (SignalState.PENDING, None, None)
            assert remote.history(name, signal_id=signal_id) == events
            self.outcomes["refused"] += 1
            return
        self.queue.popleft()
        self.outcomes["stored"] += 1
        stored: Signal = remote.get_signal(signal_id, name)
        assert stored.state is SignalState.SET and stored == signal
        self.strict.validate_python(stored.value, strict=True)  # the stored value, decoded, is of the declared type
        if face in ("set_input", "set_json"):  # and is what was given (a JSON value of the type is its JSON form)
            assert self.strict.validate_python(stored.value) == self.strict.validate_python(value)
        assert [e.kind for e in remote.history(name, signal_id=signal_id)][len(events):] == ["set"]

    def close(self) -> None:
        for ex in self.executions:
            ex.abort()


FAST = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.mark.parametrize("type_name", list(TYPES))
def test_a_value_is_stored_valid_or_refused_with_nothing_stored(type_name: str) -> None:
    waiting = Waiting(TYPES[type_name])

    @FAST
    @given(face=st.sampled_from(FACES), value=json_of(TYPES[type_name]), text=st.text(max_size=20))
    def check(face: str, value: Any, text: str) -> None:
        waiting.attempt(face, value, text)

    try:
        check()
    finally:
        waiting.close()
    assert waiting.outcomes["stored"] and waiting.outcomes["refused"], waiting.outcomes  # both sides were tried


LEAVES = st.sampled_from([int, float, str, bool, Color, Literal["low", "high", 3], Point])
DECLARED = st.recursive(LEAVES, lambda inner: st.one_of(
    inner.map(lambda t: list[t]), inner.map(lambda t: dict[str, t]), inner.map(lambda t: Optional[t])),
    max_leaves=3)


def test_values_against_random_declared_types() -> None:
    """Types composed at random (lists, dicts and Optionals of the types above), one execution per type."""
    waiting: dict[Any, Waiting] = {}

    @FAST
    @given(data=st.data(), py_type=DECLARED, face=st.sampled_from(FACES), text=st.text(max_size=20))
    def check(data: st.DataObject, py_type: Any, face: str, text: str) -> None:
        if py_type not in waiting:
            waiting[py_type] = Waiting(py_type)
        waiting[py_type].attempt(face, data.draw(json_of(py_type)), text)

    try:
        check()
    finally:
        for each in waiting.values():
            each.close()
    assert len(waiting) > 5 and sum(w.outcomes["stored"] for w in waiting.values()) > 5
