"""flytekit workflows, written as a Flyte user would, for the flytekit front door's tests.

They live in a module because flytekit reads its tasks' source. Nothing here imports
gatewidgets.
"""
from __future__ import annotations

import dataclasses
import enum
import functools
import os
import threading
import time
import typing
from datetime import datetime, timedelta
from pathlib import Path

import pydantic
from flytekit import (
    ContainerTask,
    LaunchPlan,
    Resources,
    approve,
    conditional,
    dynamic,
    kwtypes,
    map_task,
    sleep,
    task,
    wait_for_input,
    workflow,
)
from flytekit.core.task import reference_task
from flytekit.extras.tasks.shell import ShellTask
from flytekit.types.directory import FlyteDirectory
from flytekit.types.error import FlyteError
from flytekit.types.file import FlyteFile
from flytekit.types.structured import StructuredDataset

HOUR = timedelta(hours=1)


# ------------------------------------------------------------------ flytekit's own gate tests


@task
def t1(a: int) -> int:
    return a + 5


@task
def t2(a: int) -> int:
    return a + 6


@workflow
def wf_sleep() -> int:
    x = sleep(timedelta(seconds=10))
    b = t1(a=5)
    x >> b
    return b


@workflow
def wf_signal(a: int) -> tuple[int, int, int]:
    x = t1(a=a)
    s1 = wait_for_input("my-signal-name", timeout=HOUR, expected_type=bool)
    s2 = wait_for_input("my-signal-name-2", timeout=timedelta(hours=2), expected_type=int)
    z = t1(a=5)
    y = t2(a=s2)
    q = t2(a=approve(y, "approvalfory", timeout=timedelta(hours=2)))
    x >> s1
    s1 >> z
    return y, z, q


@dynamic
def dyn(a: int) -> tuple[int, int, int]:
    x = t1(a=a)
    s1 = wait_for_input("my-signal-name", timeout=HOUR, expected_type=bool)
    s2 = wait_for_input("my-signal-name-2", timeout=timedelta(hours=2), expected_type=int)
    z = t1(a=5)
    y = t2(a=s2)
    q = t2(a=approve(y, "approvalfory", timeout=timedelta(hours=2)))
    x >> s1
    s1 >> z
    return y, z, q


@workflow
def wf_dyn(a: int) -> tuple[int, int, int]:
    y, z, q = dyn(a=a)
    return y, z, q


# ------------------------------------------------------------------ approvals and inputs


@task
def expense(amount: float) -> float:
    return round(amount * 1.2, 2)


@task
def pay(amount: float) -> str:
    return f"paid {amount}"


@workflow
def wf_approve(amount: float) -> str:
    return pay(amount=approve(expense(amount=amount), "pay-it", timeout=None))


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Settings(pydantic.BaseModel):
    name: str
    level: int


@task
def describe(f: float, s: str, when: datetime, wait: timedelta, xs: list[int], d: dict[str, int],
             c: Color, p: Point, m: Settings) -> str:
    return (f"{f}|{s}|{when.isoformat()}|{wait.total_seconds()}|{sum(xs)}|{sorted(d.items())}|{c.value}|"
            f"{p.x + p.y}|{m.name}:{m.level}")


@workflow
def wf_types() -> str:
    return describe(
        f=wait_for_input("f", timeout=HOUR, expected_type=float),
        s=wait_for_input("s", timeout=HOUR, expected_type=str),
        when=wait_for_input("when", timeout=HOUR, expected_type=datetime),
        wait=wait_for_input("wait", timeout=HOUR, expected_type=timedelta),
        xs=wait_for_input("xs", timeout=HOUR, expected_type=list[int]),
        d=wait_for_input("d", timeout=HOUR, expected_type=dict[str, int]),
        c=wait_for_input("c", timeout=HOUR, expected_type=Color),
        p=wait_for_input("p", timeout=HOUR, expected_type=Point),
        m=wait_for_input("m", timeout=HOUR, expected_type=Settings),
    )


@task
def read_file(f: FlyteFile) -> str:
    with open(f.path) as fh:
        return fh.read().strip().upper()


@workflow
def wf_file() -> str:
    return read_file(f=wait_for_input("receipt", timeout=HOUR, expected_type=FlyteFile))


@task
def column_total(table: StructuredDataset) -> int:
    import pandas

    return int(table.open(pandas.DataFrame).all()["amount"].sum())


@workflow
def wf_table() -> int:
    return column_total(table=wait_for_input("expenses", timeout=HOUR, expected_type=StructuredDataset))


@task
def folder_listing(photos: FlyteDirectory) -> dict[str, str]:
    local = photos.download()
    return {name: Path(local, name).read_text() for name in sorted(os.listdir(local))}


@workflow
def wf_directory() -> dict[str, str]:
    return folder_listing(photos=wait_for_input("photos", timeout=HOUR, expected_type=FlyteDirectory))


@workflow
def wf_timeout() -> int:
    return t1(a=wait_for_input("never", timeout=timedelta(seconds=0.3), expected_type=int))


# ------------------------------------------------------------------ branches


@task
def small(x: int) -> str:
    return f"small {x}"


@task
def big(x: int) -> str:
    return f"big {x}"


@workflow
def wf_branch_on_signal(x: int) -> str:
    go = wait_for_input("go-big", timeout=HOUR, expected_type=bool)
    return conditional("size").if_(go.is_true()).then(big(x=x)).else_().then(small(x=x))


@workflow
def wf_branch_ranges(x: int) -> str:
    v = t1(a=x)
    return (
        conditional("range")
        .if_((v > 5) & (v < 10)).then(small(x=v))
        .elif_((v >= 10) | (v == -1)).then(big(x=v))
        .else_().fail("x must be positive")
    )


# ------------------------------------------------------------------ sub-workflows, launch plans


@workflow
def sub_review(a: int) -> int:
    return t2(a=approve(t1(a=a), "sub-ok", timeout=HOUR))


@workflow
def wf_sub_twice(a: int) -> int:
    first = sub_review(a=a)
    return sub_review(a=first)


@workflow
def wf_sub_once(a: int) -> int:
    return sub_review(a=a)


@task
def scale(a: int, factor: int, offset: int) -> int:
    return a * factor + offset


@workflow
def wf_scale(a: int, factor: int = 2, offset: int = 0) -> int:
    return scale(a=a, factor=factor, offset=offset)


scale_lp = LaunchPlan.get_or_create(wf_scale, name="scale_lp", default_inputs={"factor": 10},
                                    fixed_inputs={"offset": 7})


@workflow
def wf_lp_node(a: int) -> int:
    return scale_lp(a=a)


review_lp = LaunchPlan.get_or_create(sub_review, name="review_lp")


@workflow
def wf_lp_gate(a: int) -> int:
    """A launch plan with a gate used as a node: on Flyte a child execution that owns the signal ``sub-ok``."""
    return t1(a=review_lp(a=a))


@task
def refuse(a: int) -> int:
    if a > 0:
        raise ValueError(f"refused {a}")
    return a


@workflow
def wf_refuse(a: int) -> int:
    return refuse(a=a)


refuse_lp = LaunchPlan.get_or_create(wf_refuse, name="refuse_lp")


@workflow
def wf_lp_fails(a: int) -> int:
    return t1(a=refuse_lp(a=a))


# ------------------------------------------------------------------ dynamic, map, tuples


@dynamic
def review_each(items: list[int]) -> list[int]:
    return [approve(t1(a=i), f"review-{i}", timeout=HOUR) for i in items]


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@workflow
def wf_review_each(items: list[int]) -> int:
    return total(xs=review_each(items=items))


@task
def square(x: int) -> int:
    return x * x


@workflow
def wf_map(xs: list[int]) -> int:
    return total(xs=map_task(square)(x=xs))


class Stats(typing.NamedTuple):
    count: int
    label: str


@task
def stats(xs: list[int]) -> Stats:
    return Stats(count=len(xs), label=f"{len(xs)} items")


@workflow
def wf_named(xs: list[int]) -> Stats:
    s = stats(xs=xs)
    return Stats(count=t1(a=s.count), label=s.label)


@task
def split(a: int) -> tuple[int, str]:
    return a, str(a)


@workflow
def wf_tuple(a: int = 4) -> tuple[str, int]:
    n, s = split(a=a)
    return s, t2(a=n)


# ------------------------------------------------------------------ retries, cache


FLAKY_MARKER = Path("/nonexistent")  # tests point it at a file of their own


@task(retries=1)
def flaky(a: int) -> int:
    calls = int(FLAKY_MARKER.read_text()) if FLAKY_MARKER.exists() else 0
    FLAKY_MARKER.write_text(str(calls + 1))
    if calls == 0:
        raise RuntimeError("first attempt fails")
    return a * 10


@workflow
def wf_flaky(a: int) -> int:
    return flaky(a=a)


CACHE_CALLS: list[int] = []


@task(cache=True, cache_version="1", timeout=timedelta(seconds=30), requests=Resources(cpu="1"),
      limits=Resources(mem="1Gi"), container_image="python:3.11")
def expensive(a: int) -> int:
    CACHE_CALLS.append(a)
    return a * 100


@workflow
def wf_cached(a: int) -> int:
    return expensive(a=a)


@task(timeout=timedelta(seconds=0.3))
def too_slow(a: int) -> int:
    import time

    time.sleep(3)
    return a


@workflow
def wf_too_slow(a: int) -> int:
    return too_slow(a=a)


# ------------------------------------------------------------------ refused entities


@reference_task(project="flytesnacks", domain="development", name="remote.t", version="v1")
def remote_t(a: int) -> int:
    ...


@workflow
def wf_reference(a: int) -> int:
    return remote_t(a=a)


say = ShellTask(name="say", script="echo {inputs.a}", inputs=kwtypes(a=int))


@workflow
def wf_shell(a: int) -> None:
    say(a=a)


shell = ContainerTask(name="shell", image="alpine", command=["echo", "{{.inputs.a}}"],
                      inputs=kwtypes(a=int))


@workflow
def wf_container(a: int) -> None:
    shell(a=a)


@task
def power(x: int, exponent: int) -> int:
    return x ** exponent


@workflow
def wf_map_partial(xs: list[int]) -> list[int]:
    return map_task(functools.partial(power, exponent=3))(x=xs)


@workflow
def wf_approve_in_branch(x: int) -> str:
    v = t1(a=x)
    checked = conditional("needs-ok").if_(v > 10).then(approve(v, "big-ok", timeout=HOUR)).else_().then(t2(a=v))
    return big(x=checked)


@workflow
def wf_call_inside_case(x: int) -> str:
    v = t1(a=x)
    return conditional("nested").if_(v > 10).then(big(x=approve(v, "nested-ok", timeout=HOUR))).else_().then(small(x=v))


@task
def locate(a: int) -> Point:
    return Point(x=a, y=a * 2)


@task
def tally(a: int) -> dict[str, int]:
    return {"double": a * 2}


@workflow
def wf_attributes(a: int) -> tuple[int, int]:
    p = locate(a=a)
    return t1(a=p.y), t2(a=tally(a=p.x)["double"])


@workflow
def wf_branch_tuple(a: int) -> tuple[int, str]:
    n, s = conditional("pair").if_(a > 0).then(split(a=a)).else_().then(split(a=0))
    return t1(a=n), s


# ------------------------------------------------------------------ map_task: parallel items, failures, retries


class Peak:
    """How many calls run at once, and the most that ever did."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


MAP_PEAK = Peak()


@task
def slow_tenfold(x: int) -> int:
    with MAP_PEAK:
        time.sleep(0.3)
    return x * 10


@workflow
def wf_map_parallel(xs: list[int]) -> list[int]:
    return map_task(slow_tenfold, concurrency=4)(x=xs)


@workflow
def wf_map_serial(xs: list[int]) -> list[int]:
    return map_task(slow_tenfold, concurrency=1)(x=xs)


@task
def fragile(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative {x}")
    return x


@workflow
def wf_map_tolerant(xs: list[int]) -> list[typing.Optional[int]]:
    return map_task(fragile, min_success_ratio=0.5)(x=xs)


ITEM_ATTEMPTS: dict[int, int] = {}


@task(retries=2)
def flaky_item(x: int) -> int:
    ITEM_ATTEMPTS[x] = ITEM_ATTEMPTS.get(x, 0) + 1
    if ITEM_ATTEMPTS[x] <= x:  # item x fails its first x attempts
        raise RuntimeError(f"attempt {ITEM_ATTEMPTS[x]} of item {x}")
    return x


@workflow
def wf_map_retries(xs: list[int]) -> list[int]:
    return map_task(flaky_item)(x=xs)


# ------------------------------------------------------------------ on_failure


HANDLED: list[tuple[str, typing.Optional[FlyteError]]] = []


@task
def clean_up(name: str, err: typing.Optional[FlyteError] = None) -> None:
    HANDLED.append((name, err))


@task
def deploy(name: str) -> str:
    if name != "hello ok":
        raise ValueError(f"cannot deploy {name}")
    return name


@task
def greet(name: str) -> dict[str, str]:
    return {"text": f"hello {name}"}


@workflow(on_failure=clean_up)
def wf_on_failure(name: str) -> str:
    return deploy(name=greet(name=name)["text"])  # picking "text" is a node of its own in the engine


wf_on_failure_lp = LaunchPlan.get_or_create(wf_on_failure, name="wf_on_failure_fixed", fixed_inputs={"name": "lp"})


@task
def note_failure(a: int, err: typing.Optional[FlyteError] = None) -> None:
    HANDLED.append((str(a), err))


@workflow
def clean_up_wf(a: int, err: typing.Optional[FlyteError] = None) -> None:
    note_failure(a=a, err=err)


@workflow(on_failure=clean_up_wf)
def wf_on_failure_wf(a: int) -> int:
    return t1(a=a)


# ------------------------------------------------------------------ gate names as flytekit's own gate tests write them


@workflow
def spaced_sub(x: int) -> int:
    return approve(t1(a=x), "subwf approve", timeout=HOUR)


@task
def plus(a: int, b: int) -> int:
    return a + b


@workflow
def wf_spaced_names(x: int) -> int:
    more = wait_for_input("how many more", timeout=HOUR, expected_type=int)
    nap = sleep(timedelta(hours=1))
    total = t2(a=spaced_sub(x=x))
    checked = approve(total, "final check é", timeout=HOUR)
    nap >> checked
    return plus(a=checked, b=more)


@workflow
def wf_bad_signal_name(x: int) -> int:
    return approve(t1(a=x), "line\nbreak", timeout=HOUR)
