"""Links to the approvers' inbox the server extension serves: a decision's permanent link.

``<base>/gatewidgets/inbox/<project>/<domain>/<execution>/<signal>``, each part percent-encoded (a signal's
name may hold spaces and any printable text). The base is where people open the Jupyter server:
``c.GateWidgets.public_url``, else, in a JupyterHub user's server and its kernels, ``$JUPYTERHUB_SERVICE_PREFIX``
(a path on the hub's host, so the link works on the page it is shown on); elsewhere no link can be made.
"""
from __future__ import annotations

import os
import urllib.parse
from typing import overload

from gatewidgets.config import check_public_url
from gatewidgets.models.execution import WorkflowExecutionIdentifier
from gatewidgets.settings import settings

__all__ = ["INBOX_PATH", "HUB_PREFIX_ENV", "server_url", "inbox_url"]

INBOX_PATH = "gatewidgets/inbox"  # under the server's base URL
HUB_PREFIX_ENV = "JUPYTERHUB_SERVICE_PREFIX"  # set by JupyterHub for a user's server, inherited by its kernels


def server_url() -> str | None:
    """Where people open this process's Jupyter server: ``c.GateWidgets.public_url``, else
    ``$JUPYTERHUB_SERVICE_PREFIX``, else None (a plain server's kernel does not know its server's URL)."""
    public: str | None = settings.public_url
    return public or os.environ.get(HUB_PREFIX_ENV) or None


@overload
def inbox_url(signal_id: str, execution: WorkflowExecutionIdentifier, base: str) -> str: ...


@overload
def inbox_url(signal_id: str, execution: WorkflowExecutionIdentifier, base: None = None) -> str | None: ...


def inbox_url(signal_id: str, execution: WorkflowExecutionIdentifier, base: str | None = None) -> str | None:
    """The inbox page of signal ``signal_id`` of ``execution``, under ``base`` (default :func:`server_url`; None when
    that is unknown). ``ValueError`` for a base that is neither an http(s) URL nor a path (or has a query or a
    fragment), and for a part that is ``.`` or ``..``, which no URL path can carry (browsers resolve them)."""
    base = server_url() if base is None else check_public_url(base)
    if base is None:
        return None
    parts = (execution.project, execution.domain, execution.name, signal_id)
    for part in parts:
        if part in (".", ".."):
            raise ValueError(f"no URL path can name {part!r} (browsers resolve it): no inbox link for "
                             f"{execution}/{signal_id}")
    split = urllib.parse.urlsplit(base)
    path = "/".join((split.path.rstrip("/"), INBOX_PATH, *(urllib.parse.quote(p, safe="") for p in parts)))
    return urllib.parse.urlunsplit(split._replace(path=path))
