"""Workflows whose gates the inbox tests answer: each gate names who may answer it (alice, bob, or both with a
quorum of two), one execution per workflow so that a rejection ends only its own."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from gatewidgets import GateFile, approve, task, wait_for_input, workflow


class Category(enum.Enum):
    TRAVEL = "travel"
    FOOD = "food"


@dataclass
class Line:
    item: str
    amount: float


@dataclass
class Expense:
    total: float
    payee: str
    urgent: bool
    category: Category
    lines: list[Line]
    note: str | None = None


@task
def amount(a: int) -> int:
    return a * 10


@task
def evidence_text(a: int) -> str:
    return f"<script>alert({a})</script><b>invoice {a}</b>"


@task
def summary(rate: float, expense: Expense, receipt: GateFile) -> str:
    lines = ",".join(f"{line.item}={line.amount}" for line in expense.lines)
    return (f"{rate}|{expense.total}|{expense.payee}|{expense.urgent}|{expense.category.value}|{lines}|{expense.note}|"
            f"{receipt.name}|{receipt.open().read().decode()}")


@workflow
def for_alice(a: int) -> int:
    return approve(amount(a=a), "pay", timeout=None, assignees=["alice"], description="Pay **this** amount?")


@workflow
def for_bob(a: int) -> str:
    return approve(evidence_text(a=a), "bob-only", timeout=None, assignees=["bob"])


@workflow
def for_both(a: int) -> int:
    return approve(amount(a=a), "release", timeout=None, assignees=["alice", "bob"], quorum=2)


@workflow
def typed(a: int) -> str:
    rate = wait_for_input("rate", timeout=None, expected_type=float, assignees=["alice"])
    expense = wait_for_input("expense", timeout=None, expected_type=Expense, assignees=["alice"])
    receipt = wait_for_input("receipt", timeout=None, expected_type=GateFile, assignees=["alice"])
    return summary(rate=rate, expense=expense, receipt=receipt)
