"""One timer thread for every deadline and sleep of a process, on the monotonic clock."""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from datetime import datetime
from typing import Any, Callable

from gatewidgets.store.base import now

__all__ = ["Timers"]

log = logging.getLogger(__name__)


class Timers:
    """One thread for every deadline and sleep of the process, on the monotonic clock (wall-clock steps do not
    move a deadline once scheduled)."""

    def __init__(self) -> None:
        self._heap: list[list[Any]] = []  # [due, seq, callback (None once cancelled), args]: each its own handle
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def stop(self) -> None:
        """Drop every pending callback and end the timer thread."""
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()

    def schedule(self, when: datetime, callback: Callable[..., None], *args: Any) -> list[Any]:
        """Run ``callback(*args)`` on the timer thread at wall-clock time ``when`` (converted to the monotonic
        clock once, now); returns a handle for :meth:`cancel`. The timer thread is woken only when the new
        entry comes first, so scheduling many far deadlines costs no thread switches."""
        handle = [time.monotonic() + (when - now()).total_seconds(), next(self._seq), callback, args]
        with self._cond:
            heapq.heappush(self._heap, handle)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gatewidgets-timers", daemon=True)
                self._thread.start()
            if self._heap[0] is handle:
                self._cond.notify()
        return handle

    @staticmethod
    def cancel(handle: list[Any]) -> None:
        handle[2] = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopped:
                        return
                    while self._heap and self._heap[0][2] is None:
                        heapq.heappop(self._heap)
                    delay = self._heap[0][0] - time.monotonic() if self._heap else None
                    if delay is not None and delay <= 0:
                        _, _, callback, args = heapq.heappop(self._heap)
                        break
                    self._cond.wait(delay)
            try:
                callback(*args)
            except Exception:
                log.exception("gatewidgets timer callback failed")
