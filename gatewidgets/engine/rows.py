"""What the engine writes to the store for a workflow: its node and signal rows (built once per workflow), the
JSON of values (``None`` when a value has none), and the graph's upstream counts and downstream nodes."""
from __future__ import annotations

import sys
import weakref
from typing import Any

from gatewidgets.dsl import Node, SignalSpec, Workflow
from gatewidgets.models.execution import WorkflowExecutionIdentifier
from gatewidgets.models.policy import resolve_policy
from gatewidgets.settings import settings
from gatewidgets.store.base import NodeRow, SignalRow, require
from gatewidgets.types.values import gate_type_or_none as gate_type_of
from gatewidgets.types.values import json_or_none

__all__ = ["json_or_none", "gate_type_of", "node_row", "signal_row", "rows", "graph", "import_path",
           "with_policies"]


def import_path(workflow: Workflow) -> str | None:
    """``module:qualname`` that imports ``workflow`` again, if it is a module's attribute (not ``__main__``)."""
    module, qualname = getattr(workflow, "__module__", None), getattr(workflow, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        return None
    target: Any = sys.modules.get(module)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    return f"{module}:{qualname}" if target is workflow else None


def node_row(node: Node) -> NodeRow:
    """The stored row of a node."""
    return {"node_id": node.id, "kind": str(node.kind), "name": node.name, "upstream": sorted(node.upstream),
            "signal_id": node.signal.signal_id if node.signal else None}


_row_cache: weakref.WeakKeyDictionary[Workflow, tuple[list[NodeRow], list[SignalRow]]] = \
    weakref.WeakKeyDictionary()


_graph_cache: weakref.WeakKeyDictionary[Workflow, tuple[dict[str, int], dict[str, tuple[str, ...]]]] = \
    weakref.WeakKeyDictionary()


def graph(workflow: Workflow) -> tuple[dict[str, int], dict[str, tuple[str, ...]]]:
    """Each node's number of upstream nodes and its downstream nodes (built once per workflow; copied per run)."""
    graph = _graph_cache.get(workflow)
    if graph is None:
        children: dict[str, list[str]] = {nid: [] for nid in workflow.nodes}
        for nid in workflow.order:
            for up in workflow.nodes[nid].upstream:
                children[up].append(nid)
        graph = _graph_cache[workflow] = ({nid: len(node.upstream) for nid, node in workflow.nodes.items()},
                                          {nid: tuple(down) for nid, down in children.items()})
    return graph


def rows(workflow: Workflow) -> tuple[list[NodeRow], list[SignalRow]]:
    """The stored rows of a workflow's nodes and signals (the same for every launch, so built once)."""
    rows = _row_cache.get(workflow)
    if rows is None:
        rows = _row_cache[workflow] = ([node_row(n) for n in workflow.nodes.values()],
                                       [signal_row(s, workflow.nodes) for s in workflow.signals.values()])
    return rows


def signal_row(spec: SignalSpec, nodes: dict[str, Node]) -> SignalRow:
    """The stored row of a gate's signal."""
    node_id = next(n.id for n in nodes.values() if n.signal is not None and n.signal.signal_id == spec.signal_id)
    return {"signal_id": spec.signal_id, "kind": spec.kind.value, "description": spec.description,
            "node_id": node_id, "type": spec.gate_type.to_record(),
            "context": _declared_context(spec)}


def _declared_context(spec: SignalSpec) -> dict[str, Any] | None:
    """What faces need of a gate before it is reached: an editable approval's type, an input's default, how its
    description is written (when not Markdown), its policy, and what its deadline decides (when not a failure)."""
    context: dict[str, Any] = {}
    if spec.edit_type is not None:
        context["edit_type"] = spec.edit_type.to_record()
    if spec.has_default:
        context["default"] = spec.gate_type.validate(spec.default)
    if spec.description_format != "markdown":
        context["description_format"] = spec.description_format
    if spec.policy:
        context["policy"] = spec.policy
    if spec.on_timeout != "fail":  # what its deadline decides (a database's guard holds a timeout to it)
        context["on_timeout"] = spec.on_timeout
    return context or None


def with_policies(signals: list[SignalRow], key: WorkflowExecutionIdentifier, store: object) -> list[SignalRow]:
    """``signals`` as launched in ``key``'s project and domain: each policy is the configured defaults
    (``GateWidgets.policies``) under the fields its gate gave (the rows are shared: changed ones are copies).
    ``UnsupportedError`` if one has a policy and ``store`` does not judge policies (capability ``policies``)."""
    defaults = settings.policies
    if not defaults and not any(s["context"] and "policy" in s["context"] for s in signals):
        return signals
    out: list[SignalRow] = []
    for row in signals:
        context = dict(row["context"] or {})
        policy = resolve_policy(context.pop("policy", None), defaults, key.project, key.domain)
        if policy:
            context["policy"] = policy
        resolved = row.copy()
        resolved["context"] = context or None
        out.append(resolved)
    governed = [row["signal_id"] for row in out if row["context"] and "policy" in row["context"]]
    if governed:
        require(store, "policies", f"gates {governed} of execution {key.name!r} have a policy (who may answer: "
                "assignees, quorum, self-approval; given or from GateWidgets.policies) that this store would not "
                "enforce; launch it against a store that does (SQLite, PostgreSQL) or drop the policy")
    return out


#: Called as ``hook(execution, signal)`` on the thread that reached a gate, once its signal is PENDING (the
#: gate waits and its deadline runs); a ``GateError`` it raises fails the gate's node. Faces above the executor
