"""The PostgreSQL store when its server fails under it, beyond ``test_store_postgres.py``: the database's disk full
(a tablespace on a tmpfs of its own, filled for real), a database made read-only while an execution ends, and an
execution recovered on another machine (a process in namespaces of its own: another hostname, pid namespace, HOME
and no network, reaching the database by its unix socket). Every write the database refuses is one ``StoreError``
naming it without its password, leaves nothing half-written, and nothing waits forever or runs twice."""
from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest
from _held_workflow import RELEASE, held_at_its_last_step, kept_end_written
from _postgres import PostgresServer, database_of, database_on_small_disk
from helpers import eventually

from gatewidgets import GateRemote, SignalState, task, wait_for_input, workflow
from gatewidgets.engine import Executor
from gatewidgets.errors import StoreError
from gatewidgets.models.execution import ExecutionStatus, WorkflowExecutionIdentifier
from gatewidgets.store.postgres import masked
from gatewidgets.store.postgres.store import PostgresStore

SECRET = "s3cret-pw"
FULL = "is out of disk space (postgresql: could not extend file"


def with_password(url: str) -> str:
    """``url`` with a password (the suite's server trusts its socket, so it is sent only if asked for)."""
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@", 1)


def ran(side: Path) -> list[str]:
    """The task runs the side file records, in order (``<task> <execution>``)."""
    return side.read_text().splitlines() if side.exists() else []


def record_run(side: str, what: str) -> None:
    with open(side, "a") as f:
        f.write(f"{what}\n")


def big_text(kilobytes: int = 100) -> str:
    """Random text that does not compress: stored out of line, it needs pages the database does not have yet."""
    return base64.b64encode(os.urandom(kilobytes * 768)).decode()


# -- a full disk ----------------------------------------------------------------------------------------------------

SUMMARIZE = threading.Event()  # summarized may finish


@task
def drafted(side: str, name: str) -> int:
    record_run(side, f"drafted {name}")
    return len(name)


@task
def published(side: str, name: str, n: int, note: str, brief: str) -> str:
    record_run(side, f"published {name}")
    return f"{n}:{len(note)}:{len(brief)}"


@workflow
def reviewed(side: str, name: str, brief: str) -> str:
    n = drafted(side=side, name=name)
    note = wait_for_input("note", timeout=None, expected_type=str)
    return published(side=side, name=name, n=n, note=note, brief=brief)


@task
def summarized(side: str) -> str:
    record_run(side, "summarized")
    SUMMARIZE.wait(60)
    return big_text()


@task
def archived(side: str, summary: str) -> int:
    record_run(side, "archived")
    return len(summary)


@workflow
def summary(side: str) -> int:
    return archived(side=side, summary=summarized(side=side))


def fill(url: str) -> None:
    """Fill the database's disk through a connection of its own: a table of incompressible rows, until the server
    says ``No space left on device``."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE filler (b text)")
        with pytest.raises(psycopg.errors.DiskFull):
            for _ in range(100_000):
                conn.execute("INSERT INTO filler SELECT string_agg(md5(random()::text), '') "
                             "FROM generate_series(1, 300)")


def gw(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gatewidgets", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "GATEWIDGETS_STORE": url})


def test_a_full_disk_refuses_each_write_with_one_store_error_and_everything_goes_on_once_space_is_freed(
        postgres_server: PostgresServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Gates wait and a task runs; the database's disk fills (a tablespace on a tmpfs, filled by another
    connection). A launch, a set over ``GateRemote`` and over the CLI, and a node's completion each need new
    pages: each is one ``StoreError`` naming the database, password masked; nothing of them is written. The
    execution whose completion was refused ends FAILED here at once, its end kept. Space freed: the same launch
    goes through, the waiting gates are answered, the kept end is written once, and every task ran once."""
    caplog.set_level(logging.WARNING, logger="gatewidgets")
    SUMMARIZE.clear()
    side = tmp_path / "side"
    with database_on_small_disk(postgres_server) as plain_url:
        url = with_password(plain_url)
        store = PostgresStore(url, files_dir=str(tmp_path / "files"), statement_timeout=5, retry_for=1)
        executor = Executor(store, max_workers=4)
        remote = GateRemote(store=store, user="ann")
        try:
            waiting = [executor.launch(reviewed, {"side": str(side), "name": name, "brief": "short"},
                                       execution_name=name) for name in ("api", "cli")]
            summing = executor.launch(summary, {"side": str(side)}, execution_name="summing")
            eventually(lambda: [remote.get_signal("note", name).state for name in ("api", "cli")] == [
                SignalState.PENDING] * 2, timeout=30, what="the gates to wait")
            eventually(lambda: ran(side).count("summarized") == 1 and len(ran(side)) == 3, timeout=30,
                       what="the tasks before the gates to run")
            before = {name: [(e.kind, e.signal_id) for e in store.history(WorkflowExecutionIdentifier(
                "default", "development", name))] for name in ("api", "cli", "summing")}

            fill(plain_url)
            refusals: dict[str, str] = {}
            with pytest.raises(StoreError) as raised:
                executor.launch(reviewed, {"side": str(side), "name": "late", "brief": big_text()},
                                execution_name="late")
            refusals["launch"] = str(raised.value)
            with pytest.raises(StoreError) as raised:
                remote.set_input("note", "api", big_text())
            refusals["GateRemote"] = str(raised.value)
            answered = gw("set", "note", big_text(), "-e", "cli", url=url)
            assert answered.returncode == 1 and answered.stdout == "", answered.stderr
            assert answered.stderr.startswith("gatewidgets: StoreError: ") and answered.stderr.count("\n") == 1
            refusals["CLI"] = answered.stderr.removeprefix("gatewidgets: StoreError: ").strip()
            SUMMARIZE.set()  # summarized finishes: its completion needs pages too
            with pytest.raises(StoreError) as raised:
                summing.wait(timeout=60)
            refusals["completion"] = str(raised.value)
            assert summing.status is ExecutionStatus.FAILED
            for what, message in refusals.items():
                assert message.startswith(f"The gatewidgets store {masked(url)} {FULL}"), (what, message)
                assert message.endswith("To fix: free disk space on the database server (its data directory or "
                                        "tablespace)."), (what, message)
                assert SECRET not in message and "\n" not in message, what
            assert SECRET not in caplog.text

            # nothing half-written: no trace of the launch, the sets or the completion
            with psycopg.connect(plain_url, autocommit=True) as conn:
                assert conn.execute("SELECT name, status FROM executions ORDER BY name").fetchall() == [
                    ("api", "RUNNING"), ("cli", "RUNNING"), ("summing", "RUNNING")]
                assert conn.execute("SELECT count(*) FROM signals WHERE execution = 'late'").fetchone() == (0,)
                assert conn.execute("SELECT execution, state, value FROM signals ORDER BY execution").fetchall() == [
                    ("api", "PENDING", None), ("cli", "PENDING", None)]
                assert conn.execute("SELECT state IN ('QUEUED', 'RUNNING'), outputs FROM nodes "  # RUNNING: behind
                                    "WHERE execution = 'summing' ORDER BY seq").fetchall() == [(True, None)] * 2
            for name, kinds in before.items():
                key = WorkflowExecutionIdentifier("default", "development", name)
                assert [(e.kind, e.signal_id) for e in store.history(key)] == kinds, name

            with psycopg.connect(plain_url, autocommit=True) as conn:
                conn.execute("DROP TABLE filler")  # space freed
            late = executor.launch(reviewed, {"side": str(side), "name": "late", "brief": big_text()},
                                   execution_name="late")
            notes = {name: big_text() for name in ("api", "cli", "late")}
            remote.set_input("note", "api", notes["api"])
            answered = gw("set", "note", notes["cli"], "-e", "cli", url=url)
            assert answered.returncode == 0, answered.stderr
            eventually(lambda: remote.get_signal("note", "late").state is SignalState.PENDING, timeout=30,
                       what="the late launch's gate to wait")
            remote.set_input("note", "late", notes["late"])
            assert [ex.wait(timeout=60) for ex in waiting] == [f"3:{len(notes['api'])}:5", f"3:{len(notes['cli'])}:5"]
            assert late.wait(timeout=60) == f"4:{len(notes['late'])}:{len(big_text())}"
            with psycopg.connect(plain_url, autocommit=True) as conn:
                def summing_row() -> tuple[Any, ...] | None:
                    return conn.execute("SELECT status, error LIKE %s FROM executions WHERE name = 'summing'",
                                        (f"%{FULL}%",)).fetchone()

                eventually(lambda: summing_row() == ("FAILED", True), timeout=30, what="the kept end to be written")
                assert conn.execute("SELECT state, length(outputs) > 100000 FROM nodes WHERE execution = 'summing' "
                                    "ORDER BY seq").fetchall() == [("SUCCEEDED", True), ("ABORTED", None)]
                assert conn.execute("SELECT execution, count(*) FROM events WHERE kind = 'finished' GROUP BY "
                                    "execution ORDER BY execution").fetchall() == [
                    ("api", 1), ("cli", 1), ("late", 1), ("summing", 1)]
                assert conn.execute("SELECT execution, value = %s FROM signals ORDER BY execution",
                                    (json.dumps(notes["late"]),)).fetchall() == [
                    ("api", False), ("cli", False), ("late", True)]
            assert sorted(ran(side)) == ["drafted api", "drafted cli", "drafted late", "published api",
                                         "published cli", "published late", "summarized"]
        finally:
            SUMMARIZE.set()
            executor.shutdown()
            store.close()


# -- a database made read-only while an execution ends --------------------------------------------------------------

def read_only(server: PostgresServer, url: str, on: bool) -> None:
    """Make ``url``'s database read-only, or writable again, for the sessions that start from now on (a setting of
    the database, as an operator sets it); making it read-only also ends the sessions open on it."""
    name = database_of(url)
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = {'on' if on else 'off'}")  # type: ignore
        if on:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


def test_an_end_a_read_only_database_refuses_is_kept_and_written_once_it_takes_writes_again(
        postgres_server: PostgresServer, postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The database turns read-only while an execution runs its last task: the execution ends here with its real
    result at once, its end and last node kept (the writer keeps trying); the database turns writable again (its
    sessions left open: they stay read-only, so the store replaces each one refused) and the end is written once,
    with the last node's output. The lease is long, so no heartbeat runs meanwhile: the writer's own refused
    statements must replace the sessions."""
    caplog.set_level(logging.WARNING, logger="gatewidgets")
    store = PostgresStore(with_password(postgres_url), files_dir=str(tmp_path / "files"), statement_timeout=2,
                          retry_for=1, lease=3600)
    key = WorkflowExecutionIdentifier("default", "development", "read-only-end")
    with held_at_its_last_step(store, key.name) as (_, ex):
        read_only(postgres_server, postgres_url, True)
        RELEASE.set()
        assert ex.wait(timeout=60) == 20 and ex.status is ExecutionStatus.SUCCEEDED
        assert f"will record the end of execution {key} (SUCCEEDED) as soon as {store.path} accepts writes" in \
            caplog.text
        eventually(lambda: caplog.text.count(f"could not write to {store.path}") >= 2, timeout=30,
                   what="the writer to try again")
        assert f"{store.path} is read-only (postgresql: cannot execute SELECT in a read-only transaction)" in \
            caplog.text  # the node write's one statement: a SELECT over the claim and the updates
        assert SECRET not in caplog.text and "Traceback" not in caplog.text  # one line each
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            assert conn.execute("SELECT status FROM executions").fetchone() == ("RUNNING",)
            states = conn.execute("SELECT state FROM nodes ORDER BY seq").fetchall()
            assert states in ([("SUCCEEDED",), ("RUNNING",)], [("SUCCEEDED",), ("QUEUED",)])  # RUNNING: behind
        read_only(postgres_server, postgres_url, False)
        kept_end_written(postgres_url, key, timeout=20)
        assert f"recorded the end of execution {key} (SUCCEEDED) in {store.path}" in caplog.text


# -- another machine ------------------------------------------------------------------------------------------------

TESTS = Path(__file__).parent
NAMESPACES = ("--uts", "--net", "--pid", "--mount", "--fork", "--mount-proc", "--kill-child")  # unshare's end ends all


def on_machine(host: str, hidden: Path | None, *command: str) -> list[str]:
    """``command`` as a machine of its own: hostname ``host``, its own pids (the command is pid 1), no network, its
    own mounts, where ``hidden`` (another machine's folder) is covered by an empty file system."""
    hide = f'mount -t tmpfs -o size=1m none "{hidden}" && [ -z "$(ls -A "{hidden}")" ] && ' if hidden else ""
    return ["unshare", *NAMESPACES, "sh", "-c", f'hostname {host} && {hide}exec "$@"', "sh", *command]


def machine(folder: Path, url: str, lease: float) -> dict[str, str]:
    """The environment of a machine whose HOME is ``folder``, configured there (``~/.jupyter``) to use the team
    database ``url`` with leases of ``lease`` seconds; nothing else of this process's environment."""
    config = folder / ".jupyter" / "gatewidgets_config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"GateWidgets": {"store": url, "lease": lease}}))
    paths = [str(TESTS), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PATH": os.environ["PATH"], "HOME": str(folder), "LANG": "C.UTF-8", "PYTHONPATH": os.pathsep.join(paths)}


@pytest.fixture
def namespaces() -> None:
    """Skips unless this process may start a command in namespaces of its own (``unshare``: root, here)."""
    try:
        probe = subprocess.run(["unshare", *NAMESPACES, "true"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("unshare (util-linux) is not installed: another machine is a process in namespaces of its own")
    if probe.returncode != 0:
        pytest.skip(f"this process may not create namespaces (unshare said: {probe.stderr.strip()}): another "
                    "machine is a process in namespaces of its own; run as root")


def killed_at_its_gate(owner: subprocess.Popen[str]) -> None:
    """SIGKILL the first process of ``owner``'s namespaces (its pid 1: every process in them dies with it)."""
    proc = Path(f"/proc/{owner.pid}/task/{owner.pid}/children")
    eventually(lambda: proc.read_text().split() != [], timeout=10, what="unshare's child")
    os.kill(int(proc.read_text().split()[0]), signal.SIGKILL)
    owner.communicate(timeout=30)


@pytest.fixture
def owners() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


@pytest.mark.parametrize("b_host", ["machine-b", "machine-a"], ids=["another-hostname", "the-same-hostname"])
def test_another_machine_answers_the_gate_and_recovers_the_execution_once_the_killed_owners_lease_expired(
        namespaces: None, owners: list[subprocess.Popen[str]], postgres_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, b_host: str) -> None:
    """Machine A (hostname, pids, HOME and config of its own, no network: the database by its unix socket) launches
    a workflow as pid 1 and is killed at its gate. Machine B (HOME and config of its own, A's folder hidden; its
    commands are pid 1 too: pids collide, leases decide) may not take the execution while A's lease is renewed;
    it answers the gate by the CLI, and once A's lease expired it recovers the execution by name with the CLI: the
    task before the gate ran once, on A; the one after it ran on B. B has another hostname, or A's (containers
    that share one): pid 1 on both, and still told apart, by their pid namespaces."""
    url, name = with_password(postgres_url), "across-machines"
    side = tmp_path / "shared" / "side"
    side.parent.mkdir()
    a_home, b_home = tmp_path / "machine-a", tmp_path / "machine-b"
    a_env, b_env = machine(a_home, url, 2.0), machine(b_home, url, 2.0)
    monkeypatch.setenv("GATEWIDGETS_STORE", url)
    remote = GateRemote.for_sandbox()

    def on_b(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(on_machine(b_host, a_home, sys.executable, "-m", "gatewidgets", *args),
                              env=b_env, capture_output=True, text=True, timeout=120)

    def waiting() -> bool:
        try:
            return remote.get_signal("go", name).state is SignalState.PENDING
        except LookupError:
            return False

    owner = subprocess.Popen(on_machine("machine-a", None, sys.executable, "-c",
                                        "import _machine_workflow; _machine_workflow.main()", name, str(side)),
                             env=a_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    owners.append(owner)
    eventually(waiting, timeout=60, what="machine A's gate to wait")
    record = remote.get_execution(name)
    assert (record.host, record.pid, record.workflow_path) == ("machine-a", 1, "_machine_workflow:across")
    assert ran(side) == ["before machine-a 1"]
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # the lease machine A's config gave it
        assert conn.execute("SELECT lease_until - extract(epoch from clock_timestamp()) <= 2.0 FROM executions"
                            ).fetchone() == (True,)

    refused = on_b("recover", name)
    assert refused.returncode == 1 and refused.stdout == "", refused.stderr
    assert "still running in process 1 on machine-a" in refused.stderr and SECRET not in refused.stderr
    assert remote.get_execution(name).host == "machine-a"

    killed_at_its_gate(owner)
    answered = on_b("approve", "go", "-e", name)
    assert answered.returncode == 0, answered.stderr
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        eventually(lambda: conn.execute("SELECT lease_until < extract(epoch from clock_timestamp()) FROM executions"
                                        ).fetchone() == (True,), timeout=30, what="machine A's lease to expire")
    recovered = on_b("recover", name, "--json")
    assert recovered.returncode == 0, recovered.stderr
    assert recovered.stdout.strip().splitlines()[-1] == "20"  # a=1: before gave 2, after 20
    assert ran(side) == ["before machine-a 1", f"after {b_host} 1"]
    record = remote.get_execution(name)
    assert (record.status, record.outputs, record.host, record.pid) == (ExecutionStatus.SUCCEEDED, 20, b_host, 1)
    kinds = [e.kind for e in remote.history(name)]
    assert (kinds.count("set"), kinds.count("finished")) == (1, 1), kinds
