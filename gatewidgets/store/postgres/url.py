"""PostgreSQL store addresses: libpq URLs (``postgresql://user:password@host/db``, unix sockets by
``?host=/folder``), recognised, and shown with their password masked in every message."""
from __future__ import annotations

import re
import urllib.parse

__all__ = ["is_postgres_url", "masked", "scrub"]

_SCHEMES = ("postgresql://", "postgres://")
_PASSWORD_PARAM = re.compile(r"(?i)([?&]password=)[^&#]*")


def is_postgres_url(value: object) -> bool:
    """Whether ``value`` names a PostgreSQL store (a libpq URL) rather than a SQLite file."""
    return isinstance(value, str) and value.lower().startswith(_SCHEMES)


def masked(url: str) -> str:
    """``url`` with its password (in the user part or a ``password=`` parameter) replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        netloc = f"{user}@{host}"
    return _PASSWORD_PARAM.sub(r"\1***", urllib.parse.urlunsplit(parts._replace(netloc=netloc)))


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's message) without the password of ``url``, should it quote it."""
    password = urllib.parse.urlsplit(url).password
    for secret in filter(None, (password, urllib.parse.unquote(password or ""))):
        text = text.replace(secret, "***")
    return _PASSWORD_PARAM.sub(r"\1***", text)
