"""Thread-safe plumbing for live widgets: debounced callbacks, a shared clock, time formatting.

Updates arrive from background threads (executor workers, timer and store-watcher threads).
Widgets only set traits from them (ipywidgets sends a comm message per set); they never
use ``with output:`` off the main thread.
"""
from __future__ import annotations

import logging
import threading
import weakref
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol

log = logging.getLogger(__name__)


class Debouncer:
    """Coalesce bursts of ``trigger()`` calls into one ``callback()`` after ``delay`` seconds."""

    def __init__(self, callback: Callable[[], None], delay: float = 0.05) -> None:
        self._callback = callback
        self._delay = delay
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False

    def trigger(self) -> None:
        with self._lock:
            if self._closed or self._timer is not None:
                return
            self._timer = threading.Timer(self._delay, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
        try:
            self._callback()
        except Exception:  # a failed refresh must not kill the timer thread silently
            log.exception("gatewidgets: debounced widget update failed")

    def cancel(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


class Ticking(Protocol):
    def tick(self) -> None: ...


class Clock:
    """One daemon thread that calls ``tick()`` on registered widgets every ``interval`` seconds."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._items: weakref.WeakSet[Ticking] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def add(self, item: Ticking) -> None:
        with self._lock:
            self._items.add(item)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="gatewidgets-clock", daemon=True)
                self._thread.start()

    def discard(self, item: Ticking) -> None:
        with self._lock:
            self._items.discard(item)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            with self._lock:
                items = list(self._items)
                if not items:
                    self._thread = None
                    return
            for item in items:
                try:
                    item.tick()
                except Exception:
                    log.exception("gatewidgets: clock tick failed")


clock = Clock()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def human(delta: timedelta) -> str:
    """``3d 4h``, ``2h 05m``, ``4m 07s``, ``12s``."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def since(when: datetime | None, now: datetime | None = None) -> timedelta | None:
    if when is None:
        return None
    now = now or utcnow()
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return now - when


def weak_listener(subscribe: Callable[[Callable[[Any], None]], Callable[[], None]],
                  method: Callable[[Any], None]) -> Callable[[], None]:
    """Subscribe a bound ``method`` without keeping its object alive; returns the unsubscribe function.

    Once the object is collected (a widget nobody references) the listener unsubscribes itself,
    so dropped widgets stop listening.
    """
    ref = weakref.WeakMethod(method)

    def listener(events: Any) -> None:
        target = ref()
        if target is not None:
            target(events)

    unsubscribe = subscribe(listener)
    weakref.finalize(method.__self__, unsubscribe)  # type: ignore[attr-defined]
    return unsubscribe


def current_cell() -> tuple[str, int] | None:
    """``(cell id, execution count)`` of the notebook cell running now, or None outside one."""
    if threading.current_thread() is not threading.main_thread():
        return None  # background threads run for no cell in particular
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    ip = get_ipython()
    kernel = getattr(ip, "kernel", None)
    if kernel is None:
        return None
    try:
        parent = kernel.get_parent("shell")
    except Exception:  # an older kernel: no per-channel parents
        parent = getattr(kernel, "_parent_header", None) or {}
    cell = (parent.get("metadata") or {}).get("cellId")
    return (str(cell), int(ip.execution_count)) if cell else None


_by_cell: dict[tuple[str, str], list[tuple[int, weakref.ref[Any]]]] = {}
_by_cell_lock = threading.Lock()


def replace_previous_run(widget: Any, cell: tuple[str, int] | None = None) -> None:
    """Close the widgets of ``widget``'s class that this cell made on an earlier run.

    Re-running a dashboard cell leaves the old widget undisplayed but alive (ipywidgets keeps
    every open widget): closing it stops its store listener and its cards', so re-runs do not
    pile up listeners. ``cell`` defaults to :func:`current_cell` (nothing happens outside a cell).
    """
    cell = cell or current_cell()
    if cell is None:
        return
    key = (type(widget).__qualname__, cell[0])
    with _by_cell_lock:
        entries = [(count, ref) for count, ref in _by_cell.get(key, []) if ref() is not None]
        stale = [ref() for count, ref in entries if count != cell[1]]
        _by_cell[key] = [(count, ref) for count, ref in entries if count == cell[1]] + [(cell[1], weakref.ref(widget))]
    for old in stale:
        if old is not None:
            old.close()
