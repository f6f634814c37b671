"""Who waits for which signal, and until when: the one owner of a process's waiting gates and deadlines.

A reached gate is a waiter under its (execution, signal) key, woken once: by the store's event when its
signal is set (:meth:`Waits.take`), or at its deadline by the one timer thread (:class:`Timers`). Whoever
takes the waiter off resolves the gate, so a set racing its deadline resolves it once. A gate whose policy
reminds or escalates also has its next follow-up on that timer (:meth:`Waits.follow_up`), cancelled with its
wait; gates without one hold nothing for it.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from datetime import datetime
from typing import Any, Callable, Protocol

from gatewidgets.dsl import Node
from gatewidgets.models.execution import WorkflowExecutionIdentifier
from gatewidgets.models.signal import Signal
from gatewidgets.store.base import now

__all__ = ["Timers", "Waits", "Waiter"]

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


class Waiter(Protocol):
    """What waits at a gate: an execution (:class:`gatewidgets.engine.gates.ExecutionGates`)."""

    id: WorkflowExecutionIdentifier

    def deadline(self, node: Node) -> None:
        """The gate ``node`` reached its deadline (its wait was taken off)."""

    def resolve_from_store(self, node: Node, signal: Signal | None = None) -> Node | None:
        """The store reports the signal of the gate ``node`` set or timed out (its wait was taken off), with the
        signal when its event carries it; returns the task that became ready."""

    def run(self, node: Node | None) -> None:
        """Run the ready task ``node`` and those it makes ready after it."""

    def follow_up(self, node: Node) -> None:
        """The waiting gate ``node`` has a reminder or an escalation due (on the timer thread)."""


class Waits:
    """Every gate of a process waiting for its signal, with its deadline: registered when reached, taken off
    once (by the signal's set, its deadline, or its execution's end)."""

    def __init__(self) -> None:
        self.timers = Timers()
        self._lock = threading.Lock()
        # (execution key, signal id) -> waiters [execution, node, deadline handle or None]; replaced, not changed
        self._waiting: dict[tuple[WorkflowExecutionIdentifier, str], tuple[list[Any], ...]] = {}
        # (execution key, signal id) -> the timer handle of its next reminder or escalation: only gates with one
        self._follow_ups: dict[tuple[WorkflowExecutionIdentifier, str], list[Any]] = {}

    def __len__(self) -> int:
        """How many gates wait."""
        with self._lock:
            return sum(len(w) for w in self._waiting.values())

    def wait(self, execution: Waiter, node: Node) -> None:
        """``node``, a gate of ``execution``, waits for its signal (registered before the store marks it PENDING,
        so a set in between is not missed)."""
        assert node.signal is not None
        key = (execution.id, node.signal.signal_id)
        with self._lock:
            self._waiting[key] = (*self._waiting.get(key, ()), [execution, node, None])

    def until(self, execution: Waiter, node: Node, deadline: datetime) -> None:
        """The waiting ``node`` times out at ``deadline``: then it is taken off and ``execution.deadline(node)``
        runs on the timer thread. Nothing happens if it no longer waits."""
        assert node.signal is not None
        with self._lock:
            waiter = self._find(execution, node)
            if waiter is not None:  # a plain function: holds no bound method per gate
                waiter[2] = self.timers.schedule(deadline, Waits._deadline_passed, self, execution, node)

    def follow_up(self, execution: Waiter, node: Node, when: datetime) -> None:
        """The waiting ``node`` has a reminder or an escalation due at ``when``: then ``execution.follow_up(node)``
        runs on the timer thread, unless it no longer waits. One per signal: a later call replaces it."""
        assert node.signal is not None
        key = (execution.id, node.signal.signal_id)
        with self._lock:
            if self._find(execution, node) is not None:
                self._cancel_follow_up(key)
                self._follow_ups[key] = self.timers.schedule(when, Waits._follow_up_due, self, execution, node)

    def take(self, execution_id: WorkflowExecutionIdentifier, signal_id: str) -> list[tuple[Waiter, Node]]:
        """Take off every gate waiting for that signal (its deadlines and follow-up cancelled): the caller resolves
        them."""
        with self._lock:
            waiters = self._waiting.pop((execution_id, signal_id), ())
            for waiter in waiters:
                if waiter[2] is not None:
                    Timers.cancel(waiter[2])
            if self._follow_ups:
                self._cancel_follow_up((execution_id, signal_id))
        return [(w[0], w[1]) for w in waiters]

    def take_one(self, execution_id: WorkflowExecutionIdentifier, node: Node) -> bool:
        """Take off ``node``'s wait (its deadline cancelled); whether it still waited (then it is the caller's)."""
        with self._lock:
            return self._remove(execution_id, node)

    def forget(self, execution_id: WorkflowExecutionIdentifier, nodes: list[Node]) -> None:
        """Take off the waits of these gates of execution ``execution_id`` (it ends, or closes them)."""
        with self._lock:
            for node in nodes:
                self._remove(execution_id, node)

    def stop(self) -> None:
        self.timers.stop()

    def _find(self, execution: Waiter, node: Node) -> list[Any] | None:
        assert node.signal is not None
        for waiter in self._waiting.get((execution.id, node.signal.signal_id), ()):
            if waiter[1] is node:
                return waiter
        return None

    def _remove(self, execution_id: WorkflowExecutionIdentifier, node: Node) -> bool:
        # A gate waits under its own (execution, signal) key only: look that up instead of scanning every
        # waiting gate of the process (which made each resume O(all waiting gates)).
        if node.signal is None:
            return False
        key = (execution_id, node.signal.signal_id)
        waiters = self._waiting.get(key, ())
        kept = tuple(w for w in waiters if w[1] is not node)
        if len(kept) == len(waiters):
            return False
        for waiter in waiters:
            if waiter[1] is node and waiter[2] is not None:
                Timers.cancel(waiter[2])
        if kept:
            self._waiting[key] = kept
        else:
            del self._waiting[key]
            if self._follow_ups:
                self._cancel_follow_up(key)
        return True

    def _cancel_follow_up(self, key: tuple[WorkflowExecutionIdentifier, str]) -> None:
        handle = self._follow_ups.pop(key, None)
        if handle is not None:
            Timers.cancel(handle)

    def _deadline_passed(self, execution: Waiter, node: Node) -> None:
        if self.take_one(execution.id, node):
            execution.deadline(node)

    def _follow_up_due(self, execution: Waiter, node: Node) -> None:
        assert node.signal is not None
        key = (execution.id, node.signal.signal_id)
        with self._lock:
            self._follow_ups.pop(key, None)
            waits = self._find(execution, node) is not None
        if waits:
            execution.follow_up(node)
