"""Signal types: ``GateType`` (validation, JSON form, text parsing), ``GateFile``, ``StructuredDataset``."""
from gatewidgets.types.engine import GateType
from gatewidgets.types.file import FlyteFile, GateFile
from gatewidgets.types.structured.structured_dataset import StructuredDataset

__all__ = ["GateType", "GateFile", "FlyteFile", "StructuredDataset"]
