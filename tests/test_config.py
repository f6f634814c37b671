"""``GateWidgets``: traitlets configuration written into ``gatewidgets.settings``."""
from __future__ import annotations

from pathlib import Path

import pytest
from traitlets import TraitError
from traitlets.config import Config

from gatewidgets import GateRemote
from gatewidgets.config import GateWidgets
from gatewidgets.settings import settings
from gatewidgets.store import default_store_path, open_store


@pytest.fixture(autouse=True)
def restore_settings():
    saved = settings.as_dict()
    yield
    for key, value in saved.items():
        setattr(settings, key, value)


def test_config_file_values_become_the_defaults(tmp_path: Path) -> None:
    store = tmp_path / "other.db"
    config = Config({"GateWidgets": {"store": str(store), "default_project": "flytesnacks",
                                     "default_domain": "production", "max_workers": 3, "poll_interval": 0.5,
                                     "notify": False, "webhook_url": "http://hooks.example/x"}})
    GateWidgets(config=config)
    assert (settings.default_project, settings.default_domain, settings.max_workers) == ("flytesnacks", "production", 3)
    assert (settings.poll_interval, settings.notify, settings.webhook_url) == (0.5, False, "http://hooks.example/x")
    assert default_store_path() == str(store)
    remote = GateRemote.for_sandbox()
    assert (remote.default_project, remote.default_domain) == ("flytesnacks", "production")
    assert remote.store.path == str(store)


def test_live_changes_and_validation() -> None:
    cfg = GateWidgets()
    cfg.default_domain = "staging"
    assert settings.default_domain == "staging"
    cfg.store = ""
    assert settings.store is None
    for name, bad in (("max_workers", 0), ("poll_interval", 0.0), ("default_project", "  ")):
        with pytest.raises(TraitError):
            setattr(cfg, name, bad)
    assert settings.max_workers >= 1 and settings.poll_interval > 0 and settings.default_project.strip()


def test_config_files_precedence_and_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``gatewidgets_config.py`` in Jupyter's config dir is read by every process; a host's
    ``c.GateWidgets`` beats it; run-time changes are reported as such."""
    (tmp_path / "gatewidgets_config.py").write_text(
        'c.GateWidgets.default_project = "from-file"\nc.GateWidgets.default_domain = "file-domain"\n')
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    cfg = GateWidgets(config=Config({"GateWidgets": {"default_domain": "from-host"}}))
    assert (settings.default_project, settings.default_domain) == ("from-file", "from-host")
    assert cfg.source("default_project") == str(tmp_path / "gatewidgets_config.py")
    assert cfg.source("default_domain") == "the config passed in" and cfg.source("notify") == "default"
    settings.notify = False
    assert cfg.source("notify").startswith("set at run time")
    del settings.notify
    assert settings.notify is True


def test_cli_config_prints_values_and_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from gatewidgets.cli import main

    (tmp_path / "gatewidgets_config.json").write_text(json.dumps({"GateWidgets": {"max_workers": 3}}))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    GateWidgets()  # what a fresh command-line process does on first use
    assert main(["config", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["max_workers"] == {"value": 3, "source": str(tmp_path / "gatewidgets_config.json")}
    assert data["store"]["source"] == "$GATEWIDGETS_STORE" and data["notify"]["source"] == "default"
    with pytest.raises(AttributeError, match="no setting"):
        _ = settings.nonsense


def test_server_extension_reads_the_files_and_its_own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server extension: ``gatewidgets_config.py`` first, ``c.GateWidgets`` of jupyter_server_config on top."""
    pytest.importorskip("jupyter_server")
    from types import SimpleNamespace

    from traitlets.config import Configurable

    from gatewidgets.server import _load_jupyter_server_extension

    class ServerApp(Configurable):
        """Stands in for jupyter_server's ServerApp: its config, web app and log."""

    (tmp_path / "gatewidgets_config.py").write_text('c.GateWidgets.default_project = "from-file"\n'
                                                    'c.GateWidgets.max_workers = 2\n')
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    web_app = SimpleNamespace(settings={"base_url": "/"}, add_handlers=lambda host, routes: None)
    log = SimpleNamespace(info=lambda *args: None)
    app = ServerApp(config=Config({"GateWidgets": {"default_project": "from-server"}}))
    app.web_app, app.log = web_app, log
    _load_jupyter_server_extension(app)
    assert (settings.default_project, settings.max_workers) == ("from-server", 2)
    assert app.gatewidgets_config.source("default_project") == "the config of ServerApp"


def test_trust_settings(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    assert GateWidgets().http_busy_timeout == 2.0  # the server extension answers 503 after 2 s of a lock
    assert GateWidgets().inbox_stream_seconds == 300.0  # an inbox event stream lasts 5 minutes
    config = Config({"GateWidgets": {"max_upload_bytes": 10, "http_allowed_file_dirs": [str(shared)],
                                     "busy_timeout": 2.5, "http_busy_timeout": 0.5, "store": str(tmp_path / "s.db")}})
    GateWidgets(config=config)
    assert (settings.max_upload_bytes, settings.http_allowed_file_dirs, settings.busy_timeout) == (
        10, [str(shared)], 2.5)
    assert GateRemote.for_sandbox().store.busy_timeout == 2.5
    http = open_store(wait=settings.http_busy_timeout)  # the server extension's store
    assert (http.busy_timeout, http.retry_for) == (0.5, 0.5) and http is not GateRemote.for_sandbox().store
    assert http is open_store(wait=0.5)
    for name, bad in (("max_upload_bytes", 0), ("busy_timeout", 0), ("busy_timeout", 7200),
                      ("http_busy_timeout", 0), ("http_busy_timeout", 7200), ("http_upload_ttl", 0),
                      ("inbox_stream_seconds", 0), ("lease", 0), ("lease", 7200)):
        with pytest.raises(TraitError, match=f"GateWidgets.{name}"):
            GateWidgets(config=Config({"GateWidgets": {name: bad}}))
    assert GateWidgets().http_allowed_file_dirs == [] and settings.http_allowed_file_dirs == []  # off by default


def test_public_url_is_unset_by_default_and_refuses_what_is_no_url() -> None:
    assert GateWidgets().public_url is None and settings.public_url is None
    settings.public_url = " https://hub.example.org/user/alice/ "
    assert settings.public_url == "https://hub.example.org/user/alice/"  # stripped
    settings.public_url = "/user/bob/"
    assert settings.public_url == "/user/bob/"
    for bad in ("hub.example.org/user/alice", "https://hub.example.org/?x=1", "javascript:alert(1)"):
        with pytest.raises(TraitError, match="GateWidgets.public_url"):
            settings.public_url = bad
        assert settings.public_url == "/user/bob/"  # unchanged
    for unset in ("", "  ", None):
        settings.public_url = unset
        assert settings.public_url is None
