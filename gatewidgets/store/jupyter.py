"""``JupyterStore``: the store contract over a Jupyter server's signals API (``/gatewidgets/api``).

``GateRemote.for_jupyter(url, token=...)`` is a :class:`GateRemote` on it: values are
validated here and again by the server, which records sets as its user, via ``http``.
Files in a value are streamed from disk to the server first (``PUT files/{name}``, 256 KiB at a
time) and sent in the value as ``{"upload": "<id>"}``. Uses only the standard library
(``urllib``); the token never follows a redirect to another scheme, host or port
(:mod:`gatewidgets.redirects`). Errors come back as the same gatewidgets exceptions the server
raised (``SignalTypeError``, ``SignalAlreadySetError``, a policy's ``GateForbiddenError``, ...); a refused
token raises ``PermissionError``. The server decides as the token's user (the remote's own identity is not
sent), and each signal read keeps the server's judgement for that user (``Signal.decision``), which
``GateRemote.status`` uses. Values of returned signals are in JSON form. Filters the API does not take (it
takes ``state`` and ``kind``) are applied here with :meth:`Filter.matches`; the server cannot push, so
:meth:`JupyterStore.subscribe` polls.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import IO, Any, Callable, Iterable, Iterator, Mapping

from gatewidgets import errors
from gatewidgets.models.common import Sort
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus
from gatewidgets.models.filters import Filter, check_fields
from gatewidgets.models.policy import Ballot
from gatewidgets.models.signal import Signal, SignalEvent, SignalState, Via
from gatewidgets.redirects import urlopen
from gatewidgets.store.base import (
    ExecKey,
    StoreCapabilities,
    StoreEvent,
    UnsupportedError,
    page_signals,
)
from gatewidgets.store.polling import PollingStore
from gatewidgets.types import GateFile
from gatewidgets.wire import event_from_json, execution_from_json, signal_from_json

__all__ = ["JupyterStore"]

_PAGE = 500  # signals asked for per request when every match is needed
_CHUNK = 256 << 10  # bytes of a file read and sent at a time
_EVENT_OF_STATE = {SignalState.UPCOMING: "created", SignalState.PENDING: "reached", SignalState.SET: "set",
                   SignalState.TIMED_OUT: "timed_out", SignalState.CANCELLED: "cancelled"}


class JupyterStore(PollingStore):
    """The signals and executions a Jupyter server's gatewidgets extension serves.

    ``poll_interval``: seconds between polls for :meth:`subscribe` (executions and scopes listed so far).
    """

    capabilities = StoreCapabilities(stats=False, push=False, files=False)
    files_dir = ""  # files are not copied into this store (capability ``files``)

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0, poll_interval: float = 1.0) -> None:
        super().__init__(poll_interval, "gatewidgets-jupyter-poller")
        parsed = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        self.token = token if token is not None else query.get("token")
        self.base = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, parsed.path.rstrip("/"), "", ""))
        self.path = self.base
        self.timeout = timeout
        self.poll_interval = poll_interval
        self._watched: set[ExecKey] = set()
        self._scopes: set[tuple[str | None, str | None]] = set()
        self._known: dict[tuple[ExecKey, str], tuple[str, str | None]] = {}

    # transport -------------------------------------------------------------------

    def _request(self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None) -> Any:
        url = f"{self.base}/gatewidgets/api/{path}"
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        return self._send(method, url, data, {} if data is None else {"Content-Type": "application/json"})

    def _send(self, method: str, url: str, data: bytes | Iterable[bytes] | None, headers: dict[str, str]) -> Any:
        """Send a request with Jupyter's token; its JSON answer, or the server's error as a gatewidgets error."""
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        request.add_header("Accept", "application/json")
        if self.token:
            request.add_header("Authorization", f"token {self.token}")
        try:
            with urlopen(request, self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise _error(exc) from None

    def _path(self, *parts: str) -> str:
        return "/".join(urllib.parse.quote(p, safe="") for p in parts)

    def upload(self, file: GateFile) -> GateFile:
        """Stream ``file``'s bytes to the server's store (``PUT files/{name}``), reading them from disk a
        chunk at a time; ``file`` as a reference to the upload (JSON form ``{"upload": "<id>"}``), which
        one signal value may use within the server's ``GateWidgets.http_upload_ttl``."""
        url = f"{self.base}/gatewidgets/api/files/{self._path(file.name)}"
        with file.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END) if fh.seekable() else None
            if size is not None:
                fh.seek(0)
            headers = {"Content-Type": "application/octet-stream"}
            if size is not None:
                headers["Content-Length"] = str(size)  # else urllib sends the body chunked
            try:
                data = self._send("PUT", url, _read(fh, size, file.name), headers)
            except (urllib.error.URLError, ConnectionError) as exc:
                if not isinstance(getattr(exc, "reason", exc), ConnectionError):
                    raise
                raise errors.SignalTypeError(
                    f"The Jupyter server closed the connection while receiving file {file.name!r} ({size} bytes): "
                    "most likely it is larger than the server's GateWidgets.max_upload_bytes.") from None
        return file.as_upload(data["upload"])

    # signals -----------------------------------------------------------------------

    def _matching(self, key: ExecKey | None, project: str | None, domain: str | None,
                  filters: list[Filter]) -> list[Signal]:
        """Every matching signal from the API: ``state``/``kind`` filters sent along, the others applied here."""
        check_fields(filters)
        query: dict[str, Any] = ({"execution": key.name, "project": key.project, "domain": key.domain}
                                 if key is not None else {"project": project, "domain": domain})
        for field in ("state", "kind"):
            sent = [f for f in filters if f.key == field and f.function in ("eq", "value_in")]
            if sent:
                query[field] = sent[0].value if sent[0].function == "eq" else ",".join(sent[0].value)
        if key is not None:
            with self._lock:
                self._watched.add(key)
        else:
            with self._lock:
                self._scopes.add((project, domain))
        rows: list[Signal] = []
        while True:  # every page: the API's limit applies before the filters applied here
            data = self._request("GET", "signals", query | {"limit": _PAGE, "offset": len(rows) or None})
            rows += [signal_from_json(s) for s in data["signals"]]
            if not data["signals"] or len(rows) >= data["total"]:
                break
        return [s for s in rows if all(f.matches(s) for f in filters)]  # sent ones again: harmless

    def list_signals(self, key: ExecKey | None = None, *, project: str | None = None, domain: str | None = None,
                     filters: Iterable[Filter] = (), sort_by: Sort | None = None, limit: int | None = 100,
                     offset: int = 0) -> list[Signal]:
        """Signals of one execution, or across executions of ``project``/``domain``; filters, then limit."""
        signals = self._remember(self._matching(key, project, domain, list(filters)))
        return page_signals(signals, sort_by, limit, offset)

    def _remember(self, signals: list[Signal]) -> list[Signal]:
        """The first sight of each signal is the poller's baseline: a later change is an event."""
        with self._lock:
            for s in signals:
                self._known.setdefault((s.id.execution_id, s.signal_id), _seen(s))
        return signals

    def get_signal(self, key: ExecKey, signal_id: str) -> Signal:
        """One signal."""
        return signal_from_json(self._request("GET", "signals/" + self._path(*_parts(key), signal_id)))

    def set_signal(self, key: ExecKey, signal_id: str, value: Any, identity: str, *, set_by: str,
                   via: Via | str, describe: Callable[[Any], str] = repr,
                   detail: dict[str, Any] | None = None, read: Signal | None = None,
                   ballot: Ballot | None = None) -> tuple[Signal, bool]:
        """POST the value (JSON form, each file streamed first with :meth:`upload`: the server reads no paths
        of the client's);
        the server validates it, decides first-answer-wins and records its own user, via ``http``
        (``set_by`` and ``via`` given here are not sent); ``read`` spares the read before. A decision with a
        ``detail`` (its comment, an
        editable approval's changed value) goes to the server's ``approve`` / ``reject``."""
        before = read if read is not None else self.get_signal(key, signal_id)
        path = "signals/" + self._path(*_parts(key), signal_id)
        if detail or (ballot is not None and ballot.action in ("approve", "reject")):
            detail = detail or {}
            body = {"comment": detail["comment"]} if "comment" in detail else {}
            if "approved_value" in detail:
                body["value"] = self._uploaded(key, signal_id, before.edit_type, detail["approved_value"])
            if ballot is not None and ballot.seen is not None:
                body["evidence_hash"] = ballot.seen
            path += "/approve" if value is True else "/reject"
        else:
            body = {"value": self._uploaded(key, signal_id, before.type_record, value)}
        signal = signal_from_json(self._request("POST", path, body=body))
        kind = "approved" if signal.state.is_open else "set"  # a partial approval towards a quorum leaves it open
        self._dispatch([StoreEvent(next(self._ids), kind, key, signal_id, signal.state.value)])
        return signal, before.state.is_open

    def _uploaded(self, key: ExecKey, signal_id: str, record: Mapping[str, Any] | None, value: Any) -> Any:
        """``value`` (the JSON form of type ``record``) with each of its files streamed first (:meth:`upload`)."""
        return self.gate_type(key, signal_id, record).map_files(value, self.upload) if record else value

    # executions --------------------------------------------------------------------

    def list_executions(self, project: str | None = None, domain: str | None = None, status: str | None = None,
                        limit: int | None = None) -> list[ExecutionRecord]:
        """Executions, newest first."""
        data = self._request("GET", "executions", {"project": project, "domain": domain,
                                                   "status": ExecutionStatus(status).value if status else None,
                                                   "limit": limit})
        return [execution_from_json(e) for e in data["executions"]]

    def get_execution(self, key: ExecKey, *, with_nodes: bool = True) -> ExecutionRecord:
        """One execution with its nodes."""
        return execution_from_json(self._request("GET", "executions/" + self._path(*_parts(key))))

    def owner_alive(self, record: ExecutionRecord) -> bool | None:
        """Unknown here: the server decides when asked to abort."""
        return None

    def request_abort(self, key: ExecKey) -> bool:
        """Abort through the server (which marks an orphan ``ABORTED`` or asks its process)."""
        self._request("POST", "executions/" + self._path(*_parts(key)) + "/abort", body={})
        return True

    def finish_execution(self, key: ExecKey, status: ExecutionStatus, *, outputs: Any = None,
                         error: str | None = None) -> list[str]:
        raise UnsupportedError(self, "run", "the server's store ends executions; use GateRemote.abort(...)")

    def history(self, key: ExecKey, signal_id: str | None = None) -> list[SignalEvent]:
        """Every event of an execution (or of one signal), oldest first."""
        data = self._request("GET", "executions/" + self._path(*_parts(key)) + "/history", {"signal": signal_id})
        return [event_from_json(e, key, i) for i, e in enumerate(data["events"], 1)]

    def stats(self, project: str | None = None, domain: str | None = None) -> dict[str, Any]:
        raise UnsupportedError(self, "stats", "the server publishes metrics as Prometheus text at /gatewidgets/metrics")

    # events --------------------------------------------------------------------------

    def poll_once(self) -> list[StoreEvent]:
        """Read the watched executions and scopes once; dispatch what changed since the last poll."""
        with self._lock:
            scopes, watched = set(self._scopes), set(self._watched)
        signals = [s for p, d in scopes for s in self._matching(None, p, d, [])]
        signals += [s for key in watched for s in self._matching(key, None, None, [])]
        events: list[StoreEvent] = []
        for s in signals:
            mark, now_seen = (s.id.execution_id, s.signal_id), _seen(s)
            with self._lock:
                before = self._known.get(mark)
                self._known[mark] = now_seen
            if before != now_seen:  # changed, or new since the last look
                events.append(StoreEvent(next(self._ids), _EVENT_OF_STATE[s.state], s.id.execution_id, s.signal_id,
                                         s.state.value, local=False))
        self._dispatch(events)
        return events

    def __repr__(self) -> str:
        return f"JupyterStore({self.base!r})"


def _read(fh: IO[bytes], size: int | None, name: str) -> Iterator[bytes]:
    """``fh``'s bytes, ``_CHUNK`` at a time: ``size`` of them when it is known (a file that grows is cut
    there; one that shrinks raises, rather than leave the server waiting for the rest)."""
    sent = 0
    while size is None or sent < size:
        chunk = fh.read(_CHUNK if size is None else min(_CHUNK, size - sent))
        if not chunk:
            break
        sent += len(chunk)
        yield chunk
    if size is not None and sent < size:
        raise errors.SignalTypeError(f"file {name!r} shrank from {size} to {sent} bytes while it was uploaded; "
                                     "send it again")


def _seen(signal: Signal) -> tuple[str, str | None]:
    """What the poller compares: state and when it was set."""
    return signal.state.value, signal.set_at.isoformat() if signal.set_at else None


def _parts(key: ExecKey) -> tuple[str, str, str]:
    return key.project, key.domain, key.name


def _error(exc: urllib.error.HTTPError) -> Exception:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        body = {}
    message = body.get("message") or f"HTTP {exc.code} {exc.reason}"
    cls = getattr(errors, str(body.get("error")), None)
    if isinstance(cls, type) and issubclass(cls, errors.GateError):  # a policy's refusal: GateForbiddenError
        return cls(message)
    if exc.code == 403:
        return PermissionError(f"The Jupyter server refused the request (403): {message}. Check the token.")
    return errors.GateError(f"HTTP {exc.code}: {message}")
