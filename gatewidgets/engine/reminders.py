"""A waiting gate's timeline: the reminders (``remind_every``) and the escalation (``escalate_after``) its policy
asks for, computed from when it started waiting and the steps its history holds already, so a gate recovered in
another process resumes its timeline where it was (one reminder if several were missed, never a burst)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, TypeGuard

from gatewidgets.models.policy import Policy
from gatewidgets.models.signal import SignalEvent

__all__ = ["Timeline", "REMINDED", "ESCALATED"]

REMINDED, ESCALATED = "reminded", "escalated"
_EARLY = timedelta(milliseconds=10)  # a timer may fire this much before its wall-clock time (clock conversions)


@dataclass(frozen=True)
class Timeline:
    """Where a waiting gate's timeline stands: since when it waits, its last reminder, whether it escalated."""

    policy: Policy
    waiting_since: datetime
    last_reminder: datetime | None = None
    reminders: int = 0
    escalated: bool = False

    @classmethod
    def of(cls, policy: Policy, waiting_since: datetime, history: Iterable[SignalEvent]) -> Timeline:
        """The timeline of a gate waiting since ``waiting_since``, from its signal's ``history``."""
        reminded = [e.at for e in history if e.kind == REMINDED] if policy.remind_every else []
        escalated = policy.escalate_after is not None and any(e.kind == ESCALATED for e in history)
        return cls(policy, waiting_since, max(reminded, default=None), len(reminded), escalated)

    @staticmethod
    def wanted(policy: Policy | None) -> TypeGuard[Policy]:
        """Whether a gate under ``policy`` has a timeline at all."""
        return policy is not None and (policy.remind_every is not None or policy.escalate_after is not None)

    def next_at(self) -> datetime | None:
        """When its next step is due (None: nothing more to do)."""
        due = []
        if self.policy.remind_every is not None:
            due.append((self.last_reminder or self.waiting_since) + timedelta(seconds=self.policy.remind_every))
        if self.policy.escalate_after is not None and not self.escalated:
            due.append(self.waiting_since + timedelta(seconds=self.policy.escalate_after))
        return min(due, default=None)

    def due(self, now: datetime) -> list[tuple[str, dict[str, Any]]]:
        """The steps due at ``now``, each ``(event kind, detail)``: the escalation first, then one reminder."""
        steps: list[tuple[str, dict[str, Any]]] = []
        policy, now = self.policy, now + _EARLY
        assignees = list(policy.assignees_at(self.waiting_since, now))
        if policy.escalate_after is not None and not self.escalated and policy.escalated(self.waiting_since, now):
            steps.append((ESCALATED, {"added": list(policy.escalate_to), "after": policy.escalate_after,
                                      "assignees": assignees}))
        if policy.remind_every is not None and now >= (self.last_reminder or self.waiting_since) + \
                timedelta(seconds=policy.remind_every):
            steps.append((REMINDED, {"reminder": self.reminders + 1, "assignees": assignees}))
        return steps

    def after(self, steps: list[tuple[str, dict[str, Any]]], now: datetime) -> Timeline:
        """The timeline once ``steps`` were recorded at ``now``."""
        kinds = {kind for kind, _ in steps}
        reminded = REMINDED in kinds
        return Timeline(self.policy, self.waiting_since, now if reminded else self.last_reminder,
                        self.reminders + reminded, self.escalated or ESCALATED in kinds)
