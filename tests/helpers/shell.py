"""A real IPython shell with ``%load_ext gatewidgets``, for the magics' tests."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from IPython.testing import globalipapp
from IPython.utils.capture import capture_output

from gatewidgets.settings import settings


def global_shell() -> Any:
    """The one IPython shell of the test process: ``IPython.testing.globalipapp``'s, made on first use.

    Every test that needs a shell takes this one. ``InteractiveShell`` and globalipapp's
    ``TerminalInteractiveShell`` are singletons of one family: once a plain ``InteractiveShell.instance()``
    exists, globalipapp's shell cannot be made (``MultipleInstanceError``), so a test file making the
    plain one broke the files run after it. ``globalipapp.get_ipython`` is looked up on the module each
    time: the first call starts the shell and returns it, then rebinds the name to the shell's own
    ``get_ipython`` (a name imported from the module beforehand returns None after the first call).
    """
    return globalipapp.get_ipython()


@contextlib.contextmanager
def gate_shell() -> Iterator[Any]:
    """The test shell with the extension loaded; settings and ``%config`` are restored after."""
    shell = global_shell()
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
