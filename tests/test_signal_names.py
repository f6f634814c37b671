"""Gate names as Flyte allows them (spaces, any printable text), end to end: card, CLI, HTTP on a real
jupyter_server, ``GateRemote`` over HTTP, history; and the names still refused."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
from typing import Any

import pytest
from _jupyter_server import Server, call
from helpers import eventually

import gatewidgets
from gatewidgets import GateRemote, SignalState, WorkflowDefinitionError
from gatewidgets.models.names import is_valid_signal_name
from gatewidgets.widgets.gate import GateWidget

SIG = "/gatewidgets/api/signals/default/development"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gatewidgets", *args], capture_output=True, text=True, timeout=60)


def pending(ex: Any, *ids: str) -> None:
    remote = GateRemote.for_sandbox()
    eventually(lambda: all(remote.get_signal(s, ex.name).state is SignalState.PENDING for s in ids),
               timeout=30, what=f"signals {ids} pending")


def flytekit_workflows() -> Any:
    """The flytekit test workflows (the test skips without flytekit)."""
    return pytest.importorskip("_flytekit_workflows", reason="needs flytekit (the [flyte] extra)")


def test_spaced_gate_names_through_every_face(server: Server) -> None:
    ex = gatewidgets.launch(flytekit_workflows().wf_spaced_names, x=1)
    sleep_id = next(s.signal_id for s in ex.signals() if s.signal_id.startswith("sleep-"))
    pending(ex, "how many more", "subwf approve", sleep_id)

    # a refusal in the CLI suggests the CLI command, the name quoted for the shell; nothing changes
    done = cli("approve", "how many more", "-e", ex.name)
    assert done.returncode != 0
    assert f"Set it instead: gatewidgets set 'how many more' VALUE -e {ex.name}" in done.stderr
    assert "set_input(" not in done.stderr
    assert GateRemote.for_sandbox().get_signal("how many more", ex.name).state is SignalState.PENDING

    # HTTP: the name percent-encoded in the route; the jupyter client encodes it itself
    quoted = urllib.parse.quote("how many more", safe="")
    status, data = call(server, "POST", f"{SIG}/{ex.name}/{quoted}", {"value": 100})
    assert status == 200 and data["signal_id"] == "how many more" and data["via"] == "http"
    client = GateRemote.for_jupyter(server.url, token=server.token)
    assert client.get_signal("how many more", ex.name).value == 100

    # the card: its HTML shows the name escaped, its button answers
    card = GateWidget(GateRemote.for_sandbox().get_signal("subwf approve", ex.name))
    assert "subwf approve" in card.header.value
    card.approve()

    # the CLI: ending the sleep, then approving a name with a space and an accent
    done = cli("end-sleep", sleep_id, "-e", ex.name)
    assert done.returncode == 0, done.stderr
    assert f"Ended the sleep, signal {sleep_id!r} of execution {ex.name!r}" in done.stdout
    pending(ex, "final check é")
    done = cli("approve", "final check é", "-e", ex.name, "-c", "looks right")
    assert done.returncode == 0, done.stderr
    assert "Approved signal 'final check é'" in done.stdout
    assert ex.wait(timeout=30) == 1 + 5 + 6 + 100

    # history, from the CLI and over HTTP, names each signal as written
    done = cli("history", ex.name, "-s", "subwf approve", "--json")
    assert done.returncode == 0, done.stderr
    events = json.loads(done.stdout)
    assert {e["signal_id"] for e in events} == {"subwf approve"} and "set" in {e["event"] for e in events}
    by_signal = {e.signal_id for e in client.history(ex.name)}
    assert {"how many more", "subwf approve", "final check é", sleep_id} <= by_signal
    assert [e.via for e in client.history(ex.name, signal_id="final check é") if e.kind == "set"] == ["cli"]


@gatewidgets.task
def ten() -> int:
    return 10


@gatewidgets.workflow
def html_named() -> int:
    return gatewidgets.approve(ten(), "ok <b>now & then", timeout=None)


def test_card_and_cli_show_a_name_with_markup_as_text() -> None:
    ex = html_named.launch()
    pending(ex, "ok <b>now & then")
    card = GateWidget(GateRemote.for_sandbox().get_signal("ok <b>now & then", ex.name))
    assert "ok &lt;b&gt;now &amp; then" in card.header.value and "<b>now" not in card.header.value
    card.approve()
    assert ex.wait(timeout=30) == 10


@pytest.mark.parametrize("name", ["subwf approve", "final check é", " padded ", "a.b-c_d", "x" * 128, "数据 审批"])
def test_names_flyte_accepts_are_accepted(name: str) -> None:
    assert is_valid_signal_name(name)


@pytest.mark.parametrize("name", ["", "   ", "x" * 129, "line\nbreak", "tab\there", "bell\x07", "a/b", "a\\b",
                                  "nul\x00"])
def test_names_that_break_urls_paths_or_output_are_refused(name: str) -> None:
    assert not is_valid_signal_name(name)


def test_a_refused_name_names_the_workflow_and_the_node_and_stores_nothing() -> None:
    remote = GateRemote.for_sandbox()
    before = remote.list_executions()
    workflows = flytekit_workflows()
    with pytest.raises(WorkflowDefinitionError) as info:
        gatewidgets.launch(workflows.wf_bad_signal_name, x=1)
    text = str(info.value)
    assert "wf_bad_signal_name" in text and "node n1" in text and "'line\\nbreak'" in text
    assert "no control characters" in text
    assert remote.list_executions() == before


def test_webhook_paths_percent_encode_the_name() -> None:
    from gatewidgets import notify

    seen: list[Any] = []
    stop = notify.on("waiting", seen.append)
    try:
        ex = html_named.launch()
        eventually(lambda: seen, timeout=30, what="the waiting notification")
    finally:
        stop()
    actions = seen[0].to_json()["actions"]
    assert actions["approve"].endswith(f"/{ex.name}/ok%20%3Cb%3Enow%20%26%20then/approve")
    ex.abort()


@gatewidgets.workflow
def dash_named() -> int:
    return gatewidgets.wait_for_input("-n", timeout=None, expected_type=int)


def test_a_name_starting_with_a_dash_works_in_the_cli_and_its_suggestion() -> None:
    ex = dash_named.launch()
    pending(ex, "-n")
    done = cli("approve", "-e", ex.name, "--", "-n")
    assert done.returncode != 0
    suggested = f"gatewidgets set -e {ex.name} -- -n VALUE"
    assert suggested in done.stderr
    done = cli(*suggested.replace("VALUE", "7").split()[1:])
    assert done.returncode == 0, done.stderr
    assert ex.wait(timeout=30) == 7
