"""The builder API of the graph: ``Promise`` (a node's value to come), the ``Builder`` that collects nodes while a
workflow body runs, and what a gate kind's builder function calls: :func:`require_builder`, :func:`signal_id`,
:func:`timeout_of`, :func:`policy_of` and :func:`add_gate`."""
from __future__ import annotations

import contextlib
import threading
import typing
from datetime import timedelta
from typing import Any, Iterator

from gatewidgets.errors import WorkflowDefinitionError
from gatewidgets.graph.model import Binding, Condition, Const, Many, Node, Ref, SignalSpec
from gatewidgets.models.names import SIGNAL_NAME_RULE, is_valid_signal_name
from gatewidgets.models.policy import Policy
from gatewidgets.types import GateType

__all__ = ["Promise", "Builder", "current_builder", "require_builder", "signal_id", "timeout_of", "policy_of",
           "add_gate", "building", "check_sections", "bind_outputs", "check_compatible", "literal_type_of"]


def _holds_promise(value: Any) -> bool:
    if isinstance(value, Promise):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_promise(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_promise(v) for v in value.values())
    return False


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
