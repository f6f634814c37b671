"""flytekit tasks as engine tasks: a ``PythonFunctionTask`` (its function in a flytekit task sandbox), a map
task (its items in parallel), a workflow's ``on_failure`` handler and Flyte's ``end-node``.

flytekit's ``TaskMetadata`` (``retries``, ``timeout``, ``cache`` / ``cache_version`` / ``cache_ignore_input_vars``)
becomes the engine task's options (:mod:`gatewidgets.engine.tasks` runs them); a map task's items each get the
mapped task's retries and timeout, run by the same engine runtime. This module imports flytekit.
"""
from __future__ import annotations

import concurrent.futures
import copy
import functools
import inspect
import math
import threading
from typing import Any, Callable

from flytekit.core.array_node_map_task import ArrayNodeMapTask
from flytekit.core.base_task import PythonTask
from flytekit.core.python_function_task import PythonFunctionTask
from flytekit.core.reference_entity import ReferenceEntity
from flytekit.core.task import Echo
from flytekit.types.error import FlyteError

from gatewidgets import dsl
from gatewidgets.engine.tasks import TaskOptions, attempts
from gatewidgets.errors import MapTaskFailedError, WorkflowDefinitionError
from gatewidgets.frontdoors.flytekit_values import convert, converts, gate_hint, in_task_sandbox, to_flytekit, type_name

__all__ = ["refuse", "options", "FlytekitTask", "FlytekitMap", "FailureHandler", "EndNode", "echo"]


def refuse(entity: Any, where: str) -> None:
    """Raise for entities that cannot run honestly in a kernel."""
    name = getattr(entity, "name", type(entity).__name__)
    if isinstance(entity, ReferenceEntity):
        why = ("is a reference to an entity registered on a Flyte cluster; its code is not here, so it cannot run "
               "in this kernel. Run it on the cluster, or import the real task or workflow.")
    elif isinstance(entity, ArrayNodeMapTask):
        if isinstance(entity.python_function_task, PythonFunctionTask):
            return
        why = "maps a task that is not a Python function task; only Python function tasks run in the kernel."
    elif isinstance(entity, (PythonFunctionTask, Echo)):
        return
    elif type(entity).__name__ == "ContainerTask":
        why = "runs a container image (docker), which a notebook kernel does not do."
    elif isinstance(entity, PythonTask):
        why = (f"is a {type(entity).__name__}, not a Python function task; only @task functions (map_task / "
               "@dynamic over them, and Echo) run in the kernel.")
    else:
        return
    raise WorkflowDefinitionError(f"{where}: {type(entity).__name__} {name!r} {why}")


def options(fk_task: Any) -> TaskOptions:
    """flytekit's ``TaskMetadata`` of ``fk_task`` as engine task options."""
    meta = fk_task.metadata
    return TaskOptions(retries=meta.retries or 0, timeout=meta.timeout or None, cache=bool(meta.cache),
                       cache_version=meta.cache_version or "",
                       cache_ignore=frozenset(meta.cache_ignore_input_vars or ()))


class FlytekitTask(dsl.Task):
    """A flytekit ``PythonFunctionTask`` as an engine task: its function, and its retries, cache and timeout as
    the engine's task options."""

    def __init__(self, fk_task: Any, fn: Callable[..., Any] | None = None, *, options_of: Any = None) -> None:
        self.fk = fk_task
        self.fn = fn or fk_task._task_function
        self.name = fk_task.name.rsplit(".", 1)[-1]
        interface = fk_task.python_interface
        self.input_hints = {k: gate_hint(v) for k, v in interface.inputs.items()}
        self.declared_inputs = dict(interface.inputs)
        self.converted = {k for k, v in self.declared_inputs.items() if converts(v)}
        self.edges: dict[str, tuple[Any, Any]] = {}
        self.output_vars = list(interface.outputs)
        self.output_hints = tuple(gate_hint(v) for v in interface.outputs.values())  # checked as inputs are
        self.multi_output = len(self.output_vars) > 1
        self.signature = inspect.Signature([inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY)
                                            for k in self.input_hints])
        given = options(options_of or fk_task)
        self.retries, self.timeout = given.retries, given.timeout
        self.cache, self.cache_version, self.cache_ignore = given.cache, given.cache_version, given.cache_ignore

    def on_edges(self, edges: dict[str, tuple[Any, Any]]) -> FlytekitTask:
        """This task for one call whose inputs ``edges`` (name -> (produced type, declared type)) go through
        flytekit's ``TypeEngine`` (itself if none do)."""
        if not edges:
            return self
        call = copy.copy(self)
        call.edges = edges
        return call

    def invoke(self, execution: Any, node: dsl.Node, kwargs: dict[str, Any]) -> Any:
        """One attempt: the function on the inputs as flytekit hands them over, in a task sandbox of its own, as in
        flytekit's local run (``current_context().working_directory``)."""
        return self._normalise(in_task_sandbox(execution.store, self.fn, **self.as_flytekit(kwargs, execution.store)))

    def as_flytekit(self, kwargs: dict[str, Any], store: Any) -> dict[str, Any]:
        """The inputs as flytekit hands them to the function: through flytekit's ``TypeEngine`` on this call's
        ``edges`` (with the store's file-access context), a gate's answer as :func:`to_flytekit` makes it."""
        if not self.converted and not self.edges:
            return kwargs
        values = {}
        for k, v in kwargs.items():
            if k in self.edges:
                produced, declared = self.edges[k]
                try:
                    values[k] = convert(store, to_flytekit(v, produced), produced, declared)
                except Exception as exc:
                    raise TypeError(f"task {self.name}: input {k!r} ({type_name(declared)}) cannot be made from "
                                    f"the {type_name(produced)} it was given: {exc}") from exc
            else:
                values[k] = to_flytekit(v, self.declared_inputs[k]) if k in self.converted else v
        return values

    def _normalise(self, value: Any) -> Any:
        """A one-field ``NamedTuple`` output is its field, as flytekit reads it."""
        if len(self.output_vars) == 1 and isinstance(value, tuple) and hasattr(value, "_fields"):
            return value[0]
        return value


class FlytekitMap(FlytekitTask):
    """``map_task`` / ``ArrayNodeMapTask``: the mapped task over the zipped list inputs, its items in parallel.

    At most ``concurrency`` items run at once (``None`` / ``0``: the engine's ``max_workers``), on a pool of
    the map's own (an engine worker waiting on items queued behind itself would deadlock). Each item has the
    mapped task's retries and timeout. A failed item's output is ``None``; the map fails with
    ``MapTaskFailedError`` once fewer than ``min_successes`` (else ``ceil(min_success_ratio * n)``, else all)
    can succeed, and then starts no more items (unless ``run_all_sub_nodes``).
    """

    def __init__(self, map_task: Any) -> None:
        inner = map_task.python_function_task
        super().__init__(map_task, inner._task_function, options_of=inner)  # cached under the map's own name
        self.item_options = TaskOptions(retries=self.retries, timeout=self.timeout)  # each item's, not the map's
        self.retries, self.timeout = 0, None
        self.name = f"map_{inner.name.rsplit('.', 1)[-1]}"
        self.bound = set(map_task.bound_inputs)
        partial = getattr(map_task, "_partial", None)
        self.partial = dict(partial.keywords) if partial is not None else {}
        self.concurrency: int | None = map_task.concurrency or None
        self.min_successes: int | None = map_task.min_successes or None
        self.min_success_ratio: float | None = map_task.min_success_ratio
        self.run_all: bool = map_task.run_all_sub_nodes

    def _needed(self, count: int) -> int:
        """How many of ``count`` items must succeed (flytekit's rule)."""
        if self.min_successes is not None:
            return min(self.min_successes, count)
        if self.min_success_ratio is not None:
            return math.ceil(count * self.min_success_ratio)
        return count

    def invoke(self, execution: Any, node: dsl.Node, kwargs: dict[str, Any]) -> Any:
        store = execution.store
        kwargs = self.as_flytekit(kwargs, store)
        lists = {k: v for k, v in kwargs.items() if k not in self.bound}
        fixed = {**self.partial, **{k: v for k, v in kwargs.items() if k in self.bound}}
        sizes = {len(v) for v in lists.values()}
        if len(sizes) > 1:
            raise ValueError(f"{self.name}: the mapped inputs have different lengths {sorted(sizes)}.")
        count = sizes.pop() if sizes else 0
        needed = self._needed(count)
        results: list[Any] = [None] * count
        succeeded: set[int] = set()
        failures: dict[int, Exception] = {}
        lock = threading.Lock()
        stop = threading.Event()

        def run(i: int) -> None:
            if stop.is_set() or execution.done():
                return
            try:
                item = {**fixed, **{k: v[i] for k, v in lists.items()}}
                results[i] = self._normalise(attempts(execution, node, functools.partial(
                    in_task_sandbox, store, self.fn, **item), self.item_options, self.name, item=i))
            except Exception as exc:
                with lock:
                    failures[i] = exc
                    if count - len(failures) < needed and not self.run_all:
                        stop.set()
                return
            with lock:
                succeeded.add(i)

        if count:
            workers = min(count, self.concurrency or execution.executor.max_workers)
            with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=f"gatewidgets-{self.name}") as pool:
                list(pool.map(run, range(count)))
        if len(succeeded) < needed:
            raise self._failed(count, needed, succeeded, failures)
        return results if self.output_vars else None

    def _failed(self, count: int, needed: int, succeeded: set[int], failures: dict[int, Exception]) -> Exception:
        """The error of a map with too few successes, naming the failed items and the first error."""
        failed = sorted(failures)
        skipped = count - len(succeeded) - len(failed)
        rule = (f"min_successes={self.min_successes}" if self.min_successes is not None
                else f"min_success_ratio={self.min_success_ratio}")
        which = f" (items {', '.join(map(str, failed))})" if failed else ""
        not_started = f", {skipped} not started" if skipped else ""
        text = (f"{self.name}: {len(failed)} of {count} items failed{which}{not_started}; at least {needed} had to "
                f"succeed ({rule}).")
        if failed:
            first = failures[failed[0]]
            text += f" First error, item {failed[0]}: {type(first).__name__}: {first}"
        error = MapTaskFailedError(text)
        error.__cause__ = failures[failed[0]] if failed else None
        return error


class FailureHandler(FlytekitTask):
    """A workflow's ``on_failure`` task. Its ``err`` input is flytekit's ``FlyteError`` (the message and the id of
    the flytekit node that failed); inputs the launch plan fixes are passed as fixed."""

    def __init__(self, fk_task: Any, fixed: dict[str, Any]) -> None:
        super().__init__(fk_task)
        self.fixed = fixed
        self.flyte_ids: dict[str, str] = {}
        self.signature = inspect.Signature([  # fixed inputs are no inputs of the engine workflow: give them defaults
            inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=fixed.get(k, inspect.Parameter.empty))
            for k in self.input_hints])

    def invoke(self, execution: Any, node: dsl.Node, kwargs: dict[str, Any]) -> Any:
        failure = kwargs.get(dsl.FAILURE_INPUT)
        if isinstance(failure, dsl.WorkflowFailure):
            top = (failure.node_id or "").split(".")[0]  # a @dynamic node's child reports the @dynamic node
            kwargs = {**kwargs, dsl.FAILURE_INPUT: FlyteError(message=failure.message,
                                                              failed_node_id=self.flyte_ids.get(top, top))}
        return super().invoke(execution, node, {**self.fixed, **kwargs})


class EndNode(dsl.Task):
    """Flyte's ``end-node``: the workflow's outputs as flytekit's local run returns them, each output in
    ``conversions`` turned from the type its producer declares into the workflow's declared output type
    through flytekit's ``TypeEngine`` (built only when an output needs it)."""

    def __init__(self, declared: list[Any], conversions: list[tuple[Any, Any] | None]) -> None:
        def end(**values: Any) -> Any:
            return tuple(values.values()) if len(values) > 1 else next(iter(values.values()))

        self.conversions = conversions
        names = [f"o{i}" for i in range(len(declared))]
        ret = tuple.__class_getitem__(tuple(declared)) if len(declared) > 1 else declared[0]
        end.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in names], return_annotation=ret)
        end.__annotations__ = {**dict.fromkeys(names, Any), "return": ret}
        super().__init__(end, name="end-node")

    def invoke(self, execution: Any, node: dsl.Node, kwargs: dict[str, Any]) -> Any:
        values = [kwargs[f"o{i}"] if conv is None else
                  convert(execution.store, to_flytekit(kwargs[f"o{i}"], conv[0]), *conv)
                  for i, conv in enumerate(self.conversions)]
        return tuple(values) if len(values) > 1 else values[0]


def echo(echo: Any, **kwargs: Any) -> Any:
    """What flytekit's ``Echo`` task returns: its inputs, in its interface's order."""
    return echo.execute(**{k: kwargs[k] for k in echo.python_interface.inputs})
