"""An editable approval's changed value enters the store the way a set's value does (a real jupyter_server):
validated, its files copied in by the store's ingest routine under the caller's file rules (no server-side
path over HTTP, no file past ``max_upload_bytes``), no larger than ``max_value_bytes``. A refused one leaves
the signal PENDING, no history event, no new file, and the task after the gate not run."""
from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _jupyter_server import Server, call
from helpers import eventually
from helpers.shell import gate_shell, run

from gatewidgets import GateFile, GateRemote, SignalState, approve, task, workflow
from gatewidgets.errors import GateError
from gatewidgets.models.execution import ExecutionStatus
from gatewidgets.settings import settings
from gatewidgets.widgets import GateWidget

SIG = "/gatewidgets/api/signals/default/development"
BIG = 20 << 20  # characters of a changed note: 20 times GateWidgets.max_value_bytes (1 MiB)
PAID: list[str] = []  # what each run of the task after the gate read


@dataclass
class Claim:
    amount: float
    note: str
    receipt: GateFile


@task
def make_claim(a: int) -> Claim:
    path = Path(tempfile.mkdtemp()) / "receipt.txt"
    path.write_bytes(b"original receipt")
    return Claim(float(a), "as filed", GateFile(str(path)))


@task
def pay(claim: Claim) -> str:
    with claim.receipt.open("rb") as f:
        paid = f"{claim.amount:g}|{claim.note[:20]}|{f.read(40).decode('latin-1')}"
    PAID.append(paid)
    return paid


@workflow
def claim_wf(a: int) -> str:
    return pay(claim=approve(make_claim(a=a), "pay", timeout=None, editable=True))


def launched() -> Any:
    PAID.clear()
    ex = claim_wf.launch(a=4)
    eventually(lambda: GateRemote.for_sandbox().get_signal("pay", ex.name).state is SignalState.PENDING,
               timeout=30, what="the gate to wait")
    return ex


def files(server: Server) -> set[str]:
    folder = server.store.parent / "files"
    return {str(p) for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def assert_untouched(server: Server, ex: Any, before: set[str]) -> None:
    """The refusal stored nothing: gate PENDING, no set event, no new file, the task not run, still waiting."""
    remote = GateRemote.for_sandbox()
    signal = remote.get_signal("pay", ex.name)
    assert signal.state is SignalState.PENDING and signal.approved_value is None
    assert [e.kind for e in remote.history(ex.name, signal_id="pay") if e.kind == "set"] == []
    assert files(server) == before
    assert PAID == [] and remote.get_execution(ex.name).status is ExecutionStatus.RUNNING


def test_http_edited_approval_naming_a_server_file_is_refused(server: Server) -> None:
    ex = launched()
    before = files(server)
    value = {"amount": 5, "note": "x", "receipt": {"path": "/etc/passwd", "name": "passwd"}}
    status, data = call(server, "POST", f"{SIG}/{ex.name}/pay/approve", {"value": value})
    assert status == 400 and data["error"] == "SignalTypeError", data
    assert "server-side paths are not accepted" in data["message"]
    assert_untouched(server, ex, before)
    assert call(server, "POST", f"{SIG}/{ex.name}/pay/approve", None)[0] == 200  # a plain approval still works
    assert ex.wait(timeout=30) == "4|as filed|original receipt" and len(PAID) == 1


def test_http_edited_approval_larger_than_max_value_bytes_is_refused(server: Server) -> None:
    ex = launched()
    before = files(server)
    original = GateRemote.for_sandbox().get_signal("pay", ex.name).original
    status, data = call(server, "POST", f"{SIG}/{ex.name}/pay/approve",
                        {"value": {**original, "note": "x" * BIG}}, timeout=60)
    assert status == 400 and "max_value_bytes" in data["message"], data
    assert_untouched(server, ex, before)
    # the workflow's own file, named back unchanged, is accepted (and copied into the store)
    status, data = call(server, "POST", f"{SIG}/{ex.name}/pay/approve",
                        {"value": {**original, "amount": 3}, "comment": "less"})
    assert status == 200, data
    receipt = data["approved_value"]["receipt"]
    assert receipt["path"].startswith(str(server.store.parent / "files"))
    assert receipt["sha256"] == hashlib.sha256(b"original receipt").hexdigest()
    assert ex.wait(timeout=30) == "3|as filed|original receipt"


def test_http_edited_approval_with_an_uploaded_file(server: Server) -> None:
    ex = launched()
    status, up = call(server, "PUT", "/gatewidgets/api/files/new.txt", b"corrected receipt")
    assert status == 201, up
    value = {"amount": 7, "note": "fixed", "receipt": {"upload": up["upload"]}}
    status, data = call(server, "POST", f"{SIG}/{ex.name}/pay/approve", {"value": value})
    assert status == 200, data
    stored = server.store.parent / "files" / up["sha256"][:2] / up["sha256"] / "new.txt"
    assert data["approved_value"]["receipt"] == {"path": str(stored), "name": "new.txt", "size": 17,
                                                 "sha256": hashlib.sha256(b"corrected receipt").hexdigest()}
    assert ex.wait(timeout=30) == "7|fixed|corrected receipt"
    [event] = [e for e in GateRemote.for_sandbox().history(ex.name, signal_id="pay") if e.kind == "set"]
    assert event.detail is not None and event.detail["approved_value"]["receipt"]["path"] == str(stored)


def test_remote_edited_approval_obeys_max_upload_bytes(server: Server, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ex = launched()
    before = files(server)
    monkeypatch.setattr(settings, "max_upload_bytes", 100)
    big, small = tmp_path / "big.txt", tmp_path / "small.txt"
    big.write_bytes(b"b" * 101)
    small.write_bytes(b"s" * 100)
    remote = GateRemote.for_sandbox()
    for receipt in (GateFile(str(big)), GateFile.from_bytes(b"b" * 101, "sent.txt")):
        with pytest.raises(GateError, match="max_upload_bytes"):
            remote.approve("pay", ex.name, value=Claim(5, "x", receipt))
        assert_untouched(server, ex, before)
    remote.approve("pay", ex.name, value=Claim(5, "x", GateFile(str(small))))
    assert ex.wait(timeout=30) == "5|x|" + "s" * 40


def approved_after_a_refusal_by_size(server: Server, ex: Any, remote: GateRemote, receipt: Path) -> Any:
    """Refused past max_value_bytes with nothing stored, then approved changed to (6, "ok", ``receipt``)."""
    before = files(server)
    with pytest.raises(GateError, match="max_value_bytes"):
        remote.approve("pay", ex.name, value=Claim(5, "x" * BIG, GateFile(str(receipt))))
    assert_untouched(server, ex, before)
    return remote.approve("pay", ex.name, value=Claim(6, "ok", GateFile(str(receipt))))


def test_remote_edited_approval_obeys_the_file_rules_and_the_size_limit(server: Server, tmp_path: Path) -> None:
    ex = launched()
    before = files(server)
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    remote = GateRemote.for_sandbox(file_dirs=[str(allowed)])  # as the server's: only files in ``allowed``
    with pytest.raises(GateError, match="only files inside"):
        remote.approve("pay", ex.name, value=Claim(5, "x", GateFile("/etc/passwd")))
    assert_untouched(server, ex, before)
    receipt = allowed / "r.txt"
    receipt.write_bytes(b"small")
    signal = approved_after_a_refusal_by_size(server, ex, remote, receipt)
    copied = Path(signal.approved_value["receipt"]["path"])
    assert copied.parent.parent.parent == server.store.parent / "files" and copied.read_bytes() == b"small"
    receipt.write_bytes(b"changed after the approval")  # the store holds its own copy of the bytes
    assert ex.wait(timeout=30) == "6|ok|small"


def test_remote_over_http_edited_approval_uploads_its_file_and_is_refused_past_the_limit(
        server: Server, tmp_path: Path) -> None:
    ex = launched()
    mine = tmp_path / "client.txt"
    mine.write_bytes(b"from the client")
    signal = approved_after_a_refusal_by_size(server, ex, GateRemote.for_jupyter(server.url, token=server.token), mine)
    assert signal.approved_value["receipt"]["path"].startswith(str(server.store.parent / "files"))
    assert ex.wait(timeout=30) == "6|ok|from the client"


def test_card_and_magic_refuse_an_edit_past_max_value_bytes(server: Server) -> None:
    ex = launched()
    before = files(server)
    signal = GateRemote.for_sandbox().get_signal("pay", ex.name)
    card = GateWidget(signal)
    receipt = GateFile(signal.original["receipt"]["path"])
    assert card.approve(value=Claim(5, "x" * BIG, receipt)) is None and "max_value_bytes" in card.error_text
    assert_untouched(server, ex, before)
    with gate_shell() as ip:  # a lower limit: the magic's line parser is slow on megabytes
        assert run(ip, "%config GateWidgets.max_value_bytes = 4096").result.success
        edited = json.dumps({**signal.original, "note": "x" * 5000})
        seen = run(ip, f"%gate approve pay -e {ex.name} --value '{edited}'")
        assert "max_value_bytes" in seen.stdout + seen.stderr and not seen.result.success
        assert_untouched(server, ex, before)
        seen = run(ip, f"%gate approve pay -e {ex.name} --value '{json.dumps({**signal.original, 'amount': 2})}'")
        assert seen.result.success, seen.stdout + seen.stderr
    assert ex.wait(timeout=30) == "2|as filed|original receipt"
