"""What a gate kind is: the ``GateKind`` base class every kind module subclasses (pure: no widgets imported)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from gatewidgets import formatting
from gatewidgets.models.signal import Signal, SignalKind
from gatewidgets.types import GateFile

if TYPE_CHECKING:  # pragma: no cover
    from gatewidgets.dsl import Node, SignalSpec
    from gatewidgets.models.types import LiteralType
    from gatewidgets.widgets.gate import GateWidget

__all__ = ["GateKind", "DagStyle", "NO_DEFAULT"]


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class DagStyle:
    """How ``widgets.dag`` draws a node of this kind: corner radius and SVG dash pattern ("" for solid)."""

    rx: int = 18
    dash: str = "4 2"


class GateKind:
    """One kind of gate: builder, timeout policy, resolution, card control, text and DAG style.

    Subclass it in one module, then ``kinds.register(MyKind())``. ``name`` is the stored
    ``Signal.kind`` value and the gate node's ``Node.kind``.
    """

    name: ClassVar[str]
    dag_style: ClassVar[DagStyle] = DagStyle()
    ends_by_itself: ClassVar[bool] = False  # a sleep: no value is set, it is ended (early)

    @property
    def signal_kind(self) -> SignalKind:
        return SignalKind(self.name)

    # -- timeout policy ---------------------------------------------------------------------
    def timeout_value(self, spec: SignalSpec) -> tuple[Any, bool]:
        """What the deadline stores: ``(value, True)``, or ``(None, False)`` for no value."""
        return None, False

    def timeout_fails(self, spec: SignalSpec) -> bool:
        """Whether reaching the deadline fails the node (``GateTimeoutError``)."""
        return True

    # -- resolution -------------------------------------------------------------------------
    def resolve(self, spec: SignalSpec, signal: Signal, upstream: Callable[[], Any], where: str) -> Any:
        """The node's output once ``signal`` is set or timed out; raise a ``GateError`` to fail the node."""
        return signal.value

    def context(self, node: Node, upstream: Callable[[], Any]) -> dict[str, Any] | None:
        """What the card of the reached gate ``node`` shows besides the signal (stored as its context), or None;
        ``upstream()`` is the value bound to the node's ``upstream`` input."""
        return None

    # -- stores without kinds (Flyte) ---------------------------------------------------------
    def claims(self, literal_type: LiteralType) -> bool:
        """Whether a Flyte signal of ``literal_type`` (which records no kind) is of this kind."""
        return False

    # -- card ----------------------------------------------------------------------------------
    def control(self, card: GateWidget, signal: Signal) -> list[Any]:
        """The widgets of ``card`` (a ``GateWidget``) that answer ``signal``; imports ipywidgets lazily."""
        return card._value_controls(signal)

    def header_type(self, signal: Signal) -> str:
        """The type shown in the card's header."""
        return str(signal.type)

    def timing_label(self, signal: Signal) -> str | None:
        """The card's deadline label; ``None`` shows nothing without a deadline."""
        return "time left"

    # -- text ----------------------------------------------------------------------------------
    def waiting_text(self, signal: Signal) -> str:
        """What a waiting gate waits for, in a sentence: ``Gate x is waiting for <this>.``"""
        return str(signal.type)

    def value_text(self, signal: Signal, limit: int = 200) -> str:
        """The decided value, as a card or a message reads it (files by their names)."""
        value = signal.value
        if isinstance(value, GateFile):
            return f"file {value.name}"
        if isinstance(value, list) and value and all(isinstance(v, GateFile) for v in value):
            return "files " + ", ".join(v.name for v in value)
        return formatting.short(value, limit)

    def set_text(self, signal: Signal) -> str:
        """What ``%gate set`` / the CLI says after setting the signal."""
        return f"set to {formatting.short(signal.value, 80)}"

    def to_json(self, signal: Signal) -> dict[str, Any]:
        """Kind-specific fields of a notification's JSON (``actions`` paths under ``path``)."""
        return {}

    def actions(self, path: str) -> dict[str, str]:
        """HTTP paths, besides ``set``, that answer a signal of this kind."""
        return {}

    def __repr__(self) -> str:
        return f"<gate kind {self.name}>"
