"""StoredExecutionWidget: the live view of an execution run by another process (or orphaned, or
seen through a Flyte-like remote), and ``%gate show`` of such an execution."""
from __future__ import annotations

import json
import signal
from datetime import timedelta
from typing import Any, Iterator

import pytest
from _procs import waiting_execution
from helpers import eventually
from helpers.shell import global_shell
from IPython.utils.capture import capture_output
from ipywidgets.widgets.widget import _instances

from gatewidgets import ExecutionStatus, GateRemote, SignalState, approve, task, workflow
from gatewidgets.errors import GateError
from gatewidgets.store import open_store
from gatewidgets.widgets import StoredExecutionWidget
from gatewidgets.widgets._sync import clock


@pytest.fixture
def views() -> Iterator[list[StoredExecutionWidget]]:
    """Widgets made by a test, closed after it (so none keeps listening or ticking)."""
    made: list[StoredExecutionWidget] = []
    yield made
    for view in made:
        view.close()


def ticking(view: StoredExecutionWidget) -> bool:
    return view in clock._items


def test_another_process_execution_answered_through_the_widget(views: list[StoredExecutionWidget]) -> None:
    with waiting_execution("stored", 3) as (name, proc):
        view = StoredExecutionWidget(name)
        views.append(view)
        assert "waiting_wf" in view.header.value and name in view.header.value
        assert "RUNNING" in view.header.value and "orphaned" not in view.header.value
        assert 'class="gatewidgets-node"' in view.dag.value
        # node states are written behind (a few ms): the widget's 1 s refresh picks them up
        eventually(lambda: 'data-state="WAITING"' in view.dag.value, timeout=10, what="the gate nodes shown waiting")
        assert list(view.cards) == ["go", "rate", "note"]  # the three gates wait at once
        assert all(card.state is SignalState.PENDING for card in view.cards.values())
        assert view.result.value == "" and ticking(view)

        view.gate("go").buttons["Approve"].click()  # the other process consumes it: its node 'go' ends
        assert view.gate("go").state is SignalState.SET and "approved" in view.gate("go").decided.value
        go_node = view.gate("go").signal.node_id
        eventually(lambda: f'data-node="{go_node}" data-state="SUCCEEDED"' in view.dag.value, timeout=10,
                   what="the other process to pass the gate")

        GateRemote.for_sandbox(user="someone-else").set_input("rate", name, 2.5)  # a third party
        eventually(lambda: view.gate("rate").state is SignalState.SET, timeout=5, what="the card to freeze")
        card = view.gate("rate")
        assert card.controls.layout.display == "none" and "someone-else" in card.decided.value
        assert view.gate("note").state is SignalState.PENDING

        assert view.gate("note").submit("hi") is not None
        out, _ = proc.communicate(timeout=30)
        assert json.loads(out.strip().splitlines()[-1]) == "6|2.5|hi"
        eventually(lambda: "SUCCEEDED" in view.header.value, timeout=5, what="the status SUCCEEDED")
        assert "finished" in view.header.value and "6|2.5|hi" in view.result.value
        eventually(lambda: 'data-state="WAITING"' not in view.dag.value, timeout=5, what="the final node states")
        assert 'data-state="QUEUED"' not in view.dag.value
        assert view.status is ExecutionStatus.SUCCEEDED and not ticking(view)
        assert [c.signal_id for c in view.gates.children] == ["go", "rate", "note"]


def test_orphaned_execution(views: list[StoredExecutionWidget]) -> None:
    with waiting_execution("orphan", 1) as (name, proc):
        live = StoredExecutionWidget(name)
        views.append(live)
        assert "orphaned" not in live.header.value
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        eventually(lambda: "orphaned" in live.header.value, timeout=10, what="the open widget to see the orphan")
        assert "RUNNING (orphaned: its process is gone)" in live.header.value
        eventually(lambda: not ticking(live), timeout=5, what="the widget to stop ticking")
        later = StoredExecutionWidget(name)
        views.append(later)
        assert later.orphaned and "RUNNING (orphaned: its process is gone)" in later.header.value
        assert later.gate("go").state is SignalState.PENDING  # still answerable: kept for a recovery


class NoHistoryStore:
    """The local store as a Flyte remote sees it: no history, no stats, no owner process to ask."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def history(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("no history here")

    def stats(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("no stats here")

    def owner_alive(self, record: Any) -> None:
        return None


@task
def explode(v: int) -> int:
    raise ValueError(f"boom {v}")


@workflow
def gated_failure(a: int) -> int:
    return explode(v=approve(a, "ok", timeout=timedelta(minutes=5)))


def test_flyte_like_remote_and_a_failure(views: list[StoredExecutionWidget]) -> None:
    remote = GateRemote(store=NoHistoryStore(open_store()))
    with pytest.raises(NotImplementedError):
        remote.history("x")
    ex = gated_failure.launch(a=4)
    eventually(lambda: remote.get_signal("ok", ex.name).state is SignalState.PENDING, timeout=10, what="the gate")
    view = StoredExecutionWidget(ex.name, remote=remote)
    views.append(view)
    assert view.gate("ok").history.value == ""  # no audit trail to show, and no error
    assert view.gate("ok").approve() is not None
    with pytest.raises(ValueError):
        ex.wait(timeout=10)
    eventually(lambda: "FAILED" in view.header.value, timeout=5, what="the status FAILED")
    assert "ValueError: boom 4" in view.result.value and "Traceback" in view.result.value
    assert 'data-state="FAILED"' in view.dag.value and not ticking(view)


def test_unknown_execution_raises_and_leaves_nothing_listening() -> None:
    with pytest.raises(GateError):
        StoredExecutionWidget("no-such-execution")


@pytest.fixture
def ip() -> Any:
    shell = global_shell()
    shell.run_line_magic("load_ext", "gatewidgets")
    try:
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "gatewidgets")


def test_gate_show_of_another_process_execution(ip: Any) -> None:
    with waiting_execution("shown", 2) as (name, _proc):
        with capture_output() as captured:
            assert ip.run_cell(f"%gate show {name}").success
        bundle = captured.outputs[0].data
        view = _instances[bundle["application/vnd.jupyter.widget-view+json"]["model_id"]]
        try:
            assert isinstance(view, StoredExecutionWidget) and view.execution_name == name
            assert list(view.cards) == ["go", "rate", "note"] and "gatewidgets-node" in view.dag.value
            assert view.gate("go").remote.via.value == "widget"
        finally:
            view.close()
