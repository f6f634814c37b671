"""Front doors: ``gatewidgets.launch`` for workflows written with other authors' SDKs.

A front door translates a foreign workflow or task into the one engine and the one store;
it never runs a second engine. Each door is a module of this package that exposes

- ``accepts(obj) -> bool``: cheap, imports nothing heavy (look at ``type(obj).__module__``);
- ``launch(obj, inputs, *, execution_name, project, domain, recover) -> Execution``: it translates ``obj``
  and launches through the one engine entry, :func:`gatewidgets.engine.launch`;
- optionally ``workflow_of(obj) -> Workflow``: the translated workflow (``%gate run`` reads its inputs).

The SDK a door wraps (flytekit, flyte) is imported only inside that door, and only when
one of its objects is passed.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from gatewidgets.dsl import Workflow
from gatewidgets.engine import Execution
from gatewidgets.engine import launch as launch_execution

__all__ = ["launch", "workflow_of", "DOORS"]

#: Door modules, tried in order. Adding a door is one module plus one line here.
DOORS: tuple[str, ...] = (
    "gatewidgets.frontdoors.flytekit",
    "gatewidgets.frontdoors.flyte2",
)


def launch(workflow: Any, /, *, execution_name: str | None = None, project: str | None = None,
           domain: str | None = None, recover: bool = False, **inputs: Any) -> Execution:
    """Start ``workflow`` in the background of this process and return its ``Execution`` at once.

    ``workflow`` is a gatewidgets workflow, a flytekit workflow or ``LaunchPlan``, or a
    Flyte 2 task. The result is the same ``Execution`` whatever the source: a live widget,
    ``await ex``, ``ex.wait()``, history and recovery.
    """
    if isinstance(workflow, Workflow):
        return launch_execution(workflow, inputs, execution_name=execution_name, project=project, domain=domain,
                                recover=recover)
    for name in DOORS:
        module = _door(name)
        if module is not None and module.accepts(workflow):
            launched: Execution = module.launch(workflow, inputs, execution_name=execution_name, project=project,
                                                domain=domain, recover=recover)  # a door module's attributes: untyped
            return launched
    raise TypeError(
        f"gatewidgets.launch: cannot run {type(workflow).__module__}.{type(workflow).__qualname__}. "
        "Pass a gatewidgets @workflow, a flytekit workflow or LaunchPlan (pip install 'gatewidgets[flyte]'), "
        "or a Flyte 2 task (pip install 'gatewidgets[flyte2]')."
    )


def workflow_of(obj: Any) -> Workflow | None:
    """The engine workflow ``obj`` is or translates to; ``None`` if no door translates it ahead of a launch."""
    if isinstance(obj, Workflow):
        return obj
    for name in DOORS:
        module = _door(name)
        if module is not None and hasattr(module, "workflow_of") and module.accepts(obj):
            translated: Workflow = module.workflow_of(obj)  # a door module's attributes are untyped
            return translated
    return None


def _door(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:  # the door itself is not built (yet); its SDK missing is the door's to say
            return None
        raise
