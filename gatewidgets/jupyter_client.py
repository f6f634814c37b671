"""``GateRemote.for_jupyter(url, token=...)``: GateRemote's methods over a Jupyter server's signals API.

Uses only the standard library (``urllib``). Errors come back as the same gatewidgets
exceptions the server raised (``SignalTypeError``, ``SignalAlreadySetError``, ...);
a refused token raises ``PermissionError``. Values of returned signals are in JSON form.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from gatewidgets import errors
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus
from gatewidgets.models.signal import Signal
from gatewidgets.settings import settings
from gatewidgets.wire import execution_from_json, jsonable, signal_from_json

__all__ = ["JupyterGateRemote"]

_UNCHANGED: Any = object()  # approve(value=...) not given


class JupyterGateRemote:
    """A client of ``{url}/gatewidgets/api``; sets are recorded as the server's user, via ``http``."""

    def __init__(self, url: str, token: str | None = None, default_project: str | None = None,
                 default_domain: str | None = None, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        self.token = token if token is not None else query.get("token")
        self.base = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, parsed.path.rstrip("/"), "", ""))
        self.default_project = default_project or settings.default_project
        self.default_domain = default_domain or settings.default_domain
        self.timeout = timeout

    # transport -------------------------------------------------------------------

    def _request(self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None) -> Any:
        url = f"{self.base}/gatewidgets/api/{path}"
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise _error(exc) from None

    def _path(self, *parts: str) -> str:
        return "/".join(urllib.parse.quote(p, safe="") for p in parts)

    def _where(self, project: str | None, domain: str | None) -> tuple[str, str]:
        return project or self.default_project, domain or self.default_domain

    # reading ---------------------------------------------------------------------

    def list_signals(self, execution_name: str | None = None, project: str | None = None, domain: str | None = None,
                     limit: int | None = 100, state: str | list[str] | None = None, offset: int = 0) -> list[Signal]:
        """Signals of one execution, or of every execution of the project/domain; ``state`` filters."""
        project, domain = self._where(project, domain)
        states = ",".join([state] if isinstance(state, str) else state) if state else None
        data = self._request("GET", "signals", {"execution": execution_name, "project": project, "domain": domain,
                                                "limit": limit, "offset": offset or None, "state": states})
        return [signal_from_json(s) for s in data["signals"]]

    def get_signal(self, signal_id: str, execution_name: str, project: str | None = None,
                   domain: str | None = None) -> Signal:
        """One signal."""
        return signal_from_json(self._request("GET", "signals/" + self._path(
            *self._where(project, domain), execution_name, signal_id)))

    def list_executions(self, project: str | None = None, domain: str | None = None,
                        status: ExecutionStatus | str | None = None, limit: int | None = None) -> list[ExecutionRecord]:
        """Executions, newest first."""
        project, domain = self._where(project, domain)
        data = self._request("GET", "executions", {"project": project, "domain": domain,
                                                   "status": ExecutionStatus(status).value if status else None,
                                                   "limit": limit})
        return [execution_from_json(e) for e in data["executions"]]

    def get_execution(self, execution_name: str, project: str | None = None,
                      domain: str | None = None) -> ExecutionRecord:
        """One execution with its nodes."""
        return execution_from_json(self._request("GET", "executions/" + self._path(
            *self._where(project, domain), execution_name)))

    # writing ---------------------------------------------------------------------

    def _signal_post(self, signal_id: str, execution_name: str, project: str | None, domain: str | None,
                     suffix: str = "", body: Any = None) -> Signal:
        path = "signals/" + self._path(*self._where(project, domain), execution_name, signal_id) + suffix
        return signal_from_json(self._request("POST", path, body=body if body is not None else {}))

    def approve(self, signal_id: str, execution_name: str, project: str | None = None,
                domain: str | None = None, *, value: Any = _UNCHANGED, comment: str | None = None) -> Signal:
        """Set the boolean signal to ``True``; ``value`` changes an editable approval's value."""
        body: dict[str, Any] = {} if comment is None else {"comment": comment}
        if value is not _UNCHANGED:
            body["value"] = jsonable(value)
        return self._signal_post(signal_id, execution_name, project, domain, "/approve", body)

    def reject(self, signal_id: str, execution_name: str, project: str | None = None,
               domain: str | None = None, *, comment: str | None = None) -> Signal:
        """Set the boolean signal to ``False``."""
        return self._signal_post(signal_id, execution_name, project, domain, "/reject",
                                 {} if comment is None else {"comment": comment})

    def set_input(self, signal_id: str, execution_name: str, value: Any, project: str | None = None,
                  domain: str | None = None, python_type: Any = None, literal_type: Any = None) -> Signal:
        """Set a signal to ``value`` (sent in JSON form, validated strictly by the server)."""
        return self._signal_post(signal_id, execution_name, project, domain, body={"value": jsonable(value)})

    set_signal = set_input

    def set_text(self, signal_id: str, execution_name: str, text: str, project: str | None = None,
                 domain: str | None = None) -> Signal:
        """Set a signal from text, parsed by the server into the signal's type."""
        return self._signal_post(signal_id, execution_name, project, domain, body={"text": text})

    def abort(self, execution_name: str, project: str | None = None, domain: str | None = None) -> ExecutionRecord:
        """Abort an execution."""
        path = "executions/" + self._path(*self._where(project, domain), execution_name) + "/abort"
        return execution_from_json(self._request("POST", path, body={}))

    def __repr__(self) -> str:
        return f"JupyterGateRemote({self.base!r})"


def _error(exc: urllib.error.HTTPError) -> Exception:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        body = {}
    message = body.get("message") or f"HTTP {exc.code} {exc.reason}"
    if exc.code == 403:
        return PermissionError(f"The Jupyter server refused the request (403): {message}. Check the token.")
    cls = getattr(errors, str(body.get("error")), None)
    if isinstance(cls, type) and issubclass(cls, errors.GateError):
        return cls(message)
    return errors.GateError(f"HTTP {exc.code}: {message}")
