"""``Flyte2Store``: the conditions of Flyte 2 runs on a cluster as gatewidgets signals, through the ``flyte`` SDK.

A run is an execution (its name is the execution name); each condition action of the run
is a signal. Conditions are listed with ``flyte.remote.Condition.listall`` (the run
service's ``ListActions``, filtered server-side to condition actions, every page), read
with ``ActionDetails.get_details`` (``GetActionDetails``: prompt, type, timeout, value,
who signalled) and answered with ``Condition.signal`` (``SignalEvent``), all on the
client that ``flyte.init`` made (connect-rpc over HTTP). Ids, kinds and card text follow
:mod:`gatewidgets.models.flyte2`, as for local runs; ``node_id`` is the condition action's
name (what ``flyte signal condition RUN ACTION`` takes).

What Flyte 2 keeps, and so what this store can show: the phase of a condition action
(running or paused: ``PENDING``; succeeded: ``SET``; timed out: ``TIMED_OUT``; failed or
aborted: ``CANCELLED``; there is no ``UPCOMING``, a condition exists once created), its
start time (``created_at``/``waiting_since``), deadline (start + timeout), end time
(``set_at``), value, and who signalled it (``set_by``; Flyte records no face, so ``via``
is known only for answers given through this store object). It keeps no history of signal
events, so ``history()`` and ``stats()`` raise ``UnsupportedError`` (see ``capabilities``).
Flyte 2 would accept a second signal; this store refuses a different value after a fresh
read (``SignalAlreadySetError``), though another client could slip in between. Flyte cannot
push, so :meth:`subscribe` polls every ``flyte_poll_interval`` seconds.

Needs the optional extra ``gatewidgets[flyte2]``; imported only when a Flyte 2 remote is built.
"""
from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import flyte
import flyte.remote
from flyte.remote._condition import resolve_condition_expected_type
from flyteidl2.common import phase_pb2
from flyteidl2.workflow import run_definition_pb2

from gatewidgets.errors import (
    ExecutionNotFoundError,
    SignalAlreadySetError,
    SignalClosedError,
    SignalNotFoundError,
    SignalTypeError,
)
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus
from gatewidgets.models.filters import Filter, check_fields
from gatewidgets.models.flyte2 import describe, description_format, kind_of, signal_id_for
from gatewidgets.models.policy import Ballot
from gatewidgets.models.signal import Signal, SignalEvent, SignalIdentifier, SignalState, Via
from gatewidgets.store.base import (
    ExecKey,
    StoreCapabilities,
    StoreEvent,
    UnsupportedError,
    now,
)
from gatewidgets.store.polling import PollingStore
from gatewidgets.types import GateType

__all__ = ["Flyte2Store"]

_P = phase_pb2.ActionPhase
_SIGNAL_STATE = {_P.ACTION_PHASE_SUCCEEDED: SignalState.SET, _P.ACTION_PHASE_TIMED_OUT: SignalState.TIMED_OUT,
                 _P.ACTION_PHASE_FAILED: SignalState.CANCELLED, _P.ACTION_PHASE_ABORTED: SignalState.CANCELLED}
_RUN_STATUS = {_P.ACTION_PHASE_SUCCEEDED: ExecutionStatus.SUCCEEDED, _P.ACTION_PHASE_FAILED: ExecutionStatus.FAILED,
               _P.ACTION_PHASE_TIMED_OUT: ExecutionStatus.FAILED, _P.ACTION_PHASE_ABORTED: ExecutionStatus.ABORTED}
_RUNNING_PHASES = ("queued", "waiting_for_resources", "initializing", "running", "paused")
_PRIMITIVE = {"boolean": bool, "integer": int, "float_value": float, "string_value": str}


def _time(ts: Any) -> datetime | None:
    return ts.ToDatetime(timezone.utc) if ts.seconds or ts.nanos else None


def _who(identity: Any) -> str | None:
    """A readable name for an ``EnrichedIdentity``: the user's handle, email or subject, or the app's id."""
    user, app = identity.user, identity.application
    return (user.spec.user_handle or user.spec.email or user.id.subject or app.id.subject or None)


@dataclasses.dataclass
class _Sent:
    """An answer given through this store, shown until Flyte reports it."""

    value: Any  # JSON form
    set_by: str
    via: Via
    at: datetime


class Flyte2Store(PollingStore):
    """Conditions of the runs of one Flyte 2 project and domain, on the client ``flyte.init`` set up.

    ``flyte_poll_interval``: seconds between polls for :meth:`subscribe`; ``page_size``: actions
    asked for per ``ListActions`` page; ``max_executions``: runs scanned (those with a paused
    action) when listing signals across runs.
    """

    capabilities = StoreCapabilities(upcoming=False, history=False, stats=False, push=False, policies=False,
                                     compare_and_set=False, files=False)
    files_dir = ""  # Flyte 2 conditions take no files (capability ``files``)

    def __init__(self, *, flyte_poll_interval: float = 2.0, page_size: int = 100, max_executions: int = 100) -> None:
        if not flyte_poll_interval > 0:
            raise ValueError(f"flyte_poll_interval must be positive seconds, got {flyte_poll_interval!r}")
        from flyte._initialize import get_client, get_init_config

        client = get_client()  # InitializationError unless flyte.init(...) made a client
        config = get_init_config()
        if not config.project or not config.domain:
            raise ValueError("flyte.init(...) was given no project or domain; pass project= and domain=.")
        super().__init__(float(flyte_poll_interval), "gatewidgets-flyte2-poller")
        self.project, self.domain = config.project, config.domain
        self.flyte_poll_interval = float(flyte_poll_interval)
        self.page_size = int(page_size)
        self.max_executions = int(max_executions)
        self.path = f"flyte2://{client.console.endpoint}/{self.project}/{self.domain}"
        self._watched: set[ExecKey] = set()
        self._scoped = False
        self._known: dict[tuple[ExecKey, str], str] = {}  # last state seen per signal, for poll_once
        self._sent: dict[tuple[ExecKey, str], _Sent] = {}  # answers given here, until Flyte shows them
        self._set_lock = threading.Lock()

    @classmethod
    def for_endpoint(cls, endpoint: str | None = None, *, project: str | None = None, domain: str | None = None,
                     insecure: bool = False, init: dict[str, Any] | None = None, **kwargs: Any) -> Flyte2Store:
        """``flyte.init(endpoint=..., project=..., domain=..., insecure=..., **init)`` unless ``endpoint`` is None
        (then the ``flyte.init`` already made is used), and a store on it."""
        if endpoint is not None:
            flyte.init(endpoint=endpoint, project=project, domain=domain, insecure=insecure, **(init or {}))
        elif project or domain:
            from flyte._initialize import get_init_config

            config = get_init_config()
            if (project or config.project, domain or config.domain) != (config.project, config.domain):
                raise ValueError(f"flyte.init(...) was made for project {config.project!r}, domain "
                                 f"{config.domain!r}; pass endpoint= to initialise another one.")
        return cls(**kwargs)

    def _check_scope(self, key: ExecKey) -> None:
        if (key.project, key.domain) != (self.project, self.domain):
            raise ExecutionNotFoundError(
                f"This Flyte 2 remote reads project {self.project!r}, domain {self.domain!r} (from flyte.init); "
                f"execution {key} is outside it. Make a remote with GateRemote.for_flyte2(project=..., domain=...)."
            )

    # ------------------------------------------------------------------ executions

    def get_execution(self, key: ExecKey, *, with_nodes: bool = True) -> ExecutionRecord:
        """One run (``GetRunDetails``); its actions are not listed as nodes."""
        self._check_scope(key)
        try:
            details = flyte.remote.RunDetails.get(name=key.name)
        except Exception as exc:
            if "not found" in str(exc).lower() or "NOT_FOUND" in str(exc):
                raise ExecutionNotFoundError(f"No Flyte 2 run {key.name!r} in project {key.project!r}, domain "
                                             f"{key.domain!r} on {self.path}.") from None
            raise
        return self._execution(key, details.action_details.pb2, details.task_name)

    def list_executions(self, project: str | None = None, domain: str | None = None, status: str | None = None,
                        limit: int | None = None) -> list[ExecutionRecord]:
        """Runs of the project and domain, newest first (``ListRuns``)."""
        phases = None
        if status == ExecutionStatus.RUNNING.value:
            phases = _RUNNING_PHASES
        elif status is not None:
            phases = tuple(phase_pb2.ActionPhase.Name(p)[len("ACTION_PHASE_"):].lower()
                           for p, s in _RUN_STATUS.items() if s.value == status)
        runs = flyte.remote.Run.listall(in_phase=phases, limit=limit or self.max_executions,
                                        sort_by=("created_at", "desc"))
        return [self._execution(ExecKey(self.project, self.domain, r.name), r.pb2.action, None)
                for _, r in zip(range(limit or self.max_executions), runs)]

    def _execution(self, key: ExecKey, action: Any, task_name: str | None) -> ExecutionRecord:
        status = _RUN_STATUS.get(action.status.phase, ExecutionStatus.RUNNING)
        created = _time(action.status.start_time) or now()
        ended = _time(action.status.end_time)
        return ExecutionRecord(id=key, workflow=task_name or action.metadata.task.short_name or "", status=status,
                               inputs={}, outputs=None, error=None, created_at=created, updated_at=ended or created,
                               finished_at=ended if status.is_terminal else None, pid=None, host=None)

    def owner_alive(self, record: ExecutionRecord) -> bool | None:
        """Unknown: the cluster, not a local process, runs it."""
        return None

    def request_abort(self, key: ExecKey) -> bool:
        """Abort the run (``AbortRun``)."""
        self._check_scope(key)
        flyte.remote.Run.get(name=key.name).abort(reason="Aborted from gatewidgets")
        self._dispatch([StoreEvent(next(self._ids), "abort_requested", key)])
        return True

    def finish_execution(self, key: ExecKey, status: ExecutionStatus, *, outputs: Any = None,
                         error: str | None = None) -> list[str]:
        raise UnsupportedError(self, "run", "the cluster ends Flyte 2 runs; use GateRemote.abort(...) to abort one")

    def history(self, key: ExecKey, signal_id: str | None = None) -> list[SignalEvent]:
        raise UnsupportedError(self, "history", "Flyte 2 keeps no history of condition events, only each "
                                                "condition's phase, value and who signalled it (Signal.state / "
                                                ".value / .set_by / .set_at)")

    def stats(self, project: str | None = None, domain: str | None = None) -> dict[str, Any]:
        raise UnsupportedError(self, "stats", "gate metrics need the event history, which Flyte 2 does not keep; "
                                              "they are available for the local store (GateRemote.for_sandbox())")

    # --------------------------------------------------------------------- signals

    def _signals(self, key: ExecKey, *, check_run: bool = True) -> list[tuple[Signal, Any]]:
        """Every condition of a run as ``(signal, Condition)``: ``ListActions`` pages, then ``GetActionDetails``;
        ``ExecutionNotFoundError`` for an unknown run unless ``check_run`` is false (a run just listed)."""
        self._check_scope(key)
        conditions = list(flyte.remote.Condition.listall(run_name=key.name, limit=self.page_size))
        if not conditions and check_run:
            self.get_execution(key, with_nodes=False)  # ExecutionNotFoundError for an unknown run
        conditions.sort(key=lambda c: (_time(c.pb2.status.start_time) or datetime.min.replace(tzinfo=timezone.utc),
                                       c.action_name))
        with self._lock:
            self._watched.add(key)
        taken: set[str] = set()
        rows = []
        for condition in conditions:
            signal_id = signal_id_for(condition.name, taken)
            taken.add(signal_id)
            details = flyte.remote.ActionDetails.get_details(condition.pb2.id).pb2
            rows.append((self._signal(key, signal_id, condition, details), condition))
        return rows

    def _signal(self, key: ExecKey, signal_id: str, condition: Any, details: Any) -> Signal:
        spec = details.condition
        data_type = resolve_condition_expected_type(condition.pb2, details_pb2=details) or str
        gate_type = GateType.of(data_type)
        prompt_type = "markdown" if spec.prompt_type == run_definition_pb2.CONDITION_PROMPT_TYPE_MARKDOWN else "text"
        status = details.status if details.HasField("status") else condition.pb2.status
        state = _SIGNAL_STATE.get(status.phase, SignalState.PENDING)
        started = _time(status.start_time) or now()
        timeout = spec.timeout.ToTimedelta() if spec.HasField("timeout") else None
        value = set_by = set_at = via = None
        if state is SignalState.SET and details.signal_info.HasField("output"):
            primitive = details.signal_info.output.scalar.primitive
            kind = primitive.WhichOneof("value")
            value = _PRIMITIVE[kind](getattr(primitive, kind)) if kind in _PRIMITIVE else None
            set_by = _who(details.signal_info.signalled_by)
            set_at = _time(status.end_time)
        with self._lock:
            sent = self._sent.get((key, signal_id))
        if sent is not None and state in (SignalState.PENDING, SignalState.SET):
            if state is SignalState.PENDING:  # Flyte has not shown our answer yet
                state, value, set_at = SignalState.SET, gate_type.to_python(sent.value), sent.at
            set_by, via = set_by or sent.set_by, sent.via
        elif state is SignalState.TIMED_OUT:
            via, set_at = Via.TIMEOUT, _time(status.end_time)
        return Signal(
            id=SignalIdentifier(signal_id, key), kind=kind_of(data_type), type=gate_type.literal_type, state=state,
            value=value, node_id=condition.action_name, description=describe(spec.prompt, prompt_type,
                                                                             spec.description),
            created_at=started, waiting_since=started,
            deadline=started + timeout if timeout is not None and timeout > timedelta(0) else None,
            set_at=set_at, set_by=set_by, via=via, type_record=gate_type.to_record(),
            context=None if description_format(prompt_type) == "markdown" else
            {"description_format": description_format(prompt_type)})

    def get_signal(self, key: ExecKey, signal_id: str) -> Signal:
        """One condition of a run; ``SignalNotFoundError`` lists the ones it has."""
        return self._find(key, signal_id)[0]

    def _find(self, key: ExecKey, signal_id: str) -> tuple[Signal, Any]:
        rows = self._signals(key)
        for signal, condition in rows:
            if signal.signal_id == signal_id:
                return signal, condition
        raise SignalNotFoundError(f"Flyte 2 run {key.name!r} has no condition {signal_id!r}. Its conditions are: "
                                  f"{', '.join(s.signal_id for s, _ in rows) or '(none)'}.")

    def _matching(self, key: ExecKey | None, project: str | None, domain: str | None,
                  filters: list[Filter]) -> list[Signal]:
        """Conditions of one run, or of every run of the project and domain with a paused action."""
        check_fields(filters)
        if key is not None:
            keys = [key]
        else:
            if (project or self.project, domain or self.domain) != (self.project, self.domain):
                return []
            with self._lock:
                self._scoped = True
            keys = self._paused_runs()
        return [s for k in keys for s, _ in self._signals(k, check_run=key is not None)
                if all(f.matches(s) for f in filters)]

    def _paused_runs(self) -> list[ExecKey]:
        runs = flyte.remote.Run.listall(paused_actions_only=True, limit=self.max_executions)
        return [ExecKey(self.project, self.domain, r.name) for _, r in zip(range(self.max_executions), runs)]

    def set_signal(self, key: ExecKey, signal_id: str, value: Any, identity: str, *, set_by: str,
                   via: Via | str, describe: Callable[[Any], str] = repr,
                   detail: dict[str, Any] | None = None, read: Signal | None = None,
                   ballot: Ballot | None = None) -> tuple[Signal, bool]:
        """Signal a condition (``SignalEvent``) after a fresh read: the same value again is a no-op, another
        raises ``SignalAlreadySetError``, a closed one ``SignalClosedError``; nothing is sent then."""
        if detail:
            raise SignalTypeError("Flyte 2 keeps only a condition's value: a comment or an edited approval "
                                  "cannot be recorded there. Approve or reject without them.")
        via = Via(via)
        with self._set_lock:
            current, condition = self._find(key, signal_id)
            gate_type = self.gate_type(key, signal_id, current.type_record or {})
            if current.state is SignalState.SET:
                if gate_type.identity(gate_type.validate(current.value)) == identity:
                    return current, False
                raise SignalAlreadySetError(
                    f"Condition {signal_id!r} of Flyte 2 run {key.name!r} was already signalled with "
                    f"{current.value!r} by {current.set_by or 'someone (Flyte did not say who)'}"
                    f"{' at ' + current.set_at.isoformat() if current.set_at else ''}; the first answer wins.")
            if not current.state.is_open:
                raise SignalClosedError(f"Condition {signal_id!r} of Flyte 2 run {key.name!r} is "
                                        f"{current.state.value} and can no longer be signalled.")
            condition.signal(gate_type.to_python(value))
            sent = _Sent(value, set_by, via, now())
            with self._lock:
                self._sent[(key, signal_id)] = sent
                self._known[(key, signal_id)] = SignalState.SET.value
        signal = dataclasses.replace(current, state=SignalState.SET, value=gate_type.to_python(value),
                                     set_by=set_by, set_at=sent.at, via=via)
        self._dispatch([StoreEvent(next(self._ids), "set", key, signal_id, SignalState.SET.value)])
        return signal, True

    # ---------------------------------------------------------------------- events

    def poll_once(self) -> list[StoreEvent]:
        """Read every watched run once (and the paused runs, once signals were listed across runs);
        dispatch what changed since the last poll."""
        events: list[StoreEvent] = []
        with self._lock:
            watched, scoped = set(self._watched), self._scoped
        if scoped:
            for key in self._paused_runs():
                if key not in watched:
                    watched.add(key)
                    events.append(StoreEvent(next(self._ids), "launched", key, local=False))
        for key in sorted(watched):
            for signal, _ in self._signals(key, check_run=False):
                mark = (key, signal.signal_id)
                with self._lock:
                    before = self._known.get(mark)
                    self._known[mark] = signal.state.value
                if before == signal.state.value:
                    continue
                kind = {SignalState.PENDING: "reached", SignalState.SET: "set", SignalState.TIMED_OUT: "timed_out",
                        SignalState.CANCELLED: "cancelled"}.get(signal.state, "created")
                events.append(StoreEvent(next(self._ids), kind, key, signal.signal_id, signal.state.value,
                                         local=False))
        if events:
            self._dispatch(events)
        return events

    def __repr__(self) -> str:
        return f"Flyte2Store({self.path!r})"
