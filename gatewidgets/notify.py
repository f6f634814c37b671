"""Notifications: hear when a gate starts waiting, is decided, times out or is cancelled.

```python
from gatewidgets import notify
stop = notify.on("waiting", lambda n: print("waiting:", n.signal.signal_id))
hook = notify.webhook("https://chat.example/hooks/abc")       # POSTs JSON, retries, never blocks
slack = notify.webhook("https://hooks.slack.com/services/...", format="slack")  # a Block Kit message
```

A gate whose policy reminds (``remind_every``) or escalates (``escalate_after``) is announced ``waiting``
again each time, with the ``reason`` (``"reminder"``, ``"escalation"``) and who may answer it now.

Callbacks run on one notifier thread per store, webhooks on a thread of their own, so a
slow callback or a dead HTTP server never holds up a workflow. By default only gates of
executions run by this process are announced (``scope="all"``: every execution in the store).
A webhook is installed for ``GateWidgets.webhook_url`` (traitlets config) automatically, in
``GateWidgets.webhook_format``. With ``GateWidgets.public_url`` set, every notification links to the decision's
inbox page (``inbox_url``; Slack: a "Review" button): decisions are made there, behind login.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from gatewidgets import kinds
from gatewidgets.kinds import Answer
from gatewidgets.kinds.base import NO_DEFAULT
from gatewidgets.links import inbox_url
from gatewidgets.models.policy import who
from gatewidgets.models.signal import Signal
from gatewidgets.redirects import urlopen
from gatewidgets.settings import settings
from gatewidgets.slack import slack_message
from gatewidgets.store import StoreEvent, open_store
from gatewidgets.store.base import ExecutorStore, now
from gatewidgets.wire import jsonable, signal_to_json

__all__ = ["EVENTS", "Notification", "WebhookNotifier", "on", "webhook", "install_from_settings", "redact"]

log = logging.getLogger(__name__)

EVENTS = ("waiting", "decided", "timed_out", "cancelled")
FORMATS = ("gatewidgets", "slack")  # a webhook's body: gatewidgets' JSON, or Slack's incoming-webhook message
# the store's event -> (notification event, reason): a reminder or an escalation announces the gate waiting again
_FROM_STORE = {"reached": ("waiting", None), "reminded": ("waiting", "reminder"),
               "escalated": ("waiting", "escalation"), "set": ("decided", None), "timed_out": ("timed_out", None),
               "cancelled": ("cancelled", None)}


@dataclass(frozen=True)
class Notification:
    """One announcement: ``event`` is one of :data:`EVENTS`; ``signal`` is the signal as stored then; ``reason``
    why a waiting gate is announced again (``"reminder"``, ``"escalation"``; None the first time)."""

    event: str
    signal: Signal
    reason: str | None = None

    @property
    def inbox_url(self) -> str | None:
        """The decision's inbox page under ``GateWidgets.public_url`` (None when that is unset)."""
        s = self.signal
        try:
            return inbox_url(s.signal_id, s.id.execution_id)
        except ValueError:  # a name no URL path can carry ('.', '..')
            return None

    def to_slack(self) -> dict[str, Any]:
        """The body for a Slack incoming webhook (:func:`gatewidgets.slack.slack_message`)."""
        allowed = _waiting_for(self.signal)
        return slack_message(self.event, _summary(self), self.signal, self.inbox_url,
                             f"may be answered by {who(allowed, settings.groups)}" if allowed else None)

    def to_json(self) -> dict[str, Any]:
        """The webhook body: the event, the signal (as the HTTP API writes it: with who may answer, ``policy``,
        the ``approvals`` so far and the ``standing`` line), the answers its kind offers, the HTTP paths that
        answer it (``actions``: ``set`` and one per answer's verb the API takes) and the decision's ``inbox_url``
        (None without ``GateWidgets.public_url``)."""
        s = self.signal
        ex = s.id.execution_id
        path = f"/gatewidgets/api/signals/{ex.project}/{ex.domain}/{ex.name}/{urllib.parse.quote(s.signal_id, safe='')}"
        paths = {"set": path, "approve": f"{path}/approve", "reject": f"{path}/reject"}  # "end": no HTTP path
        answers = kinds.get(s.kind).answers(s)
        return {
            "event": self.event,
            "reason": self.reason,
            "assignees": list(_waiting_for(s)),
            "execution": {"project": ex.project, "domain": ex.domain, "name": ex.name},
            "signal": signal_to_json(s),
            "answers": [_answer_json(a, paths.get(a.action)) for a in answers],
            "actions": {"set": path} | {a.action: paths[a.action] for a in answers if a.action in paths},
            "text": _summary(self),
            "inbox_url": self.inbox_url,
        }


def _answer_json(answer: Answer, path: str | None) -> dict[str, Any]:
    """One answer as JSON: what it is called and does, and the path that gives it (None: not over HTTP)."""
    field = answer.field
    return {"label": answer.label, "style": answer.style, "action": answer.action, "value": jsonable(answer.value),
            "field": None if field is None else {"schema": field.schema, "files": field.files,
                                                 **({} if field.default is NO_DEFAULT else {"default": field.default})},
            "comment": answer.comment, "path": path}


def _waiting_for(signal: Signal) -> tuple[str, ...]:
    """Who may answer ``signal`` now (its policy's assignees, with ``escalate_to`` once escalated; () for anyone)."""
    policy = signal.policy
    return policy.assignees_at(signal.waiting_since, now()) if policy is not None else ()


def _summary(n: Notification) -> str:
    s = n.signal
    where = f"{s.signal_id!r} of execution {s.execution_name!r}"
    if n.event == "waiting":
        text = f"Gate {where} is waiting for {kinds.get(s.kind).waiting_text(s)}."
        if n.reason == "escalation" and s.policy is not None:
            text = f"Escalated to {who(s.policy.escalate_to, settings.groups)}: {text}"
        elif n.reason == "reminder":
            text = f"Reminder: {text}" + (f" Waiting for {who(_waiting_for(s), settings.groups)}."
                                          if _waiting_for(s) else "")
        return text
    if n.event == "decided":
        return f"Gate {where} was set to {s.value!r} by {s.set_by} via {s.via.value if s.via else '?'}."
    if n.event == "timed_out":
        return f"Gate {where} timed out."
    return f"Gate {where} was cancelled."


class _Dispatcher:
    """Turns one store's events into notifications for the registered callbacks, on its own thread."""

    def __init__(self, store: ExecutorStore) -> None:
        self.store = store
        self._callbacks: list[tuple[frozenset[str], Callable[[Notification], None], str]] = []
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[list[StoreEvent]] = queue.SimpleQueue()
        self._owned: dict[Any, bool] = {}
        self._thread = threading.Thread(target=self._run, name="gatewidgets-notify", daemon=True)
        self._thread.start()
        store.subscribe(self._queue.put)

    def add(self, events: frozenset[str], callback: Callable[[Notification], None], scope: str) -> Callable[[], None]:
        entry = (events, callback, scope)
        with self._lock:
            self._callbacks.append(entry)

        def remove() -> None:
            with self._lock:
                if entry in self._callbacks:
                    self._callbacks.remove(entry)

        return remove

    def _ours(self, event: StoreEvent) -> bool:
        owned = self._owned.get(event.execution_id)
        if owned is None:
            record = self.store.get_execution(event.execution_id, with_nodes=False)
            owned = self._owned[event.execution_id] = self.store.owns(record)
        return owned

    def _run(self) -> None:
        while True:
            events = self._queue.get()
            for event in events:
                kind, reason = _FROM_STORE.get(event.kind, (None, None))
                if kind is None or event.signal_id is None:
                    continue
                with self._lock:
                    targets = [(cb, scope) for evs, cb, scope in self._callbacks if kind in evs]
                if not targets:
                    continue
                try:
                    ours = self._ours(event)
                    note = Notification(kind, self.store.get_signal(event.execution_id, event.signal_id), reason)
                except Exception:
                    log.exception("gatewidgets could not read the signal of %s", event)
                    continue
                for callback, scope in targets:
                    if scope == "local" and not ours:
                        continue
                    try:
                        callback(note)
                    except Exception:
                        log.exception("gatewidgets notification callback %r failed", callback)


_dispatchers: dict[tuple[int, str], _Dispatcher] = {}
_dispatchers_lock = threading.Lock()


def _dispatcher(store: ExecutorStore | None) -> _Dispatcher:
    store = store or open_store()
    with _dispatchers_lock:
        key = (os.getpid(), store.path)
        if key not in _dispatchers:
            _dispatchers[key] = _Dispatcher(store)
        return _dispatchers[key]


def _events(events: str | Iterable[str]) -> frozenset[str]:
    chosen = frozenset([events] if isinstance(events, str) else events)
    unknown = sorted(chosen - set(EVENTS))
    if unknown or not chosen:
        raise ValueError(f"Unknown notification events {unknown or '(none)'}; choose from {list(EVENTS)}.")
    return chosen


def on(events: str | Iterable[str], callback: Callable[[Notification], None], *, scope: str = "local",
       store: ExecutorStore | None = None) -> Callable[[], None]:
    """Call ``callback(notification)`` for these events; returns a function that stops it.

    ``scope="local"``: executions run by this process; ``"all"``: every execution in the store.
    """
    if scope not in ("local", "all"):
        raise ValueError(f"scope must be 'local' or 'all', got {scope!r}.")
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}.")
    return _dispatcher(store).add(_events(events), callback, scope)


class WebhookNotifier:
    """POSTs each notification as JSON to ``url``, retrying with backoff, on a thread of its own."""

    def __init__(self, url: str, *, retries: int = 3, backoff: float = 0.5, timeout: float = 5.0,
                 headers: dict[str, str] | None = None, format: str = "gatewidgets") -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"A webhook URL must start with http:// or https://, got {url!r}.")
        if format not in FORMATS:
            raise ValueError(f"A webhook's format must be one of {FORMATS}, got {format!r}.")
        self.format = format
        self.url = url
        self.where = redact(url)
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.delivered = 0
        self.failed = 0
        self._queue: queue.SimpleQueue[Notification | None] = queue.SimpleQueue()
        self._idle = threading.Event()
        self._idle.set()
        self._stop: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._run, name="gatewidgets-webhook", daemon=True)
        self._thread.start()

    def __call__(self, notification: Notification) -> None:
        self._idle.clear()
        self._queue.put(notification)

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        with urlopen(request, self.timeout) as response:
            response.read()

    def _run(self) -> None:
        while True:
            if self._queue.empty():
                self._idle.set()
            note = self._queue.get()
            if note is None:
                self._idle.set()
                return
            self._deliver(note)

    def _deliver(self, note: Notification) -> None:
        """POST one notification, retrying; any failure is counted and logged, never raised (the thread lives on)."""
        try:
            body = json.dumps(note.to_slack() if self.format == "slack" else note.to_json()).encode()
        except Exception:
            self.failed += 1
            log.exception("gatewidgets webhook %s could not encode a notification", self.where)
            return
        for attempt in range(self.retries + 1):
            try:
                self._post(body)
                self.delivered += 1
                return
            except Exception as exc:  # OSError, URLError, HTTPException (a malformed response), ...
                if attempt == self.retries:
                    self.failed += 1
                    log.warning("gatewidgets webhook %s failed %d times: %s: %s", self.where, attempt + 1,
                                type(exc).__name__, _redacted(str(exc), self.url))
                else:
                    time.sleep(self.backoff * 2 ** attempt)

    def is_alive(self) -> bool:
        """Whether the delivery thread runs (until :meth:`close`)."""
        return self._thread.is_alive()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every queued notification was delivered or given up; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (self._idle.is_set() and self._queue.empty()):
            if deadline is not None and time.monotonic() > deadline:
                return False
            self._idle.wait(0.05)
        return True

    def close(self) -> None:
        """Stop listening; deliveries in flight finish."""
        if self._stop is not None:
            self._stop()
        self._queue.put(None)


def redact(url: str) -> str:
    """``scheme://host[:port]/…``: a webhook URL without what usually carries its secret (path, query, user)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}/…"


def _redacted(text: str, url: str) -> str:
    """``text`` with the secret parts of ``url`` (the URL, its path, query and credentials) replaced."""
    parts = urllib.parse.urlsplit(url)
    for secret in (url, parts.path + (f"?{parts.query}" if parts.query else ""), parts.query, parts.path,
                   parts.password, parts.username):
        if secret and secret != "/":
            text = text.replace(secret, "…")
    return text


def webhook(url: str, *, events: str | Iterable[str] = ("waiting", "decided", "timed_out"), scope: str = "local",
            store: ExecutorStore | None = None, **options: Any) -> WebhookNotifier:
    """Start POSTing notifications to ``url``; ``close()`` the result to stop."""
    notifier = WebhookNotifier(url, **options)
    notifier._stop = on(events, notifier, scope=scope, store=store)
    return notifier


_installed: dict[tuple[str, str], WebhookNotifier] = {}


def install_from_settings(store: ExecutorStore) -> WebhookNotifier | None:
    """Install the webhook of ``settings.webhook_url`` for ``store`` once (subscribed to the engine's
    ``store_opened``), on a SQLite file or a team's PostgreSQL database alike."""
    url = settings.webhook_url
    if not url:
        return None
    key = (store.path, url)
    if key not in _installed:
        _installed[key] = webhook(url, store=store, format=settings.webhook_format)
    return _installed[key]
