"""The base of the stores that cannot push (Flyte, Flyte 2, a Jupyter server's HTTP API): they poll."""
from __future__ import annotations

import itertools
import threading
from abc import ABC, abstractmethod
from typing import Any, Callable, Iterable, Mapping

from gatewidgets.models.common import Sort
from gatewidgets.models.filters import Filter
from gatewidgets.models.signal import Signal
from gatewidgets.store.base import ExecKey, Listener, Listeners, StoreEvent, page_signals, poll_until
from gatewidgets.types import GateType

__all__ = ["PollingStore"]


class PollingStore(ABC):
    """Subscribers, heard at once of the changes made through this store and, by a poller thread started with
    the first subscriber, of the changes made elsewhere every ``interval`` seconds (:meth:`poll_once`)."""

    def __init__(self, interval: float, poller: str) -> None:
        self._interval = interval
        self._poller = poller  # the poller thread's name
        self._listeners = Listeners(self, self._poll)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)  # the ids of the events this store makes up

    @abstractmethod
    def poll_once(self) -> list[StoreEvent]:
        """Look once at what this store watches; dispatch and return what changed since the last look."""

    @abstractmethod
    def _matching(self, key: ExecKey | None, project: str | None, domain: str | None,
                  filters: list[Filter]) -> list[Signal]:
        """Every signal of execution ``key`` (or, when it is None, of the executions this store scans in
        ``project``/``domain``) that passes ``filters``."""

    def list_signals(self, key: ExecKey | None = None, *, project: str | None = None, domain: str | None = None,
                     filters: Iterable[Filter] = (), sort_by: Sort | None = None, limit: int | None = 100,
                     offset: int = 0) -> list[Signal]:
        """Signals of one execution, or across the executions of ``project``/``domain`` this store scans (see its
        class); filters, then limit."""
        return page_signals(self._matching(key, project, domain, list(filters)), sort_by, limit, offset)

    def count_signals(self, key: ExecKey | None = None, *, project: str | None = None, domain: str | None = None,
                      filters: Iterable[Filter] = ()) -> int:
        """How many signals :meth:`list_signals` would return without a limit."""
        return len(self._matching(key, project, domain, list(filters)))

    def live_type(self, key: ExecKey, signal_id: str) -> tuple[str, GateType] | None:
        """None: no execution of this store runs in this process."""
        return None

    def gate_type(self, key: ExecKey, signal_id: str, record: Mapping[str, Any]) -> GateType:
        """The ``GateType`` of a signal, rebuilt from its type record (no live type: see :meth:`live_type`)."""
        return GateType.from_record(dict(record))

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(events)`` on changes: at once for sets made here, within the poll interval for
        changes made elsewhere (to what this store has seen so far)."""
        return self._listeners.subscribe(listener, self._poller)

    def _dispatch(self, events: list[StoreEvent]) -> None:
        self._listeners.dispatch(events)

    def _poll(self) -> None:
        poll_until(self._closed, self._interval, self.poll_once, repr(self))

    def close(self) -> None:
        """Stop polling."""
        self._closed.set()
        self._listeners.join()
