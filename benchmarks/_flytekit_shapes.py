"""The engine benchmark's workflows in flytekit (tasks must live at module level there), and a chain of
tables for the cost of converting values between tasks."""
from __future__ import annotations

from typing import Any

import pandas as pd
from flytekit import task, workflow
from flytekit.types.structured import StructuredDataset


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


@task
def table(x: int) -> pd.DataFrame:
    return pd.DataFrame({"k": list(range(10)), "v": [float(x)] * 10})


@task
def bump(sd: StructuredDataset) -> pd.DataFrame:
    df = sd.open(pd.DataFrame).all()
    return df.assign(v=df["v"] + 1)


@task
def checksum(sd: StructuredDataset) -> float:
    return float(sd.open(pd.DataFrame).all()["v"].sum())


def data_shapes(n: int) -> dict[str, Any]:
    """An ``n``-node chain passing a 10-row table: each task returns a DataFrame, the next declares a
    ``StructuredDataset``, so every edge goes through flytekit's type engine (Parquet files)."""

    def data(x: int) -> float:
        v = table(x=x)
        for _ in range(n - 2):
            v = bump(sd=v)
        return checksum(sd=v)

    return {"data": workflow(data)}
