"""Tornado handlers of the signals API; every call goes through ``GateRemote`` (``via="http"``).

Store work runs on a small thread pool, never on the server's IOLoop: a store locked by another
process makes a request answer 503 after ``GateWidgets.http_busy_timeout`` (2 s) while the rest
of the Jupyter server keeps answering. Server-side file paths are refused unless they lie in
``GateWidgets.http_allowed_file_dirs``; files are sent as bytes (``{"name", "content"}``, base64).
"""
from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import IOLoop

from gatewidgets.commands import execution_listing
from gatewidgets.errors import (
    ExecutionAbortedError,
    ExecutionNotFoundError,
    GateError,
    SignalAlreadySetError,
    SignalClosedError,
    SignalNotFoundError,
    StoreError,
)
from gatewidgets.models.execution import ExecutionStatus
from gatewidgets.models.signal import SignalKind, SignalState
from gatewidgets.remote import GateRemote
from gatewidgets.settings import settings
from gatewidgets.store import open_store
from gatewidgets.wire import event_to_json, execution_to_json, signal_to_json

__all__ = ["routes"]

AUTH_RESOURCE = "gatewidgets"

_STATUS = {ExecutionNotFoundError: 404, SignalNotFoundError: 404, SignalAlreadySetError: 409,
           SignalClosedError: 409, ExecutionAbortedError: 409, StoreError: 503}
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gatewidgets-http")
_LIMITS = {"limit": 10_000, "offset": 1_000_000_000}  # largest page size and offset a query may ask for
_MAX_DEPTH = 64  # deepest nesting of lists and objects a request body may have
_TOO_DEEP = (f"The request body nests lists and objects more than {_MAX_DEPTH} levels deep; "
             "send a value of the signal's type.")


class BadRequest(Exception):
    """A malformed request (bad JSON, bad parameter): 400."""


class _Handler(APIHandler):
    auth_resource = AUTH_RESOURCE

    def remote(self) -> GateRemote:
        user = self.current_user
        name = getattr(user, "username", None) or getattr(user, "name", None) or str(user)
        store = open_store(wait=settings.http_busy_timeout)  # a locked store: 503 soon, not after busy_timeout
        return GateRemote(store=store, file_dirs=settings.http_allowed_file_dirs).with_face("http", user=name)

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def fail(self, exc: Exception) -> None:
        status = 400 if isinstance(exc, BadRequest) else next(
            (code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
        self.reply({"error": type(exc).__name__, "message": str(exc)}, status)

    async def run(self, action: Callable[[], Any], reply: Callable[[Any], Any] | None = None) -> None:
        """Run ``action`` on the pool, then ``reply`` with its result (JSON by default)."""
        try:
            data = await asyncio.wait_for(IOLoop.current().run_in_executor(_POOL, action),
                                          timeout=2 * settings.http_busy_timeout + 10)
        except (GateError, BadRequest) as exc:  # a StoreError (store locked, unreadable, read-only): 503
            self.fail(exc)
        except asyncio.TimeoutError:
            self.reply({"error": "StoreError", "message": "The gatewidgets store did not answer in time; "
                        "the request may still complete. Check its state before trying again."}, 503)
        else:
            (reply or self.reply)(data)

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
            return {"executions": [execution_listing(remote, r) for r in records]}
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
                                                "signals": [signal_to_json(s) for s in signals]}
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
            signals = remote.list_signals(execution, project, domain, limit=100 if limit is None else limit,
                                          filters=filters, offset=self.arg("offset", number=True) or 0)
            total = remote.count_signals(execution, project, domain, filters=filters)
            return {"signals": [signal_to_json(s) for s in signals], "total": total}
        await self.run(action)


class SignalHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self, project: str, domain: str, name: str, signal_id: str) -> None:
        await self.run(lambda: signal_to_json(self.remote().get_signal(signal_id, name, project, domain)))

    @web.authenticated
    @authorized
    async def post(self, project: str, domain: str, name: str, signal_id: str, action: str | None = None) -> None:
        def act() -> Any:
            remote = self.remote()
            if action is not None:
                return signal_to_json(self.decide(remote, action, project, domain, name, signal_id))
            body = self.body()
            if "value" in body:
                return signal_to_json(remote.set_json(signal_id, name, body["value"], project, domain))
            return signal_to_json(remote.set_text(signal_id, name, body["text"], project, domain))
        await self.run(act)

    def decide(self, remote: GateRemote, action: str, project: str, domain: str, name: str, signal_id: str) -> Any:
        """Approve or reject; the optional body is ``{"comment": "..."}``, and for approve ``"value"``
        (an editable approval's changed value, validated strictly against the upstream type)."""
        allowed = {"comment", "value"} if action == "approve" else {"comment"}
        body = self.json_body() if self.request.body else {}
        if not isinstance(body, dict) or set(body) - allowed:
            raise BadRequest(f"The body of {action} must be a JSON object with only "
                             f"{' and '.join(sorted(allowed))}, got {json.dumps(body)[:200]}.")
        comment = body.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise BadRequest(f'"comment" must be a string, got {json.dumps(comment)[:200]}.')
        if action == "reject":
            return remote.reject(signal_id, name, project, domain, comment=comment)
        if "value" in body:
            return remote.approve(signal_id, name, project, domain, value=body["value"], comment=comment,
                                  value_form="json")
        return remote.approve(signal_id, name, project, domain, comment=comment)

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
    ]
