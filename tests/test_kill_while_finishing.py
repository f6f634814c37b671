"""A task that returned is not run again, even its execution's last one: its process is SIGKILLed while
executions finish, answered from two other processes, and every unfinished one is recovered by name in a
new process. Each task appends a line when it starts and when it ends (O_APPEND), in every process."""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from pathlib import Path

from _procs import stop

EXECUTIONS = 200
ROUNDS = 3

WORKFLOWS = textwrap.dedent('''
    import os, random, time
    from gatewidgets import task, wait_for_input, workflow

    def note(what, name):
        fd = os.open(os.environ["KILL_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{what} {name} {os.getpid()}\\n".encode())
        finally:
            os.close(fd)

    @task
    def first(name: str) -> str:
        note("start-first", name)
        note("end-first", name)
        return name

    @task
    def last(name: str, go: bool) -> str:
        note("start-last", name)
        time.sleep(random.uniform(0.002, 0.02))  # finishing
        note("end-last", name)
        return name.upper()

    @workflow
    def finishing(name: str) -> str:
        return last(name=first(name=name), go=wait_for_input("go", timeout=None, expected_type=bool))
''')

RUN = textwrap.dedent('''
    import sys, time
    from gatewidgets import settings
    import killwf
    settings.max_workers = 2
    runs = [killwf.finishing.launch(execution_name=n, name=n) for n in sys.argv[1:]]
    for ex in runs:
        ex.reached("go").wait(timeout=120)
    print("ready", flush=True)
    time.sleep(600)
''')

ANSWER = textwrap.dedent('''
    import random, sys
    from gatewidgets import GateRemote
    remote = GateRemote.for_sandbox(user=sys.argv[1])
    names = sys.argv[2:]
    random.shuffle(names)
    for name in names:
        remote.set_input("go", name, True)
''')

RECOVER = textwrap.dedent('''
    import json, sys
    import gatewidgets
    runs = [gatewidgets.recover(name) for name in sys.argv[1:]]
    print(json.dumps({ex.name: ex.wait(timeout=120) for ex in runs}), flush=True)
''')


def _records(path: Path) -> list[tuple[str, str, int]]:
    if not path.exists():
        return []
    return [(what, name, int(pid)) for what, name, pid in (line.split() for line in path.read_text().splitlines())]


def _count_ends(record: Path, pid: int) -> int:
    return sum(1 for what, _, by in _records(record) if what == "end-last" and by == pid)


def _await_ends(record: Path, pid: int, ends: int, timeout: float = 60) -> bool:
    """Wait until process ``pid`` ended ``ends`` last tasks; whether it did within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while _count_ends(record, pid) < ends:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def _stored(store: Path) -> dict[str, tuple[str, str | None]]:
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return {name: (status, outputs) for name, status, outputs in
                conn.execute("SELECT name, status, outputs FROM executions")}
    finally:
        conn.close()


def test_no_task_that_returned_runs_again_after_a_kill(tmp_path: Path, gatewidgets_store: Path) -> None:
    (tmp_path / "killwf.py").write_text(WORKFLOWS)
    record = tmp_path / "record.txt"
    env = {**os.environ, "KILL_RECORD": str(record),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    rng = random.Random()
    caught = 0  # executions whose last task had ended in the killed process but whose end was not stored
    for round_ in range(ROUNDS):
        names = [f"r{round_}-{i}" for i in range(EXECUTIONS)]
        runner = subprocess.Popen([sys.executable, "-c", RUN, *names], env=env, stdout=subprocess.PIPE, text=True)
        answerers: list[subprocess.Popen[str]] = []
        try:
            assert runner.stdout is not None and runner.stdout.readline().strip() == "ready"
            answerers = [subprocess.Popen([sys.executable, "-c", ANSWER, f"answerer-{k}", *names[k::2]], env=env)
                         for k in range(2)]
            # kill at a random moment while last tasks finish: just after a random number of them ended; every
            # other round, a writer holds the store's lock meanwhile, so those that end then cannot store their end
            assert _await_ends(record, runner.pid, rng.randint(5, EXECUTIONS // 2)), "the last tasks never ran"
            holder = sqlite3.connect(gatewidgets_store, isolation_level=None, timeout=30) if round_ % 2 == 0 else None
            try:
                if holder is not None:
                    holder.execute("BEGIN IMMEDIATE")
                    _await_ends(record, runner.pid, _count_ends(record, runner.pid) + rng.randint(1, 2), timeout=5)
                time.sleep(rng.uniform(0, 0.002))
                os.kill(runner.pid, signal.SIGKILL)
            finally:
                if holder is not None:
                    holder.execute("ROLLBACK")
                    holder.close()
            runner.wait(timeout=10)
            stored = _stored(gatewidgets_store)
            ended_there = {name for what, name, pid in _records(record) if what == "end-last" and pid == runner.pid}
            caught += sum(1 for name in ended_there if stored[name][0] == "RUNNING")
            for answerer in answerers:
                assert answerer.wait(timeout=60) == 0
        finally:
            stop(runner)
            for answerer in answerers:
                stop(answerer)

        unfinished = [name for name in names if _stored(gatewidgets_store)[name][0] == "RUNNING"]
        recovered = subprocess.run([sys.executable, "-c", RECOVER, *unfinished], env=env, capture_output=True,
                                   text=True, timeout=120)
        assert recovered.returncode == 0, recovered.stderr
        assert json.loads(recovered.stdout) == {name: name.upper() for name in unfinished}

        runs: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
        for what, name, pid in _records(record):
            if name in names:
                step, task = what.split("-")
                runs[(name, task)].append((step, pid))
        for (name, task), steps in runs.items():
            ended = [i for i, (step, _) in enumerate(steps) if step == "end"]
            assert ended, (name, task, steps)
            again = [step for step, _ in steps[ended[0] + 1:] if step == "start"]
            assert not again, f"task {task} of {name} ran again after it returned: {steps}"
        stored = _stored(gatewidgets_store)
        assert {name: stored[name] for name in names} == {name: ("SUCCEEDED", json.dumps(name.upper()))
                                                          for name in names}
    assert caught > 0  # the kills did land between a last task's end and its execution's stored end
