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
