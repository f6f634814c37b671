"""Differential test: flytekit data workflows give the same outputs on flytekit's local execution and through
``gatewidgets.launch`` (datasets compared as DataFrames, files and folders by content)."""
from __future__ import annotations

import dataclasses
import enum
import os
import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flytekit")
pytest.importorskip("pyarrow")

import _flytekit_data_workflows as fd  # noqa: E402  (needs flytekit)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from flytekit.types.directory import FlyteDirectory  # noqa: E402
from flytekit.types.file import FlyteFile  # noqa: E402
from flytekit.types.structured import StructuredDataset  # noqa: E402

import gatewidgets  # noqa: E402


def plain(value: Any) -> Any:
    """``value`` as comparable plain data: a dataset or DataFrame as its columns, rows and dtypes, a file as its
    bytes, a folder as its files' bytes by name, a dataclass or model as a dict."""
    if isinstance(value, StructuredDataset):
        return plain(value.open(pd.DataFrame).all())  # as a user reads it (flytekit local's output opens)
    if isinstance(value, pd.DataFrame):
        frame = value.reset_index(drop=True)
        return ("frame", frame.to_dict(orient="split"), [str(t) for t in frame.dtypes])
    if isinstance(value, np.ndarray):
        return ("array", value.tolist(), str(value.dtype))
    if isinstance(value, FlyteDirectory):
        local = value.download()
        return ("folder", {os.path.relpath(os.path.join(d, f), local): Path(d, f).read_bytes()
                           for d, _, files in os.walk(local) for f in files})
    if isinstance(value, FlyteFile):
        return ("file", Path(value.download()).read_bytes())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)})
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return (type(value).__name__, value.value)
    return value


@pytest.mark.parametrize("workflow, make_inputs", fd.CASES,
                         ids=[f"{wf.name.rsplit('.', 1)[-1]}-{i}" for i, (wf, _) in enumerate(fd.CASES)])
def test_data_workflow_matches_flytekit_local(workflow: Any, make_inputs: Any, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    expected = plain(workflow(**make_inputs(tmp_path / "a")))
    ex = gatewidgets.launch(workflow, **make_inputs(tmp_path / "b"))
    assert plain(ex.wait(timeout=120)) == expected
    assert ex.status is gatewidgets.ExecutionStatus.SUCCEEDED


@pytest.mark.parametrize("workflow, inputs, says", [
    (fd.wf_floats, {"xs": [1, 2]}, r"Expected value of type <class 'float'> but got '[12]' of type <class 'int'>"),
    (fd.wf_dataset_input, {"sd": fd._people()}, "Did you forget to wrap your dataframe in a StructuredDataset"),
    (fd.wf_file_input, {"f": "/no/such/file.txt"}, "because it's not a file"),
    (fd.wf_directory_input, {"d": "/no/such/folder"}, "not a (folder|directory)"),
    (fd.wf_enum, {"c": "purple"}, "purple"),
])
def test_launch_inputs_flytekit_refuses_are_refused(workflow: Any, inputs: dict[str, Any], says: str) -> None:
    (name,) = inputs
    with pytest.raises(Exception) as refused:
        workflow(**inputs)  # flytekit's own local run refuses it
    assert re.search(says, str(refused.value))
    remote = gatewidgets.GateRemote.for_sandbox()
    before = remote.list_executions()
    with pytest.raises(TypeError) as info:
        gatewidgets.launch(workflow, **inputs)
    text = str(info.value)
    assert f"workflow {workflow.name}: input {name!r}" in text and "as flytekit requires" in text
    assert re.search(says, text)
    assert remote.list_executions() == before


def test_a_path_string_is_a_flytefile_and_a_folder_path_a_flytedirectory(tmp_path: Path) -> None:
    folder = tmp_path / "given"
    folder.mkdir()
    (folder / "w.txt").write_text("a b c")
    assert gatewidgets.launch(fd.wf_file_input, f=str(folder / "w.txt")).wait(timeout=60) == 3
    assert gatewidgets.launch(fd.wf_directory_input, d=str(folder)).wait(timeout=60) == {"w.txt": 1}


def test_converted_values_are_written_under_the_store_folder(gatewidgets_store: Path) -> None:
    unique = pd.DataFrame({"name": [gatewidgets_store.parent.name], "age": [1], "height": [1.0]})  # flytekit
    ex = gatewidgets.launch(fd.wf_dataframe_input, df=unique)  # caches the literal of a value it has seen
    assert plain(ex.wait(timeout=60)) == plain(unique.assign(age=3))
    written = list((gatewidgets_store.parent / "flytekit" / "raw").rglob("*"))
    assert any(p.is_file() for p in written)


def test_which_edges_convert_is_decided_at_translation() -> None:
    from gatewidgets.frontdoors.flytekit import workflow_of

    def edges(workflow: Any) -> dict[str, Any]:
        return {n.name: n.task.edges for n in workflow_of(workflow).nodes.values() if getattr(n.task, "edges", None)}

    assert edges(fd.wf_map_partial) == {}  # int -> list[float] -> map over floats: plain, handed over as is
    assert edges(fd.wf_floats) == {}
    assert edges(fd.wf_dataframe_to_dataset) == {"mean_age": {"sd": (pd.DataFrame, StructuredDataset)}}
    assert edges(fd.wf_column_subset) == {"only_columns": {"sd": (pd.DataFrame, fd.Subset)}}
    assert edges(fd.wf_enum) == {"next_color": {"c": (fd.Color, fd.Color)}, "color_name": {"c": (fd.Color, fd.Color)}}
