"""The run's state machine: ready nodes, task runs, completions, branches and ``@dynamic`` expansion."""
from __future__ import annotations

import time
from typing import Any

from gatewidgets import dsl
from gatewidgets.dsl import Node, Ref
from gatewidgets.engine import tasks
from gatewidgets.engine.rows import json_or_none, node_row, signal_row, with_policies
from gatewidgets.engine.state import ExecutionState
from gatewidgets.errors import BranchFailedError, WorkflowDefinitionError
from gatewidgets.models.execution import NodeState

__all__ = ["ExecutionRun"]


class ExecutionRun(ExecutionState):
    """Moves an execution's nodes from QUEUED to an end, from its start (or recovery) on."""

    __slots__ = ()

    def start(self, record: Any) -> None:
        """Start the execution: its ready nodes, or, for a recovered one (``record``), the nodes left to run."""
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
        self._reached_first = ()

    def _restore(self, record: Any) -> list[str]:
        """Take finished nodes' outputs from the store; return the nodes ready to run."""
        for stored in record.nodes:
            node = self.nodes.get(stored.node_id)
            if node is None or stored.state not in (NodeState.SUCCEEDED, NodeState.SKIPPED):
                continue
            if stored.state is NodeState.SUCCEEDED:
                self.node_outputs()[node.id] = self._restored_output(node, stored.outputs)
            self.node_states[node.id] = stored.state
            self._finished_nodes += 1
            for child in self._children[node.id]:
                self._own_counts()[child] -= 1
        return [nid for nid in self.workflow.order
                if self._remaining[nid] == 0 and not self.node_states[nid].is_terminal]

    def run(self, node: Node | None) -> None:
        """Run the ready task ``node`` and the ones it makes ready after it, inline (a worker of the pool)."""
        self._guarded(self._run_tasks, node)

    def _start_nodes(self, ready: list[str], *, inline: bool) -> Node | None:
        """Reach ready gates, submit ready tasks; keep one task to run inline if ``inline``.

        First the completions queued so far (those that made these nodes ready) are made durable:
        a crash after this point never runs a finished node again. A store that then finds this execution taken
        over by another process (:meth:`ExecutorStore.lost`) stops this copy: none of them starts here.
        """
        keep: Node | None = None
        if ready:
            self.store.durable()
            lost = self.store.lost(self.id)
            if lost is not None:
                self.lose(lost)
                return None
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
                self.executor.schedule(self.run, node)
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
                value = tasks.run(self, current, current.task, kwargs)
                if current.multi_output and (not isinstance(value, tuple)
                                             or len(value) != len(current.output_hints)):
                    raise TypeError(f"task {current.name} must return a tuple of {len(current.output_hints)} "
                                    f"values, got {value!r}")
            except BaseException as exc:  # the task's own error fails the execution
                self._fail(current, exc)
                return
            node = self._complete(current, value, inline=True)

    def _complete(self, node: Node, value: Any, *, inline: bool) -> Node | None:
        with self._lock:
            if self._ending:
                return None
            self.node_outputs()[node.id] = value
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
            outputs = [json_or_none(h, v) for h, v in zip(hints, value)]
        else:
            outputs = json_or_none(hints[0], value)
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
            taken = self.node_outputs()[branch.node_id]
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
        self.store.add_nodes(self.id, [node_row(n) for n in added.values()],
                             with_policies([signal_row(spec, added) for spec in fresh], self.id, self.store))
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

    # provided by the rooms above ----------------------------------------------------

    def _reach(self, node: Node) -> None:
        """Reach the gate ``node`` (:mod:`.gates`)."""
        raise NotImplementedError

    def _launch_child(self, node: Node) -> None:
        """Start the child execution of ``node`` (:mod:`.children`)."""
        raise NotImplementedError
