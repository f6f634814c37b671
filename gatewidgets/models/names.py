"""Names that appear in paths and URLs: execution names and signal ids."""
from __future__ import annotations

import re

__all__ = ["NAME_PATTERN", "validate_name"]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
"""1-128 letters, digits, ``_``, ``-`` or ``.``."""


def validate_name(kind: str, value: object) -> str:
    """``value`` if it is a valid name, else ``ValueError`` naming ``kind`` (e.g. ``"execution_name"``)."""
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise ValueError(f"{kind} must be 1-128 letters, digits, '_', '-' or '.' (it appears in paths and URLs); "
                         f"got {value!r}.")
    return value
