"""How values and times read in text: tables, messages, cards (pure, no I/O)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = ["clip", "short", "when", "clock", "TIME_FORMAT"]

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
