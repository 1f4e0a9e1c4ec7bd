"""Export: a run's model as ONNX (checked against the model), serving metadata, and a registered version's serving folder."""

from ._bundle import bundle
from ._encoding import encode_rows
from ._errors import ExportError
from ._metadata import CONFORMAL_SIGNIFICANCE, SERVING_ARTIFACT, serving_metadata
from ._onnx import OnnxExport, to_onnx
from ._version import FORMATS, ExportResult, export_version

__all__ = ["CONFORMAL_SIGNIFICANCE", "ExportError", "ExportResult", "FORMATS", "OnnxExport", "SERVING_ARTIFACT", "bundle", "encode_rows", "export_version", "serving_metadata",
           "to_onnx"]
