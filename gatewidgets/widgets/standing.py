"""Who may answer a gate and where its decision stands, as cards and dashboard rows show it.

:func:`decision` asks the remote (for its identity) once per action a card offers; :func:`standing_html`
draws the assignees, the count line and, for someone who may not answer, the sentence saying why.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from gatewidgets import kinds
from gatewidgets.models.execution import ExecutionRecord
from gatewidgets.models.signal import Signal
from gatewidgets.remote import DecisionStatus, GateRemote

__all__ = ["Decision", "decision", "standing_html", "why_text"]


@dataclass(frozen=True)
class Decision:
    """Where one signal's decision stands for the remote's identity: its status (for the signal's main answer),
    the actions its kind offers and why each refused one is refused (``refused``: action -> reason, only while the
    signal is open), and when escalation changes who may answer (``changes_at``)."""

    status: DecisionStatus
    offered: tuple[str, ...]
    refused: dict[str, str] = field(default_factory=dict)
    changes_at: datetime | None = None

    @property
    def blocked(self) -> bool:
        """This identity may take none of the actions offered."""
        return bool(self.offered) and set(self.offered) <= set(self.refused)


def decision(remote: GateRemote, signal: Signal, record: ExecutionRecord | None = None) -> Decision:
    """What ``remote``'s identity may do on ``signal``, per action its kind offers (``record``: its execution, if
    read already; who launched it never changes, so callers keep it)."""
    if record is None and signal.policy is not None:
        record = remote.launch_record(signal)
    offered = tuple(dict.fromkeys(a.action for a in kinds.get(signal.kind).answers(signal)))
    refused = {}
    for action in offered if signal.state.is_open else ():
        why = remote.status(signal, record, action).why_not
        if why is not None:
            refused[action] = why
    policy = signal.policy
    changes_at = None
    if policy is not None and policy.escalate_after is not None and signal.waiting_since is not None:
        changes_at = signal.waiting_since + timedelta(seconds=policy.escalate_after)
        changes_at = changes_at if changes_at > datetime.now(timezone.utc) and signal.state.is_open else None
    return Decision(remote.status(signal, record), offered, refused, changes_at)


def why_text(found: Decision) -> str:
    """``alice may not approve: alice launched this execution and self-approval is off (may still reject)``, or
    "" when the user it was judged for (a ``for_jupyter`` remote's: the server's user) may take every action
    offered."""
    if not found.refused:
        return ""
    reasons: dict[str, list[str]] = {}  # reason -> the actions it refuses, in the order offered
    for action in found.offered:
        if action in found.refused:
            reasons.setdefault(found.refused[action], []).append(action)
    allowed = [a for a in found.offered if a not in found.refused]
    still = f" (may still {' or '.join(allowed)})" if allowed else ""
    return f"{found.status.user or 'you'} " + "; ".join(f"may not {' or '.join(actions)}: {reason}"
                                                       for reason, actions in reasons.items()) + still


def standing_html(signal: Signal, found: Decision) -> str:
    """The card's lines on its policy: the rules, the count (while open) or who approved, and why its viewer may
    not answer ("" without a policy)."""
    status = found.status
    if status.policy is None:
        return ""
    lines = [f'<div class="gw-policy gw-muted">{html.escape(status.rules)}</div>']
    if signal.state.is_open and status.line:
        lines.append(f'<div class="gw-standing">{html.escape(status.line)}</div>')
    elif status.approvals:
        done = ", ".join(f"{a.user} {a.at[11:16]}" for a in status.approvals)
        lines.append(f'<div class="gw-standing gw-muted">approved by {html.escape(done)}</div>')
    why = why_text(found)
    if why:
        lines.append(f'<div class="gw-why-not">{html.escape(why)}.</div>')
    return "".join(lines)
