"""Terminal output is inert: text a user or a file supplied prints with its control characters shown.

The CLI (a real subprocess) and ``%gate`` (a real IPython shell) print comments, values, evidence
(an uploaded file's first lines), errors and node errors; none of their C0, C1 or ANSI sequences
may reach the terminal as such, and ordinary text (accents, CJK) stays as it is.
"""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from helpers.shell import gate_shell, run

from gatewidgets import GateFile, GateRemote, SignalState, approve, task, wait_for_input, workflow
from gatewidgets.formatting import inert

HOSTILE = "\x1b]0;pwned\x07\x1b[2J"  # OSC: set the window title; CSI: clear the screen
C1 = "\x9b31m \x9d0;t\x9c \x85"  # 8-bit CSI, OSC, ST and NEL
COMMENT = f"no {HOSTILE} {C1} é 日本\nsecond line"
FILE_LINES = f"total {HOSTILE}\x9b2J\x08over\nsecond é 日本\n"
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]")  # what a terminal would act on (\n aside)


@task
def check(f: GateFile) -> GateFile:
    return f


@task
def done(f: GateFile, note: int) -> str:
    return f"{f.name} {note}"


@workflow
def receipt_wf() -> str:
    f = wait_for_input("receipt", timeout=timedelta(minutes=5), expected_type=GateFile)
    ok = approve(check(f=f), "check", timeout=timedelta(minutes=5))
    note = wait_for_input("note", timeout=timedelta(minutes=5), expected_type=int)
    return done(f=ok, note=note)


def _launch_at_the_approval(name: str, tmp_path: Path) -> Any:
    """``receipt_wf`` in this process, its uploaded file's first lines hostile, waiting at ``check``."""
    ex = receipt_wf.launch(execution_name=name)
    ex.reached("receipt").wait(timeout=30)
    upload = tmp_path / "receipt.txt"
    upload.write_text(FILE_LINES, encoding="utf-8")
    GateRemote.for_sandbox().set_input("receipt", name, GateFile(str(upload)))
    ex.reached("check").wait(timeout=30)
    return ex


def _assert_inert(out: str, *, file_lines: bool = True) -> None:
    assert RAW.search(out) is None, f"raw control characters printed: {out!r}"
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in out and "\\x9b31m \\x9d0;t\\x9c \\x85" in out, out
    if file_lines:
        assert "total \\x1b]0;pwned\\x07\\x1b[2J\\x9b2J\\x08over" in out and "second é 日本" in out, out
    assert "é 日本" in out


def gw(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "gatewidgets", *args], capture_output=True, timeout=60)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode("utf-8"),
                                       result.stderr.decode("utf-8"))


def test_cli_prints_comments_values_evidence_and_errors_inert(tmp_path: Path) -> None:
    ex = _launch_at_the_approval("inert-cli", tmp_path)
    decided = gw("approve", "check", "-e", "inert-cli", "--comment", COMMENT)
    assert decided.returncode == 0, decided.stderr
    _assert_inert(decided.stdout, file_lines=False)
    remote = GateRemote.for_sandbox()
    assert remote.get_signal("check", "inert-cli").comment == COMMENT  # stored as given: only printing changes

    shown = gw("show", "inert-cli")
    assert shown.returncode == 0, shown.stderr
    _assert_inert(shown.stdout)
    assert 'comment: "no \\x1b]0;pwned' in shown.stdout and "日本\nsecond line" in shown.stdout  # free text keeps \n

    history = gw("history", "inert-cli")
    assert history.returncode == 0, history.stderr
    _assert_inert(history.stdout, file_lines=False)
    events = remote.history("inert-cli")
    table = history.stdout.rstrip("\n").split("\n")
    assert len(table) == 2 + len(events), history.stdout  # title, header, one line per event
    assert "日本\\nsecond line" in history.stdout  # a newline inside a cell is shown, not a broken row

    refused = gw("set", "note", f"{HOSTILE}{C1}", "-e", "inert-cli")  # the error names the bad text
    assert refused.returncode == 1 and "SignalTypeError" in refused.stderr
    assert RAW.search(refused.stderr) is None and "\\x1b]0;pwned" in refused.stderr, refused.stderr
    assert remote.get_signal("note", "inert-cli").state is SignalState.PENDING
    listed = gw("list", "inert-cli", "--all")
    assert listed.returncode == 0 and RAW.search(listed.stdout) is None
    ex.abort()


def test_gate_magic_prints_comments_evidence_and_errors_inert(tmp_path: Path) -> None:
    with gate_shell() as ip:
        _launch_at_the_approval("inert-magic", tmp_path)
        ip.user_ns["comment"] = COMMENT
        decided = run(ip, '%gate reject check -e inert-magic -c "{comment}"')  # IPython expands {comment}
        assert decided.result.success, decided.stdout + decided.stderr
        _assert_inert(decided.stdout, file_lines=False)

        for line in ("%gate show inert-magic", "%gate history inert-magic"):
            seen = run(ip, line)
            text = seen.stdout + seen.stderr + "".join(o.data.get("text/plain", "") for o in seen.outputs)
            assert RAW.search(text) is None, (line, text)
            assert "\\x1b]0;pwned\\x07\\x1b[2J" in text and "é 日本" in text, (line, text)
        shown = run(ip, "%gate show inert-magic")
        _assert_inert(shown.stdout)  # the evidence note: the file's first lines and the comment

        ip.user_ns["bad"] = f"{HOSTILE}{C1}"
        refused = run(ip, '%gate set note "{bad}" -e inert-magic')
        said = refused.stdout + refused.stderr
        assert not refused.result.success and "SignalTypeError" in said
        assert RAW.search(said) is None and "\\x1b]0;pwned" in said, said


def test_inert_shows_every_control_character_and_keeps_text() -> None:
    controls = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]] + ["\u202e", "\u2066"]
    for char in controls:
        shown = inert(f"a{char}b", layout=False)
        assert RAW.search(shown) is None and shown.startswith("a\\") and shown.endswith("b"), repr(char)
        assert inert(shown) == shown  # shown once: printing twice changes nothing
    assert inert("x\ny\tz", layout=True) == "x\ny\tz"
    assert inert("x\ny\tz\r", layout=False) == "x\\ny\\tz\\r"
    assert inert(HOSTILE) == "\\x1b]0;pwned\\x07\\x1b[2J"
    text = "Zoë's naïve café, 日本語, Ελληνικά, emoji 👍🏽 and a zero-width joiner 👩‍💻"
    assert inert(text) == text
