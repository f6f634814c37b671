"""The engine: runs executions in the background of this process.

- :mod:`.entry`: the one way in (:func:`launch`, :func:`launch_many`, :func:`recover`, :func:`default_executor`);
- :mod:`.launchable`: the ``@workflow`` that launches (``wf.launch``, ``wf(...)``);
- :mod:`.executor`: the worker pool and the registry of running executions, fed by the store's events;
- :mod:`.waits`: which gate waits for which signal, and its deadline (the one timer thread);
- :mod:`.state`, :mod:`.run`, :mod:`.children`, :mod:`.gates`: an execution's state and endings, its state
  machine, its child executions, its gates; :mod:`.handle`: the public :class:`Execution` they make up;
- :mod:`.awaiting`: what users await on an execution; :mod:`.recovery`: resuming a stored one;
- :mod:`.tasks`: a task's retries, timeout and cache; :mod:`.rows`: what is written to the store;
- :mod:`.events`: what the engine publishes; observers and faces subscribe there (it imports none of them);
  :mod:`.listeners`: the subscribers of one event.

The modules import each other one way only (type-only imports included): a lower room names what it needs of
a higher one as a protocol (:class:`.state.Runner`, :class:`.waits.Waiter`, :class:`.tasks.Running`).
"""
from __future__ import annotations

from gatewidgets.engine.awaiting import Awaiting, BlockingWaitWarning
from gatewidgets.engine.entry import default_executor, launch, launch_many, recover, shutdown_executors
from gatewidgets.engine.events import ExecutionEvent
from gatewidgets.engine.executor import Executor
from gatewidgets.engine.handle import Execution
from gatewidgets.engine.launchable import Workflow, workflow
from gatewidgets.engine.state import FAILURE_NODE

__all__ = ["launch", "launch_many", "recover", "default_executor", "shutdown_executors", "Executor", "Execution",
           "ExecutionEvent", "Awaiting", "BlockingWaitWarning", "Workflow", "workflow", "FAILURE_NODE"]
