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
import secrets
import threading
from datetime import timedelta
from typing import Any, Callable, Iterable, Mapping

from gatewidgets.dsl import Node, Workflow
from gatewidgets.engine.handle import Execution
from gatewidgets.engine.recovery import stored_inputs
from gatewidgets.engine.rows import import_path, json_or_none, rows, with_policies
from gatewidgets.engine.state import ExecutionState
from gatewidgets.engine.waits import Waits
from gatewidgets.errors import ExecutionExistsError
from gatewidgets.models.execution import ExecutionStatus, WorkflowExecutionIdentifier, check_name
from gatewidgets.models.policy import Identity
from gatewidgets.settings import settings
from gatewidgets.store import open_store
from gatewidgets.store.base import ExecutorStore, NewExecution, SignalRow, StoreEvent, now

__all__ = ["Executor", "default_execution_name"]

ExecKey = WorkflowExecutionIdentifier
_RAMP_S = 0.001  # a backlog of ready tasks none of which was taken for this long gets one more worker
_KEEP_LAUNCHED = 100  # Executor.launched keeps the latest ones (magics' default execution), not all


def default_execution_name(workflow_name: str) -> str:
    """A fresh execution name: the workflow's name (cut to fit 128 characters) and 12 random hex digits, so
    that even millions of launches of one workflow do not collide (6 digits did after a few thousand)."""
    return f"{workflow_name.replace('_', '-')[:115]}-{secrets.token_hex(6)}"


def _keys(workflow: Workflow, names: list[str | None], project: str | None, domain: str | None) -> list[ExecKey]:
    """The checked keys of launches named ``names`` (a fresh name for ``None``) in ``project`` and ``domain`` (default:
    the settings')."""
    project = check_name(project or settings.default_project, "project")
    domain = check_name(domain or settings.default_domain, "domain")
    return [ExecKey(project, domain, check_name(name or default_execution_name(workflow.name), "execution_name"))
            for name in names]


class Executor:
    """Runs executions of one store on a worker pool (default ``min(32, cpu_count + 4)`` threads)."""

    def __init__(self, store: ExecutorStore | None = None, max_workers: int | None = None) -> None:
        self.store: ExecutorStore = store or open_store()
        self.max_workers = max_workers or settings.max_workers
        self.pool = concurrent.futures.ThreadPoolExecutor(self.max_workers, thread_name_prefix="gatewidgets-worker")
        self.waits = Waits()  # the gates waiting for their signals, and their deadlines
        self.identity = Identity.of_process()  # who launches here, unless a launch says otherwise
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
               child: bool = False, launched_by: Identity | None = None) -> Execution:
        """Start ``workflow`` in the background and return its :class:`Execution` at once.

        With ``recover=True`` and a stored execution of that name, inputs left out are the stored
        ones and inputs given must equal them. A ``child`` execution (a node's) is not listed in
        :attr:`launched`. ``launched_by`` (default: this process's user, :attr:`identity`) is recorded: a
        ``self_approval=False`` gate refuses that user's approval.
        """
        key = _keys(workflow, [execution_name], project, domain)[0]
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
            signals = with_policies(rows(workflow)[1], key, self.store)  # a policy the store would not enforce: refused
            self.store.create_executions([self._new(execution, signals, launched_by)])
        self._start(execution, record, child=child)
        return execution

    def launch_many(self, workflow: Workflow, inputs: Iterable[Mapping[str, Any]], *,
                    execution_names: Iterable[str] | None = None, project: str | None = None,
                    domain: str | None = None, batch: int = 500,
                    launched_by: Identity | None = None) -> list[Execution]:
        """Start one execution of ``workflow`` per mapping of ``inputs`` and return them, in order, once every
        one is stored; each group of up to ``batch`` executions is created in one store transaction.

        Each is as :meth:`launch` makes it (policies, ``launched_by``, the gates it reaches first): visible to other
        processes, its first gates ``PENDING``, from the commit of its group on. Every input is bound, and every
        name and policy checked, before anything is written (``TypeError``, ``InvalidNameError``,
        ``ExecutionExistsError`` for a name given twice, ``UnsupportedError``). A group the store refuses (a name
        that exists: ``ExecutionExistsError`` naming it and saying how many were created; a ``StoreError``) is
        written not at all, nor is any group after it; the groups before it are committed and run.
        """
        if batch < 1:
            raise ValueError(f"launch_many: batch must be at least 1, not {batch}.")
        given = list(inputs)
        names: list[str | None] = list(execution_names) if execution_names is not None else [None] * len(given)
        if len(names) != len(given):
            raise ValueError(f"launch_many: {len(names)} execution names for {len(given)} inputs; nothing was "
                             "launched.")
        keys = _keys(workflow, names, project, domain)
        twice = [key for key, n in collections.Counter(keys).items() if n > 1]
        if twice:
            raise ExecutionExistsError(f"launch_many: execution {twice[0]} is named more than once; nothing was "
                                       "launched.")
        executions = [Execution(self, workflow, key, workflow.bind_inputs(dict(values)))
                      for key, values in zip(keys, given)]
        # the same for every execution here (one workflow, project and domain)
        signals = with_policies(rows(workflow)[1], keys[0], self.store) if keys else []
        for start in range(0, len(executions), batch):
            group = executions[start:start + batch]
            try:
                self.store.create_executions([self._new(ex, signals, launched_by) for ex in group])
            except ExecutionExistsError as exc:
                raise ExecutionExistsError(
                    f"{exc} launch_many created none of executions {start + 1:,}-{start + len(group):,} of "
                    f"{len(executions):,} (one group, one transaction) nor any after them; the {start:,} before them "
                    "were created and run."
                ) from exc
            for execution in group:
                self._start(execution, None, child=False)
        return executions

    def _new(self, execution: Execution, signals: list[SignalRow], launched_by: Identity | None) -> NewExecution:
        """What the store creates for a fresh ``execution`` (its gates reached at once: from now)."""
        workflow = execution.workflow
        return NewExecution(execution.id, workflow.name,
                            {k: json_or_none(workflow.input_hints[k], v) for k, v in execution.inputs.items()},
                            rows(workflow)[0], signals, workflow_path=import_path(workflow),
                            reached=execution.first_gates(), launched_by=launched_by or self.identity)

    def _start(self, execution: Execution, record: Any, *, child: bool) -> None:
        """Hold ``execution`` (stored, or adopted as ``record``) as running here and start it."""
        with self._lock:
            self._executions[execution.id] = execution
            if not child:
                self.launched.append(execution)
                del self.launched[:-_KEEP_LAUNCHED]
        try:
            execution.start(record)
        except BaseException:  # its stored outputs cannot be restored: nothing started
            self.let_go(execution)
            raise

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
                    if self.store.owns(record):
                        self.store.finish_execution(event.execution_id, ExecutionStatus.ABORTED,
                                                    error="Aborted on request; its process had let it go.")

