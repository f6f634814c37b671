"""Gates: reaching one (its signal PENDING, waiting in :class:`gatewidgets.engine.waits.Waits`), resolving it
once (its signal set, or its deadline), and the gates a front door's task opens at run time."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any, Callable

from gatewidgets import kinds
from gatewidgets.dsl import Node, SignalSpec
from gatewidgets.engine.children import ExecutionChildren
from gatewidgets.engine.reminders import Timeline
from gatewidgets.engine.rows import node_row, signal_row, with_policies
from gatewidgets.errors import ExecutionAbortedError, GateError, GateTimeoutError, WorkflowDefinitionError
from gatewidgets.models.execution import NodeState
from gatewidgets.models.signal import Signal, SignalState
from gatewidgets.store.base import now

__all__ = ["ExecutionGates"]

log = logging.getLogger(__name__)
_RETRY = timedelta(seconds=30)  # a follow-up the store could not take is tried again after this


class ExecutionGates(ExecutionChildren):
    """An execution's gates."""

    __slots__ = ()

    def add_gate(self, parent_id: str, spec: SignalSpec, deliver: Callable[[Signal], None], *,
                 reach: bool = True) -> Node:
        """Open a gate at run time from inside the running task ``parent_id`` (a front door's condition).

        Its signal joins the execution, with every signal rule, and is reached at once; with
        ``reach=False`` it stays ``UPCOMING`` (it may be answered early) until :meth:`reach_gate`.
        Its resolution goes to ``deliver(signal)`` instead of flowing through the DAG: exactly once,
        with the ``SET`` or ``TIMED_OUT`` signal, or the ``CANCELLED`` one if the execution ends
        first. Raises ``WorkflowDefinitionError`` for a signal id in use, ``ExecutionAbortedError``
        once the execution is ending, ``UnsupportedError`` for a policy its store would not enforce.
        """
        if spec.signal_id in self.signal_specs:
            raise WorkflowDefinitionError(f"Execution {self.name!r} has a signal {spec.signal_id!r} already.")
        node = Node(id=f"{parent_id}.{spec.signal_id}", kind=spec.kind.value, name=spec.signal_id, signal=spec,
                    upstream={parent_id}, parent=parent_id)
        signals = with_policies([signal_row(spec, {node.id: node})], self.id, self.store)
        with self._lock:
            if self._ending:
                raise ExecutionAbortedError(f"Execution {self.name!r} has ended; it opens no gate.")
            self._own_tables()
            self.nodes[node.id] = node
            self.node_states[node.id] = NodeState.QUEUED
            self._remaining[node.id] = 0
            self._children[node.id] = ()  # never re-reached by its parent's completion
            self.signal_specs[spec.signal_id] = spec
            if self._deliveries is None:
                self._deliveries = {}
            self._deliveries[node.id] = deliver
        self.store.add_nodes(self.id, [node_row(node)], signals)
        # an early answer is typed too
        self.store.register_type(self.id, spec.signal_id, spec.gate_type, spec.kind.value)
        self._publish("expanded", node_id=parent_id)
        if reach:
            self._reach(node)
        return node

    def reach_gate(self, node: Node) -> None:
        """Reach a gate :meth:`add_gate` opened with ``reach=False``; an answer given meanwhile is delivered
        at once. Raises ``ExecutionAbortedError`` once the execution is ending."""
        with self._lock:
            if self._ending:
                raise ExecutionAbortedError(f"Execution {self.name!r} has ended; it reaches no gate.")
        self._reach(node)

    def close_gates(self, parent_id: str) -> None:
        """The task ``parent_id`` ended: cancel the open signals of the gates it opened with :meth:`add_gate`
        (a condition never waited on, a wait given up), so its completion can end the execution.

        Their nodes become ``SKIPPED`` (never reached) or ``ABORTED``; each ``deliver`` gets its signal.
        """
        with self._lock:
            if self._ending:
                return
            opened = self._deliveries or {}
            closing = {nid: opened.pop(nid) for nid in list(opened)
                       if self.nodes[nid].parent == parent_id and nid not in self._resolved}  # else resolving
            self._mark_resolved(closing)
            self._finished_nodes += len(closing)
        if not closing:
            return
        nodes = [self.nodes[nid] for nid in closing]
        self.executor.waits.forget(self.id, nodes)
        self.store.cancel_signals(self.id, [n.signal.signal_id for n in nodes if n.signal is not None])
        for node in nodes:
            assert node.signal is not None
            reached = self.node_states[node.id] is NodeState.WAITING
            self._set_state(node, NodeState.ABORTED if reached else NodeState.SKIPPED, finished_at=time.time())
            closing[node.id](self.store.get_signal(self.id, node.signal.signal_id))

    def _deliver(self, node: Node, signal: Signal, deliver: Callable[[Signal], None]) -> None:
        with self._lock:
            self._finished_nodes += 1  # never the last node: the task that opened it still runs
        state = NodeState.SUCCEEDED if signal.state is SignalState.SET else NodeState.FAILED
        self._set_state(node, state, finished_at=time.time(),
                        error=None if state is NodeState.SUCCEEDED else f"signal {signal.state.value}")
        deliver(signal)

    def first_gates(self) -> dict[str, datetime | None]:
        """The gates its start reaches at once (no upstream task, nothing to show beside the signal): signal id ->
        deadline. The launch stores them ``PENDING`` in the transaction that creates the execution, so reaching
        them later only reads them back."""
        reached = {}
        for nid in self.workflow.order:
            node = self.nodes[nid]
            spec = node.signal
            if spec is not None and node.is_gate and self._remaining[nid] == 0 and \
                    self._approval_context(node) is None:
                reached[spec.signal_id] = now() + spec.timeout if spec.timeout is not None else None
        self._reached_first = tuple(reached)
        return reached

    def _reach(self, node: Node) -> None:
        spec = node.signal
        assert spec is not None
        waits = self.executor.waits
        self.store.register_type(self.id, spec.signal_id, spec.gate_type, spec.kind.value)
        self._set_state(node, NodeState.WAITING, started_at=time.time())  # before a set can resolve it
        waits.wait(self, node)
        if spec.signal_id in self._reached_first:  # stored PENDING at launch: answered meanwhile, or not
            signal = self.store.get_signal(self.id, spec.signal_id)
        else:
            deadline = now() + spec.timeout if spec.timeout is not None else None
            signal = self.store.reach_signal(self.id, spec.signal_id, deadline, self._approval_context(node))
        self._publish("gate_waiting", node_id=node.id, signal_id=spec.signal_id)
        if signal.state is not SignalState.PENDING:
            if waits.take_one(self.id, node):  # else the store's event took it: resolved there
                self._go_on(self.resolve(node, signal))
            return
        if signal.deadline is not None:
            waits.until(self, node, signal.deadline)
        if Timeline.wanted(policy := signal.policy) and signal.waiting_since is not None:  # reminds or escalates
            self._follow_up_at(node, Timeline.of(policy, signal.waiting_since,
                                                 self.store.history(self.id, spec.signal_id)))
        try:
            self._announce(signal)
        except GateError as exc:
            self._fail(node, exc)

    def follow_up(self, node: Node) -> None:
        """A reminder or the escalation of the waiting gate ``node`` is due (on the timer thread): record it in the
        history (the store's event re-sends the gate's notification: webhooks, ``notify.on("waiting")``), show
        it to this execution's listeners as the gate waiting again (the notebook's toast), schedule the next."""
        spec = node.signal
        assert spec is not None
        try:
            signal = self.store.get_signal(self.id, spec.signal_id)
            policy = signal.policy
            if signal.state is not SignalState.PENDING or signal.waiting_since is None or \
                    not Timeline.wanted(policy):
                return
            timeline = Timeline.of(policy, signal.waiting_since, self.store.history(self.id, spec.signal_id))
            steps = timeline.due(now())
            for kind, detail in steps:
                if not self.store.record_event(self.id, spec.signal_id, kind, detail):
                    return  # decided, timed out or cancelled meanwhile: the timeline ends
            if steps:
                self._publish("gate_waiting", node_id=node.id, signal_id=spec.signal_id)
            self._follow_up_at(node, timeline.after(steps, now()))  # after the stored step: never sooner
        except Exception:
            log.exception("gatewidgets could not remind of gate %r of execution %r; trying again in %s",
                          spec.signal_id, self.name, _RETRY)
            self.executor.waits.follow_up(self, node, now() + _RETRY)

    def _follow_up_at(self, node: Node, timeline: Timeline) -> None:
        when = timeline.next_at()
        if when is not None:
            self.executor.waits.follow_up(self, node, when)

    def _approval_context(self, node: Node) -> dict[str, Any] | None:
        """What the gate's card shows besides the signal (for an approval: the value to approve, rendered)."""
        return kinds.of(node).context(node, lambda: self._value(node.bindings["upstream"]))

    def deadline(self, node: Node) -> None:
        """The gate ``node`` reached its deadline (on the timer thread; :class:`~.waits.Waits` took its wait off)."""
        self._guarded(self._time_out, node)

    def _time_out(self, node: Node) -> None:
        spec = node.signal
        assert spec is not None
        value, has_value = kinds.of(node).timeout_value(spec)
        signal = self.store.timeout_signal(self.id, spec.signal_id, value, has_value=has_value)
        self._go_on(self.resolve(node, signal))

    def _go_on(self, ready: Node | None) -> None:
        if ready is not None:
            self.executor.schedule(self.run, ready)

    def _announce(self, signal: Signal) -> None:
        """Tell who listens that the gate of ``signal`` waits (:class:`~.handle.Execution` publishes it)."""
        raise NotImplementedError

    def resolve_from_store(self, node: Node, signal: Signal | None = None) -> Node | None:
        """The store reports the signal of the waiting gate ``node`` set or timed out (its wait taken off): resolve
        it with that signal (read from the store when the event does not carry it); return the task it makes
        ready for the caller to schedule."""
        assert node.signal is not None
        try:
            return self.resolve(node, signal or self.store.get_signal(self.id, node.signal.signal_id))
        except Exception as exc:  # never leave a gate waiting on an error of ours
            self._fail(node, exc)
            return None

    def resolve(self, node: Node, signal: Signal) -> Node | None:
        """Resolve the gate ``node`` with its ``SET`` or ``TIMED_OUT`` signal (once: its wait was taken off by the
        caller); return the task it makes ready for the caller to schedule."""
        spec = node.signal
        assert spec is not None
        if signal.state not in (SignalState.SET, SignalState.TIMED_OUT):
            return None
        with self._lock:
            if node.id in self._resolved or self._ending:
                return None
            self._mark_resolved((node.id,))
            deliver = self._deliveries.pop(node.id, None) if self._deliveries else None
        self._publish("signal_set", node_id=node.id, signal_id=spec.signal_id)
        if deliver is not None:
            self._deliver(node, signal, deliver)
            return None
        where = f"gate {spec.signal_id!r} of execution {self.name!r}"
        kind = kinds.of(node)
        if signal.state is SignalState.TIMED_OUT and kind.timeout_fails(spec):
            self._fail(node, GateTimeoutError(
                f"The {where} got no answer within {spec.timeout} and has no default; it timed out."))
            return None
        try:
            value = kind.resolve(spec, signal, lambda: self._value(node.bindings["upstream"]), where)
        except GateError as exc:
            self._fail(node, exc)
            return None
        return self._complete(node, value, inline=True)
