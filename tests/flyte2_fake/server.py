"""``FakeRunService``: the parts of Flyte 2's ``RunService`` that gatewidgets uses, over connect-rpc.

Built with flyteidl2's own generated WSGI application and messages and served on
127.0.0.1, so the ``flyte`` SDK's real client (connect-rpc over HTTP in 2.12) reaches it.
It behaves like the run service where the tests depend on it: ``ListActions`` pages with
``limit``/``token`` and honours the ``action_type`` / ``parent_name`` filters;
``GetActionDetails`` returns a condition's prompt, type, timeout, value and who signalled;
``SignalEvent`` resolves a waiting condition (and, like the service, would accept a second
one); ``ListRuns`` honours ``paused_actions_only``; ``GetRunDetails``; ``AbortRun``.
Every request is recorded in ``requests`` as ``(method, message)``.
"""
from __future__ import annotations

import io
import threading
from datetime import datetime, timedelta, timezone
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.common import identifier_pb2, identity_pb2, list_pb2, phase_pb2
from flyteidl2.core import literals_pb2, types_pb2
from flyteidl2.workflow import run_definition_pb2, run_service_pb2
from flyteidl2.workflow.run_service_connect import RunServiceSync, RunServiceWSGIApplication

P = phase_pb2.ActionPhase
_SIMPLE = {bool: types_pb2.BOOLEAN, int: types_pb2.INTEGER, float: types_pb2.FLOAT, str: types_pb2.STRING}
_PAYLOAD = {"bool_value": "boolean", "int_value": "integer", "float_value": "float_value",
            "string_value": "string_value"}
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def _bounded_body(app: Any) -> Any:
    """wsgiref hands the raw socket as ``wsgi.input``; connect-rpc drains it on errors, which would block."""
    def bounded(environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(length))
        return app(environ, start_response)

    return bounded


class FakeRunService(RunServiceSync):
    """Runs and their condition actions in memory; ``start()`` serves on a free port of 127.0.0.1."""

    def __init__(self, org: str = "127") -> None:
        self.org = org
        self.lock = threading.Lock()
        self.requests: list[tuple[str, Any]] = []
        self.runs: dict[str, run_definition_pb2.ActionDetails] = {}
        self.actions: dict[str, list[run_definition_pb2.ActionDetails]] = {}  # run name -> condition actions

    # -- test setup ---------------------------------------------------------------------
    def start(self) -> FakeRunService:
        self._httpd = make_server("127.0.0.1", 0, _bounded_body(RunServiceWSGIApplication(self)),
                                  server_class=_Server, handler_class=_Quiet)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self._httpd.server_port}"

    def run_id(self, run: str, project: str = "flytesnacks", domain: str = "development") -> Any:
        return identifier_pb2.RunIdentifier(org=self.org, project=project, domain=domain, name=run)

    def add_run(self, run: str, task: str = "wf.main") -> None:
        details = run_definition_pb2.ActionDetails(id=identifier_pb2.ActionIdentifier(run=self.run_id(run), name="a0"))
        details.metadata.task.short_name = task
        details.status.phase = P.ACTION_PHASE_RUNNING
        details.status.start_time.FromDatetime(T0)
        with self.lock:
            self.runs[run] = details
            self.actions.setdefault(run, [])

    def add_condition(self, run: str, name: str, data_type: type, *, prompt: str = "Approve?",
                      markdown: bool = False, description: str = "", timeout: timedelta | None = None,
                      parent: str = "a0", action: str | None = None) -> str:
        """A condition action waiting (``PAUSED``), started a second after the last one; returns its action name."""
        with self.lock:
            rows = self.actions[run]
            details = run_definition_pb2.ActionDetails(id=identifier_pb2.ActionIdentifier(
                run=self.run_id(run), name=action or f"{parent}-cond-{name}-{len(rows)}"))
            details.metadata.parent = parent
            details.metadata.action_type = run_definition_pb2.ACTION_TYPE_CONDITION
            details.metadata.condition.name = name  # the backend leaves metadata.condition.type unset
            details.status.phase = P.ACTION_PHASE_PAUSED
            details.status.start_time.FromDatetime(T0 + timedelta(seconds=len(rows) + 1))
            cond = details.condition
            cond.name, cond.prompt, cond.description = name, prompt, description
            cond.type.simple = _SIMPLE[data_type]
            cond.prompt_type = (run_definition_pb2.CONDITION_PROMPT_TYPE_MARKDOWN if markdown
                                else run_definition_pb2.CONDITION_PROMPT_TYPE_TEXT)
            if timeout is not None:
                cond.timeout.FromTimedelta(timeout)
            rows.append(details)
            return details.id.name

    def set_phase(self, run: str, action: str, phase: int) -> None:
        with self.lock:
            self._action(run, action).status.phase = phase

    def signal_from_outside(self, run: str, action: str, value: bool | int | float | str, user: str) -> None:
        """Someone answers in the Flyte UI or with ``flyte signal condition``."""
        kind = next(k for k, t in (("bool_value", bool), ("int_value", int), ("float_value", float),
                                   ("string_value", str)) if type(value) is t)
        self._resolve(run, action, run_service_pb2.EventPayload(**{kind: value}), user)

    def calls(self, method: str) -> list[Any]:
        with self.lock:
            return [m for name, m in self.requests if name == method]

    # -- RunService -----------------------------------------------------------------------
    def list_actions(self, request: run_service_pb2.ListActionsRequest,
                     ctx: Any) -> run_service_pb2.ListActionsResponse:
        self._record("ListActions", request)
        with self.lock:
            rows = list(self.actions.get(request.run_id.name, []))
        for f in request.request.filters:
            if f.function != list_pb2.Filter.Function.EQUAL or f.field not in ("action_type", "parent_name"):
                raise ConnectError(Code.INVALID_ARGUMENT, f"unsupported filter {f.field}")
            if f.field == "action_type":
                rows = [a for a in rows if str(int(a.metadata.action_type)) in f.values]
            else:
                rows = [a for a in rows if a.metadata.parent in f.values]
        start = int(request.request.token or 0)
        limit = request.request.limit or 100
        page = rows[start:start + limit]
        actions = [run_definition_pb2.Action(id=a.id, metadata=a.metadata, status=a.status) for a in page]
        return run_service_pb2.ListActionsResponse(actions=actions,
                                                   token=str(start + limit) if start + limit < len(rows) else "")

    def get_action_details(self, request: run_service_pb2.GetActionDetailsRequest,
                           ctx: Any) -> run_service_pb2.GetActionDetailsResponse:
        self._record("GetActionDetails", request)
        with self.lock:
            found = self._action(request.action_id.run.name, request.action_id.name)
            return run_service_pb2.GetActionDetailsResponse(details=found)

    def signal_event(self, request: run_service_pb2.SignalEventRequest,
                     ctx: Any) -> run_service_pb2.SignalEventResponse:
        self._record("SignalEvent", request)
        self._resolve(request.action_id.run.name, request.action_id.name, request.payload, "gatewidgets-test")
        return run_service_pb2.SignalEventResponse()

    def get_run_details(self, request: run_service_pb2.GetRunDetailsRequest,
                        ctx: Any) -> run_service_pb2.GetRunDetailsResponse:
        self._record("GetRunDetails", request)
        with self.lock:
            found = self.runs.get(request.run_id.name)
        if found is None:
            raise ConnectError(Code.NOT_FOUND, f"run {request.run_id.name} not found")
        return run_service_pb2.GetRunDetailsResponse(details=run_definition_pb2.RunDetails(action=found))

    def list_runs(self, request: run_service_pb2.ListRunsRequest, ctx: Any) -> run_service_pb2.ListRunsResponse:
        self._record("ListRuns", request)
        with self.lock:
            rows = [(name, d) for name, d in self.runs.items()
                    if not request.paused_actions_only
                    or any(a.status.phase == P.ACTION_PHASE_PAUSED for a in self.actions[name])]
        runs = [run_definition_pb2.Run(action=run_definition_pb2.Action(id=d.id, metadata=d.metadata, status=d.status))
                for _, d in rows]
        return run_service_pb2.ListRunsResponse(runs=runs)

    def abort_run(self, request: run_service_pb2.AbortRunRequest, ctx: Any) -> run_service_pb2.AbortRunResponse:
        self._record("AbortRun", request)
        with self.lock:
            self.runs[request.run_id.name].status.phase = P.ACTION_PHASE_ABORTED
            for a in self.actions[request.run_id.name]:
                if a.status.phase == P.ACTION_PHASE_PAUSED:
                    a.status.phase = P.ACTION_PHASE_ABORTED
        return run_service_pb2.AbortRunResponse()

    # -- internals --------------------------------------------------------------------------
    def _record(self, method: str, request: Any) -> None:
        with self.lock:
            self.requests.append((method, request))

    def _action(self, run: str, name: str) -> run_definition_pb2.ActionDetails:
        for a in self.actions.get(run, []):
            if a.id.name == name:
                return a
        raise ConnectError(Code.NOT_FOUND, f"action {name} of run {run} not found")

    def _resolve(self, run: str, action: str, payload: run_service_pb2.EventPayload, user: str) -> None:
        with self.lock:
            found = self._action(run, action)
            kind = payload.WhichOneof("value")
            literal = literals_pb2.Literal()
            setattr(literal.scalar.primitive, _PAYLOAD[kind], getattr(payload, kind))
            found.signal_info.output.CopyFrom(literal)
            found.signal_info.signalled_by.CopyFrom(
                identity_pb2.EnrichedIdentity(user=identity_pb2.User(spec=identity_pb2.UserSpec(user_handle=user))))
            found.status.phase = P.ACTION_PHASE_SUCCEEDED
            found.status.end_time.FromDatetime(T0 + timedelta(minutes=5))
