"""ARCHITECTURE.md names only modules that exist: every path of a Python module or package
(``gatewidgets/x.py``, ``store/base.py``, ``gatewidgets/kinds/``, a bare ``executor.py``) and every dotted
``gatewidgets.x.y`` (a module, or a name a module defines)."""
from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gatewidgets"
DOC = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")

_NOT_IN_NAME = r"(?<![\w/.<>-])"  # not the tail of a longer path or URL (``/gatewidgets/api/files/``)
PATHS = sorted(set(re.findall(_NOT_IN_NAME + r"((?:[\w-]+/)*\w+\.py|gatewidgets/(?:\w+/)+)(?![\w/])", DOC)))
DOTTED = sorted(set(re.findall(_NOT_IN_NAME + r"(gatewidgets(?:\.[A-Za-z_]\w*)+)", DOC)))


def _path_exists(name: str) -> bool:
    if name.endswith("_config.py"):  # a configuration file users write (ipython_config.py), not a module
        return True
    if "/" not in name:  # a bare module name: somewhere in the package
        return any(PACKAGE.rglob(name))
    return (ROOT / name).exists() or (PACKAGE / name).exists()


def _dotted_exists(name: str) -> bool:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        try:
            found = importlib.util.find_spec(".".join(parts[:end])) is not None
        except ModuleNotFoundError:  # a name inside a module, not a submodule
            found = False
        if found:
            obj: object = importlib.import_module(".".join(parts[:end]))
            for attr in parts[end:]:
                if not hasattr(obj, attr):
                    return False
                obj = getattr(obj, attr)
            return True
    return False


def test_the_document_names_modules() -> None:
    assert "gatewidgets/store/base.py" in PATHS and "kinds/base.py" in PATHS and "gatewidgets.dsl" in DOTTED
    assert "gatewidgets/api/files/" not in PATHS  # a URL, not a module


@pytest.mark.parametrize("name", PATHS)
def test_every_module_path_exists(name: str) -> None:
    assert _path_exists(name), f"ARCHITECTURE.md names {name}, which is not in the repository"


@pytest.mark.parametrize("name", DOTTED)
def test_every_dotted_name_exists(name: str) -> None:
    assert _dotted_exists(name), f"ARCHITECTURE.md names {name}, which no module defines"


def test_a_missing_module_is_caught() -> None:
    assert not _path_exists("gatewidgets/no_such_module.py") and not _path_exists("no_such_module.py")
    assert not _dotted_exists("gatewidgets.no_such_module") and not _dotted_exists("gatewidgets.dsl.no_such_name")
