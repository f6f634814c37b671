"""``SignalDashboard``: signals across executions as an inbox — one compact row each, sorted, grouped,
filtered and paged, refreshing itself; a row expands to the signal's full card (built when asked)."""
from __future__ import annotations

import html
import threading
from datetime import datetime, timezone
from typing import Any, Callable

import ipywidgets as w

from gatewidgets.models.common import Sort, SortOrdering
from gatewidgets.models.execution import ExecutionRecord
from gatewidgets.models.signal import Signal, SignalState
from gatewidgets.remote import GateRemote, StoreEvent
from gatewidgets.widgets._sync import Debouncer, replace_previous_run, weak_listener
from gatewidgets.widgets.decisions import DecisionList
from gatewidgets.widgets.gate import GateWidget, remote_for
from gatewidgets.widgets.standing import decision, why_text
from gatewidgets.widgets.style import stylesheet

__all__ = ["SignalDashboard"]

ALL = "ALL"
SORTS: dict[str, Sort | None] = {
    "waiting longest": Sort("waiting_since"), "deadline soonest": Sort("deadline"),
    "newest": Sort("created_at", SortOrdering.DESCENDING), "workflow order": None}
"""The dashboard's orders: label -> how the store sorts (a signal without a deadline comes last)."""


class SignalDashboard(w.VBox):
    """Pending signals (by default) of every execution in ``project``/``domain``, or of one.

    One compact row per signal (signal, execution, workflow, waiting since, deadline) in ``list``;
    clicking a row (or Enter on it) shows its full card below, built only then (:meth:`expand`).
    Filters: state (a dropdown), execution name (a text field) and "Waiting for me" (``mine``: pending
    signals this identity may answer, :meth:`GateRemote.waiting_for_me`); an order (``SORTS``); grouping
    by execution; a row of a signal with a policy shows where its decision stands, and whether this identity
    may answer it (why not, on hover); ``page_size`` rows per page with Previous/Next; a count per state. Store events —
    from this process or any other — trigger a debounced refresh.
    """

    # close() also runs on a dashboard whose __init__ raised (ipywidgets' __del__ closes every widget): what
    # close() reads is made first thing in __init__, before anything can fail, a subscription not made yet
    # is None, and a dashboard whose __init__ never started (called with wrong arguments) has nothing to undo
    _unsubscribe: Callable[[], None] | None = None

    def __init__(self, project: str | None = None, domain: str | None = None,
                 execution_name: str | None = None, *, remote: GateRemote | None = None,
                 page_size: int = 200, state: SignalState | str | None = SignalState.PENDING,
                 sort: str = "waiting longest", debounce: float = 0.1, mine: bool = False, **kwargs: Any) -> None:
        # what close() reads, first (see _unsubscribe)
        self.cards: dict[str, GateWidget] = {}  # built on expand, by row key; closed when their row goes
        self.list = DecisionList()
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
        self.sort = w.Dropdown(options=list(SORTS), value=sort, description="Sort", layout=w.Layout(width="240px"))
        self.group = w.Checkbox(value=False, description="Group by execution", indent=False,
                                layout=w.Layout(width="160px"))
        self.mine = w.Checkbox(value=mine, description="Waiting for me", indent=False,
                               layout=w.Layout(width="140px"))
        self._records: dict[str, ExecutionRecord] = {}  # execution name -> its record (who launched it)
        self.prev_button = w.Button(description="Previous", icon="arrow-left", layout=w.Layout(width="110px"))
        self.next_button = w.Button(description="Next", icon="arrow-right", layout=w.Layout(width="110px"))
        self.count = w.HTML()
        self.states = w.HTML()
        self.states.add_class("gatewidgets-state-counts")
        self.orphans = w.HTML()
        self.orphans.add_class("gatewidgets-orphans")
        self.orphaned: set[str] = set()
        self.rows: list[Signal] = []
        self._workflows: dict[str, str] = {}  # execution name -> workflow name (it never changes)
        self.cards_box = w.VBox()
        self.list.observe(lambda c: self._show_card(c["new"]), names="expanded")
        self.group.observe(lambda _c: self.refresh(), names="value")
        self.sort.observe(lambda _c: self.go(0), names="value")
        self.prev_button.on_click(lambda _b: self.go(self.page - 1))
        self.next_button.on_click(lambda _b: self.go(self.page + 1))
        self.state_filter.observe(lambda _c: self.go(0), names="value")
        self.execution_filter.observe(lambda _c: self.go(0), names="value")
        self.mine.observe(lambda _c: self.go(0), names="value")
        self.children = [
            stylesheet(),
            w.HBox([self.state_filter, self.execution_filter, self.sort, self.group, self.mine]),
            w.HBox([self.prev_button, self.next_button, self.count]),
            self.states,
            self.orphans,
            self.list,
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
        """The signals on the current page, in row order."""
        return list(self.rows)

    @property
    def card(self) -> GateWidget | None:
        """The card of the expanded row, if one is."""
        return self.cards.get(self.list.expanded)

    def expand(self, row: int | Signal) -> GateWidget:
        """Expand row ``row`` (its index on the page, or its signal) to its full card, as a click does."""
        signal = self.rows[row] if isinstance(row, int) else row
        key = _key(signal)
        with self._lock:
            card = self.cards.get(key) or self._card(signal)
            self.list.expanded = key
            self.cards_box.children = (card,)
        return card

    def refresh(self) -> None:
        """Re-query through the remote and redraw (reusing cards still shown)."""
        with self._lock:
            filters = self._filters()
            name = self.execution_filter.value.strip() or None
            try:
                if self.mine.value:
                    total, rows = self._mine(name)
                else:
                    total = self.remote.count_signals(execution_name=name, project=self.project,
                                                      domain=self.domain, filters=filters)
                    self.page = min(self.page, max(1, -(-total // self.page_size)) - 1)
                    rows = self.remote.list_signals(execution_name=name, project=self.project, domain=self.domain,
                                                    filters=filters, limit=self.page_size,
                                                    offset=self.page * self.page_size, sort_by=SORTS[self.sort.value])
            except Exception as exc:  # unknown execution typed in the filter, say
                self._show_count(f'<span class="gw-error-text">{html.escape(str(exc))}</span>')
                self._set_rows([])
                return
            self._find_orphans()
            self._count_states(name)
            self._set_rows(rows)
            self.total = total  # with the rows: a reader never sees the new count beside the old rows
            first = self.page * self.page_size + 1 if rows else 0
            label = self.state_filter.value.lower() if self.state_filter.value != ALL and not self.mine.value else ""
            mine = f" waiting for {html.escape(self.remote.user)}" if self.mine.value else ""
            self._show_count(f"<b>{self.total}</b> {label} signal{'s' if self.total != 1 else ''}{mine} · "
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
        for card in self.cards.values():
            card.close()
        self.list.close()
        super().close()

    # -- internals -----------------------------------------------------------------------
    def _mine(self, name: str | None) -> tuple[int, list[Signal]]:
        """Pending signals this identity may answer (of execution ``name``, if given): their count and this page,
        in the order chosen."""
        found = self.remote.waiting_for_me(self.project, self.domain, limit=None, execution_name=name)
        order = SORTS[self.sort.value]
        if order is not None:
            found.sort(key=lambda s: (getattr(s, order.key) is None, getattr(s, order.key) or s.created_at),
                       reverse=order.direction is SortOrdering.DESCENDING)
        self.page = min(self.page, max(1, -(-len(found) // self.page_size)) - 1)
        return len(found), found[self.page * self.page_size:(self.page + 1) * self.page_size]

    def _decision_row(self, signal: Signal) -> dict[str, str]:
        """A row's fields on its policy: the rules, the count line and why this identity may not answer."""
        if signal.policy is None:
            return {"standing": "", "rules": "", "why": ""}
        record = self._records.get(signal.execution_name)
        if record is None:
            record = self._records[signal.execution_name] = self.remote.launch_record(signal)
        found = decision(self.remote, signal, record)
        return {"standing": found.status.line or "" if signal.state.is_open else "", "rules": found.status.rules,
                "why": why_text(found)}

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

    def _count_states(self, name: str | None) -> None:
        """A count per state (of the execution filtered on, if any), whatever the state filter."""
        counts = [(state, self.remote.count_signals(execution_name=name, project=self.project, domain=self.domain,
                                                    filters=[f"eq(state,{state.value})"])) for state in SignalState]
        value = " · ".join(f'<span class="gw-badge gw-badge-{s.value}">{n}</span> {s.value.lower().replace("_", " ")}'
                           for s, n in counts if n)
        if value != self.states.value:
            self.states.value = value

    def _set_rows(self, rows: list[Signal]) -> None:
        if self.sort.value == "deadline soonest":  # the store puts a missing deadline first
            rows = sorted(rows, key=lambda s: s.deadline is None)
        if self.group.value:  # executions in the order of their first row
            first = {s.execution_name: i for i, s in reversed(list(enumerate(rows)))}
            rows = sorted(rows, key=lambda s: first[s.execution_name])
        unknown = {s.execution_name for s in rows} - self._workflows.keys()
        if unknown:
            self._workflows.update((r.name, r.workflow) for r in self.remote.list_executions(self.project, self.domain))
        keys = {_key(s) for s in rows}
        for key in [k for k in self.cards if k not in keys and k != self.list.expanded]:
            self.cards.pop(key).close()
        for signal in rows:  # a card shown keeps following its signal
            card = self.cards.get(_key(signal))
            if card is not None:
                card.signal = signal
        self.rows = rows
        with self.list.hold_sync():  # one message: the browser draws the rows once
            self.list.grouped = self.group.value
            self.list.rows = [_row(s, self._workflows.get(s.execution_name, ""), s.execution_name in self.orphaned)
                              | self._decision_row(s) for s in rows]

    def _show_card(self, key: str) -> None:
        """Show the card of row ``key`` below the list (building it the first time), or none for ``""``."""
        with self._lock:
            card = self.cards.get(key)
            signal = next((s for s in self.rows if _key(s) == key), None)
            if card is None and signal is not None:
                card = self._card(signal)
            self.cards_box.children = (card,) if card is not None else ()

    def _card(self, signal: Signal) -> GateWidget:
        card = self.cards[_key(signal)] = GateWidget(signal, remote=self.remote)
        if signal.execution_name in self.orphaned:
            card.add_class("gatewidgets-orphaned")
        return card

    def _on_store_events(self, events: list[StoreEvent]) -> None:
        if any(e.execution_id.project == self.project and e.execution_id.domain == self.domain for e in events):
            self._debouncer.trigger()


def _key(signal: Signal) -> str:
    """A row's key: unique within a project and domain."""
    return f"{signal.execution_name}/{signal.signal_id}"


def _row(signal: Signal, workflow: str, orphaned: bool) -> dict[str, Any]:
    return {"key": _key(signal), "signal": signal.signal_id, "kind": signal.kind.value, "state": signal.state.value,
            "execution": signal.execution_name, "workflow": workflow, "orphaned": orphaned,
            "waiting": _iso(signal.waiting_since), "deadline": _iso(signal.deadline)}


def _iso(at: datetime | None) -> str:
    """An ISO time with its zone (the browser reads a zone-less one as local time; stored times are UTC)."""
    return (at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)).isoformat() if at else ""
