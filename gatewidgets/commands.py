"""The one parser and the commands behind ``%gate`` and the ``gatewidgets`` command line.

Commands return a :class:`Result` (a one-line message, notes, tables, JSON data, and what a
notebook should show as a widget); each face renders it: HTML in notebooks, text in
terminals, JSON with ``--json``. Mistakes raise :class:`CommandError` (one line); gate
errors (:class:`gatewidgets.errors.GateError`) pass through for the face to print.
"""
from __future__ import annotations

import argparse
import ast
import html
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Sequence

from gatewidgets import kinds
from gatewidgets.answers import answers_file
from gatewidgets.errors import GateError
from gatewidgets.formatting import inert, node_labels, short, when, who_decided
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus
from gatewidgets.models.signal import Signal, SignalState
from gatewidgets.remote import DecisionStatus, GateRemote
from gatewidgets.store.base import FILE_GRACE, ExecutorStore
from gatewidgets.store.postgres import is_postgres_url, masked
from gatewidgets.wire import event_to_json, execution_to_json, signal_to_json

__all__ = ["CommandError", "HelpRequested", "Context", "Table", "Result", "build_parser", "run_command",
           "split_line", "one_line"]

OPEN_STATES = (SignalState.PENDING, SignalState.UPCOMING)
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


@dataclass
class Context:
    """What a command may use besides its arguments."""

    remote: GateRemote
    namespace: dict[str, Any] | None = None  # the notebook's user namespace
    launched: Sequence[Any] = ()  # Executions launched in this process, oldest first
    cell: str | None = None  # body of ``%%gate set``


@dataclass
class Table:
    """Rows of strings with a title; renders as text or HTML."""

    title: str
    columns: list[str]
    rows: list[list[str]]

    def to_text(self) -> str:
        """The table for a terminal: one line per row, whatever its cells hold (see :func:`inert`)."""
        rows = [[inert(v, layout=False) for v in r] for r in self.rows]
        widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(self.columns)]
        lines = [inert(self.title, layout=False), "  ".join(c.ljust(w) for c, w in zip(self.columns, widths)).rstrip()]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        if not self.rows:
            lines.append("(none)")
        return "\n".join(lines)

    def to_html(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in self.rows)
        if not self.rows:
            body = f'<tr><td colspan="{len(self.columns)}"><i>(none)</i></td></tr>'
        return (f'<table class="gatewidgets-table"><caption style="text-align:left">{html.escape(self.title)}'
                f"</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


@dataclass
class Result:
    """What a command produced, for each face to render."""

    message: str | None = None
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    data: Any = None  # the JSON form (``--json``)
    show: Any = None  # notebook only: an Execution, an ExecutionRecord (not this kernel's), or "dashboard"
    value: Any = None  # what the magic returns (``run``: the Execution)

    def to_text(self) -> str:
        """Notes, message and tables for a terminal, control characters shown, not interpreted."""
        parts = [inert(p) for p in self.notes + ([self.message] if self.message else [])]
        parts += [t.to_text() for t in self.tables]
        return "\n\n".join(p for p in parts if p)

    def to_html(self) -> str:
        parts = [f"<p>{html.escape(p)}</p>" for p in self.notes + ([self.message] if self.message else [])]
        return "".join(parts + [t.to_html() for t in self.tables])


def run_command(argv: Sequence[str], ctx: Context, parser: argparse.ArgumentParser | None = None) -> Result:
    """Parse ``argv`` and run the command; raises :class:`CommandError`, :class:`HelpRequested` or ``GateError``."""
    args = (parser or build_parser()).parse_args(list(argv))
    return _COMMANDS[args.command](args, ctx)


# helpers ---------------------------------------------------------------------------


def _pick_execution(args: argparse.Namespace, ctx: Context,
                    given: str | None) -> tuple[str, str | None, str | None, list[str]]:
    """The execution a command means: given, else launched last here, else the only one running."""
    if given:
        return given, args.project, args.domain, []
    launched = list(ctx.launched)
    if launched:
        chosen = launched[-1]
        others = [e.name for e in launched[:-1] if not e.done()]
        notes = []
        if others:
            notes.append(f"Using execution {chosen.name!r}, launched last in this kernel (also running: "
                         f"{', '.join(others)}); pass -e EXECUTION to choose another.")
        return chosen.name, args.project or chosen.id.project, args.domain or chosen.id.domain, notes
    remote = ctx.remote
    where = f"{args.project or remote.default_project}/{args.domain or remote.default_domain}"
    running = remote.list_executions(args.project, args.domain, status=ExecutionStatus.RUNNING)
    if len(running) == 1:
        return running[0].name, args.project, args.domain, [
            f"Using execution {running[0].name!r}, the only one running in {where}."]
    if not running:
        raise CommandError(f"No execution given and none is running in {where}: pass -e EXECUTION.")
    raise CommandError(f"No execution given and {len(running)} are running in {where} "
                       f"({', '.join(r.name for r in running)}): pass -e EXECUTION.")


def _signal_rows(signals: list[Signal], with_execution: bool, ctx: Context) -> tuple[Table, list[dict[str, Any]]]:
    """The table of ``signals`` and their JSON form; for signals with a policy, who may answer, where the
    decision stands and whether the caller may answer (``decision`` in the JSON)."""
    decisions = _decisions(ctx, signals)
    columns = (["execution"] if with_execution else []) + ["signal", "kind", "type", "state", "value",
                                                           "waiting since", "deadline", "set by"]
    if decisions:
        columns += ["may answer", "standing", f"may {ctx.remote.user} answer"]
    rows, data = [], []
    for s in signals:
        decided = s.state in (SignalState.SET, SignalState.TIMED_OUT)
        by = f"{s.set_by or ''} via {s.via}" if s.via else ""
        row = ([s.execution_name] if with_execution else []) + [
            s.signal_id, s.kind.value, str(s.type), s.state.value, short(s.value) if decided else "",
            when(s.waiting_since), when(s.deadline), by.strip()]
        status = decisions.get(_described(s))
        if status is not None:
            row += _decision_cells(status, s)
        elif decisions:
            row += ["anyone", "", ""]
        rows.append(row)
        data.append(signal_to_json(s) | ({"decision": status.to_json()} if status is not None else {}))
    return Table("Signals", columns, rows), data


def _decisions(ctx: Context, signals: list[Signal]) -> dict[str, DecisionStatus]:
    """Where the decision of each signal with a policy stands for the caller, by :func:`_described`."""
    governed = [s for s in signals if s.policy is not None]
    return {_described(s): status for s, status in zip(governed, ctx.remote.statuses(governed))}


def _decision_cells(status: DecisionStatus, signal: Signal) -> list[str]:
    """Who may answer, the count line (who approved, once closed), and whether the caller may (``no: why``)."""
    rules = status.rules.removeprefix("may answer: ")
    if not signal.state.is_open:
        return [rules, ", ".join(f"{a.user} approved {a.at[11:16]}" for a in status.approvals), ""]
    return [rules, status.line or "", "yes" if status.may_answer else f"no: {status.why_not}"]


def _in_kernel(ctx: Context, name: str, project: str | None, domain: str | None) -> Any:
    project = project or ctx.remote.default_project
    domain = domain or ctx.remote.default_domain
    for execution in reversed(list(ctx.launched)):
        if (execution.id.project, execution.id.domain, execution.name) == (project, domain, name):
            return execution
    return None


def _described(signal: Signal) -> str:
    return f"signal {signal.signal_id!r} of execution {signal.execution_name!r}"


# commands --------------------------------------------------------------------------


def _list(args: argparse.Namespace, ctx: Context) -> Result:
    if args.mine:
        return _mine(args, ctx)
    if args.state:
        filters = [f"eq(state,{args.state})"]
        which = args.state.lower()
    elif args.all:
        filters, which = [], "all"
    else:
        filters, which = [f"value_in(state,{';'.join(s.value for s in OPEN_STATES)})"], "open"
    signals = ctx.remote.list_signals(args.execution, args.project, args.domain, limit=args.limit, filters=filters)
    total = ctx.remote.count_signals(args.execution, args.project, args.domain, filters=filters)
    where = (f"execution {args.execution!r}" if args.execution else
             f"{args.project or ctx.remote.default_project}/{args.domain or ctx.remote.default_domain}")
    table, data = _signal_rows(signals, args.execution is None, ctx)
    table.title = f"Signals ({which}) of {where}" + (f": {len(signals)} of {total}, raise --limit for more"
                                                     if total > len(signals) else "")
    return Result(tables=[table], data={"signals": data, "total": total})


def _mine(args: argparse.Namespace, ctx: Context) -> Result:
    """``list --mine``: pending signals the caller may answer, newest first."""
    if args.state or args.all:
        raise CommandError("list --mine lists pending signals waiting for you: leave out --state and --all.")
    signals = ctx.remote.waiting_for_me(args.project, args.domain, limit=None, execution_name=args.execution)
    total = len(signals)
    table, data = _signal_rows(signals[:args.limit], args.execution is None, ctx)
    table.title = f"Signals waiting for {ctx.remote.user} ({ctx.remote.identity.source})" + \
        (f": {args.limit} of {total}, raise --limit for more" if total > args.limit else "")
    return Result(tables=[table], data={"signals": data, "total": total, "user": ctx.remote.identity.to_dict()})


def _decide(args: argparse.Namespace, ctx: Context) -> Result:
    name, project, domain, notes = _pick_execution(args, ctx, args.execution)
    seen = args.evidence
    if args.command == "reject":
        signal = ctx.remote.reject(args.signal, name, project, domain, comment=args.comment, evidence_hash=seen)
    elif args.value is None:
        signal = ctx.remote.approve(args.signal, name, project, domain, comment=args.comment, evidence_hash=seen)
    else:
        signal = ctx.remote.approve(args.signal, name, project, domain, comment=args.comment, value=args.value,
                                    value_form="text", evidence_hash=seen)
    if signal.state.is_open:  # one approval of a quorum: counted, the gate waits for more
        line = ctx.remote.status(signal).line
        return Result(f"Approval of {_described(signal)} recorded by {ctx.remote.user}: {line}.", notes,
                      data=signal_to_json(signal))
    verb = "Approved" if signal.value else "Rejected"
    changed = f" with the value changed to {short(signal.approved_value, 80)}" \
        if signal.approved_value is not None else ""
    why = f' ("{signal.comment}")' if signal.comment else ""
    return Result(f"{verb} {_described(signal)}{changed}{why}.", notes, data=signal_to_json(signal))


def _set(args: argparse.Namespace, ctx: Context) -> Result:
    text = " ".join(args.value)
    if ctx.cell is not None:
        if text:
            raise CommandError("%%gate set takes its value from the cell: give only SIGNAL [-e EXECUTION].")
        value, is_object = _evaluate(ctx.cell, ctx.namespace), True
    elif not text:
        raise CommandError(f"set {args.signal}: give a VALUE (a Python literal, JSON, or $name).")
    elif text.startswith("$") and text[1:].isidentifier():
        value, is_object = _variable(text[1:], ctx.namespace), True
    else:
        value, is_object = text, False
    name, project, domain, notes = _pick_execution(args, ctx, args.execution)
    if is_object:
        signal = ctx.remote.set_input(args.signal, name, value, project, domain)
    else:
        signal = ctx.remote.set_text(args.signal, name, value, project, domain)
    shown = kinds.get(signal.kind).set_text(signal)
    return Result(f"{_described(signal).capitalize()} {shown}.", notes, data=signal_to_json(signal))


def _end_sleep(args: argparse.Namespace, ctx: Context) -> Result:
    name, project, domain, notes = _pick_execution(args, ctx, args.execution)
    signal = ctx.remote.end_sleep(args.signal, name, project, domain)
    return Result(f"Ended the sleep, {_described(signal)}.", notes, data=signal_to_json(signal))


def _variable(name: str, namespace: dict[str, Any] | None) -> Any:
    if namespace is None:
        raise CommandError(f"${name} names a notebook variable; the command line takes the value as text.")
    if name not in namespace:
        raise CommandError(f"${name}: no variable {name!r} in the notebook.")
    return namespace[name]


def _evaluate(source: str, namespace: dict[str, Any] | None) -> Any:
    source = source.strip()
    if not source:
        raise CommandError("%%gate set: the cell is empty; write the value as a Python expression.")
    try:
        code = compile(source, "<%%gate set>", "eval")
    except SyntaxError as exc:
        raise CommandError(
            f"%%gate set: the cell must be one Python expression ({exc.msg}, line {exc.lineno}).") from None
    try:
        return eval(code, namespace if namespace is not None else {})  # noqa: S307 - the user's own cell
    except Exception as exc:  # the user's expression failed: one line, not a traceback
        raise CommandError(f"%%gate set: evaluating the cell raised {type(exc).__name__}: {exc}") from None


def _show(args: argparse.Namespace, ctx: Context) -> Result:
    name, project, domain, notes = _pick_execution(args, ctx, args.execution)
    record = ctx.remote.get_execution(name, project, domain)
    signals = ctx.remote.list_signals(name, project, domain, limit=None)
    labels = node_labels({n.node_id: n.name for n in record.nodes})
    nodes = Table("Nodes", ["node", "kind", "state", "started", "finished", "error"] + (["id"] if args.ids else []),
                  [[labels[n.node_id], n.kind, n.state.value, when(n.started_at), when(n.finished_at),
                    one_line(n.error or "")[:80]] + ([n.node_id] if args.ids else []) for n in record.nodes])
    status = _status(ctx, record)
    message = f"Execution {record.name!r} of workflow {record.workflow!r} in {record.id.project}/{record.id.domain}: " \
              f"{status}, started {when(record.created_at)}"
    if record.finished_at:
        message += f", finished {when(record.finished_at)}"
    if record.error:
        message += f". Error: {one_line(record.error)}"
    notes += [_evidence_note(s) for s in signals if s.evidence is not None or s.comment]
    table, listed = _signal_rows(signals, False, ctx)
    data = execution_to_json(record) | {"signals": listed}
    local = _in_kernel(ctx, record.name, record.id.project, record.id.domain)
    return Result(message + ".", notes, [nodes, table], data,
                  show=local if local is not None else record)


def _evidence_note(signal: Signal) -> str:
    """What an approval shows (its evidence as text) and the reason given with the decision."""
    parts = [f"{signal.signal_id}:"]
    if signal.evidence is not None:
        parts.append(f"approving\n{signal.evidence.text}\nevidence hash: {signal.evidence_hash}"
                     + (f" (pass --evidence {signal.evidence_hash} to approve or reject what you saw)"
                        if signal.state.is_open else ""))
    if signal.approved_value is not None:
        parts.append(f"\napproved as {short(signal.approved_value, 200)}")
    if signal.comment:
        parts.append(f'\ncomment: "{signal.comment}"')
    return " ".join(parts)


def _status(ctx: Context, record: ExecutionRecord) -> str:
    return f"{record.status.value} (orphaned: its process is gone)" if ctx.remote.is_orphaned(record) \
        else record.status.value


def _executions(args: argparse.Namespace, ctx: Context) -> Result:
    records = ctx.remote.list_executions(args.project, args.domain, status=args.status, limit=args.limit)
    rows, data = [], []
    for r in records:
        item = ctx.remote.execution_listing(r)
        rows.append([r.name, r.workflow, _status(ctx, r), str(item["pending_signals"]), when(r.created_at),
                     when(r.finished_at)])
        data.append(item)
    where = f"{args.project or ctx.remote.default_project}/{args.domain or ctx.remote.default_domain}"
    table = Table(f"Executions in {where}", ["execution", "workflow", "status", "pending", "started", "finished"], rows)
    return Result(tables=[table], data=data)


def _abort(args: argparse.Namespace, ctx: Context) -> Result:
    record = ctx.remote.get_execution(args.execution, args.project, args.domain)
    if record.status.is_terminal:
        return Result(f"Execution {record.name!r} already ended ({record.status.value}); nothing to abort.",
                      data=execution_to_json(record))
    local = _in_kernel(ctx, record.name, record.id.project, record.id.domain)
    if local is not None:
        local.abort()
        record = ctx.remote.get_execution(record.name, record.id.project, record.id.domain)
    else:
        record = ctx.remote.abort(record.name, record.id.project, record.id.domain)
    if record.status is ExecutionStatus.ABORTED:
        message = f"Aborted execution {record.name!r}."
    else:
        message = f"Asked process {record.pid} on {record.host} to abort execution {record.name!r}."
    return Result(message, data=execution_to_json(record))


def _history(args: argparse.Namespace, ctx: Context) -> Result:
    name, project, domain, notes = _pick_execution(args, ctx, args.execution)
    events = ctx.remote.history(name, project, domain, signal_id=args.signal)
    rows = [[when(e.at), e.signal_id or "", e.kind, e.state or "", "" if e.value is None else short(e.value),
             e.set_by or "", e.via or "", _detail(e.detail)] for e in events]
    table = Table(f"History of execution {name!r}" + (f", signal {args.signal!r}" if args.signal else ""),
                  ["time", "signal", "event", "state", "value", "who", "via", "detail"], rows)
    data = [event_to_json(e) for e in events]
    return Result(notes=notes, tables=[table], data=data)


def _detail(detail: dict[str, Any] | None) -> str:
    """A decision's comment and changed value, short."""
    if not detail:
        return ""
    parts: list[str] = []
    if "approved_value" in detail:
        parts.append(f"{short(detail.get('original'))} -> {short(detail['approved_value'])}")
    if detail.get("comment"):
        comment = detail["comment"]
        parts.append(f'"{comment if len(comment) <= 60 else comment[:59] + "…"}"')
    return "; ".join(parts + who_decided(detail))


def _stats(args: argparse.Namespace, ctx: Context) -> Result:
    from gatewidgets.telemetry import metrics

    m = metrics(ctx.remote, args.project, args.domain)
    return Result(str(m), data=m.as_dict())


def _config(args: argparse.Namespace, ctx: Context) -> Result:
    from gatewidgets.config import CONFIG_FILE_NAME, GateWidgets, config_files, current
    from gatewidgets.store import default_store_path

    config, rows, data = current(), [], {}
    for name in GateWidgets.names():
        value, source = config.value(name), config.source(name)
        if name == "store" and getattr(args, "store", None):
            value, source = args.store, "--store"
        elif name == "store" and value is None:
            value = default_store_path()
        elif name == "answers" and value is None:
            value = answers_file()
        if name == "store" and is_postgres_url(value):
            value = masked(value)  # the password never shows
        rows.append([name, str(value), source])
        data[name] = {"value": value, "source": source}
    files = config_files()
    note = f"Config files read: {', '.join(files)}." if files else \
        f"No {CONFIG_FILE_NAME}.py/.json in Jupyter's config dirs (`jupyter --paths`)."
    return Result(notes=[note], tables=[Table("Settings", ["setting", "value", "source"], rows)], data=data)


def _dashboard(args: argparse.Namespace, ctx: Context) -> Result:
    filters = ["eq(state,PENDING)"]
    signals = ctx.remote.list_signals(None, args.project, args.domain, limit=100, filters=filters)
    table, data = _signal_rows(signals, True, ctx)
    table.title = "Pending signals"
    return Result(tables=[table], data={"signals": data}, show="dashboard")


def _run(args: argparse.Namespace, ctx: Context) -> Result:
    from gatewidgets import frontdoors
    from gatewidgets.types import GateType

    namespace = ctx.namespace or {}
    obj = namespace.get(args.workflow)
    wf = frontdoors.workflow_of(obj)
    if wf is None:
        found = "nothing" if obj is None else f"a {type(obj).__name__}"
        raise CommandError(f"run: {args.workflow!r} is {found} in the notebook, not a @workflow "
                           "(gatewidgets, or a flytekit workflow or launch plan).")
    inputs: dict[str, Any] = {}
    for item in args.inputs:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            raise CommandError(f"run: inputs are KEY=VALUE, got {item!r}.")
        if key not in wf.input_hints:
            raise CommandError(f"run: workflow {wf.name!r} has no input {key!r}; its inputs are "
                               f"{', '.join(wf.input_hints) or '(none)'}.")
        if text.startswith("$") and text[1:].isidentifier():
            inputs[key] = _variable(text[1:], ctx.namespace)
            continue
        try:
            gate_type = GateType.of(wf.input_hints[key])
        except TypeError:
            inputs[key] = _literal(text)
            continue
        try:
            inputs[key] = gate_type.to_python(gate_type.parse_text(text))
        except GateError as exc:
            raise CommandError(f"run: input {key}: {one_line(str(exc))}") from None
    execution = frontdoors.launch(obj, execution_name=args.name, project=args.project, domain=args.domain, **inputs)
    return Result(f"Launched execution {execution.name!r} of workflow {wf.name!r}.",
                  data={"execution": execution.name}, value=execution)


def _recover(args: argparse.Namespace, ctx: Context) -> Result:
    from gatewidgets.engine import recover

    if not ctx.remote.capabilities.run:
        raise CommandError("recover: executions run in this machine's store only, not on a Flyte cluster.")
    store = typing.cast(ExecutorStore, ctx.remote.store)  # capability ``run``: it is one
    execution = recover(args.execution, args.project, args.domain, workflow=args.workflow, namespace=ctx.namespace,
                        store=store)
    return Result(f"Recovered execution {execution.name!r} of workflow {execution.workflow.name!r}: it runs in "
                  "this process now.", data={"execution": execution.name}, show=execution, value=execution)


def _files(args: argparse.Namespace, ctx: Context) -> Result:
    if not ctx.remote.capabilities.run:
        raise CommandError("files clean: only this machine's store keeps files, not a Flyte cluster or a Jupyter "
                           "server.")
    store = typing.cast(ExecutorStore, ctx.remote.store)  # capability ``run``: it is one
    removed = store.clean_files(args.older_than, dry_run=args.dry_run)
    freed = sum(f.size for f in removed)
    verb, freeing = ("Would remove", "would free") if args.dry_run else ("Removed", "freed")
    message = f"{verb} {len(removed)} leftover file{'s' * (len(removed) != 1)} from {store.files_dir} " \
              f"({freeing} {freed:,} bytes)."
    table = Table("Leftover files", ["file", "bytes", "why"],
                  [[f.path, f"{f.size:,}", f.reason] for f in removed])
    data = {"dry_run": args.dry_run, "bytes": freed,
            "files": [{"path": f.path, "bytes": f.size, "reason": f.reason} for f in removed]}
    return Result(message, tables=[table] if removed else [], data=data)


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


_COMMANDS = {"list": _list, "approve": _decide, "reject": _decide, "set": _set, "end-sleep": _end_sleep,
             "show": _show,
             "executions": _executions, "abort": _abort, "history": _history, "stats": _stats, "config": _config,
             "dashboard": _dashboard, "run": _run, "recover": _recover, "files": _files}
