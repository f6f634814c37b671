"""Shared fixtures for the plain pytest suite under ``tests/``.

The root ``conftest.py`` already points ``GATEWIDGETS_STORE`` at a session-wide
temporary file at import time; here every test gets a fresh store of its own, except
a test that uses the Jupyter test server (``server``), which shares the server's store.

Fixtures live here, not in modules the tests import them from: a fixture imported into a
test module and then named as a test's parameter is a redefinition to linters (F811).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _jupyter_server import Server, running_server
from _postgres import PostgresServer, running_postgres
from _procs import FILE_WORKFLOW, waiting_execution


def pytest_ignore_collect(collection_path: Path, config: pytest.Config):
    # nbval (enabled by --nbval-lax) would collect every .ipynb it sees; the notebooks
    # under tests/ (e.g. tests/browser/notebooks/) are fixtures of browser tests, not
    # tests of their own. Only notebooks/ is run by nbval.
    if collection_path.suffix == ".ipynb":
        return True
    return None


@pytest.fixture(autouse=True)
def gatewidgets_store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Per-test store: ``$GATEWIDGETS_STORE`` is ``tmp_path / "gates.db"`` -- or, for a test that uses
    the Jupyter test server (``server``, also through ``waiting`` or ``waiting_files``), the server's
    store, so that this process, the server and the workflows it starts all see the same executions.

    Returns the path so tests can open the store or hand it to a subprocess (a
    subprocess started with the default environment inherits it).
    """
    if "server" in request.fixturenames:
        path = request.getfixturevalue("server").store  # a module's own ``server`` fixture counts too
    else:
        path = tmp_path / "gates.db"
    monkeypatch.setenv("GATEWIDGETS_STORE", str(path))
    return Path(path)


@pytest.fixture(autouse=True)
def _release_engine():
    """Stop the executors and stores a test opened, so threads do not pile up across tests."""
    yield
    from gatewidgets.engine import shutdown_executors
    from gatewidgets.store import close_stores

    shutdown_executors()
    close_stores()


@pytest.fixture
def no_inbox_base(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Neither ``c.GateWidgets.public_url`` nor ``$JUPYTERHUB_SERVICE_PREFIX``: no link to the inbox can be made
    until the test sets one; ``public_url`` is put back afterwards."""
    from gatewidgets.links import HUB_PREFIX_ENV
    from gatewidgets.settings import settings

    monkeypatch.delenv(HUB_PREFIX_ENV, raising=False)
    settings.public_url = None
    yield
    del settings.public_url


# -- a real PostgreSQL server (tests/_postgres.py) -----------------------------------------
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this session (skipped where its server is not installed)."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh database of this test's own on :func:`postgres_server`."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", "postgres"])
def each_store(request: pytest.FixtureRequest, gatewidgets_store: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store every process of the test names (``$GATEWIDGETS_STORE``), once per backend: the test's SQLite
    file, then a fresh PostgreSQL database. A module runs on both with
    ``pytestmark = pytest.mark.usefixtures("each_store")``."""
    if request.param == "postgres":
        monkeypatch.setenv("GATEWIDGETS_STORE", request.getfixturevalue("postgres_url"))
    return os.environ["GATEWIDGETS_STORE"]


# -- the Jupyter test server (tests/_jupyter_server.py) ----------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``jupyter server`` subprocess on 127.0.0.1 with the default configuration, one per module.

    A module needing another configuration defines its own ``server`` (with ``running_server``).
    """
    with running_server(tmp_path_factory.mktemp("jupyter")) as running:
        yield running


@pytest.fixture
def waiting(server: Server) -> Iterator[Any]:
    """A workflow waiting at its gates in another process; yields (name, process)."""
    with waiting_execution("srv", a=4) as running:
        yield running


@pytest.fixture
def waiting_files(server: Server) -> Iterator[Any]:
    """``_file_workflow.py`` waiting for its file signals in another process; yields (name, process)."""
    with waiting_execution("files", a=0, script=FILE_WORKFLOW, signal="receipt") as running:
        yield running
