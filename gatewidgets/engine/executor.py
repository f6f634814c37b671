"""The executor: runs executions of one store in the background of this process.

Ready task nodes go to one run queue that one pool worker drains; more workers join, up to
``max_workers``, only while the queue makes no progress (slow tasks run side by side, a burst
of quick ones costs no thread hand-offs). A task that finishes runs its one ready successor
inline (no hand-off for chains). A reached gate holds no thread: it waits in :mod:`.waits`, woken
by the store's event when its signal is set (directly from this process, through the store watcher
from others) or by the timer thread at its deadline. The executor keeps the running executions of
this process (a finished one is let go) and follows children other processes run.

A node's completion survives a kill of the process from the moment the engine records it, right
after its task returns (``SqliteStore.update_node`` appends it to a completion journal that
recovery replays), so a crash never re-runs a task that returned. Deadlines are stored as
wall-clock times but waited for on the monotonic clock.
"""
from __future__ import annotations

import collections
import concurrent.futures
import os
import secrets
import threading
from datetime import timedelta
from typing import Any, Callable

from gatewidgets.dsl import Node, Workflow
from gatewidgets.engine.handle import Execution
from gatewidgets.engine.recovery import stored_inputs
from gatewidgets.engine.rows import import_path, json_or_none, rows
from gatewidgets.engine.state import ExecutionState
from gatewidgets.engine.waits import Waits
from gatewidgets.errors import ExecutionExistsError
from gatewidgets.models.execution import ExecutionStatus, WorkflowExecutionIdentifier, check_name
from gatewidgets.settings import settings
from gatewidgets.store import open_store
from gatewidgets.store.base import ExecutorStore, StoreEvent, now

__all__ = ["Executor", "default_execution_name"]

ExecKey = WorkflowExecutionIdentifier
_RAMP_S = 0.001  # a backlog of ready tasks none of which was taken for this long gets one more worker
_KEEP_LAUNCHED = 100  # Executor.launched keeps the latest ones (magics' default execution), not all


def default_execution_name(workflow_name: str) -> str:
    """A fresh execution name: the workflow's name (cut to fit 128 characters) and 12 random hex digits, so
    that even millions of launches of one workflow do not collide (6 digits did after a few thousand)."""
    return f"{workflow_name.replace('_', '-')[:115]}-{secrets.token_hex(6)}"


class Executor:
    """Runs executions of one store on a worker pool (default ``min(32, cpu_count + 4)`` threads)."""

    def __init__(self, store: ExecutorStore | None = None, max_workers: int | None = None) -> None:
        self.store: ExecutorStore = store or open_store()
        self.max_workers = max_workers or settings.max_workers
        self.pool = concurrent.futures.ThreadPoolExecutor(self.max_workers, thread_name_prefix="gatewidgets-worker")
        self.waits = Waits()  # the gates waiting for their signals, and their deadlines
        self._lock = threading.Lock()
        self._executions: dict[ExecKey, Execution] = {}  # running ones only: a finished one is let go
        self._following: dict[ExecKey, list[Callable[[], None]]] = {}  # children run by other processes
        self.launched: list[Execution] = []
        self._ready: collections.deque[tuple[Callable[[Node | None], None], Node]] = collections.deque()
        self._draining = 0  # pool jobs taking tasks off ``_ready``; at most max_workers
        self._taken = 0  # tasks taken off ``_ready`` so far: progress, for the backlog watch
        self._watching = False  # a timer checks the backlog for progress
        self._ready_lock = threading.Lock()
        self._unsubscribe = self.store.subscribe(self._on_store_events)

    def schedule(self, run: Callable[[Node | None], None], node: Node) -> None:
        """Queue a ready task, for a worker to call ``run(node)`` (an execution's ``run``). One worker drains
        the queue; while tasks wait and none was taken for ``_RAMP_S`` (the workers are busy with slow tasks),
        one more worker joins, up to ``max_workers``.
        So a burst of 1,000 quick tasks costs no hand-offs between threads, and slow ones still run
        side by side (a millisecond later)."""
        with self._ready_lock:
            self._ready.append((run, node))
            start = self._draining == 0
            if start:
                self._draining += 1
            watch = not start and not self._watching and self._draining < self.max_workers
            if watch:
                self._watching = True
            taken = self._taken
        if start:
            self.pool.submit(self._drain)
        if watch:
            self._watch_backlog(taken)

    def _watch_backlog(self, taken: int) -> None:
        self.waits.timers.schedule(now() + timedelta(seconds=_RAMP_S), lambda: self._ramp(taken))

    def _ramp(self, seen: int) -> None:
        """The backlog watch: one more worker if no task was taken since the last look; look again while tasks wait."""
        with self._ready_lock:
            if not self._ready or self._draining >= self.max_workers:
                self._watching = False
                return
            start = self._taken == seen
            if start:
                self._draining += 1
            taken = self._taken
        if start:
            self.pool.submit(self._drain)
        self._watch_backlog(taken)

    def _drain(self) -> None:
        while True:
            with self._ready_lock:
                if not self._ready:
                    self._draining -= 1
                    return
                run, node = self._ready.popleft()
                self._taken += 1
            run(node)

    def shutdown(self) -> None:
        """Abort what still runs, stop the timer thread and the worker pool."""
        for execution in list(self._executions.values()):
            if not execution.done():
                execution.abort()
        self._unsubscribe()
        self.waits.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def launch(self, workflow: Workflow, inputs: dict[str, Any], *, execution_name: str | None = None,
               project: str | None = None, domain: str | None = None, recover: bool = False,
               child: bool = False) -> Execution:
        """Start ``workflow`` in the background and return its :class:`Execution` at once.

        With ``recover=True`` and a stored execution of that name, inputs left out are the stored
        ones and inputs given must equal them. A ``child`` execution (a node's) is not listed in
        :attr:`launched`.
        """
        name = execution_name or default_execution_name(workflow.name)
        key = ExecKey(check_name(project or settings.default_project, "project"),
                      check_name(domain or settings.default_domain, "domain"), check_name(name, "execution_name"))
        record = None
        if recover:
            try:
                record = self.store.get_execution(key, with_nodes=False)
            except LookupError:
                record = None
        if record is not None and record.workflow == workflow.name:  # another workflow's: refused below
            inputs = stored_inputs(workflow, record, inputs)
        values = workflow.bind_inputs(inputs)
        execution = Execution(self, workflow, key, values)
        if recover:
            if record is not None:
                if record.workflow != workflow.name:
                    raise ExecutionExistsError(
                        f"Execution {key} runs workflow {record.workflow!r}, not {workflow.name!r}; recover it "
                        "with the workflow that launched it."
                    )
                with self._lock:  # claim the key here first: two recoveries in this process, one wins
                    running = self._executions.get(key)
                    if running is not None and not running.done():
                        raise ExecutionExistsError(f"Execution {key} is already running in this process.")
                    self._executions[key] = execution
                try:
                    record = self.store.adopt_execution(key)  # atomic: of racing processes, one wins
                except BaseException:
                    self.let_go(execution)
                    raise
        if record is None:
            nodes, signals = rows(workflow)
            as_stored = {k: json_or_none(workflow.input_hints[k], v) for k, v in values.items()}
            self.store.create_execution(key, workflow.name, as_stored, nodes, signals,
                                        workflow_path=import_path(workflow), reached=execution.first_gates())
        with self._lock:
            self._executions[key] = execution
            if not child:
                self.launched.append(execution)
                del self.launched[:-_KEEP_LAUNCHED]
        try:
            execution.start(record)
        except BaseException:  # its stored outputs cannot be restored: nothing started
            self.let_go(execution)
            raise
        return execution

    def get(self, key: ExecKey) -> Execution | None:
        """The running execution of this process with that key, if any."""
        return self._executions.get(key)

    def let_go(self, execution: ExecutionState) -> None:
        with self._lock:
            if self._executions.get(execution.id) is execution:
                del self._executions[execution.id]

    # children run by other processes -----------------------------------------------

    def follow(self, key: ExecKey, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once when the store reports execution ``key`` finished (run by another process)."""
        with self._lock:
            self._following.setdefault(key, []).append(callback)

    def unfollow(self, key: ExecKey) -> None:
        with self._lock:
            self._following.pop(key, None)

    def _on_store_events(self, events: list[StoreEvent]) -> None:
        for event in events:
            if event.kind in ("set", "timed_out") and event.signal_id is not None:
                for execution, node in self.waits.take(event.execution_id, event.signal_id):
                    ready = execution.resolve_from_store(node, event.signal)  # the one call into the execution
                    if ready is not None:
                        self.schedule(execution.run, ready)
            elif event.kind == "finished":
                with self._lock:
                    followers = self._following.pop(event.execution_id, [])
                for follower in followers:
                    follower()
            elif event.kind == "lost":
                owned, why = self._executions.get(event.execution_id), self.store.lost(event.execution_id)
                if owned is not None and why is not None:
                    owned.lose(why)
            elif event.kind == "abort_requested":
                owned = self._executions.get(event.execution_id)
                if owned is not None and not owned.done():
                    owned.abort()
                elif owned is None:  # let go here without the store recording an end (its start failed)
                    record = self.store.get_execution(event.execution_id, with_nodes=False)
                    if (record.pid, record.host) == (os.getpid(), self.store.host):
                        self.store.finish_execution(event.execution_id, ExecutionStatus.ABORTED,
                                                    error="Aborted on request; its process had let it go.")

