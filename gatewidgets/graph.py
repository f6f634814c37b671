"""The graph model of a workflow and the public builder API gate kinds use.

``Node``, ``SignalSpec``, ``Promise``, bindings (``Ref``, ``Const``, ``Many``), ``Condition`` and the
``Builder`` that collects nodes while a workflow body runs. A kind's builder function calls
:func:`require_builder`, :func:`signal_id`, :func:`timeout_of` and :func:`add_gate`. Imports nothing
above the core (no kinds, no engine, no faces): the decorators live in :mod:`gatewidgets.dsl`.
"""
from __future__ import annotations

import contextlib
import enum
import threading
import typing
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Iterator

from gatewidgets.errors import WorkflowDefinitionError
from gatewidgets.models.names import SIGNAL_NAME_RULE, is_valid_signal_name
from gatewidgets.models.policy import Policy
from gatewidgets.models.signal import SignalKind, kind_named
from gatewidgets.types import GateType

__all__ = [
    "Ref", "Const", "Many", "Binding", "NodeKind", "SignalSpec", "Node", "ChildSpec", "BranchSpec", "Condition",
    "Promise", "Builder", "NO_DEFAULT", "current_builder", "require_builder", "signal_id", "timeout_of",
    "policy_of", "add_gate", "building", "check_sections", "bind_outputs", "check_compatible", "literal_type_of",
]


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()  # a gate without a default

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
    policy: dict[str, Any] | None = None  # who may answer: the fields the gate gave (``policy_of``)

    def __post_init__(self) -> None:
        self.kind = kind_named(self.kind)  # UnknownGateKindError for an unregistered kind
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
    task: Any = None  # the dsl.Task a task node runs (the graph imports no decorator)
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
            self.kind = kind_named(self.kind).value  # UnknownGateKindError for an unregistered gate kind

    @property
    def is_gate(self) -> bool:
        return self.signal is not None

    @property
    def has_output(self) -> bool:
        return bool(self.output_hints)


@dataclass(frozen=True)
class ChildSpec:
    """What a ``child`` node launches: ``workflow`` (its bindings are the inputs), in ``project`` / ``domain``
    (``None``: the parent's)."""

    workflow: Any  # the dsl.Workflow it launches
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

    def __init__(self, builder: Builder, ref: Ref, hint: Any, node: Node | None) -> None:
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


class Builder:
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
            check_compatible(owner, arg, value._hint, hint)
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


def current_builder() -> Builder | None:
    stack = getattr(_context, "stack", None)
    return stack[-1] if stack else None


def require_builder(what: str) -> Builder:
    builder = current_builder()
    if builder is None:
        raise WorkflowDefinitionError(
            f"{what}() declares a gate node and only works inside a @workflow function's body."
        )
    return builder


def literal_type_of(hint: Any) -> Any:
    try:
        return GateType.of(hint).literal_type
    except TypeError:
        return None


def check_compatible(owner: str, arg: str, src: Any, dst: Any) -> None:
    if src is dst or src is Any or dst is Any or src is None or dst is None:
        return
    a, b = literal_type_of(src), literal_type_of(dst)
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


# ---------------------------------------------------------------------------- gates


def timeout_of(value: Any, what: str) -> timedelta | None:
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


def policy_of(what: str, *, approval: bool = False, **fields: Any) -> dict[str, Any] | None:
    """The policy fields a gate was given (``assignees``, ``quorum``, ``self_approval``, ``verified``,
    ``remind_every``, ``escalate_after``, ``escalate_to``; None ones left out), validated, or None for none;
    ``WorkflowDefinitionError`` naming ``what`` for a bad one (a ``quorum`` above 1 on a gate that is not an
    ``approval``)."""
    try:
        given = Policy.given(what, **fields)
    except ValueError as exc:
        raise WorkflowDefinitionError(str(exc)) from None
    if given.get("quorum", 1) > 1 and not approval:
        raise WorkflowDefinitionError(f"{what}: quorum counts approvals; only approve() takes one above 1.")
    return given or None


def signal_id(name: Any, what: str) -> str:
    if not is_valid_signal_name(name):
        builder = current_builder()
        where = f"workflow {builder.workflow_name}, node {builder.next_id()} ({what})" if builder else what
        raise WorkflowDefinitionError(
            f"{where}: the signal name must be {SIGNAL_NAME_RULE}; got {name!r}. Rename the gate."
        )
    return str(name)


def add_gate(builder: Builder, spec: SignalSpec, output_hints: tuple[Any, ...],
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


@contextlib.contextmanager
def building(builder: Builder) -> Iterator[Builder]:
    stack = _context.__dict__.setdefault("stack", [])
    stack.append(builder)
    try:
        yield builder
    finally:
        stack.pop()


def check_sections(builder: Builder) -> None:
    for section in builder.sections:
        section.check_complete()


def bind_outputs(builder: Builder, owner: str, result: Any) -> Binding | tuple[Binding, ...] | None:
    if result is None:
        return None
    if isinstance(result, tuple):
        return tuple(builder.bind(owner, f"output {i}", r, Any)[0] for i, r in enumerate(result))
    return builder.bind(owner, "output", result, Any)[0]
