"""How values and times read in text: tables, messages, cards (pure, no I/O)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

__all__ = ["clip", "short", "when", "clock", "inert", "node_labels", "TIME_FORMAT", "who_decided"]

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# C0, DEL and C1 controls (ESC starts ANSI CSI/OSC sequences, U+009B and U+009D are their 8-bit
# forms) and the bidirectional overrides and isolates, which reorder what a terminal shows
_CONTROLS = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
             *range(0x2066, 0x206A)]
_VISIBLE = {c: _NAMED.get(chr(c)) or (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _CONTROLS}
_VISIBLE_LAYOUT = {c: shown for c, shown in _VISIBLE.items() if chr(c) not in "\t\n"}


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending with ``…`` if cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters (an int too long to print reads as too large)."""
    try:
        text = repr(value)
    except ValueError:  # Python's 4,300-digit limit, or a structure holding such an int
        text = f"<{type(value).__name__} too large to show>"
    return clip(text, limit)


def when(at: datetime | None, fmt: str = TIME_FORMAT) -> str:
    """A time in this machine's zone (``""`` for none)."""
    return at.astimezone().strftime(fmt) if at else ""


def clock(at: datetime | None) -> str:
    """The time of day of ``at`` in this machine's zone."""
    return when(at, "%H:%M:%S")


def inert(text: str, *, layout: bool = True) -> str:
    """``text`` safe to print in a terminal: every control character shown as an escape (``\\x1b``,
    ``\\x9b``, ``\\u202e``), so nothing a user or a file supplied is interpreted. With ``layout``,
    newlines and tabs stay (free text); without, they show as ``\\n`` and ``\\t`` too (a table cell).
    Printable text, non-ASCII letters included, is unchanged."""
    return text.translate(_VISIBLE_LAYOUT if layout else _VISIBLE)


def node_labels(names: Mapping[str, str]) -> dict[str, str]:
    """What a user calls each node (node id -> its workflow name, in creation order): the task or gate
    name, and for a name used again (a task called in a loop) the name with its call number,
    ``load``, ``load-2``, ``load-3``... — the names ``Execution.node()`` and ``nodes_by_name`` take."""
    labels: dict[str, str] = {}
    taken: set[str] = set()
    for nid, name in names.items():
        label, n = name, 1
        while label in taken:
            n += 1
            label = f"{name}-{n}"
        taken.add(label)
        labels[nid] = label
    return labels


def who_decided(detail: Mapping[str, Any]) -> list[str]:
    """What a history event's ``detail`` says about its decider: why a decision was refused, and how the
    decider's identity was established (``as hub-env``); of a reminder or an escalation, whom it reached."""
    parts = [f"refused: {detail['reason']}"] if detail.get("reason") else []
    if detail.get("reminder"):  # a waiting gate's timeline: a reminder re-sent, assignees added by escalation
        parts.append(f"reminder {detail['reminder']}" + (f" to {', '.join(detail['assignees'])}"
                                                          if detail.get("assignees") else ""))
    if detail.get("added"):
        parts.append(f"escalated: added {', '.join(detail['added'])}")
    if detail.get("identity_source"):
        parts.append(f"as {detail['identity_source']}")
    return parts
