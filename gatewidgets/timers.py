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
        self._heap: list[tuple[float, int, list[Any]]] = []
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

    def schedule(self, when: datetime, callback: Callable[[], None]) -> list[Any]:
        """Run ``callback`` on the timer thread at wall-clock time ``when`` (converted to the monotonic clock
        once, now); returns a handle for :meth:`cancel`."""
        handle = [callback]
        due = time.monotonic() + (when - now()).total_seconds()
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), handle))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gatewidgets-timers", daemon=True)
                self._thread.start()
            self._cond.notify()
        return handle

    @staticmethod
    def cancel(handle: list[Any]) -> None:
        handle[0] = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopped:
                        return
                    while self._heap and self._heap[0][2][0] is None:
                        heapq.heappop(self._heap)
                    delay = self._heap[0][0] - time.monotonic() if self._heap else None
                    if delay is not None and delay <= 0:
                        callback = heapq.heappop(self._heap)[2][0]
                        break
                    self._cond.wait(delay)
            try:
                callback()
            except Exception:
                log.exception("gatewidgets timer callback failed")
