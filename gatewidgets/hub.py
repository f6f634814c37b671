"""``gatewidgets hub-service``: the signals API (and the inbox) as a JupyterHub service, behind hub OAuth.

A Jupyter server that runs no kernels and serves no files: only the ``gatewidgets.server`` extension
(every route it has, the inbox included), JupyterHub's own identity provider and authorizer (those of
the single-user servers: a hub user logs in through the hub's OAuth, the service's cookie keeps them in,
XSRF as on any Jupyter server) and a front page that sends a logged-in user to the inbox. Each request's
identity is the hub user, with the hub's groups (``Identity(name, "hub", groups)``), for the policies'
``@groups``. The hub starts it with its environment (``JUPYTERHUB_SERVICE_URL``, ``JUPYTERHUB_SERVICE_PREFIX``,
the API token and OAuth client); its store is ``GATEWIDGETS_STORE``, a database every user's kernel shares.
"""
from __future__ import annotations

import os
import sys
from typing import Any, cast
from urllib.parse import urlparse

from jupyter_server.base.handlers import JupyterHandler, Template404
from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import url_path_join
from jupyterhub.singleuser.extension import JupyterHubAuthorizer, JupyterHubIdentityProvider
from tornado import web
from tornado.httputil import HTTPHeaders, HTTPServerRequest
from traitlets import Bool, default

__all__ = ["HubServiceApp", "run"]

EXTENSION = "gatewidgets.server"
IDENTITY_SOURCE = "gatewidgets_identity_source"  # the web app setting the extension's handlers read
PAGES = (("gatewidgets", "inbox"), ("gatewidgets", "api", "signals"))  # where the front page sends a user: first served


class HomeHandler(JupyterHandler):
    """The service's front page: logs a hub user in (the redirect to the hub's OAuth), then sends them on to
    the inbox (the signals API where this server has no inbox)."""

    @web.authenticated
    def get(self) -> None:
        base = self.settings["base_url"]
        pages = [url_path_join(base, *page) for page in PAGES]
        self.redirect(next((page for page in pages if _serves(self.application, page)), pages[-1]))


def _serves(app: web.Application, path: str) -> bool:
    """Whether a route of ``app`` other than the not-found page answers ``GET path``."""
    request = HTTPServerRequest(method="GET", uri=path, headers=HTTPHeaders({"Host": "127.0.0.1"}))
    return not issubclass(app.find_handler(request).handler_class, Template404)


class HubServiceApp(ServerApp):
    """A Jupyter server for a JupyterHub service: gatewidgets' routes only, hub OAuth, no kernels or files."""

    name = "gatewidgets-hub-service"
    description = "The gatewidgets signals API and inbox as a JupyterHub service."
    # the server's own API (status, the logged-in user) and nothing else: no contents, files, kernels, terminals
    default_services = ("api",)  # type: ignore[assignment]  # the base class types its own thirteen names
    allow_root = Bool(True, config=True, help="The service starts no kernels, so running as root is allowed.")

    @default("identity_provider_class")
    def _hub_identity(self) -> Any:  # jupyterhub is untyped
        return JupyterHubIdentityProvider

    @default("authorizer_class")
    def _hub_authorizer(self) -> Any:
        return JupyterHubAuthorizer

    @default("jpserver_extensions")
    def _gatewidgets_only(self) -> dict[str, bool]:
        return {EXTENSION: True}

    @default("ip")
    def _service_ip(self) -> str:
        return urlparse(_service_url()).hostname or "127.0.0.1"

    @default("port")
    def _service_port(self) -> int:
        url = urlparse(_service_url())
        return url.port or (443 if url.scheme == "https" else 80)

    @default("base_url")
    def _service_prefix(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/"

    @default("open_browser")
    def _no_browser(self) -> bool:
        return False

    @default("port_retries")
    def _that_port(self) -> int:
        return 0  # the hub's proxy routes to the service's URL: another port would be unreachable

    def find_server_extensions(self) -> None:
        """Load only the extensions configured for this app (gatewidgets'), not every one installed."""

    def init_webapp(self) -> None:
        super().init_webapp()
        self.web_app.settings[IDENTITY_SOURCE] = "hub"  # the handlers' identities: hub users, logged in by hub OAuth
        cast(Any, self.web_app).add_handlers(".*$", [(url_path_join(self.base_url, "/?"), HomeHandler)])


def _service_url() -> str:
    return os.environ.get("JUPYTERHUB_SERVICE_URL", "")


def run(config: str | None = None, debug: bool = False) -> int:
    """Run the service until it is stopped, with a Jupyter server ``config`` file if given."""
    if not _service_url():
        print("gatewidgets: hub-service runs as a JupyterHub service: add it to c.JupyterHub.services in "
              "jupyterhub_config.py (with a url), and the hub starts it.", file=sys.stderr)
        return 2
    HubServiceApp.launch_instance([*([f"--config={config}"] if config else []), *(["--debug"] if debug else [])])
    return 0
