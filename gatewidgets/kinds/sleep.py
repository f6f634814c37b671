"""The ``sleep`` gate: waits out its duration (its deadline) without a thread; can be ended early."""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable

from gatewidgets.errors import WorkflowDefinitionError
from gatewidgets.kinds.base import DagStyle, GateKind
from gatewidgets.models.signal import Signal, SignalKind

if TYPE_CHECKING:  # pragma: no cover
    from gatewidgets.dsl import Promise, SignalSpec
    from gatewidgets.widgets.gate import GateWidget

__all__ = ["sleep", "SleepKind"]


def sleep(duration: timedelta | float, *, name: str | None = None) -> Promise:
    """Really wait ``duration`` without holding a thread; listed as a ``sleep`` signal that can be ended early."""
    from gatewidgets import dsl
    from gatewidgets.types import GateType

    builder = dsl._require_builder("sleep")
    length = dsl._timeout(duration, "sleep")
    if length is None:
        raise WorkflowDefinitionError("sleep: duration must be a timedelta or seconds, not None.")
    sid = dsl._signal_id(name, "sleep") if name is not None else f"sleep-{builder.next_id()}"
    spec = dsl.SignalSpec(sid, SignalKind.SLEEP, GateType.of(type(None)), None, length)
    return dsl.add_gate(builder, spec, ())


class SleepKind(GateKind):
    name = "sleep"
    dag_style = DagStyle(rx=18, dash="4 2")
    ends_by_itself = True

    def timeout_fails(self, spec: SignalSpec) -> bool:
        return False  # the deadline is the end of the sleep

    def resolve(self, spec: SignalSpec, signal: Signal, upstream: Callable[[], Any], where: str) -> Any:
        return None

    def control(self, card: GateWidget, signal: Signal) -> list[Any]:
        return [card._button("End now", "warning", card.end_sleep, "forward")]

    def header_type(self, signal: Signal) -> str:
        return "sleep"

    def timing_label(self, signal: Signal) -> str | None:
        return "ends in"

    def value_text(self, signal: Signal, limit: int = 200) -> str:
        return "ended early" if signal.via and signal.via.value != "timeout" else "slept"

    def set_text(self, signal: Signal) -> str:
        return "ended"
