"""The flytekit front door: a flytekit workflow or ``LaunchPlan``, unchanged, run by the one engine.

The graph is read from flytekit's own node and binding model (``wf.nodes``,
``node.bindings``, ``node.upstream_nodes``, ``wf.output_bindings``), never re-traced from
source, and rebuilt with gatewidgets' DSL (tasks, gates, ``conditional``) through
``Workflow.from_body``. What cannot run honestly in a kernel (reference entities, container
tasks, other non-Python tasks) is refused at launch, before anything runs or is stored.

Flyte's semantics kept:

- A gate's signal id is its ``name``, scoped to the top-level execution (propeller asks admin
  for ``SignalIdentifier(execution_id=<top-level execution>, signal_id=name)``), so gates in
  sub-workflows and ``@dynamic`` nodes use the bare name, and a sub-workflow called twice
  shares one signal: one answer releases both gates.
- A launch plan used as a node starts a child execution (``dsl.launch_child``), as on Flyte: its
  gates are signals of the child, the node waits for the child and fails if the child fails.
  A sub-workflow called directly is inlined, as on Flyte.
- ``timeout=None`` on ``approve`` / ``wait_for_input`` is one hour: flytekit sends its
  ``DEFAULT_TIMEOUT`` as the gate node's timeout, and propeller fails a node whose timeout has
  passed with ``TimeoutExpired`` (its configured default deadline applies only to nodes sent
  without one). Here the node fails with ``GateTimeoutError``. Sleeps are not capped.
- Every flytekit ``sleep`` is called ``sleep-gate``; here each gets its own id
  (``sleep-<node>``), so each can be ended early on its own.
- A task's ``retries``, ``timeout`` and ``cache`` / ``cache_version`` become the engine task's own
  options (:mod:`gatewidgets.engine.tasks`): a failing task runs again (each failed attempt is a
  ``retry`` event in the history), a cached one reuses the stored outputs of an earlier run with the
  same inputs, a timed-out one fails (its thread is abandoned); ``requests`` / ``limits`` /
  ``container_image`` are accepted and ignored.
- ``map_task`` runs its items in parallel, bounded by ``concurrency``, each with the mapped task's
  retries; ``min_success_ratio`` / ``min_successes`` let items fail (their outputs are ``None``).
- Who may answer: flytekit's ``approve`` / ``wait_for_input`` / ``sleep`` take no assignees, quorum or
  reminders, so a flytekit workflow's gates get the policies configured for where they run
  (``c.GateWidgets.policies``, by ``"*"``, ``"<project>"`` and ``"<project>/<domain>"``), judged like any
  gate's (a gate with a policy of its own needs a gatewidgets workflow: ``approve(..., assignees=...)``).
- A workflow's ``on_failure`` task runs when the execution fails, with its inputs and ``err`` as
  flytekit's ``FlyteError``; the execution still ends ``FAILED`` with the original error.
- The rooms: this module (the door: launch, launch inputs), :mod:`.flytekit_translate` (the graph),
  :mod:`.flytekit_tasks` (tasks), :mod:`.flytekit_values` (values); all but this one import flytekit, so
  this one imports them when a flytekit object is launched or translated.
- Values cross task boundaries as in flytekit's local run: through flytekit's ``TypeEngine`` (to a literal
  and back, files under ``<store folder>/flytekit``) wherever the types differ or are not plain
  (:mod:`gatewidgets.frontdoors.flytekit_values`), decided per edge at translation; each task runs in a
  flytekit task sandbox of its own. Launch inputs are checked as flytekit checks them.
- A gate's answer reaches tasks as flytekit hands it over: a file as a ``FlyteFile`` on the stored copy,
  a directory (its files, or one zip unpacked) as a ``FlyteDirectory``, a table as flytekit's
  ``StructuredDataset``, a ``datetime`` in UTC. ``Echo`` passes its inputs on.
"""
from __future__ import annotations

from typing import Any

from gatewidgets.dsl import Workflow
from gatewidgets.engine import Execution
from gatewidgets.engine import launch as launch_execution
from gatewidgets.errors import WorkflowDefinitionError
from gatewidgets.types.structured.structured_dataset import StructuredDataset

__all__ = ["accepts", "launch", "workflow_of"]


def accepts(obj: Any) -> bool:
    """A flytekit workflow or launch plan (checked by module name: flytekit is not imported here)."""
    return any(c.__module__.startswith("flytekit.") and c.__name__ in ("WorkflowBase", "LaunchPlan")
               for c in type(obj).__mro__)


def launch(obj: Any, inputs: dict[str, Any], *, execution_name: str | None, project: str | None,
           domain: str | None, recover: bool) -> Execution:
    """Translate ``obj`` (once) and launch it; a launch plan's fixed inputs cannot be overridden."""
    from flytekit.core.launch_plan import LaunchPlan

    workflow = workflow_of(obj)
    if isinstance(obj, LaunchPlan):
        fixed = sorted(set(inputs) & set(obj.raw_fixed_inputs))
        if fixed:
            raise WorkflowDefinitionError(
                f"LaunchPlan {obj.name!r}: inputs {fixed} are fixed by the launch plan and cannot be overridden. "
                "Launch the workflow itself, or a launch plan that leaves them as defaults.")
    fk_workflow = obj.workflow if isinstance(obj, LaunchPlan) else obj
    return launch_execution(workflow, _launch_inputs(fk_workflow, inputs), execution_name=execution_name,
                            project=project, domain=domain, recover=recover)


def _launch_inputs(fk_workflow: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """Launch inputs checked as flytekit's local run checks them (``TypeEngine.to_literal`` with the declared
    type: a ``list[float]`` given ints is refused, a path string is a ``FlyteFile``, a bare DataFrame is no
    ``StructuredDataset``); a flytekit ``StructuredDataset(dataframe=df)`` input becomes gatewidgets' Parquet
    ``StructuredDataset``, which the store keeps. Raises ``TypeError`` naming the workflow and the input."""
    from flytekit.types.structured import StructuredDataset as FlyteDataset

    from gatewidgets.frontdoors import flytekit_values

    declared = fk_workflow.python_interface.inputs
    values = dict(inputs)
    for name, value in inputs.items():
        hint = declared.get(name)
        if hint is None:
            continue  # unknown: the engine names it
        frame = value.dataframe if isinstance(value, FlyteDataset) else None
        if _is_dataset(hint) and type(frame).__module__.startswith("pandas"):
            values[name] = StructuredDataset(dataframe=frame, file_format="parquet")
            continue
        try:
            flytekit_values.check(flytekit_values.to_flytekit(value, hint), hint)
        except Exception as exc:
            raise TypeError(f"workflow {fk_workflow.name}: input {name!r} must be a "
                            f"{flytekit_values.type_name(hint)}, as flytekit requires; got {value!r:.80} "
                            f"({type(value).__name__}): {exc}") from None
    return values


def _is_dataset(hint: Any) -> bool:
    from flytekit.types.structured import StructuredDataset as FlyteDataset

    from gatewidgets.frontdoors.flytekit_values import bare

    return isinstance(bare(hint), type) and issubclass(bare(hint), FlyteDataset)


def workflow_of(obj: Any) -> Workflow:
    """The gatewidgets workflow a flytekit workflow or launch plan translates to (built once per object)."""
    from gatewidgets.frontdoors.flytekit_translate import translated  # imports flytekit

    return translated(obj)
