"""Run by tests in a subprocess: a workflow waiting for files (alone, in a list, in a dataclass).

Usage: python _file_workflow.py EXECUTION_NAME 0
Prints, as JSON, the bytes the workflow read from each file (or ``ERROR <type>: <message>``).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import timedelta

from gatewidgets import GateFile, task, wait_for_input, workflow


@dataclass
class Claim:
    amount: float
    receipt: GateFile


@task
def read_all(receipt: GateFile, receipts: list[GateFile], claim: Claim) -> str:
    def text(f: GateFile) -> str:
        with f.open("rb") as fh:
            return fh.read().decode()

    return json.dumps({"receipt": text(receipt), "receipts": [text(f) for f in receipts],
                       "claim": [claim.amount, text(claim.receipt)]})


@workflow
def file_wf() -> str:
    receipt = wait_for_input("receipt", timeout=timedelta(minutes=5), expected_type=GateFile)
    receipts = wait_for_input("receipts", timeout=timedelta(minutes=5), expected_type=list[GateFile])
    claim = wait_for_input("claim", timeout=timedelta(minutes=5), expected_type=Claim)
    return read_all(receipt=receipt, receipts=receipts, claim=claim)


if __name__ == "__main__":
    ex = file_wf.launch(execution_name=sys.argv[1])
    try:
        print(ex.wait(timeout=120), flush=True)
    except Exception as exc:  # reported to the test through stdout
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
