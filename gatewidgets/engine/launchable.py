"""The ``@workflow`` users launch: the core's workflow spec (:class:`gatewidgets.dsl.Workflow`, which knows no
engine) with :meth:`Workflow.launch`, :meth:`Workflow.launch_many` and ``wf(...)`` running it through
:func:`gatewidgets.engine.launch` (and :func:`gatewidgets.engine.launch_many`).

The decorator lives here, above the engine, so the core never imports the engine and no import installs
a launcher into it; ``gatewidgets.workflow`` is this one.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from gatewidgets import dsl
from gatewidgets.engine.entry import launch, launch_many
from gatewidgets.engine.handle import Execution

__all__ = ["Workflow", "workflow"]


class Workflow(dsl.Workflow):
    """A workflow spec that launches on this process's engine."""

    def launch(self, *, execution_name: str | None = None, project: str | None = None,
               domain: str | None = None, recover: bool = False, **inputs: Any) -> Execution:
        """Start an execution in the background of this process and return its :class:`Execution` at once."""
        return launch(self, inputs, execution_name=execution_name, project=project, domain=domain, recover=recover)

    def launch_many(self, inputs: Iterable[Mapping[str, Any]], *, execution_names: Iterable[str] | None = None,
                    project: str | None = None, domain: str | None = None, batch: int = 500) -> list[Execution]:
        """Start one execution per mapping of ``inputs`` (named by ``execution_names``, else fresh names) and return
        them, in order, once all are stored: each group of up to ``batch`` in one store transaction, visible to
        other processes with its first gates waiting when that group commits.

        Every input is bound and every name checked before anything is written. A group the store refuses (a
        name that exists: ``ExecutionExistsError`` naming it and saying how many were created) is not written, nor
        any after it; the groups before it run. ``launch`` stores each execution in a transaction of its own.
        """
        return launch_many(self, inputs, execution_names=execution_names, project=project, domain=domain,
                           batch=batch)


def workflow(fn: Callable[..., Any] | None = None, *, name: str | None = None,
             on_failure: dsl.Task | None = None) -> Any:
    """Declare a workflow: its body runs once now, on promises, and defines the DAG.

    ``on_failure=handler`` (a ``@task``) runs when an execution fails (not when it is aborted),
    with the workflow's inputs it declares and, if it declares ``err``, a :class:`gatewidgets.WorkflowFailure`;
    the execution still ends ``FAILED`` with its own error. ``wf.launch(**inputs)`` starts it in the
    background; ``wf(**inputs)`` runs it to its end.
    """
    if fn is None:
        return lambda f: Workflow(f, name=name, on_failure=on_failure)
    return Workflow(fn, name=name, on_failure=on_failure)
