"""The examples of seeds/000_a779d8a2d2db331c.txt ("Interacting with Signals"), ported by
replacing ``flytekit`` with ``gatewidgets`` in the imports and nothing else, run against an
execution that has their signals (``my_approval_signal``, ``user_count_input``,
``config_path``, ``data_file``).

The blocks below are the seed's code verbatim after that replacement; each test runs them
in order in one namespace, as a user pasting them into a notebook would.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import eventually

from gatewidgets import GateFile, GateRejectedError, GateRemote, SignalState, approve, task, wait_for_input, workflow
from gatewidgets.types.file import FlyteFile

SEED_CONNECT = r'''
from gatewidgets.remote import FlyteRemote, Config

# Configure FlyteRemote with your Flyte deployment details
# For a local sandbox, you might use:
remote = FlyteRemote.for_sandbox(
    default_project="flytesnacks",
    default_domain="development",
)

# For a remote deployment:
# remote = FlyteRemote.for_endpoint(
#     endpoint="your.flyte.admin.endpoint:port",
#     insecure=True, # Set to False for SSL/TLS enabled deployments
#     default_project="your_project",
#     default_domain="your_domain",
# )
'''

SEED_LIST = r'''
from gatewidgets.models.filters import Filter
from gatewidgets.models.common import Sort, SortOrdering

# Assuming 'my_workflow_execution_name' is the name of your running execution
execution_name = "my_workflow_execution_name"
project = "flytesnacks" # Or use remote.default_project
domain = "development" # Or use remote.default_domain

# List all signals for a specific execution
signals = remote.list_signals(
    execution_name=execution_name,
    project=project,
    domain=domain,
    limit=10, # Optional: limit the number of results
    # filters=[Filter.from_python_std("eq(state,PENDING)")], # Optional: filter by state
)

for signal in signals:
    print(f"Signal ID: {signal.id.signal_id}, Type: {signal.type.simple}, State: {signal.state}")
'''

SEED_APPROVE = r'''
signal_id_to_approve = "my_approval_signal"
execution_name = "my_workflow_execution_name"
project = "flytesnacks"
domain = "development"

try:
    remote.approve(
        signal_id=signal_id_to_approve,
        execution_name=execution_name,
        project=project,
        domain=domain,
    )
    print(f"Signal '{signal_id_to_approve}' for execution '{execution_name}' approved successfully.")
except Exception as e:
    print(f"Failed to approve signal: {e}")
'''

SEED_REJECT = r'''
signal_id_to_reject = "my_approval_signal"
execution_name = "my_workflow_execution_name"
project = "flytesnacks"
domain = "development"

try:
    remote.reject(
        signal_id=signal_id_to_reject,
        execution_name=execution_name,
        project=project,
        domain=domain,
    )
    print(f"Signal '{signal_id_to_reject}' for execution '{execution_name}' rejected successfully.")
except Exception as e:
    print(f"Failed to reject signal: {e}")
'''

SEED_SET_INPUT = r'''
from gatewidgets.types.file import FlyteFile
from gatewidgets.types.structured.structured_dataset import StructuredDataset

# Example 1: Setting a signal with an integer value
signal_id_int = "user_count_input"
execution_name = "my_workflow_execution_name"
project = "flytesnacks"
domain = "development"
int_value = 123

try:
    remote.set_input(
        signal_id=signal_id_int,
        execution_name=execution_name,
        project=project,
        domain=domain,
        value=int_value,
        python_type=int, # Explicitly provide the Python type
    )
    print(f"Signal '{signal_id_int}' set with value {int_value}.")
except Exception as e:
    print(f"Failed to set signal with int value: {e}")

# Example 2: Setting a signal with a string value
signal_id_str = "config_path"
str_value = "s3://my-bucket/configs/prod.yaml"

try:
    remote.set_input(
        signal_id=signal_id_str,
        execution_name=execution_name,
        project=project,
        domain=domain,
        value=str_value,
        python_type=str,
    )
    print(f"Signal '{signal_id_str}' set with value '{str_value}'.")
except Exception as e:
    print(f"Failed to set signal with string value: {e}")

# Example 3: Setting a signal with a FlyteFile (requires local file to upload)
signal_id_file = "data_file"
local_file_path = "/tmp/my_data.csv"
# Create a dummy file for demonstration
with open(local_file_path, "w") as f:
    f.write("col1,col2\n1,a\n2,b\n")

# When providing a FlyteFile, the remote client handles the upload
file_value = FlyteFile(local_file_path)

try:
    remote.set_input(
        signal_id=signal_id_file,
        execution_name=execution_name,
        project=project,
        domain=domain,
        value=file_value,
        python_type=FlyteFile,
    )
    print(f"Signal '{signal_id_file}' set with file '{local_file_path}'.")
except Exception as e:
    print(f"Failed to set signal with file value: {e}")
'''


@task
def summarize(count: int, path: str, data: FlyteFile) -> str:
    with data.open("rb") as f:
        return f"{count} users, config {path}, data {f.read().decode()!r}"


@workflow
def signals_workflow() -> str:
    count = wait_for_input("user_count_input", timeout=None, expected_type=int)
    path = wait_for_input("config_path", timeout=None, expected_type=str)
    data = wait_for_input("data_file", timeout=None, expected_type=FlyteFile)
    return approve(summarize(count=count, path=path, data=data), "my_approval_signal", timeout=None)


@pytest.fixture
def execution():  # type: ignore[no-untyped-def]
    ex = signals_workflow.launch(execution_name="my_workflow_execution_name", project="flytesnacks",
                                 domain="development")
    remote = GateRemote.for_sandbox(default_project="flytesnacks")
    eventually(lambda: remote.get_signal("user_count_input", ex.name).state is SignalState.PENDING)
    return ex


def run(*blocks: str, namespace: dict | None = None) -> dict:
    namespace = {} if namespace is None else namespace
    for block in blocks:
        exec(compile(block, "<seed example>", "exec"), namespace)
    return namespace


def test_connect_and_list_signals(execution, capsys) -> None:  # type: ignore[no-untyped-def]
    ns = run(SEED_CONNECT, SEED_LIST)
    assert [s.id.signal_id for s in ns["signals"]] == [
        "user_count_input", "config_path", "data_file", "my_approval_signal"]
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Signal ID: user_count_input, Type: SimpleType.INTEGER, State: PENDING",
        "Signal ID: config_path, Type: SimpleType.STRING, State: PENDING",
        "Signal ID: data_file, Type: None, State: PENDING",
        "Signal ID: my_approval_signal, Type: SimpleType.BOOLEAN, State: UPCOMING",
    ]


def test_list_signals_with_filter_and_sort(execution) -> None:  # type: ignore[no-untyped-def]
    ns = run(SEED_CONNECT, SEED_LIST)
    Filter, Sort, SortOrdering = ns["Filter"], ns["Sort"], ns["SortOrdering"]
    pending = ns["remote"].list_signals(execution_name="my_workflow_execution_name", project="flytesnacks",
                                        domain="development", limit=2,
                                        filters=[Filter.from_python_std("eq(state,PENDING)")],
                                        sort_by=Sort("signal_id", SortOrdering.ASCENDING))
    assert [s.id.signal_id for s in pending] == ["config_path", "data_file"]


def test_set_inputs_then_approve(execution, capsys) -> None:  # type: ignore[no-untyped-def]
    ns = run(SEED_CONNECT, SEED_SET_INPUT, SEED_APPROVE)
    out = capsys.readouterr().out
    assert "Failed" not in out
    assert "Signal 'user_count_input' set with value 123." in out
    assert "Signal 'config_path' set with value 's3://my-bucket/configs/prod.yaml'." in out
    assert "Signal 'data_file' set with file '/tmp/my_data.csv'." in out
    assert "Signal 'my_approval_signal' for execution 'my_workflow_execution_name' approved successfully." in out
    assert execution.wait(10) == "123 users, config s3://my-bucket/configs/prod.yaml, data 'col1,col2\\n1,a\\n2,b\\n'"
    remote = ns["remote"]
    values = {s.id.signal_id: s.value for s in remote.list_signals("my_workflow_execution_name")}
    assert values["user_count_input"] == 123 and values["config_path"] == "s3://my-bucket/configs/prod.yaml"
    assert values["my_approval_signal"] is True
    stored = values["data_file"]
    assert isinstance(stored, GateFile) and Path(stored.path).is_relative_to(remote.store.files_dir)
    assert stored.open().read() == b"col1,col2\n1,a\n2,b\n"
    assert ns["StructuredDataset"] is not None  # imported by the seed, unused there


def test_reject(execution, capsys) -> None:  # type: ignore[no-untyped-def]
    run(SEED_CONNECT, SEED_REJECT)
    assert ("Signal 'my_approval_signal' for execution 'my_workflow_execution_name' rejected successfully."
            in capsys.readouterr().out)
    ns = run(SEED_SET_INPUT, namespace=run(SEED_CONNECT))
    assert "Failed" not in capsys.readouterr().out
    with pytest.raises(GateRejectedError):
        execution.wait(10)
    signal = ns["remote"].list_signals("my_workflow_execution_name", filters="eq(signal_id,my_approval_signal)")[0]
    assert signal.value is False and signal.state is SignalState.SET


def test_whole_page_in_order(execution, capsys) -> None:  # type: ignore[no-untyped-def]
    """All blocks in the page's order: approve, then reject (refused: the first answer wins), then inputs."""
    ns = run(SEED_CONNECT, SEED_LIST, SEED_APPROVE, SEED_REJECT, SEED_SET_INPUT)
    out = capsys.readouterr().out
    assert "approved successfully" in out
    assert "Failed to reject signal: Signal 'my_approval_signal' of execution 'my_workflow_execution_name' was " \
           "already set to True" in out
    assert out.count("Failed") == 1
    assert execution.wait(10).startswith("123 users")
    assert os.path.exists(ns["local_file_path"])
