"""The PostgreSQL store (``gatewidgets.store.postgres``) beyond the shared contract suites: how it is chosen,
its schema's version, its errors (one ``StoreError`` naming the database, never its password), statement
timeouts, notifications missed and a server restarted while a gate waits in another process, and the CLI
answering through it. Every test runs on a database of its own on the suite's PostgreSQL server."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest
from _held_workflow import RELEASE, held_at_its_last_step, kept_end_written
from _jupyter_server import call, running_server
from _postgres import PostgresServer
from _procs import waiting_execution
from helpers import eventually

from gatewidgets import GateRemote, SignalState, dynamic, task, workflow
from gatewidgets.engine import Executor
from gatewidgets.errors import ExecutionExistsError, ExecutionLostError, StoreError
from gatewidgets.models.execution import ExecutionStatus, NodeState, WorkflowExecutionIdentifier
from gatewidgets.models.signal import Via
from gatewidgets.store import default_store_path, open_store
from gatewidgets.store.base import StoreEvent
from gatewidgets.store.postgres import masked
from gatewidgets.store.postgres.connection import LISTENER
from gatewidgets.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION
from gatewidgets.store.postgres.store import PostgresStore
from gatewidgets.types import GateType

SECRET = "s3cret-pw"
KEY = WorkflowExecutionIdentifier("p", "d", "run")


def with_password(url: str, user: str = "postgres") -> str:
    """``url`` with a password (the suite's server trusts its socket, so it is sent only if asked for)."""
    return url.replace("postgresql://postgres@", f"postgresql://{user}:{SECRET}@", 1)


def gw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gatewidgets", *args], capture_output=True, text=True, timeout=60)


def launched(store: PostgresStore) -> None:
    store.create_execution(KEY, "wf", {}, [{"node_id": "g", "kind": "gate", "name": "go", "upstream": [],
                                            "signal_id": "go"}],
                           [{"signal_id": "go", "kind": "approve", "node_id": "g", "description": None,
                             "type": GateType.of(bool).to_record(), "context": None}])
    store.reach_signal(KEY, "go", None)


@pytest.fixture
def store(postgres_url: str, tmp_path: Path) -> PostgresStore:
    opened = PostgresStore(postgres_url, files_dir=str(tmp_path / "files"))
    yield opened
    opened.close()


def test_a_postgresql_url_chooses_the_store_and_its_password_never_shows(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = with_password(postgres_url)
    monkeypatch.setenv("GATEWIDGETS_STORE", url)
    assert default_store_path() == url
    store = open_store()
    assert isinstance(store, PostgresStore) and open_store() is store
    assert SECRET not in store.path and SECRET not in repr(store) and store.path == masked(url)
    assert GateRemote.for_sandbox().store is store
    shown = gw("config", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["store"]["value"] == masked(url) and SECRET not in shown.stdout
    assert masked("postgresql://ann:pw@db.example/gates?password=pw2&sslmode=require") == \
        "postgresql://ann:***@db.example/gates?password=***&sslmode=require"


def test_a_newer_schema_is_refused_and_left_alone(store: PostgresStore, postgres_url: str) -> None:
    launched(store)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    url = with_password(postgres_url)
    with pytest.raises(StoreError) as raised:
        PostgresStore(url)
    assert str(raised.value) == (
        f"The gatewidgets store {masked(url)} has schema version 99, newer than this gatewidgets ({SCHEMA_VERSION}): "
        "a newer gatewidgets made it. To fix: upgrade gatewidgets here, or point GATEWIDGETS_STORE at another "
        "database.") and SECRET not in str(raised.value)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("99",)
        assert conn.execute("SELECT state FROM signals").fetchall() == [("PENDING",)]


def test_an_owner_is_its_pid_in_its_pid_namespace(postgres_url: str, tmp_path: Path) -> None:
    """A launch records this process's pid namespace; an owner recorded with this pid and host but another pid
    namespace (a container sharing the hostname), or another boot (another machine of this hostname), is another
    process, judged by its lease, not by this pid."""
    store = PostgresStore(postgres_url, files_dir=str(tmp_path / "files"))
    try:
        store.create_execution(KEY, "wf", {}, [], [])
        record = store.get_execution(KEY)
        assert (record.pid, record.host) == (os.getpid(), store.host)
        assert record.pid_namespace == os.readlink("/proc/self/ns/pid") and store.owner_alive(record) is True
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("UPDATE executions SET pid_namespace='pid:[1]', lease_until=extract(epoch from now()) + 60")
            other = store.get_execution(KEY)
            assert (other.pid, other.host) == (os.getpid(), store.host) and store.owner_alive(other) is True
            with pytest.raises(ExecutionExistsError, match="process"):  # its lease is live: not adoptable
                store.adopt_execution(KEY)
            conn.execute("UPDATE executions SET lease_until=0")
            assert store.owner_alive(store.get_execution(KEY)) is False  # this pid lives, but it is not that process
        assert store.adopt_execution(KEY).pid_namespace == os.readlink("/proc/self/ns/pid")
        with psycopg.connect(postgres_url, autocommit=True) as conn:  # another machine of this hostname: the same
            conn.execute("UPDATE executions SET boot_id='another-boot', "  # initial pid namespace, another boot
                         "lease_until=extract(epoch from now()) + 60")
            assert store.owner_alive(store.get_execution(KEY)) is True  # its lease lives: not "rebooted, gone"
            with pytest.raises(ExecutionExistsError, match="process"):
                store.adopt_execution(KEY)
    finally:
        store.close()


def test_a_version_1_database_is_upgraded_in_place_keeping_what_it_holds(
        postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A database a gatewidgets of schema version 1 made, with a gate waiting: opened, it is upgraded step by step
    to this version in one transaction, and its execution, signal and events read and answer as before."""
    caplog.set_level(logging.WARNING, logger="gatewidgets")
    stamp = "2026-01-02T03:04:05.000000+00:00"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)  # type: ignore[call-overload]
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        conn.execute("INSERT INTO executions (project, domain, name, workflow, status, inputs, pid, host, created_at, "
                     "updated_at, lease_until) VALUES ('p', 'd', 'run', 'wf', 'RUNNING', '{}', 1, 'machine-z', %s, %s, "
                     "0)", (stamp, stamp))
        conn.execute("INSERT INTO nodes (project, domain, execution, node_id, seq, kind, name, state, upstream, "
                     "signal_id) VALUES ('p', 'd', 'run', 'g', 0, 'gate', 'go', 'WAITING', '[]', 'go')")
        conn.execute("INSERT INTO signals (project, domain, execution, signal_id, seq, kind, node_id, type, state, "
                     "created_at, waiting_since) VALUES ('p', 'd', 'run', 'go', 0, 'approve', 'g', %s, 'PENDING', %s, "
                     "%s)", (json.dumps(GateType.of(bool).to_record()), stamp, stamp))
        conn.execute("INSERT INTO events (origin, at, project, domain, execution, signal_id, kind, state) VALUES "
                     "('v1', %s, 'p', 'd', 'run', 'go', 'reached', 'PENDING')", (stamp,))
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'executions_running_by_owner'"
                            ).fetchone() == (0,)
    upgraded = PostgresStore(postgres_url, files_dir=str(tmp_path / "files"))
    try:
        assert f"upgraded the schema of {upgraded.path} from version 1 to {SCHEMA_VERSION}" in caplog.text
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
                str(SCHEMA_VERSION),)
            assert conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'executions_running_by_owner'"
                                ).fetchone() == ("CREATE INDEX executions_running_by_owner ON public.executions "
                                                 "USING btree (host, pid) WHERE (status = 'RUNNING'::text)",)
        assert upgraded.get_signal(KEY, "go").state is SignalState.PENDING
        assert upgraded.get_execution(KEY).pid_namespace is None  # recorded before version 4: judged by its pid
        assert [e.kind for e in upgraded.history(KEY)] == ["reached"]
        assert upgraded.get_execution(KEY).nodes[0].state is NodeState.WAITING
        assert upgraded.set_signal(KEY, "go", True, "true", set_by="ann", via=Via.API)[1]
    finally:
        upgraded.close()
    caplog.clear()
    PostgresStore(postgres_url).close()  # at this version: opened without writing
    assert "upgraded" not in caplog.text


def test_unreachable_refused_or_missing_databases_are_one_store_error_without_the_password(
        postgres_server: PostgresServer, tmp_path: Path) -> None:
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS locked_out")
        conn.execute("CREATE ROLE locked_out NOLOGIN")
        conn.execute("DROP ROLE IF EXISTS no_slot")
        conn.execute("CREATE ROLE no_slot LOGIN CONNECTION LIMIT 0")  # the server refuses it a connection
    cases = {
        f"postgresql://ann:{SECRET}@/gates?host={tmp_path}": "cannot be reached",  # no server on that socket
        with_password(postgres_server.url("no_such_db")): "does not exist",
        with_password(postgres_server.url(), "locked_out"): "refused the credentials",
        with_password(postgres_server.url(), "no_slot"): "has no connection left",
    }
    for url, what in cases.items():
        with pytest.raises(StoreError) as raised:
            PostgresStore(url, retry_for=1)
        message = str(raised.value)
        assert message.startswith(f"The gatewidgets store {masked(url)} {what}") and SECRET not in message
        assert "\n" not in message and "To fix:" in message
        listed = subprocess.run([sys.executable, "-m", "gatewidgets", "list"], capture_output=True, text=True,
                                timeout=60, env={**os.environ, "GATEWIDGETS_STORE": url})
        assert listed.returncode != 0 and what in listed.stderr and SECRET not in listed.stderr + listed.stdout


def test_statements_time_out_and_change_nothing(store: PostgresStore, postgres_url: str) -> None:
    """Another connection holds the rows locked: a read goes on, a write waits no longer than the statement
    timeout, then is one StoreError naming the database and the timeout, and nothing changed."""
    launched(store)
    quick = PostgresStore(with_password(postgres_url), statement_timeout=0.5)
    writes = {
        "set": lambda: quick.set_signal(KEY, "go", True, "true", set_by="ann", via=Via.API),
        "abort": lambda: quick.request_abort(KEY),
        "end": lambda: quick.finish_execution(KEY, ExecutionStatus.ABORTED, error="stop"),
        "adopt": lambda: quick.adopt_execution(KEY),
    }
    try:
        with psycopg.connect(postgres_url) as holder:  # a transaction that keeps the rows locked
            holder.execute("SELECT * FROM executions FOR UPDATE")
            holder.execute("SELECT * FROM signals FOR UPDATE")
            assert quick.get_signal(KEY, "go").state is SignalState.PENDING  # readers are not held up
            for what, write in writes.items():
                started = time.monotonic()
                with pytest.raises(StoreError) as raised:
                    write()
                assert 0.5 <= time.monotonic() - started < 3, what
                assert str(raised.value).startswith(f"The gatewidgets store {quick.path} did not answer within the "
                                                    "statement timeout") and SECRET not in str(raised.value), what
        assert store.get_signal(KEY, "go").state is SignalState.PENDING
        assert store.get_execution(KEY).status is ExecutionStatus.RUNNING
        assert [e.kind for e in store.history(KEY)] == ["launched", "created", "reached"]
    finally:
        quick.close()


def test_a_missed_notification_is_polled(store: PostgresStore, postgres_url: str) -> None:
    """The listening connection dropped (here: ended by the server) while a set was made elsewhere: the
    subscriber reconnects and the fallback poll brings the set."""
    launched(store)
    heard: list[StoreEvent] = []
    lock = threading.Lock()

    def listener(events: list[StoreEvent]) -> None:
        with lock:
            heard.extend(events)

    unsubscribe = store.subscribe(listener)
    other = PostgresStore(postgres_url)
    try:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            eventually(lambda: admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                                             (LISTENER,)).fetchone() == (1,),
                       timeout=10, what="the subscriber to listen")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                          (LISTENER,))
            other.set_signal(KEY, "go", True, "true", set_by="bob", via=Via.CLI)

        def noticed() -> bool:
            with lock:
                return [(e.kind, e.signal_id, e.local) for e in heard] == [("set", "go", False)]

        eventually(noticed, timeout=15, what="the set made while the listener was cut off")
    finally:
        unsubscribe()
        other.close()


def test_a_gate_waiting_in_another_process_outlives_a_server_restart_and_is_answered_by_the_cli(
        postgres_server: PostgresServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = with_password(postgres_url)
    monkeypatch.setenv("GATEWIDGETS_STORE", url)
    with waiting_execution("pg", a=5) as (name, proc):
        postgres_server.pg_ctl("restart", "-m", "fast")  # every connection of both processes drops
        done = gw("approve", "go", "-e", name)
        assert done.returncode == 0, done.stderr
        assert gw("set", "rate", "2.5", "-e", name).returncode == 0
        assert gw("set", "note", "hello", "-e", name).returncode == 0
        out, err = proc.communicate(timeout=60)
        assert json.loads(out.strip().splitlines()[-1]) == "10|2.5|hello", err
        assert SECRET not in err
    remote = GateRemote.for_sandbox()
    assert [(e.kind, e.signal_id) for e in remote.history(name) if e.kind == "set"] == [
        ("set", "go"), ("set", "rate"), ("set", "note")]
    assert {n.name: n.state.value for n in remote.get_execution(name).nodes}["double"] == "SUCCEEDED"


def test_leases_keep_an_owner_on_another_host_and_one_recoverer_wins_once_it_expires(postgres_url: str) -> None:
    """Machines are told apart by ``host``: an owner elsewhere lives while its heartbeat renews its lease; once
    the lease expires, of two machines recovering at once exactly one wins and the other is told who."""
    def on(host: str) -> PostgresStore:
        store = PostgresStore(postgres_url, lease=1.0)
        store.host = host
        return store

    owner, first, second = on("machine-a"), on("machine-b"), on("machine-c")
    try:
        launched(owner)
        time.sleep(2.5)  # longer than the lease: the heartbeat renewed it
        record = first.get_execution(KEY)
        assert first.owner_alive(record) is True
        with pytest.raises(ExecutionExistsError, match="still running in process .* on machine-a"):
            first.adopt_execution(KEY)
        assert first.get_execution(KEY).host == "machine-a"
        owner.close()  # its machine stops: no more heartbeats
        eventually(lambda: first.owner_alive(record) is False, timeout=10, what="the lease to expire")
        outcomes: dict[str, object] = {}

        def recover(store: PostgresStore) -> None:
            try:
                outcomes[store.host] = store.adopt_execution(KEY).host
            except ExecutionExistsError as exc:
                outcomes[store.host] = exc

        racers = [threading.Thread(target=recover, args=(s,)) for s in (first, second)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(timeout=30)
        won = [host for host, outcome in outcomes.items() if outcome == host]
        assert len(won) == 1, outcomes
        [lost] = [outcome for host, outcome in outcomes.items() if host not in won]
        assert isinstance(lost, ExecutionExistsError) and f"on {won[0]}" in str(lost)
        assert first.get_execution(KEY).host == won[0] and first.owner_alive(first.get_execution(KEY)) is not False
    finally:
        for store in (owner, first, second):
            store.close()


def test_the_http_api_answers_through_the_database_and_fails_without_the_password(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Jupyter server on the team database answers a gate waiting in another process; a server whose database
    is unreachable answers 503 with one line naming it, password masked."""
    url = with_password(postgres_url)
    monkeypatch.setenv("GATEWIDGETS_STORE", url)
    (tmp_path / "up").mkdir()
    with running_server(tmp_path / "up", store=url) as server, waiting_execution("http", a=2) as (name, proc):
        where = f"/gatewidgets/api/signals/default/development/{name}"
        assert call(server, "POST", f"{where}/go/approve", {})[0] == 200
        assert call(server, "POST", f"{where}/rate", {"value": 1.5})[0] == 200
        status, body = call(server, "POST", f"{where}/note", {"text": "via http"})
        assert status == 200 and body["state"] == "SET", body
        out, err = proc.communicate(timeout=60)
        assert json.loads(out.strip().splitlines()[-1]) == "4|1.5|via http", err
    gone = f"postgresql://ann:{SECRET}@/gates?host={tmp_path}"
    (tmp_path / "down").mkdir()
    with running_server(tmp_path / "down", store=gone) as server:
        status, body = call(server, "GET", "/gatewidgets/api/signals", timeout=60)
        assert status == 503 and "cannot be reached" in json.dumps(body) and SECRET not in json.dumps(body)
        assert masked(gone) in json.dumps(body)


def test_a_kernel_whose_lease_was_taken_does_not_record_its_copys_end(postgres_url: str) -> None:
    """The owner's lease ran out (its machine paused) and another machine recovered the execution: the first
    copy's end is dropped, so the recovered run records the real one."""
    owner = PostgresStore(postgres_url)
    owner.host = "machine-a"
    taker = PostgresStore(postgres_url)
    taker.host = "machine-b"
    try:
        launched(owner)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("UPDATE executions SET lease_until = 0")  # expired: no heartbeat for a lease
        assert taker.adopt_execution(KEY).host == "machine-b"
        assert owner.end_execution(KEY, ExecutionStatus.FAILED, error="stale copy")
        record = taker.get_execution(KEY)
        assert (record.status, record.host) == (ExecutionStatus.RUNNING, "machine-b")
        assert taker.get_signal(KEY, "go").state is SignalState.PENDING
        assert taker.end_execution(KEY, ExecutionStatus.SUCCEEDED, outputs=1)
        assert (owner.get_execution(KEY).status, owner.get_execution(KEY).outputs) == (ExecutionStatus.SUCCEEDED, 1)
    finally:
        owner.close()
        taker.close()


def test_flytekits_files_go_beside_the_team_files_folder(store: PostgresStore, postgres_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A database has no folder of its own: flytekit's converted files go beside the store's ``files_dir``."""
    pytest.importorskip("flytekit", reason="flytekit is not installed: pip install -e '.[flyte]'")
    from gatewidgets.frontdoors.flytekit_values import folder_of

    assert folder_of(store) == os.path.join(os.path.dirname(store.files_dir), "flytekit")
    monkeypatch.setenv("GATEWIDGETS_STORE", postgres_url)
    monkeypatch.setenv("GATEWIDGETS_FILES_DIR", str(Path(store.files_dir).parent / "team" / "files"))
    assert folder_of(None) == str(Path(store.files_dir).parent / "team" / "flytekit")


def test_a_read_only_database_lists_and_refuses_writes_with_one_store_error(store: PostgresStore,
                                                                             postgres_url: str) -> None:
    launched(store)
    name = urllib.parse.urlsplit(postgres_url).path.lstrip("/")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")  # new sessions
    reader = PostgresStore(postgres_url)
    try:
        assert [s.signal_id for s in reader.list_signals(KEY)] == ["go"]
        with pytest.raises(StoreError, match=r"is read-only \(postgresql: .*read-only transaction\)"):
            reader.set_signal(KEY, "go", True, "true", set_by="ann", via=Via.API)
        assert reader.get_signal(KEY, "go").state is SignalState.PENDING
        assert [e.kind for e in reader.history(KEY)] == ["launched", "created", "reached"]
    finally:
        reader.close()


def test_without_the_driver_a_postgresql_url_says_which_extra_to_install() -> None:
    """gatewidgets imports without psycopg; naming a database then is one StoreError saying what to install."""
    script = ("import sys; sys.modules['psycopg'] = sys.modules['psycopg_pool'] = None\n"
              "import gatewidgets.cli\n"
              "from gatewidgets.store import open_store\n"
              f"open_store('postgresql://ann:{SECRET}@/gates?host=/nowhere')\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and SECRET not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        "gatewidgets.errors.StoreError: The gatewidgets store postgresql://ann:***@/gates?host=/nowhere is a "
        "PostgreSQL database, and its driver is not installed (import of psycopg halted; None in sys.modules). "
        "To fix: pip install 'gatewidgets[postgres]'.")


def test_a_subscriber_hears_each_later_event_once_and_no_earlier_one(postgres_url: str) -> None:
    """Notified and polled again (the poll rereads recent ids, for transactions that commit out of order), an
    event is dispatched once; what happened before the subscribe is not news."""
    store, other = PostgresStore(postgres_url, poll_interval=0.1), PostgresStore(postgres_url)
    heard: list[StoreEvent] = []
    lock = threading.Lock()

    def listener(events: list[StoreEvent]) -> None:
        with lock:
            heard.extend(events)

    try:
        launched(other)  # three events before the subscribe
        unsubscribe = store.subscribe(listener)
        other.set_signal(KEY, "go", True, "true", set_by="bob", via=Via.CLI)
        eventually(lambda: bool(heard), timeout=10, what="the set")
        time.sleep(1.0)  # ten polls later
        with lock:
            assert [(e.kind, e.signal_id) for e in heard] == [("set", "go")]
        unsubscribe()
    finally:
        store.close()
        other.close()


LEASE_HOLDER = Path(__file__).with_name("helpers") / "lease_holder.py"


def hold(mode: str, url: str, host: str, side: Path, name: str, *, lease: float = 30.0,
         pause: float = 0.0) -> subprocess.Popen[str]:
    """``helpers/lease_holder.py``: a kernel on machine ``host`` running (or recovering) execution ``name``."""
    return subprocess.Popen([sys.executable, str(LEASE_HOLDER), mode, url, host, str(lease), str(side), name,
                             str(pause)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def steps_by(side: Path) -> list[tuple[str, int]]:
    """The steps that started, in order, with the pid of the process that ran each."""
    text = side.read_text() if side.exists() else ""
    return [(step, int(pid)) for step, pid in (line.split() for line in text.splitlines())]


def paused(proc: subprocess.Popen[str]) -> None:
    """SIGSTOP ``proc`` and return once it is stopped (it writes nothing more until SIGCONT)."""
    os.kill(proc.pid, signal.SIGSTOP)
    eventually(lambda: Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T",
               timeout=10, what="the process to stop")


def lease_expired(url: str, name: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT lease_until < extract(epoch from clock_timestamp()) FROM executions "
                           "WHERE name = %s", (name,)).fetchone()
    return bool(row and row[0])


def recovered(remote: GateRemote, name: str, recoverer: subprocess.Popen[str]) -> None:
    """Wait until ``recoverer`` (on machine-b) owns execution ``name``; else fail with what it said."""
    try:
        eventually(lambda: remote.get_execution(name).host == "machine-b", timeout=60, what="the recovery")
    except AssertionError:
        recoverer.kill()
        raise AssertionError(f"not recovered: {recoverer.communicate(timeout=10)}") from None


def report_of(proc: subprocess.Popen[str]) -> tuple[dict[str, Any], str]:
    out, err = proc.communicate(timeout=60)
    assert out.strip(), err
    return json.loads(out.strip().splitlines()[-1]), err


def stop_all(*procs: subprocess.Popen[str] | None) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait(timeout=10)


def test_a_kernel_whose_lease_was_taken_mid_chain_starts_no_further_task_and_says_so(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel paused (SIGSTOP) mid-chain past its lease; another machine recovers the execution and runs the
    rest; the first, resumed (SIGCONT), finishes the step it was in and starts none after it: its copy ends
    ``ExecutionLostError`` naming who took over, and says so on stderr; only the recovered run's end is kept."""
    side, name = tmp_path / "side", "leased-chain"
    first = hold("run", postgres_url, "machine-a", side, name, lease=1.0, pause=0.4)
    second = None
    try:
        eventually(lambda: len(steps_by(side)) >= 2, timeout=60, what="two steps to start")
        paused(first)
        before = steps_by(side)
        eventually(lambda: lease_expired(postgres_url, name), timeout=30, what="the first kernel's lease to expire")
        second = hold("recover", postgres_url, "machine-b", side, name)
        monkeypatch.setenv("GATEWIDGETS_STORE", postgres_url)
        remote = GateRemote.for_sandbox()
        recovered(remote, name, second)
        os.kill(first.pid, signal.SIGCONT)  # while the second runs the rest of the chain
        report, err = report_of(first)
        assert report["error"] == "ExecutionLostError", report
        assert f"was taken over by process {second.pid} on machine-b" in report["message"]
        assert "gatewidgets stopped its copy of execution 'leased-chain'" in err
        eventually(lambda: remote.get_signal("go", name).state is SignalState.PENDING, timeout=60,
                   what="the recovered run to reach its gate")
        assert [s for s in steps_by(side) if s[1] == first.pid] == [s for s in before if s[1] == first.pid]
        remote.approve("go", name)
        assert report_of(second)[0] == {"pid": second.pid, "outputs": 7}
        started = steps_by(side)
        assert {step for step, _ in started} == {f"step{i}" for i in range(7)}
        assert [pid for step, pid in started if step == "step6"] == [second.pid]
        record = remote.get_execution(name)
        assert (record.status, record.outputs, record.host) == (ExecutionStatus.SUCCEEDED, 7, "machine-b")
        assert [e.kind for e in remote.history(name)].count("finished") == 1
    finally:
        stop_all(first, second)


def test_a_kernel_whose_lease_was_taken_at_a_gate_stops_waiting_and_runs_nothing_after_it(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first kernel waits at a gate, paused past its lease; another machine recovers the execution, the gate
    is answered and the recovered run ends; the first, resumed, hears the answer too but runs nothing after the
    gate: its copy ends ``ExecutionLostError``."""
    side, name = tmp_path / "side", "leased-gate"
    monkeypatch.setenv("GATEWIDGETS_STORE", postgres_url)
    remote = GateRemote.for_sandbox()
    first = hold("run", postgres_url, "machine-a", side, name, lease=1.0)
    second = None
    try:
        eventually(lambda: remote.get_signal("go", name).state is SignalState.PENDING, timeout=60,
                   what="the gate to wait")
        paused(first)
        eventually(lambda: lease_expired(postgres_url, name), timeout=30, what="the first kernel's lease to expire")
        second = hold("recover", postgres_url, "machine-b", side, name)
        recovered(remote, name, second)
        remote.approve("go", name)
        assert report_of(second)[0] == {"pid": second.pid, "outputs": 7}
        os.kill(first.pid, signal.SIGCONT)
        report, err = report_of(first)
        assert report["error"] == "ExecutionLostError", report
        assert f"was taken over by process {second.pid} on machine-b (now SUCCEEDED)" in report["message"]
        assert "gatewidgets stopped its copy of execution 'leased-gate'" in err
        assert [pid for step, pid in steps_by(side) if step == "step6"] == [second.pid]
        assert {pid for step, pid in steps_by(side) if step != "step6"} == {first.pid}  # none ran twice
        assert remote.get_execution(name).status is ExecutionStatus.SUCCEEDED
    finally:
        stop_all(first, second)


def test_an_end_the_database_refuses_is_kept_and_written_once_it_is_back(
        postgres_server: PostgresServer, postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The server stops while a workflow runs its last task: the execution ends here with its real result at
    once, its end (and its last node) kept; the server starts again and the store's writer records them, the
    end once; nobody had to recover it."""
    caplog.set_level(logging.WARNING, logger="gatewidgets")
    store = PostgresStore(postgres_url, files_dir=str(tmp_path / "files"), statement_timeout=1, retry_for=1)
    key = WorkflowExecutionIdentifier("default", "development", "kept-end")
    with held_at_its_last_step(store, key.name) as (executor, ex):
        postgres_server.pg_ctl("stop", "-m", "fast")
        try:
            RELEASE.set()
            assert ex.wait(timeout=60) == 20 and ex.status is ExecutionStatus.SUCCEEDED and ex.error is None
            assert executor.get(key) is None  # let go
            assert f"will record the end of execution {key} (SUCCEEDED) as soon as {store.path}" in caplog.text
            with pytest.raises(ExecutionExistsError, match="ended in this process"):
                store.adopt_execution(key)  # not recoverable here: its end is on its way
        finally:
            postgres_server.pg_ctl("start")
        kept_end_written(postgres_url, key)
        assert f"recorded the end of execution {key} (SUCCEEDED) in {store.path}" in caplog.text


def test_durability_chooses_whether_a_commit_waits_for_the_disk(postgres_url: str) -> None:
    """``durability="process"`` (the default): a commit is the server's at once (it survives any client's death,
    and is on disk within a moment); ``"machine"``: each commit waits for the server's disk."""
    for durability, synchronous in (("process", "off"), ("machine", "on")):
        store = PostgresStore(postgres_url, durability=durability)
        try:
            with store._read() as conn:
                assert conn.execute("SHOW synchronous_commit").fetchone() == {"synchronous_commit": synchronous}
        finally:
            store.close()


def take_over(taker: PostgresStore, key: WorkflowExecutionIdentifier, url: str) -> None:
    """``taker`` adopts ``key`` as if its owner had paused past its lease (expired here; tried again should the
    owner's heartbeat renew it in between)."""
    def expired_and_adopted() -> bool:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE executions SET lease_until = 0 WHERE name = %s", (key.name,))
        try:
            taker.adopt_execution(key)
        except ExecutionExistsError:
            return False
        return True

    eventually(expired_and_adopted, timeout=10, what=f"{key} to be taken over")


def test_a_store_that_lost_an_execution_writes_nothing_more_of_it_and_tells_its_subscribers(postgres_url: str) -> None:
    """Machine A's execution is taken over by machine B (A's lease had expired): A's next node write finds it,
    drops the change (B's run owns the rows), and ``lost`` names B before ``durable`` returns; A's subscribers
    hear a local ``lost`` event; A's heartbeat finds another execution taken over by itself."""
    owner, taker = PostgresStore(postgres_url, lease=0.6), PostgresStore(postgres_url)
    owner.host, taker.host = "machine-a", "machine-b"
    other = WorkflowExecutionIdentifier("p", "d", "other")
    heard: list[StoreEvent] = []
    try:
        launched(owner)
        owner.create_execution(other, "wf", {}, [], [])
        owner.subscribe(heard.extend)
        assert owner.lost(KEY) is None
        take_over(taker, KEY, postgres_url)
        owner.update_node(KEY, "g", state=NodeState.SUCCEEDED, outputs=True)
        owner.durable()
        assert owner.lost(KEY) == (
            f"Execution {KEY} was taken over by process {os.getpid()} on machine-b once the lease of this process "
            f"(pid {os.getpid()} on machine-a) on it had expired, unrenewed for 0.6 s: this copy stops here (it "
            "starts no further task, its gates stop waiting, its end is not recorded).")
        assert taker.get_execution(KEY).nodes[0].state is NodeState.QUEUED  # A's change was not written
        eventually(lambda: [(e.kind, e.execution_id) for e in heard if e.kind == "lost"] == [("lost", KEY)],
                   timeout=10, what="the lost event")
        take_over(taker, other, postgres_url)  # the other one: taken while A writes nothing of it
        eventually(lambda: [e.execution_id for e in heard if e.kind == "lost"] == [KEY, other], timeout=10,
                   what="the heartbeat to find it")
        assert owner.lost(other) is not None
        assert owner.end_execution(KEY, ExecutionStatus.FAILED, error="stale") and owner.lost(KEY) is None
        assert taker.get_execution(KEY).status is ExecutionStatus.RUNNING  # the stale end was not written
    finally:
        owner.close()
        taker.close()


def test_a_process_holding_more_than_1024_files_still_uses_its_pool(postgres_url: str, tmp_path: Path) -> None:
    """A kernel may hold thousands of open files; lending a pooled connection must not depend on select(),
    which refuses a descriptor above 1,023 (every call then waited for the pool's timeout)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"this process may open at most {hard} files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        opened = PostgresStore(postgres_url, files_dir=str(tmp_path / "files"), statement_timeout=5)
        try:
            launched(opened)
            assert opened.get_signal(KEY, "go").state.value == "PENDING"  # a pooled connection above fd 1,023
        finally:
            opened.close()
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def stored_nodes(url: str, name: str) -> dict[str, tuple[str, str | None]]:
    """Node id -> (state, outputs) of execution ``name``, read by a connection of its own."""
    with psycopg.connect(url, autocommit=True) as conn:
        return {node: (state, outputs) for node, state, outputs in conn.execute(
            "SELECT node_id, state, outputs FROM nodes WHERE execution = %s", (name,)).fetchall()}


def test_a_completion_is_in_the_database_and_the_lease_renewed_when_durable_returns(postgres_url: str) -> None:
    """``durable`` returns once the completion is the database's (read by another connection), written by one
    statement that renewed the owner's lease as it checked it; a change that is not a completion waits for the
    writer, and goes with the next completion at the latest."""
    store = PostgresStore(postgres_url, lease=60.0)
    try:
        chain = WorkflowExecutionIdentifier("p", "d", "chain")
        launched(store)
        store.create_execution(chain, "wf", {}, [{"node_id": f"n{i}", "kind": "task", "name": "t", "upstream": []}
                                                 for i in range(2)], [])
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("UPDATE executions SET lease_until = extract(epoch from clock_timestamp()) + 1")
        store.update_node(chain, "n1", state=NodeState.RUNNING, started_at=time.time())
        store.update_node(chain, "n0", state=NodeState.SUCCEEDED, outputs=3)
        store.durable()
        assert stored_nodes(postgres_url, "chain") == {"n0": ("SUCCEEDED", "3"), "n1": ("RUNNING", None)}
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            left = conn.execute("SELECT name, lease_until - extract(epoch from clock_timestamp()) FROM executions "
                                "ORDER BY name").fetchall()
        assert left[0][0] == "chain" and 50 < left[0][1] <= 60  # renewed by the write
        assert left[1][0] == KEY.name and left[1][1] <= 1  # not written: not renewed
    finally:
        store.close()


def test_a_batch_across_executions_writes_those_still_owned_and_loses_the_one_taken_over(postgres_url: str) -> None:
    """One write of changes to two executions, one of them taken over by machine B meanwhile: the other's changes
    are written, the taken one's are not (B's rows stay as B left them), and only it is lost, with a ``lost``
    event."""
    owner, taker = PostgresStore(postgres_url), PostgresStore(postgres_url)
    owner.host, taker.host = "machine-a", "machine-b"
    kept = WorkflowExecutionIdentifier("p", "d", "kept")
    heard: list[StoreEvent] = []
    try:
        launched(owner)
        owner.create_execution(kept, "wf", {}, [{"node_id": "k", "kind": "task", "name": "t", "upstream": []}], [])
        owner.subscribe(heard.extend)
        take_over(taker, KEY, postgres_url)
        owner.update_node(KEY, "g", state=NodeState.SUCCEEDED, outputs=True)
        owner.update_node(kept, "k", state=NodeState.SUCCEEDED, outputs=5)
        owner.durable()
        assert stored_nodes(postgres_url, "kept") == {"k": ("SUCCEEDED", "5")}
        assert stored_nodes(postgres_url, KEY.name) == {"g": ("QUEUED", None)}
        assert owner.lost(kept) is None
        assert f"was taken over by process {os.getpid()} on machine-b" in (owner.lost(KEY) or "")
        eventually(lambda: [(e.kind, e.execution_id) for e in heard if e.kind == "lost"] == [("lost", KEY)],
                   timeout=10, what="the lost event")
        owner.update_node(KEY, "g", state=NodeState.FAILED)  # a lost copy's later change: dropped as well
        owner.update_node(kept, "k", error="late")
        owner.flush()
        assert stored_nodes(postgres_url, KEY.name) == {"g": ("QUEUED", None)}
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            assert conn.execute("SELECT error FROM nodes WHERE execution = 'kept'").fetchone() == ("late",)
    finally:
        owner.close()
        taker.close()


def stored(url: str, name: str) -> dict[str, list[tuple[Any, ...]]]:
    """The nodes, signals and events the database holds of execution ``name``."""
    with psycopg.connect(url, autocommit=True) as conn:
        return {table: conn.execute(f"SELECT * FROM {table} WHERE execution = %s ORDER BY 1, 2, 3, 4",
                                    (name,)).fetchall() for table in ("nodes", "signals", "events")}


def test_a_store_that_lost_an_execution_adds_no_node_to_it_and_says_so(postgres_url: str) -> None:
    """Machine A's execution is taken over by machine B; A's dynamic node then adds its nodes: nothing is inserted
    into B's execution (checked with the insert, in one round trip), A gets ``ExecutionLostError`` naming B, marks
    it lost and tells its subscribers, and adds nothing later either, also once its copy ended; B, which owns it
    now, and a store that never ran it add nodes as before."""
    owner, taker, other = (PostgresStore(postgres_url, lease=30.0) for _ in range(3))
    owner.host, taker.host, other.host = "machine-a", "machine-b", "machine-c"
    heard: list[StoreEvent] = []
    node = {"node_id": "d.0", "kind": "gate", "name": "more", "upstream": ["g"], "signal_id": "more"}
    sig = {"signal_id": "more", "kind": "approve", "node_id": "d.0", "description": None,
           "type": GateType.of(bool).to_record(), "context": None}
    try:
        launched(owner)
        owner.subscribe(heard.extend)
        take_over(taker, KEY, postgres_url)
        before = stored(postgres_url, KEY.name)
        with pytest.raises(ExecutionLostError, match=f"was taken over by process {os.getpid()} on machine-b"):
            owner.add_nodes(KEY, [node], [sig])
        assert stored(postgres_url, KEY.name) == before
        assert "on machine-b" in (owner.lost(KEY) or "")
        assert [(e.kind, e.execution_id) for e in heard if e.kind == "lost"] == [("lost", KEY)]
        with pytest.raises(ExecutionLostError):  # known lost: still nothing
            owner.add_nodes(KEY, [node], [sig])
        assert owner.end_execution(KEY, ExecutionStatus.ABORTED) and owner.lost(KEY) is None  # its copy stopped
        with pytest.raises(ExecutionLostError, match="no longer run by this process"):  # a late dynamic node
            owner.add_nodes(KEY, [node], [sig])
        assert stored(postgres_url, KEY.name) == before
        taker.add_nodes(KEY, [node], [sig])
        other.add_nodes(KEY, [{**node, "node_id": "d.1", "signal_id": None}], [])
        assert [n.node_id for n in taker.get_execution(KEY).nodes] == ["g", "d.0", "d.1"]
        assert [s.signal_id for s in taker.list_signals(KEY)] == ["go", "more"]
    finally:
        for store in (owner, taker, other):
            store.close()


HELD_BODY, RELEASE_BODY = threading.Event(), threading.Event()  # the dynamic body started; it may return


@task
def tenfold(item: int) -> int:
    return item * 10


@task
def total(values: list[int]) -> int:
    return sum(values)


@dynamic
def held_fan_out(items: list[int]) -> int:
    HELD_BODY.set()
    assert RELEASE_BODY.wait(60)
    return total(values=[tenfold(item=i) for i in items])


@workflow
def fan_out(items: list[int]) -> int:
    return held_fan_out(items=items)


HANDLED = threading.Event()  # the on_failure handler ran


@task
def held_failure(n: int) -> int:
    HELD_BODY.set()
    assert RELEASE_BODY.wait(60)
    raise ValueError(f"step {n} failed")


@task
def note_failure(n: int) -> None:
    HANDLED.set()


@workflow(on_failure=note_failure)
def fails_held(n: int) -> int:
    return held_failure(n=n)


@contextlib.contextmanager
def taken_over_while_held(url: str, wf: Any, inputs: dict[str, Any], name: str) -> Iterator[tuple[Any, PostgresStore]]:
    """``wf`` launched on machine A (an executor on its own store) until its held step runs (``HELD_BODY``), then the
    execution taken over by machine B (A's lease expired): yields A's execution and B's store; the test releases
    the step (``RELEASE_BODY``). Everything is shut down afterwards."""
    HELD_BODY.clear()
    RELEASE_BODY.clear()
    owner, taker = PostgresStore(url, lease=30.0), PostgresStore(url)
    owner.host, taker.host = "machine-a", "machine-b"
    executor = Executor(owner, max_workers=2)
    key = WorkflowExecutionIdentifier("default", "development", name)
    try:
        ex = executor.launch(wf, inputs, execution_name=name)
        assert HELD_BODY.wait(30)
        owner.flush()  # the held node's start: written before B takes over, so A's next write finds B first
        take_over(taker, key, url)
        yield ex, taker
    finally:
        RELEASE_BODY.set()
        executor.shutdown()
        owner.close()
        taker.close()


def ends_lost_to_machine_b(ex: Any, taker: PostgresStore) -> None:
    """A's copy ``ex`` ends ABORTED with ``ExecutionLostError`` naming B; B's execution still runs, B's to end."""
    with pytest.raises(ExecutionLostError, match=f"was taken over by process {os.getpid()} on machine-b"):
        ex.wait(timeout=30)
    assert ex.status is ExecutionStatus.ABORTED
    record = taker.get_execution(ex.id)
    assert (record.status, record.host) == (ExecutionStatus.RUNNING, "machine-b")


def test_a_copy_taken_over_before_its_on_failure_handler_runs_stops_without_running_it(postgres_url: str) -> None:
    """A task fails on machine A after machine B took the execution over: A's engine does not add or run the
    workflow's ``on_failure`` handler on B's execution; its copy ends ABORTED with ``ExecutionLostError`` naming B
    (not FAILED with "the handler failed as well"), and B's execution is left as B has it."""
    HANDLED.clear()
    with taken_over_while_held(postgres_url, fails_held, {"n": 1}, "failing") as (ex, taker):
        RELEASE_BODY.set()
        ends_lost_to_machine_b(ex, taker)
        assert not HANDLED.is_set() and "on_failure" not in stored_nodes(postgres_url, "failing")


def test_a_kernel_whose_lease_was_taken_while_a_dynamic_body_ran_adds_nothing_and_stops(postgres_url: str) -> None:
    """A ``@dynamic`` body runs on machine A while machine B takes the execution over (A's lease expired): when the
    body returns, A's engine adds none of its nodes to B's execution and ends its copy ``ExecutionLostError``
    naming B, runs none of the body's tasks, and records no end."""
    with taken_over_while_held(postgres_url, fan_out, {"items": [1, 2]}, "fanned") as (ex, taker):
        before = stored(postgres_url, "fanned")
        RELEASE_BODY.set()
        ends_lost_to_machine_b(ex, taker)
        assert stored(postgres_url, "fanned") == before  # no node, signal or event added


def test_a_refused_write_changes_nothing_and_keeps_the_changes_for_the_next(postgres_url: str) -> None:
    """The database refuses a completion's write (here a trigger raises): ``durable`` raises ``StoreError``,
    nothing of the write is kept (not the node, not the lease's renewal), and the change stays queued: once the
    database takes writes again, the next ``durable`` writes it."""
    store = PostgresStore(postgres_url, retry_for=0.5)
    try:
        launched(store)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("UPDATE executions SET lease_until = 1")
            conn.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                         "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$")
            conn.execute("CREATE TRIGGER refuse BEFORE UPDATE ON nodes FOR EACH ROW EXECUTE FUNCTION refuse()")
        store.update_node(KEY, "g", state=NodeState.SUCCEEDED, outputs=True)
        with pytest.raises(StoreError, match="refused by the test"):
            store.durable()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            assert conn.execute("SELECT lease_until FROM executions").fetchone() == (1,)
            assert conn.execute("SELECT state FROM nodes").fetchone() == ("QUEUED",)
            conn.execute("DROP TRIGGER refuse ON nodes")
        store.durable()
        assert stored_nodes(postgres_url, KEY.name) == {"g": ("SUCCEEDED", "true")}
        assert store.lost(KEY) is None
    finally:
        store.close()


WRITER = """
import sys, time
from gatewidgets.models.execution import NodeState, WorkflowExecutionIdentifier
from gatewidgets.store.postgres.store import PostgresStore
from gatewidgets.types import GateType

store = PostgresStore(sys.argv[1], statement_timeout=60, lease=60)
key = WorkflowExecutionIdentifier("p", "d", "writing")
adds = sys.argv[2] == "adds"
store.create_execution(key, "wf", {}, [] if adds else [{"node_id": f"n{i}", "kind": "task", "name": "t",
                                                         "upstream": []} for i in range(50_000)], [])
for i in range(50_000):
    if adds:
        store.add_nodes(key, [{"node_id": f"n{i}", "kind": "gate", "name": "g", "upstream": [], "signal_id": f"s{i}"}],
                        [{"signal_id": f"s{i}", "kind": "approve", "node_id": f"n{i}", "description": None,
                          "type": GateType.of(bool).to_record(), "context": None}])
    else:
        store.update_node(key, f"n{i}", state=NodeState.RUNNING, started_at=time.time())
        store.update_node(key, f"n{i}", state=NodeState.SUCCEEDED, outputs=i)
        store.durable()
"""


@pytest.mark.parametrize("writes", ["adds", "completes"])
def test_a_process_paused_while_it_writes_nodes_holds_no_row(postgres_url: str, writes: str, tmp_path: Path) -> None:
    """A process adding a dynamic node's nodes and signals, or completing nodes (each committed before the next
    starts), over and over, is paused (SIGSTOP) twenty times at random moments: each time, the execution's row and
    its nodes' rows can be locked at once by another connection (an adoption need not wait for the paused
    process's lease or the idle timeout); what it wrote is in order: added nodes numbered as added, signals and
    their ``created`` events with them; completions a prefix of the chain."""
    said = tmp_path / "stderr"
    with said.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-c", WRITER, postgres_url, writes], stderr=err, text=True)
    try:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            def done() -> list[int]:
                return [n for n, in conn.execute("SELECT seq FROM nodes WHERE state <> 'QUEUED' OR kind = 'gate' "
                                                 "ORDER BY seq").fetchall()]

            def started() -> bool:
                made, = conn.execute("SELECT to_regclass('nodes') IS NOT NULL").fetchone()
                return made and len(done()) > 20 or proc.poll() is not None

            eventually(started, timeout=60, what="nodes to be written")
            assert proc.poll() is None, said.read_text()
            conn.execute("SET lock_timeout = '5s'")  # the server ends a statement it had within ms
            for _ in range(20):
                paused(proc)
                with conn.transaction():
                    assert conn.execute("SELECT name FROM executions WHERE name = 'writing' FOR UPDATE").fetchone()
                    conn.execute("SELECT 1 FROM nodes FOR UPDATE")
                os.kill(proc.pid, signal.SIGCONT)
                time.sleep(0.05)
            paused(proc)  # a statement it sent may still commit: one snapshot for every read
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                written = done()
                assert written == list(range(len(written)))
                if writes == "adds":
                    assert conn.execute("SELECT array_agg(node_id ORDER BY seq) FROM nodes").fetchone() == (
                        [f"n{i}" for i in written],)
                    assert conn.execute("SELECT array_agg(signal_id ORDER BY seq), array_agg(seq ORDER BY seq) "
                                        "FROM signals").fetchone() == ([f"s{i}" for i in written], written)
                    assert conn.execute("SELECT count(*) FROM events WHERE kind = 'created'").fetchone() == (
                        len(written),)
                else:
                    succeeded, = conn.execute("SELECT count(*) FROM nodes WHERE state = 'SUCCEEDED' AND outputs = "
                                              "seq::text").fetchone()
                    assert succeeded in (len(written) - 1, len(written))  # the last one may be running
    finally:
        stop_all(proc)


def test_a_batch_larger_than_one_statements_parameters_is_written_whole(postgres_url: str) -> None:
    """12,000 completions written at once (more values than one statement may carry): every one is stored."""
    store = PostgresStore(postgres_url)
    key = WorkflowExecutionIdentifier("p", "d", "wide")
    try:
        store.create_execution(key, "wf", {}, [{"node_id": f"n{i}", "kind": "task", "name": "t", "upstream": []}
                                               for i in range(12_000)], [])
        for i in range(12_000):
            store.update_node(key, f"n{i}", state=NodeState.SUCCEEDED, outputs=i, finished_at=1.0)
        store.durable()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM nodes WHERE state = 'SUCCEEDED' AND outputs = substr(node_id, 2) "
                                "AND finished_at = '1.0'").fetchone() == (12_000,)
        assert store.lost(key) is None
    finally:
        store.close()
