"""What the engine writes to the store for a workflow: its node and signal rows (built once per workflow), the
JSON of values (``None`` when a value has none), and the graph's upstream counts and downstream nodes."""
from __future__ import annotations

import functools
import json
import sys
import weakref
from typing import Any

from gatewidgets.dsl import Node, SignalSpec, Workflow
from gatewidgets.types import GateType

__all__ = ["json_or_none", "gate_type_of", "node_row", "signal_row", "rows", "graph", "import_path"]


@functools.lru_cache(maxsize=512)
def _gate_type(hint: Any) -> GateType | None:
    try:
        return GateType.of(hint)
    except TypeError:
        return None


def gate_type_of(hint: Any) -> GateType | None:
    """The gate type of a type hint, if it has one (cached)."""
    return _gate_type(hint) if _hashable(hint) else None


def json_or_none(hint: Any, value: Any) -> Any:
    """``value`` as the JSON its type stores, or ``None`` when it has none."""
    if type(value) is hint and hint in (int, str, bool) and (hint is not int or -2**63 <= value < 2**63):
        return value  # already its own JSON form: skip the validator (the hot path of every task output)
    gate_type = gate_type_of(hint)
    if gate_type is None:
        return None
    try:
        return gate_type.validate(value)
    except Exception:
        return None


def _hashable(hint: Any) -> bool:
    try:
        hash(hint)
    except TypeError:
        return False
    return True


def import_path(workflow: Workflow) -> str | None:
    """``module:qualname`` that imports ``workflow`` again, if it is a module's attribute (not ``__main__``)."""
    module, qualname = getattr(workflow, "__module__", None), getattr(workflow, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        return None
    target: Any = sys.modules.get(module)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    return f"{module}:{qualname}" if target is workflow else None


def node_row(node: Node) -> dict[str, Any]:
    return {"node_id": node.id, "kind": str(node.kind), "name": node.name,
            "upstream": json.dumps(sorted(node.upstream), separators=(",", ":")),
            "signal_id": node.signal.signal_id if node.signal else None}


_row_cache: weakref.WeakKeyDictionary[Workflow, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = \
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


def rows(workflow: Workflow) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The stored rows of a workflow's nodes and signals (the same for every launch, so built once)."""
    rows = _row_cache.get(workflow)
    if rows is None:
        rows = _row_cache[workflow] = ([node_row(n) for n in workflow.nodes.values()],
                                       [signal_row(s, workflow.nodes) for s in workflow.signals.values()])
    return rows


def signal_row(spec: SignalSpec, nodes: dict[str, Node]) -> dict[str, Any]:
    node_id = next(n.id for n in nodes.values() if n.signal is not None and n.signal.signal_id == spec.signal_id)
    return {"signal_id": spec.signal_id, "kind": spec.kind.value, "description": spec.description,
            "node_id": node_id, "type": spec.gate_type.to_record(),
            "context": _declared_context(spec)}


def _declared_context(spec: SignalSpec) -> dict[str, Any] | None:
    """What faces need of a gate before it is reached: an editable approval's type, an input's default, how its
    description is written (when not Markdown)."""
    context: dict[str, Any] = {}
    if spec.edit_type is not None:
        context["edit_type"] = spec.edit_type.to_record()
    if spec.has_default:
        context["default"] = spec.gate_type.validate(spec.default)
    if spec.description_format != "markdown":
        context["description_format"] = spec.description_format
    return context or None


#: Called as ``hook(execution, signal)`` on the thread that reached a gate, once its signal is PENDING (the
#: gate waits and its deadline runs); a ``GateError`` it raises fails the gate's node. Faces above the executor
