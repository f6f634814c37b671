"""A Jupyter server with several users, as JupyterHub gives one: an ``IdentityProvider`` mapping tokens to users.

``running_users_server(root, {"alice": token, "bob": token})`` starts a real ``jupyter server`` whose
``TokenUsers`` provider (loaded by the server from this module: ``tests/`` is put on its ``PYTHONPATH``) knows
each user by their token, in an ``Authorization: token T`` header, in ``?token=T`` or typed into the login page
(then by the login cookie); the server's own token is an anonymous user, any other token is refused.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _jupyter_server import Server, running_server
from jupyter_server.auth.identity import IdentityProvider, User

_USERS_ENV = "GATEWIDGETS_TEST_USERS"  # {"token": "user"} for the server process


class TokenUsers(IdentityProvider):
    """Users by token (``$GATEWIDGETS_TEST_USERS``, JSON ``{"token": "user"}``)."""

    def _user(self, token: str | None) -> User | None:
        users = json.loads(os.environ.get(_USERS_ENV, "{}"))
        name = users.get(token or "")
        return User(username=name, name=name, display_name=name) if name else None

    async def get_user_token(self, handler: Any) -> User | None:
        # the server's own token (its start-up check) stays an anonymous user, as in a plain server
        return self._user(self.get_token(handler)) or await super().get_user_token(handler)

    def process_login_form(self, handler: Any) -> User | None:
        return self._user(handler.get_argument("password", default=""))


@contextmanager
def running_users_server(root: Path, users: dict[str, str], *args: str) -> Iterator[Server]:
    """A real Jupyter server on 127.0.0.1 whose users are ``users`` (name -> token); yields its ``Server``."""
    tests = str(Path(__file__).resolve().parent)
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", _USERS_ENV)}
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (tests, saved["PYTHONPATH"]) if p)
    os.environ[_USERS_ENV] = json.dumps({token: name for name, token in users.items()})
    try:
        with running_server(root, "--ServerApp.identity_provider_class=_two_users.TokenUsers", *args) as server:
            yield server
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
