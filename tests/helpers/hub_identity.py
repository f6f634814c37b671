"""A Jupyter server IdentityProvider for tests: each token is one user, as JupyterHub's tokens are.

Loaded by a test's Jupyter server subprocess (``c.ServerApp.identity_provider_class =
"helpers.hub_identity.TokenUsers"``, with the ``tests`` folder on its ``PYTHONPATH``) and configured with
``c.TokenUsers.users = {"<token>": {"name": "alice", "groups": ["finance"]}}``. The user it returns is shaped
like JupyterHub's single-user server's (``jupyterhub.singleuser.extension.JupyterHubUser``): a jupyter_server
``User`` that carries the hub's user model, groups included, as ``hub_user``. Other tokens (the server's own)
are Jupyter's as usual.
"""
from __future__ import annotations

from typing import Any

from jupyter_server.auth import IdentityProvider, User
from tornado import web
from traitlets import Dict


class HubUser(User):
    """A user with the hub's user model beside jupyter_server's fields (not a dataclass field, as on a hub)."""

    hub_user: dict[str, Any]


class TokenUsers(IdentityProvider):
    """Tokens mapped to users: ``Authorization: token T`` (or ``?token=T``) is the user ``users[T]``."""

    users = Dict(help="token -> {'name': user name, 'groups': [hub groups]}").tag(config=True)

    async def get_user_token(self, handler: web.RequestHandler) -> User | None:
        model = self.users.get(self.get_token(handler) or "")
        if model is None:
            return await super().get_user_token(handler)
        user = HubUser(username=model["name"])
        user.hub_user = {"kind": "user", "name": model["name"], "groups": list(model.get("groups", []))}
        return user
