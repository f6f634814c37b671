"""Root conftest: keeps every test, notebook kernel and test server off the user's store.

It lives at the repository root so that it applies to ``tests/`` *and* to the
notebooks under ``notebooks/`` that nbval runs.

* At import time (before anything imports ``gatewidgets``) ``GATEWIDGETS_STORE`` is
  pointed at a file in a temporary directory created for this pytest session, so even
  code that runs outside a fixture never opens the real ``gates.db``.
* Each notebook nbval runs gets a fresh store of its own: nbval starts one kernel per
  notebook, and the kernel inherits ``os.environ`` at that moment, so the variable is
  switched just before the notebook's first cell is set up.
* ``tests/conftest.py`` adds an autouse fixture giving each plain test its own store.
* Markers (registered in ``pyproject.toml``): ``browser`` on every test under ``tests/browser/``,
  ``slow`` on tests that start a Jupyter server, run notebooks or kill processes, or took over ~10 s
  (``--durations``), so ``python -m pytest -m "not slow and not browser"`` is the inner loop.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="gatewidgets-test-"))
atexit.register(shutil.rmtree, _SESSION_DIR, ignore_errors=True)

#: The store used by anything that is not inside a per-test / per-notebook store.
SESSION_STORE = _SESSION_DIR / "session" / "gates.db"
SESSION_STORE.parent.mkdir(parents=True)
os.environ["GATEWIDGETS_STORE"] = str(SESSION_STORE)

# Jupyter-side isolation for kernels and servers started by tests: no user-level
# IPython profile startup scripts or extensions leak into test kernels.
os.environ.setdefault("IPYTHONDIR", str(_SESSION_DIR / "ipython"))


def session_tmp_dir() -> Path:
    """The temporary directory of this pytest session (removed at exit)."""
    return _SESSION_DIR


ROOT = Path(__file__).resolve().parent
#: Test modules that are slow as a whole (``--durations``: 10-20 s a test, or seconds each and many): they
#: run notebooks, benchmarks, ruff and mypy, or kill and race processes.
SLOW_MODULES = frozenset({
    "test_benchmarks_smoke.py", "test_crossprocess.py", "test_gated_notebooks.py",
    "test_kill_while_finishing.py", "test_lint.py", "test_store_durability.py", "test_waiting_cost.py",
    "test_widgets_notebook.py",
})
#: Single slow tests of modules that are otherwise quick (``module.py::test_name``, parameters left out).
SLOW_TESTS = frozenset({
    "test_lab.py::test_lab_prints_the_url_and_serves_the_tutorials",
})
#: Fixtures that start a server process (a real ``jupyter server``, one per module).
SLOW_FIXTURES = frozenset({"server"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.path))
        if path.is_relative_to(ROOT) and path.relative_to(ROOT).parts[:2] == ("tests", "browser"):
            item.add_marker(pytest.mark.browser)
        test = f"{path.name}::{getattr(item, 'originalname', item.name)}"
        if (_notebook_file(item) is not None or path.name in SLOW_MODULES or test in SLOW_TESTS
                or SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))):
            item.add_marker(pytest.mark.slow)


_current_notebook: list[object] = [None]


def _notebook_file(item: pytest.Item):
    """The nbval ``IPyNbFile`` an item belongs to, or ``None`` for other items."""
    parent = item.parent
    if parent is not None and type(parent).__name__ == "IPyNbFile":
        return parent
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    nb = _notebook_file(item)
    if nb is None:
        return
    if _current_notebook[0] is not nb:
        # First cell of a new notebook: its kernel is started during this setup.
        _current_notebook[0] = nb
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(str(nb.path)).stem)
        store_dir = Path(tempfile.mkdtemp(prefix=f"nb-{name}-", dir=_SESSION_DIR))
        os.environ["GATEWIDGETS_STORE"] = str(store_dir / "gates.db")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    os.environ["GATEWIDGETS_STORE"] = str(SESSION_STORE)
