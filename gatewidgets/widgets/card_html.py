"""What a gate card shows as HTML, drawn from a signal alone: its header, its inbox link, how it was
decided, its history."""
from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from gatewidgets import formatting, kinds
from gatewidgets.links import inbox_url
from gatewidgets.models.signal import Signal, SignalEvent, SignalState

__all__ = ["badge", "decided_html", "header_html", "history_table", "inbox_link"]


def badge(state: SignalState) -> str:
    """The state of a signal as a coloured badge."""
    return f'<span class="gatewidgets-badge gw-badge gw-badge-{state.value}">{state.value}</span>'


def header_html(signal: Signal) -> str:
    """The card's first line: the signal, its state, its execution, kind and type."""
    ex = signal.id.execution_id
    what = kinds.get(signal.kind).header_type(signal)
    return (f'<b title="node {html.escape(signal.node_id)}">{html.escape(signal.signal_id)}</b> '
            f'{badge(signal.state)} <span class="gw-muted">· execution <code>{html.escape(ex.name)}</code> · '
            f'{html.escape(signal.kind.value)} '
            f'<code>{html.escape(what)}</code>{" · editable" if signal.editable else ""}</span>')


def inbox_link(signal: Signal) -> str:
    """A link to the signal's page of the approvers' inbox, in a new tab, while it waits for a decision (not a
    sleep) and the inbox's address is known; else ""."""
    if signal.state is not SignalState.PENDING or kinds.get(signal.kind).ends_by_itself:
        return ""
    try:
        url = inbox_url(signal.signal_id, signal.id.execution_id)
    except ValueError:  # a part named "." or "..": no URL can carry it
        return ""
    if url is None:
        return ""
    return (f'<a class="gw-inbox-link" href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">'
            "Review in inbox ↗</a>")


def _detail_text(detail: dict[str, Any] | None) -> str:
    if not detail:
        return ""
    parts = []
    if "approved_value" in detail:
        original, changed = formatting.short(detail.get('original'), 60), formatting.short(detail['approved_value'], 60)
        parts.append(f"changed {original} to {changed}")
    if detail.get("comment"):
        parts.append(f"“{detail['comment']}”")
    return "; ".join(parts + formatting.who_decided(detail))


def decided_html(signal: Signal) -> str:
    """What a closed card says: the value, who decided it (or that it timed out or was cancelled), when, why."""
    if signal.state is SignalState.CANCELLED:
        return '<span class="gw-muted">Cancelled: the execution ended before this gate was answered.</span>'
    at = formatting.when(signal.set_at) or "?"
    who = "timeout" if signal.state is SignalState.TIMED_OUT else f"{signal.set_by or '?'} via {signal.via or '?'}"
    verb = "Timed out" if signal.state is SignalState.TIMED_OUT else "Decided"
    why = (f'<div class="gw-comment">Comment: “{html.escape(signal.comment)}”</div>'
           if signal.comment else "")
    value = kinds.get(signal.kind).value_text(signal, 200)
    return (f'<div class="gatewidgets-decided">{verb}: <b>{html.escape(value)}</b> '
            f'— {html.escape(who)} at {html.escape(at)}{why}</div>')


def history_table(events: Sequence[SignalEvent]) -> str:
    """A signal's audit trail as a collapsed table."""
    rows = "".join(
        f"<tr><td>{html.escape(formatting.clock(e.at))}</td><td>{html.escape(e.kind)}</td>"
        f"<td>{html.escape(repr(e.value)) if e.value is not None else ''}</td>"
        f"<td>{html.escape(e.set_by or '')}</td><td>{html.escape(e.via or '')}</td>"
        f"<td>{html.escape(_detail_text(e.detail))}</td></tr>" for e in events)
    return (f'<details><summary class="gw-muted">history ({len(events)} events)</summary>'
            '<table><tr><th>time</th><th>event</th><th>value</th><th>who</th>'
            f'<th>via</th><th>detail</th></tr>{rows}</table></details>')
