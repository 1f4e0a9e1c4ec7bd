"""KServe's Open Inference Protocol (V2) for the served model: metadata, and infer with JSON or binary tensors.

Spec: https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/ (REST), with
the binary tensor extension (``Inference-Header-Content-Length``: the JSON header comes first,
then each tensor's raw little-endian bytes, ``parameters.binary_data_size`` long).
"""

from __future__ import annotations

import numpy as np

from ._errors import ServeInputError

__all__ = ["HEADER_LENGTH", "model_metadata", "parse_infer", "infer_body"]

HEADER_LENGTH = "inference-header-content-length"
_NUMERIC = {"FP32": np.float32, "FP64": np.float64, "FP16": np.float16, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
            "INT64": np.int64, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64}


def model_metadata(predictor) -> dict:
    """``GET /v2/models/{name}``: name, versions, platform, the input and output tensors."""
    width = len(predictor.labels) if predictor.task == "classification" else -1
    out = [-1, width] if predictor.task != "regression" else [-1]
    return {"name": predictor.name, "versions": [str(predictor.version)], "platform": "onnxruntime_onnx",
            "inputs": [{"name": predictor.input_name, "datatype": "FP32", "shape": [-1, *predictor.input_shape]}],
            "outputs": [{"name": predictor.output_names[0], "datatype": "FP32", "shape": out}]}


def _split(body: bytes, header_length) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        n = int(header_length)
    except ValueError:
        raise ServeInputError("Inference-Header-Content-Length: not a whole number", status=400) from None
    if not 0 < n <= len(body):
        raise ServeInputError(f"Inference-Header-Content-Length: {n} does not fit a body of {len(body)} bytes", status=400)
    return body[:n], body[n:]


def _tensor(spec, binary: memoryview, offset: int, predictor) -> tuple[np.ndarray, int]:
    if not isinstance(spec, dict):
        raise ServeInputError("inputs[0]: expected an object {name, shape, datatype, data}")
    if spec.get("name") != predictor.input_name:
        raise ServeInputError(f"inputs[0].name: {spec.get('name')!r} is not the model's input; its input is {predictor.input_name!r}")
    kind, shape = spec.get("datatype"), spec.get("shape")
    if kind not in _NUMERIC:
        raise ServeInputError(f"inputs[0].datatype: {kind!r}; the model takes numbers (FP32, or another of {sorted(_NUMERIC)})")
    if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise ServeInputError(f"inputs[0].shape: {shape!r} is not a list of whole numbers")
    count = int(np.prod(shape))
    size = (spec.get("parameters") or {}).get("binary_data_size") if isinstance(spec.get("parameters"), dict) else None
    if size is not None:
        dtype = np.dtype(_NUMERIC[kind]).newbyteorder("<")
        if size != count * dtype.itemsize or offset + size > len(binary):
            raise ServeInputError(f"inputs[0].parameters.binary_data_size: {size} bytes, but shape {shape} of {kind} is "
                                  f"{count * dtype.itemsize} and {len(binary) - offset} binary bytes follow the header")
        return np.frombuffer(binary[offset:offset + size], dtype=dtype).reshape(shape), offset + size
    data = spec.get("data")
    if not isinstance(data, list):
        raise ServeInputError("inputs[0].data: missing or not a list (or give parameters.binary_data_size with binary data)")
    try:
        flat = np.asarray(data, dtype=_NUMERIC[kind]).reshape(-1)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ServeInputError(f"inputs[0].data: not {kind} numbers ({exc})") from None
    if flat.size != count:
        raise ServeInputError(f"inputs[0].data: {flat.size} values, but shape {shape} needs {count}")
    return flat.reshape(shape), offset


def parse_infer(body: bytes, header_length, predictor) -> tuple[np.ndarray, dict]:
    """The checked input batch and the request (its id and which outputs, binary or not) from an infer body."""
    from ._handlers import parse_body

    head, binary = _split(body, header_length)
    request = parse_body(head)
    if not isinstance(request, dict):
        raise ServeInputError(f"body: expected a JSON object {{\"inputs\": [...]}}, got a JSON {type(request).__name__}")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1:
        raise ServeInputError(f"inputs: expected a list of one tensor named {predictor.input_name!r}, got {type(inputs).__name__}"
                              + (f" of {len(inputs)}" if isinstance(inputs, list) else ""))
    x, _ = _tensor(inputs[0], memoryview(binary), 0, predictor)
    return predictor.check(x, field="inputs[0]"), request


def _wants_binary(request: dict) -> bool:
    params = request.get("parameters")
    if isinstance(params, dict) and params.get("binary_data_output") is True:
        return True
    outputs = request.get("outputs")
    return isinstance(outputs, list) and any(isinstance(o, dict) and isinstance(o.get("parameters"), dict)
                                             and o["parameters"].get("binary_data") is True for o in outputs)


def infer_body(predictor, out: np.ndarray, request: dict) -> tuple[bytes, int | None]:
    """The infer answer and, for binary outputs, the JSON header's length (``Inference-Header-Content-Length``)."""
    import orjson

    name = predictor.output_names[0]
    for o in request.get("outputs") or []:
        if not isinstance(o, dict) or o.get("name") != name:
            raise ServeInputError(f"outputs: {o.get('name') if isinstance(o, dict) else o!r} is not an output of the model; "
                                  f"its output is {name!r}")
    out = np.ascontiguousarray(out, dtype=np.float32)
    tensor = {"name": name, "datatype": "FP32", "shape": list(out.shape)}
    answer = {"model_name": predictor.name, "model_version": str(predictor.version), "outputs": [tensor]}
    if isinstance(request.get("id"), str):
        answer["id"] = request["id"]
    if not _wants_binary(request):
        tensor["data"] = out.reshape(-1)
        return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY), None
    raw = out.astype("<f4", copy=False).tobytes()
    tensor["parameters"] = {"binary_data_size": len(raw)}
    head = orjson.dumps(answer)
    return head + raw, len(head)
