"""What an execution will reach, awaited without blocking the kernel (:class:`Awaiting`), and the
warning a blocking wait gives in a notebook cell."""
from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
import warnings
from typing import TYPE_CHECKING, Any, Callable, Generator, Generic, TypeVar

from gatewidgets.models.signal import SignalState

if TYPE_CHECKING:
    from gatewidgets.engine.state import ExecutionEvent, ExecutionState

__all__ = ["Awaiting", "BlockingWaitWarning", "NOT_YET", "warn_blocking"]

NOT_YET = object()  # what a check returns while the awaited thing has not happened yet


class BlockingWaitWarning(UserWarning):
    """``ex.wait()`` in a notebook cell blocks the kernel: widget clicks wait until it returns."""


def in_kernel_main_thread() -> bool:
    if threading.current_thread() is not threading.main_thread() or "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def warn_blocking(call: str, name: str, instead: str) -> None:
    if in_kernel_main_thread():
        warnings.warn(
            f"{call} blocks the kernel: clicks on gate widgets are not handled until it returns, so "
            f"execution {name!r} may never get its answer. Use `{instead}` in notebook cells.",
            BlockingWaitWarning, stacklevel=3)


T = TypeVar("T")


class Awaiting(Generic[T]):
    """Something an execution will reach: ``await it`` in a notebook cell, ``it.wait()`` in a script.

    Made by :meth:`Execution.reached`, :meth:`Execution.node` and :meth:`Execution.finished`.
    It listens to the execution's events (no polling) from the moment it is made. Running out
    of ``timeout`` raises ``TimeoutError`` and leaves the execution running.
    """

    def __init__(self, execution: ExecutionState, what: str, check: Callable[[ExecutionEvent | None], Any],
                 timeout: float | None) -> None:
        self.execution = execution
        self.what = what
        self.timeout = timeout
        self._check = check
        self._future: concurrent.futures.Future[T] = concurrent.futures.Future()
        unsubscribe = execution.subscribe(self._on_event)
        self._future.add_done_callback(lambda _: unsubscribe())
        execution.when_done(lambda: self._on_event(None))  # its end is published before it is done
        self._on_event(None)

    def _on_event(self, event: ExecutionEvent | None) -> None:
        if self._future.done():
            return
        try:
            value = self._check(event)
        except BaseException as exc:
            if not self._future.done():
                self._future.set_exception(exc)
            return
        if value is not NOT_YET and not self._future.done():
            self._future.set_result(value)

    def done(self) -> bool:
        return self._future.done()

    def wait(self, timeout: float | None = None) -> T:
        """Block until reached (``timeout`` defaults to the one given when made); in a notebook ``await`` instead."""
        timeout = self.timeout if timeout is None else timeout
        if not self._future.done():
            warn_blocking(f"Waiting until {self.what}", self.execution.name, "await")
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            if self._future.done():
                raise
            raise self._timed_out(timeout) from None

    def __await__(self) -> Generator[Any, None, T]:
        return self._await().__await__()

    async def _await(self) -> T:
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._future)), self.timeout)
        except TimeoutError:
            if self._future.done():
                raise
            raise self._timed_out(self.timeout) from None

    def _timed_out(self, timeout: float | None) -> TimeoutError:
        pending = [s.signal_id for s in self.execution.signals() if s.state is SignalState.PENDING]
        return TimeoutError(f"Execution {self.execution.name!r}: not {self.what} within {timeout} s; it is "
                            f"{self.execution.status.value} (pending signals: {pending}).")

    def __repr__(self) -> str:
        return f"<Awaiting {self.what}: execution {self.execution.name}>"
