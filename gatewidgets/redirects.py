"""``urlopen`` whose redirects never carry credentials to another origin.

urllib copies every request header along a redirect, wherever it points, so an
``Authorization: token …`` or a webhook's secret header would reach any host that a
server (or a man in the middle of plain HTTP) redirects to. Here a redirect to another
scheme, host or port keeps only the headers in :data:`SAFE_HEADERS`.
"""
from __future__ import annotations

import urllib.parse
import urllib.request
from typing import IO, Any

__all__ = ["SAFE_HEADERS", "SameOriginCredentials", "urlopen", "origin"]

SAFE_HEADERS = frozenset({"accept", "content-type", "user-agent"})


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of ``url``, with the scheme's default port filled in."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


class SameOriginCredentials(urllib.request.HTTPRedirectHandler):
    """Follows redirects; one to another origin drops every header but :data:`SAFE_HEADERS`."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and origin(new.full_url) != origin(req.full_url):
            for name in [n for n in new.headers if n.lower() not in SAFE_HEADERS]:
                del new.headers[name]
        return new


_opener = urllib.request.build_opener(SameOriginCredentials)


def urlopen(request: urllib.request.Request, timeout: float) -> Any:
    """``urllib.request.urlopen`` with :class:`SameOriginCredentials` for redirects."""
    return _opener.open(request, timeout=timeout)
