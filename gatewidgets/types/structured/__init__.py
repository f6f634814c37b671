"""Tabular values (flytekit's ``flytekit.types.structured``)."""
from gatewidgets.types.structured.structured_dataset import StructuredDataset

__all__ = ["StructuredDataset"]
