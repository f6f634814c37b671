"""Slack's incoming-webhook message for a gate's notification: a summary, the facts a decider needs first, and a
"Review" button linking to the decision's inbox page (decisions are made there, behind login: the message
carries no link that decides anything by itself).

Block Kit: a ``section`` (the summary and the description), a ``context`` (execution, deadline, who may answer),
and, when the inbox's URL is known (``c.GateWidgets.public_url``), an ``actions`` block with one link button.
Text is escaped as Slack's ``mrkdwn`` asks (``&``, ``<``, ``>``) and cut to Block Kit's limits.
"""
from __future__ import annotations

from typing import Any

from gatewidgets.models.signal import Signal

__all__ = ["slack_message", "SECTION_LIMIT", "CONTEXT_LIMIT"]

SECTION_LIMIT = 3000  # characters of a section's text
CONTEXT_LIMIT = 2000  # characters of one context element's text
_FALLBACK_LIMIT = 3000  # the top-level ``text``, shown in notifications


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def slack_message(event: str, summary: str, signal: Signal, inbox_url: str | None,
                  standing: str | None = None) -> dict[str, Any]:
    """The incoming-webhook body announcing ``event`` (``waiting``, ``decided``, ...) of ``signal``: ``summary`` is
    the one-line text (also the notification's fallback), ``standing`` where its decision stands (who may answer,
    approvals so far), ``inbox_url`` the page that decides it (a "Review" button while it waits)."""
    ex = signal.id.execution_id
    body = f"*{_escape(summary)}*"
    if signal.description:
        body += "\n" + _escape(signal.description)
    facts = [f"{_escape(ex.project)}/{_escape(ex.domain)} · execution `{_escape(ex.name)}`"]
    if signal.deadline is not None and signal.state.is_open:
        facts.append(f"deadline {signal.deadline:%Y-%m-%d %H:%M} UTC")
    if standing:
        facts.append(_escape(standing))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(body, SECTION_LIMIT)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(" · ".join(facts), CONTEXT_LIMIT)}]},
    ]
    if inbox_url and event == "waiting":
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Review", "emoji": False},
             "url": inbox_url, "action_id": "gatewidgets-review", "style": "primary"}]})
    return {"text": _cut(summary, _FALLBACK_LIMIT), "blocks": blocks}
