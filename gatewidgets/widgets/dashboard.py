"""``SignalDashboard``: signals across executions, filtered and paged, refreshing itself."""
from __future__ import annotations

import html
import threading
from typing import Any, Callable

import ipywidgets as w

from gatewidgets.models.signal import Signal, SignalState
from gatewidgets.remote import GateRemote, StoreEvent
from gatewidgets.widgets._sync import Debouncer, replace_previous_run, weak_listener
from gatewidgets.widgets.gate import GateWidget, remote_for
from gatewidgets.widgets.style import stylesheet

__all__ = ["SignalDashboard"]

ALL = "ALL"


class SignalDashboard(w.VBox):
    """Pending signals (by default) of every execution in ``project``/``domain``, or of one.

    Filters: state (a dropdown) and execution name (a text field); ``page_size`` cards per
    page with Previous/Next; a count. Store events — from this process or any other —
    trigger a debounced refresh.
    """

    # close() also runs on a dashboard whose __init__ raised (ipywidgets' __del__ closes every widget): what
    # close() reads is made first thing in __init__, before anything can fail, a subscription not made yet
    # is None, and a dashboard whose __init__ never started (called with wrong arguments) has nothing to undo
    _unsubscribe: Callable[[], None] | None = None

    def __init__(self, project: str | None = None, domain: str | None = None,
                 execution_name: str | None = None, *, remote: GateRemote | None = None,
                 page_size: int = 20, state: SignalState | str | None = SignalState.PENDING,
                 debounce: float = 0.1, **kwargs: Any) -> None:
        # what close() reads, first (see _unsubscribe)
        self.cards: list[GateWidget] = []
        self._debouncer = Debouncer(self.refresh, delay=debounce)
        super().__init__(**kwargs)
        self.add_class("gatewidgets-dashboard")
        self.remote = remote_for(remote, project, domain)
        self.project = project or self.remote.default_project
        self.domain = domain or self.remote.default_domain
        self.page_size = page_size
        self.page = 0
        self._lock = threading.RLock()
        self.state_filter = w.Dropdown(options=[ALL] + [s.value for s in SignalState],
                                       value=SignalState(state).value if state else ALL, description="State",
                                       layout=w.Layout(width="220px"))
        self.execution_filter = w.Text(value=execution_name or "", description="Execution",
                                       placeholder="any", continuous_update=False,
                                       layout=w.Layout(width="300px"))
        self.prev_button = w.Button(description="Previous", icon="arrow-left", layout=w.Layout(width="110px"))
        self.next_button = w.Button(description="Next", icon="arrow-right", layout=w.Layout(width="110px"))
        self.count = w.HTML()
        self.orphans = w.HTML()
        self.orphans.add_class("gatewidgets-orphans")
        self.orphaned: set[str] = set()
        self.cards_box = w.VBox()
        self.prev_button.on_click(lambda _b: self.go(self.page - 1))
        self.next_button.on_click(lambda _b: self.go(self.page + 1))
        self.state_filter.observe(lambda _c: self.go(0), names="value")
        self.execution_filter.observe(lambda _c: self.go(0), names="value")
        self.children = [
            stylesheet(),
            w.HBox([self.state_filter, self.execution_filter]),
            w.HBox([self.prev_button, self.next_button, self.count]),
            self.orphans,
            self.cards_box,
        ]
        self.total = 0
        self._unsubscribe = weak_listener(self.remote.subscribe, self._on_store_events)
        replace_previous_run(self)
        self.refresh()

    # -- public --------------------------------------------------------------------------
    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    def go(self, page: int) -> None:
        """Show page ``page`` (0-based, clamped)."""
        with self._lock:
            self.page = max(0, page)
        self.refresh()

    def signals(self) -> list[Signal]:
        """The signals on the current page."""
        return [card.current_signal for card in self.cards]

    def refresh(self) -> None:
        """Re-query through the remote and redraw (reusing cards still shown)."""
        with self._lock:
            filters = self._filters()
            name = self.execution_filter.value.strip() or None
            try:
                total = self.remote.count_signals(execution_name=name, project=self.project, domain=self.domain,
                                                  filters=filters)
            except Exception as exc:  # unknown execution typed in the filter, say
                self._show_count(f'<span class="gw-error-text">{html.escape(str(exc))}</span>')
                self._set_cards([])
                return
            self.page = min(self.page, max(1, -(-total // self.page_size)) - 1)
            rows = self.remote.list_signals(execution_name=name, project=self.project, domain=self.domain,
                                            filters=filters, limit=self.page_size, offset=self.page * self.page_size)
            self._find_orphans()
            self._set_cards(rows)
            self.total = total  # with the cards: a reader never sees the new count beside the old cards
            first = self.page * self.page_size + 1 if rows else 0
            label = self.state_filter.value.lower() if self.state_filter.value != ALL else ""
            self._show_count(f"<b>{self.total}</b> {label} signal{'s' if self.total != 1 else ''} · "
                             f"{first}–{first + len(rows) - 1 if rows else 0} · page {self.page + 1}/{self.pages}")
            self.prev_button.disabled = self.page == 0
            self.next_button.disabled = self.page >= self.pages - 1

    def close(self) -> None:
        if "_debouncer" not in vars(self):  # __init__ never started (see _unsubscribe)
            super().close()
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._debouncer.cancel()
        for card in self.cards:
            card.close()
        super().close()

    # -- internals -----------------------------------------------------------------------
    def _filters(self) -> list[str]:
        state = self.state_filter.value
        return [] if state == ALL else [f"eq(state,{state})"]

    def _find_orphans(self) -> None:
        """Running executions whose process is gone: nothing resumes their gates until recovered."""
        try:
            running = self.remote.list_executions(self.project, self.domain, status="RUNNING")
            self.orphaned = {r.name for r in running if self.remote.is_orphaned(r)}
        except NotImplementedError:  # a remote that cannot tell (a Flyte cluster)
            self.orphaned = set()
        value = ""
        if self.orphaned:
            names = ", ".join(html.escape(n) for n in sorted(self.orphaned))
            value = (f'<div class="gw-orphans">&#9888; Orphaned (their process is gone; answers are kept and '
                     f'consumed once recovered with <code>launch(..., execution_name=NAME, recover=True)</code>): '
                     f'{names}</div>')
        if value != self.orphans.value:
            self.orphans.value = value

    def _show_count(self, value: str) -> None:
        if value != self.count.value:
            self.count.value = value

    def _set_cards(self, rows: list[Signal]) -> None:
        old = {(c.current_signal.id.execution_id, c.signal_id): c for c in self.cards}
        cards = []
        for signal in rows:
            card = old.pop((signal.id.execution_id, signal.signal_id), None)
            if card is None:
                card = GateWidget(signal, remote=self.remote)
            else:
                card.signal = signal
            if signal.execution_name in self.orphaned:
                card.add_class("gatewidgets-orphaned")
            cards.append(card)
        for card in old.values():
            card.close()
        self.cards = cards
        self.cards_box.children = tuple(cards)

    def _on_store_events(self, events: list[StoreEvent]) -> None:
        if any(e.execution_id.project == self.project and e.execution_id.domain == self.domain for e in events):
            self._debouncer.trigger()
