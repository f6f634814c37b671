"""Workflow definition: ``@task``, ``@workflow``, the gates and promises.

A workflow's body runs once, at definition, on promises, and yields a static DAG of
nodes. Nothing here runs or displays anything: the engine runs a spec
(``gatewidgets.workflow``, the engine's decorator, makes workflows that launch).
"""
from __future__ import annotations

import contextlib
import enum
import functools
import graphlib
import inspect
import threading
import typing
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Iterator

from gatewidgets import kinds
from gatewidgets.errors import WorkflowDefinitionError
from gatewidgets.kinds.approve import approve
from gatewidgets.kinds.base import NO_DEFAULT, GateKind
from gatewidgets.kinds.input import wait_for_input
from gatewidgets.kinds.sleep import sleep
from gatewidgets.models.names import SIGNAL_NAME_RULE, is_valid_signal_name
from gatewidgets.models.signal import SignalKind
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
    "NO_DEFAULT",
    "RESERVED_INPUTS",
    "WorkflowFailure",
]

RESERVED_INPUTS = frozenset({"execution_name", "project", "domain", "recover"})




# ----------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class Ref:
    """Where a node input comes from: a node's output (``index`` for tuple outputs) or a workflow input."""

    node_id: str | None = None
    index: int | None = None
    input_name: str | None = None


@dataclass(frozen=True)
class Const:
    """A literal value bound to a node input at definition."""

    value: Any


@dataclass(frozen=True)
class Many:
    """A list or dict built from promises and constants: ``items`` are ``(index or key, binding)``."""

    kind: str  # "list" or "dict"
    items: tuple[tuple[Any, Any], ...]


Binding = typing.Union[Ref, Const, Many]


def _holds_promise(value: Any) -> bool:
    if isinstance(value, Promise):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_promise(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_promise(v) for v in value.values())
    return False


class NodeKind(str, enum.Enum):
    """The structural kinds of nodes. A gate node's ``kind`` is instead its gate kind's registered name
    (``"approve"``, ``"input"``, ``"sleep"``, or any kind in ``gatewidgets.kinds``), so registering a
    kind needs no edit here; both compare equal to the stored strings."""

    TASK = "task"
    DYNAMIC = "dynamic"
    BRANCH = "branch"
    MERGE = "merge"
    COLLECT = "collect"
    CHILD = "child"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


@dataclass
class SignalSpec:
    """The signal a gate node waits for; ``kind`` (a ``SignalKind`` or a kind name) must be registered."""

    signal_id: str
    kind: SignalKind  # given as a SignalKind or a registered kind's name
    gate_type: GateType
    description: str | None = None
    timeout: timedelta | None = None
    default: Any = NO_DEFAULT
    on_timeout: str = "fail"
    edit_type: GateType | None = None  # approve(..., editable=True): the type of the value the approver may change
    description_format: str = "markdown"  # or "text": shown as written (a Flyte 2 prompt_type="text")

    def __post_init__(self) -> None:
        self.kind = kinds.get(self.kind).signal_kind  # UnknownGateKindError for an unregistered kind
        self.gate_type.declare()  # its stored values decode to this Python type in this process

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT


@dataclass
class Node:
    """One task call or one gate inside a workflow."""

    id: str
    kind: NodeKind | str  # a NodeKind, or the registered name of the node's gate kind
    name: str
    task: Task | None = None
    bindings: dict[str, Binding] = field(default_factory=dict)
    upstream: set[str] = field(default_factory=set)
    signal: SignalSpec | None = None
    output_hints: tuple[Any, ...] = ()
    multi_output: bool = False
    cases: tuple[tuple[str, int], ...] = ()  # enclosing (branch node id, case index), outermost first
    branch: BranchSpec | None = None  # for "branch" and "merge" nodes
    parent: str | None = None  # the dynamic node a node was created by
    child: ChildSpec | None = None  # for "child" nodes: the workflow they launch

    def __post_init__(self) -> None:
        if isinstance(self.kind, NodeKind):
            return
        try:
            self.kind = NodeKind(self.kind)
        except ValueError:
            self.kind = kinds.get(self.kind).name  # UnknownGateKindError for an unregistered gate kind

    @property
    def is_gate(self) -> bool:
        return self.signal is not None

    @property
    def gate_kind(self) -> GateKind:
        """The registered kind of this gate node (``UnknownGateKindError`` for a non-gate node)."""
        return kinds.get(self.kind)

    @property
    def has_output(self) -> bool:
        return bool(self.output_hints)


@dataclass(frozen=True)
class ChildSpec:
    """What a ``child`` node launches: ``workflow`` (its bindings are the inputs), in ``project`` / ``domain``
    (``None``: the parent's)."""

    workflow: Workflow
    project: str | None = None
    domain: str | None = None


@dataclass
class BranchSpec:
    """The cases of one ``conditional``: a condition (``None`` for else), then an output or a failure."""

    name: str
    conditions: list[Condition | None] = field(default_factory=list)
    outputs: list[Binding | None] = field(default_factory=list)
    failures: list[str | None] = field(default_factory=list)


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class Condition:
    """A test on promises, decided at run time: ``x > 5``, ``ok.is_true()``, combined with ``&`` / ``|``."""

    op: str
    left: Any  # Binding, or Condition for "&" / "|"
    right: Any = None

    def __and__(self, other: Condition) -> Condition:
        return Condition("&", self, _as_condition(other, "&"))

    def __or__(self, other: Condition) -> Condition:
        return Condition("|", self, _as_condition(other, "|"))

    def __bool__(self) -> bool:
        raise WorkflowDefinitionError(
            "A condition on promises has no truth value while the workflow is defined: combine conditions "
            "with `&` and `|` (not `and`/`or`), and use them in conditional(...).if_(...)."
        )

    def node_ids(self) -> set[str]:
        """The nodes whose outputs this condition reads."""
        if self.op in ("&", "|"):
            return set(self.left.node_ids()) | set(self.right.node_ids())
        return {b.node_id for b in (self.left, self.right) if isinstance(b, Ref) and b.node_id}

    def evaluate(self, value_of: Callable[[Binding], Any]) -> bool:
        """Decide the condition, reading bound values with ``value_of``."""
        if self.op == "&":
            return bool(self.left.evaluate(value_of) and self.right.evaluate(value_of))
        if self.op == "|":
            return bool(self.left.evaluate(value_of) or self.right.evaluate(value_of))
        left = value_of(self.left)
        if self.op == "is_true":
            return left is True
        if self.op == "is_false":
            return left is False
        if self.op == "is_none":
            return left is None
        return bool(_COMPARISONS[self.op](left, value_of(self.right)))

    def __str__(self) -> str:
        if self.op in ("&", "|"):
            return f"({self.left} {self.op} {self.right})"
        if self.op in ("is_true", "is_false", "is_none"):
            return f"{_describe(self.left)}.{self.op}()"
        return f"{_describe(self.left)} {self.op} {_describe(self.right)}"


def _describe(binding: Any) -> str:
    if isinstance(binding, Const):
        return repr(binding.value)
    if binding.input_name is not None:
        return str(binding.input_name)
    return f"{binding.node_id}" + (f"[{binding.index}]" if binding.index is not None else "")


def _as_condition(value: Any, op: str) -> Condition:
    if not isinstance(value, Condition):
        raise WorkflowDefinitionError(f"`{op}` combines conditions on promises; got {value!r}.")
    return value


class Promise:
    """A value that will exist once its node has run. Pass it to tasks and gates; order with ``>>``.

    Comparisons (``==``, ``<``, ...) and ``is_true()`` / ``is_false()`` / ``is_none()`` build
    conditions for ``conditional``.
    """

    __slots__ = ("_ref", "_hint", "_node", "_builder")

    def __init__(self, builder: _Builder, ref: Ref, hint: Any, node: Node | None) -> None:
        self._builder = builder
        self._ref = ref
        self._hint = hint
        self._node = node

    @property
    def ref(self) -> Ref:
        return self._ref

    @property
    def node(self) -> Node | None:
        return self._node

    def __rshift__(self, other: Promise) -> Promise:
        if not isinstance(other, Promise) or other._node is None or self._node is None:
            raise WorkflowDefinitionError(
                "`a >> b` orders two nodes of a workflow: both sides must be the results of task "
                f"or gate calls, got {self!r} >> {other!r}."
            )
        other._node.upstream.add(self._node.id)
        return other

    def _compare(self, op: str, other: Any) -> Condition:
        right = other.ref if isinstance(other, Promise) else Const(other)
        return Condition(op, self._ref, right)

    def __eq__(self, other: Any) -> Condition:  # type: ignore[override]
        return self._compare("==", other)

    def __ne__(self, other: Any) -> Condition:  # type: ignore[override]
        return self._compare("!=", other)

    def __lt__(self, other: Any) -> Condition:
        return self._compare("<", other)

    def __le__(self, other: Any) -> Condition:
        return self._compare("<=", other)

    def __gt__(self, other: Any) -> Condition:
        return self._compare(">", other)

    def __ge__(self, other: Any) -> Condition:
        return self._compare(">=", other)

    __hash__ = object.__hash__

    def is_true(self) -> Condition:
        """True when the value is ``True``."""
        return Condition("is_true", self._ref)

    def is_false(self) -> Condition:
        """True when the value is ``False``."""
        return Condition("is_false", self._ref)

    def is_none(self) -> Condition:
        """True when the value is ``None``."""
        return Condition("is_none", self._ref)

    def __iter__(self) -> Iterator[Promise]:
        node = self._node
        if node is None or not node.multi_output or self._ref.index is not None:
            raise WorkflowDefinitionError(
                f"{self!r} is a single value, not a tuple: only tasks returning tuple[...] can be unpacked."
            )
        for i, hint in enumerate(node.output_hints):
            yield Promise(self._builder, Ref(node_id=node.id, index=i), hint, node)

    def __bool__(self) -> bool:
        raise WorkflowDefinitionError(
            f"{self!r} has no value while the workflow is being defined, so it cannot be used in "
            "`if`/`and`/`or`: decide inside a @task instead."
        )

    def __repr__(self) -> str:
        if self._ref.input_name is not None:
            return f"Promise(workflow input {self._ref.input_name!r})"
        suffix = f"[{self._ref.index}]" if self._ref.index is not None else ""
        name = self._node.name if self._node else "?"
        return f"Promise({self._ref.node_id} {name}{suffix})"


# -------------------------------------------------------------------------- builder


class _Builder:
    """Collects the nodes created while a workflow body runs."""

    def __init__(self, workflow_name: str, prefix: str = "") -> None:
        self.workflow_name = workflow_name
        self.prefix = prefix
        self.nodes: dict[str, Node] = {}
        self.signals: dict[str, SignalSpec] = {}
        self.cases: list[tuple[str, int]] = []  # the conditional cases being defined, outermost first
        self.sections: list[Any] = []  # every ConditionalSection, to check they were completed

    def next_id(self) -> str:
        return f"{self.prefix}n{len(self.nodes)}"

    def add(self, kind: str, name: str, **kw: Any) -> Node:
        node = Node(id=self.next_id(), kind=kind, name=name, cases=tuple(self.cases), **kw)
        if self.cases:  # nodes of a case start only once the branch chose that case
            node.upstream.add(self.cases[-1][0])
        self.nodes[node.id] = node
        return node

    def declare(self, spec: SignalSpec) -> None:
        known = self.signals.get(spec.signal_id)
        if known is None:
            self.signals[spec.signal_id] = spec
            return
        if known.kind != spec.kind or known.gate_type.literal_type != spec.gate_type.literal_type:
            raise WorkflowDefinitionError(
                f"Workflow {self.workflow_name!r}: two gates share the signal id {spec.signal_id!r} with "
                f"different types ({known.kind} {known.gate_type.literal_type} vs "
                f"{spec.kind} {spec.gate_type.literal_type}). Give one of them another name."
            )

    def bind(self, owner: str, arg: str, value: Any, hint: Any) -> tuple[Binding, set[str]]:
        """Bind ``value`` to input ``arg``; returns the binding and the node ids it reads."""
        if isinstance(value, Promise):
            if value._builder is not self:
                raise WorkflowDefinitionError(f"{owner}: input {arg!r} comes from another workflow's promise.")
            if value._node is not None and not value._node.has_output:
                raise WorkflowDefinitionError(
                    f"{owner}: input {arg!r} is bound to {value._node.name!r}, which returns nothing. "
                    "Use `a >> b` to order nodes without passing data."
                )
            if value._node is not None and value._node.cases != tuple(self.cases[:len(value._node.cases)]):
                raise WorkflowDefinitionError(
                    f"{owner}: input {arg!r} uses {value!r}, which only exists inside one case of a conditional. "
                    "Use the conditional's result instead."
                )
            _check_compatible(owner, arg, value._hint, hint)
            return value._ref, {value._ref.node_id} if value._ref.node_id else set()
        if _holds_promise(value):
            return self._bind_collection(owner, arg, value, hint)
        _check_constant(owner, arg, value, hint)
        return Const(value), set()

    def _bind_collection(self, owner: str, arg: str, value: Any, hint: Any) -> tuple[Binding, set[str]]:
        """A list or dict whose items include promises, e.g. ``total(xs=[a, b, c])``."""
        args = typing.get_args(hint)
        if isinstance(value, dict):
            item_hint = args[1] if len(args) == 2 else Any
            pairs = list(value.items())
        else:
            item_hint = args[0] if args else Any
            pairs = list(enumerate(value))
        items: list[tuple[Any, Binding]] = []
        upstream: set[str] = set()
        for key, item in pairs:
            binding, ups = self.bind(owner, f"{arg}[{key!r}]", item, item_hint)
            items.append((key, binding))
            upstream |= ups
        return Many("dict" if isinstance(value, dict) else "list", tuple(items)), upstream


_context = threading.local()


def _current() -> _Builder | None:
    stack = getattr(_context, "stack", None)
    return stack[-1] if stack else None


def _require_builder(what: str) -> _Builder:
    builder = _current()
    if builder is None:
        raise WorkflowDefinitionError(
            f"{what}() declares a gate node and only works inside a @workflow function's body."
        )
    return builder


def _literal(hint: Any) -> Any:
    try:
        return GateType.of(hint).literal_type
    except TypeError:
        return None


def _check_compatible(owner: str, arg: str, src: Any, dst: Any) -> None:
    if src is dst or src is Any or dst is Any or src is None or dst is None:
        return
    a, b = _literal(src), _literal(dst)
    if a is None or b is None or a == b:
        return
    if a.tag == "int" and b.tag == "float":
        return
    raise WorkflowDefinitionError(
        f"{owner}: input {arg!r} expects {b} but is bound to a value of type {a}. "
        "Convert it in a task or change the annotation."
    )


def _check_constant(owner: str, arg: str, value: Any, hint: Any) -> None:
    try:
        gate_type = GateType.of(hint)
    except TypeError:
        return
    try:
        gate_type.validate(value)
    except Exception as exc:  # SignalTypeError: report as a definition error
        raise WorkflowDefinitionError(f"{owner}: constant for input {arg!r} does not fit: {exc}") from None


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


def _add_call(builder: _Builder, owner: str, signature: inspect.Signature, input_hints: dict[str, Any],
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

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.input_hints, ret, self.signature = _hints(fn, "@task")
        self.output_hints, self.multi_output = _output_hints(ret)
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = _current()
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


def task(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Declare a task: ``@task`` or ``@task(name=...)``. Every input and the return need type hints."""
    return _decorator(Task, fn, name=name)


class Dynamic(Task):
    """A task whose body runs at execution time, on real values, and builds a sub-workflow.

    Its tasks, gates and conditionals (in loops, too) join the running execution; its
    gates' signals are scoped to the top-level execution, as in Flyte.
    """

    kind = NodeKind.DYNAMIC

    def expand(self, node_id: str, values: dict[str, Any], workflow_name: str) -> tuple[_Builder, Any]:
        """Run the body on ``values``; return the nodes it built and its output bindings."""
        builder = _Builder(workflow_name, prefix=f"{node_id}.")
        with _building(builder):
            result = self.build(values)
        _check_sections(builder)
        return builder, _bind_outputs(builder, self.name, result)

    def build(self, values: dict[str, Any]) -> Any:
        """Define the nodes on real ``values`` and return the outputs (a front door translates here)."""
        return self.fn(**values)


def dynamic(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Declare a dynamic workflow node: ``@dynamic``. Inputs and return need type hints."""
    return _decorator(Dynamic, fn, name=name)


# ---------------------------------------------------------------------------- gates


def _timeout(value: Any, what: str) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        result = timedelta(seconds=value)
    else:
        raise WorkflowDefinitionError(f"{what}: timeout must be a timedelta, seconds, or None; got {value!r}.")
    if result.total_seconds() < 0:
        raise WorkflowDefinitionError(f"{what}: timeout must not be negative; got {value!r}.")
    return result


def _signal_id(name: Any, what: str) -> str:
    if not is_valid_signal_name(name):
        builder = _current()
        where = f"workflow {builder.workflow_name}, node {builder.next_id()} ({what})" if builder else what
        raise WorkflowDefinitionError(
            f"{where}: the signal name must be {SIGNAL_NAME_RULE}; got {name!r}. Rename the gate."
        )
    return str(name)


def add_gate(builder: _Builder, spec: SignalSpec, output_hints: tuple[Any, ...],
             upstream: Promise | None = None) -> Promise:
    """Declare ``spec`` and add its gate node (of kind ``spec.kind``) outputting ``output_hints`` (one or none),
    fed by ``upstream`` if given: what a kind's builder calls."""
    builder.declare(spec)
    node = builder.add(spec.kind.value, spec.signal_id, signal=spec, output_hints=output_hints)
    if upstream is not None:
        node.bindings["upstream"] = upstream.ref
        if upstream.ref.node_id:
            node.upstream.add(upstream.ref.node_id)
    return Promise(builder, Ref(node_id=node.id), output_hints[0] if output_hints else None, node)


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
    builder = _current()
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


@contextlib.contextmanager
def _building(builder: _Builder) -> Iterator[_Builder]:
    stack = _context.__dict__.setdefault("stack", [])
    stack.append(builder)
    try:
        yield builder
    finally:
        stack.pop()


def _check_sections(builder: _Builder) -> None:
    for section in builder.sections:
        section.check_complete()


def _bind_outputs(builder: _Builder, owner: str, result: Any) -> Binding | tuple[Binding, ...] | None:
    if result is None:
        return None
    if isinstance(result, tuple):
        return tuple(builder.bind(owner, f"output {i}", r, Any)[0] for i, r in enumerate(result))
    return builder.bind(owner, "output", result, Any)[0]

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
            _check_compatible(f"{owner} {handler.name}", arg, input_hints[arg], handler.input_hints[arg])
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
        builder = _Builder(self.name)
        with _building(builder):
            result = fn(**{a: Promise(builder, Ref(input_name=a), h, None) for a, h in self.input_hints.items()})
        _check_sections(builder)
        self.nodes = builder.nodes
        self.signals = builder.signals
        self.outputs = _bind_outputs(builder, self.name, result)
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
        builder = _current()
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
