"""The ``gatewidgets`` command line, run as a subprocess against a workflow waiting in another process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _procs import waiting_execution
from _team_workflow import team_wf
from helpers import eventually

from gatewidgets import GateRemote, SignalState
from gatewidgets.cli import main

pytestmark = pytest.mark.usefixtures("each_store")  # on SQLite and on PostgreSQL


def gw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gatewidgets", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def waiting() -> Any:
    with waiting_execution("cli", a=5) as running:
        yield running


def test_set_gates_of_a_workflow_in_another_process(waiting: Any) -> None:
    name, proc = waiting
    listed = gw("list", name)
    assert listed.returncode == 0, listed.stderr
    # everything the text shows, and the nodes (their states are written behind: eventually)
    [running] = eventually(lambda: [e for e in json.loads(gw("executions", "--json").stdout)
                                    if {n["name"]: n["state"] for n in e["nodes"]}.get("double") == "SUCCEEDED"],
                           timeout=30, interval=0.5, what="the node states in the listing")
    assert (running["orphaned"], running["pending_signals"]) == (False, 3)
    assert "go" in listed.stdout and "rate" in listed.stdout and "PENDING" in listed.stdout
    data = json.loads(gw("list", "--json").stdout)
    assert [s["signal_id"] for s in data["signals"] if s["execution"]["name"] == name] == ["go", "rate", "note"]

    done = gw("approve", "go", "-e", name)
    assert done.returncode == 0 and done.stdout.strip() == f"Approved signal 'go' of execution {name!r}."
    assert gw("set", "rate", "2.5", "-e", name).returncode == 0
    # without -e: the only execution running in the store
    done = gw("set", "note", "hello", "world", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["value"] == "hello world"
    assert json.loads(done.stdout)["via"] == "cli"

    out, _ = proc.communicate(timeout=60)
    assert json.loads(out.strip().splitlines()[-1]) == "10|2.5|hello world"
    shown = gw("show", name)
    assert shown.returncode == 0 and "SUCCEEDED" in shown.stdout
    executions = json.loads(gw("executions", "--json").stdout)
    assert [(e["name"], e["status"]) for e in executions] == [(name, "SUCCEEDED")]


def test_errors_are_one_line_with_exit_codes(waiting: Any, capsys: pytest.CaptureFixture[str]) -> None:
    name, _ = waiting
    remote = GateRemote.for_sandbox()
    cases = [
        (("set", "rate", "fast", "-e", name), 1, "SignalTypeError"),
        (("approve", "rate", "-e", name), 1, "SignalTypeError"),
        (("approve", "nope", "-e", name), 1, "SignalNotFoundError"),
        (("list", "no-such-execution"), 1, "ExecutionNotFoundError"),
        (("frobnicate",), 2, "invalid choice"),
        (("set", "rate"), 2, "give a VALUE"),
        (("set", "rate", "$x", "-e", name), 2, "$x names a notebook variable"),
        (("list", "--limit", "0"), 2, "--limit"),
    ]
    for args, code, text in cases:  # in process (main() is the console script), to keep the test fast
        assert main(list(args)) == code, args
        out, err = capsys.readouterr()
        assert text in err and len(err.strip().splitlines()) == 1 and out == "", (args, err)
    result = gw("set", "rate", "fast", "-e", name)  # the same, through the real console process
    assert result.returncode == 1 and result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "SignalTypeError" in result.stderr
    assert [s.state for s in remote.list_signals(name)] == [SignalState.PENDING] * 3
    assert main(["reject", "go", "-e", name]) == 0
    assert main(["approve", "go", "-e", name]) == 1
    assert "SignalAlreadySetError" in capsys.readouterr().err
    assert remote.get_signal("go", name).value is False


def test_abort_from_the_command_line(waiting: Any) -> None:
    name, proc = waiting
    result = gw("abort", name)
    assert result.returncode == 0, result.stderr
    out, _ = proc.communicate(timeout=60)
    assert "ExecutionAbortedError" in out
    assert GateRemote.for_sandbox().get_execution(name).status.value == "ABORTED"


def test_main_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["executions"]) == 0
    assert "(none)" in capsys.readouterr().out
    assert main([]) == 0 and "usage: gatewidgets" in capsys.readouterr().out
    assert main(["set", "x", "1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "No execution given and none is running in default/development: pass -e EXECUTION.")
    assert main(["run", "wf"]) == 2  # notebook-only commands are not offered


def test_history_and_stats_as_json(waiting: Any) -> None:
    name, _proc = waiting
    assert gw("set", "rate", "2.5", "-e", name).returncode == 0
    done = gw("history", name, "--json")
    assert done.returncode == 0, done.stderr
    events = json.loads(done.stdout)
    assert [(e["signal_id"], e["value"], e["via"]) for e in events if e["event"] == "set"] == [("rate", 2.5, "cli")]
    assert {e["event"] for e in events} >= {"created", "reached", "set"}
    stats = gw("stats", "--json")
    assert stats.returncode == 0, stats.stderr
    figures = json.loads(stats.stdout)
    assert figures["set_via"] == {"cli": 1} and figures["gates_waiting"] >= 2
    missing = gw("history", "no-such-execution")
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1


def test_who_may_answer_the_count_the_evidence_hash_and_waiting_for_me(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    ex = team_wf.launch(a=2)
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal("ok", ex.name).state is SignalState.PENDING)
    seen = remote.get_signal("ok", ex.name).evidence_hash
    assert seen is not None

    def command(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = command("list")
    assert code == 0 and "bob, carol · 2 approvals · no self-approval" in out
    assert "0 of 2 — waiting for bob, carol" in out and "may alice answer" in out
    assert "no: alice launched this execution and self-approval is off" in out
    assert command("list", "--mine")[1].splitlines()[-1] == "(none)"
    code, out, err = command("approve", "ok", "-e", ex.name)  # the launcher: refused, one line, exit 1
    assert (code, out) == (1, "") and len(err.strip().splitlines()) == 1
    assert err.startswith("gatewidgets: GateForbiddenError: alice may not approve signal 'ok'")

    monkeypatch.setenv("JUPYTERHUB_USER", "bob")
    code, out, _ = command("show", ex.name)
    assert code == 0 and f"evidence hash: {seen} (pass --evidence {seen}" in out
    mine = json.loads(command("list", "--mine", "--json")[1])
    assert [s["signal_id"] for s in mine["signals"]] == ["ok"] and mine["user"] == {"user": "bob",
                                                                                   "source": "hub-env"}
    assert mine["signals"][0]["decision"]["may_answer"] is True
    assert mine["signals"][0]["evidence_hash"] == seen and mine["signals"][0]["policy"]["quorum"] == 2
    code, out, err = command("approve", "ok", "-e", ex.name, "--evidence", "0123456789abcdef")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "the evidence changed since it was shown" in err
    stored = remote.get_signal("ok", ex.name)
    assert stored.state is SignalState.PENDING and stored.approvals == []  # nothing changed
    done = gw("approve", "ok", "-e", ex.name, "--evidence", seen)  # the console script, as bob (inherited)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Approval of signal 'ok' of execution {ex.name!r} recorded by bob: "
                                  "1 of 2: bob approved ")
    assert [a.user for a in remote.get_signal("ok", ex.name).approvals] == ["bob"]

    monkeypatch.setenv("JUPYTERHUB_USER", "carol")
    assert "1 of 2: bob approved" in command("list", "--mine")[1]
    code, out, _ = command("approve", "ok", "-e", ex.name, "--evidence", seen)
    assert code == 0 and out.strip() == f"Approved signal 'ok' of execution {ex.name!r}."
    assert ex.wait(timeout=10) == 4
    code, out, _ = command("list", ex.name, "--all")
    assert code == 0 and "bob approved" in out and "carol approved" in out
    code, out, _ = command("history", ex.name)
    assert code == 0 and "refused: alice launched this execution and self-approval is off; as hub-env" in out
    assert "refused: the evidence changed since it was shown" in out


def test_hub_service_outside_a_hub_says_how_to_start_it(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("JUPYTERHUB_SERVICE_URL", raising=False)  # what the hub gives the services it starts
    assert main(["hub-service"]) == 2
    out, err = capsys.readouterr()
    assert "c.JupyterHub.services" in err and len(err.strip().splitlines()) == 1 and out == "", err


def test_hub_service_without_jupyterhub_names_the_extra() -> None:
    code = ("import sys; sys.modules['jupyterhub'] = None  # as if not installed: importing it fails\n"
            "from gatewidgets.cli import main; sys.exit(main(['hub-service']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == "", result
    assert result.stderr.strip() == "gatewidgets: hub-service needs jupyterhub: pip install 'gatewidgets[hub]'"


def test_the_store_option_names_the_store(waiting: Any, each_store: str, tmp_path: Path) -> None:
    """``--store`` (a file, or a ``postgresql://`` URL) wins over ``$GATEWIDGETS_STORE``."""
    name, proc = waiting
    elsewhere = {**os.environ, "GATEWIDGETS_STORE": str(tmp_path / "elsewhere.db")}

    def gw_at(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gatewidgets", *args, "--store", each_store],
                              capture_output=True, text=True, timeout=60, env=elsewhere)

    listed = gw_at("list", name, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [s["signal_id"] for s in json.loads(listed.stdout)["signals"]] == ["go", "rate", "note"]
    for args in (("approve", "go"), ("set", "rate", "1.5"), ("set", "note", "there")):
        done = gw_at(*args, "-e", name)
        assert done.returncode == 0, done.stderr
    out, _ = proc.communicate(timeout=60)
    assert json.loads(out.strip().splitlines()[-1]) == "10|1.5|there"
    assert [e["event"] for e in json.loads(gw_at("history", name, "--json").stdout)].count("set") == 3
    assert json.loads(gw_at("stats", "--json").stdout)["set_via"] == {"cli": 3}
    assert gw("executions", "--json", "--store", str(tmp_path / "elsewhere.db")).stdout.strip() == "[]"
