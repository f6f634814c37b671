"""How values and times read in text: tables, messages, cards (pure, no I/O)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

__all__ = ["clip", "short", "when", "clock", "node_labels", "TIME_FORMAT"]

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


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
