"""A gated notebook with no answer cells (``tests/notebooks/gated_no_answer_cells.ipynb``) run as a test and as
a job: under nbval with ``--gate-answers`` and under papermill with ``GATEWIDGETS_ANSWERS``, each in a process
of its own. It passes with the answers file beside it; without the answer to one gate it fails within
seconds with the error naming the gate, its execution and the file, not at the runner's timeout."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gatewidgets.config import ANSWERS_ENV

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NOTEBOOK = HERE / "notebooks" / "gated_no_answer_cells.ipynb"
ANSWERS = HERE / "notebooks" / "gated_answers.toml"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
RUNNER_TIMEOUT = 600  # s per cell: far longer than the failure may take
PRINTED = [
    "paid 10.50 with receipt.txt: Taxi, 7.00 EUR",
    "GateRejectedError - The gate 'approve-refund' of execution 'nb-refund' was rejected by gated_answers.toml "
    "via test. Reason: \"no receipt for a refund\"",
    "approve-expense SET True gated_answers.toml test rounded up to the receipt",
    "rate SET 1.5 gated_answers.toml test",
    "receipt SET a file gated_answers.toml test",
    "cool-off SET None gated_answers.toml test",
    "approve-refund SET False gated_answers.toml test no receipt for a refund",
]
UNANSWERED = "UnansweredGateError: Gate 'rate' of execution 'nb-expense' (workflow 'expense_wf') is not answered"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The notebook, its answers and receipt in a folder of their own, with the repository's root conftest
    (which gives each notebook nbval runs a store of its own by switching GATEWIDGETS_STORE)."""
    for path in (NOTEBOOK, ANSWERS, ANSWERS.parent / "receipt.txt", ROOT / "conftest.py"):
        shutil.copy(path, tmp_path)
    return tmp_path


def _without_rate(folder: Path) -> Path:
    """An answers file that does not answer the ``rate`` gate."""
    text = (folder / ANSWERS.name).read_text()
    missing = folder / "missing_rate.toml"
    missing.write_text(text.replace('[[answer]]\nsignal = "rate"', '[[answer]]\nsignal = "not-rate"'))
    return missing


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != ANSWERS_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _nbval(folder: Path, answers: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "gatewidgets.testing.pytest_plugin", "-p", "no:cacheprovider",
         "--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={RUNNER_TIMEOUT}", "--timeout=0",
         "--gate-answers", str(answers), NOTEBOOK.name],
        cwd=folder, env=_env(), capture_output=True, text=True, timeout=RUNNER_TIMEOUT)


def _papermill(folder: Path, answers: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = folder / "executed.ipynb"
    done = subprocess.run(
        [sys.executable, "-m", "papermill", "-k", "python3", "--cwd", str(folder),
         "--execution-timeout", str(RUNNER_TIMEOUT), NOTEBOOK.name, str(out)],
        cwd=folder, env={**_env(), ANSWERS_ENV: str(answers), "GATEWIDGETS_STORE": str(folder / "gates.db")},
        capture_output=True, text=True, timeout=RUNNER_TIMEOUT)
    return done, json.loads(out.read_text())


def _plain(text: str) -> str:
    """Text without the colours of the kernel's tracebacks."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _session_seconds(output: str) -> float:
    return float(re.findall(r" in ([\d.]+)s", output)[-1])


def test_nbval_with_gate_answers_runs_a_notebook_without_answer_cells(folder: Path) -> None:
    done = _nbval(folder, folder / ANSWERS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b5 passed\b", done.stdout), done.stdout


def test_nbval_fails_within_seconds_when_a_gate_has_no_answer(folder: Path) -> None:
    missing = _without_rate(folder)
    done = _nbval(folder, missing)
    out = _plain(done.stdout)
    assert done.returncode == 1, out + done.stderr
    assert UNANSWERED in out and str(missing) in out, out
    assert _session_seconds(out) < 60, out  # the runner would have waited 600 s


def test_papermill_with_the_environment_variable_completes_and_keeps_the_decisions(folder: Path) -> None:
    done, executed = _papermill(folder, folder / ANSWERS.name)
    assert done.returncode == 0, done.stderr
    printed = "".join("".join(o.get("text", "")) for c in executed["cells"] if c["cell_type"] == "code"
                      for o in c["outputs"])
    assert [line.rstrip() for line in printed.splitlines()] == PRINTED
    # the execution's widget, saved with the notebook, shows each decided card: what, by which file, via test
    state = executed["metadata"]["widgets"][WIDGET_STATE]["state"]
    decided = [m["state"]["value"] for m in state.values()
               if m["model_name"] == "HTMLModel" and "gatewidgets-decided" in m["state"].get("value", "")]
    assert len(decided) == 4 and all("gated_answers.toml via test" in v for v in decided), decided
    assert any("approved, changed to" in v and "rounded up to the receipt" in v for v in decided), decided
    assert any("file receipt.txt" in v for v in decided) and any("ended early" in v for v in decided), decided
    shown = ["".join(o["data"]["text/plain"]) for o in executed["cells"][2]["outputs"] if "data" in o]
    assert shown and shown[0].startswith("<Execution expense_wf nb-expense"), shown


def test_papermill_fails_within_seconds_when_a_gate_has_no_answer(folder: Path) -> None:
    missing = _without_rate(folder)
    done, executed = _papermill(folder, missing)
    err = _plain(done.stderr)
    assert done.returncode == 1, err
    assert UNANSWERED in err and str(missing) in err, err
    assert executed["metadata"]["papermill"]["duration"] < 60  # the runner would have waited 600 s per cell
