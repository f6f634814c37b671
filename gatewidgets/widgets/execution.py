"""``ExecutionWidget``: one execution, live — status, elapsed time, DAG, gate cards, result."""
from __future__ import annotations

import html
import threading
from typing import Any, Callable

import ipywidgets as w

from gatewidgets.engine import Execution, ExecutionEvent
from gatewidgets.models.execution import ExecutionStatus
from gatewidgets.models.signal import SignalState
from gatewidgets.remote import GateRemote
from gatewidgets.settings import settings
from gatewidgets.widgets._sync import Debouncer, clock, human
from gatewidgets.widgets.dag import dag_html, topological_order
from gatewidgets.widgets.gate import GateWidget, remote_for
from gatewidgets.widgets.notifier import GateNotifier
from gatewidgets.widgets.style import stylesheet

__all__ = ["ExecutionWidget", "ExecutionView", "header_html", "result_html"]


def header_html(workflow: str, ident: object, status: ExecutionStatus, timing: str, label: str | None = None) -> str:
    """The header line of an execution: workflow, id, a status badge (``label`` or the status), timing."""
    return (f'<b>{html.escape(workflow)}</b> · <code>{html.escape(str(ident))}</code> · '
            f'<span class="gatewidgets-status gw-status gw-status-{status.value}">{html.escape(label or status.value)}'
            f'</span> · {html.escape(timing)}')


def result_html(status: ExecutionStatus, outputs: Any, error: str, details: str) -> str:
    """How an execution ended: its outputs, or the error (one line) with ``details`` (a traceback) folded."""
    if status is ExecutionStatus.SUCCEEDED:
        return f'<div class="gatewidgets-outputs"><b>Outputs:</b> <code>{html.escape(repr(outputs))}</code></div>'
    if not status.is_terminal:
        return ""
    return (f'<div class="gatewidgets-error gw-error-text"><b>{status.value}:</b> '
            f'{html.escape(error)}<details><summary>traceback</summary>'
            f'<pre class="gw-traceback">{html.escape(details)}</pre></details></div>')


class ExecutionView(w.VBox):
    """The parts of an execution's widget: header, DAG, gate cards, result, gate notifier."""

    # close() also runs on a view whose __init__ raised (ipywidgets' __del__ closes every widget): what
    # close() reads is made first thing in __init__, before anything can fail, a subscription not made yet
    # is None, and a view whose __init__ never started (called with wrong arguments) has nothing to undo
    _unsubscribe: Callable[[], None] | None = None

    def __init__(self, **kwargs: Any) -> None:
        self._lock = threading.RLock()
        self.cards: dict[str, GateWidget] = {}
        super().__init__(**kwargs)
        self.add_class("gatewidgets-execution")
        self.header = w.HTML()
        self.dag = w.HTML()
        self.dag.add_class("gatewidgets-dag-widget")
        self.gates = w.VBox()
        self.result = w.HTML()
        self.notifier = GateNotifier()
        self.children = [stylesheet(), self.header, self.dag, self.gates, self.result, self.notifier]

    def gate(self, signal_id: str) -> GateWidget:
        """The card of a gate that was reached (``KeyError`` if not yet)."""
        return self.cards[signal_id]


class ExecutionWidget(ExecutionView):
    """The live view of an in-kernel :class:`Execution`.

    Shows the workflow name, execution id, status and elapsed time, an SVG DAG with nodes
    coloured by state, a :class:`GateWidget` card per gate reached, and the outputs or
    the error with its traceback. Updates come from the execution's events (any thread).
    """

    def __init__(self, execution: Execution, remote: GateRemote | None = None, **kwargs: Any) -> None:
        self._redraw = Debouncer(self._draw_dag, delay=0.05)  # what close() reads, first (see _unsubscribe)
        super().__init__(**kwargs)
        self.execution = execution
        self.remote = remote_for(remote, execution.id.project, execution.id.domain)
        self._unsubscribe = execution.subscribe(self._on_event)
        self._draw_dag()
        self._sync_cards()
        self._show_end()
        self.tick()
        if not execution.done():
            clock.add(self)

    def gate(self, signal_id: str) -> GateWidget:
        """The card of a gate that was reached (``KeyError`` if not yet).

        ``await ex.reached(...)`` returns once the store has the gate waiting, which can be
        just before its ``gate_waiting`` event reaches this view: a card not added yet is
        added now, from the store.
        """
        if signal_id not in self.cards:
            self._sync_cards()
        return super().gate(signal_id)

    def close(self) -> None:
        if "_redraw" not in vars(self):  # __init__ never started (see ExecutionView._unsubscribe)
            super().close()
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._redraw.cancel()
        clock.discard(self)
        for card in list(self.cards.values()):
            card.close()
        super().close()

    # -- updates (any thread) ------------------------------------------------------------
    def _on_event(self, event: ExecutionEvent) -> None:
        if event.kind == "gate_waiting" and event.signal_id is not None:
            self._add_card(event.signal_id)
            if settings.notify:
                self.notifier.announce(f"Gate {event.signal_id!r} of {self.execution.workflow.name} "
                                       f"({self.execution.name}) is waiting for you.")
        if event.kind == "finished":
            self._draw_dag()
            self._sync_cards()
            self._show_end()
            self.tick()
            clock.discard(self)
        else:
            self._redraw.trigger()

    def _add_card(self, signal_id: str) -> None:
        with self._lock:
            if signal_id in self.cards:
                return
            signal = self.remote.get_signal(signal_id, self.execution.name, self.execution.id.project,
                                            self.execution.id.domain)
            card = GateWidget(signal, remote=self.remote)
            self.cards[signal_id] = card
            self.gates.children = (*self.gates.children, card)

    def _sync_cards(self) -> None:
        """Add cards for every gate already reached (at creation, and at the end)."""
        for signal in self.execution.signals():
            if signal.state is not SignalState.UPCOMING and signal.signal_id not in self.cards:
                self._add_card(signal.signal_id)
            elif signal.signal_id in self.cards:
                self.cards[signal.signal_id].refresh()

    def _draw_dag(self) -> None:
        nodes = dict(self.execution.nodes)  # grows as @dynamic nodes expand
        svg = dag_html(nodes, dict(self.execution.node_states), topological_order(nodes), dict(self.execution.children))
        with self._lock:
            if svg != self.dag.value:
                self.dag.value = svg

    def _show_end(self) -> None:
        ex = self.execution
        details = ex.error_traceback or (f"{type(ex.error).__name__}: {ex.error}" if ex.error else "")
        value = result_html(ex.status, ex.outputs, str(ex.error), details)
        with self._lock:
            self.result.value = value

    def tick(self) -> None:
        """Refresh status and elapsed time (the shared clock calls it every second)."""
        ex = self.execution
        value = header_html(ex.workflow.name, ex.id, ex.status, f"elapsed {human(ex.elapsed)}")
        with self._lock:
            if value != self.header.value:
                self.header.value = value
