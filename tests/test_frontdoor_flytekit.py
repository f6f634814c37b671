"""The flytekit front door: flytekit workflows, unchanged, run by the engine; gates answered elsewhere."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

pytest.importorskip("flytekit")

import _flytekit_workflows as fw  # noqa: E402  (needs flytekit)
from helpers import HELPERS, eventually, node_id  # noqa: E402

import gatewidgets  # noqa: E402
from gatewidgets import (  # noqa: E402
    ChildExecutionError,
    ExecutionNotFoundError,
    ExecutionStatus,
    GateFile,
    GateRejectedError,
    GateRemote,
    GateTimeoutError,
    MapTaskFailedError,
    SignalState,
    SignalTypeError,
    WorkflowDefinitionError,
)
from gatewidgets.errors import GateForbiddenError  # noqa: E402
from gatewidgets.models.execution import child_execution_name  # noqa: E402
from gatewidgets.models.policy import Policy  # noqa: E402
from gatewidgets.models.signal import SignalKind  # noqa: E402
from gatewidgets.settings import settings  # noqa: E402

ANSWER = str(HELPERS / "answer_gates.py")


def answer_elsewhere(execution: str, *steps: str) -> subprocess.CompletedProcess[str]:
    """Answer gates from another process (``answer_gates.py``), in order."""
    done = subprocess.run([sys.executable, ANSWER, execution, *steps], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    return done


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The ``gatewidgets`` command line, in another process."""
    done = subprocess.run([sys.executable, "-m", "gatewidgets", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout
    return done


def pending(ex: Any, count: int = 1) -> list[str]:
    def ids() -> list[str]:
        found = [s.signal_id for s in ex.signals() if s.state is SignalState.PENDING]
        return found if len(found) >= count else []

    return eventually(ids, timeout=30, what=f"{count} pending signals")


# ------------------------------------------------------------------ flytekit's gate test shapes


def test_sleep_ordering_shape_sleep_ended_early_from_another_process() -> None:
    ex = gatewidgets.launch(fw.wf_sleep)
    (sleep_id,) = pending(ex)
    assert sleep_id.startswith("sleep-")  # flytekit names every sleep "sleep-gate"; each gets its own id
    started = time.monotonic()
    answer_elsewhere(ex.name, f"end:{sleep_id}")
    assert ex.wait(timeout=30) == 10
    assert time.monotonic() - started < 9  # ended early, not after its 10 s


def test_signal_shape_inputs_and_approval_from_another_process() -> None:
    ex = gatewidgets.launch(fw.wf_signal, a=5)
    answer_elsewhere(ex.name, "set:my-signal-name=false", "set:my-signal-name-2=3", "approve:approvalfory")
    assert ex.wait(timeout=30) == (9, 10, 15)
    kinds = {s.signal_id: (s.kind, s.type.simple.name) for s in ex.signals()}
    assert kinds == {"my-signal-name": (SignalKind.INPUT, "BOOLEAN"), "my-signal-name-2": (SignalKind.INPUT, "INTEGER"),
                     "approvalfory": (SignalKind.APPROVE, "BOOLEAN")}


def test_dynamic_signal_shape_gates_created_at_run_time_with_flytes_ids() -> None:
    ex = gatewidgets.launch(fw.wf_dyn, a=5)
    answer_elsewhere(ex.name, "set:my-signal-name=true", "set:my-signal-name-2=3", "approve:approvalfory")
    assert ex.wait(timeout=30) == (9, 10, 15)
    assert {s.signal_id for s in ex.signals()} == {"my-signal-name", "my-signal-name-2", "approvalfory"}


# ------------------------------------------------------------------ approvals, inputs, timeouts


def test_approve_passes_the_value_on_and_reject_fails_with_gate_rejected() -> None:
    ex = gatewidgets.launch(fw.wf_approve, amount=10.0)
    assert pending(ex) == ["pay-it"]
    cli("approve", "-e", ex.name, "pay-it")
    assert ex.wait(timeout=30) == "paid 12.0"

    ex = gatewidgets.launch(fw.wf_approve, amount=10.0)
    pending(ex)
    cli("reject", "-e", ex.name, "pay-it")
    with pytest.raises(GateRejectedError, match="pay-it"):
        ex.wait(timeout=30)


def test_timeout_none_is_flytes_one_hour_and_a_timeout_fails_the_node() -> None:
    ex = gatewidgets.launch(fw.wf_approve, amount=1.0)
    pending(ex)
    (signal,) = ex.signals()
    assert timedelta(minutes=59) < signal.deadline - signal.waiting_since <= timedelta(hours=1)
    ex.abort()
    with pytest.raises(GateTimeoutError, match="never"):
        gatewidgets.launch(fw.wf_timeout).wait(timeout=30)


def test_each_input_type_set_as_text_from_another_process() -> None:
    ex = gatewidgets.launch(fw.wf_types)
    answer_elsewhere(ex.name, "set:f=1.5", "set:s=hello", "set:when=2024-01-02T03:04:05", "set:wait=90",
                     "set:xs=[1, 2, 3]", 'set:d={"a": 1, "b": 2}', "set:c=blue", 'set:p={"x": 1, "y": 2}',
                     'set:m={"name": "n", "level": 3}')
    assert ex.wait(timeout=30) == "1.5|hello|2024-01-02T03:04:05+00:00|90.0|6|[('a', 1), ('b', 2)]|blue|3|n:3"


def test_flytefile_gate_answered_with_a_path_downstream_gets_a_flytefile(tmp_path: Path) -> None:
    receipt = tmp_path / "receipt.txt"
    receipt.write_text("total 42\n")
    ex = gatewidgets.launch(fw.wf_file)
    (signal,) = ex.signals()
    assert signal.type.simple is None and signal.type.blob_format is not None  # a file type
    answer_elsewhere(ex.name, f"set:receipt={receipt}")
    receipt.unlink()  # the task reads the stored copy
    assert ex.wait(timeout=30) == "TOTAL 42"


def test_structured_dataset_gate_answered_with_a_csv_downstream_gets_flytekits_dataset(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    table = tmp_path / "expenses.csv"
    table.write_text("item,amount\ncoffee,4\ntrain,38\n")
    ex = gatewidgets.launch(fw.wf_table)
    answer_elsewhere(ex.name, f"set:expenses={table}")
    assert ex.wait(timeout=30) == 42


def test_a_flytedirectory_gate_is_answered_with_files_from_the_card() -> None:
    from gatewidgets.widgets.gate import GateWidget

    ex = gatewidgets.launch(fw.wf_directory)
    pending(ex)
    signal = GateRemote.for_sandbox().get_signal("photos", ex.name)
    card = GateWidget(signal)
    files = [{"name": n, "type": "text/plain", "size": len(b), "last_modified": 0, "content": memoryview(b)}
             for n, b in (("a.txt", b"first"), ("b.txt", b"second"))]
    card.upload.set_state({"value": files})
    assert card.submit() is not None
    assert ex.wait(timeout=30) == {"a.txt": "first", "b.txt": "second"}


def test_a_flytedirectory_gate_takes_a_zip_from_the_card(tmp_path: Path) -> None:
    import io
    import zipfile

    from gatewidgets.widgets.gate import GateWidget

    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as z:
        z.writestr("x.txt", "ex")
        z.writestr("../escape.txt", "no")  # unpacked inside the folder, never above it
    data = packed.getvalue()
    ex = gatewidgets.launch(fw.wf_directory)
    pending(ex)
    card = GateWidget(GateRemote.for_sandbox().get_signal("photos", ex.name))
    card.upload.set_state({"value": [{"name": "photos.zip", "type": "application/zip", "size": len(data),
                                      "last_modified": 0, "content": memoryview(data)}]})
    assert card.submit() is not None
    assert ex.wait(timeout=30) == {"escape.txt": "no", "x.txt": "ex"}


def test_a_flytedirectory_gate_takes_a_zip_from_another_process(tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("one.txt", "1")
        z.writestr("two.txt", "22")
    ex = gatewidgets.launch(fw.wf_directory)
    pending(ex)
    answer_elsewhere(ex.name, f'set:photos=["{archive}"]')
    assert ex.wait(timeout=30) == {"one.txt": "1", "two.txt": "22"}


def test_a_flytedirectory_gate_takes_a_folder_path_from_the_command_line(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "one.txt").write_text("1")
    (folder / "two.txt").write_text("22")
    ex = gatewidgets.launch(fw.wf_directory)
    pending(ex)
    cli("set", "photos", str(folder), "-e", ex.name)
    (folder / "one.txt").write_text("changed")  # the task reads the store's copies
    assert ex.wait(timeout=30) == {"one.txt": "1", "two.txt": "22"}


def test_a_zip_that_unpacks_past_max_upload_bytes_fails_the_gate_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zipfile

    from gatewidgets.settings import settings

    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", b"\0" * 200_000)  # a few hundred bytes packed, 200 kB unpacked
    assert archive.stat().st_size < 5_000
    monkeypatch.setattr(settings, "max_upload_bytes", 100_000)
    before = set(Path(tempfile.gettempdir()).glob("gatewidgets-dir-*/zeros.bin"))
    ex = gatewidgets.launch(fw.wf_directory)
    pending(ex)
    GateRemote.for_sandbox().set_input("photos", ex.name, [GateFile(str(archive))])
    with pytest.raises(SignalTypeError, match="unpacks to 1 files and 200,000 bytes"):
        ex.wait(timeout=30)
    assert set(Path(tempfile.gettempdir()).glob("gatewidgets-dir-*/zeros.bin")) == before  # nothing unpacked


# ------------------------------------------------------------------ branches, sub-workflows, launch plans


@pytest.mark.parametrize(("go", "expected"), [("true", "big 3"), ("false", "small 3")])
def test_conditional_on_a_signal(go: str, expected: str) -> None:
    ex = gatewidgets.launch(fw.wf_branch_on_signal, x=3)
    answer_elsewhere(ex.name, f"set:go-big={go}")
    assert ex.wait(timeout=30) == expected


def test_conditional_conjunctions_and_else_fail() -> None:
    assert gatewidgets.launch(fw.wf_branch_ranges, x=2).wait(timeout=30) == "small 7"
    assert gatewidgets.launch(fw.wf_branch_ranges, x=7).wait(timeout=30) == "big 12"
    with pytest.raises(gatewidgets.BranchFailedError, match="x must be positive"):
        gatewidgets.launch(fw.wf_branch_ranges, x=-2).wait(timeout=30)


def test_approval_as_a_case_of_a_conditional() -> None:
    ex = gatewidgets.launch(fw.wf_approve_in_branch, x=9)
    answer_elsewhere(ex.name, "approve:big-ok")
    assert ex.wait(timeout=30) == "big 14"
    ex = gatewidgets.launch(fw.wf_approve_in_branch, x=1)
    assert ex.wait(timeout=30) == "big 12"
    assert ex.signals()[0].state is SignalState.CANCELLED  # the case not taken


def test_a_call_nested_inside_a_case_is_refused_rather_than_misread() -> None:
    with pytest.raises(WorkflowDefinitionError, match="not a node of this graph.*conditional case"):
        gatewidgets.launch(fw.wf_call_inside_case, x=9)


def test_gate_in_a_sub_workflow_uses_the_bare_name_and_calling_it_twice_shares_the_signal() -> None:
    ex = gatewidgets.launch(fw.wf_sub_once, a=1)
    answer_elsewhere(ex.name, "approve:sub-ok")
    assert ex.wait(timeout=30) == 12

    ex = gatewidgets.launch(fw.wf_sub_twice, a=1)
    assert [s.signal_id for s in ex.signals()] == ["sub-ok"]
    answer_elsewhere(ex.name, "approve:sub-ok")  # one answer releases both, as on Flyte
    assert ex.wait(timeout=30) == 23


def test_launch_plan_defaults_and_fixed_inputs() -> None:
    assert gatewidgets.launch(fw.scale_lp, a=2).wait(timeout=30) == 27  # factor 10 (default), offset 7 (fixed)
    assert gatewidgets.launch(fw.scale_lp, a=2, factor=3).wait(timeout=30) == 13
    assert gatewidgets.launch(fw.wf_lp_node, a=1).wait(timeout=30) == 17  # a launch plan used as a node
    with pytest.raises(WorkflowDefinitionError, match=r"scale_lp.*\['offset'\].*fixed"):
        gatewidgets.launch(fw.scale_lp, a=2, offset=0, execution_name="lp-fixed")
    with pytest.raises(ExecutionNotFoundError):
        GateRemote.for_sandbox().list_signals("lp-fixed")


def test_a_launch_plan_node_is_a_child_execution_that_owns_its_gate() -> None:
    ex = gatewidgets.launch(fw.wf_lp_gate, a=1)
    ((nid, child),) = eventually(lambda: list(ex.children.items()), timeout=30, what="the child execution")
    assert child.name == child_execution_name(ex.name, nid)
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal("sub-ok", child.name).state is SignalState.PENDING, timeout=30,
               what="the child's gate to wait")
    assert remote.list_signals(ex.name) == []  # the signal is the child's, as on Flyte
    assert [s.signal_id for s in remote.list_signals(child.name)] == ["sub-ok"]
    answer_elsewhere(child.name, "approve:sub-ok")
    assert ex.wait(timeout=30) == 17  # t1(t2(approve(t1(1)))): 1 + 5 + 6 + 5
    assert remote.store.get_execution(child).status is ExecutionStatus.SUCCEEDED
    node = remote.store.get_execution(ex.id).nodes[0]
    assert (node.kind, node.child_execution, node.outputs) == ("child", str(child), 12)


def test_a_failing_launch_plan_node_fails_the_parent_naming_the_child() -> None:
    ex = gatewidgets.launch(fw.wf_lp_fails, a=2)
    child = re.escape(child_execution_name(ex.name, node_id(ex, "refuse_lp")))
    with pytest.raises(ChildExecutionError, match=rf"{child}.*refuse_lp.*FAILED.*refused 2"):
        ex.wait(timeout=30)


# ------------------------------------------------------------------ dynamic, map, outputs


def test_dynamic_with_one_approval_per_item_answered_from_another_process() -> None:
    ex = gatewidgets.launch(fw.wf_review_each, items=[1, 2, 3])
    answer_elsewhere(ex.name, "approve:review-3", "approve:review-1", "approve:review-2")
    assert ex.wait(timeout=30) == 6 + 7 + 8
    assert [s.signal_id for s in ex.signals()] == ["review-1", "review-2", "review-3"]


def test_map_task_over_a_list() -> None:
    assert gatewidgets.launch(fw.wf_map, xs=[1, 2, 3]).wait(timeout=30) == 14


def test_map_items_run_in_parallel_up_to_concurrency_in_order() -> None:
    fw.MAP_PEAK.most = 0
    started = time.monotonic()
    assert gatewidgets.launch(fw.wf_map_parallel, xs=list(range(8))).wait(timeout=30) == [x * 10 for x in range(8)]
    assert time.monotonic() - started < 8 * 0.3 / 2  # two rounds of 4, not 8 one after another
    assert fw.MAP_PEAK.most == 4

    fw.MAP_PEAK.most = 0
    started = time.monotonic()
    assert gatewidgets.launch(fw.wf_map_serial, xs=[3, 1, 2]).wait(timeout=30) == [30, 10, 20]
    assert time.monotonic() - started >= 3 * 0.3 and fw.MAP_PEAK.most == 1


def test_map_min_success_ratio_lets_items_fail_and_fails_below_it() -> None:
    assert gatewidgets.launch(fw.wf_map_tolerant, xs=[1, -2, 3, -4]).wait(timeout=30) == [1, None, 3, None]

    ex = gatewidgets.launch(fw.wf_map_tolerant, xs=[-1, 2, -3, -4, 5])
    message = (r"map_fragile: 3 of 5 items failed \(items 0, 2, 3\)(, 1 not started)?; at least 3 had to succeed "
               r"\(min_success_ratio=0.5\)\. First error, item 0: ValueError: negative -1")
    with pytest.raises(MapTaskFailedError, match=message):
        ex.wait(timeout=30)
    assert ex.status is gatewidgets.ExecutionStatus.FAILED and isinstance(ex.error.__cause__, ValueError)
    assert "items 0, 2, 3" in GateRemote.for_sandbox().get_execution(ex.name).error


def test_map_items_are_retried_one_by_one_with_the_mapped_tasks_retries() -> None:
    fw.ITEM_ATTEMPTS.clear()
    ex = gatewidgets.launch(fw.wf_map_retries, xs=[0, 1, 2])  # item x fails its first x attempts; retries=2
    assert ex.wait(timeout=30) == [0, 1, 2]
    assert fw.ITEM_ATTEMPTS == {0: 1, 1: 2, 2: 3}
    retries = sorted((e.value["error"], e.value["attempt"]) for e in ex.history() if e.kind == "retry")
    assert retries == [("item 1: RuntimeError: attempt 1 of item 1", 1),
                       ("item 2: RuntimeError: attempt 1 of item 2", 1),
                       ("item 2: RuntimeError: attempt 2 of item 2", 2)]

    fw.ITEM_ATTEMPTS.clear()
    with pytest.raises(MapTaskFailedError, match="item 1: RuntimeError: attempt 3 of item 3"):
        gatewidgets.launch(fw.wf_map_retries, xs=[0, 3]).wait(timeout=30)
    assert fw.ITEM_ATTEMPTS == {0: 1, 3: 3}


def test_on_failure_handler_gets_the_inputs_and_a_flyte_error_and_the_run_still_fails() -> None:
    fw.HANDLED.clear()
    ex = gatewidgets.launch(fw.wf_on_failure, name="x")
    with pytest.raises(ValueError, match="cannot deploy hello x"):
        ex.wait(timeout=30)
    assert ex.status is gatewidgets.ExecutionStatus.FAILED
    # the failed node's id is flytekit's (n1: deploy), not the engine's (n2: deploy after n1, the pick of "text")
    assert fw.HANDLED == [("x", fw.FlyteError(message="ValueError: cannot deploy hello x", failed_node_id="n1"))]
    assert ex.nodes_by_name["deploy"] is gatewidgets.NodeState.FAILED
    assert ex.nodes_by_name["clean_up"] is gatewidgets.NodeState.SUCCEEDED

    fw.HANDLED.clear()
    assert gatewidgets.launch(fw.wf_on_failure, name="ok").wait(timeout=30) == "hello ok"
    assert fw.HANDLED == []

    with pytest.raises(ValueError, match="cannot deploy hello lp"):  # a launch plan's fixed input reaches it too
        gatewidgets.launch(fw.wf_on_failure_lp).wait(timeout=30)
    assert [name for name, _ in fw.HANDLED] == ["lp"]


def test_attribute_and_item_access_on_promises() -> None:
    assert gatewidgets.launch(fw.wf_attributes, a=3).wait(timeout=30) == (11, 12)


def test_named_tuple_keeps_its_class_and_tuples_unpack() -> None:
    out = gatewidgets.launch(fw.wf_named, xs=[4, 5]).wait(timeout=30)
    assert type(out) is fw.Stats and out == fw.Stats(count=7, label="2 items")
    assert gatewidgets.launch(fw.wf_tuple).wait(timeout=30) == ("4", 10)  # default input a=4


# ------------------------------------------------------------------ task options


def test_retries_run_a_failing_task_again_and_the_attempt_is_in_the_history(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fw, "FLAKY_MARKER", tmp_path / "calls")
    ex = gatewidgets.launch(fw.wf_flaky, a=4)
    assert ex.wait(timeout=30) == 40
    retries = [e for e in ex.history() if e.kind == "retry"]
    assert len(retries) == 1 and retries[0].value == {"attempt": 1, "error": "RuntimeError: first attempt fails"}


def test_a_cached_task_is_not_run_again_for_the_same_inputs() -> None:
    fw.CACHE_CALLS.clear()
    assert gatewidgets.launch(fw.wf_cached, a=3).wait(timeout=30) == 300
    assert gatewidgets.launch(fw.wf_cached, a=3).wait(timeout=30) == 300
    assert gatewidgets.launch(fw.wf_cached, a=4).wait(timeout=30) == 400
    assert fw.CACHE_CALLS == [3, 4]


def test_a_task_timeout_fails_the_node() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="too_slow.*timeout"):
        gatewidgets.launch(fw.wf_too_slow, a=1).wait(timeout=30)
    assert time.monotonic() - started < 2.5


def test_recovered_after_the_kernel_that_ran_it_died() -> None:
    code = (f"import sys, time; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
            "import _flytekit_workflows as fw, gatewidgets\n"
            "gatewidgets.launch(fw.wf_signal, a=5, execution_name='fk-recover')\n"
            "time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    remote = GateRemote.for_sandbox()
    try:
        eventually(lambda: remote.get_signal("my-signal-name", "fk-recover").state is SignalState.PENDING,
                   timeout=60, what="the first gate to wait in the other process")
        remote.set_input("my-signal-name", "fk-recover", True)  # answered while its kernel still ran
    finally:
        proc.kill()
        proc.wait(timeout=10)
    ex = gatewidgets.launch(fw.wf_signal, a=5, execution_name="fk-recover", recover=True)
    answer_elsewhere(ex.name, "set:my-signal-name-2=3", "approve:approvalfory")
    assert ex.wait(timeout=30) == (9, 10, 15)


# ------------------------------------------------------------------ refused entities


@pytest.mark.parametrize(("workflow", "message"), [
    ("wf_reference", r"remote\.t.*reference to an entity registered on a Flyte cluster"),
    ("wf_container", r"ContainerTask 'shell'.*container image"),
    ("wf_shell", r"ShellTask 'say'.*not a Python function task"),
    ("wf_on_failure_wf", r"on_failure .*clean_up_wf: only a @task can be a failure handler here"),
])
def test_entities_that_cannot_run_in_a_kernel_are_refused_at_launch_and_nothing_is_stored(
        workflow: str, message: str) -> None:
    with pytest.raises(WorkflowDefinitionError, match=message):
        gatewidgets.launch(getattr(fw, workflow), a=1, execution_name=f"refused-{workflow.replace('_', '-')}")
    assert GateRemote.for_sandbox().list_executions() == []


def test_a_reference_launch_plan_is_refused() -> None:
    from flytekit.core.launch_plan import ReferenceLaunchPlan

    lp = ReferenceLaunchPlan("flytesnacks", "development", "remote.lp", "v1", inputs={"a": int}, outputs={"o0": int})
    with pytest.raises(WorkflowDefinitionError, match="remote.lp.*reference"):
        gatewidgets.launch(lp, a=1)


# ------------------------------------------------------------------ the same results as flytekit


HOUR_LATER = datetime(2024, 1, 2, 3, 4, 5)

#: (workflow, inputs, answers by signal id: True/False for approvals, else the value) for both runs
DIFFERENTIAL: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("wf_sleep", {}, {}),
    ("wf_signal", {"a": 5}, {"my-signal-name": False, "my-signal-name-2": 3, "approvalfory": True}),
    ("wf_dyn", {"a": 2}, {"my-signal-name": True, "my-signal-name-2": 7, "approvalfory": True}),
    ("wf_approve", {"amount": 3.5}, {"pay-it": True}),
    ("wf_approve", {"amount": 3.5}, {"pay-it": False}),
    ("wf_types", {}, {"f": 2.5, "s": "x", "when": HOUR_LATER, "wait": timedelta(seconds=5), "xs": [1, 2],
                      "d": {"k": 1}, "c": fw.Color.RED, "p": fw.Point(x=2, y=3),
                      "m": fw.Settings(name="a", level=1)}),
    ("wf_branch_on_signal", {"x": 4}, {"go-big": True}),
    ("wf_branch_on_signal", {"x": 4}, {"go-big": False}),
    ("wf_branch_ranges", {"x": 1}, {}),
    ("wf_branch_ranges", {"x": 9}, {}),
    ("wf_branch_tuple", {"a": 3}, {}),
    ("wf_branch_tuple", {"a": -1}, {}),
    ("wf_sub_once", {"a": 2}, {"sub-ok": True}),
    ("wf_sub_twice", {"a": 1}, {"sub-ok": True}),
    ("wf_review_each", {"items": [3, 1]}, {"review-3": True, "review-1": True}),
    ("wf_map", {"xs": [2, 3, 4]}, {}),
    ("wf_map_partial", {"xs": [2, 3]}, {}),
    ("wf_map_tolerant", {"xs": [1, -2, 3, 4]}, {}),
    ("wf_approve_in_branch", {"x": 9}, {"big-ok": True}),
    ("wf_approve_in_branch", {"x": 9}, {"big-ok": False}),
    ("wf_named", {"xs": [1]}, {}),
    ("wf_tuple", {}, {}),
    ("wf_attributes", {"a": 2}, {}),
    ("wf_lp_node", {"a": 3}, {}),
]


def _flytekit_run(workflow: Any, inputs: dict[str, Any], answers: dict[str, Any]) -> tuple[str, Any]:
    """flytekit's own local execution, its prompts (``click.confirm`` / ``click.prompt``) answered."""
    def name(message: str) -> str:
        return re.search(r"@(\S+)", click_unstyle(message)).group(1)  # type: ignore[union-attr]

    from click import unstyle as click_unstyle

    with mock.patch("click.confirm", lambda message, **_: answers[name(message)]), \
            mock.patch("click.prompt", lambda message, **_: answers[name(message)]), \
            mock.patch("click.echo"):
        try:
            return "ok", workflow(**inputs)
        except Exception as exc:
            return "failed", type(exc).__name__


def _gatewidgets_run(workflow: Any, inputs: dict[str, Any], answers: dict[str, Any]) -> tuple[str, Any]:
    ex = gatewidgets.launch(workflow, **inputs)
    remote = GateRemote.for_sandbox()
    deadline = time.monotonic() + 30
    while not ex.done() and time.monotonic() < deadline:
        for signal in ex.signals():
            if signal.state is not SignalState.PENDING:
                continue
            if signal.kind is SignalKind.SLEEP:
                remote.end_sleep(signal.signal_id, ex.name)
            elif signal.kind is SignalKind.APPROVE:
                (remote.approve if answers[signal.signal_id] else remote.reject)(signal.signal_id, ex.name)
            else:
                remote.set_input(signal.signal_id, ex.name, answers[signal.signal_id])
        time.sleep(0.01)
    try:
        return "ok", ex.wait(timeout=1)
    except GateRejectedError:
        return "failed", "FlyteDisapprovalException"


@pytest.mark.parametrize(("workflow", "inputs", "answers"), DIFFERENTIAL,
                         ids=[f"{w}-{i}" for i, (w, _, _) in enumerate(DIFFERENTIAL)])
def test_same_results_as_flytekits_local_execution(workflow: str, inputs: dict[str, Any],
                                                   answers: dict[str, Any]) -> None:
    wf = getattr(fw, workflow)
    expected = _flytekit_run(wf, inputs, answers)
    got = _gatewidgets_run(wf, inputs, answers)
    assert got == expected
    if expected[0] == "ok" and isinstance(expected[1], tuple):
        assert tuple(got[1]) == tuple(expected[1])


def test_signal_ids_of_a_run_match_what_flytekit_serialises_for_a_cluster() -> None:
    """The ids ``GateRemote`` uses here are the gate node ids flytekit registers, so the same calls work on Flyte."""
    from flytekit.core.gate import Gate

    def names(workflow: Any) -> set[str]:
        found = set()
        for node in workflow.nodes:
            entity = node.flyte_entity
            if isinstance(entity, Gate) and entity.sleep_duration is None:
                found.add(entity.name)
            elif hasattr(entity, "nodes"):
                found |= names(entity)
        return found

    ex = gatewidgets.launch(fw.wf_sub_twice, a=0)
    assert {s.signal_id for s in ex.signals()} == names(fw.wf_sub_twice) == {"sub-ok"}
    ex.abort()
    ex = gatewidgets.launch(fw.wf_signal, a=0)
    assert {s.signal_id for s in ex.signals()} == names(fw.wf_signal)
    ex.abort()


def test_gate_run_magic_launches_a_flytekit_workflow() -> None:
    from gatewidgets.commands import Context, build_parser, run_command

    result = run_command(["run", "wf_tuple", "a=6", "--name", "magic-fk"],
                         Context(remote=GateRemote.for_sandbox(), namespace={"wf_tuple": fw.wf_tuple}),
                         build_parser(notebook=True))
    assert result.value.wait(timeout=30) == ("6", 12)
    assert json.loads(json.dumps(result.data)) == {"execution": "magic-fk"}


def test_a_flytekit_workflow_run_in_the_notebook_gets_the_configured_policies() -> None:
    from gatewidgets.commands import Context, build_parser, run_command

    settings.policies = {"*": {"assignees": ["carol", "dave"]}, settings.default_project: {"quorum": 2}}
    try:
        result = run_command(["run", "wf_approve", "amount=10.0", "--name", "fk-policy"],
                             Context(remote=GateRemote.for_sandbox(), namespace={"wf_approve": fw.wf_approve}),
                             build_parser(notebook=True))
        ex = result.value
        assert pending(ex) == ["pay-it"]
        remote = GateRemote.for_sandbox()
        signal = remote.get_signal("pay-it", "fk-policy")
        assert signal.policy == Policy(assignees=("carol", "dave"), quorum=2)  # flytekit's approve gave none
        with pytest.raises(GateForbiddenError, match="erin is not an assignee"):
            GateRemote.for_sandbox(user="erin").approve("pay-it", "fk-policy")
        after = remote.get_signal("pay-it", "fk-policy")
        assert (after.state, after.value, after.approvals) == (SignalState.PENDING, None, [])
        GateRemote.for_sandbox(user="carol").approve("pay-it", "fk-policy")
        assert [a.user for a in remote.get_signal("pay-it", "fk-policy").approvals] == ["carol"]
        assert not ex.done()  # 1 of 2
        GateRemote.for_sandbox(user="dave").approve("pay-it", "fk-policy")
        assert ex.wait(timeout=30) == "paid 12.0"
        assert [(e.kind, e.set_by) for e in remote.history("fk-policy", signal_id="pay-it")
                if e.kind in ("refused", "approved", "set")] == [("refused", "erin"), ("approved", "carol"),
                                                                 ("set", "dave")]
    finally:
        del settings.policies
