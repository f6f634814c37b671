"""Differential test: flytekit data workflows give the same outputs on flytekit's local execution and through
``gatewidgets.launch`` (datasets compared as DataFrames, files and folders by content)."""
from __future__ import annotations

import dataclasses
import enum
import os
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
        frame = value.dataframe if value.dataframe is not None else value.open(pd.DataFrame).all()
        return plain(frame)
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
