"""The ``wait_for_input`` gate: a typed value (with an optional default on timeout) that becomes the output."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

from typing_extensions import Unpack

from gatewidgets.errors import WorkflowDefinitionError
from gatewidgets.graph.builder import Promise, add_gate, policy_of, require_builder, signal_id, timeout_of
from gatewidgets.graph.model import SignalSpec
from gatewidgets.kinds.base import NO_DEFAULT, DagStyle, GateKind
from gatewidgets.models.policy import PolicyFields
from gatewidgets.models.signal import Signal, SignalKind, SignalState
from gatewidgets.types import GateType

__all__ = ["wait_for_input", "InputKind"]


def wait_for_input(name: str, timeout: timedelta | float | None, expected_type: Any, *,
                   description: str | None = None, default: Any = NO_DEFAULT,
                   **policy: Unpack[PolicyFields]) -> Promise:
    """Wait for the typed signal ``name`` and output its value.

    With a ``default``, a timeout continues with it (the signal is marked ``TIMED_OUT``);
    without one, a timeout fails the node with ``GateTimeoutError``. Who may answer: as for ``approve``
    (``quorum`` above 1 is an approval's only).
    """
    builder = require_builder("wait_for_input")
    sid = signal_id(name, "wait_for_input")
    try:
        gate_type = GateType.of(expected_type)
    except TypeError as exc:
        raise WorkflowDefinitionError(f"wait_for_input({name!r}): {exc}") from None
    if default is not NO_DEFAULT:
        try:
            gate_type.validate(default)
        except Exception as exc:
            raise WorkflowDefinitionError(f"wait_for_input({name!r}): the default does not fit: {exc}") from None
    spec = SignalSpec(sid, SignalKind.INPUT, gate_type, description,
                      timeout_of(timeout, f"wait_for_input({name!r})"), default=default,
                      policy=policy_of(f"wait_for_input({name!r})", **policy))
    return add_gate(builder, spec, (expected_type,))


class InputKind(GateKind):
    name = "input"
    dag_style = DagStyle(rx=18, dash="4 2")

    def timeout_value(self, spec: SignalSpec) -> tuple[Any, bool]:
        if spec.has_default:
            return spec.gate_type.validate(spec.default), True
        return None, False

    def timeout_fails(self, spec: SignalSpec) -> bool:
        return not spec.has_default

    def resolve(self, spec: SignalSpec, signal: Signal, upstream: Callable[[], Any], where: str) -> Any:
        return spec.default if signal.state is SignalState.TIMED_OUT else signal.value
