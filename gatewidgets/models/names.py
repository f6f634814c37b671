"""Signal names: what a gate may be called.

flyteadmin asks only that a signal id be non-empty (``ValidateSignalIdentifier``), and flytekit passes the
name through as given, so ``approve(x, "subwf approve", ...)`` is a gate of Flyte's. gatewidgets accepts
the same, within what its faces can carry safely: 1-128 characters, spaces and any printable Unicode
included; refused are control characters (they break CLI output, logs and HTML), ``/`` and ``\\`` (a name
is one URL path segment and part of stored file paths). Where a name appears it is escaped: percent-encoded
in URLs, quoted in CLI suggestions, HTML-escaped on cards.
"""
from __future__ import annotations

import unicodedata

__all__ = ["SIGNAL_NAME_RULE", "is_valid_signal_name"]

SIGNAL_NAME_RULE = "1-128 characters, spaces allowed, no control characters, '/' or '\\'"


def is_valid_signal_name(value: object) -> bool:
    """Whether ``value`` may name a signal (see the module docstring)."""
    return (isinstance(value, str) and 0 < len(value) <= 128 and value.strip() != ""
            and not any(c in "/\\" or unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in value))
