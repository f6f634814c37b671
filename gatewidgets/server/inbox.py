"""The approvers' inbox: ``/gatewidgets/inbox``, a web page behind Jupyter's login listing the pending decisions
the logged-in user may answer, with their evidence, forms and live updates.

Routes, under the server's base URL::

    GET  /gatewidgets/inbox                                         the page (static HTML, JS and CSS of this package)
    GET  /gatewidgets/inbox/{project}/{domain}/{execution}/{signal}  the same page, opened on one decision
    GET  /gatewidgets/inbox/api/items[?project=&domain=&workflow=&offset=&limit=]   a page of what waits for me
    GET  /gatewidgets/inbox/api/items/{project}/{domain}/{execution}/{signal}      one decision, decided or not
    GET  /gatewidgets/inbox/api/events                              server-sent events: which signals changed

Answers go through the signals API: ``POST /gatewidgets/api/signals/...`` (``/approve`` and ``/reject`` with the
``evidence_hash`` of the evidence the page showed: a changed evidence is refused), files first by ``PUT
/gatewidgets/api/files/{name}``. A list is read ``limit`` (default 50) decisions at a time; the page asks for more.
Every piece of HTML sent is sanitised here (evidence as the cards show it, descriptions rendered from Markdown);
the page writes everything else as text. Events come from one store subscription per server, fanned out to at
most :data:`MAX_STREAMS` streams, each closed after ``c.GateWidgets.inbox_stream_seconds`` (5 minutes; the browser
reconnects by itself and reads the list again).
"""
from __future__ import annotations

import asyncio
import gzip
import hashlib
import html
import json
from pathlib import Path
from string import Template
from typing import Any, Iterable
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError

from gatewidgets import kinds
from gatewidgets.errors import GateError
from gatewidgets.evidence import description_html, to_html
from gatewidgets.graph.model import NO_DEFAULT
from gatewidgets.kinds import Answer
from gatewidgets.models.common import Sort, SortOrdering
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus
from gatewidgets.models.signal import Signal
from gatewidgets.remote import GateRemote
from gatewidgets.server.handlers import AUTH_RESOURCE, _Handler
from gatewidgets.settings import settings
from gatewidgets.store.base import StoreEvent
from gatewidgets.wire import signal_to_json

__all__ = ["inbox_routes", "MAX_STREAMS", "PAGE_SIZE"]

STATIC = Path(__file__).with_name("static")
PAGE_SIZE = 50  # decisions per page of the list
MAX_PAGE = 200
DECIDED = 10  # recently decided shown under the list
MAX_STREAMS = 64  # open event streams per server; more are refused (503) and the page falls back to polling
KEEPALIVE = 15.0  # seconds between comments on a quiet stream (a dead connection shows up)
_QUEUE = 256  # batches of events a slow stream may lag behind before it is told to reload
_CLOSED = ("SET", "TIMED_OUT", "CANCELLED")
_LEFT_OUT = ("evidence", "type_record", "edit_type", "literal_type", "original")  # sent as HTML or in answers
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'self'")


def answer_json(answer: Answer) -> dict[str, Any]:
    """One answer a kind offers, as the page renders it (``field``: the JSON schema of a typed form)."""
    field = answer.field
    return {"label": answer.label, "style": answer.style, "action": answer.action, "value": answer.value,
            "comment": answer.comment,
            "field": None if field is None else {"schema": field.schema, "files": field.files,
                                                 **({} if field.default is NO_DEFAULT else {"default": field.default})}}


def inbox_path(signal: Signal) -> str:
    """The decision's permanent link, under the server's base URL (each part percent-encoded)."""
    ex = signal.id.execution_id
    return "gatewidgets/inbox/" + "/".join(quote(part, safe="") for part in
                                           (ex.project, ex.domain, ex.name, signal.signal_id))


def item_json(remote: GateRemote, signal: Signal, record: ExecutionRecord) -> dict[str, Any]:
    """One decision as the page shows it: the signal, its sanitised evidence and description, where it stands for
    this remote's identity (``status``), and the answers it may give (none when it may not answer)."""
    status = remote.status(signal, record)
    kind = kinds.get(signal.kind)
    data = {k: v for k, v in signal_to_json(signal).items() if k not in _LEFT_OUT}
    return data | {
        "key": "/".join((record.id.project, record.id.domain, record.id.name, signal.signal_id)),
        "link": inbox_path(signal), "workflow": record.workflow, "execution_status": record.status.value,
        "ends_by_itself": kind.ends_by_itself, "header_type": kind.header_type(signal),
        "timing_label": kind.timing_label(signal),
        "evidence_html": to_html(signal.evidence), "evidence_hash": signal.evidence_hash,
        "description_html": description_html(signal), "status": status.to_json(),
        "value_text": None if signal.state.is_open else kind.value_text(signal),
        "answers": [answer_json(a) for a in kind.answers(signal)] if status.may_answer else [],
    }


class _Records:
    """Execution records read once per request (``known``: those read already)."""

    def __init__(self, remote: GateRemote, known: Iterable[ExecutionRecord] = ()) -> None:
        self.remote = remote
        self.read: dict[Any, ExecutionRecord] = {r.id: r for r in known}

    def __call__(self, signal: Signal) -> ExecutionRecord:
        key = signal.id.execution_id
        if key not in self.read:
            self.read[key] = self.remote.store.get_execution(key, with_nodes=False)
        return self.read[key]


class ItemsHandler(_Handler):
    """A page of the decisions waiting for the logged-in user, newest first; the first page also says who the user
    is, which workflows run in the scope and what was decided recently."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        def action() -> Any:
            remote = self.remote()
            project, domain = self.arg("project") or remote.default_project, self.arg("domain") or remote.default_domain
            offset = self.arg("offset", number=True) or 0
            limit = min(self.arg("limit", number=True) or PAGE_SIZE, MAX_PAGE)
            running = remote.list_executions(project, domain, status=ExecutionStatus.RUNNING)
            workflow = self.arg("workflow")
            filters = [f"value_in(kind,{';'.join(n for n in kinds.names() if not kinds.get(n).ends_by_itself)})"]
            if workflow:
                names = [r.name for r in running if r.workflow == workflow]
                if not names:
                    return self.page(remote, project, domain, [], False, offset, running)
                filters.append(f"value_in(execution,{';'.join(names)})")
            found = remote.waiting_for_me(project, domain, limit=limit + 1, offset=offset, filters=filters)
            return self.page(remote, project, domain, found[:limit], len(found) > limit, offset, running)
        await self.run(lambda: self.packed(action()), self.send_packed)

    def packed(self, data: Any) -> tuple[bytes, bool]:
        """The JSON of ``data``, gzipped when the browser takes it (evidence compresses about tenfold)."""
        body = json.dumps(data).encode()
        if len(body) > 1024 and "gzip" in self.request.headers.get("Accept-Encoding", ""):
            return gzip.compress(body, compresslevel=5), True
        return body, False

    def send_packed(self, packed: tuple[bytes, bool]) -> None:
        body, zipped = packed
        if zipped:
            self.set_header("Content-Encoding", "gzip")
        self.add_header("Vary", "Accept-Encoding")
        self.finish(body)

    def page(self, remote: GateRemote, project: str, domain: str, signals: list[Signal], more: bool, offset: int,
             running: list[ExecutionRecord]) -> dict[str, Any]:
        records = _Records(remote, running)
        out: dict[str, Any] = {"project": project, "domain": domain, "items": [
            item_json(remote, s, records(s)) for s in signals], "more": more, "offset": offset}
        if offset == 0:
            out |= {"me": remote.identity.to_dict(), "workflows": sorted({r.workflow for r in running}),
                    "decided": [item_json(remote, s, records(s)) for s in _recently_decided(remote, project, domain,
                                                                                             records)]}
        return out


def _recently_decided(remote: GateRemote, project: str, domain: str, records: _Records) -> list[Signal]:
    """The latest closed decisions this remote's identity made, approved, or was allowed to make."""
    me = remote.identity.user
    newest = Sort("set_at", SortOrdering.DESCENDING)
    latest = remote.list_signals(None, project, domain, limit=5 * DECIDED, sort_by=newest,
                                 filters=[f"value_in(state,{';'.join(_CLOSED)})"])
    mine = [s for s in latest if s.set_by == me or any(a.user == me for a in s.approvals)
            or remote.status(s, records(s) if s.policy else None).why_not is None]
    return mine[:DECIDED]


class ItemHandler(_Handler):
    """One decision, open or closed, with where it stands for the user and its timeline (the deep link's data)."""

    @web.authenticated
    @authorized
    async def get(self, project: str, domain: str, name: str, signal_id: str) -> None:
        def action() -> Any:
            remote = self.remote()
            signal = remote.get_signal(signal_id, name, project, domain)
            item = item_json(remote, signal, remote.store.get_execution(signal.id.execution_id, with_nodes=False))
            try:
                events = remote.history(name, project, domain, signal_id=signal_id)
            except GateError:  # a store without history
                events = []
            item["me"] = remote.identity.user
            item["timeline"] = [{"at": e.at.isoformat(), "event": e.kind, "set_by": e.set_by, "via": e.via,
                                 "comment": (e.detail or {}).get("comment"), "reason": (e.detail or {}).get("reason"),
                                 "source": (e.detail or {}).get("identity_source")} for e in events]
            return item
        await self.run(action)


Batch = list[dict[str, Any]]  # the signal events of one store change, as the page reads them


class _Feed:
    """One store subscription per server, fanned out to the open event streams (each an ``asyncio.Queue`` of
    batches; ``None`` in a queue: stop, or reload when the stream is still open). Queues live on the IOLoop."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[Batch | None]] = set()
        self.loop: IOLoop | None = None
        self.store: object | None = None

    def follow(self, remote: GateRemote, loop: IOLoop) -> None:
        """Subscribe to ``remote``'s store once (off the loop: the first subscribe reads the store)."""
        if self.store is not remote.store:
            self.loop = loop
            remote.subscribe(self.heard)
            self.store = remote.store

    def open(self) -> asyncio.Queue[Batch | None]:
        queue: asyncio.Queue[Batch | None] = asyncio.Queue(_QUEUE)
        self.queues.add(queue)
        return queue

    def heard(self, events: list[StoreEvent]) -> None:
        """The store's listener (its watcher thread): hand the signal events to the loop."""
        batch = [{"project": e.execution_id.project, "domain": e.execution_id.domain, "execution": e.execution_id.name,
                  "signal": e.signal_id, "event": e.kind, "state": e.state} for e in events if e.signal_id]
        if batch and self.loop is not None:
            self.loop.add_callback(self.fan_out, batch)

    def fan_out(self, batch: Batch) -> None:
        for queue in list(self.queues):
            self.put(queue, batch)

    @staticmethod
    def put(queue: asyncio.Queue[Batch | None], batch: Batch | None) -> None:
        """Queue ``batch``; a stream too slow to keep up gets ``None`` alone (it tells the page to reload)."""
        try:
            queue.put_nowait(batch)
        except asyncio.QueueFull:
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)


FEED = _Feed()


class EventsHandler(_Handler):
    """``text/event-stream`` of the signals that changed (``data: [{project, domain, execution, signal, event,
    state}]``; ``event: reload`` when the stream fell behind); ends after ``GateWidgets.inbox_stream_seconds``."""

    _track_activity = False  # an open inbox does not keep an idle server busy
    queue: asyncio.Queue[Batch | None] | None = None
    gone = False  # the browser closed the connection

    @web.authenticated
    @authorized
    async def get(self) -> None:
        loop = IOLoop.current()
        if len(FEED.queues) >= MAX_STREAMS:
            self.reply({"error": "TooManyStreams", "message": f"{MAX_STREAMS} inbox streams are open; "
                        "the page polls instead."}, 503)
            return
        self.queue = queue = FEED.open()  # its place taken before the first await: requests at once count it
        try:
            try:
                await self.off_loop(lambda: FEED.follow(self.remote(), loop))
            except (GateError, asyncio.TimeoutError) as exc:
                self.reply({"error": "StoreError", "message": f"The inbox cannot follow the store: {exc}"}, 503)
                return
            self.set_header("Content-Type", "text/event-stream")
            self.set_header("Cache-Control", "no-cache")
            self.set_header("X-Accel-Buffering", "no")
            end = loop.time() + settings.inbox_stream_seconds
            self.write("retry: 3000\n\n")
            await self.flush()
            while not self.gone and loop.time() < end:
                try:
                    batch = await asyncio.wait_for(queue.get(), timeout=min(KEEPALIVE, max(end - loop.time(), 0.1)))
                except asyncio.TimeoutError:
                    self.write(": keep-alive\n\n")
                else:
                    if self.gone:
                        break
                    self.write("event: reload\ndata: {}\n\n" if batch is None else f"data: {json.dumps(batch)}\n\n")
                await self.flush()
            if not self.gone:
                await self.finish(set_content_type="text/event-stream")
        except StreamClosedError:
            pass
        finally:
            FEED.queues.discard(queue)

    def on_connection_close(self) -> None:
        self.gone = True
        if self.queue is not None:
            FEED.put(self.queue, None)
        super().on_connection_close()


class PageHandler(JupyterHandler):
    """The inbox page (also for a decision's permanent link): behind Jupyter's login, which comes back here."""

    auth_resource = AUTH_RESOURCE

    @property
    def content_security_policy(self) -> str:
        return _CSP  # only this package's script and style; images only inline (evidence PNGs)

    @web.authenticated
    @authorized
    def get(self, *_decision: str) -> None:
        self.set_header("Cache-Control", "no-store")
        self.finish(_page().substitute(base_url=html.escape(self.base_url, quote=True),
                                       xsrf=html.escape(self.xsrf_token.decode("ascii"), quote=True)))


_PAGES: list[Template] = []


def _page() -> Template:
    """The page's HTML, its assets named with their content's hash (a new version is never served from a cache)."""
    if not _PAGES:
        version = hashlib.sha256(b"".join((STATIC / n).read_bytes() for n in ("inbox.js", "inbox.css"))).hexdigest()
        text = (STATIC / "inbox.html").read_text(encoding="utf-8")
        _PAGES.append(Template(text.replace("$version", version[:12])))
    return _PAGES[0]


def inbox_routes(base_url: str) -> list[tuple[str, type, dict[str, Any]] | tuple[str, type]]:
    """The URL patterns of the inbox under ``base_url``."""
    inbox = url_path_join(base_url, "gatewidgets", "inbox")
    part = "([^/]+)"
    return [
        (inbox, PageHandler),
        (url_path_join(inbox, "static", "(.*)"), web.StaticFileHandler, {"path": str(STATIC)}),
        (url_path_join(inbox, part, part, part, part), PageHandler),
        (url_path_join(inbox, "api", "items"), ItemsHandler),
        (url_path_join(inbox, "api", "items", part, part, part, part), ItemHandler),
        (url_path_join(inbox, "api", "events"), EventsHandler),
    ]
