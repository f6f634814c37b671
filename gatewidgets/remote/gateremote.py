"""``GateRemote``: the one way to list and set signals, FlyteRemote-compatible.

Widgets, magics, the command line and the HTTP handlers all call it; it validates
every value against the signal's stored type before anything is written, and
records who set it and through which face.
"""
from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

from gatewidgets import kinds
from gatewidgets.errors import SignalTypeError, StoreError
from gatewidgets.models.common import Sort, SortOrdering
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus, WorkflowExecutionIdentifier, check_name
from gatewidgets.models.filters import parse_filters
from gatewidgets.models.policy import Ballot, Identity, approvals_of, may_answer, standing
from gatewidgets.models.signal import Signal, SignalEvent, SignalIdentifier, SignalKind, Via
from gatewidgets.models.types import LiteralType, SimpleType
from gatewidgets.remote.config import RemoteConfig
from gatewidgets.remote.status import DecisionStatus
from gatewidgets.remote.values import check_size, is_structure, json_size, naming, unread_files
from gatewidgets.settings import settings
from gatewidgets.store import open_store
from gatewidgets.store.base import Listener, RemoteStore, StoreCapabilities, store_capabilities
from gatewidgets.store.jupyter import JupyterStore
from gatewidgets.types import GateType
from gatewidgets.types.file import also_readable, file_access
from gatewidgets.wire import execution_to_json, jsonable

__all__ = ["GateRemote", "FlyteRemote", "UNCHANGED", "MAX_COMMENT", "ANY"]

_F = TypeVar("_F", bound=Callable[..., Any])
ANY = "*"  # listings across executions: every project, or every domain


def _reading_files(method: _F) -> _F:
    """Run ``method`` under the remote's file access: its allowed folders and ``settings.max_upload_bytes``."""
    @functools.wraps(method)
    def run(self: GateRemote, *args: Any, **kwargs: Any) -> Any:
        with file_access(self.file_dirs, settings.max_upload_bytes):
            return method(self, *args, **kwargs)
    return run  # type: ignore[return-value]


UNCHANGED: Any = type("Unchanged", (), {"__repr__": lambda self: "UNCHANGED"})()  # approve(value=...) not given
MAX_COMMENT = 2000  # characters of a decision's comment


class GateRemote:
    """List and set signals of executions in a store, from any process.

    ``store`` is any :class:`gatewidgets.store.base.RemoteStore` (a path opens the SQLite store
    there); what it can do is :attr:`capabilities`. ``user`` and ``via`` are recorded with every
    signal set; faces use :meth:`with_face`. Who decides is :attr:`identity`: this process's user
    (``JUPYTERHUB_USER`` in a hub's kernel, else the OS user), a ``user`` the caller names (recorded as
    ``claimed``), or the ``identity`` a face established (the Jupyter server's login). ``file_dirs``: the folders
    whose files a value may name by local path (symlinks resolved); ``None`` (default) any file this process can
    read, ``()`` none (uploaded bytes only, as over HTTP).
    """

    store: RemoteStore

    def __init__(self, config: RemoteConfig | None = None, default_project: str | None = None,
                 default_domain: str | None = None, *, store: RemoteStore | str | None = None,
                 user: str | None = None, via: Via | str = Via.API,
                 file_dirs: Sequence[str] | None = None, identity: Identity | None = None) -> None:
        config = config or RemoteConfig()
        if config.endpoint is not None and store is None:
            from gatewidgets.store.flyte import FlyteStore  # needs gatewidgets[flyte]; imported only here

            store = FlyteStore.for_endpoint(config.endpoint, insecure=config.insecure,
                                            default_project=default_project, default_domain=default_domain)
        if store is None or isinstance(store, str):
            store = open_store(store or config.store)
        self.store = store
        self.default_project = default_project or settings.default_project
        self.default_domain = default_domain or settings.default_domain
        self.identity = identity or _identity(user)
        self.user = self.identity.user
        self.via = Via(via)
        self.file_dirs = None if file_dirs is None else tuple(file_dirs)

    @classmethod
    def for_sandbox(cls, default_project: str | None = None, default_domain: str | None = None,
                    **kwargs: Any) -> GateRemote:
        """The remote of this machine's default store."""
        return cls(RemoteConfig.for_sandbox(), default_project, default_domain, **kwargs)

    @classmethod
    def for_endpoint(cls, endpoint: str, insecure: bool = False, default_project: str | None = None,
                     default_domain: str | None = None, **kwargs: Any) -> GateRemote:
        """The remote of a Flyte admin at ``endpoint`` (needs ``gatewidgets[flyte]``).

        ``flyte_poll_interval`` (seconds, default 2), ``data_upload_location`` (where files are
        uploaded) and ``page_size`` go to the ``FlyteStore``; ``user`` and ``via`` to the remote.
        """
        from gatewidgets.store.flyte import FlyteStore

        store_kwargs = {k: kwargs.pop(k) for k in ("flyte_poll_interval", "data_upload_location", "page_size",
                                                   "max_executions", "files_dir") if k in kwargs}
        store = FlyteStore.for_endpoint(endpoint, insecure=insecure, default_project=default_project,
                                        default_domain=default_domain, **store_kwargs)
        return cls(RemoteConfig.for_endpoint(endpoint, insecure), default_project, default_domain, store=store,
                   **kwargs)

    @classmethod
    def from_flyte(cls, flyte_remote: Any, **kwargs: Any) -> GateRemote:
        """A remote on the Flyte admin of a flytekit ``FlyteRemote`` (its defaults, client and uploads)."""
        from gatewidgets.store.flyte import FlyteStore

        store_kwargs = {k: kwargs.pop(k) for k in ("flyte_poll_interval", "page_size", "max_executions",
                                                   "files_dir") if k in kwargs}
        project = kwargs.pop("default_project", None) or flyte_remote.default_project
        domain = kwargs.pop("default_domain", None) or flyte_remote.default_domain
        return cls(None, project, domain, store=FlyteStore(flyte_remote, **store_kwargs), **kwargs)

    @classmethod
    def for_flyte2(cls, endpoint: str | None = None, *, project: str | None = None, domain: str | None = None,
                   insecure: bool = False, **kwargs: Any) -> GateRemote:
        """The remote of the conditions of Flyte 2 runs on a cluster (needs ``gatewidgets[flyte2]``).

        With ``endpoint``, calls ``flyte.init(endpoint=..., project=..., domain=..., insecure=..., **init)``;
        without, uses the ``flyte.init(...)`` already made. Execution names are run names.
        ``flyte_poll_interval`` (seconds, default 2), ``page_size``, ``max_executions`` and ``init``
        go to the ``Flyte2Store``; ``user`` and ``via`` to the remote.
        """
        from gatewidgets.store.flyte2 import Flyte2Store

        store_kwargs = {k: kwargs.pop(k) for k in ("flyte_poll_interval", "page_size", "max_executions", "init")
                        if k in kwargs}
        store = Flyte2Store.for_endpoint(endpoint, project=project, domain=domain, insecure=insecure, **store_kwargs)
        return cls(None, store.project, store.domain, store=store, **kwargs)

    @classmethod
    def for_jupyter(cls, url: str, token: str | None = None, **kwargs: Any) -> GateRemote:
        """A remote on a Jupyter server's ``/gatewidgets/api`` (a ``JupyterStore``; ``url`` may carry ``?token=``)."""
        store = JupyterStore(url, token, kwargs.pop("timeout", 30.0))
        return cls(None, kwargs.pop("default_project", None), kwargs.pop("default_domain", None), store=store,
                   via=kwargs.pop("via", Via.HTTP), **kwargs)

    @property
    def capabilities(self) -> StoreCapabilities:
        """What the store behind this remote can do (``history``, ``stats``, ``push``, ...)."""
        return store_capabilities(self.store)

    def with_face(self, via: Via | str, user: str | None = None, identity: Identity | None = None) -> GateRemote:
        """A copy that records sets as made through ``via`` (widget, magic, cli, http) by ``identity`` (as the face
        established it), or by ``user`` (claimed), else by this remote's identity."""
        clone = object.__new__(GateRemote)
        clone.__dict__.update(self.__dict__)
        clone.via = Via(via)
        clone.identity = identity or (_identity(user) if user else self.identity)
        clone.user = clone.identity.user
        return clone

    def member_of(self, identity: Identity | None = None) -> frozenset[str]:
        """The groups ``identity`` (default: this remote's) is in: ``GateWidgets.groups`` and those its
        authority vouches for (JupyterHub's)."""
        identity = identity or self.identity
        configured = {name for name, members in (settings.groups or {}).items() if identity.user in members}
        return frozenset(configured | set(identity.groups))

    def _ballot(self, action: str, value_key: str = "", comment: str | None = None,
                seen: str | None = None) -> Ballot:
        return Ballot(self.identity, self.via.value, action, value_key, self.member_of(), comment, seen)

    def status(self, signal: Signal, record: ExecutionRecord | None = None,
               action: str | None = None) -> DecisionStatus:
        """Where ``signal``'s decision stands, and whether this remote's identity may answer it (``record``: its
        execution, when the caller has read it already; ``action``: ``approve``, ``reject``, ``set`` or ``end``,
        default the signal's main answer: ``approve`` for an approval, else ``set``). A signal read from a Jupyter
        server (``for_jupyter``) carries the server's judgement for the token's user, which is used as is: the
        server decides as that user, not as this process's."""
        if signal.decision is not None:
            return DecisionStatus.from_json(signal.decision, action, signal.state.is_open)
        policy = signal.policy
        launched_by = None
        if policy is not None:
            launched_by = (record or self.launch_record(signal)).launched_by
        now = datetime.now(timezone.utc)
        main = "approve" if signal.kind is SignalKind.APPROVE else "set"
        actions = {a: may_answer(policy, self.identity, self.member_of(), launcher=launched_by.user if launched_by
                                 else None, action=a, waiting_since=signal.waiting_since, now=now,
                                 groups=settings.groups)
                   for a in dict.fromkeys((action or main, main, *(("reject",) if main == "approve" else ())))}
        why_not = actions[action or main]
        return DecisionStatus(policy, tuple(approvals_of(signal.context)),
                              standing(policy, signal.context, waiting_since=signal.waiting_since, now=now,
                                       groups=settings.groups),
                              why_not is None and signal.state.is_open, why_not, launched_by, actions,
                              self.identity.user)

    def launch_record(self, signal: Signal) -> ExecutionRecord:
        """The execution of ``signal``, without its nodes: who launched it (which never changes, so a face that
        shows a signal's :meth:`status` again keeps it)."""
        return self.store.get_execution(signal.id.execution_id, with_nodes=False)

    def statuses(self, signals: Sequence[Signal]) -> list[DecisionStatus]:
        """:meth:`status` of each of ``signals``, reading each execution whose signals have a policy once."""
        records: dict[WorkflowExecutionIdentifier, ExecutionRecord] = {}
        out = []
        for signal in signals:
            key = signal.id.execution_id
            if signal.decision is None and (signal.context or {}).get("policy") and key not in records:
                records[key] = self.launch_record(signal)
            out.append(self.status(signal, records.get(key)))
        return out

    def waiting_for_me(self, project: str | None = None, domain: str | None = None, limit: int | None = 100,
                       offset: int = 0, *, execution_name: str | None = None, filters: Any = None) -> list[Signal]:
        """Pending signals that this remote's identity may answer, newest first, ``offset`` of them skipped:
        across executions, or of ``execution_name``; ``filters`` as for :meth:`list_signals`. Read page by page,
        so a few allowed ones among many pending cost a bounded number of reads per page."""
        mine: list[Signal] = []
        wanted = None if limit is None else offset + limit
        page, start = 500, 0
        while wanted is None or len(mine) < wanted:
            batch = self.list_signals(execution_name, project, domain, limit=page, offset=start,
                                      filters=[filters, "eq(state,PENDING)"],
                                      sort_by=Sort("waiting_since", SortOrdering.DESCENDING))
            mine += [s for s, status in zip(batch, self.statuses(batch)) if status.may_answer]
            if len(batch) < page:
                break
            start += page
        return mine[offset:wanted]

    def _scope(self, project: str | None, domain: str | None) -> tuple[str, str]:
        """``(project, domain)``, defaults filled in, both checked as names (``InvalidNameError``)."""
        return (check_name(project or self.default_project, "project"),
                check_name(domain or self.default_domain, "domain"))

    def _listing(self, project: str | None, domain: str | None) -> tuple[str | None, str | None]:
        """The scope of a listing across executions: as :meth:`_scope`, with :data:`ANY` (``"*"``) for every
        project or domain (None to the store)."""
        checked = self._scope(None if project == ANY else project, None if domain == ANY else domain)
        return (None if project == ANY else checked[0]), (None if domain == ANY else checked[1])

    def _key(self, execution_name: str, project: str | None, domain: str | None) -> WorkflowExecutionIdentifier:
        return WorkflowExecutionIdentifier(*self._scope(project, domain), check_name(execution_name, "execution_name"))

    # reading ---------------------------------------------------------------------

    def list_signals(self, execution_name: str | None = None, project: str | None = None,
                     domain: str | None = None, limit: int | None = 100, filters: Any = None,
                     sort_by: Sort | None = None, offset: int = 0) -> list[Signal]:
        """Signals of one execution (declaration order), or of every execution when ``execution_name`` is None.

        ``filters``: flytekit syntax (``Filter.from_python_std("eq(state,PENDING)")``, a string,
        or a list). The limit applies after filtering. Across executions, ``project`` / ``domain`` ``"*"`` (:data:`ANY`)
        lists every project / domain.
        """
        parsed = parse_filters(filters)
        if execution_name is None:
            project, domain = self._listing(project, domain)
            return self.store.list_signals(None, project=project, domain=domain, filters=parsed,
                                           sort_by=sort_by, limit=limit, offset=offset)
        return self.store.list_signals(self._key(execution_name, project, domain), filters=parsed,
                                       sort_by=sort_by, limit=limit, offset=offset)

    def count_signals(self, execution_name: str | None = None, project: str | None = None,
                      domain: str | None = None, filters: Any = None) -> int:
        """How many signals match, before any limit."""
        parsed = parse_filters(filters)
        key = self._key(execution_name, project, domain) if execution_name is not None else None
        project, domain = self._listing(project, domain)
        return self.store.count_signals(key, project=project, domain=domain, filters=parsed)

    def get_signal(self, signal_id: str, execution_name: str, project: str | None = None,
                   domain: str | None = None) -> Signal:
        """One signal, with its state, value and audit fields."""
        return self.store.get_signal(self._key(execution_name, project, domain), signal_id)

    def list_executions(self, project: str | None = None, domain: str | None = None,
                        status: ExecutionStatus | str | None = None, limit: int | None = None) -> list[ExecutionRecord]:
        """Executions in the store, newest first (``project`` / ``domain`` ``"*"``: every one)."""
        return self.store.list_executions(*self._listing(project, domain),
                                          ExecutionStatus(status).value if status else None, limit)

    def get_execution(self, execution_name: str, project: str | None = None,
                      domain: str | None = None) -> ExecutionRecord:
        """One execution with its nodes."""
        return self.store.get_execution(self._key(execution_name, project, domain))

    def is_orphaned(self, record: ExecutionRecord) -> bool:
        """A running execution whose process is gone (so nothing advances it until recovered)."""
        return record.status is ExecutionStatus.RUNNING and self.store.owner_alive(record) is False

    def execution_listing(self, record: ExecutionRecord) -> dict[str, Any]:
        """An execution as listings show it, in JSON: its record with nodes, ``orphaned`` and ``pending_signals``."""
        if not record.nodes:  # listings read executions without their nodes
            record = self.get_execution(record.name, record.id.project, record.id.domain)
        pending = self.count_signals(record.name, record.id.project, record.id.domain, filters=["eq(state,PENDING)"])
        return execution_to_json(record) | {"orphaned": self.is_orphaned(record), "pending_signals": pending}

    def history(self, execution_name: str, project: str | None = None, domain: str | None = None,
                signal_id: str | None = None) -> list[SignalEvent]:
        """Every event of an execution's signals, oldest first (``UnsupportedError`` without capability ``history``)."""
        return self.store.history(self._key(execution_name, project, domain), signal_id)

    def stats(self, project: str | None = None, domain: str | None = None) -> dict[str, Any]:
        """Raw figures behind :func:`gatewidgets.metrics.metrics` for one project and domain (capability ``stats``)."""
        return self.store.stats(*self._scope(project, domain))

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(events)`` when signals or executions change, here or in another process."""
        return self.store.subscribe(listener)

    # writing ---------------------------------------------------------------------

    def approve(self, signal_id: str, execution_name: str, project: str | None = None,
                domain: str | None = None, *, value: Any = UNCHANGED, comment: str | None = None,
                value_form: str = "python", evidence_hash: str | None = None) -> Signal:
        """Set the boolean signal to ``True``, with an optional ``comment`` (the reason).

        ``value`` changes the approved value of an ``approve(..., editable=True)`` gate (validated
        against the upstream type; refused with ``SignalTypeError`` on other gates). Faces pass
        it as typed text (``value_form="text"``) or JSON (``"json"``). ``evidence_hash``: the
        ``Signal.evidence_hash`` the approver was shown; if the stored evidence differs now, the
        decision is refused (``GateForbiddenError``). Under a ``quorum`` the signal stays open until
        enough people approved; the returned signal shows the approvals so far.
        """
        return self._decide(signal_id, execution_name, project, domain, True, comment, value, value_form,
                            evidence_hash)

    def reject(self, signal_id: str, execution_name: str, project: str | None = None,
               domain: str | None = None, *, comment: str | None = None, evidence_hash: str | None = None) -> Signal:
        """Set the boolean signal to ``False``, with an optional ``comment`` (the reason); ``evidence_hash`` as for
        :meth:`approve`."""
        return self._decide(signal_id, execution_name, project, domain, False, comment,
                            evidence_hash=evidence_hash)

    @_reading_files
    def _decide(self, signal_id: str, execution_name: str, project: str | None, domain: str | None,
                value: bool, comment: str | None = None, edited: Any = UNCHANGED,
                value_form: str = "python", evidence_hash: str | None = None) -> Signal:
        signal = self.get_signal(signal_id, execution_name, project, domain)
        verb = "approve" if value else "reject"
        if kinds.get(signal.kind).ends_by_itself:
            raise SignalTypeError(
                f"Cannot {verb} signal {signal_id!r} of execution {execution_name!r}: it is a sleep. End it early "
                f"with {self._suggest('end-sleep', signal_id, execution_name)}."
            )
        if signal.type.simple is not SimpleType.BOOLEAN:
            raise SignalTypeError(
                f"Cannot {verb} signal {signal_id!r} of execution {execution_name!r}: it expects "
                f"{signal.type}, not a yes/no answer. Set it instead: "
                f"{self._suggest('set', signal_id, execution_name, 'VALUE')}."
            )
        detail: dict[str, Any] = {}
        if comment is not None:
            if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
                raise SignalTypeError(f"A comment must be text of at most {MAX_COMMENT} characters, got "
                                      f"{type(comment).__name__} of length {len(str(comment))}.")
            if comment.strip():
                detail["comment"] = comment.strip()
        if edited is not UNCHANGED:
            detail.update(self._edited(signal, edited, value_form))
        gate_type = self._type(signal)
        form = self._ingest(signal, gate_type, value)
        identity = gate_type.identity(form)
        if "approved_value" in detail:
            identity += "|" + json.dumps(detail["approved_value"], sort_keys=True, separators=(",", ":"))
        ballot = self._ballot("approve" if value else "reject", identity, detail.get("comment"), evidence_hash)
        stored, _changed = self.store.set_signal(
            signal.id.execution_id, signal.signal_id, form, identity, set_by=self.user, via=self.via,
            describe=lambda v: repr(gate_type.to_python(v)), detail=detail or None, read=signal, ballot=ballot)
        return stored

    def _edited(self, signal: Signal, value: Any, form: str) -> dict[str, Any]:
        """``{"original", "approved_value"}`` for a changed editable approval (empty if unchanged)."""
        where = f"signal {signal.signal_id!r} of execution {signal.execution_name!r}"
        if signal.edit_type is None:
            raise SignalTypeError(
                f"Cannot approve {where} with a changed value: its gate is not editable. Approve it as it is, or "
                "declare approve(..., editable=True) in the workflow."
            )
        edit_type = GateType.from_record(signal.edit_type)
        original = signal.original
        with also_readable(unread_files(edit_type, original)[1]):  # the workflow's own files, named back unchanged
            approved = self._ingest(signal, edit_type, value, form)
        if original is not None and edit_type.identity(approved) == edit_type.identity(original):
            return {}
        return {"original": original, "approved_value": approved}

    @_reading_files
    def set_input(self, signal_id: str, execution_name: str, value: Any, project: str | None = None,
                  domain: str | None = None, python_type: Any = None,
                  literal_type: LiteralType | None = None) -> Signal:
        """Set a signal to a Python value, validated strictly against the signal's type."""
        key = self._key(execution_name, project, domain)
        if python_type is None and literal_type is None:
            known = self.store.live_type(key, signal_id)
            if known is not None and known[1].plain is not None and not kinds.get(known[0]).ends_by_itself:
                return self._set_plain(SignalIdentifier(signal_id, key), known[1], value)
        signal = self.store.get_signal(key, signal_id)
        if kinds.get(signal.kind).ends_by_itself:
            raise SignalTypeError(
                f"Signal {signal_id!r} of execution {execution_name!r} is a sleep. End it early with "
                f"{self._suggest('end-sleep', signal_id, execution_name)}."
            )
        if python_type is not None:
            try:
                expected = GateType.of(python_type).literal_type
            except TypeError as exc:
                raise SignalTypeError(f"python_type {python_type!r} is not supported: {exc}") from None
            if expected != signal.type:
                raise SignalTypeError(
                    f"Signal {signal_id!r} of execution {execution_name!r} expects {signal.type}, but "
                    f"python_type says {expected}. Pass the signal's type (or none)."
                )
        if literal_type is not None and literal_type != signal.type:
            raise SignalTypeError(
                f"Signal {signal_id!r} of execution {execution_name!r} expects {signal.type}, but literal_type "
                f"says {literal_type}."
            )
        return self._set(signal, value)

    set_signal = set_input

    @_reading_files
    def set_text(self, signal_id: str, execution_name: str, text: str, project: str | None = None,
                 domain: str | None = None) -> Signal:
        """Set a signal from text typed by a person (widget field, magic, command line, HTTP form)."""
        signal = self.get_signal(signal_id, execution_name, project, domain)
        if kinds.get(signal.kind).ends_by_itself:
            return self.end_sleep(signal_id, execution_name, project, domain)
        return self._set(signal, text, "text")

    @_reading_files
    def set_json(self, signal_id: str, execution_name: str, value: Any, project: str | None = None,
                 domain: str | None = None) -> Signal:
        """Set a signal to a value in JSON form (an HTTP body), validated strictly against its type."""
        signal = self.get_signal(signal_id, execution_name, project, domain)
        if kinds.get(signal.kind).ends_by_itself:
            return self.end_sleep(signal_id, execution_name, project, domain)
        return self._set(signal, value, "json")

    def end_sleep(self, signal_id: str, execution_name: str, project: str | None = None,
                  domain: str | None = None) -> Signal:
        """End a sleep gate now."""
        signal = self.get_signal(signal_id, execution_name, project, domain)
        if not kinds.get(signal.kind).ends_by_itself:
            raise SignalTypeError(f"Signal {signal_id!r} of execution {execution_name!r} is not a sleep.")
        return self._set(signal, None, "json", "end")

    def _suggest(self, command: str, signal_id: str, execution_name: str, value: str = "") -> str:
        """The call that does ``command`` (``set`` / ``end-sleep``) in the language of this remote's face: the
        ``gatewidgets`` command line, the ``%gate`` magic, else Python."""
        if self.via in (Via.CLI, Via.MAGIC):
            args = [shlex.quote(signal_id), *([value] if value else [])]
            option = ["-e", shlex.quote(execution_name)]
            # a name starting with '-' follows '--', or it would be read as an option
            words = [*option, "--", *args] if signal_id.startswith("-") else [*args, *option]
            return ("gatewidgets " if self.via is Via.CLI else "%gate ") + " ".join([command, *words])
        if command == "set":
            return f"set_input({signal_id!r}, {execution_name!r}, value=...)"
        return f"end_sleep({signal_id!r}, {execution_name!r})"

    def _type(self, signal: Signal) -> GateType:
        return self.store.gate_type(signal.id.execution_id, signal.signal_id, signal.type_record or {})

    def _set(self, signal: Signal, value: Any, form: str = "python", action: str = "set") -> Signal:
        gate_type = self._type(signal)
        return self._write(signal.id, gate_type, self._ingest(signal, gate_type, value, form), signal, action)

    def _set_plain(self, at: SignalIdentifier, gate_type: GateType, value: Any) -> Signal:
        """Set a signal whose live type this process holds, a plain ``int``, ``float``, ``str`` or ``bool`` (no
        file in it): validated as :meth:`_ingest` would, without reading the signal first (its type cannot
        change once stored; whether it is open is the write's compare-and-set)."""
        with naming(at):
            form = gate_type.validate(value)
        check_size(at, json_size(form), "value as JSON")
        return self._write(at, gate_type, form)

    def _write(self, at: SignalIdentifier, gate_type: GateType, form: Any, read: Signal | None = None,
               action: str = "set") -> Signal:
        identity = gate_type.identity(form)
        stored, _changed = self.store.set_signal(
            at.execution_id, at.signal_id, form, identity, set_by=self.user, via=self.via,
            describe=lambda v: repr(gate_type.to_python(v)), read=read, ballot=self._ballot(action, identity))
        return stored

    def _ingest(self, signal: Signal, gate_type: GateType, value: Any, form: str = "python") -> Any:
        """The one way a value enters the store, whatever the verb (a set, an editable approval's changed
        value): validated against ``gate_type`` as a Python value, typed ``"text"`` or ``"json"``; its files
        copied into the store's folder (bytes hashed as they are copied, local paths and sizes under the
        current :func:`file_access`); refused if its JSON form is larger than ``settings.max_value_bytes``.
        Returns the JSON form to store; raises ``SignalTypeError`` (``StoreError`` for an unwritable folder)."""
        if form == "text" and isinstance(value, str):  # refuse a huge text before parsing it
            check_size(signal.id, len(value.encode("utf-8", "surrogatepass")), "text")
        with naming(signal.id):
            if form == "text":
                parsed = gate_type.parse_text(value)
            elif form == "json":
                parsed = gate_type.validate_json(value)
            elif is_structure(value) and not gate_type.is_live:  # its JSON form, as the detached type knows it
                parsed = gate_type.validate_json(jsonable(value))
            else:
                parsed = gate_type.validate(value)
        # refused before a file is copied (a stored file's JSON form is small), and measured again once they are
        light, paths = unread_files(gate_type, parsed)
        check_size(signal.id, json_size(light), "value as JSON")
        # copy the files of an open signal of a writable store (alone, in lists, in structures): a set or closed
        # one refuses them (or, for the same content, keeps its copy), a read-only one refuses, without leaving
        # a file behind; files compare by content alone
        if paths and self.capabilities.files and not getattr(self.store, "read_only", False) and \
                signal.state.is_open:
            try:
                parsed = gate_type.map_files(parsed, lambda f: f.persist(self.store.files_dir))
            except OSError as exc:  # a read-only store, a full disk
                raise StoreError(f"Cannot copy the file into the store's folder {self.store.files_dir}: {exc}. To "
                                 "fix: make that folder writable by you and free disk space, or point "
                                 "GATEWIDGETS_STORE at another store.") from None
        if paths:  # measured again with what the files' references hold now
            check_size(signal.id, json_size(parsed), "value as JSON")
        return parsed

    def abort(self, execution_name: str, project: str | None = None, domain: str | None = None) -> ExecutionRecord:
        """Abort an execution, wherever it runs; an orphaned one is marked ``ABORTED`` directly."""
        key = self._key(execution_name, project, domain)
        record = self.store.get_execution(key, with_nodes=False)
        if record.status is ExecutionStatus.RUNNING:
            if self.store.owner_alive(record) is False:
                self.store.finish_execution(key, ExecutionStatus.ABORTED,
                                            error=f"Aborted by {self.user} via {self.via.value} (process gone).")
            else:
                self.store.request_abort(key)
        return self.store.get_execution(key)

    def __repr__(self) -> str:
        return f"GateRemote({self.store.path!r}, project={self.default_project!r}, domain={self.default_domain!r})"


FlyteRemote = GateRemote


def _identity(user: str | None) -> Identity:
    """This process's identity, or ``user`` as a claim when it names someone else."""
    own = Identity.of_process()
    return own if not user or user == own.user else Identity(user, "claimed")
