"""The one parser of ``%gate`` and the ``gatewidgets`` command line, and how it splits and refuses input: a
mistake is a :class:`CommandError` of one line."""
from __future__ import annotations

import argparse
import math
import re
from typing import Any

from gatewidgets.formatting import inert
from gatewidgets.models.execution import ExecutionStatus
from gatewidgets.models.signal import SignalState
from gatewidgets.store.base import FILE_GRACE

__all__ = ["CommandError", "HelpRequested", "build_parser", "split_line", "one_line"]

HUB_SERVICE = ("Serve the signals API and the approvers' inbox as a JupyterHub service (hub OAuth: hub users and "
               "their groups are the identities); the hub starts it from c.JupyterHub.services.")


class CommandError(Exception):
    """A usage mistake; its message is one line for the user."""


class HelpRequested(Exception):
    """``-h``/``--help`` was given; the message is the help text."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises instead of exiting, so a kernel never exits."""

    def error(self, message: str) -> Any:
        raise CommandError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if status:
            raise CommandError(one_line(message or f"{self.prog}: error"))
        raise HelpRequested(message or "")

    def print_help(self, file: Any = None) -> None:
        raise HelpRequested(self.format_help())


def one_line(text: str) -> str:
    """Collapse whitespace so a message prints as one line, its control characters shown, not interpreted."""
    return inert(" ".join(str(text).split()))


# A word of a POSIX shell line, as shlex.split reads it: unquoted text (a backslash escapes any
# character), '...' (literal) and "..." (a backslash escapes only a backslash and "), glued together.
_BLANK = " \t\r\n"
_PIECES = r"[^ \t\r\n'\"\\]+|\\(.)|'([^']*)'|\"((?:[^\"\\]|\\.)*)\""
_WORD = re.compile(f"(?:{_PIECES})+", re.DOTALL)
_PIECE = re.compile(_PIECES, re.DOTALL)
_IN_DOUBLE = re.compile(r'\\([\\"])')


def _unquote(word: str) -> str:
    parts: list[str] = []
    for piece in _PIECE.finditer(word):
        escaped, single, double = piece.groups()
        if escaped is not None:
            parts.append(escaped)
        elif single is not None:
            parts.append(single)
        elif double is not None:
            parts.append(_IN_DOUBLE.sub(r"\1", double))
        else:
            parts.append(piece.group())
    return "".join(parts)


def split_line(line: str) -> list[str]:
    """Split a magic line like a shell would (quotes group words), as ``shlex.split`` does.

    In linear time: ``shlex`` reads a character at a time and takes minutes on a megabyte
    ``--value``, which would freeze the kernel before ``max_value_bytes`` could refuse it.
    """
    words: list[str] = []
    pos = 0
    while True:
        while pos < len(line) and line[pos] in _BLANK:
            pos += 1
        if pos == len(line):
            return words
        word = _WORD.match(line, pos)
        if word is None:
            raise CommandError(f"cannot split {line[:200]!r}: no closing quotation or escaped character")
        words.append(_unquote(word.group()))
        pos = word.end()


MAX_LIMIT = 1_000_000


def _limit(text: str) -> int:
    """``--limit``: a whole number from 1 to :data:`MAX_LIMIT`."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_LIMIT:,}, got {text!r}")
    return value


def _seconds(text: str) -> float:
    """``--older-than``: a number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more, got {text!r}")
    return value


def build_parser(prog: str = "%gate", *, notebook: bool = True) -> argparse.ArgumentParser:
    """The parser of ``%gate`` (``notebook=True``) and of the ``gatewidgets`` command line.

    The command line leaves out ``run`` and ``dashboard`` (they need a kernel) and adds
    ``--json``, ``--store``, ``lab`` and ``hub-service``.
    """
    output = _Parser(add_help=False)  # where the store is and how results print (the command line's)
    if not notebook:
        output.add_argument("--json", action="store_true", help="print JSON instead of text")
        output.add_argument("--store", help="path of the store (default: $GATEWIDGETS_STORE or Jupyter's data dir)")
    common = _Parser(add_help=False, parents=[output])
    common.add_argument("-p", "--project", help="project (default: the configured default project)")
    common.add_argument("-d", "--domain", help="domain (default: the configured default domain)")

    parser = _Parser(prog=prog, description="List and set gate signals of gatewidgets executions.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, parents=[common])

    def execution_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("-e", "--execution", help="execution name (default: the execution launched last in this "
                       "kernel, else the only one running)")

    p = add("list", "List signals: open ones (pending or upcoming) unless --state or --all.")
    p.add_argument("execution", nargs="?", help="execution name (default: every execution of the project/domain)")
    p.add_argument("--state", type=str.upper, choices=[s.value for s in SignalState], help="only this state")
    p.add_argument("--all", action="store_true", help="signals in every state")
    p.add_argument("--limit", type=_limit, default=50, help="at most this many rows (default 50)")
    p.add_argument("--mine", action="store_true", help="only pending signals waiting for you: those you may answer")

    for name, verb in (("approve", "Approve"), ("reject", "Reject")):
        p = add(name, f"{verb} a yes/no signal.")
        p.add_argument("signal", help="signal id")
        execution_option(p)
        p.add_argument("-c", "--comment", help="the reason, recorded in the history and shown on the card")
        p.add_argument("--evidence", metavar="HASH", help="the evidence hash you looked at (as `show` prints it): "
                       "refused if the evidence changed since")
        if name == "approve":
            p.add_argument("--value", help="a changed value for an approve(..., editable=True) gate: text parsed "
                           "into the value's type (a Python literal or JSON)")

    p = add("set", "Set a signal to a value: text parsed into the signal's type (a Python literal or JSON), "
                   "or $name for a variable of the notebook.")
    p.add_argument("signal", help="signal id")
    p.add_argument("value", nargs="*", help="the value (words are joined by spaces)")
    execution_option(p)

    p = add("end-sleep", "End a sleep gate now (the workflow goes on as if its time had passed).")
    p.add_argument("signal", help="signal id of the sleep (e.g. sleep-n0)")
    execution_option(p)

    p = add("show", "Show an execution: its nodes and signals.")
    p.add_argument("execution", nargs="?", help="execution name (default: as for -e)")
    p.add_argument("--ids", action="store_true", help="also show the internal node ids")

    p = add("executions", "List executions, newest first.")
    p.add_argument("--status", type=str.upper, choices=[s.value for s in ExecutionStatus], help="only this status")
    p.add_argument("--limit", type=_limit, default=20, help="at most this many rows (default 20)")

    p = add("abort", "Abort a running execution.")
    p.add_argument("execution", help="execution name")

    p = add("history", "The audit trail of an execution's signals: created, reached, set (who, how, what), "
                       "timed out, cancelled.")
    p.add_argument("execution", nargs="?", help="execution name (default: as for -e)")
    p.add_argument("-s", "--signal", help="only this signal")

    add("stats", "Metrics: executions, gates waiting, wait-time and signal-to-resume latency percentiles.")
    add("config", "The effective settings (c.GateWidgets) and where each value comes from.")

    p = add("recover", "Resume an unfinished execution (e.g. orphaned by a killed kernel) in this "
                       + ("kernel" if notebook else "process, and wait for it") + ", with its stored inputs.")
    p.add_argument("execution", help="execution name")
    p.add_argument("--workflow", metavar="MODULE:NAME", help="where its workflow is (default: the import path "
                   "recorded at launch" + (", else the notebook's workflow of that name)" if notebook else ")"))

    files = sub.add_parser("files", help="Look after the files kept in the store's files/ folder.",
                           description="Look after the files kept in the store's files/ folder.")
    actions = files.add_subparsers(dest="files_command", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    clean_help = ("Remove leftovers from files/: temp files of an interrupted upload or copy, and copies no "
                  "stored value refers to (a refused set leaves one), both only when older than --older-than.")
    p = actions.add_parser("clean", help=clean_help, description=clean_help, parents=[output])
    p.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    p.add_argument("--older-than", type=_seconds, default=FILE_GRACE, metavar="SECONDS",
                   help=f"leave files changed in the last SECONDS (default {FILE_GRACE:g}: an hour)")

    if not notebook:
        from gatewidgets import lab

        lab.add_arguments(sub.add_parser("lab", help=lab.HELP, description=lab.HELP))
        p = sub.add_parser("hub-service", help=HUB_SERVICE, description=HUB_SERVICE)
        p.add_argument("--config", metavar="FILE", help="a Jupyter server config file (c.GateWidgets.groups, ...)")
        p.add_argument("--debug", action="store_true", help="log at DEBUG level")
    if notebook:
        add("dashboard", "Show the dashboard of pending signals across executions.")
        p = add("run", "Launch a workflow defined in the notebook.")
        p.add_argument("workflow", help="name of the workflow in the notebook's namespace")
        p.add_argument("inputs", nargs="*", metavar="KEY=VALUE", help="inputs (Python literal, JSON, or $name)")
        p.add_argument("--name", help="execution name (default: generated)")
    return parser
