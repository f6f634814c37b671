"""The store contract (``gatewidgets.store.base``), checked the same way on every backend.

Each test runs once per backend, through ``GateRemote`` (what the faces use):

- ``sqlite``: the embedded ``SqliteStore``;
- ``postgres``: ``PostgresStore`` on a fresh database of the suite's own PostgreSQL server (``tests/_postgres.py``);
- ``flyte``: ``FlyteStore`` against the in-test gRPC admin (``tests/flyte_fake``; skipped without flytekit);
- ``jupyter``: ``JupyterStore`` (the HTTP client) against a real ``jupyter_server`` (``tests/_jupyter_server.py``);
- ``flyte2``: ``Flyte2Store`` against the in-test Flyte 2 run service (``tests/flyte2_fake``; skipped without flyte).

A backend skips only what its ``capabilities`` (``StoreCapabilities``) declare it cannot do, and
then the call must raise ``UnsupportedError``. To give another backend the whole suite, add a
``Backend`` factory to ``BACKENDS``: it returns a ``GateRemote`` on the backend, a ``seed(name)``
that creates execution ``name`` in project ``flytesnacks``/``development`` with the signals of
``SEEDED`` (and, if the backend declares ``upcoming``, ``later`` UPCOMING and ``closed`` TIMED_OUT),
and ``elsewhere``: a ``GateRemote`` that sets signals without going through the first one.
"""
from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from helpers import eventually

from gatewidgets import GateRemote, SignalState
from gatewidgets.errors import (
    ExecutionNotFoundError,
    GateError,
    SignalAlreadySetError,
    SignalClosedError,
    SignalNotFoundError,
    SignalTypeError,
)
from gatewidgets.models.common import Sort
from gatewidgets.models.execution import WorkflowExecutionIdentifier
from gatewidgets.models.filters import parse_filters
from gatewidgets.store.base import ExecutorStore, RemoteStore, StoreEvent, UnsupportedError, page_signals
from gatewidgets.store.postgres.store import PostgresStore
from gatewidgets.store.sqlite import SqliteStore
from gatewidgets.types import GateType

PROJECT, DOMAIN = "flytesnacks", "development"
SEEDED = {"go": bool, "rate": float, "note": str}  # PENDING, in this order


@dataclass
class Backend:
    remote: GateRemote
    seed: Callable[[str], None]
    elsewhere: GateRemote

    @property
    def ids(self) -> list[str]:
        """The signal ids a seeded execution has, in declaration order."""
        return list(SEEDED) + (["later", "closed"] if self.remote.capabilities.upcoming else [])


def _seed_sqlite(path: Path) -> Callable[[str], None]:
    return _seed(lambda: SqliteStore(path))


def _seed(open_store: Callable[[], ExecutorStore]) -> Callable[[str], None]:
    """Seed executions through a store of their own (another process's view) that ``open_store`` opens."""
    def seed(name: str) -> None:
        store = open_store()
        key = WorkflowExecutionIdentifier(PROJECT, DOMAIN, name)
        types = {**SEEDED, "later": str, "closed": str}
        store.create_execution(
            key, "contract_wf", {}, [{"node_id": f"n-{sid}", "kind": "gate", "name": sid, "upstream": [],
                                      "signal_id": sid} for sid in types],
            [{"signal_id": sid, "kind": "approve" if t is bool else "input", "node_id": f"n-{sid}",
              "type": GateType.of(t).to_record()} for sid, t in types.items()])
        for sid in [*SEEDED, "closed"]:
            store.reach_signal(key, sid, None)
        store.timeout_signal(key, "closed", has_value=False)
        store.close()
    return seed


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    path = tmp_path / "contract.db"
    remote = GateRemote(store=SqliteStore(path), default_project=PROJECT, default_domain=DOMAIN)
    other = GateRemote(store=SqliteStore(path), default_project=PROJECT, default_domain=DOMAIN, user="elsewhere")
    request.addfinalizer(remote.store.close)
    request.addfinalizer(other.store.close)
    return Backend(remote, _seed_sqlite(path), other)


def _postgres(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    url = request.getfixturevalue("postgres_url")
    remote = GateRemote(store=PostgresStore(url, files_dir=str(tmp_path)), default_project=PROJECT,
                        default_domain=DOMAIN)
    other = GateRemote(store=PostgresStore(url, files_dir=str(tmp_path)), default_project=PROJECT,
                       default_domain=DOMAIN, user="elsewhere")
    request.addfinalizer(remote.store.close)
    request.addfinalizer(other.store.close)
    return Backend(remote, _seed(lambda: PostgresStore(url, files_dir=str(tmp_path))), other)


def _flyte(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    pytest.importorskip("flytekit", reason="flytekit is not installed: pip install -e '.[flyte]'")
    from flyte_fake.server import FakeFlyteAdmin, simple
    from flyteidl.core import types_pb2

    admin = FakeFlyteAdmin().start()
    request.addfinalizer(admin.stop)
    kinds = {bool: types_pb2.BOOLEAN, float: types_pb2.FLOAT, str: types_pb2.STRING}

    def seed(name: str) -> None:
        admin.add_execution(name)
        for sid, t in SEEDED.items():
            admin.add_signal(name, sid, simple(kinds[t]))

    def remote(user: str) -> GateRemote:
        r = GateRemote.for_endpoint(admin.endpoint, insecure=True, default_project=PROJECT, default_domain=DOMAIN,
                                    flyte_poll_interval=0.05, files_dir=str(tmp_path / user), user=user)
        request.addfinalizer(r.store.close)
        return r

    return Backend(remote("here"), seed, remote("elsewhere"))


def _jupyter(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    from gatewidgets.store.jupyter import JupyterStore

    jupyter = request.getfixturevalue("server")
    store = JupyterStore(jupyter.url, jupyter.token, poll_interval=0.05)
    remote = GateRemote(store=store, default_project=PROJECT, default_domain=DOMAIN, via="http")
    other = GateRemote(store=SqliteStore(jupyter.store), default_project=PROJECT, default_domain=DOMAIN,
                       user="elsewhere")
    request.addfinalizer(store.close)
    request.addfinalizer(other.store.close)
    return Backend(remote, _seed_sqlite(jupyter.store), other)


def _flyte2(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    pytest.importorskip("flyte", reason="flyte is not installed: pip install -e '.[flyte2]'")
    from flyte2_fake.server import FakeRunService

    service = FakeRunService().start()
    request.addfinalizer(service.stop)

    def seed(name: str) -> None:
        service.add_run(name)
        for sid, t in SEEDED.items():
            service.add_condition(name, sid, t)

    # flyte.init is process-wide: the first remote makes it, the one elsewhere (its own store) reuses it
    remote = GateRemote.for_flyte2(service.endpoint, project=PROJECT, domain=DOMAIN, insecure=True,
                                   flyte_poll_interval=0.05)
    other = GateRemote.for_flyte2(flyte_poll_interval=0.05, user="elsewhere")
    request.addfinalizer(remote.store.close)
    request.addfinalizer(other.store.close)
    return Backend(remote, seed, other)


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Backend]] = {
    "sqlite": _sqlite, "postgres": _postgres, "flyte": _flyte, "jupyter": _jupyter, "flyte2": _flyte2}


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield BACKENDS[request.param](request, tmp_path)


@pytest.fixture
def ex(backend: Backend) -> str:
    name = f"contract-{secrets.token_hex(3)}"
    backend.seed(name)
    return name


def _ids(signals: list[Any]) -> list[str]:
    return [s.signal_id for s in signals]


# -- the protocol ---------------------------------------------------------------------------

def test_backend_satisfies_the_protocol(backend: Backend) -> None:
    assert isinstance(backend.remote.store, RemoteStore)


# -- listing ------------------------------------------------------------------------------------

def test_list_in_declaration_order_with_limit_and_offset(backend: Backend, ex: str) -> None:
    r = backend.remote
    assert _ids(r.list_signals(ex)) == backend.ids
    assert _ids(r.list_signals(ex, limit=2)) == backend.ids[:2]
    assert _ids(r.list_signals(ex, limit=2, offset=1)) == backend.ids[1:3]
    assert _ids(r.list_signals(ex, limit=None)) == backend.ids
    assert r.count_signals(ex) == len(backend.ids)
    across = [s for s in r.list_signals(None, limit=None) if s.execution_name == ex]
    assert _ids(across) == backend.ids


@pytest.mark.parametrize("spec", [
    "eq(state,PENDING)", "neq(state,PENDING)", "value_in(signal_id,go;note)", "contains(signal_id,at)",
    "eq(kind,approve)", "neq(set_by,nobody)", "eq(set_by,nobody)", "gt(signal_id,n)",
    "gte(created_at,2000-01-01T00:00:00Z)", "lt(created_at,2000-01-01T00:00:00Z)",
    "eq(state,PENDING)+value_in(signal_id,rate;note;later)"])
def test_filters_mean_what_filter_matches_says(backend: Backend, ex: str, spec: str) -> None:
    """Every backend lists exactly the signals ``Filter.matches`` accepts (SQL pushes down the same)."""
    r = backend.remote
    filters = parse_filters(spec)
    expected = [s.signal_id for s in r.list_signals(ex, limit=None) if all(f.matches(s) for f in filters)]
    assert _ids(r.list_signals(ex, limit=None, filters=spec)) == expected
    assert r.count_signals(ex, filters=spec) == len(expected)
    assert _ids(r.list_signals(ex, limit=1, filters=filters)) == expected[:1]  # the limit applies after filtering


def test_filter_on_unknown_field_is_refused(backend: Backend, ex: str) -> None:
    with pytest.raises(ValueError, match="Cannot filter signals on 'colour'"):
        backend.remote.list_signals(ex, filters="eq(colour,red)")


def test_sort(backend: Backend, ex: str) -> None:
    r = backend.remote
    assert _ids(r.list_signals(ex, sort_by=Sort.from_python_std("desc(signal_id)"))) == sorted(backend.ids,
                                                                                             reverse=True)
    assert _ids(r.list_signals(ex, sort_by=Sort.from_python_std("asc(signal_id)"), limit=2)) == \
        sorted(backend.ids)[:2]
    by_id = Sort.from_python_std("asc(signal_id)")
    assert _ids(r.list_signals(ex, sort_by=by_id, limit=2, offset=1)) == sorted(backend.ids)[1:3]  # sort, then page
    assert _ids(r.list_signals(ex, sort_by=by_id, limit=None, offset=2)) == sorted(backend.ids)[2:]
    assert r.list_signals(ex, limit=2, offset=len(backend.ids)) == []


def test_jupyter_store_pages_with_the_shared_helper(server: Any, monkeypatch: pytest.MonkeyPatch,
                                                    request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """``JupyterStore`` pages what it filtered with ``page_signals`` (one place for paging), sorted or not,
    and everything it fetched for a page is the poller's baseline: listing makes no events."""
    from gatewidgets.store import jupyter as jupyter_client

    pages: list[tuple[Any, ...]] = []

    def spy(rows: list[Any], *how: Any) -> list[Any]:
        pages.append(how)
        return page_signals(rows, *how)

    monkeypatch.setattr(jupyter_client, "page_signals", spy)
    backend = _jupyter(request, tmp_path)
    name = f"contract-{secrets.token_hex(3)}"
    backend.seed(name)
    store = backend.remote.store
    assert isinstance(store, jupyter_client.JupyterStore)
    by_id = Sort.from_python_std("desc(signal_id)")
    assert _ids(backend.remote.list_signals(name, limit=1, offset=1)) == backend.ids[1:2]
    assert _ids(backend.remote.list_signals(name, sort_by=by_id, limit=2)) == sorted(backend.ids, reverse=True)[:2]
    assert pages == [(None, 1, 1), (by_id, 2, 0)]
    assert store.poll_once() == []  # nothing changed since those listings


# -- reading ------------------------------------------------------------------------------------

def test_get_and_unknown_ids(backend: Backend, ex: str) -> None:
    r = backend.remote
    go = r.get_signal("go", ex)
    assert (go.signal_id, go.execution_name, go.state, go.value) == ("go", ex, SignalState.PENDING, None)
    assert go.id.execution_id.project == PROJECT and go.type == GateType.of(bool).literal_type
    with pytest.raises(SignalNotFoundError, match="go, rate, note"):
        r.get_signal("nope", ex)
    with pytest.raises(ExecutionNotFoundError):
        r.get_signal("go", "no-such-execution")
    with pytest.raises(ExecutionNotFoundError):
        r.list_signals("no-such-execution")


def test_executions(backend: Backend, ex: str) -> None:
    r = backend.remote
    assert ex in [e.name for e in r.list_executions()]
    assert r.get_execution(ex).name == ex


# -- setting --------------------------------------------------------------------------------------

def test_set_validates_and_first_answer_wins(backend: Backend, ex: str) -> None:
    r = backend.remote
    with pytest.raises(SignalTypeError):
        r.set_input("rate", ex, "fast")
    with pytest.raises(SignalTypeError):
        r.approve("rate", ex)
    assert r.get_signal("rate", ex).state is SignalState.PENDING  # bad input changed nothing
    assert r.set_input("rate", ex, 2).value == 2.0  # an int is a valid float
    go = r.approve("go", ex)
    assert (go.state, go.value) == (SignalState.SET, True)
    assert r.approve("go", ex).state is SignalState.SET  # the same value again: a no-op
    with pytest.raises(SignalAlreadySetError):
        r.reject("go", ex)
    assert r.get_signal("go", ex).value is True
    assert r.set_text("note", ex, "hello").value == "hello"
    assert r.count_signals(ex, filters="eq(state,SET)") == 3


def test_early_and_closed_signals(backend: Backend, ex: str) -> None:
    r = backend.remote
    if not r.capabilities.upcoming:
        pytest.skip(f"{r.store!r} has no UPCOMING or closed signals")
    assert r.get_signal("later", ex).state is SignalState.UPCOMING
    assert r.set_input("later", ex, "early").state is SignalState.SET  # set before its gate is reached
    assert r.get_signal("closed", ex).state is SignalState.TIMED_OUT
    with pytest.raises(SignalClosedError):
        r.set_input("closed", ex, "too late")


# -- history, stats ---------------------------------------------------------------------------

def test_history(backend: Backend, ex: str) -> None:
    r = backend.remote
    if not r.capabilities.history:
        with pytest.raises(UnsupportedError, match="history"):
            r.history(ex)
        return
    r.approve("go", ex)
    events = r.history(ex, signal_id="go")
    assert [e.kind for e in events][-1] == "set" and events[-1].value is True
    assert all(e.signal_id == "go" for e in events)
    assert [e.at for e in r.history(ex)] == sorted(e.at for e in r.history(ex))


def test_stats(backend: Backend, ex: str) -> None:
    r = backend.remote
    if not r.capabilities.stats:
        with pytest.raises(UnsupportedError, match="stats"):
            r.stats()
        return
    assert r.stats()["signals"]["PENDING"] >= len(SEEDED)


def test_unsupported_is_a_gate_error() -> None:
    assert issubclass(UnsupportedError, GateError) and issubclass(UnsupportedError, NotImplementedError)


# -- subscribe -----------------------------------------------------------------------------------

def test_subscribe_notices_a_set_made_elsewhere(backend: Backend, ex: str) -> None:
    r = backend.remote
    seen: list[StoreEvent] = []
    lock = threading.Lock()

    def listener(events: list[StoreEvent]) -> None:
        with lock:
            seen.extend(events)

    r.list_signals(ex)  # what a face shows is what a polling backend watches
    unsubscribe = r.subscribe(listener)
    try:
        backend.elsewhere.set_input("note", ex, "from elsewhere")

        def noticed() -> bool:
            with lock:
                return any(e.signal_id == "note" and e.kind == "set" and e.execution_id.name == ex for e in seen)

        eventually(noticed, timeout=10, what="the set made elsewhere to be noticed")
        assert r.get_signal("note", ex).value == "from elsewhere"
    finally:
        unsubscribe()

