"""Runs executions in the background of this process.

Ready task nodes go to one run queue that one pool worker drains; more workers join, up to
``max_workers``, only while the queue makes no progress (slow tasks run side by side, a burst
of quick ones costs no thread hand-offs). A task that finishes runs its one ready successor
inline (no hand-off for chains). A reached gate holds no thread: it is a registration woken by
the store when its signal is set (directly from this process, through the store watcher from
others) or by the single timer thread (:mod:`gatewidgets.timers`) at its deadline. What users
await on an execution is in :mod:`gatewidgets.awaiting`.

A node's completion survives a kill of the process before any successor starts or any gate
it feeds opens (``SqliteStore.durable``: a group write to a completion journal that
recovery replays), so a crash never re-runs a node whose successor started. Deadlines are
stored as wall-clock times but waited for on the monotonic clock. An error of the store
that outlasts its retries ends the execution here (FAILED, ``StoreError``) and frees
everything it held; the store keeps it recoverable. A failing execution first runs its
workflow's ``on_failure`` task (node ``on_failure``, on a thread of its own), then ends FAILED.

A ``child`` node (``dsl.launch_child``, a flytekit launch plan used as a node) launches another
execution on the same executor and store and holds no thread either: the child's end completes
or fails it (in this process through the child's future; a child run by another process
through the store's ``finished`` event). Ending the parent aborts its running children.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import importlib
import json
import logging
import os
import secrets
import sys
import threading
import time
import traceback
import typing
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Generator, Iterable

from gatewidgets import dsl, notify
from gatewidgets.awaiting import NOT_YET, Awaiting, BlockingWaitWarning, warn_blocking
from gatewidgets.dsl import Const, Many, Node, Ref, SignalSpec, Workflow
from gatewidgets.errors import (
    BranchFailedError,
    ChildExecutionError,
    ExecutionAbortedError,
    ExecutionExistsError,
    GateError,
    GateTimeoutError,
    StoreError,
    WorkflowDefinitionError,
    WorkflowNotFoundError,
)
from gatewidgets.models.execution import (
    ExecutionRecord,
    ExecutionStatus,
    NodeState,
    WorkflowExecutionIdentifier,
    check_name,
    child_execution_name,
)
from gatewidgets.models.signal import Signal, SignalEvent, SignalState
from gatewidgets.settings import settings
from gatewidgets.store import SqliteStore, open_store
from gatewidgets.store.base import ExecutorStore, StoreEvent, now
from gatewidgets.timers import Timers
from gatewidgets.types import GateType

__all__ = ["Executor", "Execution", "ExecutionEvent", "Awaiting", "BlockingWaitWarning", "default_executor",
           "shutdown_executors", "recover"]

log = logging.getLogger(__name__)
ExecKey = WorkflowExecutionIdentifier


@dataclass(frozen=True)
class ExecutionEvent:
    """What an execution publishes: ``node`` (state change), ``gate_waiting``, ``signal_set``, ``finished``."""

    kind: str
    execution: Execution
    node_id: str | None = None
    state: NodeState | ExecutionStatus | None = None
    signal_id: str | None = None


@functools.lru_cache(maxsize=512)
def _gate_type(hint: Any) -> GateType | None:
    try:
        return GateType.of(hint)
    except TypeError:
        return None


def _json_or_none(hint: Any, value: Any) -> Any:
    if type(value) is hint and hint in (int, str, bool) and (hint is not int or -2**63 <= value < 2**63):
        return value  # already its own JSON form: skip the validator (the hot path of every task output)
    gate_type = _gate_type(hint) if _hashable(hint) else None
    if gate_type is None:
        return None
    try:
        return gate_type.validate(value)
    except Exception:
        return None


def _hashable(hint: Any) -> bool:
    try:
        hash(hint)
    except TypeError:
        return False
    return True


class Executor:
    """Runs executions of one store on a worker pool (default ``min(32, cpu_count + 4)`` threads)."""

    def __init__(self, store: ExecutorStore | None = None, max_workers: int | None = None) -> None:
        self.store = store or open_store()
        self.max_workers = max_workers or settings.max_workers
        self.pool = concurrent.futures.ThreadPoolExecutor(self.max_workers, thread_name_prefix="gatewidgets-worker")
        self.timers = Timers()
        self._lock = threading.Lock()
        self._executions: dict[ExecKey, Execution] = {}  # running ones only: a finished one is let go
        self._waiting: dict[tuple[ExecKey, str], tuple[tuple[Execution, Node], ...]] = {}  # replaced, not changed
        self._following: dict[ExecKey, list[Callable[[], None]]] = {}  # children run by other processes
        self.launched: list[Execution] = []
        self._ready: collections.deque[tuple[Execution, Node]] = collections.deque()
        self._draining = 0  # pool jobs taking tasks off ``_ready``; at most max_workers
        self._taken = 0  # tasks taken off ``_ready`` so far: progress, for the backlog watch
        self._watching = False  # a timer checks the backlog for progress
        self._ready_lock = threading.Lock()
        self._unsubscribe = self.store.subscribe(self._on_store_events)

    def schedule(self, execution: Execution, node: Node) -> None:
        """Queue a ready task. One worker drains the queue; while tasks wait and none was taken for
        ``_RAMP_S`` (the workers are busy with slow tasks), one more worker joins, up to ``max_workers``.
        So a burst of 1,000 quick tasks costs no hand-offs between threads, and slow ones still run
        side by side (a millisecond later)."""
        with self._ready_lock:
            self._ready.append((execution, node))
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
        self.timers.schedule(now() + timedelta(seconds=_RAMP_S), lambda: self._ramp(taken))

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
                execution, node = self._ready.popleft()
                self._taken += 1
            execution._guarded(execution._run_tasks, node)

    def shutdown(self) -> None:
        """Abort what still runs, stop the timer thread and the worker pool."""
        for execution in list(self._executions.values()):
            if not execution.done():
                execution.abort()
        self._unsubscribe()
        self.timers.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def launch(self, workflow: Workflow, inputs: dict[str, Any], *, execution_name: str | None = None,
               project: str | None = None, domain: str | None = None, recover: bool = False,
               child: bool = False) -> Execution:
        """Start ``workflow`` in the background and return its :class:`Execution` at once.

        With ``recover=True`` and a stored execution of that name, inputs left out are the stored
        ones and inputs given must equal them. A ``child`` execution (a node's) is not listed in
        :attr:`launched`.
        """
        name = execution_name or f"{workflow.name.replace('_', '-')}-{secrets.token_hex(3)}"
        key = ExecKey(check_name(project or settings.default_project, "project"),
                      check_name(domain or settings.default_domain, "domain"), check_name(name, "execution_name"))
        record = None
        if recover:
            try:
                record = self.store.get_execution(key, with_nodes=False)
            except LookupError:
                record = None
        if record is not None and record.workflow == workflow.name:  # another workflow's: refused below
            inputs = _stored_inputs(workflow, record, inputs)
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
                    self._let_go(execution)
                    raise
        if record is None:
            nodes, signals = _rows(workflow)
            stored_inputs = {k: _json_or_none(workflow.input_hints[k], v) for k, v in values.items()}
            self.store.create_execution(key, workflow.name, stored_inputs, nodes, signals,
                                        workflow_path=_import_path(workflow))
        with self._lock:
            self._executions[key] = execution
            if not child:
                self.launched.append(execution)
                del self.launched[:-_KEEP_LAUNCHED]
        try:
            execution._start(record)
        except BaseException:  # its stored outputs cannot be restored: nothing started
            self._let_go(execution)
            raise
        return execution

    def get(self, key: ExecKey) -> Execution | None:
        """The running execution of this process with that key, if any."""
        return self._executions.get(key)

    def _let_go(self, execution: Execution) -> None:
        with self._lock:
            if self._executions.get(execution.id) is execution:
                del self._executions[execution.id]

    # waiters ---------------------------------------------------------------------

    def _wait_for(self, execution: Execution, node: Node) -> None:
        assert node.signal is not None
        key = (execution.id, node.signal.signal_id)
        with self._lock:
            self._waiting[key] = (*self._waiting.get(key, ()), (execution, node))

    def _forget(self, execution: Execution, node: Node | None = None) -> None:
        # A gate waits under its own (execution, signal) key only: look those up instead of scanning
        # every waiting gate of the process (which made each resume O(all waiting gates)).
        nodes = [node] if node is not None else list(execution.nodes.values())
        keys = {(execution.id, n.signal.signal_id) for n in nodes if n.signal is not None}
        with self._lock:
            for key in [k for k in keys if k in self._waiting]:
                kept = tuple((e, n) for e, n in self._waiting[key] if node is not None and n is not node)
                if kept:
                    self._waiting[key] = kept
                else:
                    del self._waiting[key]

    def _follow(self, key: ExecKey, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once when the store reports execution ``key`` finished (run by another process)."""
        with self._lock:
            self._following.setdefault(key, []).append(callback)

    def _unfollow(self, key: ExecKey) -> None:
        with self._lock:
            self._following.pop(key, None)

    def _on_store_events(self, events: list[StoreEvent]) -> None:
        for event in events:
            if event.kind in ("set", "timed_out") and event.signal_id is not None:
                with self._lock:
                    waiters = self._waiting.pop((event.execution_id, event.signal_id), ())
                for execution, node in waiters:
                    try:
                        execution._resolve(node, self.store.get_signal(event.execution_id, event.signal_id))
                    except Exception as exc:  # never leave a gate waiting on an error of ours
                        execution._fail(node, exc)
            elif event.kind == "finished":
                with self._lock:
                    followers = self._following.pop(event.execution_id, [])
                for follower in followers:
                    follower()
            elif event.kind == "abort_requested":
                owned = self._executions.get(event.execution_id)
                if owned is not None and not owned.done():
                    owned.abort()
                elif owned is None:  # ended here without the store recording it (see Execution._finish)
                    record = self.store.get_execution(event.execution_id, with_nodes=False)
                    if (record.pid, record.host) == (os.getpid(), self.store.host):
                        self.store.finish_execution(event.execution_id, ExecutionStatus.ABORTED,
                                                    error="Aborted on request; its process had let it go.")


def _stored_inputs(workflow: Workflow, record: Any, given: dict[str, Any]) -> dict[str, Any]:
    """The inputs of a recovered execution: the stored ones, which the given ones must equal."""
    inputs = dict(given)
    for arg, hint in workflow.input_hints.items():
        stored = record.inputs.get(arg)
        gate_type = workflow.input_types[arg]
        if arg in given:
            if arg in record.inputs and _json_or_none(hint, given[arg]) != stored:
                raise ExecutionExistsError(
                    f"Cannot recover execution {record.name!r} with {arg}={given[arg]!r}: it was launched with "
                    f"{arg}={stored!r}. Leave the inputs out to recover it with the stored ones.")
        elif arg in record.inputs:
            if stored is None and not _accepts_none(gate_type):
                raise ExecutionExistsError(
                    f"Cannot recover execution {record.name!r}: its input {arg!r} ({hint}) could not be stored; "
                    f"pass it again: launch(execution_name={record.name!r}, recover=True, {arg}=...).")
            inputs[arg] = gate_type.to_python(stored) if stored is not None else None  # type: ignore[union-attr]
    return inputs


def _accepts_none(gate_type: GateType | None) -> bool:
    try:
        return gate_type is not None and gate_type.validate(None) is None
    except Exception:
        return False


def _import_path(workflow: Workflow) -> str | None:
    """``module:qualname`` that imports ``workflow`` again, if it is a module's attribute (not ``__main__``)."""
    module, qualname = getattr(workflow, "__module__", None), getattr(workflow, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        return None
    target: Any = sys.modules.get(module)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    return f"{module}:{qualname}" if target is workflow else None


def _node_row(node: Node) -> dict[str, Any]:
    return {"node_id": node.id, "kind": str(node.kind), "name": node.name,
            "upstream": json.dumps(sorted(node.upstream), separators=(",", ":")),
            "signal_id": node.signal.signal_id if node.signal else None}


_row_cache: weakref.WeakKeyDictionary[Workflow, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = \
    weakref.WeakKeyDictionary()


_graph_cache: weakref.WeakKeyDictionary[Workflow, tuple[dict[str, int], dict[str, tuple[str, ...]]]] = \
    weakref.WeakKeyDictionary()


def _graph(workflow: Workflow) -> tuple[dict[str, int], dict[str, tuple[str, ...]]]:
    """Each node's number of upstream nodes and its downstream nodes (built once per workflow; copied per run)."""
    graph = _graph_cache.get(workflow)
    if graph is None:
        children: dict[str, list[str]] = {nid: [] for nid in workflow.nodes}
        for nid in workflow.order:
            for up in workflow.nodes[nid].upstream:
                children[up].append(nid)
        graph = _graph_cache[workflow] = ({nid: len(node.upstream) for nid, node in workflow.nodes.items()},
                                          {nid: tuple(down) for nid, down in children.items()})
    return graph


def _rows(workflow: Workflow) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The stored rows of a workflow's nodes and signals (the same for every launch, so built once)."""
    rows = _row_cache.get(workflow)
    if rows is None:
        rows = _row_cache[workflow] = ([_node_row(n) for n in workflow.nodes.values()],
                                       [_signal_row(s, workflow.nodes) for s in workflow.signals.values()])
    return rows


def _signal_row(spec: SignalSpec, nodes: dict[str, Node]) -> dict[str, Any]:
    node_id = next(n.id for n in nodes.values() if n.signal is not None and n.signal.signal_id == spec.signal_id)
    return {"signal_id": spec.signal_id, "kind": spec.kind.value, "description": spec.description,
            "node_id": node_id, "type": spec.gate_type.to_record(),
            "context": _declared_context(spec)}


def _declared_context(spec: SignalSpec) -> dict[str, Any] | None:
    """What faces need of a gate before it is reached: an editable approval's type, an input's default."""
    context: dict[str, Any] = {}
    if spec.edit_type is not None:
        context["edit_type"] = spec.edit_type.to_record()
    if spec.has_default:
        context["default"] = spec.gate_type.validate(spec.default)
    return context or None


_RAMP_S = 0.001  # a backlog of ready tasks none of which was taken for this long gets one more worker
_NONE_RESOLVED: frozenset[str] = frozenset()  # shared: an empty frozenset() is not a singleton
_KEEP_LAUNCHED = 100  # Executor.launched keeps the latest ones (magics' default execution), not all
_executors: dict[tuple[int, str], Executor] = {}
_executors_lock = threading.Lock()


def default_executor(store: ExecutorStore | None = None) -> Executor:
    """This process's executor for ``store`` (default: the default store)."""
    store = store or open_store()
    with _executors_lock:
        executor = _executors.get((os.getpid(), store.path))
        if executor is None:
            executor = _executors[(os.getpid(), store.path)] = Executor(store)
            if isinstance(store, SqliteStore):  # webhooks tell this machine's processes apart
                notify.install_from_settings(store)
        return executor


def shutdown_executors() -> None:
    """Shut down every default executor of this process (tests use it between cases)."""
    with _executors_lock:
        executors = list(_executors.values())
        _executors.clear()
    for executor in executors:
        executor.shutdown()


def recover(execution_name: str, project: str | None = None, domain: str | None = None, *,
            workflow: Workflow | str | None = None, namespace: dict[str, Any] | None = None,
            store: ExecutorStore | None = None) -> Execution:
    """Resume a stored, unfinished execution by name, in this process, with its stored inputs.

    Its workflow is ``workflow`` (the object or ``"module:qualname"``), else the import path
    recorded at launch, else the workflow of that name in ``namespace`` (a notebook's).
    """
    executor = default_executor(store)
    key = ExecKey(project or settings.default_project, domain or settings.default_domain, execution_name)
    record = executor.store.get_execution(key, with_nodes=False)
    found = _find_workflow(record, workflow, namespace)
    return executor.launch(found, {}, execution_name=key.name, project=key.project, domain=key.domain,
                           recover=True)


def _find_workflow(record: Any, workflow: Workflow | str | None, namespace: dict[str, Any] | None) -> Workflow:
    if isinstance(workflow, Workflow):
        return workflow
    path = workflow or record.workflow_path
    if path:
        module, _, qualname = path.partition(":")
        try:
            target: Any = importlib.import_module(module)
            for part in qualname.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError, ValueError) as exc:
            raise WorkflowNotFoundError(
                f"Cannot import workflow {path!r} of execution {record.name!r} ({type(exc).__name__}: {exc}); "
                "make its module importable here (PYTHONPATH) or name it as MODULE:NAME.") from None
        if not isinstance(target, Workflow):
            raise WorkflowNotFoundError(f"{path!r} is a {type(target).__name__}, not a @workflow.")
        return target
    found = [v for v in (namespace or {}).values() if isinstance(v, Workflow) and v.name == record.workflow]
    if found:
        return found[0]
    raise WorkflowNotFoundError(
        f"Execution {record.name!r} runs workflow {record.workflow!r}, defined where it cannot be imported from "
        f"(a notebook or a script). Recover it where {record.workflow!r} is defined: run its definition, then "
        f"`%gate recover {record.name}` or `{record.workflow}.launch(execution_name={record.name!r}, recover=True)`; "
        f"or name its module: `gatewidgets recover {record.name} --workflow MODULE:{record.workflow}`.")


def _launch(workflow: Workflow, inputs: dict[str, Any], **options: Any) -> Execution:
    return default_executor().launch(workflow, inputs, **options)


dsl.set_launcher(_launch)


class Execution:
    """One run of a workflow in this process. ``await ex`` or ``ex.wait()`` for its outputs."""

    # slots: 100,000 executions may wait at once, and past 30 attributes an instance dict stops sharing its keys
    __slots__ = ("executor", "store", "workflow", "id", "inputs", "started_at", "finished_at", "_status", "_ending",
                 "_outputs", "_error", "error_traceback", "_lock", "_results", "nodes", "signal_specs", "node_states",
                 "_remaining", "_children", "_finished_nodes", "_timer_handles", "_resolved", "_future", "_over",
                 "_listeners", "_deliveries", "opens_gates_at_run_time", "children", "_recovered",
                 "_counts_shared", "__weakref__")  # widgets refer to it weakly

    def __init__(self, executor: Executor, workflow: Workflow, key: ExecKey, inputs: dict[str, Any]) -> None:
        self.executor = executor
        self.store = executor.store
        self.workflow = workflow
        self.id = key
        self.inputs = inputs
        self.started_at = now()
        self.finished_at: datetime | None = None
        self._status = ExecutionStatus.RUNNING
        self._ending = False
        self._outputs: Any = None
        self._error: BaseException | None = None
        self.error_traceback: str | None = None
        self._lock = threading.RLock()
        self._results: dict[str, Any] | None = None  # node outputs: made by the first (see _node_outputs)
        # the workflow's own tables, shared until nodes are added (see _own_tables): @dynamic, add_gate, on_failure
        self.nodes: dict[str, Node] = workflow.nodes
        self.signal_specs: dict[str, SignalSpec] = workflow.signals
        self.node_states: dict[str, NodeState] = {nid: NodeState.QUEUED for nid in self.nodes}  # fromkeys oversizes
        remaining, children = _graph(workflow)
        self._remaining = remaining  # upstream nodes not finished yet, per node: the workflow's until one finishes
        self._counts_shared = True
        self._children = children  # downstream nodes, per node (tuples)
        self._finished_nodes = 0
        self._timer_handles: dict[str, list[Any]] = {}
        self._resolved: set[str] | frozenset[str] = _NONE_RESOLVED  # a set from the first resolution on
        self._future: concurrent.futures.Future[Any] | None = None  # made when first waited on (see _done)
        self._over = False  # ended: outputs and error are final
        self._listeners: tuple[Callable[[ExecutionEvent], None], ...] = ()  # replaced, never changed in place
        self._deliveries: dict[str, Callable[[Signal], None]] | None = None  # gates opened by add_gate (made then)
        self.opens_gates_at_run_time = False  # a front door's task may call add_gate (Flyte 2 conditions)
        self.children: dict[str, ExecKey] = {}  # child node id -> the child execution it launched
        self._recovered = False

    # public ----------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.id.name

    @property
    def status(self) -> ExecutionStatus:
        return self._status

    @property
    def outputs(self) -> Any:
        """What the workflow returned, once it succeeded (else ``None``)."""
        return self._outputs

    @property
    def error(self) -> BaseException | None:
        """Why it failed or was aborted."""
        return self._error

    def done(self) -> bool:
        return self._over

    @property
    def _done(self) -> concurrent.futures.Future[Any]:
        """The future of the outputs, made on first use: most executions wait at a gate unobserved, and a
        ``Future`` (a ``Condition``, its lock and waiter deque) is most of what each would otherwise hold."""
        with self._lock:
            if self._future is None:
                self._future = concurrent.futures.Future()
                if self._over:
                    self._settle(self._future)
            return self._future

    def _settle(self, future: concurrent.futures.Future[Any]) -> None:
        if self._error is not None:
            future.set_exception(self._error)
        else:
            future.set_result(self._outputs)

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

    def abort(self) -> None:
        """Stop the execution: open signals become ``CANCELLED``, no new node starts."""
        self._finish(ExecutionStatus.ABORTED,
                     error=ExecutionAbortedError(f"Execution {self.name!r} was aborted."))

    def signals(self) -> list[Signal]:
        """Every signal of this execution, in declaration order."""
        return self.store.list_signals(self.id, limit=None)

    def history(self) -> list[SignalEvent]:
        """Every stored event of this execution, oldest first."""
        return self.store.history(self.id)

    def subscribe(self, listener: Callable[[ExecutionEvent], None]) -> Callable[[], None]:
        """Call ``listener(event)`` on every node change, gate waiting, signal set and on finish."""
        with self._lock:
            self._listeners = (*self._listeners, listener)
        return lambda: self._unsubscribe(listener)

    def _unsubscribe(self, listener: Callable[[ExecutionEvent], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                kept = list(self._listeners)
                kept.remove(listener)
                self._listeners = tuple(kept)

    def __repr__(self) -> str:
        return f"<Execution {self.workflow.name} {self.id.name} {self._status.value}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """In a notebook: the live execution widget (ipywidgets are imported on first display)."""
        from gatewidgets.widgets import _execution_mimebundle

        return _execution_mimebundle(self, include, exclude)

    # engine ----------------------------------------------------------------------

    def _node_names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for nid, node in list(self.nodes.items()):
            name, n = node.name, 1
            while name in names:
                n += 1
                name = f"{node.name}-{n}"
            names[name] = nid
        return names

    def _may_grow(self) -> bool:
        """A ``@dynamic`` node has not run yet, or a front door's task may still open gates
        (:meth:`add_gate`): the execution may still add nodes and signals."""
        if self.opens_gates_at_run_time and not self.done():
            return True
        return any(n.kind == "dynamic" and not self.node_states[nid].is_terminal
                   for nid, n in list(self.nodes.items()))

    def _ended_before(self, what: str) -> BaseException:
        return self.error or RuntimeError(f"Execution {self.name!r} ended ({self.status.value}) before its {what}.")

    def _own_tables(self) -> None:
        """Before adding nodes (under ``_lock``): copy the node, signal and downstream tables shared with the
        workflow, so an execution that adds none (most) holds no copies."""
        if self.nodes is self.workflow.nodes:
            self.nodes, self.signal_specs, self._children = (dict(self.nodes), dict(self.signal_specs),
                                                             dict(self._children))
        self._own_counts()

    def _node_outputs(self) -> dict[str, Any]:
        """The finished nodes' outputs, made when the first one finishes (a waiting execution holds none)."""
        if self._results is None:
            self._results = {}
        return self._results

    def _own_counts(self) -> dict[str, int]:
        """The upstream counts, to change (under ``_lock``): copied from the workflow's before the first change,
        so an execution waiting at its first gate holds no copy."""
        if self._counts_shared:
            self._remaining = dict(self._remaining)
            self._counts_shared = False
        return self._remaining

    def _mark_resolved(self, node_ids: Iterable[str]) -> None:
        """Record that these nodes' ends are being handled (under ``_lock``)."""
        if not isinstance(self._resolved, set):
            self._resolved = set()
        self._resolved.update(node_ids)

    def _publish(self, kind: str, **fields: Any) -> None:
        if not self._listeners:
            return
        event = ExecutionEvent(kind, self, **fields)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("gatewidgets execution listener failed")

    def _set_state(self, node: Node, state: NodeState, **fields: Any) -> None:
        self.node_states[node.id] = state
        self.store.update_node(self.id, node.id, state=state, **fields)
        if self._listeners:
            self._publish("node", node_id=node.id, state=state)

    def _start(self, record: Any) -> None:
        ready: list[str] = []
        self._recovered = record is not None
        if record is not None:
            ready = self._restore(record)
        else:
            ready = [nid for nid in self.workflow.order if self._remaining[nid] == 0]
        if self._finished_nodes == len(self.nodes):  # nothing to run (or all ran before a failed ending)
            self._succeed()
            return
        self._guarded(self._start_nodes, ready, inline=False)

    def _restore(self, record: Any) -> list[str]:
        """Take finished nodes' outputs from the store; return the nodes ready to run."""
        for stored in record.nodes:
            node = self.nodes.get(stored.node_id)
            if node is None or stored.state not in (NodeState.SUCCEEDED, NodeState.SKIPPED):
                continue
            if stored.state is NodeState.SUCCEEDED:
                self._node_outputs()[node.id] = self._restored_output(node, stored.outputs)
            self.node_states[node.id] = stored.state
            self._finished_nodes += 1
            for child in self._children[node.id]:
                self._own_counts()[child] -= 1
        return [nid for nid in self.workflow.order
                if self._remaining[nid] == 0 and not self.node_states[nid].is_terminal]

    def _restored_output(self, node: Node, stored: Any) -> Any:
        if not node.has_output:
            return None
        hints = node.output_hints
        types = [_gate_type(h) if _hashable(h) else None for h in hints]
        if stored is None or any(t is None for t in types):
            raise ExecutionExistsError(
                f"Cannot recover execution {self.name!r}: node {node.id} ({node.name}) finished but its output "
                f"of type {hints} could not be stored. Re-launch it under a new name instead."
            )
        if node.multi_output:
            return tuple(t.to_python(v) for t, v in zip(types, stored))  # type: ignore[union-attr]
        return types[0].to_python(stored)  # type: ignore[union-attr]

    def _start_nodes(self, ready: list[str], *, inline: bool) -> Node | None:
        """Reach ready gates, submit ready tasks; keep one task to run inline if ``inline``.

        First the completions queued so far (those that made these nodes ready) are made durable:
        a crash after this point never runs a finished node again.
        """
        keep: Node | None = None
        if ready:
            self.store.durable()
        for nid in ready:
            node = self.nodes[nid]
            if self._ending:
                return None
            if self.node_states[nid] is NodeState.SKIPPED:
                continue
            if node.is_gate:
                self._reach(node)
            elif node.kind == "branch":
                self._decide(node)
            elif node.kind in ("merge", "collect"):
                self._gather(node)
            elif node.kind == "child":
                self._launch_child(node)
            elif inline and keep is None:
                keep = node
            else:
                self.executor.schedule(self, node)
        return keep

    def _run_tasks(self, node: Node | None) -> None:
        while node is not None and not self._ending:
            current = node
            assert current.task is not None
            try:
                kwargs = {arg: self._value(b) for arg, b in current.bindings.items()}
                self._set_state(current, NodeState.RUNNING, started_at=time.time())
                if current.kind == "dynamic":
                    node = self._expand(current, kwargs)
                    continue
                value = current.task.invoke(self, current, kwargs)
                if current.multi_output and (not isinstance(value, tuple)
                                             or len(value) != len(current.output_hints)):
                    raise TypeError(f"task {current.name} must return a tuple of {len(current.output_hints)} "
                                    f"values, got {value!r}")
            except BaseException as exc:  # the task's own error fails the execution
                self._fail(current, exc)
                return
            node = self._complete(current, value, inline=True)

    def _value(self, binding: Ref | Const | Many) -> Any:
        if isinstance(binding, Const):
            return binding.value
        if isinstance(binding, Many):
            if binding.kind == "dict":
                return {key: self._value(b) for key, b in binding.items}
            return [self._value(b) for _, b in binding.items]
        if binding.input_name is not None:
            return self.inputs[binding.input_name]
        value = self._node_outputs()[binding.node_id]  # type: ignore[index]
        return value[binding.index] if binding.index is not None else value

    def _complete(self, node: Node, value: Any, *, inline: bool) -> Node | None:
        with self._lock:
            if self._ending:
                return None
            self._node_outputs()[node.id] = value
            ready = []
            remaining = self._own_counts()
            for child in self._children[node.id]:
                remaining[child] -= 1
                if remaining[child] == 0:
                    ready.append(child)
            self._finished_nodes += 1
            all_done = self._finished_nodes == len(self.nodes)
        hints = node.output_hints
        if not hints:
            outputs = None
        elif node.multi_output:
            outputs = [_json_or_none(h, v) for h, v in zip(hints, value)]
        else:
            outputs = _json_or_none(hints[0], value)
        self._set_state(node, NodeState.SUCCEEDED, finished_at=time.time(), outputs=outputs)
        if node.parent is not None and node.kind == "collect":
            return self._complete(self.nodes[node.parent], value, inline=inline)
        if all_done:
            self._succeed()
            return None
        return self._start_nodes(ready, inline=inline) if ready else None

    # branches and dynamic nodes ----------------------------------------------------

    def _decide(self, node: Node) -> None:
        """Pick the first case whose condition holds; skip the others' nodes and cancel their signals."""
        spec = node.branch
        assert spec is not None
        try:
            taken = next((i for i, c in enumerate(spec.conditions) if c is None or c.evaluate(self._value)), None)
        except Exception as exc:  # e.g. comparing None with an int
            self._fail(node, exc)
            return
        skipped = [n for n in self.nodes.values() if any(d == node.id and i != taken for d, i in n.cases)]
        gone = {n.id for n in skipped}
        closing = {n.signal.signal_id for n in skipped if n.signal is not None} - {
            n.signal.signal_id for n in self.nodes.values() if n.signal is not None and n.id not in gone}
        if closing:
            self.store.cancel_signals(self.id, sorted(closing))
        ready = []
        with self._lock:
            if self._ending:
                return
            remaining = self._own_counts()
            for n in skipped:
                self.node_states[n.id] = NodeState.SKIPPED
                self._finished_nodes += 1
                for child in self._children[n.id]:
                    remaining[child] -= 1
                    if remaining[child] == 0 and child not in gone:
                        ready.append(child)
        for n in skipped:
            self.store.update_node(self.id, n.id, state=NodeState.SKIPPED)
            self._publish("node", node_id=n.id, state=NodeState.SKIPPED)
        self._start_nodes(ready, inline=False)
        self._complete(node, taken, inline=False)

    def _gather(self, node: Node) -> None:
        """Produce a conditional's result (``merge``) or a dynamic node's result (``collect``)."""
        if node.kind == "merge":
            spec = node.branch
            assert spec is not None
            branch = node.bindings["branch"]
            assert isinstance(branch, Ref) and branch.node_id is not None
            taken = self._node_outputs()[branch.node_id]
            if taken is not None and spec.failures[taken] is not None:
                self._fail(node, BranchFailedError(f"conditional {spec.name!r}: {spec.failures[taken]}"))
                return
            output = spec.outputs[taken] if taken is not None else None
            value = self._value(output) if output is not None else None
        elif not node.bindings:
            value = None
        elif "output" in node.bindings:
            value = self._value(node.bindings["output"])
        else:
            value = tuple(self._value(node.bindings[str(i)]) for i in range(len(node.bindings)))
        self._complete(node, value, inline=False)

    def _expand(self, node: Node, kwargs: dict[str, Any]) -> Node | None:
        """Run a ``@dynamic`` body and graft the nodes it built into this execution."""
        assert isinstance(node.task, dsl.Dynamic)
        builder, outputs = node.task.expand(node.id, kwargs, self.workflow.name)
        for sid, spec in builder.signals.items():
            known = self.signal_specs.get(sid)
            if known is not None and (known.kind != spec.kind or
                                      known.gate_type.literal_type != spec.gate_type.literal_type):
                raise WorkflowDefinitionError(
                    f"@dynamic {node.name}: signal {sid!r} exists already in execution {self.name!r} as "
                    f"{known.kind} {known.gate_type.literal_type}; it cannot also be {spec.kind} "
                    f"{spec.gate_type.literal_type}. Give it another name."
                )
        collect = Node(id=f"{node.id}.out", kind="collect", name=f"{node.name}-result",
                       upstream=set(builder.nodes), output_hints=node.output_hints,
                       multi_output=node.multi_output, parent=node.id)
        if isinstance(outputs, tuple):
            collect.bindings = {str(i): b for i, b in enumerate(outputs)}
        elif outputs is not None:
            collect.bindings = {"output": outputs}
        added = {**builder.nodes, collect.id: collect}
        for child in builder.nodes.values():
            child.parent = node.id
        fresh = [spec for sid, spec in builder.signals.items() if sid not in self.signal_specs]
        self.store.add_nodes(self.id, [_node_row(n) for n in added.values()],
                             [_signal_row(spec, added) for spec in fresh])
        with self._lock:
            if self._ending:
                return None
            self._own_tables()
            for nid, child in added.items():
                self.nodes[nid] = child
                self.node_states[nid] = NodeState.QUEUED
                self._remaining[nid] = len(child.upstream)
                self._children[nid] = ()
            for nid, child in added.items():
                for up in child.upstream:
                    self._children[up] += (nid,)
            self.signal_specs.update({spec.signal_id: spec for spec in fresh})
        self._publish("expanded", node_id=node.id)
        return self._start_nodes([nid for nid in added if self._remaining[nid] == 0], inline=True)

    # child executions --------------------------------------------------------------

    def _launch_child(self, node: Node) -> None:
        """Start the child execution of ``node``, or, in a recovered execution, take up the one started before
        (its outputs if it ended; recovered here if its process is gone; followed if another process runs it)."""
        spec = node.child
        assert spec is not None
        key = ExecKey(check_name(spec.project or self.id.project, "project"),
                      check_name(spec.domain or self.id.domain, "domain"), child_execution_name(self.name, node.id))
        with self._lock:
            if self._ending:
                return
            self.children[node.id] = key
        self._set_state(node, NodeState.RUNNING, started_at=time.time(), child_execution=str(key))
        try:
            record = self._stored_child(key) if self._recovered else None
            if record is not None and self._take_up_child(node, key, record):
                return
            child = self.executor.get(key) if record is not None else None
            if child is None:
                inputs = {arg: self._value(b) for arg, b in node.bindings.items()} if record is None else {}
                try:
                    child = self.executor.launch(spec.workflow, inputs, execution_name=key.name,
                                                 project=key.project, domain=key.domain, recover=record is not None,
                                                 child=True)
                except ExecutionExistsError:
                    # Between the look above and the adoption, another process adopted the orphaned child (or it
                    # ended): the adoption is refused; take the child up as it is now.
                    again = self._stored_child(key) if record is not None else None
                    if again is None or not self._take_up_child(node, key, again):
                        raise
                    return
        except Exception as exc:  # e.g. an execution of that name exists, or cannot be recovered
            self._fail(node, exc)
            return
        child._done.add_done_callback(lambda _: self._guarded(self._child_done, node, child))

    def _take_up_child(self, node: Node, key: ExecKey, record: ExecutionRecord) -> bool:
        """Take up ``node``'s stored child: its outputs if it ended, followed if another live process runs it;
        return whether it was taken up (else it is recovered, or found running, here)."""
        if record.status.is_terminal:
            self._child_ended(node, record)
            return True
        if self.executor.get(key) is None and self.store.owner_alive(record) and \
                (record.pid, record.host) != (os.getpid(), self.store.host):
            self._follow_child(node, key)
            return True
        return False

    def _stored_child(self, key: ExecKey) -> ExecutionRecord | None:
        try:
            return self.store.get_execution(key, with_nodes=False)
        except LookupError:
            return None

    def _follow_child(self, node: Node, key: ExecKey) -> None:
        """Complete ``node`` when its child, run by another process, finishes (the store's ``finished`` event)."""
        def finished() -> None:
            self._guarded(lambda: self._child_ended(node, self.store.get_execution(key, with_nodes=False)))

        self.executor._follow(key, finished)
        record = self.store.get_execution(key, with_nodes=False)
        if record.status.is_terminal:  # it ended before we listened
            self.executor._unfollow(key)
            self._child_ended(node, record)

    def _claim(self, node: Node) -> bool:
        """Whether ``node``'s end is ours to record (once, and not once the execution ends)."""
        with self._lock:
            if node.id in self._resolved or self._ending:
                return False
            self._mark_resolved((node.id,))
            return True

    def _child_done(self, node: Node, child: Execution) -> None:
        """The child execution of ``node``, run here, ended: its outputs complete the node, else it fails."""
        if not self._claim(node):
            return
        if child.status is ExecutionStatus.SUCCEEDED:
            self._complete(node, child.outputs, inline=False)
        else:
            self._fail(node, _child_error(child.id, child.workflow.name, child.status,
                                          _message(child.error) if child.error is not None else None, child.error))

    def _child_ended(self, node: Node, record: ExecutionRecord) -> None:
        """The child execution of ``node`` ended as stored: its stored outputs complete the node, else it fails."""
        if not self._claim(node):
            return
        if record.status is not ExecutionStatus.SUCCEEDED:
            self._fail(node, _child_error(record.id, record.workflow, record.status, record.error, None))
            return
        try:
            value = self._restored_output(node, record.outputs)
        except ExecutionExistsError as exc:
            self._fail(node, exc)
            return
        self._complete(node, value, inline=False)

    def _abort_children(self) -> None:
        """The execution ends: abort the children still running (here, or through the store elsewhere)."""
        for nid, key in list(self.children.items()):
            if self.node_states[nid].is_terminal:
                continue
            self.executor._unfollow(key)
            child = self.executor.get(key)
            try:
                if child is not None:
                    child.abort()
                else:
                    self.store.request_abort(key)
            except Exception:  # its end must not stop ours
                log.exception("gatewidgets execution %r could not abort its child %s", self.name, key)

    # gates -----------------------------------------------------------------------

    def add_gate(self, parent_id: str, spec: SignalSpec, deliver: Callable[[Signal], None], *,
                 reach: bool = True) -> Node:
        """Open a gate at run time from inside the running task ``parent_id`` (a front door's condition).

        Its signal joins the execution, with every signal rule, and is reached at once; with
        ``reach=False`` it stays ``UPCOMING`` (it may be answered early) until :meth:`reach_gate`.
        Its resolution goes to ``deliver(signal)`` instead of flowing through the DAG: exactly once,
        with the ``SET`` or ``TIMED_OUT`` signal, or the ``CANCELLED`` one if the execution ends
        first. Raises ``WorkflowDefinitionError`` for a signal id in use, ``ExecutionAbortedError``
        once the execution is ending.
        """
        if spec.signal_id in self.signal_specs:
            raise WorkflowDefinitionError(f"Execution {self.name!r} has a signal {spec.signal_id!r} already.")
        node = Node(id=f"{parent_id}.{spec.signal_id}", kind=spec.kind.value, name=spec.signal_id, signal=spec,
                    upstream={parent_id}, parent=parent_id)
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
        self.store.add_nodes(self.id, [_node_row(node)], [_signal_row(spec, {node.id: node})])
        self.store.register_type(self.id, spec.signal_id, spec.gate_type)  # an early answer is typed too
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
            handles = [self._timer_handles.pop(nid) for nid in closing if nid in self._timer_handles]
            self._finished_nodes += len(closing)
        if not closing:
            return
        for handle in handles:
            self.executor.timers.cancel(handle)
        nodes = [self.nodes[nid] for nid in closing]
        for node in nodes:
            self.executor._forget(self, node)
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

    def _reach(self, node: Node) -> None:
        spec = node.signal
        assert spec is not None
        deadline = now() + spec.timeout if spec.timeout is not None else None
        self.store.register_type(self.id, spec.signal_id, spec.gate_type)
        self._set_state(node, NodeState.WAITING, started_at=time.time())  # before a set can resolve it
        self.executor._wait_for(self, node)
        signal = self.store.reach_signal(self.id, spec.signal_id, deadline, self._approval_context(node))
        self._publish("gate_waiting", node_id=node.id, signal_id=spec.signal_id)
        if signal.state is not SignalState.PENDING:
            self._resolve(node, signal)
        elif signal.deadline is not None:
            with self._lock:
                if node.id not in self._resolved and not self._ending:
                    self._timer_handles[node.id] = self.executor.timers.schedule(  # a plain function: holds no
                        signal.deadline, Execution._deadline_passed, self, node)  # bound method per gate

    def _approval_context(self, node: Node) -> dict[str, Any] | None:
        """What the gate's card shows besides the signal (for an approval: the value to approve, rendered)."""
        return node.gate_kind.context(node, lambda: self._value(node.bindings["upstream"]))

    def _deadline_passed(self, node: Node) -> None:
        self._guarded(self._deadline, node)

    def _deadline(self, node: Node) -> None:
        spec = node.signal
        assert spec is not None
        value, has_value = node.gate_kind.timeout_value(spec)
        signal = self.store.timeout_signal(self.id, spec.signal_id, value, has_value=has_value)
        self._resolve(node, signal)

    def _resolve(self, node: Node, signal: Signal) -> None:
        spec = node.signal
        assert spec is not None
        if signal.state not in (SignalState.SET, SignalState.TIMED_OUT):
            return
        with self._lock:
            if node.id in self._resolved or self._ending:
                return
            self._mark_resolved((node.id,))
            handle = self._timer_handles.pop(node.id, None)
        if handle is not None:
            self.executor.timers.cancel(handle)
        self.executor._forget(self, node)
        self._publish("signal_set", node_id=node.id, signal_id=spec.signal_id)
        with self._lock:
            deliver = self._deliveries.pop(node.id, None) if self._deliveries else None
        if deliver is not None:
            self._deliver(node, signal, deliver)
            return
        where = f"gate {spec.signal_id!r} of execution {self.name!r}"
        kind = node.gate_kind
        if signal.state is SignalState.TIMED_OUT and kind.timeout_fails(spec):
            self._fail(node, GateTimeoutError(
                f"The {where} got no answer within {spec.timeout} and has no default; it timed out."))
            return
        try:
            value = kind.resolve(spec, signal, lambda: self._value(node.bindings["upstream"]), where)
        except GateError as exc:
            self._fail(node, exc)
            return
        ready = self._complete(node, value, inline=True)
        if ready is not None:
            self.executor.schedule(self, ready)

    # endings ---------------------------------------------------------------------

    def _guarded(self, step: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run an engine step (on a worker, the timer or the launching thread); an error of ours, such as a
        store that stays unwritable, ends the execution FAILED instead of leaving it running."""
        try:
            step(*args, **kwargs)
        except Exception as exc:
            log.exception("gatewidgets execution %r failed: %s", self.name, exc)
            self._finish(ExecutionStatus.FAILED, error=exc, error_text=_traceback(exc))

    def _succeed(self) -> None:
        outputs = self.workflow.outputs
        if outputs is None:
            result = None
        elif isinstance(outputs, tuple):
            result = tuple(self._value(b) for b in outputs)
        else:
            result = self._value(outputs)
        stored = None
        if isinstance(result, tuple):
            hints = typing.get_args(self.workflow.output_hint) or (Any,) * len(result)
            stored = [_json_or_none(h, v) for h, v in zip(hints, result)]
        elif result is not None:
            stored = _json_or_none(self.workflow.output_hint, result)
        self._finish(ExecutionStatus.SUCCEEDED, outputs=result, stored_outputs=stored)

    def _fail(self, node: Node, exc: BaseException) -> None:
        text = _traceback(exc)
        with self._lock:
            if self._ending:
                return
        self._set_state(node, NodeState.FAILED, finished_at=time.time(), error=text)
        self._finish(ExecutionStatus.FAILED, error=exc, error_text=text, failed=node)

    def _finish(self, status: ExecutionStatus, *, outputs: Any = None, stored_outputs: Any = None,
                error: BaseException | None = None, error_text: str | None = None, failed: Node | None = None) -> None:
        """End the execution (once): no node starts after this. A failure first runs the workflow's
        ``on_failure`` handler, on a thread of its own (see :meth:`_handle_failure`)."""
        with self._lock:
            if self._ending:
                return
            self._ending = True
            handles = list(self._timer_handles.values())
            self._timer_handles.clear()
        for handle in handles:
            self.executor.timers.cancel(handle)
        self.executor._forget(self)
        if self.children:
            self._abort_children()
        handler = self.workflow.on_failure
        if status is ExecutionStatus.FAILED and error is not None and handler is not None:
            threading.Thread(target=self._handle_failure, args=(handler, error, error_text, failed),
                             name=f"gatewidgets-on-failure-{self.name}", daemon=True).start()
            return
        self._end(status, outputs=outputs, stored_outputs=stored_outputs, error=error, error_text=error_text)

    def _handle_failure(self, handler: dsl.Task, error: BaseException, error_text: str | None,
                        failed: Node | None) -> None:
        """Run the ``on_failure`` handler as node ``on_failure``, then end FAILED with the original error; a failing
        handler is logged and noted after that error, never in its place."""
        try:
            self._run_handler(handler, error, failed)
        except BaseException as exc:
            log.exception("gatewidgets execution %r: its on_failure handler %s failed", self.name, handler.name)
            error_text = (f"{error_text or _message(error)}\n\nThe on_failure handler {handler.name!r} failed as "
                          f"well:\n{_traceback(exc)}")
        self._end(ExecutionStatus.FAILED, error=error, error_text=error_text)

    def _run_handler(self, handler: dsl.Task, error: BaseException, failed: Node | None) -> None:
        node = Node(id=FAILURE_NODE, kind=dsl.NodeKind.TASK, name=handler.name, task=handler,
                    upstream={failed.id} if failed is not None else set())
        self.store.add_nodes(self.id, [_node_row(node)], [])
        with self._lock:
            self._own_tables()
            self.nodes[node.id] = node
            self.node_states[node.id] = NodeState.QUEUED
            self._remaining[node.id] = 0
            self._children[node.id] = ()
        kwargs = {arg: self.inputs[arg] for arg in handler.input_hints if arg in self.inputs}
        if dsl.FAILURE_INPUT in handler.input_hints:
            kwargs[dsl.FAILURE_INPUT] = dsl.WorkflowFailure(_message(error), failed.id if failed else None, error)
        self._set_state(node, NodeState.RUNNING, started_at=time.time())
        try:
            handler.invoke(self, node, kwargs)
        except BaseException as exc:
            self._set_state(node, NodeState.FAILED, finished_at=time.time(), error=_traceback(exc))
            raise
        self._set_state(node, NodeState.SUCCEEDED, finished_at=time.time())

    def _end(self, status: ExecutionStatus, *, outputs: Any = None, stored_outputs: Any = None,
             error: BaseException | None = None, error_text: str | None = None) -> None:
        """Record the end in the store, let go of what the execution held and resolve ``await ex``."""
        message = error_text or (_message(error) if error is not None else None)
        try:
            self.store.finish_execution(self.id, status, outputs=stored_outputs, error=message)
        except Exception as exc:  # the store stayed unwritable: end here all the same, and say so
            error = StoreError(
                f"Execution {self.name!r} ended ({status.value}) but the store could not record it: {exc} "
                f"The store still shows it RUNNING: once {self.store.path} is writable, resume it with "
                "launch(..., recover=True) or abort it with GateRemote.abort."
            )
            error.__cause__ = exc
            log.error("gatewidgets: %s", error)
            status, outputs, error_text = ExecutionStatus.FAILED, None, str(error)
        with self._lock:
            deliveries, self._deliveries = self._deliveries or {}, None
        for nid, deliver in deliveries.items():  # their gates were cancelled with the execution
            signal = self.nodes[nid].signal
            assert signal is not None
            deliver(self.store.get_signal(self.id, signal.signal_id))
        self.store.forget_types(self.id)
        self.executor._let_go(self)
        for nid, state in self.node_states.items():
            if not state.is_terminal:
                self.node_states[nid] = NodeState.ABORTED
        self.finished_at = now()
        self._outputs, self._error = outputs, error
        self.error_traceback = error_text
        self._status = status
        self._publish("finished", state=status)
        with self._lock:
            self._over = True
            future = self._future
        if future is not None:
            self._settle(future)

    @property
    def elapsed(self) -> timedelta:
        """Time since launch (until the end, once finished)."""
        return (self.finished_at or now()) - self.started_at


FAILURE_NODE = "on_failure"  # the node id of a workflow's on_failure handler


def _child_error(key: ExecKey, workflow: str, status: ExecutionStatus, error: str | None,
                 cause: BaseException | None) -> ChildExecutionError:
    error_ = ChildExecutionError(f"Child execution {key} (workflow {workflow!r}) ended {status.value}"
                                 + (f": {error}" if error else "."))
    error_.__cause__ = cause
    return error_


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


_REACHED = {NodeState.WAITING, NodeState.SUCCEEDED, NodeState.FAILED}
