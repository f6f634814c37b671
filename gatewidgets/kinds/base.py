"""What a gate kind is: the ``GateKind`` base class every kind module subclasses, and the plain data it returns
about the answers it offers (``Answer``, ``AnswerField``), which every face renders. Pure: no face imported."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from gatewidgets import formatting
from gatewidgets.graph.model import NO_DEFAULT, Node, SignalSpec
from gatewidgets.models.signal import Signal, SignalKind
from gatewidgets.types import GateFile

if TYPE_CHECKING:  # pragma: no cover
    from gatewidgets.models.types import LiteralType

__all__ = ["GateKind", "DagStyle", "Answer", "AnswerField", "ACTIONS", "NO_DEFAULT", "value_field", "takes_files"]

ACTIONS = ("set", "approve", "reject", "end")  # what an answer does, as GateRemote's verbs name it


@dataclass(frozen=True)
class AnswerField:
    """A typed form an answer is filled in with: the JSON schema of its value (``json_schema`` of a stored
    type record), what it starts with (JSON form; ``NO_DEFAULT`` for nothing) and whether it takes files."""

    schema: dict[str, Any]
    default: Any = NO_DEFAULT
    files: bool = False


@dataclass(frozen=True)
class Answer:
    """One answer a signal's kind offers, as plain data every face renders (a card's button, a webhook's action).

    ``action`` is what it does: ``"set"`` sends ``value`` (JSON form), or with a ``field`` what the field is
    filled with; ``"approve"`` / ``"reject"`` decide an approval (the ``field``, if any, edits the value
    approved); ``"end"`` ends a sleep. ``comment``: it takes a reason. ``style``: ``"primary"``,
    ``"success"``, ``"danger"``, ``"warning"`` or ``"info"``.
    """

    label: str
    style: str = "primary"
    value: Any = None
    field: AnswerField | None = None
    comment: bool = False
    action: str = "set"

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"Answer {self.label!r}: action must be one of {ACTIONS}; got {self.action!r}.")


@dataclass(frozen=True)
class DagStyle:
    """How ``widgets.dag`` draws a node of this kind: corner radius and SVG dash pattern ("" for solid)."""

    rx: int = 18
    dash: str = "4 2"


class GateKind:
    """One kind of gate: builder, timeout policy, resolution, the answers it offers, text and DAG style.

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

    # -- what a face shows ------------------------------------------------------------------------
    def answers(self, signal: Signal) -> list[Answer]:
        """The answers ``signal`` takes, as data the faces render: by default a form for its type and Submit."""
        default = signal.default if signal.has_default else NO_DEFAULT
        return [Answer("Submit", "primary", field=value_field(signal, default))]

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

    def __repr__(self) -> str:
        return f"<gate kind {self.name}>"


def value_field(signal: Signal, default: Any = NO_DEFAULT) -> AnswerField:
    """The form for a value of ``signal``'s own type (files: an upload), starting from ``default`` (JSON form)."""
    schema = (signal.type_record or {}).get("json_schema") or {}
    return AnswerField(schema, default, files=takes_files(signal))


def takes_files(signal: Signal) -> bool:
    """A ``GateFile`` signal, or a list of files."""
    lt = signal.type
    return lt.blob_format is not None or (lt.collection_type is not None and lt.collection_type.blob_format is not None)
