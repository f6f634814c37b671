"""The Flyte 2 front door: a ``flyte`` task launched with ``gatewidgets.launch``, its conditions as gates."""
from __future__ import annotations

import asyncio
import http.server
import json
import subprocess
import sys
import threading
from datetime import timedelta
from typing import Any

import pytest
from helpers import eventually, node_id

flyte = pytest.importorskip("flyte")

from flyte._internal.controllers._local_controller import LocalController  # noqa: E402
from flyte.errors import ConditionTimedoutError  # noqa: E402

import gatewidgets  # noqa: E402
from gatewidgets import (  # noqa: E402
    ExecutionStatus,
    GateRemote,
    NodeState,
    SignalClosedError,
    SignalState,
    SignalTypeError,
    UnansweredGateError,
)
from gatewidgets.frontdoors import flyte2 as door  # noqa: E402
from gatewidgets.models.flyte2 import describe, signal_id_for  # noqa: E402
from gatewidgets.models.signal import SignalKind, Via  # noqa: E402
from gatewidgets.models.types import SimpleType  # noqa: E402
from gatewidgets.testing import answering  # noqa: E402

env = flyte.TaskEnvironment(name="gw_tests")


@env.task
async def double_if_approved(x: int) -> int:
    cond = await flyte.new_condition.aio("approve-double", prompt="Double it?", data_type=bool,
                                         timeout=timedelta(minutes=5))
    return x * 2 if await cond.wait.aio() else x


@env.task
async def typed(label: str) -> str:
    n = await (await flyte.new_condition.aio("n", prompt="How many?", data_type=int)).wait.aio()
    rate = await (await flyte.new_condition.aio("rate", prompt="Rate?", data_type=float)).wait.aio()
    note = await (await flyte.new_condition.aio("note", prompt="Note?", data_type=str,
                                                description="free text")).wait.aio()
    return f"{label}:{n * rate}:{note}"


@env.task
async def markdown_prompt() -> bool:
    cond = await flyte.new_condition.aio("md", prompt="Ship **v2**?\n\n- tests pass", prompt_type="markdown",
                                         data_type=bool)
    return await cond.wait.aio()


@env.task
async def text_prompt() -> bool:
    cond = await flyte.new_condition.aio("txt", prompt="Fire with `true` <now>?\n# not a heading",
                                         prompt_type="text", data_type=bool, description="*as* written")
    return await cond.wait.aio()


@env.task
async def ask_child(x: int) -> int:
    cond = await flyte.new_condition.aio("child-n", prompt="Add how much?", data_type=int)
    return x + await cond.wait.aio()


@env.task
async def parent(x: int) -> int:
    return await ask_child(x) * 10


@env.task
async def same_name_twice() -> list[int]:
    first = await (await flyte.new_condition.aio("pick", prompt="First?", data_type=int)).wait.aio()
    second = await (await flyte.new_condition.aio("pick", prompt="Second?", data_type=int)).wait.aio()
    return [first, second]


@env.task
async def times_out() -> str:
    cond = await flyte.new_condition.aio("hurry", prompt="Quick?", data_type=bool, timeout=0.3)
    try:
        await cond.wait.aio()
    except ConditionTimedoutError:
        return "timed out"
    return "answered"


@env.task
async def with_webhook(url: str) -> bool:
    cond = await flyte.new_condition.aio(
        "hooked", prompt="Go?", data_type=bool,
        webhook=flyte.ConditionWebhook(url=url, payload={"callback": "{callback_uri}", "why": "approval"}))
    return await cond.wait.aio()


@env.task
async def review(x: int) -> str:
    ok = await (await flyte.new_condition.aio("ok", prompt="OK?", data_type=bool)).wait.aio()
    n = await ask_child(x)
    note = await (await flyte.new_condition.aio("note", prompt="Note?", data_type=str)).wait.aio()
    return f"{ok}|{n}|{note}"


proceed = threading.Event()  # lets the tasks below that create conditions in advance go on to wait


@env.task
async def create_work_wait() -> str:
    cond = await flyte.new_condition.aio("early", prompt="Ship **it**?", prompt_type="markdown", data_type=bool,
                                         timeout=timedelta(minutes=5))
    n = await flyte.new_condition.aio("count", prompt="How many?", data_type=int)
    await asyncio.to_thread(proceed.wait, 30)  # the work between creating and waiting
    return f"{await cond.wait.aio()}:{await n.wait.aio()}"


@env.task
async def never_waits() -> int:
    await flyte.new_condition.aio("unused", prompt="Never asked?", data_type=str)
    return 1


@env.task
async def created_in_advance() -> list[int]:
    first = await flyte.new_condition.aio("pick", prompt="First?", data_type=int, timeout=timedelta(minutes=2))
    second = await flyte.new_condition.aio("pick", prompt="Second?", data_type=int)
    await asyncio.to_thread(proceed.wait, 30)
    later = await second.wait.aio()  # waited in the other order: each wait still gets its own signal
    return [await first.wait.aio(), later]


@env.task
def sync_early(x: int) -> int:
    cond = flyte.new_condition("factor", prompt="Times?", data_type=int)
    proceed.wait(30)
    return x * cond.wait()


@env.task
async def gives_up() -> str:
    cond = await flyte.new_condition.aio("maybe", prompt="Now?", data_type=bool)
    try:
        return str(await asyncio.wait_for(cond.wait.aio(), 0.5))
    except asyncio.TimeoutError:
        return "gave up"


@pytest.fixture(autouse=True)
def no_terminal_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flyte's console prompt must never be used: it would block the kernel."""
    def refuse(condition: Any) -> Any:
        raise AssertionError(f"terminal prompt shown for condition {condition.name!r}")

    monkeypatch.setattr(LocalController, "_prompt_condition_console", staticmethod(refuse))


def pending(ex: Any, signal_id: str) -> Any:
    remote = GateRemote.for_sandbox()
    return eventually(lambda: (s := remote.get_signal(signal_id, ex.name)).state is SignalState.PENDING and s,
                      what=f"condition {signal_id!r} to wait")


def test_an_approved_bool_condition_is_an_approve_gate_and_the_task_gets_true() -> None:
    ex = gatewidgets.launch(double_if_approved, execution_name="f2-approve", x=21)
    signal = pending(ex, "approve-double")
    assert (signal.kind, signal.type.simple, signal.description) == (SignalKind.APPROVE, SimpleType.BOOLEAN,
                                                                     "Double it?")
    assert timedelta(minutes=4) < signal.deadline - signal.waiting_since <= timedelta(minutes=5)
    assert ex.status is ExecutionStatus.RUNNING
    GateRemote.for_sandbox(user="ann").approve("approve-double", "f2-approve")
    assert ex.wait(timeout=30) == 42
    done = GateRemote.for_sandbox().get_signal("approve-double", "f2-approve")
    assert (done.state, done.value, done.set_by, done.via) == (SignalState.SET, True, "ann", Via.API)
    assert ex.nodes_by_name == {"gw_tests.double_if_approved": NodeState.SUCCEEDED,
                                "approve-double": NodeState.SUCCEEDED}
    assert [e.kind for e in ex.history() if e.signal_id == "approve-double"] == ["created", "reached", "set"]


def test_conditions_are_answered_from_answers_and_an_unanswered_one_fails_the_run() -> None:
    with answering({"approve-double": False, "n": "3", "rate": 0.5, "note": "hi"}) as answers:
        assert gatewidgets.launch(double_if_approved, execution_name="f2-answers", x=21).wait(timeout=30) == 21
        assert gatewidgets.launch(typed, execution_name="f2-typed", label="L").wait(timeout=30) == "L:1.5:hi"
    assert [a.signal_id for a in answers.asked] == ["approve-double", "n", "rate", "note"]
    done = GateRemote.for_sandbox().get_signal("approve-double", "f2-answers")
    assert (done.value, done.set_by, done.via) == (False, "answering()", Via.TEST)
    with answering({}), pytest.raises(UnansweredGateError, match="'approve-double' of execution 'f2-unanswered'"):
        gatewidgets.launch(double_if_approved, execution_name="f2-unanswered", x=1).wait(timeout=30)


def test_a_created_condition_is_upcoming_and_an_early_answer_is_given_to_the_task_when_it_waits() -> None:
    proceed.clear()
    ex = gatewidgets.launch(create_work_wait, execution_name="f2-early")
    remote = GateRemote.for_sandbox(user="bot")
    eventually(lambda: len(remote.list_signals("f2-early")) == 2, what="both conditions to be created")
    early, count = remote.list_signals("f2-early")
    assert (early.signal_id, early.state, early.kind, early.type.simple, early.description, early.deadline) == (
        "early", SignalState.UPCOMING, SignalKind.APPROVE, SimpleType.BOOLEAN, "Ship **it**?", None)
    assert (count.signal_id, count.state, count.kind, count.type.simple) == (
        "count", SignalState.UPCOMING, SignalKind.INPUT, SimpleType.INTEGER)
    with pytest.raises(SignalTypeError):
        remote.set_input("count", "f2-early", "3")  # the same rules as once it waits
    assert remote.approve("early", "f2-early").state is SignalState.SET
    remote.set_input("count", "f2-early", 3)
    assert ex.status is ExecutionStatus.RUNNING and ex.nodes_by_name["early"] is NodeState.QUEUED
    proceed.set()
    assert ex.wait(timeout=30) == "True:3"  # no wait: both answers were there when the task waited
    assert [e.kind for e in ex.history() if e.signal_id == "early"] == ["created", "set"]
    assert remote.get_signal("early", "f2-early").set_by == "bot"
    assert ex.nodes_by_name["early"] is NodeState.SUCCEEDED


def test_a_sync_tasks_condition_is_upcoming_too_and_takes_an_early_answer() -> None:
    proceed.clear()
    ex = gatewidgets.launch(sync_early, x=3)
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.list_signals(ex.name), what="the condition to be created")
    assert remote.get_signal("factor", ex.name).state is SignalState.UPCOMING
    remote.set_input("factor", ex.name, 5)
    proceed.set()
    assert ex.wait(timeout=30) == 15


def test_a_condition_never_waited_on_is_cancelled_when_the_run_ends() -> None:
    ex = gatewidgets.launch(never_waits)
    assert ex.wait(timeout=30) == 1
    assert ex.nodes_by_name["unused"] is NodeState.SKIPPED
    signal = GateRemote.for_sandbox().get_signal("unused", ex.name)
    assert (signal.state, signal.kind, signal.description) == (SignalState.CANCELLED, SignalKind.INPUT, "Never asked?")
    assert ex.status is ExecutionStatus.SUCCEEDED
    with pytest.raises(SignalClosedError):
        GateRemote.for_sandbox().set_text("unused", ex.name, "too late")


def test_a_wait_the_task_gives_up_is_cancelled_when_the_run_ends() -> None:
    ex = gatewidgets.launch(gives_up)
    assert ex.wait(timeout=30) == "gave up"
    assert GateRemote.for_sandbox().get_signal("maybe", ex.name).state is SignalState.CANCELLED
    assert ex.nodes_by_name["maybe"] is NodeState.ABORTED


def test_ids_follow_creation_and_each_wait_gets_its_own_conditions_signal() -> None:
    proceed.clear()
    ex = gatewidgets.launch(created_in_advance)
    remote = GateRemote.for_sandbox()
    eventually(lambda: len(remote.list_signals(ex.name)) == 2, what="both conditions to be created")
    assert [(s.signal_id, s.description, s.state) for s in remote.list_signals(ex.name)] == [
        ("pick", "First?", SignalState.UPCOMING), ("pick-2", "Second?", SignalState.UPCOMING)]
    proceed.set()
    assert remote.get_signal("pick", ex.name).state is SignalState.UPCOMING  # second is waited on first
    remote.set_input("pick-2", ex.name, pending(ex, "pick-2") and 2)
    first = pending(ex, "pick")
    assert timedelta(minutes=1) < first.deadline - first.waiting_since <= timedelta(minutes=2)  # from the wait
    remote.set_input("pick", ex.name, 1)
    assert ex.wait(timeout=30) == [1, 2]


def test_the_controller_hooks_are_installed_once_and_call_flytes_own_methods() -> None:
    door._install_hooks()
    door._install_hooks()
    for method in (LocalController.register_condition, LocalController.wait_for_condition):
        assert getattr(method, "__gatewidgets__", False)
        assert not hasattr(method.__wrapped__, "__gatewidgets__")


def test_reached_waits_for_a_condition_the_task_has_not_created_yet() -> None:
    ex = gatewidgets.launch(double_if_approved, x=21)
    signal = ex.reached("approve-double", timeout=30).wait(30)  # no LookupError: conditions join at run time
    assert signal.state is SignalState.PENDING
    GateRemote.for_sandbox().approve("approve-double", ex.name)
    assert ex.wait(timeout=30) == 42


def test_a_rejected_bool_condition_gives_the_task_false_not_a_failure() -> None:
    ex = gatewidgets.launch(double_if_approved, x=21)
    pending(ex, "approve-double")
    GateRemote.for_sandbox().reject("approve-double", ex.name)
    assert ex.wait(timeout=30) == 21
    assert ex.status is ExecutionStatus.SUCCEEDED


def test_int_float_str_conditions_refuse_a_wrong_type_and_store_nothing() -> None:
    ex = gatewidgets.launch(typed, label="x")
    remote = GateRemote.for_sandbox()
    n = pending(ex, "n")
    assert (n.kind, n.type.simple) == (SignalKind.INPUT, SimpleType.INTEGER)
    for bad in ("5", True, 2.5):
        with pytest.raises(SignalTypeError):
            remote.set_input("n", ex.name, bad)
    with pytest.raises(SignalTypeError):
        remote.approve("n", ex.name)
    assert remote.get_signal("n", ex.name).state is SignalState.PENDING
    assert [e.kind for e in ex.history() if e.signal_id == "n"] == ["created", "reached"]
    remote.set_input("n", ex.name, 4)
    assert pending(ex, "rate").type.simple is SimpleType.FLOAT
    remote.set_input("rate", ex.name, 2)  # an int is a valid float
    note = pending(ex, "note")
    assert (note.type.simple, note.description) == (SimpleType.STRING, "Note?\n\nfree text")
    remote.set_text("note", ex.name, "fine")
    assert ex.wait(timeout=30) == "x:8.0:fine"


def test_a_markdown_prompt_is_kept_as_markdown_and_a_text_prompt_is_shown_as_written() -> None:
    ex = gatewidgets.launch(markdown_prompt)
    assert pending(ex, "md").description == "Ship **v2**?\n\n- tests pass"
    GateRemote.for_sandbox().approve("md", ex.name)
    assert ex.wait(timeout=30) is True

    from gatewidgets.evidence import markdown_html
    from gatewidgets.widgets.gate import GateWidget

    assert "<strong>v2</strong>" in markdown_html(describe("Ship **v2**?", "markdown"))
    ex = gatewidgets.launch(text_prompt)
    remote = GateRemote.for_sandbox()
    stored = pending(ex, "txt")
    assert stored.description == "Fire with `true` <now>?\n# not a heading\n\n*as* written"  # no Markdown escapes
    card = GateWidget(stored, remote=remote).description.value
    assert "Fire with `true` &lt;now&gt;?<br># not a heading" in card and "*as* written" in card
    assert "<h1>" not in card and "<code>" not in card and "<em>" not in card
    from gatewidgets.wire import signal_from_json, signal_to_json

    assert signal_from_json(signal_to_json(stored)).description_format == "text"  # HTTP faces show it as text too
    remote.approve("txt", ex.name)
    assert ex.wait(timeout=30) is True


def test_a_condition_in_a_child_task_is_a_gate_of_the_same_execution() -> None:
    ex = gatewidgets.launch(parent, x=1)
    assert pending(ex, "child-n").description == "Add how much?"
    GateRemote.for_sandbox().set_input("child-n", ex.name, 2)
    assert ex.wait(timeout=30) == 30
    assert ex.nodes[node_id(ex, "child-n")].parent == node_id(ex, "gw_tests.parent")


def test_the_same_name_twice_in_one_run_gets_a_second_id() -> None:
    ex = gatewidgets.launch(same_name_twice)
    remote = GateRemote.for_sandbox()
    pending(ex, "pick")
    remote.set_input("pick", ex.name, 1)
    assert pending(ex, "pick-2").description == "Second?"
    remote.set_input("pick-2", ex.name, 2)
    assert ex.wait(timeout=30) == [1, 2]
    assert [s.signal_id for s in ex.signals()] == ["pick", "pick-2"]
    assert signal_id_for("pick", {"pick", "pick-2"}) == "pick-3"
    assert signal_id_for("a b/c", set()) == "a-b-c"


def test_a_timeout_raises_condition_timed_out_in_the_task_which_may_catch_it() -> None:
    ex = gatewidgets.launch(times_out)
    assert ex.wait(timeout=30) == "timed out"
    signal = GateRemote.for_sandbox().get_signal("hurry", ex.name)
    assert (signal.state, signal.via) == (SignalState.TIMED_OUT, Via.TIMEOUT)
    with pytest.raises(SignalClosedError):
        GateRemote.for_sandbox().approve("hurry", ex.name)


def test_the_webhook_of_a_condition_still_fires() -> None:
    received: list[dict[str, Any]] = []
    states: list[SignalState] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            states.append(GateRemote.for_sandbox().get_signal("hooked", "f2-hook").state)  # a receiver may answer
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ex = gatewidgets.launch(with_webhook, execution_name="f2-hook",
                                url=f"http://127.0.0.1:{server.server_port}/hook")
        pending(ex, "hooked")
        eventually(lambda: received, what="the webhook")
        assert received == [{"callback": "local://conditions/hooked/signal", "why": "approval"}]
        assert states == [SignalState.UPCOMING]  # the signal exists before Flyte posts
        GateRemote.for_sandbox().approve("hooked", ex.name)
        assert ex.wait(timeout=30) is True
    finally:
        server.shutdown()
        server.server_close()


def test_answers_from_another_process_through_the_gatewidgets_command_line() -> None:
    ex = gatewidgets.launch(double_if_approved, execution_name="f2-cli", x=5)
    pending(ex, "approve-double")
    done = subprocess.run([sys.executable, "-m", "gatewidgets", "approve", "approve-double", "-e", "f2-cli"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert ex.wait(timeout=30) == 10
    assert GateRemote.for_sandbox().get_signal("approve-double", "f2-cli").via is Via.CLI


def test_aborting_releases_the_waiting_task_and_cancels_the_condition() -> None:
    ex = gatewidgets.launch(double_if_approved, x=1)
    pending(ex, "approve-double")
    ex.abort()
    assert ex.status is ExecutionStatus.ABORTED
    assert GateRemote.for_sandbox().get_signal("approve-double", ex.name).state is SignalState.CANCELLED
    eventually(lambda: not door._tracker.runs, what="the Flyte run to end")


HOST = """
import sys, time
import flyte, gatewidgets

env = flyte.TaskEnvironment(name="host")


@env.task
async def twice(x: int) -> int:
    ok = await (await flyte.new_condition.aio("ok", prompt="ok?", data_type=bool)).wait.aio()
    n = await (await flyte.new_condition.aio("n", prompt="n?", data_type=int)).wait.aio()
    return x * n if ok else 0


ex = gatewidgets.launch(twice, execution_name="f2-rec", x=3, recover=sys.argv[1] == "recover")
print(ex.wait(60), flush=True) if sys.argv[1] == "recover" else time.sleep(120)
"""


def test_recover_reruns_the_task_and_consumes_answers_given_while_the_kernel_was_gone(tmp_path: Any) -> None:
    script = tmp_path / "host.py"
    script.write_text(HOST)
    first = subprocess.Popen([sys.executable, str(script), "start"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    remote = GateRemote.for_sandbox()
    try:
        eventually(lambda: remote.get_signal("ok", "f2-rec").state is SignalState.PENDING, timeout=60, what="ok")
        remote.approve("ok", "f2-rec")
        eventually(lambda: remote.get_signal("n", "f2-rec").state is SignalState.PENDING, timeout=30, what="n")
    finally:
        first.kill()
        first.wait(timeout=30)
    remote.set_input("n", "f2-rec", 5)  # nobody runs the execution now
    second = subprocess.run([sys.executable, str(script), "recover"], capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "15"
    assert [s.state for s in remote.list_signals("f2-rec")] == [SignalState.SET, SignalState.SET]


def test_bad_inputs_are_refused_before_anything_is_stored() -> None:
    with pytest.raises(TypeError, match="x"):
        gatewidgets.launch(double_if_approved, execution_name="f2-bad", x="three")
    assert GateRemote.for_sandbox().list_executions() == []


def test_results_equal_flyte_2s_own_local_run_given_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"ok": False, "child-n": 7, "note": "looks good"}
    monkeypatch.setattr(LocalController, "_prompt_condition_console",
                        staticmethod(lambda condition: answers[condition.name]))
    reference = flyte.with_runcontext(mode="local").run(review, x=3).outputs()[0]

    ex = gatewidgets.launch(review, x=3)
    remote = GateRemote.for_sandbox()
    pending(ex, "ok")
    remote.reject("ok", ex.name)
    pending(ex, "child-n")
    remote.set_input("child-n", ex.name, answers["child-n"])
    pending(ex, "note")
    remote.set_input("note", ex.name, answers["note"])
    assert ex.wait(timeout=30) == reference == "False|10|looks good"


def test_the_execution_widget_shows_a_card_for_a_condition_and_its_click_answers_it() -> None:
    from gatewidgets.widgets import ExecutionWidget

    ex = gatewidgets.launch(double_if_approved, x=4)
    widget = ExecutionWidget(ex)
    try:
        card = eventually(lambda: widget.cards.get("approve-double"), what="the card")
        card.approve()
        assert ex.wait(timeout=30) == 8
        assert GateRemote.for_sandbox().get_signal("approve-double", ex.name).via is Via.WIDGET
    finally:
        widget.close()


def test_accepts_only_flyte_tasks_and_nothing_imports_flyte_until_one_is_launched() -> None:
    assert door.accepts(double_if_approved)
    assert not door.accepts(lambda: None) and not door.accepts(3)
    code = ("import sys, gatewidgets, gatewidgets.frontdoors.flyte2 as d, gatewidgets.models.flyte2; "
            "d.accepts(3); print('flyte' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
