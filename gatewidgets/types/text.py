"""Lenient text parsing for the text faces (widget fields, magics, command line, HTTP)."""
from __future__ import annotations

import ast
import json
import math
import re
from datetime import date, datetime, timedelta
from typing import Any

__all__ = [
    "parse_bool",
    "parse_int",
    "parse_float",
    "parse_datetime",
    "parse_date",
    "parse_duration",
    "parse_structure",
    "is_none_text",
]

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}
_NONE = {"", "none", "null"}

_NUM = r"(\d+(?:\.\d*)?|\.\d+)"
_ISO_DURATION = re.compile(
    rf"(-)?P(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?"
    rf"(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?",
    re.IGNORECASE,
)
_UNITS = {
    "w": 604800, "week": 604800, "weeks": 604800,
    "d": 86400, "day": 86400, "days": 86400,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "ms": 0.001,
}  # fmt: skip
_PART = re.compile(rf"\s*{_NUM}\s*([a-z]+)\s*", re.IGNORECASE)
_CLOCK = re.compile(r"(\d+):([0-5]?\d)(?::([0-5]?\d(?:\.\d+)?))?")


def is_none_text(text: str) -> bool:
    """``""``, ``none`` and ``null`` (any case) mean ``None``."""
    return text.strip().lower() in _NONE


def parse_bool(text: str) -> bool:
    """true/false, yes/no, y/n, on/off, 1/0, case-insensitive."""
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (use true/false, yes/no, y/n or 1/0)")


def parse_int(text: str) -> int:
    """A whole number, e.g. ``42``, ``-3``, ``1_000``."""
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def parse_float(text: str) -> float:
    """A finite number, e.g. ``1.5``, ``-2``, ``1e3``."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def parse_datetime(text: str) -> datetime:
    """ISO-8601, e.g. ``2024-05-01T12:00:00Z``, ``2024-05-01 12:00+02:00``, ``2024-05-01``."""
    t = text.strip()
    if t[-1:] in ("Z", "z"):
        t = t[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(t)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO-8601 date-time such as 2024-05-01T12:00:00Z") from None


def parse_date(text: str) -> date:
    """ISO-8601 calendar date, e.g. ``2024-05-01``."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO-8601 date such as 2024-05-01") from None


def parse_duration(text: str) -> timedelta:
    """A duration: ``90s``, ``5m``, ``1h30m``, ``2d``, ``1:30:00``, ISO ``PT1H30M`` (a year
    counts 365 days, a month 30, as pydantic does), or a number of seconds."""
    t = text.strip()
    error = ValueError(f"{text!r} is not a duration (e.g. 90s, 5m, 1h30m, 2d, PT1H30M, or seconds)")
    if not t:
        raise error
    m = _ISO_DURATION.fullmatch(t)
    if m and any(m.groups()[1:]) and not t.upper().endswith("T"):
        y, mo, w, d, h, mi, s = (float(g) if g else 0.0 for g in m.groups()[1:])
        td = timedelta(days=365 * y + 30 * mo + 7 * w + d, hours=h, minutes=mi, seconds=s)
        return -td if m.group(1) else td
    m = _CLOCK.fullmatch(t)
    if m:
        return timedelta(hours=int(m.group(1)), minutes=int(m.group(2)), seconds=float(m.group(3) or 0))
    try:
        seconds = float(t)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise error
        return timedelta(seconds=seconds)
    total, pos = 0.0, 0
    for part in _PART.finditer(t):
        if part.start() != pos or part.group(2).lower() not in _UNITS:
            raise error
        total += float(part.group(1)) * _UNITS[part.group(2).lower()]
        pos = part.end()
    if pos != len(t):
        raise error
    return timedelta(seconds=total)


def parse_structure(text: str) -> Any:
    """A list, dict or other value written as JSON or as a Python literal."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(f"{text!r} is neither JSON nor a Python literal") from None
