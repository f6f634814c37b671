"""Issue 13 (the store): private files, read-only stores, and every sqlite3 failure as one StoreError line
naming the file, from GateRemote, the command line, ``%gate`` and the widget. Other processes are real."""
from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import eventually

from gatewidgets import (
    GateFile,
    GateRemote,
    NodeState,
    SignalState,
    StoreError,
    recover,
    task,
    wait_for_input,
    workflow,
)


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


_MAKE_PENDING = """
import sys
from gatewidgets.models.execution import WorkflowExecutionIdentifier as Key
from gatewidgets.store import open_store
from gatewidgets.types import GateFile, GateType

store = open_store(sys.argv[1])
key = Key("default", "development", "ex")
store.create_execution(
    key, "wf", {}, [{"node_id": f"n{i}", "kind": "input", "name": s, "upstream": [], "signal_id": s}
                    for i, s in enumerate(("ok", "doc"))],
    [{"signal_id": s, "kind": "approve" if t is bool else "input", "node_id": f"n{i}",
      "type": GateType.of(t).to_record()} for i, (s, t) in enumerate((("ok", bool), ("doc", GateFile)))])
store.reach_signal(key, "ok", None)
"""


def make_pending(path: Path) -> None:
    """A store at ``path`` with execution ``ex`` whose boolean signal ``ok`` waits (and file ``doc`` is upcoming),
    written by a process
    that then exits (SQLite folds its -wal into the file and removes the -wal and -shm)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", _MAKE_PENDING, str(path)], check=True, env=env, timeout=60)


def raw_state(path: Path) -> tuple[list[tuple[Any, ...]], int]:
    """The signals and the number of events, read with plain sqlite3."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return (conn.execute("SELECT signal_id, state, value FROM signals").fetchall(),
                conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def cli(*args: str, store: Path, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "GATEWIDGETS_STORE": str(store)}
    return subprocess.run([*prefix, sys.executable, "-m", "gatewidgets", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def one_error_line(result: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert result.returncode in (1, 2), result
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    for part in parts:
        assert part in result.stderr, result.stderr


# -- permissions --------------------------------------------------------------------------------


@task
def size_of(f: GateFile) -> int:
    return f.size


@workflow
def upload() -> int:
    return size_of(f=wait_for_input("doc", timeout=None, expected_type=GateFile))


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[None]:
    """The process's umask is ``request.param`` for the test (parametrize with ``indirect=True``)."""
    old = os.umask(request.param)
    try:
        yield
    finally:
        os.umask(old)


def _upload_into(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[GateRemote, Path]:
    """Run ``upload`` on the store ``path`` with a file set through ``GateRemote``: the remote and the stored file."""
    monkeypatch.setenv("GATEWIDGETS_STORE", str(path))
    ex = upload.launch(execution_name="perm")
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal("doc", "perm").state is SignalState.PENDING)
    doc = path.parent.parent / "doc.txt"
    doc.write_text("hello")
    remote.set_input("doc", "perm", GateFile(str(doc)))
    assert ex.wait(timeout=10) == 5
    return remote, Path(remote.get_signal("doc", "perm").value.path)


@pytest.mark.parametrize("umask", [0o022], indirect=True)
def test_store_files_and_folders_are_user_only_under_umask_022(tmp_path: Path, umask: None,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "new" / "deeper" / "gates.db"
    _upload_into(path, monkeypatch)
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        assert mode(file) == 0o600, file
    for folder in (path.parent.parent, path.parent, path.parent / "files"):
        assert mode(folder) == 0o700, folder


@pytest.mark.parametrize("umask", [0o022], indirect=True)
def test_an_existing_world_readable_store_is_tightened(tmp_path: Path, umask: None) -> None:
    path = tmp_path / "old" / "gates.db"
    path.parent.mkdir()
    conn = sqlite3.connect(path)  # made by an older gatewidgets: 0644, and a 0755 files/ folder
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    (path.parent / "files").mkdir(mode=0o755)
    assert mode(path) == 0o644
    GateRemote(store=str(path)).list_executions()
    assert mode(path) == 0o600 and mode(path.parent / "files") == 0o700
    assert mode(path.parent) == 0o755  # not created by gatewidgets: left alone


@pytest.mark.parametrize("umask", [0], indirect=True)
def test_everything_the_store_makes_is_private_under_umask_000_in_an_existing_folder(
        tmp_path: Path, umask: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database, its -wal and -shm, the journals' folder and a journal, files/ and a stored file's folders
    and the file: each 0700 or 0600, in a folder that existed, open to everyone (left as it was)."""
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, 0o777)
    path = folder / "gates.db"
    remote, stored = _upload_into(path, monkeypatch)
    journal = Path(remote.store._own_journal_path())  # a completion was journaled
    made = {Path(root) / name for root, dirs, files in os.walk(folder) for name in (*dirs, *files)}
    assert {path, Path(f"{path}-wal"), Path(f"{path}-shm"), journal.parent, journal, folder / "files",
            stored.parent.parent, stored.parent, stored} <= made
    assert {p: mode(p) for p in made} == {p: 0o700 if p.is_dir() else 0o600 for p in made}
    assert mode(folder) == 0o777  # not made by gatewidgets: left alone


PROBED: list[int] = []


@task
def probe(x: int) -> int:
    PROBED.append(x)
    return x + 1


@workflow
def probed() -> int:
    return probe(x=wait_for_input("go", timeout=None, expected_type=int))


_START_PROBED = """
import sys, time
import test_trust_store
test_trust_store.probed.launch(execution_name=sys.argv[1])
print("started", flush=True)
time.sleep(600)
"""


def _plant(journal: Path, data: bytes, how: str, elsewhere: Path) -> None:
    """Put a journal at ``journal`` as ``how`` says: ``private`` as a process of this user writes one; else with
    a flaw: readable by others (``mode``), a link to a private file (``symlink``), another user's (``owner``), or
    in a folder others may write (``folder``)."""
    journal.parent.mkdir(mode=0o700, exist_ok=True)
    target = elsewhere if how == "symlink" else journal
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    if how == "symlink":
        journal.symlink_to(target)
    elif how == "mode":
        os.chmod(journal, 0o644)
    elif how == "owner":
        os.chown(journal, 4242, 4242)
    elif how == "folder":
        os.chmod(journal.parent, 0o777)


@pytest.mark.parametrize("how", ["private", "mode", "symlink", "owner", "folder"])
def test_recovery_replays_only_a_private_journal_of_this_user(tmp_path: Path, gatewidgets_store: Path, how: str,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """A journal planted under a dead owner's name claims that a node which never ran SUCCEEDED with 999: only
    a private file of this user in the private journals' folder is believed; else the node runs for real."""
    if how == "owner" and os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    PROBED.clear()
    name = f"planted-{how}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    owner = subprocess.Popen([sys.executable, "-c", _START_PROBED, name], env=env, stdout=subprocess.PIPE, text=True)
    remote = GateRemote.for_sandbox()
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "started"
        eventually(lambda: remote.get_signal("go", name).state is SignalState.PENDING, 30)
    finally:
        owner.kill()
        owner.wait(timeout=10)
    remote.set_input("go", name, 1)
    record = remote.get_execution(name)
    node = next(n.node_id for n in record.nodes if n.name == "probe")
    assert record.pid is not None and record.host is not None
    journal = Path(remote.store._journal_path(record.host, record.pid, record.pid_started))
    _plant(journal, f"\ndefault\tdevelopment\t{name}\t{node}\tSUCCEEDED\t1500000\t999\0".encode(), how,
           tmp_path / "elsewhere.journal")
    caplog.set_level(logging.WARNING, logger="gatewidgets")
    result = recover(name, workflow=probed).wait(timeout=30)
    outputs = {n.name: (n.state, n.outputs) for n in remote.get_execution(name).nodes}
    if how == "private":  # the control: what a real journal of a killed owner does
        assert (result, PROBED, outputs["probe"]) == (999, [], (NodeState.SUCCEEDED, 999))
        assert not journal.exists()
        return
    assert (result, PROBED, outputs["probe"]) == (2, [1], (NodeState.SUCCEEDED, 2))  # it ran for real
    assert "does not replay the completion journal" in caplog.text
    assert journal.is_symlink() or journal.is_file()  # not ours to remove


# -- read-only stores ---------------------------------------------------------------------------


def _unprivileged() -> tuple[str, ...]:
    """A command prefix that runs without the right to override file permissions (root ignores them)."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot drop the right to write read-only files")
    prefix = (setpriv, "--inh-caps=-all", "--bounding-set=-all", "--")
    if subprocess.run([*prefix, "true"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("setpriv cannot drop capabilities here")
    return prefix


@pytest.fixture(params=["file-and-folder", "file-only"])
def read_only_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A store with a pending signal that this user may read but not write (its file; or its folder too)."""
    path = tmp_path / "ro" / "gates.db"
    make_pending(path)
    os.chmod(path, 0o400)
    if request.param == "file-and-folder":
        os.chmod(path.parent, 0o500)
    try:
        yield path
    finally:
        os.chmod(path.parent, 0o700)
        os.chmod(path, 0o600)


def test_read_only_store_lists_and_refuses_writes_naming_the_file(read_only_store: Path) -> None:
    prefix = _unprivileged()
    before = raw_state(read_only_store)
    listed = cli("list", "--all", "--json", store=read_only_store, prefix=prefix)
    assert listed.returncode == 0, listed.stderr
    assert '"signal_id": "ok"' in listed.stdout and '"state": "PENDING"' in listed.stdout
    assert cli("executions", store=read_only_store, prefix=prefix).returncode == 0
    refused = cli("approve", "ok", "-e", "ex", store=read_only_store, prefix=prefix)
    one_error_line(refused, "StoreError", str(read_only_store), "read-only")
    assert refused.returncode == 1
    doc = read_only_store.parent.parent / "doc.txt"
    doc.write_text("content")
    script = ("import sys\nfrom gatewidgets import GateFile, GateRemote, StoreError\n"
              "r = GateRemote.for_sandbox()\n"
              "assert r.store.read_only and [s.signal_id for s in r.list_signals('ex')] == ['ok', 'doc']\n"
              "for attempt in (lambda: r.reject('ok', 'ex'),\n"
              "                lambda: r.set_input('doc', 'ex', GateFile(sys.argv[1]))):\n"
              "    try:\n        attempt()\n    except StoreError as e:\n        print('REFUSED', e)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "GATEWIDGETS_STORE": str(read_only_store)}
    out = subprocess.run([*prefix, sys.executable, "-c", script, str(doc)], capture_output=True, text=True, env=env,
                         timeout=60)
    refusals = out.stdout.splitlines()
    assert out.returncode == 0 and len(refusals) == 2, out
    assert all(r.startswith(f"REFUSED The gatewidgets store {read_only_store} was opened read-only") for r in refusals)
    assert not any(files.is_file() for files in (read_only_store.parent / "files").rglob("*"))  # no copy left
    assert raw_state(read_only_store) == before
    assert not Path(f"{read_only_store}-wal").exists() or os.path.getsize(f"{read_only_store}-wal") == 0


# -- corrupt stores -----------------------------------------------------------------------------


@pytest.fixture(params=["random-bytes", "truncated"])
def corrupt_store(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / "bad" / "gates.db"
    if request.param == "random-bytes":
        path.parent.mkdir()
        path.write_bytes(os.urandom(8192))
    else:
        make_pending(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    return path


def test_corrupt_store_is_one_line_naming_the_file_on_every_face(corrupt_store: Path) -> None:
    before = corrupt_store.read_bytes()
    with pytest.raises(StoreError, match=f"{corrupt_store}.*corrupt"):
        remote = GateRemote(store=str(corrupt_store))
        remote.list_signals("ex")
        remote.list_executions()
    for argv in (("list",), ("executions",), ("approve", "ok", "-e", "ex")):
        one_error_line(cli(*argv, store=corrupt_store), "StoreError", str(corrupt_store), "move it aside")
    from helpers.shell import global_shell
    from IPython.core.error import UsageError

    from gatewidgets.magics import GateMagics
    from gatewidgets.settings import settings

    shell = global_shell()
    magics = GateMagics(shell)
    saved = settings.store
    settings.store = str(corrupt_store)
    try:
        with pytest.raises(UsageError) as info:
            magics.gate("list")
    finally:
        settings.store = saved
    assert "\n" not in str(info.value) and str(corrupt_store) in str(info.value)
    assert corrupt_store.read_bytes() == before


# -- faults while running -----------------------------------------------------------------------


@workflow
def gated() -> bool:
    return wait_for_input("ok", timeout=None, expected_type=bool)


def test_locked_store_shows_in_the_widget_error_text(gatewidgets_store: Path) -> None:
    from gatewidgets.widgets import GateWidget

    ex = gated.launch(execution_name="locked")
    remote = GateRemote.for_sandbox()
    signal = eventually(lambda: remote.get_signal("ok", "locked") if
                        remote.get_signal("ok", "locked").state is SignalState.PENDING else None)
    card = GateWidget(signal, remote=remote)
    before = raw_state(gatewidgets_store)
    remote.store._conn().execute("PRAGMA busy_timeout=100")  # this thread's connection: give up fast
    holder = sqlite3.connect(gatewidgets_store, isolation_level=None)  # another writer holds the lock
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert card.submit("true") is None
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(gatewidgets_store) in card.error_text and "locked" in card.error_text
    assert "Traceback" not in card.error_text
    assert raw_state(gatewidgets_store) == before
    card.close()
    assert remote.approve("ok", "locked").state is SignalState.SET  # the store works again
    assert ex.wait(timeout=10) is True


@workflow
def noted() -> str:
    return wait_for_input("note", timeout=None, expected_type=str)


def test_full_disk_is_a_store_error_and_stores_nothing(gatewidgets_store: Path) -> None:
    ex = noted.launch(execution_name="full")
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal("note", "full").state is SignalState.PENDING)
    remote.store.flush()
    before = raw_state(gatewidgets_store)
    conn = remote.store._conn()  # this thread's connection may not grow the file: SQLite's "disk is full"
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages}")
    with pytest.raises(StoreError, match=f"{gatewidgets_store} cannot grow: its disk is full"):
        remote.set_input("note", "full", "x" * 200_000)
    conn.execute("PRAGMA max_page_count=1073741823")
    assert raw_state(gatewidgets_store) == before
    ex.abort()


def test_file_that_cannot_be_copied_into_the_store_is_a_store_error(tmp_path: Path, monkeypatch:
                                                                    pytest.MonkeyPatch) -> None:
    path = tmp_path / "blocked" / "gates.db"
    path.parent.mkdir()
    (path.parent / "files").write_text("a file where the store keeps its files folder")
    monkeypatch.setenv("GATEWIDGETS_STORE", str(path))
    ex = upload.launch(execution_name="blocked")
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal("doc", "blocked").state is SignalState.PENDING)
    before = raw_state(path)
    doc = tmp_path / "doc.txt"
    doc.write_text("hello")
    with pytest.raises(StoreError, match=f"Cannot copy the file into the store's folder {path.parent / 'files'}"):
        remote.set_input("doc", "blocked", GateFile(str(doc)))
    assert raw_state(path) == before
    ex.abort()
