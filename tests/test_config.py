"""``GateWidgets``: traitlets configuration written into ``gatewidgets.settings``."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from traitlets import TraitError
from traitlets.config import Config

from gatewidgets import GateRemote
from gatewidgets.config import GateWidgets
from gatewidgets.settings import settings
from gatewidgets.store import default_store_path


@pytest.fixture(autouse=True)
def restore_settings():
    saved = dataclasses.asdict(settings)
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


def test_trust_settings(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    config = Config({"GateWidgets": {"max_upload_bytes": 10, "http_allowed_file_dirs": [str(shared)],
                                     "busy_timeout": 2.5, "store": str(tmp_path / "s.db")}})
    GateWidgets(config=config)
    assert (settings.max_upload_bytes, settings.http_allowed_file_dirs, settings.busy_timeout) == (
        10, (str(shared),), 2.5)
    assert GateRemote.for_sandbox().store.busy_timeout == 2.5
    for name, bad in (("max_upload_bytes", 0), ("busy_timeout", 0), ("busy_timeout", 7200)):
        with pytest.raises(TraitError, match=f"GateWidgets.{name}"):
            GateWidgets(config=Config({"GateWidgets": {name: bad}}))
    assert GateWidgets().http_allowed_file_dirs == [] and settings.http_allowed_file_dirs == ()  # off by default
