"""Issue 13 (values and names): refusals are clean GateErrors on every face and change nothing stored."""
import subprocess
import sys
from typing import Any

import pytest
from helpers import eventually
from traitlets import TraitError

from gatewidgets import (
    ExecutionStatus,
    GateRemote,
    InvalidNameError,
    SignalState,
    SignalTypeError,
    task,
    wait_for_input,
    workflow,
)
from gatewidgets.config import GateWidgets
from gatewidgets.notify import Notification
from gatewidgets.settings import settings


@task
def echo_int(v: int) -> int:
    return v


@task
def echo_float(v: float) -> float:
    return v


@task
def echo_str(v: str) -> str:
    return v


@workflow
def numbers() -> tuple[int, float]:
    return (echo_int(v=wait_for_input("n", timeout=None, expected_type=int)),
            echo_float(v=wait_for_input("x", timeout=None, expected_type=float)))


@workflow
def words() -> str:
    return echo_str(v=wait_for_input("s", timeout=None, expected_type=str))


def stored(remote: GateRemote, name: str) -> tuple:
    return tuple(remote.list_signals(name, limit=None)), tuple(remote.history(name))


@pytest.mark.parametrize("signal_id,value", [("n", 10**5000), ("x", 10**400), ("x", -(2**1024))],
                         ids=["int-10**5000", "float-10**400", "float--2**1024"])
def test_huge_numbers_are_type_errors_and_store_nothing(signal_id: str, value: Any) -> None:
    ex = numbers.launch(execution_name="huge")
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal("n", "huge").state is SignalState.PENDING)
    before = stored(remote, "huge")
    remote.store._live_types.clear()  # the stored (detached) type refuses them too
    with pytest.raises(SignalTypeError, match="expected (int|float)"):
        remote.set_input(signal_id, "huge", value)
    assert stored(remote, "huge") == before
    ex.abort()


def test_huge_int_text_is_a_type_error() -> None:
    numbers.launch(execution_name="huge-text")
    remote = GateRemote.for_sandbox()
    before = stored(remote, "huge-text")
    with pytest.raises(SignalTypeError):
        remote.set_text("n", "huge-text", "9" * 5000)
    with pytest.raises(SignalTypeError):
        remote.set_text("x", "huge-text", "1e400")
    assert stored(remote, "huge-text") == before


@pytest.mark.parametrize("bad", ["<b>x</b>", "a/b", 'q"uote', "a\n", "x" * 129, "caf\u00e9"])
@pytest.mark.parametrize("field", ["project", "domain", "execution_name"])
def test_launch_refuses_bad_names(field: str, bad: str) -> None:
    remote = GateRemote.for_sandbox()
    kwargs = {"project": "p", "domain": "d", "execution_name": "ok", field: bad}
    with pytest.raises(InvalidNameError, match=field) as info:
        words.launch(**kwargs)
    assert isinstance(info.value, ValueError)  # launch raised ValueError for bad execution names before
    assert remote.list_executions(project="p", domain="d") == []
    assert remote.list_executions() == []


@pytest.mark.parametrize("call", [
    lambda r: r.list_signals(project="<script>"),
    lambda r: r.list_signals("ok", domain="a/b"),
    lambda r: r.list_executions(domain='"'),
    lambda r: r.count_signals(project="../x"),
    lambda r: r.stats(project="a b"),
    lambda r: r.get_signal("s", "a/../b"),
    lambda r: r.approve("s", "ok", project="<b>"),
    lambda r: r.set_input("s", "ok", "v", domain="x/y"),
    lambda r: r.set_text("s", "ok\n", "v"),
])
def test_remote_refuses_bad_names(call: Any) -> None:
    words.launch(execution_name="ok")
    remote = GateRemote.for_sandbox()
    before = stored(remote, "ok")
    with pytest.raises(InvalidNameError, match="(project|domain|execution_name) must be 1-128 letters"):
        call(remote)
    assert stored(remote, "ok") == before


def test_config_refuses_bad_default_names() -> None:
    config = GateWidgets()
    try:
        for bad in ("<b>", "a/b", "  "):
            with pytest.raises(TraitError, match="default_project"):
                config.default_project = bad
        assert settings.default_project == "default"
        config.default_domain = " staging "
        assert settings.default_domain == "staging"
    finally:
        config.default_domain = "development"


def test_webhook_paths_carry_only_valid_names() -> None:
    ex = words.launch(execution_name="hook-path", project="proj-1", domain="dev.2")
    remote = GateRemote.for_sandbox()
    signal = eventually(lambda: remote.get_signal("s", "hook-path", "proj-1", "dev.2"))
    assert Notification("waiting", signal).to_json()["actions"]["set"] == \
        "/gatewidgets/api/signals/proj-1/dev.2/hook-path/s"
    ex.abort()


def test_value_size_limit_applies_to_every_setter() -> None:
    config = GateWidgets()
    ex = words.launch(execution_name="big")
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal("s", "big").state is SignalState.PENDING)
    before = stored(remote, "big")
    big = "x" * (1 << 20)  # its JSON form has two quotes more than 1 MiB
    for attempt in (lambda: remote.set_input("s", "big", big), lambda: remote.set_text("s", "big", big + "yy"),
                    lambda: remote.set_json("s", "big", big)):
        with pytest.raises(SignalTypeError, match=r"1,048,578 bytes|1,048,578|more than GateWidgets.max_value_bytes"):
            attempt()
    assert stored(remote, "big") == before
    with pytest.raises(TraitError, match="max_value_bytes"):
        config.max_value_bytes = 0
    try:
        config.max_value_bytes = 10
        with pytest.raises(SignalTypeError, match=r"is 12 bytes, more than GateWidgets.max_value_bytes \(10\)"):
            remote.set_input("s", "big", "x" * 10)
        assert stored(remote, "big") == before
    finally:
        config.max_value_bytes = 1 << 20
    assert settings.max_value_bytes == 1 << 20
    remote.set_input("s", "big", "x" * ((1 << 20) - 2))  # exactly the limit is fine
    assert len(ex.wait(10)) == (1 << 20) - 2
    assert ex.status is ExecutionStatus.SUCCEEDED


def test_cli_refuses_bad_names_in_one_line(gatewidgets_store: Any) -> None:
    words.launch(execution_name="cli-big")
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal("s", "cli-big").state is SignalState.PENDING)
    before = stored(remote, "cli-big")
    env = {"GATEWIDGETS_STORE": str(gatewidgets_store), "PYTHONPATH": ":".join(sys.path)}
    for argv, expected in ((["list", "-p", "<b>"], "InvalidNameError: project must be"),
                           (["list", "cli-big", "-d", "a/b"], "InvalidNameError: domain must be")):
        result = subprocess.run([sys.executable, "-m", "gatewidgets", *argv], capture_output=True, text=True,
                                env=env, timeout=60)
        assert result.returncode == 1, result.stderr
        assert result.stderr.count("\n") == 1 and expected in result.stderr
    assert stored(remote, "cli-big") == before


@pytest.mark.parametrize("argv", [
    ["list", "--limit", "1e20"], ["list", "--limit", "99999999999999999999"], ["executions", "--limit", "-1"],
    ["list", b"\xff"], ["approve", "ok", "-e", b"\xff"], ["set", "s", b"caf\xe9", "-e", "x"], ["list", "-p", b"\x80"],
], ids=["limit-1e20", "limit-huge", "limit-negative", "name-ff", "execution-ff", "value-latin1", "project-80"])
def test_cli_bad_limits_and_non_utf8_arguments_are_usage_errors(argv: list, gatewidgets_store: Any) -> None:
    words.launch(execution_name="x")
    remote = GateRemote.for_sandbox()
    eventually(lambda: remote.get_signal("s", "x").state is SignalState.PENDING)
    before = stored(remote, "x")
    env = {"GATEWIDGETS_STORE": str(gatewidgets_store), "PYTHONPATH": ":".join(sys.path)}
    result = subprocess.run([sys.executable.encode(), b"-m", b"gatewidgets", *argv], capture_output=True, env=env,
                            timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count(b"\n") == 1 and b"Traceback" not in result.stderr, result.stderr
    assert (b"--limit: must be a whole number from 1 to 1,000,000" in result.stderr
            or b"is not valid UTF-8 text" in result.stderr)
    assert stored(remote, "x") == before
