"""GateWidget: approve/reject, typed submit, uploads, sleep, errors, decided elsewhere."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest

from gatewidgets import (GateFile, GateRejectedError, GateRemote, SignalState, approve, sleep, task,
                         wait_for_input, workflow)
from gatewidgets.widgets import GateWidget


@task
def double(v: int) -> int:
    return v * 2


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def read_file(f: GateFile) -> str:
    with open(f.path, "rb") as fh:
        return fh.read().decode()


@workflow
def approval_wf(a: int) -> int:
    return approve(double(v=a), "ok", timeout=timedelta(minutes=5), description="Pay **this**?")


@workflow
def number_wf(a: int) -> int:
    n = wait_for_input("n", timeout=None, expected_type=int)
    return add(a=a, b=n)


@workflow
def file_wf() -> str:
    return read_file(f=wait_for_input("doc", timeout=None, expected_type=GateFile))


@workflow
def sleep_wf() -> None:
    sleep(timedelta(minutes=10), name="nap")


def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def pending(ex, signal_id: str):
    remote = GateRemote.for_sandbox()
    until(lambda: remote.get_signal(signal_id, ex.name).state is SignalState.PENDING)
    return remote.get_signal(signal_id, ex.name)


def test_approve_button_resumes_execution_and_freezes_card():
    ex = approval_wf.launch(a=4)
    card = GateWidget(pending(ex, "ok"))
    assert "<strong>this</strong>" in card.description.value
    assert "PENDING" in card.header.value and "ok" in card.header.value
    assert "time left" in card.timing.value
    card.buttons["Approve"].click()
    assert ex.wait(timeout=10) == 8
    stored = GateRemote.for_sandbox().get_signal("ok", ex.name)
    assert stored.state is SignalState.SET and stored.value is True and stored.via.value == "widget"
    assert card.buttons["Approve"].disabled and card.buttons["Reject"].disabled
    assert "approved" in card.decided.value and "widget" in card.decided.value
    assert card.controls.layout.display == "none"


def test_reject_from_code_fails_execution():
    ex = approval_wf.launch(a=1)
    card = GateWidget(pending(ex, "ok"))
    assert card.reject() is not None
    with pytest.raises(GateRejectedError):
        ex.wait(timeout=10)
    assert "rejected" in card.decided.value


def test_int_field_submit_and_invalid_text_sets_nothing():
    ex = number_wf.launch(a=1)
    card = GateWidget(pending(ex, "n"))
    assert card.submit("not a number") is None
    assert "not a whole number" in card.error_text
    assert GateRemote.for_sandbox().get_signal("n", ex.name).state is SignalState.PENDING
    card.control.field.value = 41
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == 42
    assert card.error_text == ""
    assert "41" in card.decided.value


def test_upload_is_stored_as_file_and_read_by_task(tmp_path):
    ex = file_wf.launch()
    card = GateWidget(pending(ex, "doc"))
    card.upload.set_state({"value": [{"name": "receipt.txt", "type": "text/plain", "size": 5,
                                      "last_modified": 0, "content": memoryview(b"hello")}]})
    assert "receipt.txt (5 bytes)" in card.preview.value and "hello" in card.preview.value
    assert GateRemote.for_sandbox().get_signal("doc", ex.name).state is SignalState.PENDING  # a look first
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == "hello"
    stored = GateRemote.for_sandbox().get_signal("doc", ex.name)
    assert stored.state is SignalState.SET and stored.value.name == "receipt.txt"
    assert "receipt.txt" in card.decided.value


def test_file_path_field_rejects_missing_then_accepts(tmp_path):
    ex = file_wf.launch()
    card = GateWidget(pending(ex, "doc"))
    card.path.value = str(tmp_path / "missing.txt")
    assert card.buttons["Submit"].disabled
    assert card.submit() is None
    assert "No readable file" in card.error_text
    assert GateRemote.for_sandbox().get_signal("doc", ex.name).state is SignalState.PENDING
    real = tmp_path / "real.txt"
    real.write_text("on disk")
    card.path.value = str(real)
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == "on disk"


def test_sleep_end_now():
    ex = sleep_wf.launch()
    card = GateWidget(pending(ex, "nap"))
    assert "ends in" in card.timing.value
    card.buttons["End now"].click()
    assert ex.wait(timeout=10) is None
    assert GateRemote.for_sandbox().get_signal("nap", ex.name).state is SignalState.SET


def test_card_freezes_when_set_elsewhere_and_shows_who():
    ex = number_wf.launch(a=0)
    card = GateWidget(pending(ex, "n"))
    GateRemote.for_sandbox(user="carol").with_face("cli").set_input("n", ex.name, 7)
    until(lambda: card.state is SignalState.SET)
    assert "carol via cli" in card.decided.value
    assert card.buttons["Submit"].disabled
    assert ex.wait(timeout=10) == 7
    # a late click shows why nothing happened
    assert card.submit(8) is None
    assert "already" in card.error_text.lower()


def test_card_sees_other_process(gatewidgets_store):
    import subprocess
    import sys

    ex = number_wf.launch(a=2)
    card = GateWidget(pending(ex, "n"))
    code = ("from gatewidgets import GateRemote; "
            f"GateRemote.for_sandbox(user='dave').with_face('cli').set_input('n', {ex.name!r}, 5)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    until(lambda: card.state is SignalState.SET, timeout=10)
    assert "dave via cli" in card.decided.value
    assert ex.wait(timeout=10) == 7
