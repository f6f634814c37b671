"""Signal types: ``GateType`` (validation, JSON form, text parsing), ``GateFile``, ``StructuredDataset``, and
``json_or_none`` (a value in stored JSON form)."""
from gatewidgets.types.engine import GateType
from gatewidgets.types.file import FlyteFile, GateFile
from gatewidgets.types.structured.structured_dataset import StructuredDataset
from gatewidgets.types.values import gate_type_or_none, json_or_none

__all__ = ["GateType", "GateFile", "FlyteFile", "StructuredDataset", "gate_type_or_none", "json_or_none"]
