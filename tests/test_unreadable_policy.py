"""A stored policy that cannot be read (a row edited by hand: a bad field, not a mapping, a context that is not
JSON) is shown as unreadable on every face and refuses every decision on that signal (fail closed: never "no
policy"), while every other signal lists and decides as before; a refusal leaves the stored row as it was."""
from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _inbox_workflows import for_alice
from _jupyter_server import Server, call
from _two_users import running_users_server
from helpers import eventually
from helpers.shell import gate_shell, run

from gatewidgets import GateRemote, SignalState
from gatewidgets.errors import GateForbiddenError
from gatewidgets.models.policy import Policy
from gatewidgets.widgets.dashboard import SignalDashboard

pytestmark = pytest.mark.slow

ALICE = secrets.token_hex(8)
SIG = "/gatewidgets/api/signals/default/development"
CORRUPTIONS = {  # SQL that spoils the stored policy of one signal
    "a bad field": "json_set(context, '$.policy.quorum', 'two')",
    "not a mapping": "json_set(context, '$.policy', 'alice')",
    "a context that is not JSON": "substr(context, 1, length(context) - 1)",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_users_server(tmp_path_factory.mktemp("unreadable"), {"alice": ALICE}) as running:
        yield running


def waiting(a: int) -> str:
    ex = for_alice.launch(a=a)
    eventually(lambda: GateRemote.for_sandbox().get_signal("pay", ex.name).state is SignalState.PENDING,
               timeout=30, what="pay to wait")
    return ex.name


def row(store: Path, name: str) -> tuple[Any, ...]:
    with sqlite3.connect(store) as conn:
        found = conn.execute("SELECT * FROM signals WHERE execution=? AND signal_id='pay'", (name,)).fetchone()
    assert found is not None
    return tuple(found)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JUPYTERHUB_USER": "alice"}
    return subprocess.run([sys.executable, "-m", "gatewidgets", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_a_policy_that_cannot_be_read_is_unreadable_not_none() -> None:
    assert Policy.from_dict(None) is None
    assert Policy.from_dict({}) == Policy()  # the default policy, as to_dict() gives it (over HTTP too)
    for stored in ("alice", [1], {"quorum": "two"}, {"assignees": "alice"}, {"deny": ["bob"]},
                   {"escalate_to": ["bob"]}):
        policy = Policy.from_dict(stored)
        assert policy is not None and policy.unreadable, stored
        assert Policy.from_dict(policy.to_dict()) == policy  # it travels (over HTTP) as unreadable
    assert Policy.from_dict({"quorum": 2}) == Policy(quorum=2)


@pytest.mark.parametrize("spoil", list(CORRUPTIONS))
def test_an_unreadable_policy_is_shown_and_refuses_every_face(server: Server, spoil: str) -> None:
    bad, ok = waiting(1), waiting(2)
    with sqlite3.connect(server.store) as conn:
        conn.execute(f"UPDATE signals SET context={CORRUPTIONS[spoil]} WHERE execution=? AND signal_id='pay'", (bad,))
    before = row(server.store, bad)
    remote = GateRemote.for_sandbox(user="alice")

    # the Python API: both listed, the spoiled one shown as unreadable, only the other one waiting for alice
    listed = {s.execution_name: s for s in remote.list_signals(None, limit=None)}
    assert {bad, ok} <= listed.keys()
    status = remote.status(listed[bad])
    assert status.policy is not None and status.policy.unreadable and not status.may_answer
    assert "stored policy is unreadable" in (status.why_not or "") and "unreadable" in status.rules
    assert remote.status(listed[ok]).may_answer
    mine = [s.execution_name for s in remote.waiting_for_me()]
    assert ok in mine and bad not in mine
    for decide in (remote.approve, remote.reject):
        with pytest.raises(GateForbiddenError, match="stored policy is unreadable"):
            decide("pay", bad)
    assert row(server.store, bad) == before

    # the dashboard
    dash = SignalDashboard(remote=remote)
    try:
        rows = {r["execution"]: r for r in dash.list.rows}
        assert {bad, ok} <= rows.keys()
        assert "unreadable" in rows[bad]["why"] and "unreadable" in rows[bad]["rules"] and not rows[ok]["why"]
        dash.mine.value = True
        dash.refresh()
        assert ok in {r["execution"] for r in dash.list.rows} and bad not in {r["execution"] for r in dash.list.rows}
    finally:
        dash.close()

    # %gate list and %gate approve
    with gate_shell() as ip:
        shown = run(ip, "%gate list")
        text = shown.outputs[0].data["text/plain"]
        assert shown.result.success and bad in text and ok in text and "stored policy is unreadable" in text
        refused = run(ip, f"%gate approve pay -e {bad}")
        assert "stored policy is unreadable" in refused.stdout + refused.stderr
    assert row(server.store, bad) == before

    # the command line
    listed_cli = cli("list")
    assert listed_cli.returncode == 0, listed_cli.stderr
    assert bad in listed_cli.stdout and ok in listed_cli.stdout and "stored policy is unreadable" in listed_cli.stdout
    refused_cli = cli("approve", "pay", "-e", bad)
    assert refused_cli.returncode == 1 and len(refused_cli.stderr.strip().splitlines()) == 1
    assert "GateForbiddenError" in refused_cli.stderr and "stored policy is unreadable" in refused_cli.stderr
    assert row(server.store, bad) == before

    # HTTP: the signals API and the inbox
    code, data = call(server, "GET", "/gatewidgets/api/signals?state=PENDING&limit=10000", token=ALICE)
    assert code == 200, data
    decisions = {s["execution"]["name"]: s["decision"] for s in data["signals"]}
    assert "stored policy is unreadable" in decisions[bad]["why_not"] and decisions[ok]["may_answer"]
    code, data = call(server, "GET", "/gatewidgets/api/signals?for=me&limit=10000", token=ALICE)
    assert code == 200 and ok in {s["execution"]["name"] for s in data["signals"]}
    assert bad not in {s["execution"]["name"] for s in data["signals"]}
    code, data = call(server, "GET", "/gatewidgets/inbox/api/items?limit=200", token=ALICE)
    assert code == 200, data
    keys = {item["key"] for item in data["items"]}
    assert f"default/development/{ok}/pay" in keys and f"default/development/{bad}/pay" not in keys
    code, item = call(server, "GET", f"/gatewidgets/inbox/api/items/default/development/{bad}/pay", token=ALICE)
    assert code == 200 and item["answers"] == [] and "stored policy is unreadable" in item["status"]["why_not"]
    for verb in ("approve", "reject"):
        code, data = call(server, "POST", f"{SIG}/{bad}/pay/{verb}", {}, token=ALICE)
        assert code == 403 and data["error"] == "GateForbiddenError", data
        assert "stored policy is unreadable" in data["message"]
    assert row(server.store, bad) == before

    # the other signal still decides
    assert remote.approve("pay", ok).state is SignalState.SET
    history = [e.kind for e in remote.history(bad, signal_id="pay")]
    assert history.count("refused") >= 6  # each refusal is kept in the history
