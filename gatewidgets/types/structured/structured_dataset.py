"""``StructuredDataset``: a tabular file (CSV or Parquet), opened as a pandas DataFrame."""
from __future__ import annotations

import os
import tempfile
from typing import Any

from gatewidgets.errors import SignalTypeError
from gatewidgets.types.file import GateFile

__all__ = ["StructuredDataset"]

FORMATS = ("csv", "parquet")


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError("StructuredDataset needs pandas to read or write DataFrames: pip install pandas") from None
    return pandas


class StructuredDataset(GateFile):
    """A CSV or Parquet file; ``StructuredDataset(uri="t.csv")`` or ``StructuredDataset(dataframe=df)``."""

    def __init__(
        self,
        dataframe: Any = None,
        uri: str | os.PathLike[str] | None = None,
        file_format: str | None = None,
        *,
        name: str | None = None,
    ) -> None:
        if isinstance(dataframe, (str, os.PathLike)) and uri is None:
            dataframe, uri = None, dataframe
        if dataframe is not None:
            if uri is not None:
                raise ValueError("give either a dataframe or a uri, not both")
            file_format = file_format or "csv"
            fd, uri = tempfile.mkstemp(suffix=f".{file_format}", prefix="gatewidgets-")
            os.close(fd)
            if file_format == "csv":
                dataframe.to_csv(uri, index=False)
            else:
                dataframe.to_parquet(uri, index=False)
        if uri is None:
            raise ValueError("a StructuredDataset needs a uri or a dataframe")
        super().__init__(uri, name=name)
        if file_format is None:
            ext = os.path.splitext(self.name)[1].lower().lstrip(".")
            file_format = "parquet" if ext in ("parquet", "pq") else "csv"
        if file_format not in FORMATS:
            raise SignalTypeError(f"StructuredDataset format must be csv or parquet, got {file_format!r}")
        self.file_format = file_format

    def open(self, dataframe_type: Any = "rb") -> Any:
        """``open(pd.DataFrame).all()`` reads the table, like flytekit; ``open("rb")`` the bytes."""
        if isinstance(dataframe_type, str):
            return super().open(dataframe_type)
        return _Reader(self)

    def _copy_to(self, path: str) -> StructuredDataset:
        return type(self)(uri=path, file_format=self.file_format, name=self.name)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "file_format": self.file_format}

    @classmethod
    def _from_json_path(cls, data: dict[str, Any], content: bytes | None = None) -> StructuredDataset:
        f = cls(uri=data["path"], file_format=data.get("file_format"), name=data.get("name"))
        f._data = content
        return f

    @classmethod
    def _json_schema(cls) -> dict[str, Any]:
        schema = super()._json_schema()
        schema["x-gatewidgets"] = "dataframe"
        schema["properties"]["file_format"] = {"enum": list(FORMATS)}
        return schema


class _Reader:
    def __init__(self, dataset: StructuredDataset) -> None:
        self._dataset = dataset

    def all(self) -> Any:
        """The whole table as a pandas DataFrame."""
        pd = _pandas()
        with self._dataset.open("rb") as f:
            if self._dataset.file_format == "parquet":
                return pd.read_parquet(f)
            return pd.read_csv(f)
