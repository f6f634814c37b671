"""A real IPython shell with ``%load_ext gatewidgets``, for the magics' tests."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from IPython import get_ipython as current_ipython
from IPython.testing.globalipapp import get_ipython
from IPython.utils.capture import capture_output

from gatewidgets.settings import settings


@contextlib.contextmanager
def gate_shell() -> Iterator[Any]:
    """The test shell with the extension loaded; settings and ``%config`` are restored after."""
    shell = get_ipython() or current_ipython()  # globalipapp returns the shell only the first time
    saved = settings.as_dict()
    shell.run_line_magic("load_ext", "gatewidgets")
    try:
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "gatewidgets")
        shell.config.pop("GateWidgets", None)  # a refused %config value stays in the shell's config
        for key, value in saved.items():
            setattr(settings, key, value)


def run(ip: Any, line: str) -> Any:
    """Run a cell; return everything the user sees (stdout, stderr, displays)."""
    with capture_output() as captured:
        result = ip.run_cell(line)
    captured.result = result
    return captured
