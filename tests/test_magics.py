"""``%gate`` / ``%%gate set`` through a real IPython shell (``IPython.testing.globalipapp``)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from _team_workflow import team_wf
from helpers import eventually
from helpers.shell import gate_shell, run
from IPython.core.error import UsageError

from gatewidgets import (
    Execution,
    ExecutionStatus,
    GateRejectedError,
    GateRemote,
    SignalState,
    approve,
    sleep,
    task,
    wait_for_input,
    workflow,
)
from gatewidgets.settings import settings

pytestmark = pytest.mark.usefixtures("each_store")  # on SQLite and on PostgreSQL


@task
def double(v: int) -> int:
    return v * 2


@task
def combine(x: int, rate: float, items: list[int]) -> str:
    return f"{x}|{rate}|{sum(items)}"


@workflow
def magic_wf(a: int) -> str:
    ok = approve(double(v=a), "go", timeout=timedelta(minutes=5))
    rate = wait_for_input("rate", timeout=timedelta(minutes=5), expected_type=float)
    items = wait_for_input("items", timeout=timedelta(minutes=5), expected_type=list[int])
    return combine(x=ok, rate=rate, items=items)


@pytest.fixture
def ip() -> Any:
    with gate_shell() as shell:
        shell.user_ns["magic_wf"] = magic_wf
        yield shell


def launch(ip: Any, a: int = 3, name: str | None = None) -> Execution:
    line = f"ex = %gate run magic_wf a={a}" + (f" --name {name}" if name else "")
    assert run(ip, line).result.success
    ex = ip.user_ns["ex"]
    eventually(lambda: GateRemote.for_sandbox().get_signal("go", ex.name).state is SignalState.PENDING,
               timeout=30, what="the gate to wait")
    return ex


def states(ex: Execution) -> dict[str, tuple[SignalState, Any]]:
    return {s.signal_id: (s.state, s.value) for s in GateRemote.for_sandbox().list_signals(ex.name)}


def test_load_twice_and_unload(ip: Any) -> None:
    ip.run_line_magic("load_ext", "gatewidgets")
    from gatewidgets import load_ipython_extension

    load_ipython_extension(ip)  # called directly again: still one of each
    from gatewidgets.config import GateWidgets
    from gatewidgets.magics import GateMagics

    assert sum(isinstance(c, GateWidgets) for c in ip.configurables) == 1
    assert sum(isinstance(c, GateMagics) for c in ip.configurables) == 1
    ip.run_line_magic("unload_ext", "gatewidgets")
    assert "gate" not in ip.magics_manager.magics["line"] and "gate" not in ip.magics_manager.magics["cell"]
    assert not any(isinstance(c, (GateWidgets, GateMagics)) for c in ip.configurables)
    ip.run_line_magic("load_ext", "gatewidgets")
    assert "gate" in ip.magics_manager.magics["line"]


def test_run_approve_set_and_the_default_execution(ip: Any) -> None:
    ex = launch(ip, a=4, name="magic-1")
    assert ex.name == "magic-1" and ex.workflow is magic_wf
    listed = run(ip, "%gate list")
    html = listed.outputs[0].data["text/html"]
    assert "<table" in html and "magic-1" in html and "go" in html
    assert "PENDING" in listed.outputs[0].data["text/plain"]

    out = run(ip, "%gate approve go")  # no -e: the execution launched last in this kernel
    assert out.stdout.strip() == "Approved signal 'go' of execution 'magic-1'."
    ip.user_ns["r"] = 1.25
    assert "set to 1.25" in run(ip, "%gate set rate $r").stdout
    assert run(ip, "%%gate set items -e magic-1\n[n * 2 for n in range(3)]").result.success
    assert ex.wait(timeout=30) == "8|1.25|6"
    assert states(ex)["items"] == (SignalState.SET, [0, 2, 4])
    assert GateRemote.for_sandbox().get_signal("rate", "magic-1").via.value == "magic"

    shown = run(ip, "%gate show")
    assert "application/vnd.jupyter.widget-view+json" in shown.outputs[0].data  # the ExecutionWidget
    executions = run(ip, "%gate executions").outputs[0].data["text/plain"]
    assert "magic-1" in executions and "SUCCEEDED" in executions
    assert "(none)" in run(ip, "%gate list magic-1").outputs[0].data["text/plain"]  # nothing open
    assert "SET" in run(ip, "%gate list magic-1 --all").outputs[0].data["text/plain"]


def test_set_text_values_reject_and_abort(ip: Any) -> None:
    ex = launch(ip, name="magic-2")
    assert "set to [1, 2]" in run(ip, "%gate set items [1, 2]").stdout
    assert "set to 3.0" in run(ip, '%gate set rate "3"').stdout
    assert run(ip, "%gate reject go").stdout.strip() == "Rejected signal 'go' of execution 'magic-2'."
    with pytest.raises(GateRejectedError):
        ex.wait(timeout=30)
    assert ex.status is ExecutionStatus.FAILED

    ex3 = launch(ip, name="magic-3")
    assert run(ip, "%gate abort magic-3").stdout.strip() == "Aborted execution 'magic-3'."
    assert ex3.status is ExecutionStatus.ABORTED
    assert "already ended" in run(ip, "%gate abort magic-3").stdout


def test_mistakes_print_one_line_and_change_nothing(ip: Any) -> None:
    ex = launch(ip, name="magic-4")
    before = states(ex)
    cases = {
        "%gate frobnicate": "invalid choice: 'frobnicate'",
        "%gate set rate fast": "SignalTypeError",
        "%gate set rate": "give a VALUE",
        "%gate set rate $nope": "no variable 'nope'",
        "%gate approve rate": "SignalTypeError",
        "%gate approve nope": "SignalNotFoundError",
        "%gate approve go -e no-such": "ExecutionNotFoundError",
        "%gate list --limit 0": "argument --limit: must be a whole number from 1",
        "%gate run nothing_here": "'nothing_here' is nothing in the notebook",
        "%gate run magic_wf b=1": "has no input 'b'",
        "%gate run magic_wf a=x": "input a:",
        '%gate set rate "unclosed': "cannot split",
        "%%gate list\n1": "only supports: %%gate set",
        "%%gate set rate\n1 +": "must be one Python expression",
        "%%gate set rate\n1 / 0": "ZeroDivisionError",
        "%%gate set rate 2\n1": "takes its value from the cell",
    }
    for line, text in cases.items():
        seen = run(ip, line)
        shown = (seen.stdout + seen.stderr).strip()
        assert shown.startswith("UsageError: ") and text in shown, (line, shown)
        assert len(shown.splitlines()) == 1 and "Traceback" not in shown, (line, shown)
        assert not seen.result.success
    assert states(ex) == before
    with pytest.raises(UsageError, match="SignalTypeError"):
        ip.run_line_magic("gate", "set rate fast")
    assert run(ip, "%gate set go yes").result.success  # text faces parse yes/no


def test_several_running_executions_say_which_is_used(ip: Any) -> None:
    first = launch(ip, name="magic-5")
    launch(ip, name="magic-6")
    out = run(ip, "%gate approve go").stdout.splitlines()
    assert out[0] == ("Using execution 'magic-6', launched last in this kernel (also running: magic-5); "
                      "pass -e EXECUTION to choose another.")
    assert out[1] == "Approved signal 'go' of execution 'magic-6'."
    assert states(first)["go"] == (SignalState.PENDING, None)
    assert run(ip, "%gate approve go -e magic-5").stdout.strip() == "Approved signal 'go' of execution 'magic-5'."


def test_no_execution_in_this_kernel(ip: Any) -> None:
    from gatewidgets.engine import default_executor

    assert default_executor().launched == []
    seen = run(ip, "%gate approve go")
    assert (seen.stdout + seen.stderr).strip() == (
        "UsageError: No execution given and none is running in default/development: pass -e EXECUTION.")


def test_dashboard_help_and_config(ip: Any) -> None:
    launch(ip, name="magic-7")
    dashboard = run(ip, "%gate dashboard")
    assert "application/vnd.jupyter.widget-view+json" in dashboard.outputs[0].data
    assert "usage: %gate" in run(ip, "%gate").stdout
    assert "usage: %gate set" in run(ip, "%gate set -h").stdout
    ip.run_line_magic("config", "GateWidgets.default_project = 'flytesnacks'")
    assert settings.default_project == "flytesnacks"
    table = run(ip, "%gate executions -d production").outputs[0].data["text/plain"]
    assert table.startswith("Executions in flytesnacks/production")
    workers = settings.max_workers
    run(ip, "%config GateWidgets.max_workers = 0")  # refused (%config logs the TraitError)
    assert settings.max_workers == workers


def test_history_and_stats(ip: Any) -> None:
    ex = launch(ip, a=2, name="audited")
    assert run(ip, "%gate approve go").result.success
    assert run(ip, "%gate set rate 1.5").result.success
    shown = run(ip, "%gate history")
    text = shown.stdout + "".join(o.data.get("text/plain", "") for o in shown.outputs)
    assert "History of execution 'audited'" in text
    assert "magic" in text and "reached" in text and "set" in text
    only = run(ip, "%gate history audited --signal rate")
    only_text = only.stdout + "".join(o.data.get("text/plain", "") for o in only.outputs)
    assert "signal 'rate'" in only_text and "'go'" not in only_text.split("History", 1)[1].split("\n", 1)[1]
    stats = run(ip, "%gate stats")
    stats_text = stats.stdout + "".join(o.data.get("text/plain", "") for o in stats.outputs)
    assert "gates waiting: 1" in stats_text and "answered via: magic 2" in stats_text
    bad = run(ip, "%gate history nobody-here")
    assert not bad.result.success or "nobody-here" in (bad.stdout + bad.stderr)
    assert "Traceback" not in bad.stdout + bad.stderr
    ex.abort()


def test_a_note_is_shown_once(ip: Any) -> None:
    """A command's notes go with its table, not printed a second time above it."""
    shown = run(ip, "%gate config")
    text = shown.stdout + "".join(o.data.get("text/plain", "") for o in shown.outputs)
    note = "Config files read" if "Config files read" in text else "gatewidgets_config.py/.json"
    assert text.count(note) == 1, text


@workflow
def napping_wf(a: int) -> int:
    nap = sleep(timedelta(hours=1), name="long nap")
    n = wait_for_input("n", timeout=None, expected_type=int)
    nap >> n
    return double(v=n)


def test_end_sleep_and_refusals_in_the_magics_language(ip: Any) -> None:
    ip.user_ns["napping_wf"] = napping_wf
    assert run(ip, "ex = %gate run napping_wf a=1").result.success
    ex = ip.user_ns["ex"]
    eventually(lambda: GateRemote.for_sandbox().get_signal("long nap", ex.name).state is SignalState.PENDING,
               timeout=30, what="the sleep to start")
    seen = run(ip, "%gate approve 'long nap'")  # a sleep is no approval: the magic says what to type instead
    shown = seen.stdout + seen.stderr
    assert f"End it early with %gate end-sleep 'long nap' -e {ex.name}" in shown and "end_sleep(" not in shown
    seen = run(ip, "%gate approve n")
    shown = seen.stdout + seen.stderr
    assert f"Set it instead: %gate set n VALUE -e {ex.name}" in shown and "set_input(" not in shown
    assert GateRemote.for_sandbox().get_signal("long nap", ex.name).state is SignalState.PENDING
    seen = run(ip, "%gate end-sleep 'long nap'")
    assert seen.result.success and f"Ended the sleep, signal 'long nap' of execution {ex.name!r}" in seen.stdout
    assert GateRemote.for_sandbox().get_signal("long nap", ex.name).state is SignalState.SET
    assert run(ip, "%gate set n 4").result.success
    assert ex.wait(timeout=30) == 8


def test_who_may_answer_refusals_and_the_evidence_in_the_magics(ip: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    ip.user_ns["team_wf"] = team_wf
    assert run(ip, "ex = %gate run team_wf a=2").result.success
    ex = ip.user_ns["ex"]
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal("ok", ex.name).state is SignalState.PENDING, timeout=30)
    seen = remote.get_signal("ok", ex.name).evidence_hash

    listed = run(ip, "%gate list")
    shown = listed.stdout + "".join(o.data.get("text/plain", "") for o in listed.outputs)
    assert "0 of 2 — waiting for bob, carol" in shown
    assert "no: alice launched this execution and self-approval is off" in shown
    refused = run(ip, "%gate approve ok")
    said = (refused.stdout + refused.stderr).strip()
    assert said.startswith("UsageError: GateForbiddenError: alice may not approve signal 'ok'")
    assert len(said.splitlines()) == 1 and "Traceback" not in said and not refused.result.success

    monkeypatch.setenv("JUPYTERHUB_USER", "bob")
    assert f"evidence hash: {seen}" in run(ip, "%gate show").stdout
    mine = run(ip, "%gate list --mine")
    assert "Signals waiting for bob (hub-env)" in "".join(o.data.get("text/plain", "") for o in mine.outputs)
    stale = run(ip, "%gate approve ok --evidence 0123456789abcdef")
    said = (stale.stdout + stale.stderr).strip()
    assert "GateForbiddenError" in said and "the evidence changed" in said and len(said.splitlines()) == 1
    assert remote.get_signal("ok", ex.name).approvals == []
    done = run(ip, f"%gate approve ok --evidence {seen}")
    assert done.result.success and "1 of 2: bob approved" in done.stdout
    monkeypatch.setenv("JUPYTERHUB_USER", "carol")
    assert run(ip, f"%gate approve ok --evidence {seen}").result.success
    assert ex.wait(timeout=10) == 4
