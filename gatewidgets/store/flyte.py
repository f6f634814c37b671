"""``FlyteStore``: the store methods ``GateRemote`` needs, on a real Flyte admin through flytekit.

Signals are read with admin's ``ListSignals`` (every page, following ``token``; filters
admin understands are sent as one ``+``-joined string, the others — ``state``, ``kind``,
audit fields — are applied here) and written with ``SetSignal``; values are converted with
flytekit's ``TypeEngine`` (a ``GateFile`` is uploaded through flytekit's file access, like a
``FlyteFile``). Flyte signals carry no state: no value is ``PENDING``, a value is ``SET``.
A second answer is refused here after a fresh read (admin would silently overwrite); who set
a signal, when and through which face travel in the literal's ``metadata``. Flyte cannot
push, so :meth:`subscribe` polls every ``flyte_poll_interval`` seconds.

Needs the optional extra ``gatewidgets[flyte]``; imported only when a Flyte remote is built.
"""
from __future__ import annotations

import enum
import logging
import tempfile
import typing
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from flyteidl.admin import signal_pb2
from flyteidl.core import types_pb2
from flytekit.core.type_engine import TypeEngine
from flytekit.models import literals as flyte_literals
from flytekit.models import types as flyte_types
from flytekit.models.core.identifier import WorkflowExecutionIdentifier as FlyteExecutionId
from flytekit.models.filters import Filter as FlyteFilter
from flytekit.remote import FlyteRemote
from flytekit.types.file import FlyteFile

from gatewidgets import kinds
from gatewidgets.errors import (
    ExecutionNotFoundError,
    SignalAlreadySetError,
    SignalNotFoundError,
    SignalTypeError,
)
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus
from gatewidgets.models.filters import Filter, check_fields
from gatewidgets.models.policy import Ballot
from gatewidgets.models.signal import Signal, SignalEvent, SignalIdentifier, SignalState, Via
from gatewidgets.models.types import LiteralType
from gatewidgets.store.base import (
    ExecKey,
    StoreCapabilities,
    StoreEvent,
    UnsupportedError,
    now,
)
from gatewidgets.store.polling import PollingStore
from gatewidgets.types import GateFile, GateType

__all__ = ["FlyteStore", "SERVER_FILTER_KEYS", "python_type_of"]

log = logging.getLogger(__name__)

SERVER_FILTER_KEYS = frozenset({"signal_id"})  # columns of admin's signals table that gatewidgets filters on
_META = "gatewidgets."  # prefix of the literal metadata keys written here (identity, set_by, via, set_at)
_SIMPLE: dict[int, Any] = {
    types_pb2.INTEGER: int, types_pb2.FLOAT: float, types_pb2.STRING: str, types_pb2.BOOLEAN: bool,
    types_pb2.DATETIME: datetime, types_pb2.DURATION: timedelta, types_pb2.NONE: type(None),
}
_RUNNING_PHASES = ("UNDEFINED", "QUEUED", "RUNNING", "SUCCEEDING", "FAILING", "ABORTING")
_STATUS_OF_PHASE = {"SUCCEEDED": ExecutionStatus.SUCCEEDED, "FAILED": ExecutionStatus.FAILED,
                    "TIMED_OUT": ExecutionStatus.FAILED, "ABORTED": ExecutionStatus.ABORTED}


def python_type_of(lt: types_pb2.LiteralType) -> Any:
    """The Python type gatewidgets validates a Flyte signal type with; ``TypeError`` if none fits."""
    kind = lt.WhichOneof("type")
    if kind == "simple" and lt.simple in _SIMPLE:
        return _SIMPLE[lt.simple]
    if kind == "collection_type":
        return list[python_type_of(lt.collection_type)]  # type: ignore[misc]
    if kind == "map_value_type":
        return dict[str, python_type_of(lt.map_value_type)]  # type: ignore[misc]
    if kind == "blob" and lt.blob.dimensionality == types_pb2.BlobType.SINGLE:
        return GateFile
    if kind == "enum_type" and lt.enum_type.values:
        return typing.Literal[tuple(lt.enum_type.values)]
    if kind == "union_type":
        variants = [python_type_of(v) for v in lt.union_type.variants]
        others = [v for v in variants if v is not type(None)]
        if len(others) == 1 and len(variants) == 2:
            return typing.Optional[others[0]]
    raise TypeError(f"Flyte type {_flyte_name(lt)} has no gatewidgets equivalent")


def _flyte_name(lt: types_pb2.LiteralType) -> str:
    kind = lt.WhichOneof("type")
    if kind == "simple":
        return str(types_pb2.SimpleType.Name(lt.simple)).lower()
    if kind == "blob":
        return "multipart blob" if lt.blob.dimensionality else "blob"
    return kind or "?"


def _grpc_code(exc: BaseException) -> str | None:
    """The gRPC status name behind a flytekit client error (flytekit wraps them)."""
    for e in (exc, exc.__cause__, exc.__context__):
        code = getattr(e, "code", None)
        if callable(code):
            try:
                return str(code().name)
            except Exception:  # not a grpc error after all
                continue
    return None


class FlyteStore(PollingStore):
    """Signals and executions of a Flyte admin, reached through a flytekit ``FlyteRemote``.

    ``flyte_poll_interval``: seconds between polls for :meth:`subscribe` (Flyte cannot push);
    ``page_size``: signals asked for per ``ListSignals`` page; ``max_executions``: running
    executions scanned when listing signals across executions.
    """

    capabilities = StoreCapabilities(upcoming=False, history=False, stats=False, push=False, policies=False,
                                     compare_and_set=False)

    def __init__(self, remote: FlyteRemote, *, flyte_poll_interval: float = 2.0, page_size: int = 100,
                 max_executions: int = 100, files_dir: str | None = None) -> None:
        if not flyte_poll_interval > 0:
            raise ValueError(f"flyte_poll_interval must be positive seconds, got {flyte_poll_interval!r}")
        super().__init__(float(flyte_poll_interval), "gatewidgets-flyte-poller")
        self.remote = remote
        self.flyte_poll_interval = float(flyte_poll_interval)
        self.page_size = int(page_size)
        self.max_executions = int(max_executions)
        self.files_dir = files_dir or tempfile.mkdtemp(prefix="gatewidgets-flyte-files-")
        self.path = f"flyte://{remote.config.platform.endpoint}"
        self._types: dict[bytes, GateType] = {}
        self._first_seen: dict[tuple[ExecKey, str], datetime] = {}
        self._watched: set[ExecKey] = set()
        self._scopes: set[tuple[str, str]] = set()
        self._known: dict[tuple[ExecKey, str], str | None] = {}  # last identity seen per signal (None: unset)

    @classmethod
    def for_endpoint(cls, endpoint: str, *, insecure: bool = False, default_project: str | None = None,
                     default_domain: str | None = None, data_upload_location: str | None = None,
                     **kwargs: Any) -> FlyteStore:
        """A store on the Flyte admin at ``endpoint`` (``host:port``)."""
        from flytekit.configuration import Config

        extra = {"data_upload_location": data_upload_location} if data_upload_location else {}
        remote = FlyteRemote(Config.for_endpoint(endpoint, insecure=insecure), default_project=default_project,
                             default_domain=default_domain, **extra)
        return cls(remote, **kwargs)

    @property
    def client(self) -> Any:
        """flytekit's ``SynchronousFlyteClient``."""
        return self.remote.client

    # ------------------------------------------------------------------ executions

    def get_execution(self, key: ExecKey, *, with_nodes: bool = True) -> ExecutionRecord:
        """One execution (admin's ``GetExecution``); Flyte's node executions are not listed."""
        try:
            execution = self.client.get_execution(FlyteExecutionId(key.project, key.domain, key.name))
        except Exception as exc:
            if _grpc_code(exc) == "NOT_FOUND" or type(exc).__name__ == "FlyteEntityNotExistException":
                raise ExecutionNotFoundError(
                    f"No execution {key.name!r} in project {key.project!r}, domain {key.domain!r} on Flyte admin "
                    f"{self.path}. List executions with `%gate executions` or the Flyte console."
                ) from None
            raise
        return self._execution(execution.to_flyte_idl())

    def list_executions(self, project: str | None = None, domain: str | None = None, status: str | None = None,
                        limit: int | None = None) -> list[ExecutionRecord]:
        """Executions of a project and domain, newest first (admin's ``ListExecutions``, every page)."""
        from flytekit.models.admin.common import Sort as FlyteSort

        filters = []
        if status is not None:
            phases = _RUNNING_PHASES if status == ExecutionStatus.RUNNING.value else \
                [p for p, s in _STATUS_OF_PHASE.items() if s.value == status]
            filters.append(FlyteFilter.from_python_std(f"value_in(phase,{';'.join(phases)})"))
        records: list[ExecutionRecord] = []
        token = ""
        while limit is None or len(records) < limit:
            page_size = self.page_size if limit is None else min(self.page_size, limit - len(records))
            executions, token = self.client.list_executions_paginated(
                project, domain, limit=page_size, token=token, filters=filters,
                sort_by=FlyteSort("created_at", FlyteSort.Direction.DESCENDING))
            records += [self._execution(e.to_flyte_idl()) for e in executions]
            if not token or not executions:
                break
        return records

    def owner_alive(self, record: ExecutionRecord) -> bool | None:
        """Unknown: Flyte's propeller, not a local process, runs the execution."""
        return None

    def request_abort(self, key: ExecKey) -> bool:
        """Terminate the execution (admin's ``TerminateExecution``)."""
        self.client.terminate_execution(FlyteExecutionId(key.project, key.domain, key.name),
                                        "Aborted from gatewidgets")
        self._dispatch([StoreEvent(next(self._ids), "abort_requested", key)])
        return True

    def finish_execution(self, key: ExecKey, status: ExecutionStatus, *, outputs: Any = None,
                         error: str | None = None) -> list[str]:
        raise UnsupportedError(self, "run", "Flyte's propeller ends executions; a client cannot mark one "
                                            "finished. Use GateRemote.abort(...) to terminate it")

    def history(self, key: ExecKey, signal_id: str | None = None) -> list[SignalEvent]:
        raise UnsupportedError(self, "history", "Flyte admin keeps no history of signal events (only the current "
                                                "value); who set a signal through gatewidgets is on Signal.set_by")

    def stats(self, project: str | None = None, domain: str | None = None) -> dict[str, Any]:
        raise UnsupportedError(self, "stats", "gate metrics need the event history, which Flyte admin does not "
                                              "keep; they are available for the local store")

    @staticmethod
    def _execution(proto: Any) -> ExecutionRecord:
        from flyteidl.core import execution_pb2

        closure = proto.closure
        phase = execution_pb2.WorkflowExecution.Phase.Name(closure.phase)
        created = closure.created_at.ToDatetime(timezone.utc) if closure.HasField("created_at") else now()
        updated = closure.updated_at.ToDatetime(timezone.utc) if closure.HasField("updated_at") else created
        status = _STATUS_OF_PHASE.get(phase, ExecutionStatus.RUNNING)
        error = closure.error.message if closure.HasField("error") else (closure.abort_cause or None)
        workflow = closure.workflow_id.name or proto.spec.launch_plan.name
        return ExecutionRecord(
            id=ExecKey(proto.id.project, proto.id.domain, proto.id.name), workflow=workflow, status=status,
            inputs={}, outputs=None, error=error, created_at=created, updated_at=updated,
            finished_at=updated if status.is_terminal else None, pid=None, host=None)

    # --------------------------------------------------------------------- signals

    def _fetch(self, key: ExecKey, server_filters: str = "") -> list[signal_pb2.Signal]:
        """Every signal of an execution: ``ListSignals`` page after page, following ``token``."""
        from flyteidl.core import identifier_pb2

        execution_id = identifier_pb2.WorkflowExecutionIdentifier(project=key.project, domain=key.domain,
                                                                  name=key.name)
        signals: list[signal_pb2.Signal] = []
        token, seen = "", set()
        while True:
            page = self.client.list_signals(signal_pb2.SignalListRequest(
                workflow_execution_id=execution_id, limit=self.page_size, token=token, filters=server_filters))
            signals.extend(page.signals)
            if not page.token or page.token in seen or not page.signals:
                break
            seen.add(page.token)
            token = page.token
        with self._lock:
            self._watched.add(key)
        return signals

    def _execution_signals(self, key: ExecKey, server_filters: str = "") -> list[signal_pb2.Signal]:
        signals = self._fetch(key, server_filters)
        if not signals:
            self.get_execution(key, with_nodes=False)  # ExecutionNotFoundError for an unknown execution
        return signals

    def get_signal(self, key: ExecKey, signal_id: str) -> Signal:
        """One signal, read fresh; raises ``ExecutionNotFoundError`` / ``SignalNotFoundError``."""
        return self._signal(key, self._proto(key, signal_id))

    def _proto(self, key: ExecKey, signal_id: str) -> signal_pb2.Signal:
        signals = self._execution_signals(key)
        for proto in signals:
            if proto.id.signal_id == signal_id:
                return proto
        known = ", ".join(p.id.signal_id for p in signals) or \
            "(none yet: Flyte creates a signal when its gate is reached)"
        raise SignalNotFoundError(f"Execution {key.name!r} has no signal {signal_id!r}. Its signals are: {known}.")

    def _matching(self, key: ExecKey | None, project: str | None, domain: str | None,
                  filters: list[Filter]) -> list[Signal]:
        """Signals of one execution, or of every running execution of ``project``/``domain`` (at most
        ``max_executions``); the filters admin understands are sent, all are checked here."""
        check_fields(filters)
        server = "+".join(str(f) for f in filters if f.key in SERVER_FILTER_KEYS)
        if key is not None:
            keys = [key]
        else:
            with self._lock:
                self._scopes.add((project or "", domain or ""))
            keys = [r.id for r in self.list_executions(project, domain, ExecutionStatus.RUNNING.value,
                                                       self.max_executions)]
        rows = []
        for k in keys:
            protos = self._execution_signals(k, server) if key is not None else self._fetch(k, server)
            signals = (self._signal(k, p) for p in protos)
            rows += [s for s in signals if all(f.matches(s) for f in filters)]  # admin's answer re-checked
        return rows

    def gate_type(self, key: ExecKey, signal_id: str, record: Mapping[str, Any]) -> GateType:
        """The ``GateType`` of a signal, from the Flyte type in its record."""
        flyte_type = types_pb2.LiteralType.FromString(bytes.fromhex(record.get("flyte_type", "")))
        return self._gate_type(flyte_type)

    def _gate_type(self, flyte_type: types_pb2.LiteralType) -> GateType:
        raw = flyte_type.SerializeToString(deterministic=True)
        cached = self._types.get(raw)
        if cached is None:
            try:
                cached = self._types[raw] = GateType.of(python_type_of(flyte_type))
            except TypeError as exc:
                raise SignalTypeError(
                    f"{exc}; set it with flytekit (FlyteRemote.set_signal with a Literal) instead."
                ) from None
        return cached

    def _record(self, flyte_type: types_pb2.LiteralType) -> tuple[LiteralType, dict[str, Any]]:
        try:
            gate_type = self._gate_type(flyte_type)
        except SignalTypeError:
            literal_type = LiteralType(tag=_flyte_name(flyte_type))
            record = {"literal_type": literal_type.to_dict(), "json_schema": {}, "python": None}
        else:
            literal_type, record = gate_type.literal_type, gate_type.to_record()
        return literal_type, {**record, "flyte_type": flyte_type.SerializeToString(deterministic=True).hex()}

    def _signal(self, key: ExecKey, proto: signal_pb2.Signal) -> Signal:
        literal_type, record = self._record(proto.type)
        signal_id = proto.id.signal_id
        with self._lock:
            created = self._first_seen.setdefault((key, signal_id), now())
        value, meta, has_value = None, {}, proto.HasField("value")
        if has_value:
            meta = {k[len(_META):]: v for k, v in proto.value.metadata.items() if k.startswith(_META)}
            value = self._display(proto)
        kind = kinds.infer(literal_type).signal_kind  # Flyte records no kind: the kind claiming the type
        set_at = _parse_time(meta.get("set_at"))
        return Signal(
            id=SignalIdentifier(signal_id, key), kind=kind, type=literal_type,
            state=SignalState.SET if has_value else SignalState.PENDING, value=value, node_id="-",
            description=None, created_at=created, waiting_since=created, deadline=None, set_at=set_at,
            set_by=meta.get("set_by"), via=Via(meta["via"]) if meta.get("via") in Via._value2member_map_ else None,
            type_record=record)

    def _display(self, proto: signal_pb2.Signal) -> Any:
        """The Python value of a set signal (flytekit's TypeEngine, files as ``GateFile``)."""
        try:
            gate_type = self._gate_type(proto.type)
            flyte_lt = flyte_types.LiteralType.from_flyte_idl(proto.type)
            literal = flyte_literals.Literal.from_flyte_idl(proto.value)
            py = TypeEngine.to_python_value(self.remote.context, literal, TypeEngine.guess_python_type(flyte_lt))
            return gate_type.to_python(gate_type.validate(_from_flyte(py)))
        except Exception as exc:  # an odd value must not hide the signal
            log.debug("gatewidgets could not convert the value of signal %s: %s", proto.id.signal_id, exc)
            return f"<Flyte literal: {str(proto.value).strip()[:200]}>"

    def _identity(self, proto: signal_pb2.Signal) -> str:
        stored = proto.value.metadata.get(_META + "identity")
        if stored:
            return str(stored)
        gate_type = self._gate_type(proto.type)
        try:
            return gate_type.identity(gate_type.validate(self._display(proto)))
        except SignalTypeError:
            return bytes(proto.value.SerializeToString(deterministic=True)).hex()

    def to_literal(self, flyte_type: types_pb2.LiteralType, json_value: Any) -> Any:
        """A value's JSON form to a flyteidl ``Literal`` with flytekit's TypeEngine (uploads files)."""
        gate_type = self._gate_type(flyte_type)
        flyte_lt = flyte_types.LiteralType.from_flyte_idl(flyte_type)
        py_type = TypeEngine.guess_python_type(flyte_lt)
        value = _to_flyte(gate_type.to_python(json_value), py_type)
        try:
            literal = TypeEngine.to_literal(self.remote.context, value, py_type, flyte_lt)
        except Exception as exc:
            raise SignalTypeError(f"flytekit could not convert {value!r} to Flyte type {_flyte_name(flyte_type)}: "
                                  f"{exc}") from None
        return literal.to_flyte_idl()

    def set_signal(self, key: ExecKey, signal_id: str, value: Any, identity: str, *, set_by: str,
                   via: Via | str, describe: Callable[[Any], str] = repr,
                   detail: dict[str, Any] | None = None, read: Signal | None = None,
                   ballot: Ballot | None = None) -> tuple[Signal, bool]:
        """Set a signal (``SetSignal``) after a fresh read: same value again is a no-op, another value
        raises ``SignalAlreadySetError`` and sends nothing (admin itself would overwrite)."""
        if detail:
            raise SignalTypeError("A Flyte admin stores only a signal's value: a comment or an edited approval "
                                  "cannot be recorded there. Approve or reject without them.")
        via = Via(via)
        proto = self._proto(key, signal_id)
        if proto.HasField("value"):
            current = self._signal(key, proto)
            if self._identity(proto) == identity:
                return current, False
            raise SignalAlreadySetError(
                f"Signal {signal_id!r} of execution {key.name!r} was already set to {current.value!r} by "
                f"{current.set_by or 'someone outside gatewidgets (Flyte records no author)'} via "
                f"{current.via or 'Flyte'} at {current.set_at.isoformat() if current.set_at else 'an unknown time'}; "
                "the first answer wins. Launch a new execution to decide again."
            )
        literal = self.to_literal(proto.type, value)
        stamp = now().isoformat(timespec="microseconds")
        for name, text in (("identity", identity), ("set_by", set_by), ("via", via.value), ("set_at", stamp)):
            literal.metadata[_META + name] = text
        self.client.set_signal(signal_pb2.SignalSetRequest(id=proto.id, value=literal))
        proto.value.CopyFrom(literal)
        signal = self._signal(key, proto)
        with self._lock:
            self._known[(key, signal_id)] = identity
        self._dispatch([StoreEvent(next(self._ids), "set", key, signal_id, SignalState.SET.value)])
        return signal, True

    # ---------------------------------------------------------------------- events

    def poll_once(self) -> list[StoreEvent]:
        """Read every watched execution once and dispatch what changed since the last poll."""
        events: list[StoreEvent] = []
        with self._lock:
            scopes, watched = set(self._scopes), set(self._watched)
        for project, domain in scopes:
            for record in self.list_executions(project or None, domain or None, ExecutionStatus.RUNNING.value,
                                               self.max_executions):
                if record.id not in watched:
                    watched.add(record.id)
                    events.append(StoreEvent(next(self._ids), "launched", record.id, local=False))
        for key in sorted(watched):
            for proto in self._fetch(key):
                mark = (key, proto.id.signal_id)
                now_id = self._identity(proto) if proto.HasField("value") else None
                with self._lock:
                    before = self._known.get(mark, "unseen")
                    self._known[mark] = now_id
                if before == now_id:
                    continue
                kind = "created" if before == "unseen" and now_id is None else "set" if now_id else "reached"
                state = SignalState.SET if now_id else SignalState.PENDING
                events.append(StoreEvent(next(self._ids), kind, key, proto.id.signal_id, state.value, local=False))
        if events:
            self._dispatch(events)
        return events

    def __repr__(self) -> str:
        return f"FlyteStore({self.path!r})"


# -- values -----------------------------------------------------------------------------

def _to_flyte(value: Any, py_type: Any) -> Any:
    """gatewidgets' Python value to what flytekit's TypeEngine expects for ``py_type``."""
    if isinstance(value, GateFile):
        return FlyteFile(value.path)
    if isinstance(py_type, type) and issubclass(py_type, enum.Enum) and not isinstance(value, enum.Enum):
        return py_type(value)
    args = typing.get_args(py_type)
    if isinstance(value, list) and args:
        return [_to_flyte(v, args[0]) for v in value]
    if isinstance(value, dict) and len(args) == 2:
        return {k: _to_flyte(v, args[1]) for k, v in value.items()}
    if value is not None and args and type(None) in args:
        return _to_flyte(value, next(a for a in args if a is not type(None)))
    return value


def _from_flyte(value: Any) -> Any:
    """flytekit's Python value to gatewidgets' (files as ``GateFile``, enums as their values)."""
    if isinstance(value, FlyteFile):
        return GateFile(value.remote_source or value.path)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_from_flyte(v) for v in value]
    if isinstance(value, dict):
        return {k: _from_flyte(v) for k, v in value.items()}
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _parse_time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
