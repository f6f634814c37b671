"""Jupyter server extension: the signals API over HTTP, behind Jupyter's auth.

Enabled by ``jupyter-config/jupyter_server_config.d/gatewidgets.json`` (installed with the
package). Routes, under the server's base URL (see :mod:`gatewidgets.server.handlers`)::

    GET  /gatewidgets/api/executions[?project=&domain=&status=&limit=]
    GET  /gatewidgets/api/executions/{project}/{domain}/{execution}
    POST /gatewidgets/api/executions/{project}/{domain}/{execution}/abort
    GET  /gatewidgets/api/executions/{project}/{domain}/{execution}/history[?signal=]
    GET  /gatewidgets/api/signals[?execution=&state=&kind=&limit=&offset=&project=&domain=&for=me]
    GET  /gatewidgets/api/signals/{project}/{domain}/{execution}/{signal_id}
    POST /gatewidgets/api/signals/{project}/{domain}/{execution}/{signal_id}   {"value": ...} or {"text": "..."}
    POST /gatewidgets/api/signals/{project}/{domain}/{execution}/{signal_id}/approve   (and /reject)
         {"comment": "...", "evidence_hash": "..."} (both optional; approve also takes "value")
    PUT  /gatewidgets/api/files/{name}    raw bytes, streamed into the store: 201 {"upload": "<id>", ...}
    GET  /gatewidgets/metrics[?project=&domain=]    Prometheus text format
    GET  /gatewidgets/inbox[/{project}/{domain}/{execution}/{signal_id}]   the approvers' inbox (a web page;
         its own JSON and event stream under /gatewidgets/inbox/api, see :mod:`gatewidgets.server.inbox`)

Every decision is made as the server's authenticated user (``Identity(user, "server")``, with the hub's
groups on JupyterHub); nothing in a request names someone else. Each signal in an answer carries
``"decision"``: its policy, the approvals so far, where it stands, and whether the caller may answer
(``may_answer``, ``why_not``; ``actions``: why not per action judged); ``?for=me`` lists only the pending
signals the caller may answer. A refused decision answers 403 ``{"error": "GateForbiddenError", "message":
...}`` and changes nothing.

A file is streamed first (``PUT .../files/receipt.pdf``) and named in the value as
``{"upload": "<id>"}`` (one use, within ``c.GateWidgets.http_upload_ttl``), or sent as its bytes in
the value, ``{"name": "receipt.pdf", "content": "<base64>"}``, wherever the signal's type has a
file (alone, in a list, in a structure). Server-side paths are refused unless
``c.GateWidgets.http_allowed_file_dirs`` names folders they must really be inside; files larger than
``c.GateWidgets.max_upload_bytes`` are refused. A store locked by another process for longer than
``c.GateWidgets.http_busy_timeout`` seconds (default 2) makes a request answer 503.
"""
from __future__ import annotations

from typing import Any

__all__ = ["_jupyter_server_extension_points", "_load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "gatewidgets.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Add the handlers; read ``c.GateWidgets`` from the server's config."""
    from gatewidgets.config import GateWidgets
    from gatewidgets.server.handlers import routes
    from gatewidgets.server.inbox import inbox_routes

    serverapp.gatewidgets_config = GateWidgets(parent=serverapp)
    base_url = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [*routes(base_url), *inbox_routes(base_url)])
    serverapp.log.info("gatewidgets: signals API at %sgatewidgets/api, inbox at %sgatewidgets/inbox", base_url,
                       base_url)
