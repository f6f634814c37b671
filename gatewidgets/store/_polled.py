"""What the stores on a Flyte server share (Flyte 1 admin, Flyte 2 run service): neither can push.

:class:`PolledStore` keeps the listeners and a poller thread that calls ``poll_once`` every
``flyte_poll_interval`` seconds, and lists signals from a subclass's ``_matching``; the
functions below apply, client-side, the filters and sort orders the server cannot.
"""
from __future__ import annotations

import enum
import itertools
import logging
import threading
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from gatewidgets.models.common import Sort, SortOrdering
from gatewidgets.models.execution import WorkflowExecutionIdentifier
from gatewidgets.models.filters import Filter
from gatewidgets.models.signal import Signal
from gatewidgets.store.base import StoreEvent

__all__ = ["PolledStore", "FIELDS", "check_filters", "matches", "parse_time"]

log = logging.getLogger(__name__)

ExecKey = WorkflowExecutionIdentifier

FIELDS = {"state", "kind", "signal_id", "node_id", "created_at", "set_at", "set_by", "via", "execution",
          "execution_name", "project", "domain", "waiting_since", "deadline"}
_TIMES = {"created_at", "set_at", "waiting_since", "deadline"}


class PolledStore:
    """Listeners, a poller thread and signal listing for a store whose server cannot push changes."""

    path: str

    def __init__(self, flyte_poll_interval: float) -> None:
        if not flyte_poll_interval > 0:
            raise ValueError(f"flyte_poll_interval must be positive seconds, got {flyte_poll_interval!r}")
        self.flyte_poll_interval = float(flyte_poll_interval)
        self._listeners: list[Callable[[list[StoreEvent]], None]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._closed = threading.Event()
        self._poller: threading.Thread | None = None

    def close(self) -> None:
        """Stop polling."""
        self._closed.set()
        if self._poller is not None and self._poller is not threading.current_thread():
            self._poller.join(timeout=5)

    def _matching(self, key: ExecKey | None, project: str | None, domain: str | None,
                  filters: list[Filter]) -> list[Signal]:
        raise NotImplementedError

    def poll_once(self) -> list[StoreEvent]:
        """Read the server once and dispatch what changed since the last poll."""
        raise NotImplementedError

    def list_signals(self, key: ExecKey | None = None, *, project: str | None = None, domain: str | None = None,
                     filters: Iterable[Filter] = (), sort_by: Sort | None = None, limit: int | None = 100,
                     offset: int = 0) -> list[Signal]:
        """Signals of one execution, or of every running execution of ``project``/``domain``; filters, then limit."""
        rows = self._matching(key, project, domain, list(filters))
        if sort_by is not None:
            rows.sort(key=lambda s: _sort_key(_field(s, sort_by.key)),
                      reverse=sort_by.direction == SortOrdering.DESCENDING)
        rows = rows[offset:]
        return rows if limit is None else rows[:limit]

    def count_signals(self, key: ExecKey | None = None, *, project: str | None = None, domain: str | None = None,
                      filters: Iterable[Filter] = ()) -> int:
        """How many signals :meth:`list_signals` would return without a limit."""
        return len(self._matching(key, project, domain, list(filters)))

    def subscribe(self, listener: Callable[[list[StoreEvent]], None]) -> Callable[[], None]:
        """Call ``listener(events)`` on changes: at once for sets made here, within
        ``flyte_poll_interval`` for changes made elsewhere (executions and signals seen so far)."""
        with self._lock:
            self._listeners.append(listener)
            if self._poller is None:
                self._poller = threading.Thread(target=self._poll, name="gatewidgets-flyte-poller", daemon=True)
                self._poller.start()

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _dispatch(self, events: list[StoreEvent]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(events)
            except Exception:
                log.exception("gatewidgets store listener %r failed", listener)

    def _poll(self) -> None:
        while not self._closed.wait(self.flyte_poll_interval):
            try:
                self.poll_once()
            except Exception:  # the server unreachable for a moment: try again next round
                log.warning("gatewidgets could not poll %s", self.path, exc_info=True)


# -- client-side filters ------------------------------------------------------------------

def check_filters(filters: Iterable[Filter]) -> None:
    """``ValueError`` for a filter on a field signals do not have."""
    for f in filters:
        if f.key not in FIELDS:
            raise ValueError(f"Cannot filter signals on {f.key!r}; use one of {sorted(FIELDS)}.")


def parse_time(text: str | None) -> datetime | None:
    """An ISO-8601 time, or ``None`` for none or nonsense."""
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _field(signal: Signal, key: str) -> Any:
    ex = signal.id.execution_id
    scope = {"execution": ex.name, "execution_name": ex.name, "project": ex.project, "domain": ex.domain}
    value = scope[key] if key in scope else getattr(signal, key)
    return value.value if isinstance(value, enum.Enum) else value


def _sort_key(value: Any) -> tuple[int, Any]:
    return (value is None, value if value is not None else 0)


def matches(signal: Signal, f: Filter) -> bool:
    """Whether ``signal`` passes the filter ``f``."""
    actual = _field(signal, f.key)
    if f.function == "value_in":
        return actual is not None and str(actual) in f.value
    if f.function == "contains":
        return actual is not None and str(f.value) in str(actual)
    if actual is None:
        return f.function == "neq"
    expected: Any = f.value
    if f.key in _TIMES:
        try:
            expected = datetime.fromisoformat(str(f.value).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"Filter on {f.key} needs an ISO-8601 time, got {f.value!r}.") from None
        if expected.tzinfo is None:
            expected = expected.replace(tzinfo=timezone.utc)
    else:
        actual = str(actual)
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "eq": lambda a, b: a == b, "neq": lambda a, b: a != b, "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
    if f.function not in ops:
        raise ValueError(f"Unknown filter function {f.function!r}.")
    return ops[f.function](actual, expected)
