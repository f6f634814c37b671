"""The ``sleep`` gate: waits out its duration (its deadline) without a thread; can be ended early."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

from typing_extensions import Unpack

from gatewidgets.errors import WorkflowDefinitionError
from gatewidgets.graph.builder import Promise, add_gate, policy_of, require_builder, signal_id, timeout_of
from gatewidgets.graph.model import SignalSpec
from gatewidgets.kinds.base import Answer, DagStyle, GateKind
from gatewidgets.models.policy import PolicyFields
from gatewidgets.models.signal import Signal, SignalKind
from gatewidgets.types import GateType

__all__ = ["sleep", "SleepKind"]


def sleep(duration: timedelta | float, *, name: str | None = None, **policy: Unpack[PolicyFields]) -> Promise:
    """Really wait ``duration`` without holding a thread; listed as a ``sleep`` signal that can be ended early
    (by whom: ``assignees`` and the other policy keywords of ``approve``)."""
    builder = require_builder("sleep")
    length = timeout_of(duration, "sleep")
    if length is None:
        raise WorkflowDefinitionError("sleep: duration must be a timedelta or seconds, not None.")
    sid = signal_id(name, "sleep") if name is not None else f"sleep-{builder.next_id()}"
    spec = SignalSpec(sid, SignalKind.SLEEP, GateType.of(type(None)), None, length,
                      policy=policy_of(f"sleep({sid!r})", **policy))
    return add_gate(builder, spec, ())


class SleepKind(GateKind):
    name = "sleep"
    dag_style = DagStyle(rx=18, dash="4 2")
    ends_by_itself = True

    def timeout_fails(self, spec: SignalSpec) -> bool:
        return False  # the deadline is the end of the sleep

    def resolve(self, spec: SignalSpec, signal: Signal, upstream: Callable[[], Any], where: str) -> Any:
        return None

    def answers(self, signal: Signal) -> list[Answer]:
        return [Answer("End now", "warning", action="end")]

    def header_type(self, signal: Signal) -> str:
        return "sleep"

    def timing_label(self, signal: Signal) -> str | None:
        return "ends in"

    def value_text(self, signal: Signal, limit: int = 200) -> str:
        return "ended early" if signal.via and signal.via.value != "timeout" else "slept"

    def set_text(self, signal: Signal) -> str:
        return "ended"
