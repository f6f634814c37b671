"""The one parser and the commands behind ``%gate`` and the ``gatewidgets`` command line.

Commands return a :class:`Result` (a one-line message, notes, tables, JSON data, and what a
notebook should show as a widget); each face renders it: HTML in notebooks, text in
terminals, JSON with ``--json``. Mistakes raise :class:`CommandError` (one line); gate
errors (:class:`gatewidgets.errors.GateError`) pass through for the face to print.
"""
from gatewidgets.commands.parser import CommandError, HelpRequested, build_parser, one_line, split_line
from gatewidgets.commands.results import Context, Result, Table
from gatewidgets.commands.verbs import run_command

__all__ = ["CommandError", "HelpRequested", "Context", "Table", "Result", "build_parser", "run_command",
           "split_line", "one_line"]
