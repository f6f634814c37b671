"""The Flyte 2 front door: a ``flyte`` task run by Flyte 2's own local execution, its conditions live cards.

``gatewidgets.launch(task, **inputs)`` makes a one-node gatewidgets execution whose task
runs ``flyte.with_runcontext(mode="local").run(task, **inputs)`` on a worker thread (never
the kernel's). Each condition a task of that run (the task or any task it calls) creates
becomes a gate of the execution, opened at run time with :meth:`Execution.add_gate` — the
mechanism ``@dynamic`` gates share — so cards, ``%gate``, the CLI, HTTP and ``GateRemote``
answer it under every signal rule. Its signal is ``UPCOMING`` from ``new_condition`` (it
may be answered early), ``PENDING`` from ``wait()`` (an early answer is then given at once);
one never waited on is ``CANCELLED`` when the run ends.

- id: the condition's name (characters outside ``[A-Za-z0-9_.-]`` become ``-``); the
  second condition created under the same name in one run is ``name-2``, then ``name-3``
  (``wait()`` twice on one condition asks twice, as Flyte's local prompt does).
- kind ``approve`` for ``bool`` (Reject gives the task ``False``), ``input`` for
  ``int``/``float``/``str``; the description is the prompt (Markdown only for
  ``prompt_type="markdown"``; a text prompt is stored as written and escaped where shown) and the
  condition's description; the deadline is its timeout counted from the wait (as Flyte's local
  controller counts it), after which the signal is ``TIMED_OUT`` and the task gets ``ConditionTimedoutError``.
- webhooks fire as Flyte fires them (its controller posts when the condition is created,
  after the signal exists).

The seams are Flyte 2.12's: ``LocalController.register_condition`` and
``wait_for_condition`` (the controller protocol's condition methods), wrapped once per
process to open the gate at creation and to name the condition waited on; and the local UI
hook: the run's recorder asks a tracker (``with_runcontext(_tracker=...)``, which the
``flyte`` CLI's TUI uses) for a pending object in ``record_condition_waiting`` and the
controller waits on its ``wait_for_result``. These are not public API, hence the
``flyte>=2.12,<2.13`` pin of ``gatewidgets[flyte2]``. Flyte's controller waits in its event
loop's default thread pool, so each waiting condition holds one thread of that pool.
"""
from __future__ import annotations

import concurrent.futures
import contextvars
import functools
import inspect
import re
import secrets
import threading
import typing
from datetime import timedelta
from typing import Any

from gatewidgets import dsl
from gatewidgets.dsl import Node, SignalSpec, Workflow
from gatewidgets.engine import Execution
from gatewidgets.engine import launch as launch_execution
from gatewidgets.errors import GateError
from gatewidgets.models.flyte2 import describe, description_format, kind_of, signal_id_for
from gatewidgets.models.signal import Signal, SignalState
from gatewidgets.types import GateType

__all__ = ["accepts", "launch"]

_RUN_NODE = "n0"


def accepts(obj: Any) -> bool:
    """A Flyte 2 task (``@env.task`` of a ``flyte.TaskEnvironment``), without importing ``flyte``."""
    return type(obj).__module__.split(".")[0] == "flyte" and hasattr(obj, "native_interface")


def launch(obj: Any, inputs: dict[str, Any], *, execution_name: str | None, project: str | None,
           domain: str | None, recover: bool) -> Execution:
    """Run the Flyte 2 task ``obj`` in the background of this process; return its ``Execution`` at once.

    ``recover=True`` runs the task again from the start (Flyte's local mode keeps no
    checkpoint); its conditions get the same ids in the same order, so answers given
    meanwhile are consumed and nobody is asked twice.
    """
    _check_flyte()
    started: concurrent.futures.Future[Execution] = concurrent.futures.Future()
    try:
        execution = launch_execution(_workflow(obj, started), inputs, execution_name=execution_name,
                                     project=project, domain=domain, recover=recover)
    except BaseException as exc:
        started.set_exception(exc)
        raise
    execution.opens_gates_at_run_time = True  # its conditions become gates as it runs: ex.reached waits
    started.set_result(execution)
    return execution


def _check_flyte() -> None:
    try:
        import flyte
    except ImportError:
        raise GateError("Running a Flyte 2 task needs the flyte SDK: pip install 'gatewidgets[flyte2]'.") from None
    version = tuple(int(p) for p in re.findall(r"\d+", flyte.__version__)[:2])
    if version != (2, 12):
        raise GateError(f"gatewidgets supports flyte 2.12 (its local condition hook is not public API); "
                        f"found flyte {flyte.__version__}. pip install 'gatewidgets[flyte2]'.")


# ------------------------------------------------------------------------------ the run


def _workflow(task: Any, started: concurrent.futures.Future[Execution]) -> Workflow:
    """A one-node gatewidgets workflow whose task runs ``task`` with Flyte 2's local execution.

    ``started`` gets the execution once ``launch`` made it (its task may start before).
    """
    func = task.func
    signature = inspect.signature(func)
    hints = {name: hint for name, (hint, _default) in task.native_interface.inputs.items()}
    returns = typing.get_type_hints(func).get("return", type(None))
    outputs = len(task.native_interface.outputs)

    def run(**kwargs: Any) -> Any:
        result = _run(task, kwargs, started.result())
        return None if outputs == 0 else result[0] if outputs == 1 else tuple(result)

    run.__signature__ = signature  # type: ignore[attr-defined]
    run.__annotations__ = {**hints, "return": returns}
    run.__name__ = run.__qualname__ = task.name
    step = dsl.Task(run, name=task.name)

    def body(**kwargs: Any) -> Any:
        return step(**kwargs)

    body.__signature__ = signature  # type: ignore[attr-defined]
    body.__annotations__ = run.__annotations__
    return Workflow(body, name=task.name)


def _run(task: Any, inputs: dict[str, Any], execution: Execution) -> tuple[Any, ...]:
    """Run ``task`` with Flyte's local controller, its conditions answered as gates of ``execution``."""
    import flyte

    _install_hooks()
    run_name = f"{execution.name}-{secrets.token_hex(3)}".lower()
    _tracker.runs[run_name] = _RunState(execution)
    try:
        run = flyte.with_runcontext(mode="local", name=run_name, _tracker=_tracker).run(task, **inputs)
        return tuple(run.outputs())
    finally:
        del _tracker.runs[run_name]
        execution.close_gates(_RUN_NODE)  # conditions never waited on (or given up) are CANCELLED


class _Pending:
    """What Flyte's controller waits on (the TUI's ``PendingCondition`` protocol), resolved by a gate."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: Any = None
        self.timed_out = False

    def deliver(self, signal: Signal) -> None:
        if signal.state is SignalState.SET:
            self._value = signal.value
        self.timed_out = signal.state is SignalState.TIMED_OUT
        self._done.set()  # CANCELLED: None, which Flyte turns into an error in the task

    def cancel(self) -> None:
        self._done.set()

    def wait_for_result(self, timeout: float | None = None) -> Any:
        # the gate's own deadline (same timeout) ends the wait, so the signal says TIMED_OUT first
        self._done.wait()
        return self._value


class _Created(typing.NamedTuple):
    """The gate of a condition created and not waited on yet (the condition is kept: its ``id`` stays its own)."""

    condition: Any
    node: Node
    pending: _Pending


class _RunState:
    """The gatewidgets execution of one Flyte run and the gates of its conditions.

    The lock gives conditions their ids one at a time, in the order they are created.
    """

    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self.lock = threading.Lock()
        self.created: dict[int, _Created] = {}  # by id(condition): Flyte's conditions are not hashable

    def created_condition(self, condition: Any) -> None:
        """``flyte.new_condition``: its signal joins the execution, ``UPCOMING`` until the task waits on it."""
        self._open(condition, reach=False)

    def waiting(self, condition: Any) -> _Pending:
        """``condition.wait()``: reach the gate made when it was created (an early answer resolves it at
        once), or open and reach a new one (a second wait on the same condition asks again)."""
        with self.lock:
            created = self.created.pop(id(condition), None)
        if created is None:
            return self._open(condition, reach=True)
        try:
            self.execution.reach_gate(created.node)
        except GateError:  # the execution ended meanwhile: the task gets Flyte's cancellation error
            created.pending.cancel()
        return created.pending

    def _open(self, condition: Any, *, reach: bool) -> _Pending:
        execution = self.execution
        pending = _Pending()
        with self.lock:
            spec = SignalSpec(signal_id_for(condition.name, execution.signal_specs), kind_of(condition.data_type),
                              GateType.of(condition.data_type),
                              describe(condition.prompt, condition.prompt_type, condition.description),
                              _timeout(condition.timeout),
                              description_format=description_format(condition.prompt_type))
            try:
                node = execution.add_gate(_RUN_NODE, spec, pending.deliver, reach=reach)
            except GateError:  # the execution ended meanwhile: the task gets Flyte's cancellation error
                pending.cancel()
                return pending
            if not reach:
                self.created[id(condition)] = _Created(condition, node, pending)
        return pending


class _Tracker:
    """The tracker of every gatewidgets Flyte run: hands Flyte's controller the gate of each condition waited on.

    Flyte's controller is process-wide, so one tracker serves all runs and finds the run of
    a condition from the task context's run name. A condition of a run it does not know
    (``None``) falls back to Flyte's own prompt.
    """

    def __init__(self) -> None:
        self.runs: dict[str, _RunState] = {}

    def current(self) -> _RunState | None:
        """The gatewidgets run of the Flyte task running in this context, if any."""
        from flyte._context import internal_ctx

        tctx = internal_ctx().data.task_context
        run_name = tctx.action.run_name if tctx is not None else None
        return self.runs.get(run_name) if run_name is not None else None

    def record_condition_waiting(self, **_: Any) -> _Pending | None:
        """What Flyte's controller waits on for the condition waited on (named by the
        ``wait_for_condition`` wrapper: the hook's arguments give only its name)."""
        state = self.current()
        condition = _waiting.get()
        if state is None or condition is None:
            return None
        return state.waiting(condition)

    # the rest of the tracker protocol: Flyte's actions are not mirrored as nodes
    def get_action(self, action_id: str) -> None:
        return None

    def record_start(self, **_: Any) -> None:
        pass

    def record_complete(self, **_: Any) -> None:
        pass

    def record_failure(self, **_: Any) -> None:
        pass


def _timeout(timeout: timedelta | float | None) -> timedelta | None:
    """A condition's ``timeout`` (a ``timedelta`` or seconds) as the gate's."""
    return timeout if timeout is None or isinstance(timeout, timedelta) else timedelta(seconds=timeout)


_tracker = _Tracker()
_waiting: contextvars.ContextVar[Any] = contextvars.ContextVar("gatewidgets_flyte2_waiting", default=None)
_hooks_lock = threading.Lock()


def _install_hooks() -> None:
    """Wrap ``LocalController.register_condition`` and ``wait_for_condition`` (once per process).

    The first makes a condition a signal when it is created (Flyte's recorder hears of it
    only at the wait); the second tells the tracker *which* condition waits (its hook gets
    only the name). Both call Flyte's own method unchanged; outside a gatewidgets run they
    do nothing else.
    """
    from flyte._internal.controllers._local_controller import LocalController

    with _hooks_lock:
        if hasattr(LocalController.register_condition, "__gatewidgets__"):
            return
        register, wait = LocalController.register_condition, LocalController.wait_for_condition

        @functools.wraps(register)
        async def register_condition(self: Any, condition: Any) -> Any:
            state = _tracker.current()
            if state is not None:  # before Flyte fires the webhook: its receiver may answer at once
                state.created_condition(condition)
            return await register(self, condition)

        @functools.wraps(wait)
        async def wait_for_condition(self: Any, condition: Any) -> Any:
            token = _waiting.set(condition)
            try:
                return await wait(self, condition)
            finally:
                _waiting.reset(token)

        register_condition.__gatewidgets__ = wait_for_condition.__gatewidgets__ = True  # type: ignore[attr-defined]
        LocalController.register_condition = register_condition  # type: ignore[method-assign]
        LocalController.wait_for_condition = wait_for_condition  # type: ignore[method-assign]
