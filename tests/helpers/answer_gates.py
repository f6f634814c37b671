"""Answer an execution's gates from a process of its own, in order, through ``GateRemote``.

Usage: ``python answer_gates.py EXECUTION STEP...`` with ``$GATEWIDGETS_STORE`` pointing at the
test's store; a step is ``approve:ID``, ``reject:ID``, ``end:ID`` (a sleep) or ``set:ID=TEXT``
(text parsed into the signal's type, as the command line does). Each step waits until its
signal exists (a ``@dynamic`` node creates its gates at run time) and is open (a sleep: running).
"""
from __future__ import annotations

import sys
import time

from gatewidgets import GateRemote, SignalNotFoundError, SignalState


def main() -> None:
    execution, steps = sys.argv[1], sys.argv[2:]
    remote = GateRemote.for_sandbox(user="answerer")
    for step in steps:
        action, _, rest = step.partition(":")
        signal_id, _, text = rest.partition("=")
        open_states = (SignalState.PENDING,) if action == "end" else (SignalState.UPCOMING, SignalState.PENDING)
        deadline = time.monotonic() + 60
        while True:
            try:
                if remote.get_signal(signal_id, execution).state in open_states:
                    break
            except SignalNotFoundError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"signal {signal_id!r} never opened")
            time.sleep(0.01)
        if action == "approve":
            remote.approve(signal_id, execution)
        elif action == "reject":
            remote.reject(signal_id, execution)
        elif action == "end":
            remote.end_sleep(signal_id, execution)
        else:
            remote.set_text(signal_id, execution, text)


if __name__ == "__main__":
    main()
