"""The public handle of a run: :class:`Execution`, its outcome (``await ex``, ``ex.wait()``) and what it will reach
(:meth:`Execution.reached`, :meth:`Execution.node`, :meth:`Execution.finished`: :mod:`.awaiting`)."""
from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Callable, Generator

from gatewidgets.engine.awaiting import NOT_YET, Awaiting, warn_blocking
from gatewidgets.engine.gates import ExecutionGates
from gatewidgets.engine.listeners import Listeners
from gatewidgets.engine.state import ExecutionEvent
from gatewidgets.models.execution import NodeState
from gatewidgets.models.signal import Signal, SignalState

__all__ = ["Execution", "gate_reached", "display"]


class Execution(ExecutionGates):
    """One run of a workflow in this process. ``await ex`` or ``ex.wait()`` for its outputs.

    They come as soon as it ends here, even if the store cannot record that end yet (locked, full):
    the store then writes this same end, with these outputs, once it accepts writes again.
    """

    __slots__ = ()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the execution ends; return its outputs or raise its error.

        Running out of ``timeout`` raises ``TimeoutError`` and leaves it running. In a
        notebook cell this blocks widget clicks: prefer ``await ex``.
        """
        if not self._over:
            warn_blocking("ex.wait()", self.name, "await ex")
        try:
            return self._done.result(timeout)
        except concurrent.futures.TimeoutError:
            if self._over:  # the execution's own error (GateTimeoutError is a TimeoutError)
                raise
            raise TimeoutError(
                f"Execution {self.name!r} did not finish within {timeout} s; it is still running "
                f"(pending signals: {[s.signal_id for s in self.signals() if s.state is SignalState.PENDING]})."
            ) from None

    def __await__(self) -> Generator[Any, None, Any]:
        return asyncio.wrap_future(self._done).__await__()

    def reached(self, signal_id: str, timeout: float | None = None) -> Awaiting[Signal]:
        """The gate waiting for ``signal_id`` was reached: ``await ex.reached(...)`` gives its :class:`Signal`.

        Also done once the gate was answered; raises ``LookupError`` (listing the signal ids)
        for an unknown id, and the execution's error if it ends before the gate is reached.
        """
        if signal_id not in self.signal_specs and not self._may_grow():
            raise LookupError(f"Execution {self.name!r} has no signal {signal_id!r}; its signals are "
                              f"{', '.join(self.signal_specs) or '(none)'}.")

        def check(event: ExecutionEvent | None) -> Any:
            if event is not None and event.signal_id != signal_id:
                return NOT_YET  # its gate_waiting comes after the store's PENDING and after the widgets saw it
            gates = [n for n in self.nodes.values() if n.signal is not None and n.signal.signal_id == signal_id]
            states = {self.node_states[n.id] for n in gates}
            if states & _REACHED or NodeState.ABORTED in states:
                signal = self.store.get_signal(self.id, signal_id)
                # WAITING is set just before the store's PENDING; an aborted gate may never have waited
                if signal.state is not SignalState.UPCOMING and (states & _REACHED or signal.waiting_since):
                    return signal
            if self.done():
                raise self._ended_before(f"gate {signal_id!r} was reached")
            return NOT_YET

        return Awaiting(self, f"gate {signal_id!r} was reached", check, timeout)

    def node(self, name: str, timeout: float | None = None) -> Awaiting[NodeState]:
        """The node named ``name`` (see :attr:`nodes_by_name`) ended: ``await ex.node(...)`` gives its final state."""
        names = self._node_names()
        if name not in names and not self._may_grow():
            raise LookupError(f"Execution {self.name!r} has no node {name!r}; its nodes are {', '.join(names)}.")

        def check(event: ExecutionEvent | None) -> Any:
            node_id = self._node_names().get(name)
            state = self.node_states.get(node_id) if node_id is not None else None
            if state is not None and state.is_terminal:
                return state
            if self.done():
                raise self._ended_before(f"node {name!r} ran")
            return NOT_YET

        return Awaiting(self, f"node {name!r} ended", check, timeout)

    def finished(self, timeout: float | None = None) -> Awaiting[Any]:
        """The execution ended: ``await ex.finished(timeout=...)`` is ``await ex`` with a timeout."""

        def check(event: ExecutionEvent | None) -> Any:
            return self._done.result() if self.done() else NOT_YET

        return Awaiting(self, "execution finished", check, timeout)

    @property
    def nodes_by_name(self) -> dict[str, NodeState]:
        """Every node's state by name: a task's name, a gate's signal id; repeats get ``-2``, ``-3``, ..."""
        return {name: self.node_states[nid] for name, nid in self._node_names().items()}

    def __repr__(self) -> str:
        return f"<Execution {self.workflow.name} {self.id.name} {self._status.value}>"

    def _announce(self, signal: Signal) -> None:
        for listener in gate_reached:
            listener(self, signal)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """In a notebook: the view a face registered (:data:`.events.display`; the live widget of
        :mod:`gatewidgets.widgets`, which imports ipywidgets on first display)."""
        views = list(display)
        if not views:  # no face registered a view (gatewidgets.widgets does, when imported)
            return {"text/plain": repr(self)}
        return views[-1](self, include, exclude)

    # engine ----------------------------------------------------------------------


_REACHED = {NodeState.WAITING, NodeState.SUCCEEDED, NodeState.FAILED}
#: ``listener(execution, signal)`` when a gate waits (its signal PENDING); a ``GateError`` fails the gate's node.
gate_reached: Listeners[Callable[[Execution, Signal], None]] = Listeners()
#: ``view(execution, include, exclude) -> mimebundle``: an execution's rich display (the last one subscribed).
display: Listeners[Callable[[Execution, Any, Any], dict[str, Any]]] = Listeners()
