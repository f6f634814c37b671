"""The one way into the engine: :func:`launch` (every front door and ``Workflow.launch`` call it), :func:`launch_many`
(many executions, stored in grouped transactions), :func:`recover`, and this process's executor per store
(:func:`default_executor`)."""
from __future__ import annotations

import os
import threading
from typing import Any, Callable, Iterable, Mapping

from gatewidgets.dsl import Workflow
from gatewidgets.engine.executor import Executor
from gatewidgets.engine.handle import Execution
from gatewidgets.engine.listeners import Listeners
from gatewidgets.engine.recovery import find_workflow
from gatewidgets.models.execution import WorkflowExecutionIdentifier
from gatewidgets.settings import settings
from gatewidgets.store import open_store
from gatewidgets.store.base import ExecutorStore

__all__ = ["launch", "launch_many", "recover", "default_executor", "shutdown_executors", "store_opened"]

#: ``listener(store)`` when this process's default executor for ``store`` is made.
store_opened: Listeners[Callable[[ExecutorStore], object]] = Listeners()

_executors: dict[tuple[int, str], Executor] = {}
_executors_lock = threading.Lock()


def launch(workflow: Workflow, inputs: dict[str, Any], *, execution_name: str | None = None,
           project: str | None = None, domain: str | None = None, recover: bool = False,
           store: ExecutorStore | None = None) -> Execution:
    """Start ``workflow`` with ``inputs`` in the background of this process (on the default executor of ``store``,
    default: the default store) and return its :class:`Execution` at once. Every front door launches here."""
    return default_executor(store).launch(workflow, inputs, execution_name=execution_name, project=project,
                                          domain=domain, recover=recover)


def launch_many(workflow: Workflow, inputs: Iterable[Mapping[str, Any]], *,
                execution_names: Iterable[str] | None = None, project: str | None = None, domain: str | None = None,
                batch: int = 500, store: ExecutorStore | None = None) -> list[Execution]:
    """Start one execution of ``workflow`` per mapping of ``inputs`` (on the default executor of ``store``) and
    return them once all are stored, ``batch`` of them per store transaction (see :meth:`Executor.launch_many`)."""
    return default_executor(store).launch_many(workflow, inputs, execution_names=execution_names, project=project,
                                               domain=domain, batch=batch)


def default_executor(store: ExecutorStore | None = None) -> Executor:
    """This process's executor for ``store`` (default: the default store); its making is published
    (:data:`store_opened`: webhooks install there)."""
    store = store or open_store()
    with _executors_lock:
        executor = _executors.get((os.getpid(), store.path))
        made = executor is None
        if executor is None:
            executor = _executors[(os.getpid(), store.path)] = Executor(store)
    if made:
        for listener in store_opened:
            listener(store)
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
    key = WorkflowExecutionIdentifier(project or settings.default_project, domain or settings.default_domain,
                                      execution_name)
    record = executor.store.get_execution(key, with_nodes=False)
    found = find_workflow(record, workflow, namespace)
    return executor.launch(found, {}, execution_name=key.name, project=key.project, domain=key.domain,
                           recover=True)
