"""Tornado handlers of the signals API; every call goes through ``GateRemote`` (``via="http"``).

Store work runs on a small thread pool, never on the server's IOLoop: a store locked by another
process makes a request answer 503 after ``GateWidgets.http_busy_timeout`` (2 s) while the rest
of the Jupyter server keeps answering. Server-side file paths are refused unless they lie in
``GateWidgets.http_allowed_file_dirs``; files are streamed first (:class:`FileHandler`, then
``{"upload": "<id>"}`` in the value) or sent as bytes in the value (``{"name", "content"}``, base64).
"""
from __future__ import annotations

import asyncio
import enum
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Awaitable, Callable, cast

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import IOLoop

from gatewidgets.errors import (
    ExecutionAbortedError,
    ExecutionNotFoundError,
    GateError,
    GateForbiddenError,
    SignalAlreadySetError,
    SignalClosedError,
    SignalNotFoundError,
    StoreError,
)
from gatewidgets.models.execution import ExecutionStatus
from gatewidgets.models.policy import Identity
from gatewidgets.models.signal import Signal, SignalKind, SignalState
from gatewidgets.remote import GateRemote
from gatewidgets.server.uploads import UPLOADS
from gatewidgets.settings import settings
from gatewidgets.store import open_store
from gatewidgets.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from gatewidgets.store.postgres.store import PostgresStore
from gatewidgets.types.file.access import check_size, safe_name
from gatewidgets.types.file.stored import FileSink
from gatewidgets.wire import event_to_json, execution_to_json, signal_to_json

__all__ = ["routes"]

AUTH_RESOURCE = "gatewidgets"

_STATUS = {ExecutionNotFoundError: 404, SignalNotFoundError: 404, SignalAlreadySetError: 409, GateForbiddenError: 403,
           SignalClosedError: 409, ExecutionAbortedError: 409, StoreError: 503}
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gatewidgets-http")
_LIMITS = {"limit": 10_000, "offset": 1_000_000_000}  # largest page size and offset a query may ask for
_MAX_DEPTH = 64  # deepest nesting of lists and objects a request body may have
_TOO_DEEP = (f"The request body nests lists and objects more than {_MAX_DEPTH} levels deep; "
             "send a value of the signal's type.")
_HOLD_SLACK = 60.0  # seconds an upload's file is held in the store past its id's expiry (clocks, commit time)
_BODY_SLACK = 16 << 20  # tornado drops a connection whose chunk headers announce this much past max_upload_bytes


class _For(enum.Enum):
    """``?for=me``: only what the caller may answer."""

    ME = "me"


class BadRequest(Exception):
    """A malformed request (bad JSON, bad parameter): 400."""


class _Handler(APIHandler):
    auth_resource = AUTH_RESOURCE

    def store(self) -> SqliteStore | PostgresStore:
        return open_store(wait=settings.http_busy_timeout)  # a locked store: 503 soon, not after busy_timeout

    def identity(self) -> Identity:
        """The caller as the Jupyter server's IdentityProvider established it (its login; on JupyterHub, the hub
        user, with the hub groups its user model lists; source ``hub`` in ``gatewidgets hub-service``, which sets the
        ``gatewidgets_identity_source`` setting): a body or header naming another user changes nothing."""
        user = self.current_user
        name = getattr(user, "username", None) or getattr(user, "name", None) or str(user)
        return Identity(name, self.settings.get("gatewidgets_identity_source", "server"), _hub_groups(user))

    def remote(self) -> GateRemote:
        return GateRemote(store=self.store(), file_dirs=settings.http_allowed_file_dirs,
                          identity=self.identity()).with_face("http")

    def signals_json(self, remote: GateRemote, signals: list[Signal]) -> list[dict[str, Any]]:
        """``signals`` in JSON, each with ``"decision"``: where it stands and whether the caller may answer
        (each execution whose signals have a policy read once)."""
        return [signal_to_json(s) | {"decision": status.to_json()}
                for s, status in zip(signals, remote.statuses(signals))]

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def fail(self, exc: Exception, status: int | None = None) -> None:
        status = status or (400 if isinstance(exc, BadRequest) else next(
            (code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400))
        self.reply({"error": type(exc).__name__, "message": str(exc)}, status)

    async def run(self, action: Callable[[], Any], reply: Callable[[Any], Any] | None = None) -> None:
        """Run ``action`` on the pool, then ``reply`` with its result (JSON by default)."""
        try:
            data = await self.off_loop(action)
        except (GateError, BadRequest) as exc:  # a StoreError (store locked, unreadable, read-only): 503
            self.fail(exc)
        except asyncio.TimeoutError:
            self.reply({"error": "StoreError", "message": "The gatewidgets store did not answer in time; "
                        "the request may still complete. Check its state before trying again."}, 503)
        else:
            (reply or self.reply)(data)

    async def off_loop(self, action: Callable[[], Any]) -> Any:
        """``action()`` on the pool, within the time a store call may take."""
        return await asyncio.wait_for(IOLoop.current().run_in_executor(_POOL, action),
                                      timeout=2 * settings.http_busy_timeout + 10)

    def arg(self, name: str, choices: Any = None, number: bool = False) -> Any:
        value = self.get_query_argument(name, None)
        if value is None or value == "":
            return None
        if number:
            top = _LIMITS[name]
            if not re.fullmatch(r"[0-9]{1,10}", value) or int(value) > top:
                raise BadRequest(f"Query parameter {name!r} must be a whole number from 0 to {top}, "
                                 f"got {value[:40]!r}.")
            return int(value)
        if choices is not None:
            values = [v.strip() for v in value.split(",") if v.strip()]
            allowed = [c.value for c in choices]
            bad = [v for v in values if v.upper() not in allowed and v.lower() not in allowed]
            if bad or not values:
                raise BadRequest(f"Query parameter {name!r} takes {', '.join(allowed)} (comma-separated), "
                                 f"got {value!r}.")
            return [v.upper() if v.upper() in allowed else v.lower() for v in values]
        return value


class ExecutionsHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        def action() -> Any:
            status = self.arg("status", ExecutionStatus)
            if status and len(status) > 1:
                raise BadRequest("Query parameter 'status' takes one status.")
            remote = self.remote()
            records = remote.list_executions(self.arg("project"), self.arg("domain"),
                                             status=status[0] if status else None, limit=self.arg("limit", number=True))
            return {"executions": [remote.execution_listing(r) for r in records]}
        await self.run(action)


class ExecutionHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self, project: str, domain: str, name: str) -> None:
        def action() -> Any:
            remote = self.remote()
            record = remote.get_execution(name, project, domain)
            signals = remote.list_signals(name, project, domain, limit=None)
            return execution_to_json(record) | {"orphaned": remote.is_orphaned(record),
                                                "signals": self.signals_json(remote, signals)}
        await self.run(action)


class HistoryHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self, project: str, domain: str, name: str) -> None:
        def action() -> Any:
            events = self.remote().history(name, project, domain, signal_id=self.arg("signal"))
            return {"events": [event_to_json(e) for e in events]}
        await self.run(action)


class MetricsHandler(_Handler):
    """Prometheus text format, behind Jupyter's auth like the rest of the API."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from gatewidgets.telemetry import metrics, prometheus_text

        await self.run(lambda: prometheus_text(metrics(self.remote(), self.arg("project"), self.arg("domain"))),
                       lambda text: self.finish(text, set_content_type="text/plain; version=0.0.4; charset=utf-8"))


class AbortHandler(_Handler):
    @web.authenticated
    @authorized
    async def post(self, project: str, domain: str, name: str) -> None:
        await self.run(lambda: execution_to_json(self.remote().abort(name, project, domain)))


class SignalsHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        def action() -> Any:
            filters = []
            states = self.arg("state", SignalState)
            if states:
                filters.append(f"value_in(state,{';'.join(states)})")
            kinds = self.arg("kind", SignalKind)
            if kinds:
                filters.append(f"value_in(kind,{';'.join(kinds)})")
            execution, project, domain = self.arg("execution"), self.arg("project"), self.arg("domain")
            remote = self.remote()
            limit = self.arg("limit", number=True)
            limit, offset = 100 if limit is None else limit, self.arg("offset", number=True) or 0
            if self.arg("for", _For):  # what the caller may answer: GateRemote.waiting_for_me
                mine = remote.waiting_for_me(project, domain, limit=None, execution_name=execution, filters=filters)
                signals, total = mine[offset:offset + limit], len(mine)
            else:
                signals = remote.list_signals(execution, project, domain, limit=limit, filters=filters, offset=offset)
                total = remote.count_signals(execution, project, domain, filters=filters)
            return {"signals": self.signals_json(remote, signals), "total": total}
        await self.run(action)


class SignalHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self, project: str, domain: str, name: str, signal_id: str) -> None:
        def action() -> Any:
            remote = self.remote()
            return self.signals_json(remote, [remote.get_signal(signal_id, name, project, domain)])[0]
        await self.run(action)

    @web.authenticated
    @authorized
    async def post(self, project: str, domain: str, name: str, signal_id: str, action: str | None = None) -> None:
        def act() -> Any:
            remote = self.remote()
            with UPLOADS.references():  # files may be {"upload": id}; a failed set keeps the ids
                if action is not None:
                    signal = self.decide(remote, action, project, domain, name, signal_id)
                else:
                    body = self.body()
                    signal = (remote.set_json(signal_id, name, body["value"], project, domain) if "value" in body
                              else remote.set_text(signal_id, name, body["text"], project, domain))
            return self.signals_json(remote, [signal])[0]
        await self.run(act)

    def decide(self, remote: GateRemote, action: str, project: str, domain: str, name: str,
               signal_id: str) -> Signal:
        """Approve or reject; the optional body is ``{"comment": "...", "evidence_hash": "..."}`` (the
        ``Signal.evidence_hash`` the decider was shown: refused with 403 if the stored evidence differs now), and
        for approve ``"value"`` (an editable approval's changed value, validated strictly against the upstream
        type)."""
        allowed = {"comment", "evidence_hash", "value"} if action == "approve" else {"comment", "evidence_hash"}
        body = self.json_body() if self.request.body else {}
        if not isinstance(body, dict) or set(body) - allowed:
            raise BadRequest(f"The body of {action} must be a JSON object with only "
                             f"{', '.join(sorted(allowed))}, got {json.dumps(body)[:200]}.")
        for field in ("comment", "evidence_hash"):
            if body.get(field) is not None and not isinstance(body[field], str):
                raise BadRequest(f'"{field}" must be a string, got {json.dumps(body[field])[:200]}.')
        comment, seen = body.get("comment"), body.get("evidence_hash")
        if action == "reject":
            return remote.reject(signal_id, name, project, domain, comment=comment, evidence_hash=seen)
        if "value" in body:
            return remote.approve(signal_id, name, project, domain, value=body["value"], comment=comment,
                                  value_form="json", evidence_hash=seen)
        return remote.approve(signal_id, name, project, domain, comment=comment, evidence_hash=seen)

    def json_body(self) -> Any:
        try:
            body = json.loads(self.request.body or b"")
        except ValueError as exc:
            raise BadRequest(f"The request body is not JSON: {exc}.") from None
        except RecursionError:
            raise BadRequest(_TOO_DEEP) from None
        if _too_deep(body):
            raise BadRequest(_TOO_DEEP)
        return body

    def body(self) -> dict[str, Any]:
        body = self.json_body()
        if not isinstance(body, dict) or len({"value", "text"} & body.keys()) != 1 or set(body) - {"value", "text"}:
            raise BadRequest('The body must be a JSON object with exactly one key: {"value": <JSON value>} '
                             '(validated strictly) or {"text": "<text>"} (parsed like a typed field).')
        if "text" in body and not isinstance(body["text"], str):
            raise BadRequest(f'"text" must be a string, got {json.dumps(body["text"])}.')
        return body


@web.stream_request_body
class FileHandler(_Handler):
    """``PUT /gatewidgets/api/files/{name}``: the request body is a file's bytes, streamed into the
    store's ``files/`` folder chunk by chunk (sha256 and size computed from them, at most
    ``max_upload_bytes``: 413 as soon as a body passes it, or announces it, and the partial file is
    deleted). Answers 201 with ``{"upload": "<id>", "name", "size", "sha256", "expires_in"}``; a signal
    value then names the file as ``{"upload": "<id>"}`` (:mod:`gatewidgets.server.uploads`).

    PUT, so that ``curl -T file URL`` streams the file from disk. Auth, XSRF and authorization run
    in :meth:`prepare`, before a byte of the body is read. An answer given before the whole body is
    read (any refusal but a failed commit) says ``Connection: close``, as tornado then closes the
    connection: a client keeping it alive opens a new one for its next request."""

    sink: FileSink | None = None
    body_read = False  # the whole body came in (``put`` runs)

    async def prepare(self) -> None:  # type: ignore[override]  # as APIHandler.prepare
        await super().prepare()  # Jupyter's auth (403 without a user) and XSRF checks, like every handler
        await cast("Awaitable[None]", self.allowed())
        length = self.request.headers.get("Content-Length")
        try:
            name = safe_name(self.path_args[0] if self.path_args else "")
            if length is not None and not re.fullmatch(r"[0-9]{1,20}", length):
                raise BadRequest(f"Content-Length must be a whole number, got {length[:40]!r}.")
        except (GateError, BadRequest) as exc:
            self.fail(exc)  # refused before the body is read: tornado then closes the connection
            return
        try:
            check_size(name, int(length or 0), settings.max_upload_bytes)
        except GateError as exc:
            self.fail(exc, 413)
            return
        self.request.connection.set_max_body_size(settings.max_upload_bytes + _BODY_SLACK)  # type: ignore[union-attr]
        try:
            self.sink = await self.off_loop(lambda: self._open_sink(name))
        except GateError as exc:
            self.fail(exc)
        except asyncio.TimeoutError:
            self.fail(StoreError("The gatewidgets store did not answer in time; try again."))

    @web.authenticated
    @authorized
    async def allowed(self) -> None:
        """Raise 403 unless the user may write to the gatewidgets API (checked before the body is read)."""

    def _open_sink(self, name: str) -> FileSink:
        store = self.store()
        if store.read_only:
            raise StoreError(f"The gatewidgets store {store.path} is read-only: files cannot be stored.")
        try:
            return FileSink(store.files_dir, name, settings.max_upload_bytes)
        except OSError as exc:
            raise _unwritable(exc) from None

    def data_received(self, chunk: bytes) -> None:
        """Write ``chunk`` (tornado's reads: 64 KiB at most); past the limit, answer 413 and delete the file."""
        if self.sink is None:  # refused already: tornado closes the connection once the answer is out
            return
        try:
            self.sink.write(chunk)
        except GateError as exc:
            self.discard()
            self.fail(exc, 413)
        except OSError as exc:  # a full disk
            self.discard()
            self.fail(_unwritable(exc))

    @web.authenticated
    @authorized
    async def put(self, name: str) -> None:
        self.body_read = True
        sink, self.sink = self.sink, None
        if sink is None:
            return

        def commit() -> Any:
            with sink:
                # held before it is in place, a little longer than its id: no cleanup removes it meanwhile
                self.store().hold_file(sink.sha256, settings.http_upload_ttl + _HOLD_SLACK)
                try:
                    stored = sink.commit()
                except OSError as exc:
                    raise _unwritable(exc) from None
            return {"upload": UPLOADS.add(stored), "name": stored.name, "size": stored.size,
                    "sha256": stored.sha256, "expires_in": settings.http_upload_ttl}
        await self.run(commit, lambda data: self.reply(data, 201))

    def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> asyncio.Future[None]:
        if not self.body_read:
            self.set_header("Connection", "close")
        return super().finish(chunk)

    def discard(self) -> None:
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.discard()

    def on_connection_close(self) -> None:  # the client went away mid-upload
        self.discard()
        super().on_connection_close()

    def on_finish(self) -> None:
        self.discard()
        super().on_finish()


def _hub_groups(user: Any) -> tuple[str, ...]:
    """The groups JupyterHub vouches for: on a hub's single-user server (its IdentityProvider), the current user
    carries the hub's user model (``hub_user``), whose ``groups`` the hub fills for the user's own token;
    jupyter_server's own ``User`` has no groups (empty)."""
    model = getattr(user, "hub_user", None)
    groups = model.get("groups") if isinstance(model, dict) else None
    return tuple(g for g in groups if isinstance(g, str) and g) if isinstance(groups, list) else ()


def _unwritable(exc: OSError) -> StoreError:
    return StoreError(f"Cannot write the upload into the store's files folder: {exc}. To fix: make that folder "
                      "writable by the server's user and free disk space.")


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        if children and depth > _MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def routes(base_url: str) -> list[tuple[str, type]]:
    """The URL patterns of the API under ``base_url``."""
    api = url_path_join(base_url, "gatewidgets", "api")
    part = "([^/]+)"
    return [
        (url_path_join(api, "executions"), ExecutionsHandler),
        (url_path_join(api, "executions", part, part, part), ExecutionHandler),
        (url_path_join(api, "executions", part, part, part, "abort"), AbortHandler),
        (url_path_join(api, "executions", part, part, part, "history"), HistoryHandler),
        (url_path_join(base_url, "gatewidgets", "metrics"), MetricsHandler),
        (url_path_join(api, "signals"), SignalsHandler),
        (url_path_join(api, "signals", part, part, part, part), SignalHandler),
        (url_path_join(api, "signals", part, part, part, part, "(approve|reject)"), SignalHandler),
        (url_path_join(api, "files", part), FileHandler),
    ]
