"""Shared fixtures for the plain pytest suite under ``tests/``.

The root ``conftest.py`` already points ``GATEWIDGETS_STORE`` at a session-wide
temporary file at import time; here every test gets a fresh store of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_ignore_collect(collection_path: Path, config: pytest.Config):
    # nbval (enabled by --nbval-lax) would collect every .ipynb it sees; the notebooks
    # under tests/ (e.g. tests/browser/notebooks/) are fixtures of browser tests, not
    # tests of their own. Only notebooks/ is run by nbval.
    if collection_path.suffix == ".ipynb":
        return True
    return None


@pytest.fixture(autouse=True)
def gatewidgets_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Per-test store: ``$GATEWIDGETS_STORE`` is ``tmp_path / "gates.db"``.

    Returns the path so tests can open the store or hand it to a subprocess (a
    subprocess started with the default environment inherits it).
    """
    path = tmp_path / "gates.db"
    monkeypatch.setenv("GATEWIDGETS_STORE", str(path))
    return path


@pytest.fixture(autouse=True)
def _release_engine():
    """Stop the executors and stores a test opened, so threads do not pile up across tests."""
    yield
    from gatewidgets.executor import shutdown_executors
    from gatewidgets.store import close_stores

    shutdown_executors()
    close_stores()
