"""``%gate`` / ``%%gate set``: drive gates from cells (``%load_ext gatewidgets``).

Listings display as HTML tables in notebooks and as text in a terminal (one mimebundle
with both); ``show`` and ``dashboard`` display widgets when ``gatewidgets.widgets`` is
available. Every mistake raises ``UsageError`` with one line, so the user never sees a
traceback. Without ``-e`` a command means the execution launched last in this kernel; when
other executions launched here are still running it says which one it used.
"""
from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display
from traitlets import Unicode

from gatewidgets.commands import (
    CommandError,
    Context,
    HelpRequested,
    Result,
    build_parser,
    one_line,
    run_command,
    split_line,
)
from gatewidgets.config import GateWidgets
from gatewidgets.errors import GateError
from gatewidgets.formatting import inert
from gatewidgets.models.execution import ExecutionRecord
from gatewidgets.remote import GateRemote

__all__ = ["GateMagics", "load_ipython_extension", "unload_ipython_extension"]


@magics_class
class GateMagics(Magics):
    """The ``%gate`` magics; sets are recorded with ``via="magic"``."""

    user = Unicode(None, allow_none=True, help="Name recorded as set_by (default: the login name).").tag(config=True)
    remote: GateRemote | None = None  # None: this machine's store; e.g. GateRemote.for_endpoint(...) for Flyte

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.parser = build_parser("%gate", notebook=True)

    def _remote(self) -> GateRemote:
        return (self.remote or GateRemote.for_sandbox()).with_face("magic", user=self.user)

    @line_cell_magic
    def gate(self, line: str, cell: str | None = None) -> Any:
        """%gate list|approve|reject|set|show|dashboard|executions|abort|run ... (``%gate -h`` for help).

        ``%%gate set SIGNAL [-e EXECUTION]``: the cell is a Python expression, its value the signal's.
        """
        from gatewidgets.engine import default_executor

        try:  # opening the store can fail too (corrupt, unreadable): StoreError, one line
            remote = self._remote()
            ctx = Context(remote, self.shell.user_ns if self.shell else None, default_executor().launched, cell)
            argv = split_line(line) if line.strip() else ["--help"]
            if cell is not None and argv[0] != "set":
                raise CommandError("As a cell magic, %%gate only supports: %%gate set SIGNAL [-e EXECUTION].")
            result = run_command(argv, ctx, self.parser)
        except HelpRequested as exc:
            print(str(exc).rstrip())
            return None
        except CommandError as exc:
            raise UsageError(one_line(str(exc))) from None
        except GateError as exc:
            raise UsageError(f"{type(exc).__name__}: {one_line(str(exc))}") from None
        self._render(result, remote)
        return result.value

    def _render(self, result: Result, remote: GateRemote) -> None:
        widget = self._widget(result.show, remote) if result.show is not None else None
        if widget is None and result.tables:  # the rich display holds the notes and the message too
            display({"text/plain": result.to_text(), "text/html": result.to_html()},  # type: ignore[no-untyped-call]
                    raw=True)
            return
        for note in result.notes:
            print(inert(note))
        if widget is not None:
            display(widget)  # type: ignore[no-untyped-call]  # IPython.display.display has no annotations
        elif result.message:
            print(inert(result.message))

    @staticmethod
    def _widget(show: Any, remote: GateRemote) -> Any:
        try:
            from gatewidgets.widgets import ExecutionWidget, SignalDashboard, StoredExecutionWidget
        except ImportError:  # widgets unavailable: the text/HTML rendering stands in
            return None
        if show == "dashboard":
            return SignalDashboard(remote=remote.with_face("widget"))
        if isinstance(show, ExecutionRecord):  # another process's, orphaned, finished, or remote
            return StoredExecutionWidget(show.name, show.id.project, show.id.domain, remote=remote.with_face("widget"))
        return ExecutionWidget(show, remote=remote.with_face("widget"))


def load_ipython_extension(ip: Any) -> None:
    """Register ``%gate`` and the ``GateWidgets`` configurable (idempotent); an ``Execution`` displays
    as its widget through its own ``_repr_mimebundle_``."""
    if not any(isinstance(c, GateWidgets) for c in ip.configurables):
        ip.configurables.append(GateWidgets(parent=ip))
    if not isinstance(ip.magics_manager.registry.get(GateMagics.__name__), GateMagics):
        ip.register_magics(GateMagics(ip, parent=ip))  # also adds it to ip.configurables


def unload_ipython_extension(ip: Any) -> None:
    """Remove what :func:`load_ipython_extension` added."""
    manager = ip.magics_manager
    for kind in ("line", "cell"):
        if isinstance(getattr(manager.magics[kind].get("gate"), "__self__", None), GateMagics):
            del manager.magics[kind]["gate"]
    manager.registry.pop(GateMagics.__name__, None)
    ip.configurables[:] = [c for c in ip.configurables if not isinstance(c, (GateMagics, GateWidgets))]
