"""A two-step workflow whose last step holds until the test releases it, for tests that change the PostgreSQL
store under a running execution (the server stopped, the database made read-only) just before it ends, and the
check that its kept end was written once the database took writes again."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import psycopg
from helpers import eventually

from gatewidgets import task, workflow
from gatewidgets.engine import Execution, Executor
from gatewidgets.models.execution import WorkflowExecutionIdentifier
from gatewidgets.store.postgres.store import PostgresStore

AT_LAST, RELEASE = threading.Event(), threading.Event()  # the last step started; it may finish


@task
def first_step(a: int) -> int:
    return a + 1


@task
def last_step(b: int) -> int:
    AT_LAST.set()
    RELEASE.wait(60)
    return b * 10


@workflow
def two_steps(a: int) -> int:
    return last_step(b=first_step(a=a))


@contextmanager
def held_at_its_last_step(store: PostgresStore, name: str) -> Iterator[tuple[Executor, Execution]]:
    """``two_steps`` (a=1, so it ends with 20) launched on ``store`` as ``name``, once its last step started (held
    until ``RELEASE`` is set); afterwards the executor is shut down and ``store`` closed."""
    AT_LAST.clear()
    RELEASE.clear()
    executor = Executor(store, max_workers=2)
    try:
        ex = executor.launch(two_steps, {"a": 1}, execution_name=name)
        assert AT_LAST.wait(30)
        yield executor, ex
    finally:
        RELEASE.set()
        executor.shutdown()
        store.close()


def kept_end_written(url: str, key: WorkflowExecutionIdentifier, timeout: float = 30) -> None:
    """Wait until the end of ``held_at_its_last_step``'s execution is in the database ``url``: SUCCEEDED with 20,
    both nodes with their outputs, one ``finished`` event."""
    with psycopg.connect(url, autocommit=True) as conn:
        def ended() -> tuple[object, ...] | None:
            return conn.execute("SELECT status, outputs, finished_at IS NOT NULL FROM executions "
                                "WHERE name = %s", (key.name,)).fetchone()

        eventually(lambda: ended() == ("SUCCEEDED", "20", True), timeout=timeout,
                   what="the kept end to be written")
        assert conn.execute("SELECT node_id, state, outputs FROM nodes WHERE execution = %s ORDER BY seq",
                            (key.name,)).fetchall() == [("n0", "SUCCEEDED", "2"), ("n1", "SUCCEEDED", "20")]
        assert conn.execute("SELECT count(*) FROM events WHERE execution = %s AND kind = 'finished'",
                            (key.name,)).fetchone() == (1,)
