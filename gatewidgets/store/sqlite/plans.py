"""Plans: the nodes an execution was launched with, stored once for every execution of the same nodes, and the
statements that write a node's changes against its plan."""
from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import json
import math
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from gatewidgets.models.execution import NodeRecord, NodeState
from gatewidgets.store.base import NodeRow
from gatewidgets.store.sqlite.files import Files
from gatewidgets.store.sqlite.rows import dumps, ts

__all__ = ["Plan", "Plans", "NO_PLAN", "DONE", "Static", "node_sql", "node_params", "node_value"]

DONE = (NodeState.SUCCEEDED, NodeState.SKIPPED)  # node states whose loss would run a node again
Static = tuple[int, str, str, str, "str | None"]  # a planned node's (seq, kind, name, upstream JSON, signal_id)


@dataclass(frozen=True)
class Plan:
    """The nodes an execution was launched with, stored once for every execution of the same nodes.

    A node's row in ``nodes`` is written when it first changes; until then the plan says what it is
    (``QUEUED`` while the execution runs, ``ABORTED`` after). Nodes added at run time (``@dynamic``,
    run-time gates) have rows from the start.
    """

    id: str  # sha256 of ``text``
    text: str  # JSON: [[node_id, kind, name, [upstream ids], signal_id], ...] in order
    nodes: tuple[tuple[str, str, str, tuple[str, ...], str | None], ...]
    static: dict[str, Static]  # node_id -> what its row holds besides its state

    @classmethod
    def of(cls, nodes: Sequence[NodeRow]) -> Plan:
        """The plan of an execution's nodes."""
        text = dumps([[n["node_id"], n["kind"], n["name"], list(n["upstream"]), n.get("signal_id")]
                       for n in nodes])
        return cls.parse(text)

    @classmethod
    def parse(cls, text: str) -> Plan:
        """A stored plan read back."""
        nodes = tuple((nid, kind, name, tuple(up), sid) for nid, kind, name, up, sid in json.loads(text))
        static = {nid: (seq, kind, name, dumps(list(up)), sid) for seq, (nid, kind, name, up, sid) in enumerate(nodes)}
        return cls(hashlib.sha256(text.encode()).hexdigest(), text, nodes, static)

    def records(self, unchanged: NodeState, rows: dict[str, NodeRecord]) -> tuple[NodeRecord, ...]:
        """Every node: its row where it has one, else as planned in state ``unchanged``; then the added ones."""
        planned = [rows.pop(nid) if nid in rows else NodeRecord(node_id=nid, kind=kind, name=name, state=unchanged,
                                                                upstream=up, signal_id=sid)
                   for nid, kind, name, up, sid in self.nodes]
        return (*planned, *rows.values())


NO_PLAN = Plan.parse("[]")  # an execution whose every node has its row (stores before schema 3)
_PLAN_MEMO = 64  # node lists whose plan a store keeps, by identity
_PLANS_KEPT = 1024  # running executions whose plan a store keeps


@functools.lru_cache(maxsize=128)
def node_sql(columns: tuple[str, ...], planned: bool, unless_done: bool = False) -> str:
    """The statement writing a node change of ``columns``: an upsert for a planned node (its row may not
    exist yet), an update for an added one. ``unless_done`` leaves a finished node as it is."""
    done = ", ".join(f"'{state.value}'" for state in DONE)
    if not planned:
        return (f"UPDATE nodes SET {', '.join(f'{c}=?' for c in columns)} WHERE project=? AND domain=? "
                f"AND execution=? AND node_id=?" + (f" AND state NOT IN ({done})" if unless_done else ""))
    state = () if "state" in columns else ("state",)  # a row needs one: a change without it inserts QUEUED
    inserted = ("project", "domain", "execution", "node_id", "seq", "kind", "name", "upstream", "signal_id",
                *state, *columns)
    values = ["?"] * 9 + [f"'{NodeState.QUEUED.value}'"] * len(state) + ["?"] * len(columns)
    return (f"INSERT INTO nodes ({', '.join(inserted)}) VALUES ({', '.join(values)}) ON CONFLICT "
            f"(project, domain, execution, node_id) DO UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in columns)}"
            + (f" WHERE nodes.state NOT IN ({done})" if unless_done else ""))


def node_params(where: tuple[str, str, str, str], fields: dict[str, Any], static: Static | None) -> tuple[Any, ...]:
    """The parameters of :func:`node_sql` for one change (the flush's loop: the common cases inline)."""
    values = []
    for column, value in fields.items():
        if column == "state":
            values.append(value._value_)
        elif type(value) is float and column != "outputs":  # epoch seconds
            values.append(value)
        else:
            values.append(node_value(column, value))
    return (*where, *static, *values) if static is not None else (*values, *where)


def node_value(column: str, value: Any) -> Any:
    """A node field as stored; times may come as epoch seconds (the executor's hot path) or datetimes."""
    if column == "state":
        return value.value
    if column == "outputs":
        kind = type(value)
        if kind is int or (kind is float and math.isfinite(value)):  # the common case, without the JSON encoder
            return repr(value)
        return dumps(value) if value is not None else None
    if isinstance(value, datetime):
        return ts(value)
    return value


class Plans(Files):
    """The plans of the executions this store runs or read lately, kept in memory."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plan_memo: collections.OrderedDict[int, tuple[Sequence[NodeRow], Plan]] = collections.OrderedDict()
        self._plans: collections.OrderedDict[tuple[str, str, str], Plan] = collections.OrderedDict()
        self._stored_plans: set[str] = set()  # ids of plans this store wrote: a plan is never deleted

    def _plan(self, nodes: Sequence[NodeRow]) -> Plan:
        """The plan of ``nodes``; the executor passes the same list for every launch of a workflow, so it is
        built once per list (and the list kept, so its id stays its own)."""
        memo = self._plan_memo.get(id(nodes))
        if memo is not None and memo[0] is nodes:
            return memo[1]
        plan = Plan.of(nodes)
        self._plan_memo[id(nodes)] = (nodes, plan)
        while len(self._plan_memo) > _PLAN_MEMO:
            self._plan_memo.popitem(last=False)
        return plan

    def _plan_of(self, conn: sqlite3.Connection, where: tuple[str, str, str]) -> Plan:
        """The plan of a running execution: kept since its launch in this process, else read (and kept)."""
        plan = self._plans.get(where)
        if plan is None:
            row = conn.execute("SELECT p.nodes FROM executions e JOIN plans p ON p.id = e.plan WHERE e.project=? "
                               "AND e.domain=? AND e.name=?", where).fetchone()
            plan = self._plans[where] = Plan.parse(row[0]) if row is not None else NO_PLAN
            self._keep_plans()
        return plan

    def _keep_plans(self) -> None:
        while len(self._plans) > _PLANS_KEPT:  # popitem is atomic: other threads may add meanwhile
            with contextlib.suppress(KeyError):
                self._plans.popitem(last=False)
