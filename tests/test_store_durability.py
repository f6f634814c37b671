"""The store survives writers killed mid-write: no corrupt database, no half-written signal."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from gatewidgets.models.execution import NodeState, WorkflowExecutionIdentifier
from gatewidgets.store import open_store
from gatewidgets.types import GateType

SIGNALS = 300
WRITER = textwrap.dedent('''
    import os
    import sys
    from gatewidgets import GateRemote, SignalAlreadySetError
    from gatewidgets.models.execution import WorkflowExecutionIdentifier
    from gatewidgets.store import open_store

    me, writers, count, ready = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    remote = GateRemote.for_sandbox(user=f"writer-{me}")
    store = open_store()
    i = 0
    while True:  # until killed
        for n in range(me, count, writers):
            try:
                remote.set_input(f"s{n}", "crash", n * 10 + me)
            except SignalAlreadySetError:
                pass
        # and keep creating executions, so kills also land inside bigger transactions
        key = WorkflowExecutionIdentifier("default", "development", f"filler-{me}-{os.getpid()}-{i}")
        store.create_execution(key, "filler", {}, [{"node_id": f"n{j}", "kind": "task", "name": "t",
                               "upstream": []} for j in range(50)], [])
        if i == 0:
            open(ready, "w").close()  # one full round written: now the test may kill us at any moment
        i += 1
''')


def test_writers_killed_mid_write_leave_a_consistent_store(tmp_path: Path, gatewidgets_store: Path) -> None:
    store = open_store()
    key = WorkflowExecutionIdentifier("default", "development", "crash")
    record = GateType.of(int).to_record()
    store.create_execution(key, "crash", {}, [{"node_id": "n0", "kind": "input", "name": "g", "upstream": []}],
                           [{"signal_id": f"s{n}", "kind": "input", "node_id": "n0", "type": record}
                            for n in range(SIGNALS)])
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = random.Random(7)
    for round_ in range(3):
        ready = [tmp_path / f"ready-{round_}-{w}" for w in range(4)]
        procs = [subprocess.Popen([sys.executable, str(script), str(w), "4", str(SIGNALS), str(ready[w])])
                 for w in range(4)]
        try:
            deadline = time.monotonic() + 120
            while not all(r.exists() for r in ready):
                assert time.monotonic() < deadline, "writers never got going"
                assert all(p.poll() is None for p in procs), "a writer died on its own"
                time.sleep(0.02)
            time.sleep(0.2 + 0.5 * rng.random())
        finally:
            for proc in procs:
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
            for proc in procs:
                proc.wait(timeout=10)

    conn = sqlite3.connect(gatewidgets_store)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = conn.execute("SELECT signal_id, state, value, set_at, set_by, via FROM signals WHERE execution='crash'")
    set_events = dict(conn.execute(
        "SELECT signal_id, COUNT(*) FROM events WHERE execution='crash' AND kind='set' GROUP BY signal_id"))
    written = 0
    for sid, state, value, set_at, set_by, via in rows:
        if state == "SET":
            written += 1
            assert value is not None and set_at and set_by.startswith("writer-") and via == "api"
            assert int(value) // 10 == int(sid[1:])  # the value one writer chose for this signal
            assert set_events.get(sid) == 1  # exactly one decision recorded
        else:
            assert state == "UPCOMING" and value is None and set_at is None and sid not in set_events
    assert written > 0
    # every filler execution is whole: its plan of 50 nodes was written with it, or neither was
    counts = conn.execute(
        "SELECT e.name, json_array_length(p.nodes) FROM executions e LEFT JOIN plans p ON p.id = e.plan "
        "WHERE e.workflow='filler'").fetchall()
    assert counts and all(c == 50 for _, c in counts)
    whole = open_store().get_execution(WorkflowExecutionIdentifier("default", "development", counts[-1][0]))
    assert [n.node_id for n in whole.nodes] == [f"n{j}" for j in range(50)]
    assert {n.state for n in whole.nodes} == {NodeState.QUEUED}
    # and the store is still fully usable
    assert open_store().get_signal(key, "s0").signal_id == "s0"
