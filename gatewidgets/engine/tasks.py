"""How the engine runs a task: its options ``retries``, ``timeout`` and ``cache`` / ``cache_version`` (attributes of
the task, set by ``@task(...)`` or by a front door from its SDK's task metadata).

- ``timeout`` (a ``timedelta`` or seconds): an attempt that runs longer fails with ``TimeoutError`` (its thread
  is abandoned: Python cannot stop it);
- ``retries``: a failed attempt runs again, up to that many times; each failure is recorded on the node
  (``ExecutorStore.record_attempt``, a ``retry`` event of its history);
- ``cache``: an output stored for the same task, ``cache_version`` and inputs is reused without running
  (``ExecutorStore.cached_output`` / ``cache_output``); inputs named in ``cache_ignore`` do not count, and a
  task whose inputs or output have no stored form runs uncached.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Protocol, TypeVar

from gatewidgets.dsl import Node, Task
from gatewidgets.engine.rows import gate_type_of
from gatewidgets.models.execution import WorkflowExecutionIdentifier
from gatewidgets.store.base import ExecutorStore
from gatewidgets.types import GateType

__all__ = ["TaskOptions", "run", "attempts"]

T = TypeVar("T")


class Running(Protocol):
    """The execution a task runs in (its attempts and cache are the store's)."""

    id: WorkflowExecutionIdentifier
    store: ExecutorStore


@dataclass(frozen=True)
class TaskOptions:
    """A task's retries, timeout and cache, as the engine runs it."""

    retries: int = 0
    timeout: timedelta | None = None
    cache: bool = False
    cache_version: str = ""
    cache_ignore: frozenset[str] = frozenset()

    @classmethod
    def of(cls, task: Any) -> TaskOptions:
        """The options a task (or a mapped item's task) carries as attributes."""
        timeout = getattr(task, "timeout", None)
        return cls(retries=int(getattr(task, "retries", 0) or 0),
                   timeout=timedelta(seconds=timeout) if isinstance(timeout, (int, float)) else timeout or None,
                   cache=bool(getattr(task, "cache", False)), cache_version=str(getattr(task, "cache_version", "")),
                   cache_ignore=frozenset(getattr(task, "cache_ignore", ())))


def run(execution: Running, node: Node, task: Task, kwargs: dict[str, Any]) -> Any:
    """Run ``task`` for ``node``: its cached output, else ``task.invoke`` within its timeout and retries."""
    if not (getattr(task, "retries", 0) or getattr(task, "timeout", None) or getattr(task, "cache", False)):
        return task.invoke(execution, node, kwargs)  # the hot path: a plain task
    options = TaskOptions.of(task)
    key = _cache_key(task, options, kwargs) if options.cache else None
    if key is not None:
        hit, stored = execution.store.cached_output(_cache_name(task), options.cache_version, key)
        if hit:
            return _from_json(task, stored)
    value = attempts(execution, node, lambda: task.invoke(execution, node, kwargs), options, task.name)
    if key is not None:
        stored = _to_json(task, value)
        if stored is not None:
            execution.store.cache_output(_cache_name(task), options.cache_version, key, stored)
    return value


def attempts(execution: Running, node: Node, call: Callable[[], T], options: TaskOptions, name: str,
             item: int | None = None) -> T:
    """``call()`` within ``options.timeout``, run again after a failure up to ``options.retries`` times; each
    failed attempt is recorded on ``node`` (naming the map ``item`` it was, if any)."""
    attempt = 0
    while True:
        try:
            return _within(call, options.timeout, name)
        except Exception as exc:
            if attempt >= options.retries:
                raise
            attempt += 1
            error = f"{type(exc).__name__}: {exc}"
            execution.store.record_attempt(execution.id, node.id, attempt,
                                           error if item is None else f"item {item}: {error}")


def _within(call: Callable[[], T], timeout: timedelta | None, name: str) -> T:
    """``call()``, failing with ``TimeoutError`` after ``timeout`` (the thread is then abandoned)."""
    if timeout is None:
        return call()
    box: dict[str, Any] = {}

    def run_call() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=run_call, name=f"gatewidgets-task-{name}", daemon=True)
    thread.start()
    thread.join(timeout.total_seconds())
    if thread.is_alive():
        raise TimeoutError(f"task {name} did not finish within its timeout of {timeout}; its thread was abandoned.")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def _cache_name(task: Task) -> str:
    """The task's name in the cache: its function's module and the task's name."""
    return f"{getattr(task.fn, '__module__', '')}.{task.name}"


def _output_types(task: Task) -> list[GateType] | None:
    types = [gate_type_of(h) for h in task.output_hints]
    return None if any(t is None for t in types) else types  # type: ignore[return-value]


def _cache_key(task: Task, options: TaskOptions, kwargs: dict[str, Any]) -> str | None:
    """A hash of the inputs' JSON forms, or ``None`` if the output or an input has no stored form."""
    if _output_types(task) is None:
        return None
    try:
        forms = {k: GateType.of(task.input_hints[k]).validate(v) for k, v in sorted(kwargs.items())
                 if k not in options.cache_ignore}
        text = json.dumps(forms, sort_keys=True, default=str)
    except Exception:  # an input type gatewidgets cannot store: run uncached
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def _to_json(task: Task, value: Any) -> Any:
    types = _output_types(task)
    assert types is not None
    try:
        if task.multi_output:
            return [t.validate(v) for t, v in zip(types, value)]
        return types[0].validate(value) if types else None
    except Exception:
        return None


def _from_json(task: Task, stored: Any) -> Any:
    types = _output_types(task)
    assert types is not None
    if task.multi_output:
        return tuple(t.to_python(v) for t, v in zip(types, stored))
    return types[0].to_python(stored) if types else None
