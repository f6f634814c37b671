"""Gate kinds in one place: the registry of ``GateKind`` objects (approve, input, sleep, and any registered).

``register(kind)`` adds one; ``get(name)`` finds one or raises ``UnknownGateKindError``. A node
of a gate kind has ``Node.kind == kind.name``; its signal has ``Signal.kind == SignalKind(kind.name)``.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from gatewidgets.errors import UnknownGateKindError
from gatewidgets.kinds.base import Answer, AnswerField, DagStyle, GateKind
from gatewidgets.models.signal import SignalKind, register_name, unregister_name

if TYPE_CHECKING:  # pragma: no cover
    from gatewidgets.models.types import LiteralType

__all__ = ["GateKind", "DagStyle", "Answer", "AnswerField", "register", "unregister", "get", "find", "names", "infer",
           "of"]

_registry: dict[str, GateKind] = {}
_lock = threading.Lock()


def register(kind: GateKind) -> GateKind:
    """Add ``kind`` to the registry (replacing none: a name is registered once)."""
    name = kind.name
    with _lock:
        known = _registry.get(name)
        if known is not None and type(known) is not type(kind):
            raise ValueError(f"A gate kind named {name!r} is already registered: {known!r}.")
        _registry[name] = kind
        register_name(SignalKind, name)  # SignalKind(name) is a member from now on
    return kind


def unregister(name: str) -> None:
    """Remove a registered kind (for tests); the built-ins stay."""
    if name in _BUILTIN:
        raise ValueError(f"{name!r} is a built-in gate kind.")
    with _lock:
        _registry.pop(name, None)
        unregister_name(SignalKind, name)


def find(name: Any) -> GateKind | None:
    """The kind registered as ``name`` (a str or ``SignalKind``), or None."""
    return _registry.get(getattr(name, "value", name))


def get(name: Any) -> GateKind:
    """The kind registered as ``name``; ``UnknownGateKindError`` when none is."""
    kind = find(name)
    if kind is None:
        raise UnknownGateKindError(
            f"Unknown gate kind {getattr(name, 'value', name)!r}: the registered kinds are {names()}. "
            "Register it with gatewidgets.kinds.register(...) before using it."
        )
    return kind


def of(thing: Any) -> GateKind:
    """The kind of a ``Signal``, ``SignalSpec`` or ``Node`` (by its ``.kind``)."""
    return get(thing.kind)


def names() -> list[str]:
    return sorted(_registry)


def infer(literal_type: LiteralType) -> GateKind:
    """The kind of a signal whose store records only its type (Flyte): the kind that claims it, else input."""
    for kind in list(_registry.values()):
        if kind.claims(literal_type):
            return kind
    return get("input")


from gatewidgets.kinds.approve import ApproveKind  # noqa: E402
from gatewidgets.kinds.input import InputKind  # noqa: E402
from gatewidgets.kinds.sleep import SleepKind  # noqa: E402

_BUILTIN = ("approve", "input", "sleep")
for _kind in (ApproveKind(), InputKind(), SleepKind()):  # the built-ins, registered in one place
    register(_kind)
