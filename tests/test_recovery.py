"""Durable executions: a process killed mid-run leaves an orphaned execution that another process recovers."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from _procs import released_together, stop
from helpers import HELPERS, eventually

from gatewidgets import GateRemote, NodeState, SignalState
from gatewidgets.models.execution import ExecutionStatus

# the start of both recovered modules: a task before the gate that counts its runs in $REC_OUT
_PRELUDE = '''
    import os, sys, time
    from datetime import timedelta
    from gatewidgets import approve, task, wait_for_input, workflow

    OUT = os.environ["REC_OUT"]

    def bump(name):
        with open(os.path.join(OUT, name), "a") as f:
            f.write("x\\n")

    @task
    def first(x: int) -> int:
        bump("first")
        return x + 1
'''

MODULE = textwrap.dedent(_PRELUDE + '''

    @task
    def slow(x: int) -> int:
        bump("slow")
        while not os.path.exists(os.path.join(OUT, "slow-ok")):
            time.sleep(0.05)
        return x * 10

    @task
    def final(a: int, b: int, c: int) -> str:
        bump("final")
        return f"{a}-{b}-{c}"

    @workflow
    def rec(x: int) -> str:
        a = first(x=x)
        ok = approve(a, "ok", timeout=None)
        n = wait_for_input("n", timeout=timedelta(seconds=1.5), expected_type=int, default=7)
        return final(a=ok, b=n, c=slow(x=x))

    class Opaque:
        def __init__(self, v):
            self.v = v

    @task
    def make() -> Opaque:
        return Opaque(3)

    @task
    def use(o: Opaque, ok: bool) -> int:
        return o.v

    @workflow
    def opaque() -> int:
        return use(o=make(), ok=wait_for_input("go", timeout=None, expected_type=bool))

    mode, name = sys.argv[1], sys.argv[2]
    wf = opaque if name.startswith("opaque") else rec
    kwargs = {} if wf is opaque else {"x": 1}
    if mode == "start":
        wf.launch(execution_name=name, **kwargs)
        print("started", flush=True)
        time.sleep(600)
    else:
        try:
            print("result", wf.launch(execution_name=name, recover=True, **kwargs).wait(timeout=30), flush=True)
        except Exception as exc:
            print("error", type(exc).__name__, exc, flush=True)
''')


# gates with a policy: a quorum of two approvals; reminders every 1.5 s and bob added after 3 s
POLICY_MODULE = textwrap.dedent(_PRELUDE + '''

    @task
    def after(v: int) -> int:
        bump("after")
        return v * 10

    @workflow
    def quorum(x: int) -> int:
        return after(v=approve(first(x=x), "ok", timeout=timedelta(minutes=5), quorum=2))

    @workflow
    def reminded(x: int) -> int:
        return after(v=approve(first(x=x), "ok", timeout=timedelta(minutes=5), assignees=["alice"],
                               remind_every=1.5, escalate_after=3.0, escalate_to=["bob"]))

    mode, name = sys.argv[1], sys.argv[2]
    wf = reminded if name.startswith("remind") else quorum
    if mode == "start":
        wf.launch(execution_name=name, x=1)
        print("started", flush=True)
        time.sleep(600)
    else:
        print("result", wf.launch(execution_name=name, recover=True, x=1).wait(timeout=90), flush=True)
''')


def _module(tmp_path: Path, text: str) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "recmod.py"
    path.write_text(text)
    out = tmp_path / "out"
    out.mkdir()
    return path, {**os.environ, "REC_OUT": str(out)}


@pytest.fixture
def module(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return _module(tmp_path, MODULE)


@pytest.fixture
def policy_module(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return _module(tmp_path, POLICY_MODULE)


def _count(env: dict[str, str], name: str) -> int:
    path = Path(env["REC_OUT"], name)
    return len(path.read_text().splitlines()) if path.exists() else 0


def _go_pending(remote: GateRemote, name: str) -> bool:
    return remote.get_signal("go", name).state is SignalState.PENDING


def _start_and_kill(path: Path, env: dict[str, str], name: str, ready, then=None) -> None:
    """Launch ``name`` in another process, wait until ``ready()``, call ``then()`` (while it runs), SIGKILL it."""
    proc = subprocess.Popen([sys.executable, str(path), "start", name], env=env, stdout=subprocess.PIPE, text=True)
    try:
        eventually(ready, timeout=20, what=f"execution {name} to wait")  # LookupError: not created yet
        if then is not None:
            then()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _recover(path: Path, env: dict[str, str], name: str) -> str:
    done = subprocess.run([sys.executable, str(path), "recover", name], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_killed_execution_is_orphaned_answerable_and_recovered(module) -> None:
    path, env = module
    remote = GateRemote.for_sandbox()

    def waiting_and_slow_running() -> bool:
        states = {n.name: n.state for n in remote.get_execution("rec-1").nodes}
        pending = {s.signal_id for s in remote.list_signals("rec-1") if s.state is SignalState.PENDING}
        return states.get("slow") is NodeState.RUNNING and pending == {"ok", "n"}

    _start_and_kill(path, env, "rec-1", waiting_and_slow_running)

    record = remote.get_execution("rec-1")
    assert record.status is ExecutionStatus.RUNNING and remote.is_orphaned(record)
    # nobody runs it, yet its signals can be listed and set
    remote.approve("ok", "rec-1")
    assert remote.get_signal("ok", "rec-1").state is SignalState.SET
    # let the 1.5 s deadline of "n" pass while no process runs the execution
    deadline = remote.get_signal("n", "rec-1").deadline
    eventually(lambda: time.time() > deadline.timestamp() + 0.2)
    assert remote.get_signal("n", "rec-1").state is SignalState.PENDING

    Path(env["REC_OUT"], "slow-ok").write_text("go")
    assert _recover(path, env, "rec-1") == "result 2-7-10"
    assert _count(env, "first") == 1  # finished before the kill: not run again
    assert _count(env, "slow") == 2  # running when the process died: runs again
    assert _count(env, "final") == 1
    n = remote.get_signal("n", "rec-1")
    assert (n.state, n.value, n.via.value) == (SignalState.TIMED_OUT, 7, "timeout")
    assert n.deadline == deadline  # the original deadline was kept
    assert remote.get_execution("rec-1").status is ExecutionStatus.SUCCEEDED
    assert [e.kind for e in remote.history("rec-1", signal_id="ok")] == ["created", "reached", "set"]

    # a finished execution cannot be recovered
    assert _recover(path, env, "rec-1").startswith("error ExecutionExistsError")


def _recovering(path: Path, env: dict[str, str], name: str) -> subprocess.Popen[str]:
    """Recover ``name`` in another process (it prints the result); returns once that process owns it."""
    proc = subprocess.Popen([sys.executable, str(path), "recover", name], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    remote = GateRemote.for_sandbox()
    try:
        eventually(lambda: remote.get_execution(name).pid == proc.pid, timeout=30, what=f"{name} recovered")
    except BaseException:
        stop(proc)
        raise
    return proc


def test_recovery_keeps_partial_approvals_and_the_quorum_lets_the_value_flow_once(policy_module) -> None:
    path, env = policy_module
    remote = GateRemote.for_sandbox()
    alice, bob = GateRemote.for_sandbox(user="alice"), GateRemote.for_sandbox(user="bob")

    def approved_once() -> None:
        signal = alice.approve("ok", "quorum-1")
        assert signal.state is SignalState.PENDING and [a.user for a in signal.approvals] == ["alice"]

    _start_and_kill(path, env, "quorum-1", lambda: remote.get_signal("ok", "quorum-1").state is SignalState.PENDING,
                    approved_once)
    assert remote.is_orphaned(remote.get_execution("quorum-1"))
    proc = _recovering(path, env, "quorum-1")
    try:
        kept = remote.get_signal("ok", "quorum-1")
        assert kept.state is SignalState.PENDING and [a.user for a in kept.approvals] == ["alice"]  # survived
        alice.approve("ok", "quorum-1")  # the same person again counts once
        assert remote.get_signal("ok", "quorum-1").state is SignalState.PENDING
        bob.approve("ok", "quorum-1")
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        stop(proc)
    assert proc.returncode == 0 and stdout.strip().splitlines()[-1] == "result 20", stderr
    assert (_count(env, "first"), _count(env, "after")) == (1, 1)
    signal = remote.get_signal("ok", "quorum-1")
    assert (signal.state, signal.value, signal.set_by) == (SignalState.SET, True, "bob")
    assert [a.user for a in signal.approvals] == ["alice", "bob"]
    history = remote.history("quorum-1", signal_id="ok")
    assert [(e.kind, e.set_by) for e in history if e.kind in ("approved", "set")] == [("approved", "alice"),
                                                                                      ("set", "bob")]
    assert [a["user"] for a in history[-1].detail["approvals"]] == ["alice", "bob"]


def test_reminders_resume_after_recovery_without_a_burst(policy_module) -> None:
    path, env = policy_module
    remote = GateRemote.for_sandbox()

    def reminded() -> bool:
        return any(e.kind == "reminded" for e in remote.history("remind-1", signal_id="ok"))

    _start_and_kill(path, env, "remind-1", reminded)
    waiting_since = remote.get_signal("ok", "remind-1").waiting_since
    assert [e.kind for e in remote.history("remind-1", signal_id="ok")].count("reminded") == 1
    # while nobody runs it, the reminders at 3 s and 4.5 s and the escalation at 3 s fall due
    eventually(lambda: time.time() > waiting_since.timestamp() + 4.8, timeout=10)
    assert "escalated" not in [e.kind for e in remote.history("remind-1", signal_id="ok")]
    proc = _recovering(path, env, "remind-1")
    try:
        def timeline(kind: str) -> list[Any]:
            return [e for e in remote.history("remind-1", signal_id="ok") if e.kind == kind]

        eventually(lambda: len(timeline("reminded")) >= 3, timeout=20, what="the reminders to resume")
        reminders, escalations = timeline("reminded"), timeline("escalated")
        assert len(escalations) == 1 and escalations[0].detail["assignees"] == ["alice", "bob"]
        gaps = [(b.at - a.at).total_seconds() for a, b in zip(reminders, reminders[1:])]
        assert all(gap >= 1.4 for gap in gaps), gaps  # the missed ones were not sent in a burst
        assert [e.detail["reminder"] for e in reminders[:3]] == [1, 2, 3]
        GateRemote.for_sandbox(user="bob").approve("ok", "remind-1")  # bob: added by the escalation
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        stop(proc)
    assert proc.returncode == 0 and stdout.strip().splitlines()[-1] == "result 20", stderr
    kinds = [e.kind for e in remote.history("remind-1", signal_id="ok")]
    assert kinds[-1] == "set" and kinds.count("escalated") == 1


def test_unserialisable_output_is_reported_at_recovery(module) -> None:
    path, env = module
    remote = GateRemote.for_sandbox()

    def waiting() -> bool:
        return _go_pending(remote, "opaque-1") and any(
            n.name == "make" and n.state is NodeState.SUCCEEDED for n in remote.get_execution("opaque-1").nodes)

    _start_and_kill(path, env, "opaque-1", waiting)
    remote.set_input("go", "opaque-1", True)
    line = _recover(path, env, "opaque-1")
    assert line.startswith("error ExecutionExistsError") and "could not be stored" in line
    assert "make" in line
    # nothing changed: still orphaned, still recoverable by a later, fixed version
    assert remote.get_execution("opaque-1").status is ExecutionStatus.RUNNING


def test_abort_of_orphaned_execution_cancels_its_signals(module) -> None:
    path, env = module
    remote = GateRemote.for_sandbox()

    _start_and_kill(path, env, "opaque-2", lambda: _go_pending(remote, "opaque-2"))
    record = remote.abort("opaque-2")
    assert record.status is ExecutionStatus.ABORTED
    assert remote.get_signal("go", "opaque-2").state is SignalState.CANCELLED


def test_dashboard_marks_orphaned_executions(module) -> None:
    from gatewidgets.widgets import SignalDashboard

    path, env = module
    remote = GateRemote.for_sandbox()

    _start_and_kill(path, env, "opaque-3", lambda: _go_pending(remote, "opaque-3"))
    board = SignalDashboard()
    try:
        assert board.orphaned == {"opaque-3"}
        assert "opaque-3" in board.orphans.value and "recover=True" in board.orphans.value
        assert [s.signal_id for s in board.signals()] == ["go"] and board.list.rows[0]["orphaned"]
        assert "gatewidgets-orphaned" in board.expand(0)._dom_classes
    finally:
        board.close()


RECOVERER = str(HELPERS / "recoverer.py")


def _runs(out: Path, task: str, name: str) -> int:
    path = out / f"{task}-{name}"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _pending(remote: GateRemote, name: str) -> bool:
    return remote.get_signal("ok", name).state is SignalState.PENDING


def _recover_all(out: Path, sync: Path, names: list[str], recoverers: int) -> list[dict]:
    """Start ``recoverers`` processes that recover ``names`` at the same moment; return what each printed."""
    return released_together([[RECOVERER, "recover", str(out), str(sync), str(i), *names]
                              for i in range(recoverers)], sync)


@pytest.mark.parametrize("recoverers", [2, 4])
def test_racing_recoveries_adopt_each_execution_once(tmp_path: Path, recoverers: int) -> None:
    out = tmp_path / "out"
    out.mkdir()
    names = [f"race-{i}" for i in range(8)]
    remote = GateRemote.for_sandbox()
    owner = subprocess.Popen([sys.executable, RECOVERER, "start", str(out), *names], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: all(_pending(remote, n) for n in names), 60, what="every gate to wait")
    finally:
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
    for name in names:
        remote.approve("ok", name)

    reports = _recover_all(out, tmp_path / "sync", names, recoverers)

    twice = [n for n in names if _runs(out, "after", n) != 1]
    assert not twice, f"the task after the gate ran more than once in {len(twice)} of {len(names)}: {twice}"
    for name in names:
        assert _runs(out, "before", name) == 1
        winners = [r["pid"] for r in reports if name in r["won"]]
        assert len(winners) == 1, f"{name} adopted by {winners}"
        losers = [r["lost"][name] for r in reports if name in r["lost"]]
        assert len(losers) == recoverers - 1
        assert all(f"process {winners[0]} " in message for message in losers), losers  # names the winner
        record = remote.get_execution(name)
        assert (record.status, record.pid, record.outputs) == (ExecutionStatus.SUCCEEDED, winners[0], name.upper())


def test_task_before_a_gate_never_reruns_after_a_kill_at_the_gate(tmp_path: Path) -> None:
    """SIGKILL the moment the gate's signal is PENDING, approve, recover: the task upstream ran once."""
    out = tmp_path / "out"
    out.mkdir()
    names = [f"kill-{i}" for i in range(20)]
    remote = GateRemote.for_sandbox()
    forker = subprocess.Popen([sys.executable, RECOVERER, "fork", str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children: list[int] = []
    try:
        for name in names:
            forker.stdin.write(name + "\n")
            forker.stdin.flush()
            children.append(json.loads(forker.stdout.readline())["pid"])
            try:
                eventually(lambda name=name: _pending(remote, name), 30, interval=0.0005,
                           what=f"gate of {name} to wait")
            finally:
                os.kill(children[-1], signal.SIGKILL)
        forker.stdin.close()
        forker.wait(timeout=10)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        stop(forker)
    assert all(_runs(out, "before", n) == 1 and _runs(out, "after", n) == 0 for n in names)
    for name in names:
        remote.approve("ok", name)

    [report] = _recover_all(out, tmp_path / "sync", names, 1)

    assert report["results"] == {n: n.upper() for n in names}
    reran = [n for n in names if _runs(out, "before", n) != 1]
    assert not reran, f"the task before the gate ran again after recovery in {len(reran)} of 20 trials: {reran}"
    assert all(_runs(out, "after", n) == 1 for n in names)
    assert {remote.get_execution(n).status for n in names} == {ExecutionStatus.SUCCEEDED}
    assert not list(Path(f"{remote.store.path}.completions").iterdir())  # every completion journal was spent


NAMED = textwrap.dedent('''
    import sys, time
    from gatewidgets import approve, task, workflow

    @task
    def grow(x: int) -> int:
        return x * 2

    @workflow
    def named(x: int) -> int:
        return approve(grow(x=x), "ok", timeout=None)

    if __name__ == "__main__":
        named.launch(x=int(sys.argv[2]), execution_name=sys.argv[1])
        print("started", flush=True)
        time.sleep(600)
''')


@pytest.fixture
def named_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    (tmp_path / "recnamed.py").write_text(NAMED)
    monkeypatch.syspath_prepend(str(tmp_path))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}


def _kill_waiting(env: dict[str, str], name: str, *, as_module: bool) -> None:
    """Launch ``named`` (imported as ``recnamed``, or as ``__main__``), SIGKILL it at its gate, answer the gate."""
    start = (["-c", f"import recnamed, time; recnamed.named.launch(x=4, execution_name={name!r}); time.sleep(600)"]
             if as_module else [str(Path(env["PYTHONPATH"].split(os.pathsep)[0], "recnamed.py")), name, "4"])
    proc = subprocess.Popen([sys.executable, *start], env=env, stdout=subprocess.DEVNULL)
    remote = GateRemote.for_sandbox()
    try:
        eventually(lambda: _waiting(remote, name, "ok"), timeout=30, what=f"execution {name} to wait")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert remote.is_orphaned(remote.get_execution(name))
    remote.approve("ok", name)


def _waiting(remote: GateRemote, name: str, signal_id: str) -> bool:
    return remote.get_signal(signal_id, name).state is SignalState.PENDING


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gatewidgets", *args], env=env, capture_output=True, text=True,
                          timeout=90)


def test_recover_by_name_uses_the_recorded_import_path_and_stored_inputs(named_module) -> None:
    env = named_module
    _kill_waiting(env, "named-1", as_module=True)
    assert GateRemote.for_sandbox().get_execution("named-1").workflow_path == "recnamed:named"
    done = _cli(env, "recover", "named-1")
    assert done.returncode == 0, done.stderr
    assert "Recovered execution 'named-1' of workflow 'named'" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "Execution 'named-1' SUCCEEDED: 8"  # x=4, the stored input


def test_recover_by_name_of_a_script_workflow_says_how(named_module) -> None:
    env = named_module
    _kill_waiting(env, "named-2", as_module=False)
    assert GateRemote.for_sandbox().get_execution("named-2").workflow_path is None
    done = _cli(env, "recover", "named-2")
    assert done.returncode == 1 and done.stdout == ""
    assert "WorkflowNotFoundError" in done.stderr and "--workflow MODULE:named" in done.stderr
    assert "%gate recover named-2" in done.stderr and len(done.stderr.strip().splitlines()) == 1

    import recnamed

    from gatewidgets import ExecutionExistsError

    with pytest.raises(ExecutionExistsError, match=r"with x=5: it was launched with x=4\. Leave the inputs out"):
        recnamed.named.launch(execution_name="named-2", recover=True, x=5)
    assert GateRemote.for_sandbox().is_orphaned(GateRemote.for_sandbox().get_execution("named-2"))  # unchanged
    done = _cli(env, "recover", "named-2", "--workflow", "recnamed:named", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "8"


def test_gate_recover_finds_the_workflow_in_the_notebook(named_module) -> None:
    from helpers.shell import global_shell
    from IPython.core.error import UsageError

    env = named_module
    _kill_waiting(env, "named-3", as_module=False)
    ip = global_shell()
    ip.run_line_magic("load_ext", "gatewidgets")
    try:
        with pytest.raises(UsageError, match="WorkflowNotFoundError: Execution 'named-3' runs workflow 'named'"):
            ip.run_line_magic("gate", "recover named-3")
        import recnamed

        ip.user_ns["my_workflow"] = recnamed.named  # defined in the notebook, under any variable name
        execution = ip.run_line_magic("gate", "recover named-3")
        assert execution.wait(timeout=30) == 8
    finally:
        ip.user_ns.pop("my_workflow", None)
        ip.run_line_magic("unload_ext", "gatewidgets")
