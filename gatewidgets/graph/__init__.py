"""The graph model of a workflow and the public builder API gate kinds use.

``Node``, ``SignalSpec``, bindings (``Ref``, ``Const``, ``Many``), ``Condition`` (:mod:`.model`), and
``Promise`` and the ``Builder`` that collects nodes while a workflow body runs (:mod:`.builder`). A kind's
builder function calls :func:`require_builder`, :func:`signal_id`, :func:`timeout_of` and :func:`add_gate`.
Imports nothing above the core (no kinds, no engine, no faces): the decorators live in :mod:`gatewidgets.dsl`.
"""
from gatewidgets.graph.builder import (
    Builder,
    Promise,
    add_gate,
    bind_outputs,
    building,
    check_compatible,
    check_sections,
    current_builder,
    literal_type_of,
    policy_of,
    require_builder,
    signal_id,
    timeout_of,
)
from gatewidgets.graph.model import (
    NO_DEFAULT,
    Binding,
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

__all__ = [
    "Ref", "Const", "Many", "Binding", "NodeKind", "SignalSpec", "Node", "ChildSpec", "BranchSpec", "Condition",
    "Promise", "Builder", "NO_DEFAULT", "current_builder", "require_builder", "signal_id", "timeout_of",
    "policy_of", "add_gate", "building", "check_sections", "bind_outputs", "check_compatible", "literal_type_of",
]
