"""Who may answer, over HTTP: a real Jupyter server whose IdentityProvider maps tokens to users (as JupyterHub's
does), a workflow launched by alice (``JUPYTERHUB_USER=alice``, as in her hub kernel), and the ``gatewidgets``
command line as another face. Every refusal is a 403 (``GateForbiddenError``) that leaves the signal as it was
and is kept in the history."""
from __future__ import annotations

import getpass
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _jupyter_server import Server, call, running_server
from _procs import stop
from helpers import eventually

from gatewidgets import GateRemote, SignalState
from gatewidgets.errors import GateForbiddenError
from gatewidgets.widgets.standing import decision, why_text

TESTS = Path(__file__).resolve().parent
WORKFLOW = TESTS / "_policy_workflow.py"
SIG = "/gatewidgets/api/signals/default/development"
EXE = "/gatewidgets/api/executions/default/development"
USERS = ("alice", "bob", "carol", "dave", "eve")
TOKENS = {user: f"{user}-{secrets.token_hex(8)}" for user in USERS}
HUB_GROUPS = {"dave": ["finance"]}  # dave is in finance on the hub only, not in GateWidgets.groups
GATES = ("review", "release", "signoff")


@dataclass
class Running:
    name: str
    proc: subprocess.Popen[str]
    log: Path


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Jupyter config folder read by the server, the workflow and the command line alike: finance is bob and
    carol; the server's users are the tokens'."""
    folder = tmp_path_factory.mktemp("config")
    (folder / "gatewidgets_config.json").write_text(json.dumps(
        {"GateWidgets": {"groups": {"finance": ["bob", "carol"]}}}))
    (folder / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"identity_provider_class": "helpers.hub_identity.TokenUsers"},
        "TokenUsers": {"users": {TOKENS[u]: {"name": u, "groups": HUB_GROUPS.get(u, [])} for u in USERS}}}))
    return folder


def environment(config_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment with the shared config folder, ``tests`` importable, and no hub user unless
    ``extra`` names one."""
    env = {k: v for k, v in os.environ.items() if k != "JUPYTERHUB_USER"}
    path = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH", "")) if p)
    return env | {"JUPYTER_CONFIG_DIR": str(config_dir), "PYTHONPATH": path} | extra


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, config_dir: Path) -> Iterator[Server]:
    """The Jupyter server of alice, bob, carol, dave and eve (each a token)."""
    root = tmp_path_factory.mktemp("jupyter")
    with running_server(root, env=environment(config_dir)) as running:
        yield running


@pytest.fixture
def running(server: Server, config_dir: Path, tmp_path: Path) -> Iterator[Running]:
    """``_policy_workflow.py`` launched by alice (her hub kernel's ``JUPYTERHUB_USER``), waiting at its gates."""
    name, log = f"pol-{secrets.token_hex(3)}", tmp_path / "tasks.log"
    proc = subprocess.Popen([sys.executable, str(WORKFLOW), name, str(log)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=environment(config_dir, JUPYTERHUB_USER="alice"))
    try:
        remote = GateRemote.for_sandbox()
        eventually(lambda: all(remote.get_signal(g, name).state is SignalState.PENDING for g in GATES), timeout=60,
                   what="the three gates to wait")
        yield Running(name, proc, log)
    finally:
        stop(proc)


def as_user(server: Server, user: str, method: str, path: str, body: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
    return call(server, method, path, body, token=TOKENS[user], headers=headers)


def stored(name: str, gate: str) -> tuple[SignalState, Any, list[Any]]:
    """What the store holds of a gate: state, value and approvals."""
    signal = GateRemote.for_sandbox().get_signal(gate, name)
    return signal.state, signal.value, [(a.user, a.source, a.via) for a in signal.approvals]


def history(server: Server, name: str, gate: str) -> list[tuple[str, str | None, str | None, str | None]]:
    """The gate's decisions in the history: (event, who, via, how their identity was established)."""
    status, data = as_user(server, "eve", "GET", f"{EXE}/{name}/history?signal={gate}")
    assert status == 200, data
    return [(e["event"], e["set_by"], e["via"], (e["detail"] or {}).get("identity_source"))
            for e in data["events"] if e["event"] in ("refused", "approved", "set")]


def cli(config_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The ``gatewidgets`` command line in a process of its own, its user from ``env`` (``JUPYTERHUB_USER``)."""
    return subprocess.run([sys.executable, "-m", "gatewidgets", *args], capture_output=True, text=True,
                          timeout=60, env=environment(config_dir, **env))


def finished(running: Running) -> str:
    out, err = running.proc.communicate(timeout=60)
    assert running.proc.returncode == 0, err
    return out.strip()


def test_bob_approves_alices_gate_and_alice_may_not_approve_her_own(server: Server, running: Running) -> None:
    name = running.name
    status, data = as_user(server, "alice", "GET", f"{SIG}/{name}/review")
    assert status == 200 and data["decision"]["may_answer"] is False
    assert data["decision"]["launched_by"] == {"user": "alice", "source": "hub-env"}
    assert "alice launched this execution and self-approval is off" in data["decision"]["why_not"]
    assert data["decision"]["policy"] == {"self_approval": False} and data["policy"] == {"self_approval": False}

    status, data = as_user(server, "alice", "POST", f"{SIG}/{name}/review/approve", {"comment": "mine"})
    assert status == 403 and data["error"] == "GateForbiddenError", data
    assert "self-approval is off" in data["message"]
    assert stored(name, "review") == (SignalState.PENDING, None, [])
    # a header or a query parameter naming bob changes nothing: the server's login decides who alice is
    status, data = as_user(server, "alice", "POST", f"{SIG}/{name}/review/approve?user=bob", {},
                           headers={"X-Forwarded-User": "bob", "X-Remote-User": "bob", "JupyterHub-User": "bob"})
    assert status == 403 and data["message"].startswith("alice may not approve"), data
    status, data = as_user(server, "alice", "POST", f"{SIG}/{name}/review/approve", {"set_by": "bob"})
    assert status == 400, data
    assert stored(name, "review") == (SignalState.PENDING, None, [])
    assert history(server, name, "review") == [("refused", "alice", "http", "server")] * 2

    status, data = as_user(server, "bob", "GET", f"{SIG}/{name}/review")
    assert data["decision"]["may_answer"] is True and data["decision"]["why_not"] is None
    status, data = as_user(server, "bob", "POST", f"{SIG}/{name}/review/approve", {"comment": "fine"})
    assert status == 200 and data["state"] == "SET" and data["set_by"] == "bob", data
    assert data["identity_source"] == "server" and data["decision"]["may_answer"] is False
    assert history(server, name, "review") == [("refused", "alice", "http", "server")] * 2 + \
        [("set", "bob", "http", "server")]
    status, data = as_user(server, "alice", "GET", f"{EXE}/{name}")
    assert data["launched_by"] == {"user": "alice", "source": "hub-env"}
    assert [s["decision"]["may_answer"] for s in data["signals"]] == [False, False, False]


def test_a_non_assignee_gets_403_and_nothing_changes(server: Server, running: Running) -> None:
    name = running.name
    for action in ("approve", "reject"):
        status, data = as_user(server, "eve", "POST", f"{SIG}/{name}/release/{action}", {})
        assert status == 403 and data["error"] == "GateForbiddenError", data
        assert "eve is not an assignee; it may be answered by @finance (bob, carol)" in data["message"]
        assert stored(name, "release") == (SignalState.PENDING, None, [])
    status, data = as_user(server, "eve", "POST", f"{SIG}/{name}/signoff/approve", {})
    assert status == 403 and "it may be answered by bob" in data["message"]
    assert stored(name, "signoff") == (SignalState.PENDING, None, [])
    assert history(server, name, "release") == [("refused", "eve", "http", "server")] * 2

    # dave is in finance on the hub only: the hub's groups count, the server's identity carries them
    status, data = as_user(server, "dave", "GET", f"{SIG}/{name}/release")
    assert data["decision"]["may_answer"] is True, data["decision"]
    status, data = as_user(server, "dave", "POST", f"{SIG}/{name}/release/approve", {})
    assert status == 200 and data["state"] == "PENDING" and data["decision"]["standing"].startswith("1 of 2: dave")
    assert stored(name, "release") == (SignalState.PENDING, None, [("dave", "server", "http")])


def mine(server: Server, user: str, query: str = "") -> list[str]:
    """The signals ``?for=me`` lists for ``user``, in its order (newest first)."""
    status, data = as_user(server, user, "GET", f"/gatewidgets/api/signals?for=me{query}")
    assert status == 200, data
    assert all(s["decision"]["may_answer"] for s in data["signals"])
    return [s["signal_id"] for s in data["signals"]]


def test_signals_say_where_each_decision_stands_and_for_me_lists_what_i_may_answer(server: Server,
                                                                                   running: Running) -> None:
    name = running.name
    where = f"&execution={name}"
    assert mine(server, "alice", where) == []
    assert sorted(every := mine(server, "bob", where)) == ["release", "review", "signoff"]
    assert sorted(mine(server, "carol", where)) == ["release", "review"]
    assert mine(server, "eve", where) == ["review"]
    assert mine(server, "bob", where + "&state=SET") == []
    assert mine(server, "bob", where + "&limit=1&offset=1") == every[1:2]
    status, data = as_user(server, "bob", "GET", f"/gatewidgets/api/signals?for=me{where}&limit=1")
    assert data["total"] == 3 and len(data["signals"]) == 1
    assert as_user(server, "bob", "GET", "/gatewidgets/api/signals?for=you")[0] == 400

    status, data = as_user(server, "carol", "GET", f"/gatewidgets/api/signals?execution={name}")
    decisions = {s["signal_id"]: s["decision"] for s in data["signals"]}
    assert decisions["signoff"]["why_not"] == "carol is not an assignee; it may be answered by bob"
    assert decisions["release"]["standing"] == "0 of 2 — waiting for @finance (bob, carol)"
    assert decisions["release"]["policy"] == {"assignees": ["@finance"], "quorum": 2}
    assert decisions["review"] == {"policy": {"self_approval": False}, "approvals": [], "standing": None,
                                   "may_answer": True, "why_not": None, "actions": {"approve": None, "reject": None},
                                   "user": "carol", "launched_by": {"user": "alice", "source": "hub-env"}}


def test_a_remote_over_http_sees_what_the_server_judged_for_its_token_user(server: Server, running: Running) -> None:
    """``GateRemote.for_jupyter``'s ``status`` and ``waiting_for_me`` are the server's view of the token's user (who
    decides over HTTP), not of this process's user (none of alice, bob and carol)."""
    name = running.name
    alice, bob, carol = (GateRemote.for_jupyter(server.url, token=TOKENS[u]) for u in ("alice", "bob", "carol"))
    assert alice.identity.user not in USERS  # this process's own user
    assert alice.waiting_for_me(execution_name=name) == [] == mine(server, "alice", f"&execution={name}")
    assert sorted(s.signal_id for s in bob.waiting_for_me(execution_name=name)) == ["release", "review", "signoff"]
    assert sorted(s.signal_id for s in carol.waiting_for_me(execution_name=name)) == ["release", "review"]

    review = alice.get_signal("review", name)
    status = alice.status(review)
    assert not status.may_answer and status.why_not == "alice launched this execution and self-approval is off"
    assert alice.status(review, action="reject").may_answer  # the launcher may still stop her own work
    assert decision(alice, review).refused == {"approve": status.why_not}  # her card: Reject only
    assert why_text(decision(alice, review)) == f"alice may not approve: {status.why_not} (may still reject)"
    signoff = bob.get_signal("signoff", name)  # needs a server-verified identity: bob's token is one
    assert bob.status(signoff).may_answer and not decision(bob, signoff).refused
    assert carol.status(carol.get_signal("signoff", name)).why_not == "carol is not an assignee; it may be " \
        "answered by bob"
    signals = carol.list_signals(name)
    listed = {s.signal_id: st for s, st in zip(signals, carol.statuses(signals))}
    assert listed["release"].line == "0 of 2 — waiting for @finance (bob, carol)" and listed["release"].may_answer
    assert [stored(name, g) for g in GATES] == [(SignalState.PENDING, None, [])] * 3  # reading changed nothing


def test_quorum_of_finance_over_http_and_the_cli_continues_once(server: Server, running: Running,
                                                                config_dir: Path) -> None:
    name = running.name
    status, data = as_user(server, "bob", "POST", f"{SIG}/{name}/release/approve", {"comment": "ok"})
    assert status == 200 and data["state"] == "PENDING", data
    assert data["decision"]["standing"].startswith("1 of 2: bob approved ")
    assert data["decision"]["standing"].endswith(" — waiting for @finance (bob, carol)")
    bob, events = GateRemote.for_jupyter(server.url, token=TOKENS["bob"]), []  # twice counts once
    unsubscribe = bob.subscribe(events.extend)
    try:
        assert bob.approve("release", name).state is SignalState.PENDING
    finally:
        unsubscribe()
    assert [(e.kind, e.state) for e in events if e.signal_id == "release"] == [("approved", "PENDING")]
    assert stored(name, "release") == (SignalState.PENDING, None, [("bob", "server", "http")])
    assert "released" not in running.log.read_text()

    # carol approves from her terminal: the command line's user is her hub user (JUPYTERHUB_USER)
    done = cli(config_dir, "approve", "release", "-e", name, JUPYTERHUB_USER="carol")
    assert done.returncode == 0, done.stderr
    assert stored(name, "release") == (SignalState.SET, True, [("bob", "server", "http"), ("carol", "hub-env", "cli")])
    eventually(lambda: "released" in running.log.read_text(), timeout=30, what="the task after the quorum")

    assert as_user(server, "bob", "POST", f"{SIG}/{name}/review/approve", {})[0] == 200
    assert as_user(server, "bob", "POST", f"{SIG}/{name}/signoff/approve", {})[0] == 200
    assert finished(running) == json.dumps("42|42|42")
    assert running.log.read_text().splitlines() == ["report", "released", "ship"]
    assert history(server, name, "release") == [("approved", "bob", "http", "server"),
                                                ("set", "carol", "cli", "hub-env")]
    status, data = as_user(server, "eve", "GET", f"{EXE}/{name}/history?signal=release")
    [passed] = [e for e in data["events"] if e["event"] == "set"]
    assert [(a["user"], a["source"], a["via"]) for a in passed["detail"]["approvals"]] == \
        [("bob", "server", "http"), ("carol", "hub-env", "cli")]


def test_a_verified_gate_refuses_the_cli_and_takes_the_same_user_over_http(server: Server, running: Running,
                                                                          config_dir: Path) -> None:
    name = running.name
    for env in ({"JUPYTERHUB_USER": "bob"}, {}):  # bob's hub user in a terminal, then the OS user: both claims
        done = cli(config_dir, "approve", "signoff", "-e", name, **env)
        assert done.returncode == 1, (done.stdout, done.stderr)
        [line] = done.stderr.splitlines()
        assert line.startswith("gatewidgets: GateForbiddenError: ") and "established by a server" in line
        assert stored(name, "signoff") == (SignalState.PENDING, None, [])
    with pytest.raises(GateForbiddenError, match="established by a server"):  # a script naming bob: a claim
        GateRemote.for_sandbox(user="bob").approve("signoff", name)
    assert stored(name, "signoff") == (SignalState.PENDING, None, [])
    assert history(server, name, "signoff") == [("refused", "bob", "cli", "hub-env"),
                                                ("refused", getpass.getuser(), "cli", "os"),
                                                ("refused", "bob", "api", "claimed")]

    status, data = as_user(server, "bob", "POST", f"{SIG}/{name}/signoff/approve", {})
    assert status == 200 and data["state"] == "SET" and data["identity_source"] == "server", data
    assert history(server, name, "signoff")[3:] == [("set", "bob", "http", "server")]


def test_a_changed_evidence_is_refused_over_http_and_through_the_client(server: Server, running: Running) -> None:
    name = running.name
    status, data = as_user(server, "bob", "GET", f"{SIG}/{name}/signoff")
    shown = data["evidence_hash"]
    assert shown and data["evidence"]["text"] == "42"
    status, data = as_user(server, "bob", "POST", f"{SIG}/{name}/signoff/approve", {"evidence_hash": "0" * 16})
    assert status == 403 and data["error"] == "GateForbiddenError" and "the evidence changed" in data["message"]
    assert as_user(server, "bob", "POST", f"{SIG}/{name}/signoff/reject", {"evidence_hash": 16})[0] == 400
    assert stored(name, "signoff") == (SignalState.PENDING, None, [])
    assert history(server, name, "signoff") == [("refused", "bob", "http", "server")]

    # the HTTP client sends the hash and raises the server's 403 as GateForbiddenError
    eve = GateRemote.for_jupyter(server.url, token=TOKENS["eve"])
    with pytest.raises(GateForbiddenError, match="eve is not an assignee"):
        eve.approve("release", name)
    with pytest.raises(PermissionError) as refused:
        GateRemote.for_jupyter(server.url, token="nobody").approve("release", name)
    assert not isinstance(refused.value, GateForbiddenError)
    bob = GateRemote.for_jupyter(server.url, token=TOKENS["bob"])
    signal = bob.get_signal("signoff", name)
    assert signal.evidence_hash == shown and signal.policy is not None and signal.policy.verified
    with pytest.raises(GateForbiddenError, match="the evidence changed"):
        bob.approve("signoff", name, evidence_hash="f" * 16)
    assert stored(name, "signoff") == (SignalState.PENDING, None, [])
    assert bob.approve("signoff", name, evidence_hash=shown).state is SignalState.SET
    assert history(server, name, "signoff")[-1] == ("set", "bob", "http", "server")
