"""Set one signal from a process of its own, all setters at once (for the race tests).

Usage: ``python setter.py EXECUTION SIGNAL_ID VALUE USER SYNCDIR [TAG]``: writes
``SYNCDIR/ready-TAG`` (TAG: USER when not given), waits for ``SYNCDIR/go``, sets the int signal and prints
``{"outcome": "won" | "noop" | "already", ...}``; VALUE ``approve`` approves as USER instead and prints
``{"outcome": "approved", "state": ..., "approvals": [users counted], "set_by": ...}``.
"""
from __future__ import annotations

import json
import os
import sys
import time

from gatewidgets import GateRemote, SignalAlreadySetError


def main() -> None:
    execution, signal_id, value, user, syncdir = sys.argv[1:6]
    tag = sys.argv[6] if len(sys.argv) > 6 else user
    remote = GateRemote.for_sandbox(user=user)
    remote.get_signal(signal_id, execution)  # open the store before the start line
    open(os.path.join(syncdir, f"ready-{tag}"), "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(syncdir, "go")):
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.001)
    started = time.monotonic()
    if value == "approve":
        signal = remote.approve(signal_id, execution)
        print(json.dumps({"outcome": "approved", "state": signal.state.value, "set_by": signal.set_by,
                          "approvals": [a.user for a in signal.approvals]}), flush=True)
        return
    try:
        signal = remote.set_input(signal_id, execution, int(value))
    except SignalAlreadySetError as exc:
        print(json.dumps({"outcome": "already", "message": str(exc),
                          "seconds": time.monotonic() - started}), flush=True)
        return
    outcome = "won" if signal.set_by == user else "noop"
    print(json.dumps({"outcome": outcome, "value": signal.value, "set_by": signal.set_by,
                      "seconds": time.monotonic() - started}), flush=True)


if __name__ == "__main__":
    main()
