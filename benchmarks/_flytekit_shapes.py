"""The engine benchmark's workflows in flytekit (tasks must live at module level there)."""
from __future__ import annotations

from typing import Any

from flytekit import task, workflow


@task
def inc(x: int) -> int:
    return x + 1


@task
def total(xs: list[int]) -> int:
    return sum(xs)


def shapes(n: int) -> dict[str, Any]:
    """An ``n``-node chain and an ``n``-wide fan-out/fan-in."""

    def chain(x: int) -> int:
        v = inc(x=x)
        for _ in range(n - 1):
            v = inc(x=v)
        return v

    def fan(x: int) -> int:
        first = inc(x=x)
        return total(xs=[inc(x=first) for _ in range(n - 2)])

    return {"chain": workflow(chain), "fan": workflow(fan)}
