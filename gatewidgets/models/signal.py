"""The ``Signal`` record returned by ``GateRemote.list_signals``: flyteidl's fields plus state and audit."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gatewidgets.errors import UnknownGateKindError
from gatewidgets.models.execution import WorkflowExecutionIdentifier
from gatewidgets.models.policy import Approval, Policy, approvals_of, evidence_hash
from gatewidgets.models.types import LiteralType


class SignalState(str, enum.Enum):
    """``UPCOMING`` declared, gate not reached; ``PENDING`` gate waiting; then one of the closed states."""

    UPCOMING = "UPCOMING"
    PENDING = "PENDING"
    SET = "SET"
    TIMED_OUT = "TIMED_OUT"
    CANCELLED = "CANCELLED"

    @property
    def is_open(self) -> bool:
        return self in (SignalState.UPCOMING, SignalState.PENDING)

    def __str__(self) -> str:
        return self.value


_OPEN_NAMES: dict[str, set[str]] = {"SignalKind": set(), "Via": set()}  # names registered beyond the members


def register_name(enum_cls: type[SignalKind] | type[Via], name: str) -> None:
    """Make ``name`` a value of the open enum ``enum_cls``: a kind's name (``gatewidgets.kinds.register`` does
    this) or a new face's ``Via``. Models import nothing above them; what is registered fills this."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"{enum_cls.__name__}: a name must be a non-empty string without spaces around it; "
                         f"got {name!r}.")
    _OPEN_NAMES[enum_cls.__name__].add(name)


def unregister_name(enum_cls: type[SignalKind] | type[Via], name: str) -> None:
    """Forget a name :func:`register_name` added (the members built in stay)."""
    _OPEN_NAMES[enum_cls.__name__].discard(name)


def _open_member(enum_cls: Any, value: object) -> Any:
    """The member for a registered name, made on first use (``_missing_`` of an open enum), or None."""
    if not isinstance(value, str) or value not in _OPEN_NAMES[enum_cls.__name__]:
        return None
    member = str.__new__(enum_cls, value)
    member._name_, member._value_ = value.upper(), value
    return enum_cls._value2member_map_.setdefault(value, member)


def kind_named(name: Any) -> SignalKind:
    """The ``SignalKind`` of the registered kind ``name`` (a str or ``SignalKind``); ``UnknownGateKindError``
    when no kind of that name is registered (also one that was, then unregistered)."""
    value = getattr(name, "value", name)
    if not isinstance(value, str) or value not in _OPEN_NAMES["SignalKind"]:
        raise UnknownGateKindError(
            f"Unknown gate kind {value!r}: the registered kinds are {sorted(_OPEN_NAMES['SignalKind'])}. "
            "Register it with gatewidgets.kinds.register(...) before using it."
        )
    return SignalKind(value)


class SignalKind(str, enum.Enum):
    """What kind of gate waits for the signal: the name of a kind in the ``gatewidgets.kinds`` registry.

    Open: the built-ins are members; ``SignalKind(name)`` of another registered kind (``kinds.register``
    calls :func:`register_name`) is a member made on first use, so a new kind needs no edit here and
    models import no kind; an unregistered name is a ``ValueError``.
    """

    APPROVE = "approve"
    INPUT = "input"
    SLEEP = "sleep"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def _missing_(cls, value: object) -> SignalKind | None:
        return _open_member(cls, value)  # type: ignore[no-any-return]


class Via(str, enum.Enum):
    """The face through which a signal was set.

    Open the same way as :class:`SignalKind`: a new face registers its name with
    ``register_name(Via, "slack")`` and records sets through ``GateRemote.with_face("slack")``, with no
    edit here. Both name what plugs in from above (a kind, a face), so both are open; both refuse a name
    nothing registered (a typo must not be stored as audit data).
    """

    WIDGET = "widget"
    MAGIC = "magic"
    API = "api"
    CLI = "cli"
    HTTP = "http"
    TIMEOUT = "timeout"
    TEST = "test"  # an answers file (gatewidgets.answers)

    def __str__(self) -> str:
        return self.value

    @classmethod
    def _missing_(cls, value: object) -> Via | None:
        return _open_member(cls, value)  # type: ignore[no-any-return]


@dataclass(frozen=True, order=True)
class SignalIdentifier:
    """``signal_id`` within one execution, as flyteidl names it."""

    signal_id: str
    execution_id: WorkflowExecutionIdentifier

    def __str__(self) -> str:
        return f"{self.execution_id}/{self.signal_id}"


@dataclass(frozen=True)
class Signal:
    """One signal: what a gate waits for, and once closed, what it got, from whom and how."""

    id: SignalIdentifier
    kind: SignalKind
    type: LiteralType
    state: SignalState
    value: Any
    node_id: str
    description: str | None
    created_at: datetime
    waiting_since: datetime | None
    deadline: datetime | None
    set_at: datetime | None
    set_by: str | None
    via: Via | None
    type_record: dict[str, Any] | None = None
    context: dict[str, Any] | None = None  # evidence, edit_type, original, comment, approved_value
    # where the decision stands for the reader as the server that sent the signal judged it (the signals API's
    # ``decision``, for its authenticated user); None for a signal read from a store
    decision: dict[str, Any] | None = None

    @property
    def signal_id(self) -> str:
        return self.id.signal_id

    @property
    def execution_name(self) -> str:
        return self.id.execution_id.name

    @property
    def evidence(self) -> Evidence | None:
        """What an approval card shows of the value to approve (captured when the gate was reached)."""
        return Evidence.from_dict((self.context or {}).get("evidence"))

    @property
    def editable(self) -> bool:
        """An ``approve(..., editable=True)`` gate: the approver may change the value."""
        return bool((self.context or {}).get("edit_type"))

    @property
    def description_format(self) -> str:
        """How ``description`` is written: ``"markdown"`` (the default), or ``"text"`` (shown as written)."""
        return str((self.context or {}).get("description_format", "markdown"))

    @property
    def edit_type(self) -> dict[str, Any] | None:
        """The stored type record of the value an editable approval passes on."""
        return (self.context or {}).get("edit_type")

    @property
    def has_default(self) -> bool:
        """A ``wait_for_input(..., default=...)`` gate (the default is stored in JSON form)."""
        return "default" in (self.context or {})

    @property
    def default(self) -> Any:
        """The gate's default in JSON form (None when it has none; see :attr:`has_default`)."""
        return (self.context or {}).get("default")

    @property
    def original(self) -> Any:
        """The upstream value (JSON form) an editable approval was offered, once its gate was reached."""
        return (self.context or {}).get("original")

    @property
    def comment(self) -> str | None:
        """The reason given with an approval or rejection."""
        return (self.context or {}).get("comment")

    @property
    def evidence_hash(self) -> str | None:
        """A short hash of the evidence shown (pass it back with a decision: a changed evidence is refused): of the
        evidence as stored, so a signal read over HTTP (whose evidence arrives as shown) keeps the store's."""
        context = self.context or {}
        return context.get("evidence_hash") or evidence_hash(context.get("evidence"))

    @property
    def policy(self) -> Policy | None:
        """Who may answer (assignees, quorum, self-approval), as launched; None: anyone who can reach it."""
        return Policy.from_dict((self.context or {}).get("policy"))

    @property
    def approvals(self) -> list[Approval]:
        """The approvals counted towards a quorum (the latest per person), oldest first."""
        return approvals_of(self.context)

    @property
    def identity_source(self) -> str | None:
        """How the identity of ``set_by`` was established (``server``, ``hub``, ``os``, ...), once set."""
        return (self.context or {}).get("identity_source")

    @property
    def approved_value(self) -> Any:
        """The value an approver changed an editable approval to (JSON form), or None if unchanged."""
        return (self.context or {}).get("approved_value")


@dataclass(frozen=True)
class Evidence:
    """A rendered value, stored with its signal: plain text, sanitised HTML, at most one PNG (base64)."""

    text: str
    html: str | None = None
    png: str | None = None
    kind: str = "text"  # text, number, table, tree, image, file, html

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "html": self.html, "png": self.png, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: Any) -> Evidence | None:
        """Evidence back from :meth:`to_dict` (None for no evidence); as read from a store or a wire, so a
        field of another type is left out, an unknown key ignored."""
        if not data or not isinstance(data, dict):
            return None
        fields = {k: data.get(k) if isinstance(data.get(k), str) else None for k in ("text", "html", "png", "kind")}
        return cls(text=fields["text"] or "", html=fields["html"], png=fields["png"], kind=fields["kind"] or "text")


@dataclass(frozen=True)
class SignalEvent:
    """One entry of a signal's history (created, reached, set, timed_out, cancelled)."""

    id: int
    at: datetime
    execution_id: WorkflowExecutionIdentifier
    signal_id: str | None
    node_id: str | None
    kind: str
    state: str | None
    value: Any
    set_by: str | None
    via: str | None
    detail: dict[str, Any] | None = None  # comment, original and approved value of a decision
