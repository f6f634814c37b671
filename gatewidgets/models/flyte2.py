"""Flyte 2 conditions as gatewidgets signals: ids, kinds and card text. Pure: imports no ``flyte``.

Shared by the Flyte 2 front door (local runs) and the Flyte 2 store (a cluster), so a
condition gets the same id, kind and description wherever it runs.
"""
from __future__ import annotations

import re
from collections.abc import Container

from gatewidgets.models.signal import SignalKind

__all__ = ["signal_id_for", "kind_of", "describe"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_MD_INLINE = re.compile(r"([\\`*_\[\]<>!|~])")
_MD_LINE_START = re.compile(r"(?m)^(\s*)([#>+\-=]|\d+[.)])")


def signal_id_for(name: str, taken: Container[str]) -> str:
    """The signal id of a condition called ``name``: the name (characters outside
    ``[A-Za-z0-9_.-]`` become ``-``), or ``name-2``, ``name-3``... when that is taken in the run."""
    base = _UNSAFE.sub("-", name)[:120] or "condition"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def kind_of(data_type: type) -> SignalKind:
    """``approve`` for a ``bool`` condition, ``input`` for ``int``, ``float`` and ``str`` (the types a Flyte 2
    condition takes)."""
    return SignalKind.APPROVE if data_type is bool else SignalKind.INPUT


def describe(prompt: str, prompt_type: str, description: str = "") -> str:
    """The card text of a condition: its prompt, then its description as written. For a Markdown prompt the
    description is escaped to show as written; for a text prompt (:func:`description_format` ``"text"``) both
    are stored as they are, and escaped where they are rendered."""
    markdown = prompt_type == "markdown"
    parts = [prompt, _escape_markdown(description) if markdown else description]
    return "\n\n".join(p for p in parts if p)


def description_format(prompt_type: str) -> str:
    """How the card text :func:`describe` makes is written: ``"markdown"`` or ``"text"``."""
    return "markdown" if prompt_type == "markdown" else "text"


def _escape_markdown(text: str) -> str:
    return _MD_LINE_START.sub(r"\1\\\2", _MD_INLINE.sub(r"\\\1", text))
