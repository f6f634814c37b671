"""``StoredExecutionWidget``: the live view of any execution in the store, whatever process runs it."""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus
from gatewidgets.models.signal import SignalState
from gatewidgets.remote import GateRemote, StoreEvent
from gatewidgets.widgets._sync import Debouncer, clock, human, replace_previous_run, utcnow, weak_listener
from gatewidgets.widgets.dag import dag_html, topological_order
from gatewidgets.widgets.execution import ExecutionView, header_html, result_html
from gatewidgets.widgets.gate import GateWidget, remote_for

__all__ = ["StoredExecutionWidget"]

ORPHANED = "(orphaned: its process is gone)"


class StoredExecutionWidget(ExecutionView):
    """The live view of an execution read through a :class:`GateRemote`: one running in another
    process, orphaned, finished long ago, or on a Flyte cluster.

    Shows what :class:`ExecutionWidget` shows — header, SVG DAG, a :class:`GateWidget` card per
    signal reached, outputs or error. Store events (from any process) refresh it; node states
    are not evented, so while the execution runs it is re-read on the shared one-second clock.
    """

    def __init__(self, execution_name: str, project: str | None = None, domain: str | None = None, *,
                 remote: GateRemote | None = None, debounce: float = 0.05, **kwargs: Any) -> None:
        self._closed = False  # what close() reads, first (see ExecutionView._unsubscribe)
        self._soon = Debouncer(self.refresh, delay=debounce)
        super().__init__(**kwargs)
        self.remote = remote_for(remote, project, domain)
        self.execution_name = execution_name
        self.project = project or self.remote.default_project
        self.domain = domain or self.remote.default_domain
        self.record: ExecutionRecord | None = None
        self.orphaned = False
        self._fetching = threading.Lock()  # one refresh at a time
        self._unsubscribe = weak_listener(self.remote.subscribe, self._on_store_events)
        replace_previous_run(self)
        try:
            self.refresh()
        except BaseException:  # an unknown execution, say: leave nothing listening
            self.close()
            raise

    # -- public --------------------------------------------------------------------------
    @property
    def status(self) -> ExecutionStatus | None:
        return self.record.status if self.record is not None else None

    def refresh(self) -> None:
        """Re-read the execution and its signals through the remote and redraw.

        Safe from any thread and never waits for another refresh: a call made while one runs
        schedules a new one shortly instead. ``self._lock`` (traits, cards) is never held while
        calling the remote.
        """
        if not self._fetching.acquire(blocking=False):
            self._soon.trigger()  # try again shortly, to see what changed since that refresh read
            return
        try:
            self._refresh_once()
        finally:
            self._fetching.release()

    def tick(self) -> None:
        """Re-read a running execution soon (the shared clock calls it every second; never blocks)."""
        self._soon.trigger()

    def close(self) -> None:
        if "_soon" not in vars(self):  # __init__ never started (see ExecutionView._unsubscribe)
            super().close()
            return
        with self._lock:
            self._closed = True
            cards = list(self.cards.values())
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._soon.cancel()
        clock.discard(self)
        for card in cards:
            card.close()
        super().close()

    # -- internals (any thread) ----------------------------------------------------------
    def _on_store_events(self, events: list[StoreEvent]) -> None:
        key = (self.project, self.domain, self.execution_name)
        if any((e.execution_id.project, e.execution_id.domain, e.execution_id.name) == key for e in events):
            self._soon.trigger()

    def _refresh_once(self) -> None:
        name, project, domain = self.execution_name, self.project, self.domain
        record = self.remote.get_execution(name, project, domain)
        orphaned = self.remote.is_orphaned(record)
        reached = [s for s in self.remote.list_signals(name, project, domain, limit=None)
                   if s.state is not SignalState.UPCOMING]
        first = self.record is None
        new = {s.signal_id: GateWidget(s, remote=self.remote) for s in reached if s.signal_id not in self.cards}
        for signal in reached:
            if signal.signal_id in self.cards:
                self.cards[signal.signal_id].signal = signal  # cards also follow their own signal's events
        nodes = {n.node_id: n for n in record.nodes}
        svg = dag_html(nodes, {n.node_id: n.state for n in record.nodes}, topological_order(nodes)) if nodes else ""
        header = header_html(record.workflow, record.id, record.status, _timing(record),
                             f"{record.status.value} {ORPHANED}" if orphaned else None)
        error = record.error or ""
        result = result_html(record.status, record.outputs, _last_line(error), error)
        with self._lock:
            if self._closed:
                for card in new.values():
                    card.close()
                return
            self.record, self.orphaned = record, orphaned
            for field, value in ((self.header, header), (self.dag, svg), (self.result, result)):
                if field.value != value:
                    field.value = value
            if new:
                self.cards.update(new)
                self.gates.children = (*self.gates.children, *new.values())
            if record.status.is_terminal or orphaned:  # nothing moves its nodes; store events wake it up
                clock.discard(self)
            else:
                clock.add(self)
        for signal in reached if not first else ():
            if signal.signal_id in new and signal.state is SignalState.PENDING:
                self.notifier.announce(f"Gate {signal.signal_id!r} of {record.workflow} ({record.name}) "
                                       f"is waiting for you.")


def _timing(record: ExecutionRecord) -> str:
    started = _utc(record.created_at)
    if record.finished_at is None:
        return f"elapsed {human(utcnow() - started)}"
    finished = _utc(record.finished_at)
    return f"finished {finished.astimezone():%Y-%m-%d %H:%M:%S} after {human(finished - started)}"


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _last_line(text: str) -> str:
    """The summary of a traceback: its last non-empty line."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
