"""Workflow definition: ``@task``, ``@workflow``, the gates and promises.

A workflow's body runs once, at definition, on promises, and yields a static DAG of
nodes. Nothing here runs or displays anything: the engine runs a spec
(``gatewidgets.workflow``, the engine's decorator, makes workflows that launch).
"""
from __future__ import annotations

import functools
import graphlib
import inspect
import math
import typing
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

from gatewidgets.errors import WorkflowDefinitionError
from gatewidgets.graph.builder import (
    Builder,
    Promise,
    bind_outputs,
    building,
    check_compatible,
    check_sections,
    current_builder,
    timeout_of,
)
from gatewidgets.graph.model import (
    NO_DEFAULT,
    BranchSpec,
    ChildSpec,
    Condition,
    Const,
    Many,
    Node,
    NodeKind,
    Ref,
    SignalSpec,
)
from gatewidgets.kinds.approve import approve
from gatewidgets.kinds.input import wait_for_input
from gatewidgets.kinds.sleep import sleep
from gatewidgets.types import GateType

__all__ = [
    "task",
    "dynamic",
    "workflow",
    "approve",
    "wait_for_input",
    "sleep",
    "launch_child",
    "ChildSpec",
    "Task",
    "Dynamic",
    "Workflow",
    "Condition",
    "BranchSpec",
    "Promise",
    "Node",
    "SignalSpec",
    "NodeKind",
    "Ref",
    "Const",
    "Many",
    "NO_DEFAULT",
    "RESERVED_INPUTS",
    "WorkflowFailure",
]

_current = current_builder  # the flytekit door's name for graph.current_builder

RESERVED_INPUTS = frozenset({"execution_name", "project", "domain", "recover"})


def _hints(fn: Callable[..., Any], what: str) -> tuple[dict[str, Any], Any, inspect.Signature]:
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:
        raise WorkflowDefinitionError(f"{what} {fn.__qualname__}: cannot resolve type hints: {exc}") from None
    missing = [p for p in sig.parameters if p not in hints]
    if missing:
        raise WorkflowDefinitionError(
            f"{what} {fn.__qualname__}: parameters {missing} have no type hints. "
            "Annotate every input, e.g. `def f(x: int) -> int`."
        )
    if "return" not in hints:
        raise WorkflowDefinitionError(
            f"{what} {fn.__qualname__}: no return annotation. Add `-> T` (or `-> None` if it returns nothing)."
        )
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise WorkflowDefinitionError(f"{what} {fn.__qualname__}: *args/**kwargs are not supported.")
    return {k: v for k, v in hints.items() if k != "return"}, hints["return"], sig


def _output_hints(ret: Any) -> tuple[tuple[Any, ...], bool]:
    if ret is None or ret is type(None):
        return (), False
    origin = typing.get_origin(ret)
    if origin is tuple:
        args = typing.get_args(ret)
        if args and args[-1] is not Ellipsis:
            return tuple(args), True
    return (ret,), False


def _resolve_call(owner: str, sig: inspect.Signature, hints: dict[str, Any], args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> dict[str, Any]:
    if args:
        raise WorkflowDefinitionError(
            f"{owner}: inside a workflow, call tasks with keyword arguments only, e.g. {owner}(x=...)."
        )
    unknown = sorted(set(kwargs) - set(hints))
    if unknown:
        raise WorkflowDefinitionError(f"{owner}: unknown inputs {unknown}; it takes {sorted(hints)}.")
    values = {}
    for name, p in sig.parameters.items():
        if name in kwargs:
            values[name] = kwargs[name]
        elif p.default is not inspect.Parameter.empty:
            values[name] = p.default
        else:
            missing = [n for n, q in sig.parameters.items() if n not in kwargs and q.default is inspect.Parameter.empty]
            raise WorkflowDefinitionError(f"{owner}: missing inputs {missing}.")
    return values


def _add_call(builder: Builder, owner: str, signature: inspect.Signature, input_hints: dict[str, Any],
              args: tuple[Any, ...], kwargs: dict[str, Any], node: Node) -> Promise:
    """Bind a call's inputs to ``node`` (just added), which then waits for the nodes they read; its promise."""
    for arg, value in _resolve_call(owner, signature, input_hints, args, kwargs).items():
        binding, upstream = builder.bind(owner, arg, value, input_hints[arg])
        node.bindings[arg] = binding
        node.upstream |= upstream
    if node.multi_output:
        hint: Any = tuple.__class_getitem__(node.output_hints)
    else:
        hint = node.output_hints[0] if node.output_hints else None
    return Promise(builder, Ref(node_id=node.id), hint, node)


# ---------------------------------------------------------------------------- tasks


class Task:
    """A typed Python function usable as a workflow node. Called outside a workflow, it just runs."""

    kind = NodeKind.TASK
    # the engine's options (see ``task``); class defaults too, for subclasses that build themselves
    retries: int = 0
    timeout: timedelta | None = None
    cache: bool = False
    cache_version: str = ""

    def __init__(self, fn: Callable[..., Any], name: str | None = None, *, retries: int = 0,
                 timeout: timedelta | float | None = None, cache: bool = False, cache_version: str = "") -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.input_hints, ret, self.signature = _hints(fn, "@task")
        self.output_hints, self.multi_output = _output_hints(ret)
        self.retries, self.timeout, self.cache, self.cache_version = _task_options(
            f"@task {self.name}", retries, timeout, cache, cache_version)
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = current_builder()
        if builder is None:
            return self.fn(*args, **kwargs)
        return _add_call(builder, self.name, self.signature, self.input_hints, args, kwargs,
                         builder.add(self.kind, self.name, task=self, output_hints=self.output_hints,
                                     multi_output=self.multi_output))

    def invoke(self, execution: Any, node: Node, kwargs: dict[str, Any]) -> Any:
        """Run the task for ``node`` of ``execution`` (the executor calls this; front doors add retries, caching)."""
        return self.fn(**kwargs)

    def __repr__(self) -> str:
        return f"<task {self.name}>"


def _decorator(cls: type, fn: Callable[..., Any] | None, **options: Any) -> Any:
    """``@cls`` or ``@cls(name=..., ...)``."""
    if fn is None:
        return lambda f: cls(f, **options)
    return cls(fn, **options)


def _task_options(owner: str, retries: Any, timeout: Any, cache: Any,
                  cache_version: Any) -> tuple[int, timedelta | None, bool, str]:
    """``@task``'s engine options, checked: ``WorkflowDefinitionError`` for a wrong type or value."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise WorkflowDefinitionError(f"{owner}: retries must be a whole number >= 0; got {retries!r}.")
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and not math.isfinite(timeout):
        raise WorkflowDefinitionError(f"{owner}: timeout must be finite; got {timeout!r}.")
    limit = timeout_of(timeout, owner)
    if limit is not None and limit <= timedelta(0):
        raise WorkflowDefinitionError(f"{owner}: timeout must be positive (or None for none); got {timeout!r}.")
    if not isinstance(cache, bool):
        raise WorkflowDefinitionError(f"{owner}: cache must be True or False; got {cache!r}.")
    if not isinstance(cache_version, str):
        raise WorkflowDefinitionError(f"{owner}: cache_version must be a str; got {cache_version!r}.")
    if cache_version and not cache:
        raise WorkflowDefinitionError(f"{owner}: cache_version={cache_version!r} needs cache=True.")
    return retries, limit, cache, cache_version


def task(fn: Callable[..., Any] | None = None, *, name: str | None = None, retries: int = 0,
         timeout: timedelta | float | None = None, cache: bool = False, cache_version: str = "") -> Any:
    """Declare a task: ``@task`` or ``@task(name=..., retries=..., timeout=..., cache=..., cache_version=...)``.

    Every input and the return need type hints. The engine runs a failing task up to ``retries`` more
    times, fails one that runs longer than ``timeout`` (a timedelta or seconds), and with ``cache=True``
    reuses an output stored for the same inputs and ``cache_version``.
    """
    return _decorator(Task, fn, name=name, retries=retries, timeout=timeout, cache=cache,
                      cache_version=cache_version)


class Dynamic(Task):
    """A task whose body runs at execution time, on real values, and builds a sub-workflow.

    Its tasks, gates and conditionals (in loops, too) join the running execution; its
    gates' signals are scoped to the top-level execution, as in Flyte.
    """

    kind = NodeKind.DYNAMIC

    def expand(self, node_id: str, values: dict[str, Any], workflow_name: str) -> tuple[Builder, Any]:
        """Run the body on ``values``; return the nodes it built and its output bindings."""
        builder = Builder(workflow_name, prefix=f"{node_id}.")
        with building(builder):
            result = self.build(values)
        check_sections(builder)
        return builder, bind_outputs(builder, self.name, result)

    def build(self, values: dict[str, Any]) -> Any:
        """Define the nodes on real ``values`` and return the outputs (a front door translates here)."""
        return self.fn(**values)


def dynamic(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Declare a dynamic workflow node: ``@dynamic``. Inputs and return need type hints."""
    return _decorator(Dynamic, fn, name=name)


# ---------------------------------------------------------------------------- gates


# --------------------------------------------------------------------- child executions


def launch_child(workflow: Workflow, /, *, project: str | None = None, domain: str | None = None,
                 **inputs: Any) -> Promise:
    """Inside a ``@workflow`` body: run ``workflow`` as a *child execution* (as Flyte runs a launch plan used as a
    node), with ``inputs`` (promises or values; left out: the workflow's defaults).

    Unlike calling ``workflow(...)``, which inlines its nodes, the child is an execution of its own, named
    ``<parent>-<node id>``, in the parent's project and domain unless given: its gates are signals of the child
    (answer them there), and the node's output is the child's once it succeeds. A child that fails or is aborted
    fails the node (``ChildExecutionError``); aborting the parent aborts the child. No thread waits meanwhile.
    """
    builder = current_builder()
    if builder is None:
        raise WorkflowDefinitionError("launch_child() declares a node and only works inside a @workflow body.")
    if not isinstance(workflow, Workflow):
        raise WorkflowDefinitionError(f"launch_child() takes a @workflow; got {workflow!r}.")
    output_hints, multi = _output_hints(workflow.output_hint)
    node = builder.add(NodeKind.CHILD, workflow.name, output_hints=output_hints, multi_output=multi,
                       child=ChildSpec(workflow, project, domain))
    return _add_call(builder, f"launch_child({workflow.name})", workflow.signature, workflow.input_hints, (),
                     inputs, node)


# ------------------------------------------------------------------------- workflow


@dataclass(frozen=True)
class WorkflowFailure:
    """Why an execution failed, as its ``on_failure`` handler's ``err`` input receives it."""

    message: str  # "ErrorType: text"
    node_id: str | None  # the node that failed; None if the engine itself failed (e.g. the store)
    error: BaseException


FAILURE_INPUT = "err"  # the handler input that receives the WorkflowFailure


def _failure_handler(workflow_name: str, handler: Task | None, input_hints: dict[str, Any]) -> Task | None:
    """Check ``on_failure=handler``: a plain task whose inputs are the workflow's (compatible types), ``err``, or
    inputs with defaults."""
    if handler is None:
        return None
    owner = f"@workflow {workflow_name}: on_failure"
    if not isinstance(handler, Task) or isinstance(handler, Dynamic):
        raise WorkflowDefinitionError(f"{owner} must be a @task (not @dynamic); got {handler!r}.")
    for arg, param in handler.signature.parameters.items():
        if arg in input_hints:
            check_compatible(f"{owner} {handler.name}", arg, input_hints[arg], handler.input_hints[arg])
        elif arg != FAILURE_INPUT and param.default is inspect.Parameter.empty:
            raise WorkflowDefinitionError(
                f"{owner} {handler.name}: input {arg!r} is not an input of the workflow. A failure handler takes "
                f"the workflow's inputs {sorted(input_hints)} (any of them), `{FAILURE_INPUT}` (a WorkflowFailure) "
                "and inputs with defaults.")
    return handler


class Workflow:
    """A static DAG of task and gate nodes, built once from the decorated function."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None, on_failure: Task | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.input_hints, self.output_hint, self.signature = _hints(fn, "@workflow")
        self.on_failure = _failure_handler(self.name, on_failure, self.input_hints)
        reserved = sorted(RESERVED_INPUTS & set(self.input_hints))
        if reserved:
            raise WorkflowDefinitionError(
                f"@workflow {self.name}: inputs {reserved} clash with launch()'s own keywords "
                f"{sorted(RESERVED_INPUTS)}. Rename them."
            )
        self.input_types: dict[str, GateType | None] = {}
        for arg, hint in self.input_hints.items():
            try:
                self.input_types[arg] = GateType.of(hint)
            except TypeError:
                self.input_types[arg] = None
        builder = Builder(self.name)
        with building(builder):
            result = fn(**{a: Promise(builder, Ref(input_name=a), h, None) for a, h in self.input_hints.items()})
        check_sections(builder)
        self.nodes = builder.nodes
        self.signals = builder.signals
        self.outputs = bind_outputs(builder, self.name, result)
        self.order = self._topological_order()
        functools.update_wrapper(self, fn)

    @classmethod
    def from_body(cls, name: str, input_hints: dict[str, Any], output_hint: Any, body: Callable[..., Any],
                  defaults: dict[str, Any] | None = None, on_failure: Task | None = None) -> Workflow:
        """A workflow whose graph ``body(**input promises)`` defines: for front doors translating another SDK's graph.

        ``body`` calls tasks, gates and ``conditional`` as a ``@workflow`` body would; ``defaults``
        are the inputs' default values; ``on_failure`` is the workflow's failure handler.
        """
        defaults = defaults or {}
        params = [inspect.Parameter(arg, inspect.Parameter.KEYWORD_ONLY, annotation=hint,
                                    default=defaults.get(arg, inspect.Parameter.empty))
                  for arg, hint in input_hints.items()]

        def fn(**inputs: Any) -> Any:
            return body(**inputs)

        fn.__signature__ = inspect.Signature(params, return_annotation=output_hint)  # type: ignore[attr-defined]
        fn.__annotations__ = {**input_hints, "return": output_hint}
        fn.__name__ = fn.__qualname__ = name
        return cls(fn, name=name, on_failure=on_failure)

    def _topological_order(self) -> list[str]:
        graph = {nid: set(node.upstream) for nid, node in self.nodes.items()}
        try:
            return list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as exc:
            cycle = " -> ".join(f"{n} ({self.nodes[n].name})" for n in exc.args[1])
            raise WorkflowDefinitionError(
                f"@workflow {self.name}: the nodes form a cycle: {cycle}. Remove one of the `>>` "
                "orderings (or a condition that reads a node of its own branch)."
            ) from None

    def bind_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Check launch inputs against the signature; fill in defaults. Raises ``TypeError``."""
        unknown = sorted(set(inputs) - set(self.input_hints))
        if unknown:
            raise TypeError(f"{self.name}: unknown inputs {unknown}; it takes {sorted(self.input_hints)}.")
        values = {}
        for arg, p in self.signature.parameters.items():
            if arg in inputs:
                value = inputs[arg]
            elif p.default is not inspect.Parameter.empty:
                value = p.default
            else:
                missing = [a for a in self.signature.parameters if a not in inputs
                           and self.signature.parameters[a].default is inspect.Parameter.empty]
                raise TypeError(f"{self.name}: missing inputs {missing}.")
            gate_type = self.input_types[arg]
            if gate_type is not None:
                try:
                    gate_type.validate(value)
                except Exception as exc:
                    raise TypeError(f"{self.name}: input {arg!r}: {exc}") from None
            values[arg] = value
        return values

    def launch(self, *, execution_name: str | None = None, project: str | None = None,
               domain: str | None = None, recover: bool = False, **inputs: Any) -> Any:
        """A spec does not launch: ``gatewidgets.workflow`` (the engine's) makes workflows that do."""
        raise TypeError(f"{self.name} is a workflow spec of gatewidgets.dsl; declare it with gatewidgets.workflow "
                        "to launch it, or pass it to gatewidgets.launch.")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = current_builder()
        if builder is not None:  # a sub-workflow: inline its nodes into the caller's DAG
            values = _resolve_call(self.name, self.signature, self.input_hints, args, kwargs)
            return self.fn(**values)
        if args:
            raise TypeError(f"{self.name}: call workflows with keyword arguments only.")
        return self.launch(**kwargs).wait()

    def __repr__(self) -> str:
        return f"<workflow {self.name}: {len(self.nodes)} nodes, signals {list(self.signals)}>"


def workflow(fn: Callable[..., Any] | None = None, *, name: str | None = None,
             on_failure: Task | None = None) -> Any:
    """Declare a workflow: its body runs once now, on promises, and defines the DAG.

    ``on_failure=handler`` (a ``@task``) runs when an execution fails (not when it is aborted),
    with the workflow's inputs it declares and, if it declares ``err``, a :class:`WorkflowFailure`;
    the execution still ends ``FAILED`` with its own error.
    """
    return _decorator(Workflow, fn, name=name, on_failure=on_failure)
