"""The graph model of a workflow: ``Node`` (a task call or a gate), the ``SignalSpec`` a gate waits for, bindings
(``Ref``, ``Const``, ``Many``), the ``Condition`` of a branch and the specs of branches and child workflows."""
from __future__ import annotations

import enum
import typing
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable

from gatewidgets.errors import WorkflowDefinitionError
from gatewidgets.models.signal import SignalKind, kind_named
from gatewidgets.types import GateType

__all__ = ["Ref", "Const", "Many", "Binding", "NodeKind", "SignalSpec", "Node", "ChildSpec", "BranchSpec",
           "Condition", "NO_DEFAULT"]


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()  # a gate without a default


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
