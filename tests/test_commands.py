"""The shared parser and commands, without IPython (``run_command`` with a ``Context``)."""
from __future__ import annotations

import shlex
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewidgets import GateRemote, SignalState, approve, task, workflow
from gatewidgets.commands import (
    CommandError,
    Context,
    HelpRequested,
    Table,
    build_parser,
    run_command,
    split_line,
)


@task
def inc(v: int) -> int:
    return v + 1


@workflow
def cmd_wf(a: int) -> int:
    return approve(inc(v=a), "go", timeout=timedelta(minutes=5))


def _waiting(name: str):
    ex = cmd_wf.launch(a=1, execution_name=name)
    assert ex.reached("go").wait(timeout=30).state is SignalState.PENDING
    return ex


def test_parsers_differ_only_by_face() -> None:
    cli = build_parser("gatewidgets", notebook=False).format_help()
    magic = build_parser("%gate").format_help()
    assert "run" not in cli.split("executions")[1] and "dashboard" not in cli
    assert "run" in magic and "dashboard" in magic
    with pytest.raises(HelpRequested):
        run_command(["list", "-h"], Context(GateRemote.for_sandbox()))
    with pytest.raises(CommandError, match="invalid choice"):
        run_command(["list", "--state", "DONE"], Context(GateRemote.for_sandbox()))


def test_results_are_data_rendered_by_each_face() -> None:
    ex = _waiting("cmd-1")
    ctx = Context(GateRemote.for_sandbox().with_face("cli"), launched=[ex])
    listed = run_command(["list"], ctx)
    assert [s["signal_id"] for s in listed.data["signals"]] == ["go"] and listed.data["total"] == 1
    assert "<table" in listed.to_html() and "cmd-1" in listed.to_text()
    done = run_command(["approve", "go"], ctx)
    assert done.message == "Approved signal 'go' of execution 'cmd-1'." and done.data["via"] == "cli"
    assert ex.wait(timeout=30) == 2
    shown = run_command(["show", "cmd-1"], ctx)
    assert shown.data["status"] == "SUCCEEDED" and shown.show is ex and len(shown.tables) == 2


@workflow
def twice(a: int) -> int:
    return approve(inc(v=inc(v=a)), "go", timeout=timedelta(minutes=5))


def test_show_names_nodes_by_the_workflow_and_ids_only_when_asked() -> None:
    ex = twice.launch(a=1, execution_name="cmd-names")
    remote = GateRemote.for_sandbox()
    assert ex.reached("go").wait(timeout=30).state is SignalState.PENDING
    ids = [n.node_id for n in remote.get_execution("cmd-names").nodes]  # internal: whatever the engine numbers
    assert len(set(ids)) == 3
    ctx = Context(remote.with_face("cli"))
    nodes = run_command(["show", "cmd-names"], ctx).tables[0]
    assert nodes.columns[0] == "node" and "id" not in nodes.columns
    assert [row[0] for row in nodes.rows] == ["inc", "inc-2", "go"]
    text = run_command(["show", "cmd-names"], ctx).to_text()
    assert not any(node_id in text.split() for node_id in ids)
    with_ids = run_command(["show", "cmd-names", "--ids"], ctx).tables[0]
    assert with_ids.columns[-1] == "id" and [row[-1] for row in with_ids.rows] == ids
    data = run_command(["show", "cmd-names"], ctx).data  # the JSON of --json and of the HTTP API
    assert [(n["label"], n["node_id"]) for n in data["nodes"]] == list(zip(["inc", "inc-2", "go"], ids))
    ex.abort()


def test_table_text_and_html_escape() -> None:
    table = Table("T", ["a", "bb"], [["<x>", "1"]])
    assert table.to_text().splitlines() == ["T", "a    bb", "<x>  1"]
    assert "&lt;x&gt;" in table.to_html()
    assert "(none)" in Table("T", ["a"], []).to_text()


def test_default_execution_from_the_store() -> None:
    remote = GateRemote.for_sandbox()
    _waiting("cmd-2")
    result = run_command(["approve", "go"], Context(remote))  # nothing launched "here": the only one running
    assert result.notes == ["Using execution 'cmd-2', the only one running in default/development."]
    _waiting("cmd-3")
    _waiting("cmd-4")
    with pytest.raises(CommandError, match=r"2 are running in default/development \(cmd-\d, cmd-\d\)"):
        run_command(["approve", "go"], Context(remote))
    assert remote.get_signal("go", "cmd-3").state is SignalState.PENDING


# lines made of the characters that matter to a shell's quoting, and some that do not
_LINE = st.text(alphabet=st.sampled_from(list(" \t\n'\"\\ab=é{}:,") + ["\x0b", "\u00a0"]), max_size=40)


@settings(max_examples=600, deadline=None)
@given(_LINE)
def test_split_line_splits_as_shlex_does(line: str) -> None:
    try:
        expected = shlex.split(line)
    except ValueError:
        with pytest.raises(CommandError, match="cannot split"):
            split_line(line)
    else:
        assert split_line(line) == expected


@pytest.mark.timeout(30)
def test_split_line_takes_a_megabyte_value_at_once() -> None:
    # shlex reads a character at a time: a 1.5 MB quoted --value took it 100 s here, the kernel
    # frozen before max_value_bytes could refuse the value; one regular-expression pass takes
    # under a second (the 30 s limit only catches a return to quadratic splitting).
    value = '{"k": "' + "x" * 1_500_000 + '"}'
    assert split_line("approve go --value " + shlex.quote(value)) == ["approve", "go", "--value", value]
