"""The reading verbs of ``GateRemote``: list and read signals and executions, their history and figures, and
where a decision stands for this remote's identity (``status``, ``waiting_for_me``)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Callable

from gatewidgets.models.common import Sort, SortOrdering
from gatewidgets.models.execution import ExecutionRecord, ExecutionStatus, WorkflowExecutionIdentifier, check_name
from gatewidgets.models.filters import parse_filters
from gatewidgets.models.policy import Identity, approvals_of, may_answer, standing
from gatewidgets.models.signal import Signal, SignalEvent, SignalKind, Via
from gatewidgets.remote.status import DecisionStatus
from gatewidgets.settings import settings
from gatewidgets.store.base import Listener, RemoteStore, StoreCapabilities, store_capabilities
from gatewidgets.wire import execution_to_json

__all__ = ["ANY", "ReadingVerbs"]

ANY = "*"  # listings across executions: every project, or every domain


class ReadingVerbs:
    """What ``GateRemote`` reads: the store it talks to, the defaults that scope a name, who it acts for."""

    store: RemoteStore
    default_project: str
    default_domain: str
    identity: Identity
    user: str
    via: Via
    file_dirs: tuple[str, ...] | None

    @property
    def capabilities(self) -> StoreCapabilities:
        """What the store behind this remote can do (``history``, ``stats``, ``push``, ...)."""
        return store_capabilities(self.store)

    def member_of(self, identity: Identity | None = None) -> frozenset[str]:
        """The groups ``identity`` (default: this remote's) is in: ``GateWidgets.groups`` and those its
        authority vouches for (JupyterHub's)."""
        identity = identity or self.identity
        configured = {name for name, members in (settings.groups or {}).items() if identity.user in members}
        return frozenset(configured | set(identity.groups))

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
