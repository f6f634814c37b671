"""``DecisionStatus``: where a signal's decision stands for one person, as every face shows it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gatewidgets.models.policy import Identity, Policy, who
from gatewidgets.settings import settings

__all__ = ["DecisionStatus"]


@dataclass(frozen=True)
class DecisionStatus:
    """Where a signal's decision stands for one person: its policy, the approvals counted so far, the line that
    says it (``1 of 2: alice approved 10:02 — waiting for @finance``), and whether this person may answer
    (``why_not``: the reason when not)."""

    policy: Policy | None
    approvals: tuple[Any, ...]
    line: str | None
    may_answer: bool
    why_not: str | None
    launched_by: Identity | None

    @property
    def rules(self) -> str:
        """Who may answer, in one line: ``may answer: alice, @finance (bob, carol) · 2 approvals · no
        self-approval`` ("" without a policy)."""
        policy = self.policy
        if policy is None:
            return ""
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
                "may_answer": self.may_answer, "why_not": self.why_not,
                "launched_by": self.launched_by.to_dict() if self.launched_by else None}
