"""How values cross flytekit task boundaries: through flytekit's ``TypeEngine``, as flytekit's local run does.

flytekit's local execution turns every task output into a literal (with the producing task's declared
output type) and every task input back into a Python value (with the consuming task's declared input
type), files and datasets written under a local file-access provider. The front door does the same on
every edge where it can matter, decided once per edge when the workflow is translated
(:func:`needs_conversion`); plain Python values (``int``, ``str``, lists and dicts of them, ... of one
declared type on both sides) are handed over as they are. Files go under ``<store folder>/flytekit``.

Here too: the gatewidgets type of a flytekit type (:func:`gate_hint`), and a gatewidgets value as flytekit
hands it to a task (:func:`to_flytekit`: a ``GateFile`` as a ``FlyteFile``, a table as flytekit's
``StructuredDataset``, a ``datetime`` in UTC).

This module imports flytekit: the front door imports it only once a flytekit workflow is translated.
"""
from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import traceback
import types
import typing
import zipfile
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, Callable

from flytekit.core.context_manager import ExecutionParameters, ExecutionState, FlyteContext, FlyteContextManager
from flytekit.core.data_persistence import FileAccessProvider
from flytekit.core.type_engine import TypeEngine, TypeTransformerFailedError
from flytekit.types.directory import FlyteDirectory

from gatewidgets.errors import SignalTypeError
from gatewidgets.settings import settings
from gatewidgets.store import default_store_path, open_store
from gatewidgets.store.postgres import is_postgres_url
from gatewidgets.types import GateFile
from gatewidgets.types.structured.structured_dataset import StructuredDataset

__all__ = ["check", "convert", "flytekit_context", "in_task_sandbox", "needs_conversion", "is_plain", "gate_hint",
           "gate_answer_hint", "to_flytekit", "bare", "converts", "literal_value", "type_name"]

_PLAIN = (int, float, str, bool, type(None))


def is_plain(hint: Any) -> bool:
    """Whether flytekit hands a value of ``hint`` over unchanged: ``int``, ``float``, ``str``, ``bool``, ``None``
    and ``list`` / ``dict`` / ``Optional`` of them."""
    if hint in _PLAIN:
        return True
    origin = typing.get_origin(hint)
    if origin in (list, dict, typing.Union, types.UnionType):
        return all(is_plain(a) for a in typing.get_args(hint))
    return False


def needs_conversion(produced: Any, declared: Any) -> bool:
    """Whether a value of the ``produced`` type must go through the ``TypeEngine`` to reach an input declared as
    ``declared``: the types differ, or the type is not plain (files, datasets, dataclasses, enums, numpy,
    user-registered transformers). Decided once per edge."""
    return declared is not None and not (_same(produced, declared) and is_plain(declared))


def _same(a: Any, b: Any) -> bool:
    """``a == b``, ``list[int]`` and ``typing.List[int]`` alike."""
    if a == b:
        return True
    origin, args = typing.get_origin(a), typing.get_args(a)
    return origin is not None and origin == typing.get_origin(b) and len(args) == len(typing.get_args(b)) and \
        all(_same(x, y) for x, y in zip(args, typing.get_args(b)))


@functools.cache
def _context(folder: str) -> FlyteContext:
    os.makedirs(os.path.join(folder, "work"), mode=0o700, exist_ok=True)
    files = FileAccessProvider(local_sandbox_dir=os.path.join(folder, "sandbox"),
                               raw_output_prefix=os.path.join(folder, "raw"))
    ctx = FlyteContextManager.current_context()
    state = ctx.execution_state.with_params(mode=ExecutionState.Mode.LOCAL_WORKFLOW_EXECUTION)
    return ctx.with_file_access(files).with_execution_state(state).build()


def flytekit_context(store: Any) -> FlyteContext:
    """A flytekit context as flytekit's local workflow execution has it, its files under :func:`folder_of`
    ``store``. One per folder."""
    return _context(folder_of(store))


def folder_of(store: Any) -> str:
    """Where flytekit's files go for ``store``: ``<store folder>/flytekit`` (``None``: the default store's; a
    PostgreSQL store: beside its ``files_dir``; a store without a path: a temporary folder)."""
    path = default_store_path() if store is None else getattr(store, "path", None)
    if isinstance(path, str) and is_postgres_url(path):  # a database has no folder: beside its files folder
        return os.path.join(os.path.dirname((store or open_store()).files_dir), "flytekit")
    return os.path.join(os.path.dirname(path), "flytekit") if isinstance(path, str) else \
        os.path.join(tempfile.gettempdir(), "gatewidgets-flytekit")


def convert(store: Any, value: Any, produced: Any, declared: Any) -> Any:
    """``value`` (of the ``produced`` type) as a task declaring ``declared`` receives it in flytekit's local run:
    to a literal and back, in the store's context (pushed on this thread: encoders read the current one).
    Raises flytekit's ``TypeTransformerFailedError`` (or ``ValueError``) if it does not fit."""
    with _pushed(flytekit_context(store)) as ctx:
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
    """``fn(**kwargs)`` as flytekit's local run calls a task: in a context of its own, pushed on this thread only
    (the store's file access; a ``current_context().working_directory`` of its own, made under
    ``<folder>/flytekit/work`` when the task first asks for it)."""
    base = flytekit_context(store)
    state = base.execution_state
    params = _TaskParams(state.user_space_params, os.path.join(folder_of(store), "work"))
    task_state = state.with_params(mode=ExecutionState.Mode.LOCAL_TASK_EXECUTION, user_space_params=params)
    with _pushed(base.with_execution_state(task_state).build()):
        return fn(**kwargs)


class _TaskParams(ExecutionParameters):
    """A task's ``ExecutionParameters`` (what ``flytekit.current_context()`` returns): those of the run, with a
    working directory of the task's own, made on first use (flytekit makes one per task; most tasks never ask,
    and making it costs more than a trivial task)."""

    def __init__(self, run: ExecutionParameters, parent: str) -> None:  # noqa: D107 - shares the run's fields
        self.__dict__.update(run.__dict__)
        self._parent = parent
        self._own: str | None = None

    @property
    def working_directory(self) -> str:
        if self._own is None:
            self._own = tempfile.mkdtemp(prefix="task-", dir=self._parent)
        return self._own


@contextlib.contextmanager
def _pushed(ctx: FlyteContext) -> Iterator[FlyteContext]:
    """``ctx`` as this thread's current flytekit context (``FlyteContextManager.with_context`` without its
    stack walk, which costs more than a trivial task)."""
    FlyteContextManager.current_context()  # this thread's own context stack, before pushing on it
    FlyteContextManager.push_context(ctx, _ORIGIN)
    try:
        yield ctx
    finally:
        FlyteContextManager.pop_context()


_ORIGIN = traceback.FrameSummary(__file__, 0, "gatewidgets")


# ------------------------------------------------------------------------------ gatewidgets values


def gate_hint(hint: Any) -> Any:
    """The gatewidgets type for a flytekit type: a ``FlyteFile`` gate is answered with a ``GateFile``, a
    ``StructuredDataset`` gate with gatewidgets' ``StructuredDataset`` (a CSV or Parquet file)."""
    from flytekit.types.file import FlyteFile
    from flytekit.types.structured import StructuredDataset as FlyteDataset

    if isinstance(bare(hint), type) and issubclass(bare(hint), FlyteDataset):
        return StructuredDataset
    return GateFile if isinstance(hint, type) and issubclass(hint, FlyteFile) else hint


def gate_answer_hint(hint: Any) -> Any:
    """The gatewidgets type a gate of flytekit type ``hint`` is answered with: as :func:`gate_hint`, and a
    ``FlyteDirectory`` gate with its files (``list[GateFile]``: several files, or one zip unpacked)."""
    from flytekit.types.directory import FlyteDirectory

    if isinstance(hint, type) and issubclass(hint, FlyteDirectory):
        return list[GateFile]
    return gate_hint(hint)


def _directory_of(files: list[GateFile]) -> str:
    """A new local folder holding ``files`` (the members of one ``.zip``, unpacked, if that is all there is)."""
    folder = tempfile.mkdtemp(prefix="gatewidgets-dir-")
    if len(files) == 1 and files[0].name.lower().endswith(".zip"):
        with files[0].open("rb") as fh, zipfile.ZipFile(fh) as archive:
            _check_unpacked_size(files[0].name, archive)
            archive.extractall(folder)  # names with '..' or a leading '/' are made safe by zipfile
        return folder
    for f in files:
        with f.open("rb") as src, open(os.path.join(folder, f.name), "xb") as dst:
            shutil.copyfileobj(src, dst)
    return folder


#: the most members a zip answering a directory gate may hold
MAX_ZIP_MEMBERS = 10_000


def _check_unpacked_size(name: str, archive: zipfile.ZipFile) -> None:
    """Refuse a zip that would unpack past ``max_upload_bytes`` or into more than :data:`MAX_ZIP_MEMBERS` files
    (a zip bomb): zipfile writes at most the sizes its headers state, so they bound what is written."""
    members = archive.infolist()
    unpacked = sum(m.file_size for m in members)
    if len(members) > MAX_ZIP_MEMBERS or unpacked > settings.max_upload_bytes:
        raise SignalTypeError(
            f"The zip {name!r} answering a directory gate unpacks to {len(members):,} files and {unpacked:,} bytes; "
            f"at most {MAX_ZIP_MEMBERS:,} files and max_upload_bytes ({settings.max_upload_bytes:,} bytes) "
            "are unpacked.")


def to_flytekit(value: Any, hint: Any) -> Any:
    """A value as a flytekit task receives it: a gate's file as the ``FlyteFile`` it declares (its path is
    the stored copy), a table as flytekit's ``StructuredDataset`` (through flytekit's type engine), a
    ``datetime`` in UTC, as flytekit's literals carry it."""
    from flytekit.types.directory import FlyteDirectory
    from flytekit.types.file import FlyteFile
    from flytekit.types.structured import StructuredDataset as FlyteDataset

    cls = bare(hint)
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
        return [to_flytekit(v, typing.get_args(hint)[0]) for v in value]
    return value


def bare(hint: Any) -> Any:
    """``T`` of ``Annotated[T, ...]`` (a dataset's columns or format), else ``hint``."""
    return typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint


def converts(hint: Any) -> bool:
    """Whether values of ``hint`` go through :func:`to_flytekit` (files, tables, datetimes, lists of them)."""
    from flytekit.types.directory import FlyteDirectory
    from flytekit.types.file import FlyteFile
    from flytekit.types.structured import StructuredDataset as FlyteDataset

    if typing.get_origin(hint) is list:
        return converts(typing.get_args(hint)[0])
    hint = bare(hint)
    return isinstance(hint, type) and issubclass(hint, (FlyteFile, FlyteDirectory, FlyteDataset, datetime))


def literal_value(literal: Any, hint: Any) -> Any:
    from flytekit.core.context_manager import FlyteContextManager
    from flytekit.core.type_engine import TypeEngine

    return TypeEngine.to_python_value(FlyteContextManager.current_context(), literal, hint)


def type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
