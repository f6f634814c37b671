"""The JSON form of signals and executions: the CLI's ``--json``, the HTTP API and its client."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pydantic_core

from gatewidgets.formatting import node_labels
from gatewidgets.models.execution import (
    ExecutionRecord,
    ExecutionStatus,
    NodeRecord,
    NodeState,
    WorkflowExecutionIdentifier,
)
from gatewidgets.models.policy import Identity, standing
from gatewidgets.models.signal import Signal, SignalEvent, SignalIdentifier, SignalKind, SignalState, Via
from gatewidgets.models.types import LiteralType
from gatewidgets.settings import settings

__all__ = ["jsonable", "signal_to_json", "signal_from_json", "execution_to_json", "execution_from_json",
           "event_to_json", "event_from_json"]


def jsonable(value: Any) -> Any:
    """A Python value in JSON form (files as their JSON record, datetimes ISO-8601, durations ISO)."""
    return pydantic_core.to_jsonable_python(value, fallback=_fallback)


def _fallback(value: Any) -> Any:
    """Files (anywhere in a value, also in lists and structures) as their JSON record."""
    return value.to_json() if callable(getattr(value, "to_json", None)) else repr(value)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _exec_id(data: dict[str, Any]) -> WorkflowExecutionIdentifier:
    return WorkflowExecutionIdentifier(data["project"], data["domain"], data["name"])


def signal_to_json(signal: Signal) -> dict[str, Any]:
    """One signal as a JSON object. Who may answer it: ``policy`` (as launched; null: anyone who can reach it),
    ``approvals`` counted so far, ``standing`` while open (``1 of 2: bob approved 10:02 — waiting for
    @finance``) and, once decided, ``identity_source``; ``evidence_hash``: the hash of the evidence shown (pass
    it back with a decision), or the one a decision was made on."""
    ex = signal.id.execution_id
    context = signal.context or {}
    return {
        "signal_id": signal.signal_id,
        "execution": {"project": ex.project, "domain": ex.domain, "name": ex.name},
        "kind": signal.kind.value,
        "type": str(signal.type),
        "literal_type": signal.type.to_dict(),
        "state": signal.state.value,
        "value": jsonable(signal.value),
        "node_id": signal.node_id,
        "description": signal.description,
        "description_format": signal.description_format,
        "created_at": _iso(signal.created_at),
        "waiting_since": _iso(signal.waiting_since),
        "deadline": _iso(signal.deadline),
        "set_at": _iso(signal.set_at),
        "set_by": signal.set_by,
        "via": signal.via.value if signal.via else None,
        "type_record": signal.type_record,
        "evidence": evidence.to_dict() if (evidence := signal.evidence) is not None else None,
        "evidence_hash": signal.evidence_hash,
        "comment": signal.comment,
        "edit_type": signal.edit_type,
        "original": signal.original,
        "approved_value": signal.approved_value,
        "policy": context.get("policy"),
        "approvals": context.get("approvals"),
        "standing": standing(signal.policy, context, waiting_since=signal.waiting_since,
                             now=datetime.now(timezone.utc), groups=settings.groups) if signal.state.is_open else None,
        "identity_source": signal.identity_source,
        **({"default": signal.default} if signal.has_default else {}),
    }


_CONTEXT_KEYS = ("evidence", "comment", "edit_type", "original", "approved_value", "description_format", "policy",
                 "approvals", "identity_source", "evidence_hash")


def signal_from_json(data: dict[str, Any]) -> Signal:
    """A :class:`Signal` back from :func:`signal_to_json` (``value`` stays in JSON form)."""
    return Signal(
        id=SignalIdentifier(data["signal_id"], _exec_id(data["execution"])),
        kind=SignalKind(data["kind"]),
        type=LiteralType.from_dict(data["literal_type"]),
        state=SignalState(data["state"]),
        value=data["value"],
        node_id=data["node_id"],
        description=data["description"],
        created_at=_dt(data["created_at"]),  # type: ignore[arg-type]
        waiting_since=_dt(data["waiting_since"]),
        deadline=_dt(data["deadline"]),
        set_at=_dt(data["set_at"]),
        set_by=data["set_by"],
        via=Via(data["via"]) if data["via"] else None,
        type_record=data.get("type_record"),
        context=_context(data),
        decision=data.get("decision"),
    )


def event_to_json(event: SignalEvent) -> dict[str, Any]:
    """One event of an execution's signals (``history``) as a JSON object."""
    return {"at": event.at.isoformat(), "signal_id": event.signal_id, "node_id": event.node_id, "event": event.kind,
            "state": event.state, "value": event.value, "set_by": event.set_by, "via": event.via,
            "detail": event.detail}


def event_from_json(data: dict[str, Any], execution_id: WorkflowExecutionIdentifier, number: int) -> SignalEvent:
    """A :class:`SignalEvent` back from :func:`event_to_json`; ``number`` becomes its id."""
    return SignalEvent(number, datetime.fromisoformat(data["at"]), execution_id, data["signal_id"], data["node_id"],
                       data["event"], data["state"], data["value"], data["set_by"], data["via"],
                       data.get("detail"))


def _context(data: dict[str, Any]) -> dict[str, Any] | None:
    """A signal's context back from its JSON fields (a ``default`` may be null, so its presence counts)."""
    context = {k: data[k] for k in _CONTEXT_KEYS if data.get(k) is not None}
    if "default" in data:
        context["default"] = data["default"]
    return context or None


def _node_to_json(node: NodeRecord, label: str) -> dict[str, Any]:
    return {"node_id": node.node_id, "kind": node.kind, "name": node.name, "label": label, "state": node.state.value,
            "upstream": list(node.upstream), "signal_id": node.signal_id, "outputs": jsonable(node.outputs),
            "error": node.error, "started_at": _iso(node.started_at), "finished_at": _iso(node.finished_at),
            "child_execution": node.child_execution}


def execution_to_json(record: ExecutionRecord) -> dict[str, Any]:
    """One execution (with its nodes, if the record has them) as a JSON object; a node's ``label`` is what to
    show a user (its workflow name, numbered when repeated), ``node_id`` the internal id."""
    labels = node_labels({n.node_id: n.name for n in record.nodes})
    return {
        "project": record.id.project, "domain": record.id.domain, "name": record.id.name,
        "workflow": record.workflow, "status": record.status.value, "inputs": jsonable(record.inputs),
        "outputs": jsonable(record.outputs), "error": record.error, "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at), "finished_at": _iso(record.finished_at),
        "pid": record.pid, "host": record.host, "nodes": [_node_to_json(n, labels[n.node_id]) for n in record.nodes],
        "workflow_path": record.workflow_path,
        "launched_by": record.launched_by.to_dict() if record.launched_by else None,
    }


def execution_from_json(data: dict[str, Any]) -> ExecutionRecord:
    """An :class:`ExecutionRecord` back from :func:`execution_to_json`."""
    nodes = tuple(NodeRecord(n["node_id"], n["kind"], n["name"], NodeState(n["state"]), tuple(n["upstream"]),
                             n["signal_id"], n["outputs"], n["error"], _dt(n["started_at"]), _dt(n["finished_at"]),
                             n.get("child_execution"))
                  for n in data.get("nodes", ()))
    return ExecutionRecord(
        id=_exec_id(data), workflow=data["workflow"], status=ExecutionStatus(data["status"]), inputs=data["inputs"],
        outputs=data["outputs"], error=data["error"], created_at=_dt(data["created_at"]),  # type: ignore[arg-type]
        updated_at=_dt(data["updated_at"]), finished_at=_dt(data["finished_at"]),  # type: ignore[arg-type]
        pid=data["pid"], host=data["host"], nodes=nodes, workflow_path=data.get("workflow_path"),
        launched_by=Identity.from_dict(data.get("launched_by")),
    )
