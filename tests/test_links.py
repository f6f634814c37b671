"""``gatewidgets.links``: a decision's permanent link into the approvers' inbox, its base and its quoting."""
from __future__ import annotations

import urllib.parse

import pytest

from gatewidgets.links import HUB_PREFIX_ENV, inbox_url, server_url
from gatewidgets.models.execution import WorkflowExecutionIdentifier as Key
from gatewidgets.settings import settings

EX = Key("finance", "production", "run-7")
pytestmark = pytest.mark.usefixtures("no_inbox_base")


@pytest.mark.parametrize("base", ["https://hub.example.org/user/alice/", "https://hub.example.org/user/alice"])
def test_the_base_with_or_without_a_trailing_slash(base: str) -> None:
    assert inbox_url("ok", EX, base) == "https://hub.example.org/user/alice/gatewidgets/inbox/finance/production/run-7/ok"


@pytest.mark.parametrize(("base", "expected"), [
    ("https://hub.example.org", "https://hub.example.org/gatewidgets/inbox/finance/production/run-7/ok"),
    ("http://127.0.0.1:8888/", "http://127.0.0.1:8888/gatewidgets/inbox/finance/production/run-7/ok"),
    ("/user/alice/", "/user/alice/gatewidgets/inbox/finance/production/run-7/ok"),
    ("/", "/gatewidgets/inbox/finance/production/run-7/ok"),
    ("https://hub.example.org/services/gatewidgets/", "https://hub.example.org/services/gatewidgets/gatewidgets/inbox/"
                                                      "finance/production/run-7/ok"),
])
def test_bases_of_every_shape(base: str, expected: str) -> None:
    assert inbox_url("ok", EX, base) == expected


@pytest.mark.parametrize("signal_id", ["approve spend", "50% off?", "#1 & co", "Zahlung prüfen ✓", "a+b=c;d", "%2F"])
def test_every_part_is_one_quoted_path_segment(signal_id: str) -> None:
    """Names with spaces, ``?``, ``#``, ``%``, ``&``, ``+`` and non-ASCII text stay one segment each: no query, no
    fragment, and unquoting the path gives back exactly the parts."""
    ex = Key("p-1", "d.2", "e_3")
    url = inbox_url(signal_id, ex, "https://hub.example.org/user/alice/")
    split = urllib.parse.urlsplit(url)
    assert (split.scheme, split.netloc, split.query, split.fragment) == ("https", "hub.example.org", "", "")
    segments = split.path.split("/")
    assert segments[:5] == ["", "user", "alice", "gatewidgets", "inbox"]
    assert [urllib.parse.unquote(s) for s in segments[5:]] == ["p-1", "d.2", "e_3", signal_id]
    assert all(c.isascii() and c not in " ?#&+;" for c in url)


def test_unset_public_url_gives_no_link() -> None:
    assert settings.public_url is None and server_url() is None
    assert inbox_url("ok", EX) is None


def test_public_url_is_the_default_base() -> None:
    settings.public_url = "https://hub.example.org/user/alice/"
    assert server_url() == "https://hub.example.org/user/alice/"
    assert inbox_url("ok", EX) == "https://hub.example.org/user/alice/gatewidgets/inbox/finance/production/run-7/ok"
    assert inbox_url("ok", EX, "/other/") == "/other/gatewidgets/inbox/finance/production/run-7/ok"  # given wins


def test_a_hub_kernel_links_under_its_servers_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    """JupyterHub sets $JUPYTERHUB_SERVICE_PREFIX for a user's server and its kernels: a link on the hub's host."""
    monkeypatch.setenv(HUB_PREFIX_ENV, "/user/alice/")
    assert inbox_url("ok", EX) == "/user/alice/gatewidgets/inbox/finance/production/run-7/ok"
    settings.public_url = "https://hub.example.org/services/gatewidgets/"  # public_url wins over the prefix
    assert inbox_url("ok", EX) == "https://hub.example.org/services/gatewidgets/gatewidgets/inbox/finance/production/run-7/ok"


@pytest.mark.parametrize("base", ["hub.example.org/user/alice", "ftp://hub.example.org/", "https:///nohost",
                                  "https://hub.example.org/?next=/x", "https://hub.example.org/#top", "user/alice/",
                                  "javascript:alert(1)"])
def test_a_base_that_is_no_url_is_refused(base: str) -> None:
    with pytest.raises(ValueError, match="public URL"):
        inbox_url("ok", EX, base)


@pytest.mark.parametrize("signal_id", [".", ".."])
def test_dot_segments_have_no_link(signal_id: str) -> None:
    """Valid names, but a browser resolves them (``%2E`` too): a link would lead elsewhere, so there is none."""
    with pytest.raises(ValueError, match="no URL path"):
        inbox_url(signal_id, EX, "https://hub.example.org/")
    with pytest.raises(ValueError, match="no URL path"):
        inbox_url("ok", Key("finance", "production", ".."), "https://hub.example.org/")
