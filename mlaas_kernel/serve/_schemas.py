"""The OpenAPI description of the hot routes (they read raw bytes, so FastAPI cannot infer it): request and response schemas."""

from __future__ import annotations

__all__ = ["predict", "PREDICT_IMAGE", "INFER", "ERRORS"]

_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string", "description": "names the field and what is wrong"}}}
_SIGNIFICANCE = {"name": "significance", "in": "query", "required": False,
                 "description": "conformal level for the sets (default: the bundle's conformal_significance)",
                 "schema": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}}
_ITEM = {"type": "object", "properties": {
    "class": {"description": "predicted label"}, "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
    "set": {"type": "array", "description": "conformal prediction set (labels)"}, "prediction": {"type": "number", "description": "a regressor's prediction"},
    "embedding": {"type": "array", "items": {"type": "number"}, "description": "an embedding model's vector (no class)"},
    "file": {"type": "string"}}}
_PREDICTIONS = {"type": "object", "required": ["model", "version", "predictions"], "properties": {
    "model": {"type": "string"}, "version": {"type": ["integer", "string", "null"]}, "significance": {"type": "number"},
    "notes": {"type": "object", "additionalProperties": {"type": "string"},
              "description": "what the answer lacks and why, e.g. sets: no conformal calibration for this version; "
                             "imputed: tabular values missing in the input, filled in as training did (the median)"},
    "predictions": {"type": "array", "items": _ITEM}}}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


ERRORS = {"400": {"description": "not JSON", **_json(_ERROR)}, "413": {"description": "body over the size limit", **_json(_ERROR)},
          "422": {"description": "wrong shape, dtype, NaN/inf, a missing field or feature, a category the model does not know", **_json(_ERROR)}}

def _nested(shape) -> dict:
    if not shape:
        return {"type": "number"}
    return {"type": "array", "minItems": shape[0], "maxItems": shape[0], "items": _nested(shape[1:])}


def _item(predictor) -> dict:
    """One item of ``instances``: nested arrays of the input shape, or (tabular) a record of the features."""
    if predictor.kind == "tabular":
        meta = predictor.metadata
        columns = list(meta.get("raw_features") or predictor.features) if meta.get("encoding") else predictor.features
        record = {"type": "object", "required": columns, "additionalProperties": False,
                  "properties": {c: {} for c in columns}}
        return {"oneOf": [record, _nested(predictor.input_shape)]}
    return _nested(predictor.input_shape)


def predict(predictor) -> dict:
    """POST /predict's schema for this model's input (the shape of one item, or its features)."""
    described = ("nested arrays [C][H][W] of pixel intensities 0..1 ([H][W] and flat rows are taken too)" if predictor.kind == "image"
                 else "records {feature: value}, or arrays in feature order")
    return {
        "parameters": [_SIGNIFICANCE],
        "requestBody": {"required": True, **_json({
            "type": "object", "required": ["instances"], "properties": {
                "instances": {"type": "array", "minItems": 1, "maxItems": 1000, "description": f"items: {described}",
                              "items": _item(predictor)},
                "significance": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}}})},
        "responses": {"200": {"description": "one prediction per item, with the version that answered", **_json(_PREDICTIONS)}, **ERRORS},
    }

PREDICT_IMAGE = {
    "parameters": [_SIGNIFICANCE],
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["files"], "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}},
    "responses": {"200": {"description": "one prediction per file (with its name)", **_json(_PREDICTIONS)}, **ERRORS},
}

_TENSOR = {"type": "object", "required": ["name", "shape", "datatype"], "properties": {
    "name": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
    "datatype": {"type": "string", "enum": ["FP32", "FP64", "FP16", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"]},
    "data": {"type": "array"}, "parameters": {"type": "object"}}}

INFER = {
    "requestBody": {"required": True, **_json({"type": "object", "required": ["inputs"], "properties": {
        "id": {"type": "string"}, "inputs": {"type": "array", "items": _TENSOR, "minItems": 1, "maxItems": 1},
        "outputs": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}}}},
        "parameters": {"type": "object"}}})},
    "responses": {"200": {"description": "KServe V2 inference response", **_json({"type": "object", "properties": {
        "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
        "outputs": {"type": "array", "items": _TENSOR}}})}, "404": {"description": "no such model here", **_json(_ERROR)}, **ERRORS},
}

