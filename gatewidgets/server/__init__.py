"""Jupyter server extension: the signals API over HTTP, behind Jupyter's auth.

Enabled by ``jupyter-config/jupyter_server_config.d/gatewidgets.json`` (installed with the
package). Routes, under the server's base URL (see :mod:`gatewidgets.server.handlers`)::

    GET  /gatewidgets/api/executions[?project=&domain=&status=&limit=]
    GET  /gatewidgets/api/executions/{project}/{domain}/{execution}
    POST /gatewidgets/api/executions/{project}/{domain}/{execution}/abort
    GET  /gatewidgets/api/executions/{project}/{domain}/{execution}/history[?signal=]
    GET  /gatewidgets/api/signals[?execution=&state=&kind=&limit=&offset=&project=&domain=]
    GET  /gatewidgets/api/signals/{project}/{domain}/{execution}/{signal_id}
    POST /gatewidgets/api/signals/{project}/{domain}/{execution}/{signal_id}   {"value": ...} or {"text": "..."}
    POST /gatewidgets/api/signals/{project}/{domain}/{execution}/{signal_id}/approve   (and /reject)
    GET  /gatewidgets/metrics[?project=&domain=]    Prometheus text format
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

    serverapp.gatewidgets_config = GateWidgets(parent=serverapp)
    base_url = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", routes(base_url))
    serverapp.log.info("gatewidgets: signals API at %sgatewidgets/api", base_url)
