"""A test-only gate kind, ``choose``: pick one of a few options (a ``Literal`` signal); a timeout picks the first.

The whole kind is this module plus one line: ``kinds.register(ChooseKind())``.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Literal

from gatewidgets import dsl
from gatewidgets.kinds import DagStyle, GateKind
from gatewidgets.models.signal import Signal, SignalKind, SignalState
from gatewidgets.types import GateType


def choose(name: str, options: tuple[str, ...], timeout: timedelta | float | None) -> dsl.Promise:
    """Wait for one of ``options``; a timeout picks ``options[0]``."""
    builder = dsl._require_builder("choose")
    hint = Literal[options]  # type: ignore[valid-type]
    spec = dsl.SignalSpec(dsl._signal_id(name, "choose"), SignalKind("choose"), GateType.of(hint),
                          f"one of {', '.join(options)}", dsl._timeout(timeout, "choose"), default=options[0])
    return dsl.add_gate(builder, spec, (str,))  # the chosen option flows on as a str


class ChooseKind(GateKind):
    name = "choose"
    dag_style = DagStyle(rx=2, dash="6 3")

    def timeout_value(self, spec: Any) -> tuple[Any, bool]:
        return spec.default, True

    def timeout_fails(self, spec: Any) -> bool:
        return False

    def resolve(self, spec: Any, signal: Signal, upstream: Callable[[], Any], where: str) -> Any:
        return spec.default if signal.state is SignalState.TIMED_OUT else signal.value

    def control(self, card: Any, signal: Signal) -> list[Any]:
        import ipywidgets as w

        options = (signal.type_record or {}).get("json_schema", {}).get("enum", [])
        card.choice = w.ToggleButtons(options=options)
        return [card.choice, card._button("Choose", "primary", lambda: card.submit(card.choice.value))]

    def waiting_text(self, signal: Signal) -> str:
        return "a choice"

    def value_text(self, signal: Signal, limit: int = 200) -> str:
        return f"chose {signal.value}"

    def set_text(self, signal: Signal) -> str:
        return f"chose {signal.value}"
