"""Approval cards: the evidence, editing before approving, reasons; uploads with a look first;
dropped widgets stop listening."""

import base64
import dataclasses
import gc
import threading

import pytest
from helpers import eventually

from gatewidgets import (
    GateFile,
    GateRejectedError,
    GateRemote,
    SignalState,
    SignalTypeError,
    approve,
    task,
    wait_for_input,
    workflow,
)
from gatewidgets.models.policy import Identity
from gatewidgets.settings import settings
from gatewidgets.widgets import GateWidget, SignalDashboard, StoredExecutionWidget

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
                       "hKmMIQAAAABJRU5ErkJggg==")


class Picture:
    def _repr_png_(self) -> bytes:
        return PNG


class Sneaky:
    def _repr_html_(self) -> str:
        return '<i>sneaky</i><script>alert(1)</script><a href="javascript:alert(2)" onclick="x()">go</a>'


@dataclasses.dataclass
class Expense:
    amount: int
    payee: str


def pending(ex, signal_id: str = "ok"):
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal(signal_id, ex.name).state is SignalState.PENDING)
    return remote.get_signal(signal_id, ex.name)


def approval_of(make, hint, **options):
    @task
    def produce() -> hint:  # type: ignore[valid-type]
        return make()

    @workflow
    def wf() -> hint:  # type: ignore[valid-type]
        return approve(produce(), "ok", timeout=None, description="Pay **this**?", **options)

    return wf


def frame():
    import pandas as pd

    return pd.DataFrame({"amount": [10, 20, 30], "payee": ["ann", "bob", "cy"]})


@pytest.mark.parametrize("make, hint, kind, shown", [
    (lambda: 42, int, "number", "<code>42</code>"),
    (lambda: "the bill", str, "text", "the bill"),
    (lambda: {"amount": 3, "tags": ["a"]}, dict, "tree", "<b>amount</b>"),
    (lambda: Expense(5, "ann"), Expense, "tree", "Expense (2 items)"),
    (lambda: Picture(), object, "image", "data:image/png;base64,"),
])
def test_approval_card_shows_the_value(make, hint, kind, shown):
    ex = approval_of(make, hint).launch()
    card = GateWidget(pending(ex))
    assert f"gw-evidence-{kind}" in card.evidence.value and shown in card.evidence.value
    assert "<strong>this</strong>" in card.description.value
    card.approve()
    ex.wait(timeout=10)


def test_dataframe_table_on_card_and_in_dashboard_and_stored_widget():
    pytest.importorskip("pandas")
    ex = approval_of(frame, object).launch()
    card = GateWidget(pending(ex))
    assert "3 rows × 2 columns" in card.evidence.value and "<td>ann</td>" in card.evidence.value
    board = SignalDashboard()
    assert "<td>ann</td>" in board.expand(0).evidence.value
    stored = StoredExecutionWidget(ex.name)
    assert "<td>ann</td>" in stored.gate("ok").evidence.value
    for widget in (card, board, stored):
        widget.close()
    ex.abort()


def test_file_evidence(tmp_path):
    path = tmp_path / "receipt.txt"
    path.write_text("coffee 4.20\ntea 2.10\n")
    ex = approval_of(lambda: GateFile(path), GateFile).launch()
    card = GateWidget(pending(ex))
    assert "receipt.txt" in card.evidence.value and "coffee 4.20" in card.evidence.value
    ex.abort()


def test_hostile_html_never_reaches_the_card_or_dashboard():
    ex = approval_of(Sneaky, object).launch()
    card = GateWidget(pending(ex))
    board = SignalDashboard()
    for markup in (card.evidence.value, board.expand(0).evidence.value):
        assert "<i>sneaky</i>" in markup
        assert "<script" not in markup and "javascript:" not in markup and "onclick" not in markup
    ex.abort()


def test_editable_number_changed_flows_downstream_and_history_has_both():
    ex = approval_of(lambda: 40, int, editable=True).launch()
    card = GateWidget(pending(ex))
    assert card.control.field.value == "40"  # the form pre-filled with the value to approve
    card.control.field.value = "x"
    assert card.buttons["Approve"].disabled and "not a whole number" in card.error_text
    card.control.field.value = "45"
    card.comment.value = "rounded up"
    card.buttons["Approve"].click()
    assert ex.wait(timeout=10) == 45
    stored = GateRemote.for_sandbox().get_signal("ok", ex.name)
    assert stored.value is True and stored.approved_value == 45 and stored.original == 40
    assert "changed to 45" in card.decided.value and "rounded up" in card.decided.value
    [event] = [e for e in ex.history() if e.kind == "set"]
    assert event.detail == {"original": 40, "approved_value": 45, "comment": "rounded up",
                            "identity_source": Identity.of_process().source,
                            "evidence_hash": stored.evidence_hash}  # the card sent the evidence it showed
    assert "changed 40 to 45" in card.history.value


def test_editable_dataclass_unchanged_passes_the_original():
    ex = approval_of(lambda: Expense(5, "ann"), Expense, editable=True).launch()
    card = GateWidget(pending(ex))
    assert card.control.form.fields["payee"].field.value == "ann"
    card.approve()
    assert ex.wait(timeout=10) == Expense(5, "ann")
    assert GateRemote.for_sandbox().get_signal("ok", ex.name).approved_value is None


def test_editable_dataclass_field_changed():
    ex = approval_of(lambda: Expense(5, "ann"), Expense, editable=True).launch()
    card = GateWidget(pending(ex))
    card.control.form.fields["amount"].field.value = "7"
    card.approve()
    assert ex.wait(timeout=10) == Expense(7, "ann")


def test_value_on_a_plain_approval_is_refused_and_nothing_changes():
    ex = approval_of(lambda: 3, int).launch()
    pending(ex)
    remote = GateRemote.for_sandbox()
    with pytest.raises(SignalTypeError, match="not editable"):
        remote.approve("ok", ex.name, value=4)
    assert remote.get_signal("ok", ex.name).state is SignalState.PENDING
    with pytest.raises(SignalTypeError, match="at most 2000 characters"):
        remote.approve("ok", ex.name, comment="x" * 2001)
    assert remote.get_signal("ok", ex.name).state is SignalState.PENDING
    card = GateWidget(remote.get_signal("ok", ex.name))
    assert card.control is None and card.comment is not None  # plain approval: buttons and a comment only
    remote.approve("ok", ex.name)
    assert ex.wait(timeout=10) == 3


def test_rejection_reason_on_card_and_in_error():
    ex = approval_of(lambda: 3, int).launch()
    card = GateWidget(pending(ex))
    card.comment.value = "over budget"
    card.buttons["Reject"].click()
    with pytest.raises(GateRejectedError, match='Reason: "over budget"'):
        ex.wait(timeout=10)
    assert "rejected" in card.decided.value and "over budget" in card.decided.value
    assert card.comment.disabled


@task
def count_files(files: list[GateFile]) -> str:
    return ",".join(sorted(f.name for f in files))


@workflow
def files_wf() -> str:
    return count_files(files=wait_for_input("docs", timeout=None, expected_type=list[GateFile]))


@workflow
def file_wf() -> str:
    return count_files(files=[])


def upload(name: str, data: bytes) -> dict:
    return {"name": name, "type": "text/plain", "size": len(data), "last_modified": 0, "content": memoryview(data)}


def test_several_files_previewed_then_submitted():
    ex = files_wf.launch()
    card = GateWidget(pending(ex, "docs"))
    assert card.upload.multiple and card.buttons["Submit"].disabled
    card.upload.set_state({"value": [upload("a.txt", b"alpha"), upload("b.txt", b"beta")]})
    assert "a.txt (5 bytes)" in card.preview.value and "beta" in card.preview.value
    assert not card.buttons["Submit"].disabled
    assert GateRemote.for_sandbox().get_signal("docs", ex.name).state is SignalState.PENDING
    card.buttons["Submit"].click()
    assert ex.wait(timeout=10) == "a.txt,b.txt"


def test_upload_larger_than_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(settings, "max_upload_bytes", 10)
    ex = files_wf.launch()
    card = GateWidget(pending(ex, "docs"))
    card.upload.set_state({"value": [upload("big.txt", b"x" * 11)]})
    assert "larger than the limit of 10 bytes" in card.error_text and card.buttons["Submit"].disabled
    assert card.submit() is None
    assert GateRemote.for_sandbox().get_signal("docs", ex.name).state is SignalState.PENDING
    ex.abort()


def test_config_setting_max_upload_bytes():
    from gatewidgets.config import GateWidgets

    before = settings.max_upload_bytes
    try:
        GateWidgets(max_upload_bytes=1234)
        assert settings.max_upload_bytes == 1234
    finally:
        GateWidgets(max_upload_bytes=before)


def test_rerunning_a_dashboard_cell_does_not_pile_up_listeners_or_threads(monkeypatch):
    """Re-run a dashboard cell 50 times (same cell id, new execution count): the dashboard the
    cell made last time is closed, so listeners and threads do not grow; a cell that makes
    two dashboards keeps both."""
    from gatewidgets.widgets import _sync, dashboard

    ex = approval_of(lambda: 1, int).launch()
    pending(ex)
    remote = GateRemote.for_sandbox()
    store = remote.store
    run = {"count": 1}
    monkeypatch.setattr(dashboard, "replace_previous_run",
                        lambda widget: _sync.replace_previous_run(widget, ("cell-1", run["count"])))
    first, second = SignalDashboard(remote=remote), SignalDashboard(remote=remote)
    assert first.comm is not None and second.comm is not None  # one run making two: both stay
    first.expand(0), second.expand(0)  # each with its card built
    listeners, threads = len(store._listeners), threading.active_count()
    del first, second
    for count in range(2, 52):
        run["count"] = count
        board = SignalDashboard(remote=remote)
        assert len(board.list.rows) == 1
        board.expand(0)  # with its card built
        del board
    gc.collect()
    # only the last run's dashboard and its card listen; the debounce timers of the last refreshes end
    eventually(lambda: len(store._listeners) == listeners - 2 and threading.active_count() <= threads,
               what="listeners and threads back")
    ex.abort()


def test_approve_from_code_answers_a_yes_no_input_card():
    @task
    def echo(v: bool) -> bool:
        return v

    @workflow
    def question() -> bool:
        return echo(v=wait_for_input("ok", timeout=None, expected_type=bool))

    ex = question.launch()
    card = GateWidget(pending(ex))
    assert card.buttons["Submit"].disabled  # nothing chosen yet
    assert card.approve() is not None  # GateWidget.approve() sets a bool input, as before
    assert ex.wait(timeout=10) is True
