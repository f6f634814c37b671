"""``FakeFlyteAdmin``: flyteidl's ``SignalService`` and part of ``AdminService`` over real gRPC.

Built with flyteidl's own generated servicers and messages. It behaves like admin where the
tests depend on it: ``ListSignals`` pages with ``limit``/``token`` and receives ``filters`` as
one string (parsed: ``eq``/``value_in``/``contains`` on ``signal_id``), ``SetSignal``
overwrites silently (as admin does) and refuses a literal of the wrong simple type with
``INVALID_ARGUMENT``. Every request is recorded in ``requests`` as ``(method, message)``.
"""
from __future__ import annotations

import re
import threading
from concurrent import futures
from typing import Any

import grpc
from flyteidl.admin import common_pb2, execution_pb2, signal_pb2
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.core import identifier_pb2, literals_pb2, types_pb2
from flyteidl.service import admin_pb2_grpc, signal_pb2_grpc

_FILTER = re.compile(r"(eq|neq|value_in|contains)\(([a-z_]+),([^)]*)\)")
_SCALAR_OF_SIMPLE = {types_pb2.INTEGER: "integer", types_pb2.FLOAT: "float_value", types_pb2.STRING: "string_value",
                     types_pb2.BOOLEAN: "boolean", types_pb2.DATETIME: "datetime", types_pb2.DURATION: "duration"}


def simple(kind: int) -> types_pb2.LiteralType:
    return types_pb2.LiteralType(simple=kind)


def list_of(inner: types_pb2.LiteralType) -> types_pb2.LiteralType:
    return types_pb2.LiteralType(collection_type=inner)


def blob() -> types_pb2.LiteralType:
    return types_pb2.LiteralType(blob=types_pb2.BlobType(format="", dimensionality=types_pb2.BlobType.SINGLE))


def bool_literal(value: bool) -> literals_pb2.Literal:
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(boolean=value)))


def _matches(signal_id: str, filters: str) -> bool:
    for function, key, value in _FILTER.findall(filters):
        if key != "signal_id":
            raise ValueError(f"unsupported filter key {key}")
        ok = {"eq": signal_id == value, "neq": signal_id != value, "contains": value in signal_id,
              "value_in": signal_id in value.split(";")}[function]
        if not ok:
            return False
    return True


class FakeFlyteAdmin(signal_pb2_grpc.SignalServiceServicer, admin_pb2_grpc.AdminServiceServicer):
    """Executions and signals in memory; ``start()`` binds a free port on 127.0.0.1."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, Any]] = []
        self.executions: dict[tuple[str, str, str], execution_pb2.Execution] = {}
        self.signals: dict[tuple[str, str, str], list[signal_pb2.Signal]] = {}
        self.server: grpc.Server | None = None
        self.port = 0

    # -- test helpers ------------------------------------------------------------------
    def start(self) -> FakeFlyteAdmin:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        signal_pb2_grpc.add_SignalServiceServicer_to_server(self, self.server)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(self, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace=None).wait(timeout=5)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add_execution(self, name: str, project: str = "flytesnacks", domain: str = "development",
                      phase: str = "RUNNING") -> None:
        ex_id = identifier_pb2.WorkflowExecutionIdentifier(project=project, domain=domain, name=name)
        closure = execution_pb2.ExecutionClosure(phase=core_execution_pb2.WorkflowExecution.Phase.Value(phase))
        closure.created_at.GetCurrentTime()
        closure.workflow_id.name = "wf.expense_wf"
        with self.lock:
            self.executions[(project, domain, name)] = execution_pb2.Execution(id=ex_id, closure=closure)
            self.signals.setdefault((project, domain, name), [])

    def add_signal(self, execution: str, signal_id: str, lt: types_pb2.LiteralType,
                   value: literals_pb2.Literal | None = None, project: str = "flytesnacks",
                   domain: str = "development") -> None:
        """What propeller does when a gate is reached (GetOrCreateSignal), optionally already set."""
        ex_id = identifier_pb2.WorkflowExecutionIdentifier(project=project, domain=domain, name=execution)
        sig = signal_pb2.Signal(id=identifier_pb2.SignalIdentifier(signal_id=signal_id, execution_id=ex_id), type=lt)
        if value is not None:
            sig.value.CopyFrom(value)
        with self.lock:
            self.signals.setdefault((project, domain, execution), []).append(sig)

    def value_of(self, execution: str, signal_id: str, project: str = "flytesnacks",
                 domain: str = "development") -> literals_pb2.Literal | None:
        with self.lock:
            for sig in self.signals.get((project, domain, execution), []):
                if sig.id.signal_id == signal_id:
                    return sig.value if sig.HasField("value") else None
        raise KeyError(signal_id)

    def calls(self, method: str) -> list[Any]:
        with self.lock:
            return [m for name, m in self.requests if name == method]

    def _record(self, method: str, request: Any) -> None:
        with self.lock:
            self.requests.append((method, request))

    # -- SignalService -------------------------------------------------------------------
    def ListSignals(self, request: signal_pb2.SignalListRequest,
                    context: grpc.ServicerContext) -> signal_pb2.SignalList:
        self._record("ListSignals", request)
        ex = request.workflow_execution_id
        try:
            with self.lock:
                rows = [s for s in self.signals.get((ex.project, ex.domain, ex.name), [])
                        if _matches(s.id.signal_id, request.filters)]
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        start = int(request.token or 0)
        limit = request.limit or 100
        page = rows[start:start + limit]
        token = str(start + limit) if start + limit < len(rows) else ""
        return signal_pb2.SignalList(signals=page, token=token)

    def SetSignal(self, request: signal_pb2.SignalSetRequest,
                  context: grpc.ServicerContext) -> signal_pb2.SignalSetResponse:
        self._record("SetSignal", request)
        ex = request.id.execution_id
        with self.lock:
            for sig in self.signals.get((ex.project, ex.domain, ex.name), []):
                if sig.id.signal_id == request.id.signal_id:
                    break
            else:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "signal does not exist (gate not reached yet)")
            expected = _SCALAR_OF_SIMPLE.get(sig.type.simple) if sig.type.WhichOneof("type") == "simple" else None
            if expected and not (request.value.HasField("scalar") and
                                 request.value.scalar.primitive.WhichOneof("value") == expected):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "literal type does not match the signal type")
            sig.value.CopyFrom(request.value)  # admin overwrites silently
        return signal_pb2.SignalSetResponse()

    def GetOrCreateSignal(self, request: signal_pb2.SignalGetOrCreateRequest,
                          context: grpc.ServicerContext) -> signal_pb2.Signal:
        self._record("GetOrCreateSignal", request)
        ex = request.id.execution_id
        with self.lock:
            rows = self.signals.setdefault((ex.project, ex.domain, ex.name), [])
            for sig in rows:
                if sig.id.signal_id == request.id.signal_id:
                    return sig
            sig = signal_pb2.Signal(id=request.id, type=request.type)
            rows.append(sig)
            return sig

    # -- AdminService (executions) -------------------------------------------------------
    def GetExecution(self, request: execution_pb2.WorkflowExecutionGetRequest,
                     context: grpc.ServicerContext) -> execution_pb2.Execution:
        self._record("GetExecution", request)
        with self.lock:
            found = self.executions.get((request.id.project, request.id.domain, request.id.name))
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"execution {request.id.name} not found")
        return found

    def ListExecutions(self, request: common_pb2.ResourceListRequest,
                       context: grpc.ServicerContext) -> execution_pb2.ExecutionList:
        self._record("ListExecutions", request)
        phases = None
        m = re.search(r"value_in\(phase,([^)]*)\)", request.filters)
        if m:
            phases = {core_execution_pb2.WorkflowExecution.Phase.Value(p) for p in m.group(1).split(";")}
        with self.lock:
            rows = [e for (p, d, _), e in self.executions.items()
                    if p == request.id.project and d == request.id.domain
                    and (phases is None or e.closure.phase in phases)]
        start = int(request.token or 0)
        limit = request.limit or 100
        token = str(start + limit) if start + limit < len(rows) else ""
        return execution_pb2.ExecutionList(executions=rows[start:start + limit], token=token)

    def TerminateExecution(self, request: execution_pb2.ExecutionTerminateRequest,
                           context: grpc.ServicerContext) -> execution_pb2.ExecutionTerminateResponse:
        self._record("TerminateExecution", request)
        with self.lock:
            found = self.executions.get((request.id.project, request.id.domain, request.id.name))
            if found is None:
                context.abort(grpc.StatusCode.NOT_FOUND, "no such execution")
            found.closure.phase = core_execution_pb2.WorkflowExecution.ABORTED
            found.closure.abort_cause = request.cause
        return execution_pb2.ExecutionTerminateResponse()
