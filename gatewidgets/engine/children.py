"""Child executions: a ``child`` node launches another execution on the same executor and store and holds no
thread; the child's end completes or fails it (through the child's future here, through the store's
``finished`` event when another process runs it). Ending the parent aborts its running children."""
from __future__ import annotations

import logging
import time

from gatewidgets.dsl import Node
from gatewidgets.engine.run import ExecutionRun
from gatewidgets.engine.state import ExecutionState, message
from gatewidgets.errors import ChildExecutionError, ExecutionExistsError
from gatewidgets.models.execution import (
    ExecutionRecord,
    ExecutionStatus,
    NodeState,
    WorkflowExecutionIdentifier,
    check_name,
    child_execution_name,
)

__all__ = ["ExecutionChildren"]

log = logging.getLogger(__name__)
ExecKey = WorkflowExecutionIdentifier


class ExecutionChildren(ExecutionRun):
    """An execution's child nodes."""

    __slots__ = ()

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
        child.when_done(lambda: self._guarded(self._child_done, node, child))

    def _take_up_child(self, node: Node, key: ExecKey, record: ExecutionRecord) -> bool:
        """Take up ``node``'s stored child: its outputs if it ended, followed if another live process runs it;
        return whether it was taken up (else it is recovered, or found running, here)."""
        if record.status.is_terminal:
            self._child_ended(node, record)
            return True
        if self.executor.get(key) is None and self.store.owner_alive(record) and not self.store.owns(record):
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

        self.executor.follow(key, finished)
        record = self.store.get_execution(key, with_nodes=False)
        if record.status.is_terminal:  # it ended before we listened
            self.executor.unfollow(key)
            self._child_ended(node, record)

    def _claim(self, node: Node) -> bool:
        """Whether ``node``'s end is ours to record (once, and not once the execution ends)."""
        with self._lock:
            if node.id in self._resolved or self._ending:
                return False
            self._mark_resolved((node.id,))
            return True

    def _child_done(self, node: Node, child: ExecutionState) -> None:
        """The child execution of ``node``, run here, ended: its outputs complete the node, else it fails."""
        if not self._claim(node):
            return
        if child.status is ExecutionStatus.SUCCEEDED:
            self._complete(node, child.outputs, inline=False)
        else:
            self._fail(node, _child_error(child.id, child.workflow.name, child.status,
                                          message(child.error) if child.error is not None else None, child.error))

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
            self.executor.unfollow(key)
            child = self.executor.get(key)
            try:
                if child is not None:
                    child.abort()
                else:
                    self.store.request_abort(key)
            except Exception:  # its end must not stop ours
                log.exception("gatewidgets execution %r could not abort its child %s", self.name, key)


def _child_error(key: ExecKey, workflow: str, status: ExecutionStatus, error: str | None,
                 cause: BaseException | None) -> ChildExecutionError:
    error_ = ChildExecutionError(f"Child execution {key} (workflow {workflow!r}) ended {status.value}"
                                 + (f": {error}" if error else "."))
    error_.__cause__ = cause
    return error_
