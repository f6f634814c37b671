"""The flytekit front door: a flytekit workflow or ``LaunchPlan``, unchanged, run by the one engine.

The graph is read from flytekit's own node and binding model (``wf.nodes``,
``node.bindings``, ``node.upstream_nodes``, ``wf.output_bindings``), never re-traced from
source, and rebuilt with gatewidgets' DSL (tasks, gates, ``conditional``) through
``Workflow.from_body``. What cannot run honestly in a kernel (reference entities, container
tasks, other non-Python tasks) is refused at launch, before anything runs or is stored.

Flyte's semantics kept:

- A gate's signal id is its ``name``, scoped to the top-level execution (propeller asks admin
  for ``SignalIdentifier(execution_id=<top-level execution>, signal_id=name)``), so gates in
  sub-workflows and ``@dynamic`` nodes use the bare name, and a sub-workflow called twice
  shares one signal: one answer releases both gates.
- A launch plan used as a node starts a child execution (``dsl.launch_child``), as on Flyte: its
  gates are signals of the child, the node waits for the child and fails if the child fails.
  A sub-workflow called directly is inlined, as on Flyte.
- ``timeout=None`` on ``approve`` / ``wait_for_input`` is one hour: flytekit sends its
  ``DEFAULT_TIMEOUT`` as the gate node's timeout, and propeller fails a node whose timeout has
  passed with ``TimeoutExpired`` (its configured default deadline applies only to nodes sent
  without one). Here the node fails with ``GateTimeoutError``. Sleeps are not capped.
- Every flytekit ``sleep`` is called ``sleep-gate``; here each gets its own id
  (``sleep-<node>``), so each can be ended early on its own.
- ``retries`` re-run a failing task (each failed attempt is a ``retry`` event in the history);
  ``cache=True`` + ``cache_version`` reuse the stored outputs of an earlier run with the same
  inputs; ``timeout`` fails the task after its duration (its thread is abandoned);
  ``requests`` / ``limits`` / ``container_image`` are accepted and ignored.
- ``map_task`` runs its items in parallel, bounded by ``concurrency``, each with the mapped task's
  retries; ``min_success_ratio`` / ``min_successes`` let items fail (their outputs are ``None``).
- A workflow's ``on_failure`` task runs when the execution fails, with its inputs and ``err`` as
  flytekit's ``FlyteError``; the execution still ends ``FAILED`` with the original error.
- Values cross task boundaries as in flytekit's local run: through flytekit's ``TypeEngine`` (to a literal
  and back, files under ``<store folder>/flytekit``) wherever the types differ or are not plain
  (:mod:`gatewidgets.frontdoors.flytekit_values`), decided per edge at translation; each task runs in a
  flytekit task sandbox of its own. Launch inputs are checked as flytekit checks them.
- A gate's answer reaches tasks as flytekit hands it over: a file as a ``FlyteFile`` on the stored copy,
  a directory (its files, or one zip unpacked) as a ``FlyteDirectory``, a table as flytekit's
  ``StructuredDataset``, a ``datetime`` in UTC. ``Echo`` passes its inputs on.
"""
from __future__ import annotations

import concurrent.futures
import copy
import functools
import graphlib
import hashlib
import inspect
import json
import math
import os
import shutil
import tempfile
import threading
import typing
import weakref
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from gatewidgets import dsl
from gatewidgets.condition import conditional
from gatewidgets.dsl import Condition, Const, Promise, Ref, Workflow
from gatewidgets.engine import Execution
from gatewidgets.engine import launch as launch_execution
from gatewidgets.errors import MapTaskFailedError, WorkflowDefinitionError
from gatewidgets.types import GateFile, GateType
from gatewidgets.types.structured.structured_dataset import StructuredDataset

__all__ = ["accepts", "launch", "workflow_of"]


def accepts(obj: Any) -> bool:
    """A flytekit workflow or launch plan (checked by module name: flytekit is not imported here)."""
    return any(c.__module__.startswith("flytekit.") and c.__name__ in ("WorkflowBase", "LaunchPlan")
               for c in type(obj).__mro__)


def launch(obj: Any, inputs: dict[str, Any], *, execution_name: str | None, project: str | None,
           domain: str | None, recover: bool) -> Execution:
    """Translate ``obj`` (once) and launch it; a launch plan's fixed inputs cannot be overridden."""
    from flytekit.core.launch_plan import LaunchPlan

    workflow = workflow_of(obj)
    if isinstance(obj, LaunchPlan):
        fixed = sorted(set(inputs) & set(obj.raw_fixed_inputs))
        if fixed:
            raise WorkflowDefinitionError(
                f"LaunchPlan {obj.name!r}: inputs {fixed} are fixed by the launch plan and cannot be overridden. "
                "Launch the workflow itself, or a launch plan that leaves them as defaults.")
    fk_workflow = obj.workflow if isinstance(obj, LaunchPlan) else obj
    return launch_execution(workflow, _launch_inputs(fk_workflow, inputs), execution_name=execution_name,
                            project=project, domain=domain, recover=recover)


def _launch_inputs(fk_workflow: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """Launch inputs checked as flytekit's local run checks them (``TypeEngine.to_literal`` with the declared
    type: a ``list[float]`` given ints is refused, a path string is a ``FlyteFile``, a bare DataFrame is no
    ``StructuredDataset``); a flytekit ``StructuredDataset(dataframe=df)`` input becomes gatewidgets' Parquet
    ``StructuredDataset``, which the store keeps. Raises ``TypeError`` naming the workflow and the input."""
    from flytekit.types.structured import StructuredDataset as FlyteDataset

    from gatewidgets.frontdoors import flytekit_values

    declared = fk_workflow.python_interface.inputs
    values = dict(inputs)
    for name, value in inputs.items():
        hint = declared.get(name)
        if hint is None:
            continue  # unknown: the engine names it
        frame = value.dataframe if isinstance(value, FlyteDataset) else None
        if _is_dataset(hint) and type(frame).__module__.startswith("pandas"):
            values[name] = StructuredDataset(dataframe=frame, file_format="parquet")
            continue
        try:
            flytekit_values.check(_to_flytekit(value, hint), hint)
        except Exception as exc:
            raise TypeError(f"workflow {fk_workflow.name}: input {name!r} must be a {_type_name(hint)}, as "
                            f"flytekit requires; got {value!r:.80} ({type(value).__name__}): {exc}") from None
    return values


def _is_dataset(hint: Any) -> bool:
    from flytekit.types.structured import StructuredDataset as FlyteDataset

    return isinstance(_bare(hint), type) and issubclass(_bare(hint), FlyteDataset)


_translated: weakref.WeakKeyDictionary[Any, Workflow] = weakref.WeakKeyDictionary()


def workflow_of(obj: Any) -> Workflow:
    """The gatewidgets workflow a flytekit workflow or launch plan translates to (built once per object)."""
    workflow = _translated.get(obj)
    if workflow is None:
        workflow = _translated[obj] = _translate(obj)
    return workflow


# ------------------------------------------------------------------------------ types


def _gate_hint(hint: Any) -> Any:
    """The gatewidgets type for a flytekit type: a ``FlyteFile`` gate is answered with a ``GateFile``, a
    ``StructuredDataset`` gate with gatewidgets' ``StructuredDataset`` (a CSV or Parquet file)."""
    from flytekit.types.file import FlyteFile
    from flytekit.types.structured import StructuredDataset as FlyteDataset

    if isinstance(_bare(hint), type) and issubclass(_bare(hint), FlyteDataset):
        return StructuredDataset
    return GateFile if isinstance(hint, type) and issubclass(hint, FlyteFile) else hint


def _gate_answer_hint(hint: Any) -> Any:
    """The gatewidgets type a gate of flytekit type ``hint`` is answered with: as :func:`_gate_hint`, and a
    ``FlyteDirectory`` gate with its files (``list[GateFile]``: several files, or one zip unpacked)."""
    from flytekit.types.directory import FlyteDirectory

    if isinstance(hint, type) and issubclass(hint, FlyteDirectory):
        return list[GateFile]
    return _gate_hint(hint)


def _directory_of(files: list[GateFile]) -> str:
    """A new local folder holding ``files`` (the members of one ``.zip``, unpacked, if that is all there is)."""
    folder = tempfile.mkdtemp(prefix="gatewidgets-dir-")
    if len(files) == 1 and files[0].name.lower().endswith(".zip"):
        with files[0].open("rb") as fh, zipfile.ZipFile(fh) as archive:
            archive.extractall(folder)  # names with '..' or a leading '/' are made safe by zipfile
        return folder
    for f in files:
        with f.open("rb") as src, open(os.path.join(folder, f.name), "xb") as dst:
            shutil.copyfileobj(src, dst)
    return folder


def _to_flytekit(value: Any, hint: Any) -> Any:
    """A value as a flytekit task receives it: a gate's file as the ``FlyteFile`` it declares (its path is
    the stored copy), a table as flytekit's ``StructuredDataset`` (through flytekit's type engine), a
    ``datetime`` in UTC, as flytekit's literals carry it."""
    from flytekit.types.directory import FlyteDirectory
    from flytekit.types.file import FlyteFile
    from flytekit.types.structured import StructuredDataset as FlyteDataset

    cls = _bare(hint)
    if isinstance(value, list) and isinstance(cls, type) and issubclass(cls, FlyteDirectory) and \
            all(isinstance(v, GateFile) for v in value):
        return cls(path=_directory_of(value))
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, StructuredDataset) and isinstance(cls, type) and issubclass(cls, FlyteDataset):
        import pandas
        from flytekit.core.context_manager import FlyteContextManager
        from flytekit.core.type_engine import TypeEngine

        ctx = FlyteContextManager.current_context()
        stored_as: Any = typing.Annotated[cls, value.file_format]  # keep the file's format (CSV needs no pyarrow)
        table = FlyteDataset(dataframe=value.open(pandas.DataFrame).all(), file_format=value.file_format)
        literal = TypeEngine.to_literal(ctx, table, stored_as, TypeEngine.to_literal_type(stored_as))
        return TypeEngine.to_python_value(ctx, literal, hint)
    if isinstance(value, GateFile) and isinstance(cls, type) and issubclass(cls, FlyteFile):
        return cls(path=value.path)
    if isinstance(value, list) and typing.get_origin(hint) is list:
        return [_to_flytekit(v, typing.get_args(hint)[0]) for v in value]
    return value


def _bare(hint: Any) -> Any:
    """``T`` of ``Annotated[T, ...]`` (a dataset's columns or format), else ``hint``."""
    return typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint


def _converts(hint: Any) -> bool:
    """Whether values of ``hint`` go through :func:`_to_flytekit` (files, tables, datetimes, lists of them)."""
    from flytekit.types.directory import FlyteDirectory
    from flytekit.types.file import FlyteFile
    from flytekit.types.structured import StructuredDataset as FlyteDataset

    if typing.get_origin(hint) is list:
        return _converts(typing.get_args(hint)[0])
    hint = _bare(hint)
    return isinstance(hint, type) and issubclass(hint, (FlyteFile, FlyteDirectory, FlyteDataset, datetime))


def _literal_value(literal: Any, hint: Any) -> Any:
    from flytekit.core.context_manager import FlyteContextManager
    from flytekit.core.type_engine import TypeEngine

    return TypeEngine.to_python_value(FlyteContextManager.current_context(), literal, hint)


# ------------------------------------------------------------------------------ tasks


def _refuse(entity: Any, where: str) -> None:
    """Raise for entities that cannot run honestly in a kernel."""
    from flytekit.core.array_node_map_task import ArrayNodeMapTask
    from flytekit.core.base_task import PythonTask
    from flytekit.core.python_function_task import PythonFunctionTask
    from flytekit.core.reference_entity import ReferenceEntity
    from flytekit.core.task import Echo

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


class _Options:
    """A flytekit task's ``retries``, ``cache`` / ``cache_version`` and ``timeout``."""

    def __init__(self, fk_task: Any) -> None:
        meta = fk_task.metadata
        self.retries: int = meta.retries or 0
        self.timeout: timedelta | None = meta.timeout or None
        self.cache_version: str | None = meta.cache_version if meta.cache else None
        self.cache_ignore: frozenset[str] = frozenset(meta.cache_ignore_input_vars or ())


def _call(fn: Callable[..., Any], kwargs: dict[str, Any], timeout: timedelta | None, name: str) -> Any:
    """``fn(**kwargs)``, failing with ``TimeoutError`` after ``timeout`` (the thread is then abandoned)."""
    if timeout is None:
        return fn(**kwargs)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn(**kwargs)
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=run, name=f"gatewidgets-task-{name}", daemon=True)
    thread.start()
    thread.join(timeout.total_seconds())
    if thread.is_alive():
        raise TimeoutError(f"task {name} did not finish within its timeout of {timeout}; its thread was abandoned.")
    if "error" in box:
        raise box["error"]
    return box["value"]


class _FlytekitTask(dsl.Task):
    """A flytekit ``PythonFunctionTask`` as an engine task: its function, its retries, cache and timeout."""

    def __init__(self, fk_task: Any, fn: Callable[..., Any] | None = None, *, options_of: Any = None) -> None:
        self.fk = fk_task
        self.fn = fn or fk_task._task_function
        self.name = fk_task.name.rsplit(".", 1)[-1]
        interface = fk_task.python_interface
        self.input_hints = {k: _gate_hint(v) for k, v in interface.inputs.items()}
        self.declared_inputs = dict(interface.inputs)
        self.converted = {k for k, v in self.declared_inputs.items() if _converts(v)}
        self.edges: dict[str, tuple[Any, Any]] = {}
        self.output_vars = list(interface.outputs)
        self.output_hints = tuple(_gate_hint(v) for v in interface.outputs.values())  # checked as inputs are
        self.multi_output = len(self.output_vars) > 1
        self.signature = inspect.Signature([inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY)
                                            for k in self.input_hints])
        self.options = _Options(options_of or fk_task)

    def on_edges(self, edges: dict[str, tuple[Any, Any]]) -> _FlytekitTask:
        """This task for one call whose inputs ``edges`` (name -> (produced type, declared type)) go through
        flytekit's ``TypeEngine`` (itself if none do)."""
        if not edges:
            return self
        call = copy.copy(self)
        call.edges = edges
        return call

    def invoke(self, execution: Any, node: dsl.Node, kwargs: dict[str, Any]) -> Any:
        kwargs = self.as_flytekit(kwargs, execution.store)
        key = self._cache_key(kwargs)
        if key is not None:
            hit, stored = execution.store.cached_output(self.fk.name, self.options.cache_version, key)
            if hit:
                return self._from_json(stored)
        value = self._run(execution, node, kwargs)
        if key is not None:
            stored = self._to_json(value)
            if stored is not None:
                execution.store.cache_output(self.fk.name, self.options.cache_version, key, stored)
        return value

    def _run(self, execution: Any, node: dsl.Node, kwargs: dict[str, Any]) -> Any:
        """The task's output (not cached)."""
        return self._normalise(self._attempts(execution, node, kwargs))

    def _attempts(self, execution: Any, node: dsl.Node, kwargs: dict[str, Any], item: int | None = None) -> Any:
        """``fn(**kwargs)`` within the task's timeout, run again after a failure up to ``retries`` times; each
        failed attempt is a ``retry`` event of ``node`` (naming the map ``item`` it was). It runs in a task
        sandbox of its own, as in flytekit's local run (``current_context().working_directory``)."""
        from gatewidgets.frontdoors import flytekit_values

        store = execution.store
        attempt = 0
        while True:
            try:
                return _call(functools.partial(flytekit_values.in_task_sandbox, store, self.fn), kwargs,
                             self.options.timeout, self.name)
            except Exception as exc:
                if attempt >= self.options.retries:
                    raise
                attempt += 1
                error = f"{type(exc).__name__}: {exc}"
                execution.store.record_attempt(execution.id, node.id, attempt,
                                               error if item is None else f"item {item}: {error}")

    def as_flytekit(self, kwargs: dict[str, Any], store: Any) -> dict[str, Any]:
        """The inputs as flytekit hands them to the function: through flytekit's ``TypeEngine`` on this call's
        ``edges`` (with the store's file-access context), a gate's answer as :func:`_to_flytekit` makes it."""
        from gatewidgets.frontdoors import flytekit_values

        if not self.converted and not self.edges:
            return kwargs
        values = {}
        for k, v in kwargs.items():
            if k in self.edges:
                produced, declared = self.edges[k]
                try:
                    values[k] = flytekit_values.convert(store, _to_flytekit(v, produced), produced, declared)
                except Exception as exc:
                    raise TypeError(f"task {self.name}: input {k!r} ({_type_name(declared)}) cannot be made from "
                                    f"the {_type_name(produced)} it was given: {exc}") from exc
            else:
                values[k] = _to_flytekit(v, self.declared_inputs[k]) if k in self.converted else v
        return values

    def _normalise(self, value: Any) -> Any:
        """A one-field ``NamedTuple`` output is its field, as flytekit reads it."""
        if len(self.output_vars) == 1 and isinstance(value, tuple) and hasattr(value, "_fields"):
            return value[0]
        return value

    def _types(self) -> list[GateType] | None:
        try:
            return [GateType.of(h) for h in self.output_hints]
        except TypeError:
            return None

    def _cache_key(self, kwargs: dict[str, Any]) -> str | None:
        """A hash of the inputs' JSON forms, or ``None`` if the task is not cached or an input has no JSON form."""
        if self.options.cache_version is None or self._types() is None:
            return None
        try:
            forms = {k: GateType.of(self.input_hints[k]).validate(v) for k, v in sorted(kwargs.items())
                     if k not in self.options.cache_ignore}
            text = json.dumps(forms, sort_keys=True, default=str)
        except Exception:  # an input type gatewidgets cannot store: run uncached
            return None
        return hashlib.sha256(text.encode()).hexdigest()

    def _to_json(self, value: Any) -> Any:
        types = self._types()
        assert types is not None
        try:
            if self.multi_output:
                return [t.validate(v) for t, v in zip(types, value)]
            return types[0].validate(value) if types else None
        except Exception:
            return None

    def _from_json(self, stored: Any) -> Any:
        types = self._types()
        assert types is not None
        if self.multi_output:
            return tuple(t.to_python(v) for t, v in zip(types, stored))
        return types[0].to_python(stored) if types else None


class _FlytekitMap(_FlytekitTask):
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

    def _run(self, execution: Any, node: dsl.Node, kwargs: dict[str, Any]) -> Any:
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
                results[i] = self._normalise(self._attempts(execution, node, {**fixed, **{k: v[i] for k, v in
                                                                                         lists.items()}}, item=i))
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


class _FlytekitDynamic(_FlytekitTask, dsl.Dynamic):
    """A flytekit ``@dynamic`` task: at run time its body is compiled by flytekit and translated here."""

    kind = dsl.NodeKind.DYNAMIC

    def build(self, values: dict[str, Any]) -> Any:
        from flytekit.core.workflow import (
            PythonFunctionWorkflow,
            WorkflowFailurePolicy,
            WorkflowMetadata,
            WorkflowMetadataDefaults,
        )

        values = self.as_flytekit(values, None)
        body = PythonFunctionWorkflow(self.fn,
                                      metadata=WorkflowMetadata(on_failure=WorkflowFailurePolicy.FAIL_IMMEDIATELY),
                                      default_metadata=WorkflowMetadataDefaults(interruptible=False))
        body.compile(**values)
        return _Scope(f"@dynamic {self.name}", values, self.declared_inputs).run(body)


def _echo(echo: Any, **kwargs: Any) -> Any:
    """What flytekit's ``Echo`` task returns: its inputs, in its interface's order."""
    return echo.execute(**{k: kwargs[k] for k in echo.python_interface.inputs})


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


@functools.cache
def _task(fk_task: Any) -> _FlytekitTask:
    """One engine task per flytekit task object (so cache and node names are shared by every call)."""
    from flytekit.core.array_node_map_task import ArrayNodeMapTask
    from flytekit.core.python_function_task import PythonFunctionTask
    from flytekit.core.task import Echo

    if isinstance(fk_task, ArrayNodeMapTask):
        return _FlytekitMap(fk_task)
    if isinstance(fk_task, Echo):  # propeller's echo plugin: the inputs are the outputs
        return _FlytekitTask(fk_task, functools.partial(_echo, fk_task))
    if fk_task.execution_mode is PythonFunctionTask.ExecutionBehavior.DYNAMIC:
        return _FlytekitDynamic(fk_task)
    return _FlytekitTask(fk_task)


# ------------------------------------------------------------------------------ graph


class _Scope:
    """Translates one flytekit graph (a workflow, a sub-workflow, a dynamic body) into the current builder.

    ``inputs`` maps the graph's input names to promises or values of the enclosing graph.
    """

    def __init__(self, where: str, inputs: dict[str, Any], input_types: dict[str, Any]) -> None:
        self.where = where
        self.inputs = inputs
        self.input_types = input_types  # input name -> its declared flytekit type
        self.types: dict[str, dict[str, Any]] = {}  # flytekit node id -> output var -> declared type (gates: none)
        self.outputs: dict[str, dict[str, Any]] = {}  # flytekit node id -> output var -> promise
        self.done: dict[str, set[str]] = {}  # flytekit node id -> the engine nodes that complete it
        self.nodes: dict[str, Any] = {}  # flytekit node id -> the flytekit node translated

    def run(self, fk_workflow: Any) -> Any:
        """Add every node; return the workflow's outputs (one promise, a tuple, or ``None``)."""
        nodes = {n.id: n for n in fk_workflow.nodes}
        for node_id in _order(nodes):
            self._add(nodes[node_id])
        outputs = [self._bound(b.binding, fk_workflow.python_interface.outputs[b.var])
                   for b in fk_workflow.output_bindings]
        if not outputs:
            return None
        return tuple(outputs) if len(outputs) > 1 else outputs[0]

    def _add(self, node: Any) -> None:
        from flytekit.core.condition import BranchNode
        from flytekit.core.gate import Gate

        builder = dsl._current()
        assert builder is not None
        before = set(builder.nodes)
        self.outputs[node.id] = self._node(node)
        added = set(builder.nodes) - before
        after = set().union(*(self.done.get(u.id, set()) for u in node.upstream_nodes))
        for nid in added:  # `a >> b` and data edges alike: wait for every upstream flytekit node
            builder.nodes[nid].upstream |= after - {nid}
        self.done[node.id] = added
        self.nodes[node.id] = node
        entity = node.flyte_entity
        answered = isinstance(entity, Gate) and entity.input_type is not None  # a gatewidgets value
        if not answered and not isinstance(entity, BranchNode) and hasattr(entity, "python_interface"):
            self.types[node.id] = dict(entity.python_interface.outputs)

    def _node(self, node: Any) -> dict[str, Any]:
        """Translate one flytekit node; return its outputs by var name."""
        from flytekit.core.condition import BranchNode
        from flytekit.core.gate import Gate
        from flytekit.core.launch_plan import LaunchPlan
        from flytekit.core.task import Echo
        from flytekit.core.workflow import WorkflowBase

        from gatewidgets.frontdoors import flytekit_values

        entity = node.flyte_entity
        where = f"{self.where}, node {node.id} ({getattr(entity, 'name', type(entity).__name__)})"
        _refuse(entity, where)
        if isinstance(entity, Gate):
            try:
                return self._gate(node, entity)
            except WorkflowDefinitionError as exc:  # name the flytekit workflow and node
                raise WorkflowDefinitionError(f"{where}: {exc}") from None
        if isinstance(entity, BranchNode):
            return self._branch(node, entity)
        if isinstance(entity, LaunchPlan):
            return self._launch_plan(node, entity)
        if isinstance(entity, WorkflowBase):
            return self._subworkflow(node, entity)
        if not hasattr(entity, "_task_function") and not hasattr(entity, "python_function_task") and \
                not isinstance(entity, Echo):
            raise WorkflowDefinitionError(f"{where}: a {type(entity).__name__} cannot run in the kernel.")
        task = _task(entity)
        kwargs = {b.var: self._bound(b.binding, task.declared_inputs[b.var]) for b in node.bindings}
        edges = {}
        for b in node.bindings:
            declared = task.declared_inputs[b.var]
            produced = self._produced(b.binding, declared)
            if produced is not None and flytekit_values.needs_conversion(produced, declared):
                edges[b.var] = (produced, declared)
        return self._outputs(task.output_vars, task.on_edges(edges)(**kwargs))

    def _produced(self, data: Any, declared: Any) -> Any:
        """The declared flytekit type of what a binding carries (``declared`` where the producer's is unknown:
        an attribute, a conditional's result, a list of promises), or ``None`` where flytekit's ``TypeEngine``
        has no part: a constant (already the declared type) or a gate's answer (see :func:`_to_flytekit`)."""
        from flytekit.core.gate import Gate

        if data.promise is None:
            return None if data.scalar is not None else declared
        ref = data.promise
        if ref.attr_path:
            return declared
        if not ref.node_id:
            return self.input_types.get(ref.var, declared)
        if ref.node_id not in self.types:
            return None if isinstance(self.nodes[ref.node_id].flyte_entity, Gate) else declared
        return self.types[ref.node_id].get(ref.var, declared)

    @staticmethod
    def _outputs(names: list[str], result: Promise) -> dict[str, Any]:
        if len(names) > 1:
            return dict(zip(names, result))
        return {names[0]: result} if names else {"": result}

    def _gate(self, node: Any, gate: Any) -> dict[str, Any]:
        if gate.sleep_duration is not None:
            return {"": dsl.sleep(gate.sleep_duration)}
        if gate.input_type is not None:
            return {"o0": dsl.wait_for_input(gate.name, gate._timeout, _gate_answer_hint(gate.input_type))}
        (binding,) = node.bindings
        upstream = self._bound(binding.binding, None)
        return {binding.var: dsl.approve(upstream, gate.name, gate._timeout)}

    def _bound_inputs(self, node: Any, entity: Any) -> dict[str, Any]:
        hints = entity.python_interface.inputs
        return {b.var: self._bound(b.binding, hints.get(b.var)) for b in node.bindings}

    def _subworkflow(self, node: Any, entity: Any) -> dict[str, Any]:
        """A sub-workflow called directly: its nodes join this graph."""
        result = _Scope(f"{self.where} > {entity.name}", self._bound_inputs(node, entity),
                        dict(entity.python_interface.inputs)).run(entity)
        return self._outputs(list(entity.python_interface.outputs), result)

    def _launch_plan(self, node: Any, lp: Any) -> dict[str, Any]:
        """A launch plan used as a node: a child execution of its workflow (its defaults and fixed inputs apply)."""
        inputs = {k: v for k, v in self._bound_inputs(node, lp).items() if k not in lp.raw_fixed_inputs}
        result = dsl.launch_child(workflow_of(lp), **inputs)
        return self._outputs(list(lp.python_interface.outputs), result)

    def _branch(self, node: Any, branch: Any) -> dict[str, Any]:
        block = branch._ifelse_block
        operands = {b.var: self._bound(b.binding, None) for b in node.bindings}
        section = conditional(branch.name)
        cases = [block.case, *(block.other or [])]
        names: list[str] = []
        result: Any = None
        for i, case in enumerate(cases):
            opened = (section.if_ if i == 0 else section.elif_)(self._condition(case.condition, operands))
            value, names = self._case(case.then_node)
            section = opened.then(value)
        last = section.else_()
        if block.else_node is not None:
            value, names = self._case(block.else_node)
            result = last.then(value)
        else:
            result = last.fail(block.error.message if block.error is not None else "Condition failed")
        if len(names) > 1:  # a tuple-valued case: the merge holds the tuple
            hints = typing.get_args(result._hint)
            return {name: Promise(result._builder, Ref(node_id=result.ref.node_id, index=i), hints[i], result.node)
                    for i, name in enumerate(names)}
        return {names[0]: result} if names else {"": result}

    def _case(self, fk_node: Any) -> tuple[Any, list[str]]:
        outputs = self._node(fk_node)
        names = [n for n in outputs if n]
        if len(names) > 1:
            first = outputs[names[0]]
            if any(outputs[n].ref != Ref(node_id=first.ref.node_id, index=i) for i, n in enumerate(names)):
                raise WorkflowDefinitionError(
                    f"{self.where}: a conditional case with several outputs must be one task call; make the case "
                    "a task returning a tuple.")
            hint = tuple.__class_getitem__(first.node.output_hints)
            return Promise(first._builder, Ref(node_id=first.ref.node_id), hint, first.node), names
        return (outputs[names[0]] if names else next(iter(outputs.values()))), names

    def _condition(self, expr: Any, operands: dict[str, Any]) -> Condition:
        from flytekit.models.core.condition import ComparisonExpression as Cmp
        from flytekit.models.core.condition import ConjunctionExpression as Conj

        if expr.conjunction is not None:
            left = self._condition(expr.conjunction.left_expression, operands)
            right = self._condition(expr.conjunction.right_expression, operands)
            return left & right if expr.conjunction.operator == Conj.LogicalOperator.AND else left | right
        cmp = expr.comparison
        ops = {Cmp.Operator.EQ: "==", Cmp.Operator.NEQ: "!=", Cmp.Operator.GT: ">", Cmp.Operator.GTE: ">=",
               Cmp.Operator.LT: "<", Cmp.Operator.LTE: "<="}
        left, right = (self._operand(o, operands) for o in (cmp.left_value, cmp.right_value))
        if isinstance(right, Const) and right.value is None and cmp.operator == Cmp.Operator.EQ:
            return Condition("is_none", left)
        return Condition(ops[cmp.operator], left, right)

    @staticmethod
    def _operand(operand: Any, operands: dict[str, Any]) -> Any:
        if operand.var:
            value = operands[operand.var]
            return value.ref if isinstance(value, Promise) else Const(value)
        if operand.primitive is not None:
            return Const(operand.primitive.value)
        return Const(None)

    def _bound(self, data: Any, hint: Any) -> Any:
        """A flytekit ``BindingData`` as a promise, a value, or a list / dict of them."""
        if data.promise is not None:
            ref = data.promise
            if not ref.node_id:
                value = self.inputs[ref.var]
            elif ref.node_id not in self.outputs or self.nodes[ref.node_id] is not getattr(ref, "node", None):
                raise WorkflowDefinitionError(
                    f"{self.where}: an input reads node {ref.node_id}, which is not a node of this graph (a call "
                    "made inside a conditional case, other than the case's own result, is not part of the "
                    "workflow on Flyte either). Make it the case's result, or call it before the conditional.")
            else:
                value = self.outputs[ref.node_id][ref.var]
            return _attribute(value, tuple(ref.attr_path)) if ref.attr_path else value
        if data.scalar is not None:
            from flytekit.models.literals import Literal

            if hint is None:
                raise WorkflowDefinitionError(f"{self.where}: a constant is bound where no type is known.")
            return _literal_value(Literal(scalar=data.scalar), hint)
        args = typing.get_args(hint) if hint is not None else ()
        if data.collection is not None:
            item = args[0] if args else None
            return [self._bound(b, item) for b in data.collection.bindings]
        if data.map is not None:
            item = args[1] if len(args) == 2 else None
            return {k: self._bound(b, item) for k, b in data.map.bindings.items()}
        raise WorkflowDefinitionError(f"{self.where}: unsupported binding {data}.")


def _attribute(value: Any, path: tuple[str | int, ...]) -> Any:
    """``promise.field`` / ``promise["key"]`` / ``promise[0]`` in a flytekit workflow: a node that picks it."""
    if not isinstance(value, Promise):
        return _pick(value, path)

    def pick(value: Any) -> Any:
        return _pick(value, path)

    name = "".join(f".{key}" if isinstance(key, str) else f"[{key}]" for key in path)
    return dsl.Task(pick, name=f"pick{name}")(value=value)


def _pick(value: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        if isinstance(value, dict):
            value = value[key]
        elif isinstance(value, (list, tuple)):
            if not isinstance(key, int):  # what indexing with a str raises
                raise TypeError(f"{type(value).__name__} indices must be integers or slices, not {type(key).__name__}")
            value = value[key]
        elif isinstance(key, str):
            value = getattr(value, key)
        else:  # what getattr with an int raises
            raise TypeError(f"attribute name must be string, not '{type(key).__name__}'")
    return value


def _order(nodes: dict[str, Any]) -> list[str]:
    """The node ids in an order where each comes after the nodes it reads, those read inside its conditional
    cases (nested ones too) included: flytekit lists only the condition's own operands as a branch's upstream."""
    graph = {nid: {u.id for u in n.upstream_nodes if u.id in nodes} | (_reads(n) & set(nodes))
             for nid, n in nodes.items()}
    return list(graphlib.TopologicalSorter(graph).static_order())


def _reads(node: Any) -> set[str]:
    """The ids of the nodes a node's bindings read, and for a conditional those its cases' nodes read."""
    from flytekit.core.condition import BranchNode

    def promised(data: Any) -> set[str]:
        if data.promise is not None:
            return {data.promise.node_id} if data.promise.node_id else set()
        items = data.collection.bindings if data.collection is not None else \
            data.map.bindings.values() if data.map is not None else ()
        return set().union(*(promised(b) for b in items))

    found = set().union(*(promised(b.binding) for b in node.bindings))
    entity = node.flyte_entity
    if isinstance(entity, BranchNode):
        block = entity._ifelse_block
        cases = [block.case, *(block.other or [])]
        for case_node in [c.then_node for c in cases] + ([block.else_node] if block.else_node else []):
            found |= _reads(case_node)
    return found


def _translate(obj: Any) -> Workflow:
    from flytekit.core.launch_plan import LaunchPlan

    _refuse(obj, f"{type(obj).__name__} {getattr(obj, 'name', '')!r}")
    fk_workflow = obj.workflow if isinstance(obj, LaunchPlan) else obj
    interface = fk_workflow.python_interface
    fixed = obj.raw_fixed_inputs if isinstance(obj, LaunchPlan) else {}
    defaults = obj.saved_inputs if isinstance(obj, LaunchPlan) else interface.default_inputs_as_kwargs
    hints = {k: _gate_hint(v) for k, v in interface.inputs.items() if k not in fixed}
    outputs = list(interface.outputs.values())
    output_hint: Any = None if not outputs else outputs[0] if len(outputs) == 1 else tuple.__class_getitem__(
        tuple(outputs))
    named = interface.output_tuple_name and len(outputs) > 1

    scope = _Scope(f"workflow {fk_workflow.name}", {}, dict(interface.inputs))

    def body(**inputs: Any) -> Any:
        scope.inputs = {**fixed, **inputs}
        result = _end_node(scope, fk_workflow, scope.run(fk_workflow))
        if named:  # a NamedTuple output keeps its class and field names
            return _named_tuple(fk_workflow)(**dict(zip(interface.outputs, result)))
        return result

    name = obj.name.rsplit(".", 1)[-1]
    handler = _failure_handler(fk_workflow, fixed)
    workflow = Workflow.from_body(name, hints, output_hint, body,
                                  {k: v for k, v in defaults.items() if k not in fixed}, on_failure=handler)
    if handler is not None:  # an engine node reports the flytekit node it is part of
        handler.flyte_ids.update({nid: fk_id for fk_id, nids in scope.done.items() for nid in nids})
    return workflow


class _FailureHandler(_FlytekitTask):
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
        from flytekit.types.error import FlyteError

        failure = kwargs.get(dsl.FAILURE_INPUT)
        if isinstance(failure, dsl.WorkflowFailure):
            top = (failure.node_id or "").split(".")[0]  # a @dynamic node's child reports the @dynamic node
            kwargs = {**kwargs, dsl.FAILURE_INPUT: FlyteError(message=failure.message,
                                                              failed_node_id=self.flyte_ids.get(top, top))}
        return super().invoke(execution, node, {**self.fixed, **kwargs})


def _failure_handler(fk_workflow: Any, fixed: dict[str, Any]) -> _FailureHandler | None:
    """The engine task for a flytekit workflow's ``on_failure`` (a Python function task), or ``None``."""
    from flytekit.core.python_function_task import PythonFunctionTask

    handler = fk_workflow.on_failure
    if handler is None:
        return None
    where = f"workflow {fk_workflow.name}, on_failure {getattr(handler, 'name', type(handler).__name__)}"
    _refuse(handler, where)
    if not isinstance(handler, PythonFunctionTask) or \
            handler.execution_mode is not PythonFunctionTask.ExecutionBehavior.DEFAULT:
        raise WorkflowDefinitionError(
            f"{where}: only a @task can be a failure handler here (a {type(handler).__name__} was given); make the "
            "handler a @task.")
    return _FailureHandler(handler, {k: v for k, v in fixed.items() if k in handler.python_interface.inputs})


class _EndNode(dsl.Task):
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
        from gatewidgets.frontdoors import flytekit_values

        values = [kwargs[f"o{i}"] if conv is None else
                  flytekit_values.convert(execution.store, _to_flytekit(kwargs[f"o{i}"], conv[0]), *conv)
                  for i, conv in enumerate(self.conversions)]
        return tuple(values) if len(values) > 1 else values[0]


def _end_node(scope: _Scope, fk_workflow: Any, result: Any) -> Any:
    """``result`` (the workflow's output promises), through an :class:`_EndNode` if an output needs converting."""
    from gatewidgets.frontdoors import flytekit_values

    declared = list(fk_workflow.python_interface.outputs.values())
    conversions: list[tuple[Any, Any] | None] = []
    for binding, hint in zip(fk_workflow.output_bindings, declared):
        produced = scope._produced(binding.binding, hint)
        needed = produced is not None and flytekit_values.needs_conversion(produced, hint)
        conversions.append((produced, hint) if needed else None)
    if not any(conversions):
        return result
    values = result if len(declared) > 1 else (result,)
    converted = _EndNode([_gate_hint(h) for h in declared], conversions)(
        **{f"o{i}": v for i, v in enumerate(values)})
    return tuple(converted) if len(declared) > 1 else converted


def _named_tuple(fk_workflow: Any) -> dsl.Task:
    """A task packing a workflow's outputs into its declared ``NamedTuple``."""
    cls = typing.get_type_hints(fk_workflow._workflow_function)["return"]
    fields = typing.get_type_hints(cls)

    def pack(**values: Any) -> Any:
        return cls(**values)

    pack.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(f, inspect.Parameter.KEYWORD_ONLY) for f in fields], return_annotation=cls)
    pack.__annotations__ = {**fields, "return": cls}
    return dsl.Task(pack, name=cls.__name__)

