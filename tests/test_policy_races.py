"""Approvals racing under a quorum: processes released together approve one gate; the value flows once, counted
from distinct people. Each test runs on a SQLite file and on a PostgreSQL database (the suite's own server)."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from _procs import released_together
from helpers import HELPERS, eventually

from gatewidgets import GateRemote, SignalState, approve, task, workflow
from gatewidgets.engine import Execution

SETTER = str(HELPERS / "setter.py")


@pytest.fixture(autouse=True, params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, gatewidgets_store: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store this process (the owner) and the approvers name: the test's SQLite file or a fresh database."""
    if request.param == "postgres":
        monkeypatch.setenv("GATEWIDGETS_STORE", request.getfixturevalue("postgres_url"))
    return os.environ["GATEWIDGETS_STORE"]


def bump(path: str) -> None:
    with open(path, "a") as f:
        f.write("x\n")


@task
def prepare(out: str) -> int:
    bump(os.path.join(out, "prepare"))
    return 7


@task
def release(v: int, out: str) -> int:
    bump(os.path.join(out, "release"))
    return v * 10


@workflow
def pair(out: str) -> int:
    return release(v=approve(prepare(out=out), "ok", timeout=timedelta(minutes=5), quorum=2), out=out)


def runs(out: Path, task_name: str) -> int:
    path = out / task_name
    return len(path.read_text().splitlines()) if path.exists() else 0


def approve_at_once(name: str, users: list[str], sync: Path) -> list[dict]:
    """Approve gate ``ok`` of ``name`` as each of ``users``, one process each, all released by one file."""
    return released_together([[SETTER, name, "ok", "approve", user, str(sync), f"{user}-{i}"]
                              for i, user in enumerate(users)], sync, timeout=60)


def launched(tmp_path: Path, name: str) -> tuple[Execution, Path]:
    """``pair`` launched here as ``name``, waiting for its approval; and the folder its tasks count runs in."""
    out = tmp_path / "out"
    out.mkdir()
    ex = pair.launch(out=str(out), execution_name=name)
    eventually(lambda: GateRemote.for_sandbox().get_signal("ok", name).state is SignalState.PENDING, 60,
               what="the approval to wait")
    return ex, out


def test_approvers_reaching_the_quorum_together_let_the_value_flow_once(tmp_path: Path) -> None:
    ex, out = launched(tmp_path, "quorum-race")
    remote = GateRemote.for_sandbox()
    outcomes = approve_at_once("quorum-race", ["alice", "bob", "carol", "dave"], tmp_path / "sync")
    assert ex.wait(timeout=30) == 70
    assert (runs(out, "prepare"), runs(out, "release")) == (1, 1)
    signal = remote.get_signal("ok", "quorum-race")
    counted = [a.user for a in signal.approvals]
    assert signal.state is SignalState.SET and len(counted) == len(set(counted)) == 2, counted
    history = remote.history("quorum-race", signal_id="ok")
    sets = [e for e in history if e.kind == "set"]
    assert len(sets) == 1 and sets[0].set_by == counted[-1]
    assert [a["user"] for a in sets[0].detail["approvals"]] == counted
    approved = [e.set_by for e in history if e.kind == "approved"]
    assert approved == counted[:1]  # the one partial approval before the set, by the other person counted
    # the first approval sees it open (1 of 2); every later one sees it set by the second person counted
    assert sorted(o["state"] for o in outcomes) == ["PENDING", "SET", "SET", "SET"], outcomes
    assert {o["set_by"] for o in outcomes if o["state"] == "SET"} == {counted[-1]}, outcomes


def test_one_person_approving_from_two_processes_at_once_counts_once(tmp_path: Path) -> None:
    ex, out = launched(tmp_path, "same-person")
    remote = GateRemote.for_sandbox()
    outcomes = approve_at_once("same-person", ["alice", "alice"], tmp_path / "sync")
    assert [o["state"] for o in outcomes] == ["PENDING", "PENDING"], outcomes
    signal = remote.get_signal("ok", "same-person")
    assert signal.state is SignalState.PENDING and [a.user for a in signal.approvals] == ["alice"]
    assert [e.set_by for e in remote.history("same-person", signal_id="ok") if e.kind == "approved"] == ["alice"]
    assert runs(out, "release") == 0 and not ex.done()
    GateRemote.for_sandbox(user="bob").approve("ok", "same-person")
    assert ex.wait(timeout=30) == 70
    assert (runs(out, "prepare"), runs(out, "release")) == (1, 1)
    signal = remote.get_signal("ok", "same-person")
    assert [a.user for a in signal.approvals] == ["alice", "bob"]
    assert [e.kind for e in remote.history("same-person", signal_id="ok")].count("set") == 1
