"""The store contract: what ``GateRemote`` and the executor need from a backend.

- :class:`RemoteStore` is what :class:`gatewidgets.remote.GateRemote` calls (signals,
  executions, history, stats, subscribe); every backend implements it: ``SqliteStore``,
  ``FlyteStore`` (a Flyte admin), ``Flyte2Store`` (Flyte 2 conditions on a cluster),
  ``JupyterStore`` (a Jupyter server's HTTP API).
- :class:`ExecutorStore` adds what :class:`gatewidgets.engine.Executor` needs to run
  executions (create, adopt, node writes, reach/time out/cancel signals); only
  ``SqliteStore`` implements it.
- :class:`StoreCapabilities` says what a backend can do; a caller checks it, and a call a
  backend cannot serve raises :class:`UnsupportedError` naming the backend and the capability.
- Filters mean one thing everywhere: :meth:`gatewidgets.models.filters.Filter.matches`
  (SQL pushes filters down with the same semantics).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence, TypedDict, runtime_checkable

from gatewidgets.errors import GateError
from gatewidgets.models.common import Sort
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus, WorkflowExecutionIdentifier
from gatewidgets.models.filters import Filter, sort_signals
from gatewidgets.models.policy import Ballot, Identity
from gatewidgets.models.signal import Signal, SignalEvent, Via
from gatewidgets.types import GateType

__all__ = ["now", "ExecKey", "StoreEvent", "NodeRow", "SignalRow", "NewExecution", "Listener", "StoreCapabilities",
           "UnsupportedError", "RemoteStore", "ExecutorStore", "Listeners", "require", "poll_until", "page_signals",
           "FILE_GRACE", "Leftover", "TIMELINE_EVENTS", "timeline_event"]

log = logging.getLogger(__name__)

ExecKey = WorkflowExecutionIdentifier


def now() -> datetime:
    """The current time, UTC: the one clock of gatewidgets."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class StoreEvent:
    """A change another part of the system may react to: a signal event or an execution event."""

    id: int
    # created, reached, reminded, escalated, approved, refused, set, timed_out, cancelled, launched, finished,
    # abort_requested, lost (local)
    kind: str
    execution_id: WorkflowExecutionIdentifier
    signal_id: str | None = None
    state: str | None = None
    local: bool = True
    # the signal as this change left it (a set, a time-out made in this process): who reacts need not read it again
    signal: Signal | None = field(default=None, compare=False, repr=False)


class NodeRow(TypedDict):
    """A node as the engine hands it to :meth:`ExecutorStore.create_execution` / ``add_nodes``."""

    node_id: str
    kind: str
    name: str
    upstream: Sequence[str]  # the ids of the nodes it waits for
    signal_id: str | None  # a gate's signal


class SignalRow(TypedDict):
    """A signal as the engine hands it to :meth:`ExecutorStore.create_execution` / ``add_nodes``."""

    signal_id: str
    kind: str
    node_id: str
    description: str | None
    type: dict[str, Any]  # GateType.to_record()
    context: dict[str, Any] | None  # what faces need before its gate is reached


@dataclass(frozen=True, slots=True)
class NewExecution:
    """An execution to create, as the engine hands it to :meth:`ExecutorStore.create_executions`: its key, workflow
    name, stored inputs (JSON), node and signal rows, and what :meth:`ExecutorStore.create_execution` takes beside
    them."""

    key: WorkflowExecutionIdentifier
    workflow: str
    inputs: Any
    nodes: Sequence[NodeRow]
    signals: Sequence[SignalRow]
    pid: int | None = None  # its owner (default: this process)
    workflow_path: str | None = None  # ``module:qualname``: recovery by name finds the workflow
    reached: Mapping[str, datetime | None] | None = None  # the gates it reaches at once: signal id -> deadline
    launched_by: Identity | None = None


Listener = Callable[[list[StoreEvent]], None]

#: The events a waiting gate's timeline adds to its history (:meth:`ExecutorStore.record_event`): its notification
#: was sent again (``remind_every``), its policy added assignees (``escalate_after``).
TIMELINE_EVENTS = ("reminded", "escalated")


def timeline_event(kind: str) -> str:
    """``kind`` if it is one of :data:`TIMELINE_EVENTS`, else ``ValueError`` (no other event is written this way)."""
    if kind not in TIMELINE_EVENTS:
        raise ValueError(f"A gate's timeline records {list(TIMELINE_EVENTS)}, not {kind!r}.")
    return kind


@dataclass(frozen=True)
class StoreCapabilities:
    """What a store backend can do beyond listing, reading and setting signals."""

    upcoming: bool = True  # signals exist (UPCOMING) before their gate is reached; TIMED_OUT/CANCELLED reported
    history: bool = True  # the events of signals (who set what, when) are kept
    stats: bool = True  # raw figures for metrics
    push: bool = True  # subscribers hear of changes at once, not by polling
    compare_and_set: bool = True  # first answer wins atomically (no window between read and write)
    files: bool = True  # files are copied into the store's ``files_dir``
    run: bool = False  # executions run against it (implements ExecutorStore)
    policies: bool = True  # who may answer (assignees, quorum, self-approval) is judged when a signal is set

    def describe(self) -> str:
        """``"upcoming, history, ..."``: the capabilities that are true."""
        return ", ".join(f.name for f in fields(self) if getattr(self, f.name)) or "(none)"


class UnsupportedError(GateError, NotImplementedError):
    """A store backend cannot do what was asked (see its ``capabilities``)."""

    def __init__(self, store: object, capability: str, why: str = "") -> None:
        self.store, self.capability = store, capability
        super().__init__(f"{store!r} cannot provide {capability!r}{': ' + why if why else ''} "
                         f"(it can: {store_capabilities(store).describe()}).")


def store_capabilities(store: object) -> StoreCapabilities:
    """A store's declared capabilities."""
    caps = getattr(store, "capabilities", None)
    return caps if isinstance(caps, StoreCapabilities) else StoreCapabilities()


def require(store: object, capability: str, why: str = "") -> None:
    """Raise :class:`UnsupportedError` unless ``store`` declares ``capability``."""
    if not getattr(store_capabilities(store), capability):
        raise UnsupportedError(store, capability, why)


@runtime_checkable
class RemoteStore(Protocol):
    """What ``GateRemote`` needs from a store."""

    capabilities: StoreCapabilities
    path: str
    files_dir: str

    def list_signals(self, key: ExecKey | None = None, *, project: str | None = None, domain: str | None = None,
                     filters: Iterable[Filter] = (), sort_by: Sort | None = None, limit: int | None = 100,
                     offset: int = 0) -> list[Signal]:
        """Signals of one execution (declaration order), or across executions of project/domain; filters, then limit."""

    def count_signals(self, key: ExecKey | None = None, *, project: str | None = None, domain: str | None = None,
                      filters: Iterable[Filter] = ()) -> int:
        """How many signals ``list_signals`` would return without a limit."""

    def get_signal(self, key: ExecKey, signal_id: str) -> Signal:
        """One signal; ``ExecutionNotFoundError`` / ``SignalNotFoundError`` (listing the ids that exist)."""

    def set_signal(self, key: ExecKey, signal_id: str, value: Any, identity: str, *, set_by: str,
                   via: Via | str, describe: Callable[[Any], str] = repr,
                   detail: dict[str, Any] | None = None, read: Signal | None = None,
                   ballot: Ballot | None = None) -> tuple[Signal, bool]:
        """Set an open signal to ``value`` (JSON form); same identity again is a no-op (``False``),
        another value ``SignalAlreadySetError``, a closed signal ``SignalClosedError``. ``detail``
        (a decision's ``comment``, an editable approval's ``original`` and ``approved_value``) is kept
        in the history; a backend that cannot keep it refuses a non-empty one. ``read``: the signal as the
        caller read it to validate the value (its type, its state then); a backend that would read it again only
        to learn those uses it instead (a backend without ``compare_and_set`` still reads it fresh). ``ballot``: who
        decides, how that was established and what they saw; a backend with capability ``policies`` judges the
        signal's policy by it in the same transaction (``GateForbiddenError``; a partial approval keeps the signal
        open), one without records no identity beyond ``set_by``."""

    def gate_type(self, key: ExecKey, signal_id: str, record: Mapping[str, Any]) -> GateType:
        """The ``GateType`` that validates values of a signal, from its stored type record."""

    def live_type(self, key: ExecKey, signal_id: str) -> tuple[str, GateType] | None:
        """The kind and live type of a signal whose execution runs in this process (known without a read: a
        signal's type never changes once stored); None when it is not known here."""

    def list_executions(self, project: str | None = None, domain: str | None = None, status: str | None = None,
                        limit: int | None = None) -> list[ExecutionRecord]:
        """Executions, newest first."""

    def get_execution(self, key: ExecKey, *, with_nodes: bool = True) -> ExecutionRecord:
        """One execution; ``ExecutionNotFoundError``."""

    def owner_alive(self, record: ExecutionRecord) -> bool | None:
        """Whether the process running an execution lives (``None``: unknown)."""

    def request_abort(self, key: ExecKey) -> bool:
        """Ask whoever runs the execution to abort it."""

    def finish_execution(self, key: ExecKey, status: ExecutionStatus, *, outputs: Any = None,
                         error: str | None = None) -> list[str]:
        """Mark an execution ended (an orphan's abort); returns the signal ids it cancelled."""

    def history(self, key: ExecKey, signal_id: str | None = None) -> list[SignalEvent]:
        """Every event of an execution (or one signal), oldest first (capability ``history``)."""

    def stats(self, project: str | None = None, domain: str | None = None) -> dict[str, Any]:
        """Raw figures for metrics (capability ``stats``)."""

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(events)`` on changes, here or elsewhere; returns the unsubscribe function."""

    def close(self) -> None:
        """Stop background threads."""


FILE_GRACE = 3600.0  # seconds a file in files/ must be unchanged before a cleanup may remove it


@dataclass(frozen=True)
class Leftover:
    """A file :meth:`ExecutorStore.clean_files` removed (or, with ``dry_run``, would remove)."""

    path: str
    size: int  # bytes
    reason: str  # "unfinished": a temp file of an interrupted copy; "unreferenced": a copy no value names


@runtime_checkable
class ExecutorStore(RemoteStore, Protocol):
    """What the executor needs on top of :class:`RemoteStore` (capability ``run``)."""

    files_dir: str  # where the files of signal values are kept

    def clean_files(self, older_than: float = FILE_GRACE, *, dry_run: bool = False) -> list[Leftover]:
        """Remove (or list, with ``dry_run``) what interrupted copies left in ``files_dir``."""

    def create_execution(self, key: ExecKey, workflow: str, inputs: Any, nodes: Sequence[NodeRow],
                         signals: Sequence[SignalRow], *, pid: int | None = None,
                         workflow_path: str | None = None,
                         reached: Mapping[str, datetime | None] | None = None,
                         launched_by: Identity | None = None) -> None:
        """Insert a running execution with its nodes (``QUEUED``) and signals (``UPCOMING``; the gates it reaches
        at once, ``reached``: signal id -> deadline, ``PENDING`` as after :meth:`reach_signal`, their ``reached``
        events after ``created``); ``workflow_path`` (``module:qualname``) lets recovery by name find the workflow;
        ``launched_by``: who launched it (judged by ``self_approval=False`` policies)."""

    def create_executions(self, rows: Sequence[NewExecution]) -> None:
        """Create every execution of ``rows`` as :meth:`create_execution` would, in one transaction: all or none. A
        name that exists refuses them all (``ExecutionExistsError`` naming it; nothing written, no event)."""

    def add_nodes(self, key: ExecKey, nodes: Sequence[NodeRow], signals: Sequence[SignalRow]) -> None:
        """Add the nodes and signals a ``@dynamic`` node built at run time."""

    host: str  # this process's host name, recorded as an execution's owner

    def owns(self, record: ExecutionRecord) -> bool:
        """Whether ``record``'s owner is this process (not merely one with its pid and host name: a container's
        pid 1 under a shared hostname, say)."""

    def adopt_execution(self, key: ExecKey) -> ExecutionRecord:
        """Take over an orphaned execution in this process (recovery): one compare-and-set on the owner."""

    def durable(self) -> None:
        """Return once every node completion recorded so far survives a kill of this process."""

    def lost(self, key: ExecKey) -> str | None:
        """Why this process no longer owns execution ``key``, which it ran (another process took it over, or ended
        it, once this one's lease expired): the engine stops its copy; ``None`` while it owns it. Known by the
        time :meth:`durable` returns; a store that finds it otherwise tells its subscribers (a local ``lost``
        event)."""

    def end_execution(self, key: ExecKey, status: ExecutionStatus, *, outputs: Any = None,
                      error: str | None = None) -> bool:
        """Record the end of an execution run here (``finish_execution``); if the store cannot take it now, keep
        it, write it as soon as the store can, and return ``False``."""

    def update_node(self, key: ExecKey, node_id: str, **fields: Any) -> None:
        """Record a node's state and fields (may be written behind)."""

    def flush(self) -> None:
        """Write every pending node update now."""

    def register_type(self, key: ExecKey, signal_id: str, gate_type: GateType, kind: str) -> None:
        """Keep the kind and live Python type of a signal (so its value comes back as that type, and a set
        validates without reading the signal: :meth:`RemoteStore.live_type`)."""

    def forget_types(self, key: ExecKey) -> None:
        """Drop an ended execution's live types."""

    def reach_signal(self, key: ExecKey, signal_id: str, deadline: datetime | None,
                     context: dict[str, Any] | None = None) -> Signal:
        """A gate reached its signal: ``UPCOMING`` becomes ``PENDING``; ``context`` (an approval's
        evidence and original value) joins an open signal's context."""

    def timeout_signal(self, key: ExecKey, signal_id: str, value: Any = None, *, has_value: bool) -> Signal:
        """A gate's deadline passed: ``PENDING`` becomes ``TIMED_OUT``."""

    def cancel_signals(self, key: ExecKey, signal_ids: Sequence[str]) -> list[str]:
        """Close open signals of an ending execution (``CANCELLED``); returns the ids closed."""

    def record_attempt(self, key: ExecKey, node_id: str, attempt: int, error: str) -> None:
        """Note in the history (a ``retry`` event) that attempt ``attempt`` of a task node failed with ``error``."""

    def record_event(self, key: ExecKey, signal_id: str, kind: str, detail: Mapping[str, Any]) -> bool:
        """Add a step of a waiting gate's timeline to its history: ``kind`` is one of :data:`TIMELINE_EVENTS`
        (``ValueError`` otherwise), ``detail`` its JSON detail. Only while the signal is ``PENDING``, in one
        transaction with that check: False (nothing written) once it was decided, timed out or cancelled."""

    def cached_output(self, task: str, version: str, inputs_hash: str) -> tuple[bool, Any]:
        """``(True, outputs)`` if a task of that name and cache version ran on those inputs, else ``(False, None)``."""

    def cache_output(self, task: str, version: str, inputs_hash: str, outputs: Any) -> None:
        """Keep a cacheable task's JSON ``outputs`` for these inputs (the first kept wins)."""

    def hold_file(self, sha256: str, seconds: float) -> None:
        """Keep the stored file with content ``sha256`` from :meth:`clean_files` for the next ``seconds``."""


def page_signals(rows: list[Signal], sort_by: Sort | None, limit: int | None, offset: int) -> list[Signal]:
    """What ``list_signals`` returns of the signals a store filtered client-side: ``rows`` sorted by
    ``sort_by`` (else as given), from ``offset``, at most ``limit``."""
    if sort_by is not None:
        rows = sort_signals(rows, sort_by)
    return rows[offset:] if limit is None else rows[offset:offset + limit]


def poll_until(closed: threading.Event, interval: float, poll: Callable[[], object], what: str) -> None:
    """Call ``poll()`` every ``interval`` seconds until ``closed`` is set (a store that cannot push);
    a failed round is logged and the next one tried."""
    while not closed.wait(interval):
        try:
            poll()
        except Exception:  # unreachable for a moment: try again next round
            log.warning("gatewidgets could not poll %s", what, exc_info=True)


class Listeners:
    """The subscribers of a store: ``subscribe`` / ``dispatch``, and a background thread
    (a watcher or a poller) started with the first subscriber."""

    def __init__(self, owner: object, start: Callable[[], None]) -> None:
        self._owner = owner
        self._start = start
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def __len__(self) -> int:
        """How many listeners are subscribed."""
        with self._lock:
            return len(self._listeners)

    def subscribe(self, listener: Listener, name: str) -> Callable[[], None]:
        """Add ``listener``; the first one starts the background thread ``name``."""
        with self._lock:
            self._listeners.append(listener)
            if self.thread is None:
                self.thread = threading.Thread(target=self._start, name=name, daemon=True)
                self.thread.start()

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def dispatch(self, events: list[StoreEvent]) -> None:
        """Call every listener with ``events``; a broken listener is logged, not raised."""
        if not events:
            return
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(events)
            except Exception:  # a broken listener must not break the writer
                log.exception("gatewidgets listener %r of %r failed", listener, self._owner)

    def join(self, timeout: float = 5) -> None:
        """Wait for the background thread (after the owner signalled it to stop)."""
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=timeout)
