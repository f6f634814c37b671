"""``DecisionStatus``: where a signal's decision stands for one person, as every face shows it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gatewidgets.models.policy import Approval, Identity, Policy, who
from gatewidgets.settings import settings

__all__ = ["DecisionStatus"]


@dataclass(frozen=True)
class DecisionStatus:
    """Where a signal's decision stands for one person: its policy, the approvals counted so far, the line that
    says it (``1 of 2: alice approved 10:02 — waiting for @finance``), and whether this person may answer
    (``why_not``: the reason when not, for the action asked about; ``actions``: the reason, or None, for each action
    judged: the signal's main answer, and reject for an approval); ``user``: whom it was judged for."""

    policy: Policy | None
    approvals: tuple[Any, ...]
    line: str | None
    may_answer: bool
    why_not: str | None
    launched_by: Identity | None
    actions: dict[str, str | None] = field(default_factory=dict)
    user: str | None = None

    @property
    def rules(self) -> str:
        """Who may answer, in one line: ``may answer: alice, @finance (bob, carol) · 2 approvals · no
        self-approval`` ("" without a policy)."""
        policy = self.policy
        if policy is None:
            return ""
        if policy.unreadable is not None:
            return f"may answer: nobody (its stored policy is unreadable: {policy.unreadable})"
        parts = [f"may answer: {who(policy.assignees, settings.groups) if policy.assignees else 'anyone'}"]
        if policy.quorum > 1:
            parts.append(f"{policy.quorum} approvals")
        if not policy.self_approval:
            parts.append("no self-approval")
        if policy.verified:
            parts.append("a server-verified identity")
        if policy.escalate_to:
            parts.append(f"later also {who(policy.escalate_to, settings.groups)}")
        return " · ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy.to_dict() if self.policy else None,
                "approvals": [a.to_dict() for a in self.approvals], "standing": self.line,
                "may_answer": self.may_answer, "why_not": self.why_not, "actions": self.actions, "user": self.user,
                "launched_by": self.launched_by.to_dict() if self.launched_by else None}

    @classmethod
    def from_json(cls, data: dict[str, Any], action: str | None, is_open: bool) -> DecisionStatus:
        """The status a server judged (:meth:`to_json`), for ``action`` (None: the main answer it was judged for)
        of a signal that ``is_open`` or not."""
        actions = {str(k): v if isinstance(v, str) else None for k, v in (data.get("actions") or {}).items()}
        why_not = data.get("why_not") if action is None else actions.get(action, data.get("why_not"))
        approvals = tuple(a for a in map(Approval.from_dict, data.get("approvals") or ()) if a is not None)
        return cls(Policy.from_dict(data.get("policy")), approvals, data.get("standing"),
                   why_not is None and is_open, why_not, Identity.from_dict(data.get("launched_by")), actions,
                   data.get("user") if isinstance(data.get("user"), str) else None)
