"""What the SQL stores (SQLite, PostgreSQL) share: values as stored (times as ISO text, JSON), rows read back as
records, signal rows decoded with the live types of this process, and
filters and sorts pushed down into SQL with the meaning ``Filter.matches`` gives them."""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from typing import Any, Callable, Hashable, Iterable, Mapping, Protocol, Sequence, TypeVar

from gatewidgets.errors import (
    ExecutionExistsError,
    ExecutionNotFoundError,
    GateForbiddenError,
    SignalAlreadySetError,
    SignalClosedError,
    SignalNotFoundError,
)
from gatewidgets.models.common import Sort, SortOrdering
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus, NodeRecord, NodeState
from gatewidgets.models.filters import SIGNAL_FIELDS, TIME_FIELDS, Filter, check_fields
from gatewidgets.models.policy import Ballot, Identity, Policy, Verdict, judge
from gatewidgets.models.signal import Signal, SignalIdentifier, SignalKind, SignalState, Via
from gatewidgets.models.types import LiteralType
from gatewidgets.store import process
from gatewidgets.store.base import ExecKey, NewExecution, NodeRow, SignalRow
from gatewidgets.types import GateType

__all__ = ["Row", "ts", "dt", "at", "dumps", "context_json", "stored_context", "key_tuple", "node_record",
           "execution_record", "LiveTypes", "Owners", "Creating", "filter_clauses", "signal_where", "signal_order",
           "no_execution", "no_signal", "refuse_set", "refuse_adoption", "settle", "forbidden", "decision_detail",
           "Ended", "write_kept"]

log = logging.getLogger(__name__)

_K = TypeVar("_K", bound=Hashable)
Ended = tuple[ExecutionStatus, Any, "str | None"]  # an end a store kept to write later: status, outputs, error


class Row(Protocol):
    """A row read back: ``sqlite3.Row`` or psycopg's dict row."""

    def __getitem__(self, column: str, /) -> Any: ...

    def keys(self) -> Any: ...


_SIGNAL_COLUMNS = {field: "execution" if field == "execution_name" else field for field in SIGNAL_FIELDS}
_OPS = {"eq": "=", "neq": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def ts(value: datetime | None) -> str | None:
    """A time as stored: ISO 8601, UTC, microseconds."""
    if value is None:
        return None
    if value.tzinfo is not timezone.utc:  # now() is UTC already: skip the conversion on the hot path
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value.isoformat(timespec="microseconds")


def dt(value: str | float | None) -> datetime | None:
    """A stored time read back (ISO text, or epoch seconds for node times)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) or value[4:5] != "-":  # node times are kept as epoch seconds
        return datetime.fromtimestamp(float(value), timezone.utc)
    return datetime.fromisoformat(value)


def at(value: str) -> datetime:
    """A timestamp column that is never NULL."""
    return datetime.fromisoformat(value)


_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)  # one encoder: json.dumps builds one per call


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON."""
    return _ENCODER.encode(value)


def context_json(value: dict[str, Any] | None) -> str | None:
    """A signal's context as stored (``NULL`` when empty)."""
    return dumps(value) if value else None


def stored_context(text: str | None) -> dict[str, Any] | None:
    """A signal's context as read from its row (None when empty). One that is not a JSON object (a row edited by
    hand) reads as holding an unreadable policy: shown as such, and nobody may decide the signal until it is
    repaired (whether it had a policy cannot be told, so it never counts as having none)."""
    if not text:
        return None
    try:
        context = json.loads(text)
    except ValueError:
        context = None
    if isinstance(context, dict):
        return context
    return {"policy": Policy(unreadable="the signal's stored context is not a JSON object").to_dict()}


def key_tuple(key: ExecKey) -> tuple[str, str, str]:
    """``(project, domain, name)`` for SQL parameters."""
    return key.project, key.domain, key.name


def node_record(row: Row) -> NodeRecord:
    """A ``nodes`` row as a :class:`NodeRecord`."""
    return NodeRecord(
        node_id=row["node_id"], kind=row["kind"], name=row["name"], state=NodeState(row["state"]),
        upstream=tuple(json.loads(row["upstream"])), signal_id=row["signal_id"],
        outputs=json.loads(row["outputs"]) if row["outputs"] is not None else None, error=row["error"],
        started_at=dt(row["started_at"]), finished_at=dt(row["finished_at"]),
        # a read-only store made before the column has none
        child_execution=row["child_execution"] if "child_execution" in row.keys() else None,
    )


def execution_record(row: Row, nodes: tuple[NodeRecord, ...]) -> ExecutionRecord:
    """An ``executions`` row (and its nodes) as an :class:`ExecutionRecord`."""
    return ExecutionRecord(
        id=ExecKey(row["project"], row["domain"], row["name"]), workflow=row["workflow"],
        status=ExecutionStatus(row["status"]),
        inputs=json.loads(row["inputs"]) if row["inputs"] else {},
        outputs=json.loads(row["outputs"]) if row["outputs"] is not None else None,
        error=row["error"], created_at=at(row["created_at"]), updated_at=at(row["updated_at"]),
        finished_at=dt(row["finished_at"]), pid=row["pid"], host=row["host"], nodes=nodes,
        workflow_path=row["workflow_path"], pid_started=row["pid_started"], boot_id=row["boot_id"],
        pid_namespace=row["pid_namespace"] if "pid_namespace" in row.keys() else None,
        launched_by=Identity.from_dict(json.loads(row["launched_by"])) if row["launched_by"] else None,
    )


def filter_clauses(filters: Iterable[Filter], mark: str, contains: str) -> tuple[list[str], list[Any]]:
    """SQL conditions (and their parameters) for ``filters`` on the ``signals`` table; ``mark``: the parameter
    placeholder (``?``, ``%s``); ``contains``: ``"instr({column}, {mark}) > 0"`` or the like."""
    where: list[str] = []
    params: list[Any] = []
    for f in filters:
        check_fields([f])
        column = _SIGNAL_COLUMNS[f.key]
        if f.function == "value_in":
            values = [ts(f.time_value(v)) if column in TIME_FIELDS else v for v in f.value]
            where.append(f"{column} IN ({','.join([mark] * len(values))})")
            params += values
        elif f.function == "contains":
            where.append(contains.format(column=column, mark=mark))
            params.append(str(f.value))
        elif f.function in _OPS:  # NULL passes neq only, as in Filter.matches
            null = f"{column} IS NULL OR " if f.function == "neq" else ""
            where.append(f"({null}{column} {_OPS[f.function]} {mark})")
            params.append(ts(f.time_value()) if column in TIME_FIELDS else f.value)
        else:
            raise ValueError(f"Unknown filter function {f.function!r}.")
    return where, params


def signal_where(key: ExecKey | None, project: str | None, domain: str | None, filters: Iterable[Filter], mark: str,
                 contains: str) -> tuple[list[str], list[Any]]:
    """The SQL conditions (and their parameters) of a signal listing: the signals of execution ``key``, or else of
    ``project``/``domain`` when given, then ``filters`` (``mark``, ``contains``: as for :func:`filter_clauses`)."""
    where: list[str] = []
    params: list[Any] = []
    if key is not None:
        where.append(f"project={mark} AND domain={mark} AND execution={mark}")
        params += key_tuple(key)
    else:
        for scope, value in (("project", project), ("domain", domain)):
            if value is not None:
                where.append(f"{scope}={mark}")
                params.append(value)
    clauses, values = filter_clauses(filters, mark, contains)
    return where + clauses, params + values


def signal_order(sort_by: Sort | None, *, across: bool) -> str:
    """The ``ORDER BY`` of a signal listing: declaration order, or ``sort_by`` then declaration order."""
    if sort_by is None:
        return "created_at, project, domain, execution, seq" if across else "seq"
    column = _SIGNAL_COLUMNS.get(sort_by.key)
    if column is None:
        raise ValueError(f"Cannot sort signals by {sort_by.key!r}; use one of {sorted(SIGNAL_FIELDS)}.")
    direction = "DESC" if sort_by.direction == SortOrdering.DESCENDING else "ASC"
    return f"{column} {direction}, execution, seq"


class LiveTypes:
    """The live types that decode signal values in this process, and signal rows read back as :class:`Signal`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # per running execution, per signal: its kind and live type
        self._live_types: dict[ExecKey, dict[str, tuple[str, GateType]]] = {}
        self._detached: dict[str, GateType] = {}  # per stored type record
        self._records: dict[str, tuple[dict[str, Any], LiteralType]] = {}  # a stored type record, parsed once

    def register_type(self, key: ExecKey, signal_id: str, gate_type: GateType, kind: str) -> None:
        """Remember the kind and live Python type of a signal of an execution running in this process."""
        self._live_types.setdefault(key, {})[signal_id] = (kind, gate_type)

    def live_type(self, key: ExecKey, signal_id: str) -> tuple[str, GateType] | None:
        """The kind and live type of a signal whose execution runs in this process; None if not known here."""
        return self._live_types.get(key, {}).get(signal_id)

    def forget_types(self, key: ExecKey) -> None:
        """Drop the live types of an execution that ended (its own entry: no scan of the others)."""
        self._live_types.pop(key, None)

    def gate_type(self, key: ExecKey, signal_id: str, record: Mapping[str, Any]) -> GateType:
        """The type that validates and decodes a signal's values (``Signal.value``):

        1. the live type its execution registered, while that execution runs in this process;
        2. else the live type a gate defined in this process declared with the same stored record
           (``GateType.known``: the workflow's definition is loaded here, running or not, ended or not);
        3. else the type rebuilt from the stored record (another process): a dataclass or pydantic
           value is then a plain dict, an enum its value.
        """
        return self._stored_type(key, signal_id, dumps(record))

    def _stored_type(self, key: ExecKey, signal_id: str, text: str) -> GateType:
        """:meth:`gate_type` of a record as stored (its JSON text)."""
        live = self._live_types.get(key, {}).get(signal_id)
        if live is not None:
            return live[1]
        detached = self._detached.get(text)
        if detached is None:
            detached = self._detached[text] = GateType.from_record(json.loads(text))
        return detached.known()

    def _signal(self, row: Row) -> Signal:
        key = ExecKey(row["project"], row["domain"], row["execution"])
        parsed = self._records.get(row["type"])
        if parsed is None:
            record = json.loads(row["type"])
            parsed = self._records[row["type"]] = (record, LiteralType.from_dict(record["literal_type"]))
        record, literal_type = parsed
        value = None
        if row["value"] is not None:
            value = self._stored_type(key, row["signal_id"], row["type"]).to_python(json.loads(row["value"]))
        return Signal(
            id=SignalIdentifier(row["signal_id"], key),
            kind=SignalKind(row["kind"]),
            type=literal_type,
            state=SignalState(row["state"]),
            value=value,
            node_id=row["node_id"],
            description=row["description"],
            created_at=at(row["created_at"]),
            waiting_since=dt(row["waiting_since"]),
            deadline=dt(row["deadline"]),
            set_at=dt(row["set_at"]),
            set_by=row["set_by"],
            via=Via(row["via"]) if row["via"] else None,
            type_record=record,
            context=stored_context(row["context"]),
        )


class Owners:
    """Whether the process that owns an execution lives: known on this host only (``host``)."""

    host: str

    def owner_alive(self, record: ExecutionRecord) -> bool | None:
        """Whether the process that runs ``record`` is alive (``None``: on another host, unknown); a zombie,
        or another process holding its pid, is not."""
        return self._alive(record.pid, record.host, record.pid_started, record.boot_id)

    def lost(self, key: ExecKey) -> str | None:
        """Why this process no longer owns execution ``key`` (:meth:`ExecutorStore.lost`): never, where only the
        death of its process lets another adopt it."""
        return None

    def owns(self, record: ExecutionRecord) -> bool:
        """Whether ``record``'s owner is this process (:meth:`ExecutorStore.owns`): its pid on this host, started
        when this process started, in this boot."""
        started, boot = process.own_identity()
        return (record.pid, record.host) == (os.getpid(), self.host) and record.pid_started in (None, started) \
            and record.boot_id in (None, boot)

    def _alive(self, pid: int | None, host: str | None, started: int | None, boot: str | None) -> bool | None:
        if host != self.host or pid is None:
            return None
        return process.alive(pid, started, boot)


class Creating:
    """:meth:`create_execution` of a SQL store: one execution, created as its ``create_executions`` creates many."""

    create_executions: Callable[[Sequence[NewExecution]], None]

    def create_execution(self, key: ExecKey, workflow: str, inputs: Any, nodes: Sequence[NodeRow],
                         signals: Sequence[SignalRow], *, pid: int | None = None,
                         workflow_path: str | None = None,
                         reached: Mapping[str, datetime | None] | None = None,
                         launched_by: Identity | None = None) -> None:
        """Insert a running execution with its nodes (``QUEUED``) and signals (``UPCOMING``; those in ``reached``,
        signal id -> deadline, ``PENDING`` at once, as :meth:`reach_signal` would leave them), in one transaction."""
        self.create_executions([NewExecution(key, workflow, inputs, nodes, signals, pid=pid,
                                             workflow_path=workflow_path, reached=reached, launched_by=launched_by)])


def no_execution(key: ExecKey) -> ExecutionNotFoundError:
    """The error for an execution a store does not hold, naming how to list them."""
    return ExecutionNotFoundError(
        f"No execution {key.name!r} in project {key.project!r}, domain {key.domain!r}. "
        "List executions with `gatewidgets executions` or `%gate executions`."
    )


def no_signal(key: ExecKey, signal_id: str, known: list[str]) -> SignalNotFoundError:
    """The error for a signal an execution does not have, listing the ones it has."""
    return SignalNotFoundError(
        f"Execution {key.name!r} has no signal {signal_id!r}. Its signals are: "
        f"{', '.join(known) if known else '(none)'}."
    )


def refuse_set(row: Row, key: ExecKey, signal_id: str, identity: str, describe: Callable[[Any], str]) -> None:
    """Why a signal that is not open (``row``) was not set: nothing for the same answer again (a no-op); else
    ``SignalAlreadySetError`` or ``SignalClosedError``."""
    state = SignalState(row["state"])
    if state is SignalState.SET:
        if row["identity"] == identity:
            return
        raise SignalAlreadySetError(
            f"Signal {signal_id!r} of execution {key.name!r} was already set to "
            f"{describe(json.loads(row['value']))} by {row['set_by']} via {row['via']} at {row['set_at']}; "
            "the first answer wins. Launch a new execution to decide again."
        )
    raise SignalClosedError(
        f"Signal {signal_id!r} of execution {key.name!r} is {state.value} (since {row['set_at'] or '?'}) and can no "
        "longer be set."
    )


def settle(row: Row, launched_by: str | None, ballot: Ballot, groups: Mapping[str, Any]) -> Verdict:
    """The judgement of ``ballot`` on the open signal ``row`` (its policy and approvals) of an execution launched
    by ``launched_by`` (its stored JSON)."""
    context = stored_context(row["context"]) or {}
    launcher = Identity.from_dict(json.loads(launched_by)) if launched_by else None
    return judge(Policy.from_dict(context.get("policy")), context, ballot,
                 launcher=launcher.user if launcher else None, waiting_since=dt(row["waiting_since"]),
                 now=datetime.now(timezone.utc), groups=groups)


def forbidden(key: ExecKey, signal_id: str, ballot: Ballot | None, reason: str) -> GateForbiddenError:
    """The error of a refused decision, naming the decider, the signal and why (who may answer)."""
    who = ballot.identity.user if ballot else "a caller without an identity"
    action = ballot.action if ballot else "set"
    return GateForbiddenError(f"{who} may not {action} signal {signal_id!r} of execution {key.name!r}: {reason}.")


def decision_detail(ballot: Ballot | None, verdict: Verdict | None,
                    detail: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What a set records besides its value (its ``detail``, merged into the context and kept with the ``set``
    event): the caller's detail, how the decider's identity was established, the approvals that passed it and
    the evidence hash the decider saw."""
    out = dict(detail or {})
    if ballot is not None:
        out["identity_source"] = ballot.identity.source
        if ballot.identity.groups:  # the groups its authority vouched for (a hub's), judged by the database too
            out["identity_groups"] = list(ballot.identity.groups)
        if ballot.seen is not None:
            out["evidence_hash"] = ballot.seen
    if verdict is not None and verdict.approvals:
        out["approvals"] = [a.to_dict() for a in verdict.approvals]
    return out or None


def refuse_adoption(row: Row, key: ExecKey, mine: bool, alive: Callable[[], bool | None]) -> None:
    """Raise ``ExecutionExistsError`` (naming its owner) unless this process may adopt the execution of ``row``:
    it is running, and its owner is this process (``mine``) or not ``alive()``."""
    owner = f"process {row['pid']} on {row['host']}"
    if row["status"] != ExecutionStatus.RUNNING.value:
        raise ExecutionExistsError(
            f"Execution {key} already ended ({row['status']}, last run by {owner}); only an unfinished "
            "execution can be recovered. Launch a new one with another execution_name."
        )
    if not mine and alive():
        raise ExecutionExistsError(
            f"Execution {key} is still running in {owner}; it can be recovered only once that process is gone."
        )


def write_kept(ends: dict[_K, Ended], key_of: Callable[[_K], ExecKey],
               write: Callable[[ExecKey, ExecutionStatus, Any, str | None], object], path: str) -> bool:
    """Write the ends a store kept (``write(key, status, outputs, error)``; one whose execution the store
    ``path`` no longer holds is dropped), each logged; whether none is left."""
    for where, (status, outputs, error) in list(ends.items()):
        key = key_of(where)
        try:
            write(key, status, outputs, error)
        except ExecutionNotFoundError:
            ends.pop(where, None)
            log.warning("gatewidgets dropped the end of execution %s (%s): %s no longer holds it", key,
                        status.value, path)
            continue
        log.warning("gatewidgets recorded the end of execution %s (%s) in %s", key, status.value, path)
    return not ends
