"""Recovery: a stored, unfinished execution resumed in this process with its stored inputs and the stored
outputs of the nodes that finished (see ``Executor.launch(recover=True)`` and :func:`gatewidgets.engine.recover`)."""
from __future__ import annotations

import importlib
from typing import Any

from gatewidgets.dsl import Workflow
from gatewidgets.engine.rows import json_or_none
from gatewidgets.errors import ExecutionExistsError, WorkflowNotFoundError
from gatewidgets.types import GateType

__all__ = ["stored_inputs", "find_workflow"]


def stored_inputs(workflow: Workflow, record: Any, given: dict[str, Any]) -> dict[str, Any]:
    """The inputs of a recovered execution: the stored ones, which the given ones must equal."""
    inputs = dict(given)
    for arg, hint in workflow.input_hints.items():
        stored = record.inputs.get(arg)
        gate_type = workflow.input_types[arg]
        if arg in given:
            if arg in record.inputs and json_or_none(hint, given[arg]) != stored:
                raise ExecutionExistsError(
                    f"Cannot recover execution {record.name!r} with {arg}={given[arg]!r}: it was launched with "
                    f"{arg}={stored!r}. Leave the inputs out to recover it with the stored ones.")
        elif arg in record.inputs:
            if stored is None and not _accepts_none(gate_type):
                raise ExecutionExistsError(
                    f"Cannot recover execution {record.name!r}: its input {arg!r} ({hint}) could not be stored; "
                    f"pass it again: launch(execution_name={record.name!r}, recover=True, {arg}=...).")
            inputs[arg] = gate_type.to_python(stored) if stored is not None else None  # type: ignore[union-attr]
    return inputs


def _accepts_none(gate_type: GateType | None) -> bool:
    try:
        return gate_type is not None and gate_type.validate(None) is None
    except Exception:
        return False


def find_workflow(record: Any, workflow: Workflow | str | None, namespace: dict[str, Any] | None) -> Workflow:
    if isinstance(workflow, Workflow):
        return workflow
    path = workflow or record.workflow_path
    if path:
        module, _, qualname = path.partition(":")
        try:
            target: Any = importlib.import_module(module)
            for part in qualname.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError, ValueError) as exc:
            raise WorkflowNotFoundError(
                f"Cannot import workflow {path!r} of execution {record.name!r} ({type(exc).__name__}: {exc}); "
                "make its module importable here (PYTHONPATH) or name it as MODULE:NAME.") from None
        if not isinstance(target, Workflow):
            raise WorkflowNotFoundError(f"{path!r} is a {type(target).__name__}, not a @workflow.")
        return target
    found = [v for v in (namespace or {}).values() if isinstance(v, Workflow) and v.name == record.workflow]
    if found:
        return found[0]
    raise WorkflowNotFoundError(
        f"Execution {record.name!r} runs workflow {record.workflow!r}, defined where it cannot be imported from "
        f"(a notebook or a script). Recover it where {record.workflow!r} is defined: run its definition, then "
        f"`%gate recover {record.name}` or `{record.workflow}.launch(execution_name={record.name!r}, recover=True)`; "
        f"or name its module: `gatewidgets recover {record.name} --workflow MODULE:{record.workflow}`.")
