"""The ``approve`` gate: a boolean decision that passes the upstream value through (or an edited one)."""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable

from typing_extensions import Unpack

from gatewidgets import evidence, formatting
from gatewidgets.errors import GateRejectedError, WorkflowDefinitionError
from gatewidgets.graph.builder import Promise, add_gate, policy_of, require_builder, signal_id, timeout_of
from gatewidgets.graph.model import Node, SignalSpec
from gatewidgets.kinds.base import NO_DEFAULT, Answer, AnswerField, DagStyle, GateKind
from gatewidgets.models.policy import PolicyFields
from gatewidgets.models.signal import Signal, SignalKind, SignalState
from gatewidgets.models.types import SimpleType
from gatewidgets.types import GateType, json_or_none

if TYPE_CHECKING:  # pragma: no cover
    from gatewidgets.models.types import LiteralType

__all__ = ["approve", "ApproveKind", "ON_TIMEOUT"]

ON_TIMEOUT = ("fail", "approve", "reject")


def approve(upstream: Promise, name: str, timeout: timedelta | float | None, *,
            description: str | None = None, on_timeout: str = "fail", editable: bool = False,
            **policy: Unpack[PolicyFields]) -> Promise:
    """Wait for the boolean signal ``name``; pass ``upstream`` through once it is ``True``.

    ``False`` fails the node with ``GateRejectedError``. On timeout: ``on_timeout`` is
    ``"fail"`` (``GateTimeoutError``), ``"approve"`` or ``"reject"``. With ``editable=True``
    the approver may change the value (validated against ``upstream``'s type) and the
    changed value flows on.

    Who may answer (``docs``: "Who may answer"): ``assignees`` (users and ``@groups``), ``quorum`` (that many
    distinct allowed approvals pass it; one allowed rejection rejects), ``self_approval=False`` (the launcher
    may not approve), ``verified=True`` (only identities a server established), ``remind_every``,
    ``escalate_after`` with ``escalate_to``.
    """
    builder = require_builder("approve")
    sid = signal_id(name, "approve")
    if not isinstance(upstream, Promise):
        raise WorkflowDefinitionError(
            f"approve({name!r}): the first argument must be the output of a task or gate, got {upstream!r}."
        )
    if upstream.node is not None and not upstream.node.has_output:
        raise WorkflowDefinitionError(
            f"approve({name!r}): {upstream.node.name!r} returns nothing, so there is nothing to approve. "
            "Approve a task that returns a value (its value passes through the gate)."
        )
    if on_timeout not in ON_TIMEOUT:
        raise WorkflowDefinitionError(f"approve({name!r}): on_timeout must be one of {ON_TIMEOUT}, got {on_timeout!r}.")
    edit_type = None
    if editable:
        try:
            edit_type = GateType.of(upstream._hint)
        except TypeError as exc:
            raise WorkflowDefinitionError(f"approve({name!r}, editable=True): the value cannot be edited: {exc}") \
                from None
    spec = SignalSpec(sid, SignalKind.APPROVE, GateType.of(bool), description,
                      timeout_of(timeout, f"approve({name!r})"), on_timeout=on_timeout, edit_type=edit_type,
                      policy=policy_of(f"approve({name!r})", approval=True, **policy))
    return add_gate(builder, spec, (upstream._hint,), upstream=upstream)


class ApproveKind(GateKind):
    name = "approve"
    dag_style = DagStyle(rx=18, dash="4 2")

    def timeout_value(self, spec: SignalSpec) -> tuple[Any, bool]:
        if spec.on_timeout != "fail":
            return spec.on_timeout == "approve", True
        return None, False

    def timeout_fails(self, spec: SignalSpec) -> bool:
        return spec.on_timeout == "fail"

    def resolve(self, spec: SignalSpec, signal: Signal, upstream: Callable[[], Any], where: str) -> Any:
        if signal.value is not True:
            who = "the on_timeout='reject' policy" if signal.state is SignalState.TIMED_OUT else \
                f"{signal.set_by} via {signal.via}"
            reason = f' Reason: "{signal.comment}"' if signal.comment else ""
            raise GateRejectedError(f"The {where} was rejected by {who}.{reason}")
        if spec.edit_type is not None and signal.approved_value is not None:
            return spec.edit_type.to_python(signal.approved_value)
        return upstream()

    def context(self, node: Node, upstream: Callable[[], Any]) -> dict[str, Any] | None:
        if "upstream" not in node.bindings:  # a condition approves nothing
            return None
        value = upstream()
        context: dict[str, Any] = {"evidence": evidence.render(value).to_dict()}
        assert node.signal is not None
        if node.signal.edit_type is not None:
            context["original"] = json_or_none(node.output_hints[0], value)
        return context

    def claims(self, literal_type: LiteralType) -> bool:
        return literal_type.simple is SimpleType.BOOLEAN

    def answers(self, signal: Signal) -> list[Answer]:
        """Approve (editing the value first, for an editable approval) or Reject, each with a comment."""
        edit = None
        if signal.editable:
            original = signal.original
            edit = AnswerField((signal.edit_type or {}).get("json_schema") or {},
                               original if original is not None else NO_DEFAULT)
        return [Answer("Approve", "success", value=True, field=edit, comment=True, action="approve"),
                Answer("Reject", "danger", value=False, comment=True, action="reject")]

    def waiting_text(self, signal: Signal) -> str:
        return "a decision"

    def value_text(self, signal: Signal, limit: int = 200) -> str:
        value = signal.value
        if isinstance(value, bool):
            if value and signal.approved_value is not None:
                return f"approved, changed to {formatting.short(signal.approved_value, limit)}"
            return "approved" if value else "rejected"
        return super().value_text(signal, limit)
