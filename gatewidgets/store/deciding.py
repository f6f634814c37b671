"""The decision flow of a set, shared by the SQL stores (SQLite, PostgreSQL), each of which supplies its dialect:
one compare-and-set for a signal without a policy; for one with a policy, the judgement of the ballot
(:func:`gatewidgets.models.policy.judge`) under the signal's lock, then a refusal (kept in the history), a
partial approval (kept in the context and the history; the signal stays open) or the set. Beside it, the other
changes a gate makes to its signal under the same lock: reached (``UPCOMING`` becomes ``PENDING``) and timed out."""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Callable, Mapping, NamedTuple

from gatewidgets.errors import GateForbiddenError
from gatewidgets.models.policy import Ballot
from gatewidgets.models.signal import Signal, SignalState, Via
from gatewidgets.settings import settings
from gatewidgets.store.base import ExecKey, StoreEvent, now
from gatewidgets.store.sql import Row, decision_detail, dumps, forbidden, settle, ts

__all__ = ["Decided", "Deciding"]


class Decided(NamedTuple):
    """What a set did, inside its transaction: the signal as it is now (None when refused), the event to announce
    once committed, the refusal to raise once committed, and whether the signal changed."""

    signal: Signal | None
    event: StoreEvent | None
    refusal: GateForbiddenError | None
    changed: bool


class Deciding(ABC):
    """The set, reach and timeout of a SQL store. A store mixing it in supplies its dialect's hooks,
    :attr:`_NO_POLICY` (the SQL condition "its context has no policy"), :meth:`_set_row`, :meth:`_locked_row`,
    :meth:`_assign`, :meth:`_launcher` and :meth:`_keep_approvals` (abstract: a store missing one cannot be
    constructed), and the ``_event``, ``_signal``, ``_refuse_set`` and ``_dispatch`` every SQL store has."""

    @property
    @abstractmethod
    def _NO_POLICY(self) -> str:
        """The SQL condition (``AND ...``) "the signal's context has no policy" (a class attribute)."""

    _event: Callable[..., StoreEvent]
    _signal: Callable[[Row], Signal]
    _refuse_set: Callable[..., Signal]
    _dispatch: Callable[[list[StoreEvent]], None]

    @abstractmethod
    def _set_row(self, conn: Any, key: ExecKey, signal_id: str, fields: tuple[str, str, str, str],
                 detail: dict[str, Any] | None, condition: str) -> Row | None:
        """Set an open signal (``fields``: value, identity, set_by, via) and merge ``detail`` into its context, if
        ``condition`` (SQL) holds too; the row as set, or None."""

    @abstractmethod
    def _locked_row(self, conn: Any, key: ExecKey, signal_id: str) -> Row:
        """The signal's row, locked against other writers until the transaction ends."""

    @abstractmethod
    def _assign(self, conn: Any, key: ExecKey, signal_id: str, columns: Mapping[str, str | None]) -> Row:
        """Set these columns of the signal's row to these values (None: ``NULL``); the row as it is then."""

    @abstractmethod
    def _launcher(self, conn: Any, key: ExecKey) -> str | None:
        """The stored ``launched_by`` (JSON) of the execution."""

    @abstractmethod
    def _keep_approvals(self, conn: Any, key: ExecKey, signal_id: str, approvals: str) -> Row:
        """Replace the ``approvals`` (JSON) in the open signal's context; the row."""

    def _approved_detail(self, recorded: dict[str, Any] | None, ballot: Ballot) -> dict[str, Any]:
        """The detail of an ``approved`` event (a store whose database counts quorums adds what it counts by)."""
        return recorded or {}

    def _refused(self, conn: Any, key: ExecKey, row: Row, who: str | None, source: str | None, via: str,
                 reason: str) -> StoreEvent:
        """Record in the history, in ``conn``'s transaction, that ``who`` (identified by ``source``) was refused a
        decision of the signal of ``row`` and why; the event."""
        return self._event(conn, key, "refused", signal_id=row["signal_id"], node_id=row["node_id"],
                           state=row["state"], set_by=who, via=via,
                           detail=dumps({"reason": reason, **({"identity_source": source} if source else {})}))

    def _decide(self, conn: Any, key: ExecKey, signal_id: str, fields: tuple[str, str, str, str],
                describe: Callable[[Any], str], detail: dict[str, Any] | None, ballot: Ballot | None) -> Decided:
        """Set the signal in ``conn``'s transaction (``fields``: value JSON, identity, set_by, via)."""
        text, identity, set_by, via = fields
        row, recorded = None, decision_detail(ballot, None, detail)
        if ballot is None or ballot.seen is None:  # a signal without a policy: one compare-and-set
            row = self._set_row(conn, key, signal_id, fields, recorded, self._NO_POLICY)
        if row is None:
            current = self._locked_row(conn, key, signal_id)
            if not SignalState(current["state"]).is_open:
                return Decided(self._refuse_set(conn, key, signal_id, identity, describe), None, None, False)
            if ballot is None:
                raise forbidden(key, signal_id, None, "it has a policy; decide through GateRemote, which records "
                                "who decides")
            verdict = settle(current, self._launcher(conn, key), ballot, settings.groups)
            if verdict.same:
                return Decided(self._signal(current), None, None, False)
            if verdict.refused:
                event = self._refused(conn, key, current, ballot.identity.user, ballot.identity.source, via,
                                      verdict.refused)
                return Decided(None, event, forbidden(key, signal_id, ballot, verdict.refused), False)
            if not verdict.passes:  # a partial approval: counted and kept; the signal stays open
                row = self._keep_approvals(conn, key, signal_id, dumps([a.to_dict() for a in verdict.approvals]))
                signal = self._signal(row)
                event = self._event(conn, key, "approved", signal_id=signal_id, node_id=row["node_id"],
                                    state=row["state"], set_by=ballot.identity.user, via=via,
                                    detail=dumps(self._approved_detail(recorded, ballot)), signal=signal)
                return Decided(signal, event, None, True)
            recorded = decision_detail(ballot, verdict, detail)
            row = self._set_row(conn, key, signal_id, fields, recorded, "")
            assert row is not None  # open, under the lock
        signal = self._signal(row)  # before listeners run: a finished execution forgets its live types
        event = self._event(conn, key, "set", signal_id=signal_id, node_id=row["node_id"],
                            state=SignalState.SET.value, value=text, set_by=set_by, via=via,
                            detail=dumps(recorded) if recorded else None, signal=signal)
        return Decided(signal, event, None, True)

    def _settled(self, decided: Decided) -> tuple[Signal, bool]:
        """What a set returns once its transaction committed: its event dispatched, then its refusal raised; else
        the signal and whether it changed."""
        if decided.event is not None:
            self._dispatch([decided.event])
        if decided.refusal is not None:
            raise decided.refusal
        assert decided.signal is not None
        return decided.signal, decided.changed

    def _reach(self, transaction: AbstractContextManager[Any], key: ExecKey, signal_id: str,
               deadline: datetime | None, context: dict[str, Any] | None) -> Signal:
        """``reach_signal`` in ``transaction`` (the store's write transaction, not yet entered)."""
        event = None
        with transaction as conn:
            row = self._locked_row(conn, key, signal_id)
            if context and SignalState(row["state"]).is_open:
                merged = {**json.loads(row["context"] or "{}"), **context}
                row = self._assign(conn, key, signal_id, {"context": dumps(merged)})
            if row["state"] == SignalState.UPCOMING.value:
                row = self._assign(conn, key, signal_id, {"state": SignalState.PENDING.value,
                                                          "waiting_since": ts(now()), "deadline": ts(deadline)})
                event = self._event(conn, key, "reached", signal_id=signal_id, node_id=row["node_id"],
                                    state=SignalState.PENDING.value)
        if event:
            self._dispatch([event])
        return self._signal(row)

    def _time_out(self, transaction: AbstractContextManager[Any], key: ExecKey, signal_id: str, value: Any,
                  has_value: bool) -> Signal:
        """``timeout_signal`` in ``transaction`` (the store's write transaction, not yet entered)."""
        event = None
        with transaction as conn:
            row = self._locked_row(conn, key, signal_id)
            if SignalState(row["state"]).is_open:
                text = dumps(value) if has_value else None
                row = self._assign(conn, key, signal_id, {
                    "state": SignalState.TIMED_OUT.value, "value": text, "identity": text, "set_at": ts(now()),
                    "set_by": None, "via": Via.TIMEOUT.value})
                event = self._event(conn, key, "timed_out", signal_id=signal_id, node_id=row["node_id"],
                                    state=SignalState.TIMED_OUT.value, value=text, via=Via.TIMEOUT.value)
        if event:
            self._dispatch([event])
        return self._signal(row)
