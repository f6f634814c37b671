"""The commands behind ``%gate`` and the ``gatewidgets`` command line: :func:`run_command` parses a line and runs
its verb, which returns a :class:`Result`; gate errors (:class:`gatewidgets.errors.GateError`) pass through for
the face to print."""
from __future__ import annotations

import argparse
import ast
import typing
from typing import Any, Sequence

from gatewidgets import kinds
from gatewidgets.answers import answers_file
from gatewidgets.commands.parser import CommandError, build_parser, one_line
from gatewidgets.commands.results import Context, Result, Table
from gatewidgets.errors import GateError
from gatewidgets.formatting import node_labels, short, when, who_decided
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus
from gatewidgets.models.signal import Signal, SignalState
from gatewidgets.remote import DecisionStatus
from gatewidgets.store.base import ExecutorStore
from gatewidgets.store.postgres import is_postgres_url, masked
from gatewidgets.wire import event_to_json, execution_to_json, signal_to_json

__all__ = ["run_command", "OPEN_STATES"]

OPEN_STATES = (SignalState.PENDING, SignalState.UPCOMING)


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
