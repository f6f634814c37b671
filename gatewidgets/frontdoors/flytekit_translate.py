"""The flytekit front door's translation: a flytekit workflow's graph (its nodes and bindings, never its source)
rebuilt with gatewidgets' DSL (tasks, gates, ``conditional``, child executions) through ``Workflow.from_body``,
and a flytekit ``@dynamic`` body translated the same way at run time. This module imports flytekit.
"""
from __future__ import annotations

import functools
import graphlib
import inspect
import typing
import weakref
from typing import Any

from flytekit.core.launch_plan import LaunchPlan
from flytekit.core.python_function_task import PythonFunctionTask

from gatewidgets import dsl
from gatewidgets.condition import conditional
from gatewidgets.dsl import Condition, Const, Promise, Ref, Workflow
from gatewidgets.errors import WorkflowDefinitionError
from gatewidgets.frontdoors.flytekit_tasks import EndNode, FailureHandler, FlytekitMap, FlytekitTask, echo, refuse
from gatewidgets.frontdoors.flytekit_values import (
    gate_answer_hint,
    gate_hint,
    literal_value,
    needs_conversion,
)

__all__ = ["translated", "translate", "task_of", "FlytekitDynamic"]

_translated: weakref.WeakKeyDictionary[Any, Workflow] = weakref.WeakKeyDictionary()


def translated(obj: Any) -> Workflow:
    """The gatewidgets workflow a flytekit workflow or launch plan translates to (built once per object)."""
    workflow = _translated.get(obj)
    if workflow is None:
        workflow = _translated[obj] = translate(obj)
    return workflow


class FlytekitDynamic(FlytekitTask, dsl.Dynamic):
    """A flytekit ``@dynamic`` task: at run time its body is compiled by flytekit and translated here."""

    kind = dsl.NodeKind.DYNAMIC

    def build(self, values: dict[str, Any]) -> Any:
        from flytekit.core.workflow import (
            PythonFunctionWorkflow,
            WorkflowFailurePolicy,
            WorkflowMetadata,
            WorkflowMetadataDefaults,
        )

        values = self.as_flytekit(values, None)
        body = PythonFunctionWorkflow(self.fn,
                                      metadata=WorkflowMetadata(on_failure=WorkflowFailurePolicy.FAIL_IMMEDIATELY),
                                      default_metadata=WorkflowMetadataDefaults(interruptible=False))
        body.compile(**values)
        return _Scope(f"@dynamic {self.name}", values, self.declared_inputs).run(body)


@functools.cache
def task_of(fk_task: Any) -> FlytekitTask:
    """One engine task per flytekit task object (so cache and node names are shared by every call)."""
    from flytekit.core.array_node_map_task import ArrayNodeMapTask
    from flytekit.core.python_function_task import PythonFunctionTask
    from flytekit.core.task import Echo

    if isinstance(fk_task, ArrayNodeMapTask):
        return FlytekitMap(fk_task)
    if isinstance(fk_task, Echo):  # propeller's echo plugin: the inputs are the outputs
        return FlytekitTask(fk_task, functools.partial(echo, fk_task))
    if fk_task.execution_mode is PythonFunctionTask.ExecutionBehavior.DYNAMIC:
        return FlytekitDynamic(fk_task)
    return FlytekitTask(fk_task)


class _Scope:
    """Translates one flytekit graph (a workflow, a sub-workflow, a dynamic body) into the current builder.

    ``inputs`` maps the graph's input names to promises or values of the enclosing graph.
    """

    def __init__(self, where: str, inputs: dict[str, Any], input_types: dict[str, Any]) -> None:
        self.where = where
        self.inputs = inputs
        self.input_types = input_types  # input name -> its declared flytekit type
        self.types: dict[str, dict[str, Any]] = {}  # flytekit node id -> output var -> declared type (gates: none)
        self.outputs: dict[str, dict[str, Any]] = {}  # flytekit node id -> output var -> promise
        self.done: dict[str, set[str]] = {}  # flytekit node id -> the engine nodes that complete it
        self.nodes: dict[str, Any] = {}  # flytekit node id -> the flytekit node translated

    def run(self, fk_workflow: Any) -> Any:
        """Add every node; return the workflow's outputs (one promise, a tuple, or ``None``)."""
        nodes = {n.id: n for n in fk_workflow.nodes}
        for node_id in _order(nodes):
            self._add(nodes[node_id])
        outputs = [self._bound(b.binding, fk_workflow.python_interface.outputs[b.var])
                   for b in fk_workflow.output_bindings]
        if not outputs:
            return None
        return tuple(outputs) if len(outputs) > 1 else outputs[0]

    def _add(self, node: Any) -> None:
        from flytekit.core.condition import BranchNode
        from flytekit.core.gate import Gate

        builder = dsl._current()
        assert builder is not None
        before = set(builder.nodes)
        self.outputs[node.id] = self._node(node)
        added = set(builder.nodes) - before
        after = set().union(*(self.done.get(u.id, set()) for u in node.upstream_nodes))
        for nid in added:  # `a >> b` and data edges alike: wait for every upstream flytekit node
            builder.nodes[nid].upstream |= after - {nid}
        self.done[node.id] = added
        self.nodes[node.id] = node
        entity = node.flyte_entity
        answered = isinstance(entity, Gate) and entity.input_type is not None  # a gatewidgets value
        if not answered and not isinstance(entity, BranchNode) and hasattr(entity, "python_interface"):
            self.types[node.id] = dict(entity.python_interface.outputs)

    def _node(self, node: Any) -> dict[str, Any]:
        """Translate one flytekit node; return its outputs by var name."""
        from flytekit.core.condition import BranchNode
        from flytekit.core.gate import Gate
        from flytekit.core.launch_plan import LaunchPlan
        from flytekit.core.task import Echo
        from flytekit.core.workflow import WorkflowBase

        entity = node.flyte_entity
        where = f"{self.where}, node {node.id} ({getattr(entity, 'name', type(entity).__name__)})"
        refuse(entity, where)
        if isinstance(entity, Gate):
            try:
                return self._gate(node, entity)
            except WorkflowDefinitionError as exc:  # name the flytekit workflow and node
                raise WorkflowDefinitionError(f"{where}: {exc}") from None
        if isinstance(entity, BranchNode):
            return self._branch(node, entity)
        if isinstance(entity, LaunchPlan):
            return self._launch_plan(node, entity)
        if isinstance(entity, WorkflowBase):
            return self._subworkflow(node, entity)
        if not hasattr(entity, "_task_function") and not hasattr(entity, "python_function_task") and \
                not isinstance(entity, Echo):
            raise WorkflowDefinitionError(f"{where}: a {type(entity).__name__} cannot run in the kernel.")
        task = task_of(entity)
        kwargs = {b.var: self._bound(b.binding, task.declared_inputs[b.var]) for b in node.bindings}
        edges = {}
        for b in node.bindings:
            declared = task.declared_inputs[b.var]
            produced = self._produced(b.binding, declared)
            if produced is not None and needs_conversion(produced, declared):
                edges[b.var] = (produced, declared)
        return self._outputs(task.output_vars, task.on_edges(edges)(**kwargs))

    def _produced(self, data: Any, declared: Any) -> Any:
        """The declared flytekit type of what a binding carries (``declared`` where the producer's is unknown:
        an attribute, a conditional's result, a list of promises), or ``None`` where flytekit's ``TypeEngine``
        has no part: a constant (already the declared type) or a gate's answer (see :func:`to_flytekit`)."""
        from flytekit.core.gate import Gate

        if data.promise is None:
            return None if data.scalar is not None else declared
        ref = data.promise
        if ref.attr_path:
            return declared
        if not ref.node_id:
            return self.input_types.get(ref.var, declared)
        if ref.node_id not in self.types:
            return None if isinstance(self.nodes[ref.node_id].flyte_entity, Gate) else declared
        return self.types[ref.node_id].get(ref.var, declared)

    @staticmethod
    def _outputs(names: list[str], result: Promise) -> dict[str, Any]:
        if len(names) > 1:
            return dict(zip(names, result))
        return {names[0]: result} if names else {"": result}

    def _gate(self, node: Any, gate: Any) -> dict[str, Any]:
        if gate.sleep_duration is not None:
            return {"": dsl.sleep(gate.sleep_duration)}
        if gate.input_type is not None:
            return {"o0": dsl.wait_for_input(gate.name, gate._timeout, gate_answer_hint(gate.input_type))}
        (binding,) = node.bindings
        upstream = self._bound(binding.binding, None)
        return {binding.var: dsl.approve(upstream, gate.name, gate._timeout)}

    def _bound_inputs(self, node: Any, entity: Any) -> dict[str, Any]:
        hints = entity.python_interface.inputs
        return {b.var: self._bound(b.binding, hints.get(b.var)) for b in node.bindings}

    def _subworkflow(self, node: Any, entity: Any) -> dict[str, Any]:
        """A sub-workflow called directly: its nodes join this graph."""
        result = _Scope(f"{self.where} > {entity.name}", self._bound_inputs(node, entity),
                        dict(entity.python_interface.inputs)).run(entity)
        return self._outputs(list(entity.python_interface.outputs), result)

    def _launch_plan(self, node: Any, lp: Any) -> dict[str, Any]:
        """A launch plan used as a node: a child execution of its workflow (its defaults and fixed inputs apply)."""
        inputs = {k: v for k, v in self._bound_inputs(node, lp).items() if k not in lp.raw_fixed_inputs}
        result = dsl.launch_child(translated(lp), **inputs)
        return self._outputs(list(lp.python_interface.outputs), result)

    def _branch(self, node: Any, branch: Any) -> dict[str, Any]:
        block = branch._ifelse_block
        operands = {b.var: self._bound(b.binding, None) for b in node.bindings}
        section = conditional(branch.name)
        cases = [block.case, *(block.other or [])]
        names: list[str] = []
        result: Any = None
        for i, case in enumerate(cases):
            opened = (section.if_ if i == 0 else section.elif_)(self._condition(case.condition, operands))
            value, names = self._case(case.then_node)
            section = opened.then(value)
        last = section.else_()
        if block.else_node is not None:
            value, names = self._case(block.else_node)
            result = last.then(value)
        else:
            result = last.fail(block.error.message if block.error is not None else "Condition failed")
        if len(names) > 1:  # a tuple-valued case: the merge holds the tuple
            hints = typing.get_args(result._hint)
            return {name: Promise(result._builder, Ref(node_id=result.ref.node_id, index=i), hints[i], result.node)
                    for i, name in enumerate(names)}
        return {names[0]: result} if names else {"": result}

    def _case(self, fk_node: Any) -> tuple[Any, list[str]]:
        outputs = self._node(fk_node)
        names = [n for n in outputs if n]
        if len(names) > 1:
            first = outputs[names[0]]
            if any(outputs[n].ref != Ref(node_id=first.ref.node_id, index=i) for i, n in enumerate(names)):
                raise WorkflowDefinitionError(
                    f"{self.where}: a conditional case with several outputs must be one task call; make the case "
                    "a task returning a tuple.")
            hint = tuple.__class_getitem__(first.node.output_hints)
            return Promise(first._builder, Ref(node_id=first.ref.node_id), hint, first.node), names
        return (outputs[names[0]] if names else next(iter(outputs.values()))), names

    def _condition(self, expr: Any, operands: dict[str, Any]) -> Condition:
        from flytekit.models.core.condition import ComparisonExpression as Cmp
        from flytekit.models.core.condition import ConjunctionExpression as Conj

        if expr.conjunction is not None:
            left = self._condition(expr.conjunction.left_expression, operands)
            right = self._condition(expr.conjunction.right_expression, operands)
            return left & right if expr.conjunction.operator == Conj.LogicalOperator.AND else left | right
        cmp = expr.comparison
        ops = {Cmp.Operator.EQ: "==", Cmp.Operator.NEQ: "!=", Cmp.Operator.GT: ">", Cmp.Operator.GTE: ">=",
               Cmp.Operator.LT: "<", Cmp.Operator.LTE: "<="}
        left, right = (self._operand(o, operands) for o in (cmp.left_value, cmp.right_value))
        if isinstance(right, Const) and right.value is None and cmp.operator == Cmp.Operator.EQ:
            return Condition("is_none", left)
        return Condition(ops[cmp.operator], left, right)

    @staticmethod
    def _operand(operand: Any, operands: dict[str, Any]) -> Any:
        if operand.var:
            value = operands[operand.var]
            return value.ref if isinstance(value, Promise) else Const(value)
        if operand.primitive is not None:
            return Const(operand.primitive.value)
        return Const(None)

    def _bound(self, data: Any, hint: Any) -> Any:
        """A flytekit ``BindingData`` as a promise, a value, or a list / dict of them."""
        if data.promise is not None:
            ref = data.promise
            if not ref.node_id:
                value = self.inputs[ref.var]
            elif ref.node_id not in self.outputs or self.nodes[ref.node_id] is not getattr(ref, "node", None):
                raise WorkflowDefinitionError(
                    f"{self.where}: an input reads node {ref.node_id}, which is not a node of this graph (a call "
                    "made inside a conditional case, other than the case's own result, is not part of the "
                    "workflow on Flyte either). Make it the case's result, or call it before the conditional.")
            else:
                value = self.outputs[ref.node_id][ref.var]
            return _attribute(value, tuple(ref.attr_path)) if ref.attr_path else value
        if data.scalar is not None:
            from flytekit.models.literals import Literal

            if hint is None:
                raise WorkflowDefinitionError(f"{self.where}: a constant is bound where no type is known.")
            return literal_value(Literal(scalar=data.scalar), hint)
        args = typing.get_args(hint) if hint is not None else ()
        if data.collection is not None:
            item = args[0] if args else None
            return [self._bound(b, item) for b in data.collection.bindings]
        if data.map is not None:
            item = args[1] if len(args) == 2 else None
            return {k: self._bound(b, item) for k, b in data.map.bindings.items()}
        raise WorkflowDefinitionError(f"{self.where}: unsupported binding {data}.")


def _attribute(value: Any, path: tuple[str | int, ...]) -> Any:
    """``promise.field`` / ``promise["key"]`` / ``promise[0]`` in a flytekit workflow: a node that picks it."""
    if not isinstance(value, Promise):
        return _pick(value, path)

    def pick(value: Any) -> Any:
        return _pick(value, path)

    name = "".join(f".{key}" if isinstance(key, str) else f"[{key}]" for key in path)
    return dsl.Task(pick, name=f"pick{name}")(value=value)


def _pick(value: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        if isinstance(value, dict):
            value = value[key]
        elif isinstance(value, (list, tuple)):
            if not isinstance(key, int):  # what indexing with a str raises
                raise TypeError(f"{type(value).__name__} indices must be integers or slices, not {type(key).__name__}")
            value = value[key]
        elif isinstance(key, str):
            value = getattr(value, key)
        else:  # what getattr with an int raises
            raise TypeError(f"attribute name must be string, not '{type(key).__name__}'")
    return value


def _order(nodes: dict[str, Any]) -> list[str]:
    """The node ids in an order where each comes after the nodes it reads, those read inside its conditional
    cases (nested ones too) included: flytekit lists only the condition's own operands as a branch's upstream."""
    graph = {nid: {u.id for u in n.upstream_nodes if u.id in nodes} | (_reads(n) & set(nodes))
             for nid, n in nodes.items()}
    return list(graphlib.TopologicalSorter(graph).static_order())


def _reads(node: Any) -> set[str]:
    """The ids of the nodes a node's bindings read, and for a conditional those its cases' nodes read."""
    from flytekit.core.condition import BranchNode

    def promised(data: Any) -> set[str]:
        if data.promise is not None:
            return {data.promise.node_id} if data.promise.node_id else set()
        items = data.collection.bindings if data.collection is not None else \
            data.map.bindings.values() if data.map is not None else ()
        return set().union(*(promised(b) for b in items))

    found = set().union(*(promised(b.binding) for b in node.bindings))
    entity = node.flyte_entity
    if isinstance(entity, BranchNode):
        block = entity._ifelse_block
        cases = [block.case, *(block.other or [])]
        for case_node in [c.then_node for c in cases] + ([block.else_node] if block.else_node else []):
            found |= _reads(case_node)
    return found


def translate(obj: Any) -> Workflow:
    refuse(obj, f"{type(obj).__name__} {getattr(obj, 'name', '')!r}")
    fk_workflow = obj.workflow if isinstance(obj, LaunchPlan) else obj
    interface = fk_workflow.python_interface
    fixed = obj.raw_fixed_inputs if isinstance(obj, LaunchPlan) else {}
    defaults = obj.saved_inputs if isinstance(obj, LaunchPlan) else interface.default_inputs_as_kwargs
    hints = {k: gate_hint(v) for k, v in interface.inputs.items() if k not in fixed}
    outputs = list(interface.outputs.values())
    output_hint: Any = None if not outputs else outputs[0] if len(outputs) == 1 else tuple.__class_getitem__(
        tuple(outputs))
    named = interface.output_tuple_name and len(outputs) > 1

    scope = _Scope(f"workflow {fk_workflow.name}", {}, dict(interface.inputs))

    def body(**inputs: Any) -> Any:
        scope.inputs = {**fixed, **inputs}
        result = _end_node(scope, fk_workflow, scope.run(fk_workflow))
        if named:  # a NamedTuple output keeps its class and field names
            return _named_tuple(fk_workflow)(**dict(zip(interface.outputs, result)))
        return result

    name = obj.name.rsplit(".", 1)[-1]
    handler = _failure_handler(fk_workflow, fixed)
    workflow = Workflow.from_body(name, hints, output_hint, body,
                                  {k: v for k, v in defaults.items() if k not in fixed}, on_failure=handler)
    if handler is not None:  # an engine node reports the flytekit node it is part of
        handler.flyte_ids.update({nid: fk_id for fk_id, nids in scope.done.items() for nid in nids})
    return workflow


def _failure_handler(fk_workflow: Any, fixed: dict[str, Any]) -> FailureHandler | None:
    """The engine task for a flytekit workflow's ``on_failure`` (a Python function task), or ``None``."""
    handler = fk_workflow.on_failure
    if handler is None:
        return None
    where = f"workflow {fk_workflow.name}, on_failure {getattr(handler, 'name', type(handler).__name__)}"
    refuse(handler, where)
    if not isinstance(handler, PythonFunctionTask) or \
            handler.execution_mode is not PythonFunctionTask.ExecutionBehavior.DEFAULT:
        raise WorkflowDefinitionError(
            f"{where}: only a @task can be a failure handler here (a {type(handler).__name__} was given); make the "
            "handler a @task.")
    return FailureHandler(handler, {k: v for k, v in fixed.items() if k in handler.python_interface.inputs})


def _end_node(scope: _Scope, fk_workflow: Any, result: Any) -> Any:
    """``result`` (the workflow's output promises), through an :class:`EndNode` if an output needs converting."""

    declared = list(fk_workflow.python_interface.outputs.values())
    conversions: list[tuple[Any, Any] | None] = []
    for binding, hint in zip(fk_workflow.output_bindings, declared):
        produced = scope._produced(binding.binding, hint)
        needed = produced is not None and needs_conversion(produced, hint)
        conversions.append((produced, hint) if needed else None)
    if not any(conversions):
        return result
    values = result if len(declared) > 1 else (result,)
    converted = EndNode([gate_hint(h) for h in declared], conversions)(
        **{f"o{i}": v for i, v in enumerate(values)})
    return tuple(converted) if len(declared) > 1 else converted


def _named_tuple(fk_workflow: Any) -> dsl.Task:
    """A task packing a workflow's outputs into its declared ``NamedTuple``."""
    cls = typing.get_type_hints(fk_workflow._workflow_function)["return"]
    fields = typing.get_type_hints(cls)

    def pack(**values: Any) -> Any:
        return cls(**values)

    pack.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(f, inspect.Parameter.KEYWORD_ONLY) for f in fields], return_annotation=cls)
    pack.__annotations__ = {**fields, "return": cls}
    return dsl.Task(pack, name=cls.__name__)
