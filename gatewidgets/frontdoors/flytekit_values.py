"""How values cross flytekit task boundaries: through flytekit's ``TypeEngine``, as flytekit's local run does.

flytekit's local execution turns every task output into a literal (with the producing task's declared
output type) and every task input back into a Python value (with the consuming task's declared input
type), files and datasets written under a local file-access provider. The front door does the same on
every edge where it can matter, decided once per edge when the workflow is translated
(:func:`needs_conversion`); plain Python values (``int``, ``str``, lists and dicts of them, ... of one
declared type on both sides) are handed over as they are. Files go under ``<store folder>/flytekit``.

This module imports flytekit: the front door imports it only once a flytekit workflow is translated.
"""
from __future__ import annotations

import functools
import os
import tempfile
import typing
from typing import Any, Callable

from flytekit.core.context_manager import ExecutionState, FlyteContext, FlyteContextManager
from flytekit.core.data_persistence import FileAccessProvider
from flytekit.core.type_engine import TypeEngine, TypeTransformerFailedError
from flytekit.types.directory import FlyteDirectory

from gatewidgets.store import default_store_path

__all__ = ["check", "convert", "flytekit_context", "in_task_sandbox", "needs_conversion", "is_plain"]

_PLAIN = (int, float, str, bool, type(None))


def is_plain(hint: Any) -> bool:
    """Whether flytekit hands a value of ``hint`` over unchanged: ``int``, ``float``, ``str``, ``bool``, ``None``
    and ``list`` / ``dict`` / ``Optional`` of them."""
    if hint in _PLAIN:
        return True
    origin = typing.get_origin(hint)
    if origin in (list, dict, typing.Union):
        return all(is_plain(a) for a in typing.get_args(hint))
    return False


def needs_conversion(produced: Any, declared: Any) -> bool:
    """Whether a value of the ``produced`` type must go through the ``TypeEngine`` to reach an input declared as
    ``declared``: the types differ, or the type is not plain (files, datasets, dataclasses, enums, numpy,
    user-registered transformers). Decided once per edge."""
    return declared is not None and not (produced == declared and is_plain(declared))


@functools.cache
def _context(folder: str) -> FlyteContext:
    os.makedirs(folder, mode=0o700, exist_ok=True)
    files = FileAccessProvider(local_sandbox_dir=os.path.join(folder, "sandbox"),
                               raw_output_prefix=os.path.join(folder, "raw"))
    ctx = FlyteContextManager.current_context()
    state = ctx.execution_state.with_params(mode=ExecutionState.Mode.LOCAL_WORKFLOW_EXECUTION)
    return ctx.with_file_access(files).with_execution_state(state).build()


def flytekit_context(store: Any) -> FlyteContext:
    """A flytekit context as flytekit's local workflow execution has it, its files under the store's folder
    (``<folder>/flytekit``; ``None``: the default store's; a store without a path: a temporary folder). One per
    folder."""
    path = default_store_path() if store is None else getattr(store, "path", None)
    return _context(os.path.join(os.path.dirname(path), "flytekit") if isinstance(path, str) else
                    os.path.join(tempfile.gettempdir(), "gatewidgets-flytekit"))


def convert(store: Any, value: Any, produced: Any, declared: Any) -> Any:
    """``value`` (of the ``produced`` type) as a task declaring ``declared`` receives it in flytekit's local run:
    to a literal and back, in the store's context (pushed on this thread: encoders read the current one).
    Raises flytekit's ``TypeTransformerFailedError`` (or ``ValueError``) if it does not fit."""
    FlyteContextManager.current_context()  # this thread's own context stack, before pushing on it
    with FlyteContextManager.with_context(flytekit_context(store).new_builder()) as ctx:
        literal = TypeEngine.to_literal(ctx, value, produced, TypeEngine.to_literal_type(produced))
        return TypeEngine.to_python_value(ctx, literal, declared)


def check(value: Any, declared: Any) -> None:
    """Raise as flytekit's local run does if ``value`` is no ``declared`` (a launch input), writing nothing: a
    folder is checked to be one, not copied."""
    if isinstance(declared, type) and issubclass(declared, FlyteDirectory) and isinstance(value, (str, os.PathLike)):
        if not os.path.isdir(value):
            raise TypeTransformerFailedError(f"Error converting {os.fspath(value)!r} because it's not a folder.")
        return
    ctx = flytekit_context(None)
    TypeEngine.to_literal(ctx, value, declared, TypeEngine.to_literal_type(declared))


def in_task_sandbox(store: Any, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """``fn(**kwargs)`` as flytekit's local run calls a task: in a context of its own (a fresh
    ``current_context().working_directory``, the store's file access), pushed on this thread only."""
    FlyteContextManager.current_context()  # this thread's own context stack, before pushing on it
    ctx = flytekit_context(store)
    state = ctx.execution_state
    params = state.user_space_params.with_task_sandbox().build()
    task_state = state.with_params(mode=ExecutionState.Mode.LOCAL_TASK_EXECUTION, user_space_params=params)
    with FlyteContextManager.with_context(ctx.with_execution_state(task_state)):
        return fn(**kwargs)
