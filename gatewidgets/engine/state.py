"""An execution's state, its tables and its endings. The rooms above (:mod:`.run`, :mod:`.children`,
:mod:`.gates`) move its nodes; :class:`gatewidgets.engine.handle.Execution` is the whole.

An error of the store that outlasts its retries while a node runs ends the execution (FAILED, ``StoreError``)
and frees everything it held; an end the store does not take yet is kept and written by the store once it
can (``SqliteStore.end_execution``), so ``await ex`` sees the real end at once. A failing execution first
runs its workflow's ``on_failure`` task (node ``on_failure``, on a thread of its own), then ends FAILED.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
import traceback
import typing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Protocol

from gatewidgets import dsl
from gatewidgets.dsl import Const, Many, Node, Ref, SignalSpec, Workflow
from gatewidgets.engine import tasks
from gatewidgets.engine.rows import gate_type_of, graph, json_or_none, node_row
from gatewidgets.engine.waits import Waits
from gatewidgets.errors import ExecutionAbortedError, ExecutionExistsError, ExecutionLostError
from gatewidgets.formatting import node_labels
from gatewidgets.models.execution import ExecutionStatus, NodeState, WorkflowExecutionIdentifier
from gatewidgets.models.signal import Signal, SignalEvent
from gatewidgets.store.base import ExecutorStore, now

__all__ = ["ExecutionState", "ExecutionEvent", "Runner", "FAILURE_NODE", "message", "traceback_text"]

log = logging.getLogger(__name__)
ExecKey = WorkflowExecutionIdentifier
FAILURE_NODE = "on_failure"  # the node id of a workflow's on_failure handler
_NONE_RESOLVED: frozenset[str] = frozenset()  # shared: an empty frozenset() is not a singleton


@dataclass(frozen=True)
class ExecutionEvent:
    """What an execution publishes: ``node`` (state change), ``expanded``, ``gate_waiting``, ``signal_set``,
    ``finished``."""

    kind: str
    execution: ExecutionState
    node_id: str | None = None
    state: NodeState | ExecutionStatus | None = None
    signal_id: str | None = None


class Runner(Protocol):
    """What an execution needs of the executor that runs it (:class:`gatewidgets.engine.executor.Executor`)."""

    store: ExecutorStore
    waits: Waits
    max_workers: int

    def schedule(self, run: Callable[[Node | None], None], node: Node) -> None:
        """Queue the ready task ``node``: a worker calls ``run(node)``."""

    def let_go(self, execution: ExecutionState) -> None:
        """``execution`` ended: the executor no longer holds it."""

    def get(self, key: ExecKey) -> ExecutionState | None:
        """The running execution of this process with that key, if any."""

    def launch(self, workflow: Workflow, inputs: dict[str, Any], *, execution_name: str | None = None,
               project: str | None = None, domain: str | None = None, recover: bool = False,
               child: bool = False) -> ExecutionState:
        """Start an execution (a child one: ``child=True``)."""

    def follow(self, key: ExecKey, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the store reports execution ``key`` (run by another process) finished."""

    def unfollow(self, key: ExecKey) -> None:
        """Forget the follower of execution ``key``."""


class ExecutionState:
    """What an execution holds, and how it ends (once)."""

    __slots__ = ("executor", "store", "workflow", "id", "inputs", "started_at", "finished_at", "_status", "_ending",
                 "_outputs", "_error", "error_traceback", "_lock", "_results", "nodes", "signal_specs", "node_states",
                 "_remaining", "_children", "_finished_nodes", "_resolved", "_future", "_over",
                 "_listeners", "_deliveries", "opens_gates_at_run_time", "children", "_recovered",
                 "_counts_shared", "_reached_first", "__weakref__")  # widgets refer to it weakly

    def __init__(self, executor: Runner, workflow: Workflow, key: ExecKey, inputs: dict[str, Any]) -> None:
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
        self._results: dict[str, Any] | None = None  # node outputs: made by the first (see node_outputs)
        # the workflow's own tables, shared until nodes are added (see _own_tables): @dynamic, add_gate, on_failure
        self.nodes: dict[str, Node] = workflow.nodes
        self.signal_specs: dict[str, SignalSpec] = workflow.signals
        self.node_states: dict[str, NodeState] = {nid: NodeState.QUEUED for nid in self.nodes}  # fromkeys oversizes
        remaining, children = graph(workflow)
        self._remaining = remaining  # upstream nodes not finished yet, per node: the workflow's until one finishes
        self._counts_shared = True
        self._children = children  # downstream nodes, per node (tuples)
        self._finished_nodes = 0
        self._resolved: set[str] | frozenset[str] = _NONE_RESOLVED  # a set from the first resolution on
        self._future: concurrent.futures.Future[Any] | None = None  # made when first waited on (see _done)
        self._over = False  # ended: outputs and error are final
        self._listeners: tuple[Callable[[ExecutionEvent], None], ...] = ()  # replaced, never changed in place
        self._deliveries: dict[str, Callable[[Signal], None]] | None = None  # gates opened by add_gate (made then)
        self.opens_gates_at_run_time = False  # a front door's task may call add_gate (Flyte 2 conditions)
        self.children: dict[str, ExecKey] = {}  # child node id -> the child execution it launched
        self._recovered = False
        self._reached_first: tuple[str, ...] = ()  # signals its launch stored PENDING (see first_gates)

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

    def abort(self) -> None:
        """Stop the execution: open signals become ``CANCELLED``, no new node starts."""
        self._finish(ExecutionStatus.ABORTED,
                     error=ExecutionAbortedError(f"Execution {self.name!r} was aborted."))

    def lose(self, why: str) -> None:
        """Another process took this execution over (the store's lease of this process on it expired): stop this
        copy (no node starts, its gates stop waiting, no ``on_failure``) and end it ABORTED with
        ``ExecutionLostError(why)``; the store records no end of it: the other process's run is the real one."""
        with self._lock:
            if self._ending:
                return
        log.warning("gatewidgets stopped its copy of execution %r: %s", self.name, why)
        self._finish(ExecutionStatus.ABORTED, error=ExecutionLostError(why))

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

    def when_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the execution has ended and ``await ex`` has its outcome (now, if it has)."""
        self._done.add_done_callback(lambda _: callback())

    def _settle(self, future: concurrent.futures.Future[Any]) -> None:
        if self._error is not None:
            future.set_exception(self._error)
        else:
            future.set_result(self._outputs)

    def _node_names(self) -> dict[str, str]:
        labels = node_labels({nid: node.name for nid, node in list(self.nodes.items())})
        return {label: nid for nid, label in labels.items()}

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

    def node_outputs(self) -> dict[str, Any]:
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

    def _restored_output(self, node: Node, stored: Any) -> Any:
        if not node.has_output:
            return None
        hints = node.output_hints
        types = [gate_type_of(h) for h in hints]
        if stored is None or any(t is None for t in types):
            raise ExecutionExistsError(
                f"Cannot recover execution {self.name!r}: node {node.id} ({node.name}) finished but its output "
                f"of type {hints} could not be stored. Re-launch it under a new name instead."
            )
        if node.multi_output:
            return tuple(t.to_python(v) for t, v in zip(types, stored))  # type: ignore[union-attr]
        return types[0].to_python(stored)  # type: ignore[union-attr]

    def _value(self, binding: Ref | Const | Many) -> Any:
        if isinstance(binding, Const):
            return binding.value
        if isinstance(binding, Many):
            if binding.kind == "dict":
                return {key: self._value(b) for key, b in binding.items}
            return [self._value(b) for _, b in binding.items]
        if binding.input_name is not None:
            return self.inputs[binding.input_name]
        value = self.node_outputs()[binding.node_id]  # type: ignore[index]
        return value[binding.index] if binding.index is not None else value

    def _abort_children(self) -> None:
        """Abort the children still running (:mod:`.children`)."""
        raise NotImplementedError

    # endings ---------------------------------------------------------------------

    def _guarded(self, step: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run an engine step (on a worker, the timer or the launching thread); an error of ours, such as a
        store that stays unwritable, ends the execution FAILED instead of leaving it running."""
        try:
            step(*args, **kwargs)
        except Exception as exc:
            log.exception("gatewidgets execution %r failed: %s", self.name, exc)
            self._finish(ExecutionStatus.FAILED, error=exc, error_text=traceback_text(exc))

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
            stored = [json_or_none(h, v) for h, v in zip(hints, result)]
        elif result is not None:
            stored = json_or_none(self.workflow.output_hint, result)
        self._finish(ExecutionStatus.SUCCEEDED, outputs=result, stored_outputs=stored)

    def _fail(self, node: Node, exc: BaseException) -> None:
        text = traceback_text(exc)
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
        self.executor.waits.forget(self.id, [n for n in list(self.nodes.values()) if n.signal is not None])
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
        except ExecutionLostError as exc:  # taken over meanwhile (its node was not added): stopped as lose() stops it
            log.warning("gatewidgets stopped its copy of execution %r: %s", self.name, exc)
            self._end(ExecutionStatus.ABORTED, error=exc)
            return
        except BaseException as exc:
            log.exception("gatewidgets execution %r: its on_failure handler %s failed", self.name, handler.name)
            error_text = (f"{error_text or message(error)}\n\nThe on_failure handler {handler.name!r} failed as "
                          f"well:\n{traceback_text(exc)}")
        self._end(ExecutionStatus.FAILED, error=error, error_text=error_text)

    def _run_handler(self, handler: dsl.Task, error: BaseException, failed: Node | None) -> None:
        node = Node(id=FAILURE_NODE, kind=dsl.NodeKind.TASK, name=handler.name, task=handler,
                    upstream={failed.id} if failed is not None else set())
        self.store.add_nodes(self.id, [node_row(node)], [])
        with self._lock:
            self._own_tables()
            self.nodes[node.id] = node
            self.node_states[node.id] = NodeState.QUEUED
            self._remaining[node.id] = 0
            self._children[node.id] = ()
        kwargs = {arg: self.inputs[arg] for arg in handler.input_hints if arg in self.inputs}
        if dsl.FAILURE_INPUT in handler.input_hints:
            kwargs[dsl.FAILURE_INPUT] = dsl.WorkflowFailure(message(error), failed.id if failed else None, error)
        self._set_state(node, NodeState.RUNNING, started_at=time.time())
        try:
            tasks.run(self, node, handler, kwargs)
        except BaseException as exc:
            self._set_state(node, NodeState.FAILED, finished_at=time.time(), error=traceback_text(exc))
            raise
        self._set_state(node, NodeState.SUCCEEDED, finished_at=time.time())

    def _end(self, status: ExecutionStatus, *, outputs: Any = None, stored_outputs: Any = None,
             error: BaseException | None = None, error_text: str | None = None) -> None:
        """Record the end in the store, let go of what the execution held and resolve ``await ex``."""
        text = error_text or (message(error) if error is not None else None)
        try:  # a store that does not take it now keeps it and writes it once it can: this end is the real one
            self.store.end_execution(self.id, status, outputs=stored_outputs, error=text)
        except Exception:  # not the store being busy (say, its row was deleted): end here all the same
            log.exception("gatewidgets could not record the end of execution %r (%s)", self.name, status.value)
        with self._lock:
            deliveries, self._deliveries = self._deliveries or {}, None
        for nid, deliver in deliveries.items():  # their gates were cancelled with the execution
            signal = self.nodes[nid].signal
            assert signal is not None
            deliver(self.store.get_signal(self.id, signal.signal_id))
        self.store.forget_types(self.id)
        self.executor.let_go(self)
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


def message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def traceback_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

