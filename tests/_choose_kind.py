"""A test-only gate kind, ``choose``: pick one of a few options (a ``Literal`` signal); a timeout picks the first.

The whole kind is this module plus one line: ``kinds.register(ChooseKind())``. It holds no face code: it
offers one answer per option, as data, and the card, the webhook and any later face draw them.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Literal

from gatewidgets.graph import Promise, SignalSpec, add_gate, require_builder, signal_id, timeout_of
from gatewidgets.kinds import Answer, DagStyle, GateKind
from gatewidgets.models.signal import Signal, SignalKind, SignalState
from gatewidgets.types import GateType


def choose(name: str, options: tuple[str, ...], timeout: timedelta | float | None) -> Promise:
    """Wait for one of ``options``; a timeout picks ``options[0]``."""
    builder = require_builder("choose")
    hint = Literal[options]  # type: ignore[valid-type]
    spec = SignalSpec(signal_id(name, "choose"), SignalKind("choose"), GateType.of(hint),
                      f"one of {', '.join(options)}", timeout_of(timeout, "choose"), default=options[0])
    return add_gate(builder, spec, (str,))  # the chosen option flows on as a str


class ChooseKind(GateKind):
    name = "choose"
    dag_style = DagStyle(rx=2, dash="6 3")

    def timeout_value(self, spec: SignalSpec) -> tuple[Any, bool]:
        return spec.default, True

    def timeout_fails(self, spec: SignalSpec) -> bool:
        return False

    def resolve(self, spec: SignalSpec, signal: Signal, upstream: Callable[[], Any], where: str) -> Any:
        return spec.default if signal.state is SignalState.TIMED_OUT else signal.value

    def answers(self, signal: Signal) -> list[Answer]:
        options = (signal.type_record or {}).get("json_schema", {}).get("enum", [])
        return [Answer(f"Choose {option}", "info", value=option) for option in options]

    def waiting_text(self, signal: Signal) -> str:
        return "a choice"

    def value_text(self, signal: Signal, limit: int = 200) -> str:
        return f"chose {signal.value}"

    def set_text(self, signal: Signal) -> str:
        return f"chose {signal.value}"
