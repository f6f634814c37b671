"""What the engine publishes, and who listens: the layers above it subscribe here, the engine imports none of them.

- :class:`ExecutionEvent`: what one execution publishes to its listers (``Execution.subscribe``).
- :data:`gate_reached`: ``listener(execution, signal)`` on the thread that reached a gate, once its signal is
  PENDING (answers from a file answer there; a ``GateError`` a listener raises fails the gate's node).
- :data:`store_opened`: ``listener(store)`` once per store this process's default executors run on (webhooks).
- :data:`display`: how an execution shows in a notebook (the widgets register their view).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterator, TypeVar

from gatewidgets.models.execution import ExecutionStatus, NodeState
from gatewidgets.models.signal import Signal
from gatewidgets.store.base import ExecutorStore

if TYPE_CHECKING:
    from gatewidgets.engine.handle import Execution

__all__ = ["ExecutionEvent", "Listeners", "gate_reached", "store_opened", "display"]

L = TypeVar("L", bound=Callable[..., Any])


@dataclass(frozen=True)
class ExecutionEvent:
    """What an execution publishes: ``node`` (state change), ``expanded``, ``gate_waiting``, ``signal_set``,
    ``finished``."""

    kind: str
    execution: Execution
    node_id: str | None = None
    state: NodeState | ExecutionStatus | None = None
    signal_id: str | None = None


class Listeners(Generic[L]):
    """The subscribers of one engine event, called in subscription order."""

    def __init__(self) -> None:
        self._listeners: tuple[L, ...] = ()  # replaced, never changed in place: read without a lock

    def subscribe(self, listener: L) -> Callable[[], None]:
        """Add ``listener`` (once); returns the function that removes it."""
        if listener not in self._listeners:
            self._listeners = (*self._listeners, listener)
        return lambda: self.unsubscribe(listener)

    def unsubscribe(self, listener: L) -> None:
        self._listeners = tuple(x for x in self._listeners if x != listener)

    def __iter__(self) -> Iterator[L]:
        return iter(self._listeners)

    def __bool__(self) -> bool:
        return bool(self._listeners)


#: ``listener(execution, signal)`` when a gate waits (its signal PENDING); a ``GateError`` fails the gate's node.
gate_reached: Listeners[Callable[[Execution, Signal], None]] = Listeners()
#: ``listener(store)`` when this process's default executor for ``store`` is made.
store_opened: Listeners[Callable[[ExecutorStore], object]] = Listeners()
#: ``view(execution, include, exclude) -> mimebundle``: an execution's rich display (the last one subscribed).
display: Listeners[Callable[[Execution, Any, Any], dict[str, Any]]] = Listeners()
