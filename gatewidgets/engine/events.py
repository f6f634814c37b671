"""What the engine publishes, and who listens: the layers above it subscribe here, the engine imports none of them.

- :class:`ExecutionEvent`: what one execution publishes to its listeners (``Execution.subscribe``).
- :data:`gate_reached`: ``listener(execution, signal)`` on the thread that reached a gate, once its signal is
  PENDING (answers from a file answer there; a ``GateError`` a listener raises fails the gate's node).
- :data:`store_opened`: ``listener(store)`` once per store this process's default executors run on (webhooks).
- :data:`display`: how an execution shows in a notebook (the widgets register their view).

Each is kept beside what publishes it (:mod:`.state`, :mod:`.handle`, :mod:`.entry`); this module gathers them.
"""
from __future__ import annotations

from gatewidgets.engine.entry import store_opened
from gatewidgets.engine.handle import display, gate_reached
from gatewidgets.engine.listeners import Listeners
from gatewidgets.engine.state import ExecutionEvent

__all__ = ["ExecutionEvent", "Listeners", "gate_reached", "store_opened", "display"]
