"""A TensorRT engine built from the ONNX file, where ``tensorrt`` imports and a CUDA GPU is present.

Built with TensorRT's builder API (``trt.Builder``, ``OnnxParser``, an optimisation profile for the
dynamic batch axis, ``build_serialized_network``); run through ``execute_async_v3`` with torch CUDA
tensors as the buffers. Engines are specific to the GPU and TensorRT version that built them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._errors import ExportError

INSTALL = "TensorRT export needs an NVIDIA GPU with CUDA and the tensorrt package: pip install tensorrt"
MAX_BATCH = 1024
OPT_BATCH = 256


def require():
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise ExportError(f"{INSTALL} (import tensorrt failed: {exc})") from None
    import torch

    if not torch.cuda.is_available():
        raise ExportError(f"{INSTALL} (tensorrt imports, but torch sees no CUDA GPU here)")
    return trt


def _build(trt, onnx_path: Path, input_shape) -> bytes:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"TensorRT cannot parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    if hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # TF32 matmuls would differ from torch by more than parity allows
    profile = builder.create_optimization_profile()
    shape = tuple(int(v) for v in input_shape)
    profile.set_shape("input", (1, *shape), (OPT_BATCH, *shape), (MAX_BATCH, *shape))
    config.add_optimization_profile(profile)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise ExportError(f"TensorRT could not build an engine from {onnx_path.name} (see its log above)")
    return bytes(engine)


def _runner(trt, plan: bytes, output_name: str):
    import torch

    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(plan)
    context = engine.create_execution_context()

    def run(x: np.ndarray) -> np.ndarray:
        inp = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32)).cuda()
        context.set_input_shape("input", tuple(inp.shape))
        out = torch.empty(tuple(context.get_tensor_shape(output_name)), dtype=torch.float32, device="cuda")
        context.set_tensor_address("input", inp.data_ptr())
        context.set_tensor_address(output_name, out.data_ptr())
        stream = torch.cuda.current_stream()
        if not context.execute_async_v3(stream.cuda_stream):
            raise ExportError("TensorRT failed to run the engine")
        stream.synchronize()
        return out.cpu().numpy()

    return run


def tensorrt(onnx_path: Path, input_shape, output_name: str, path: Path):
    """An engine for ``onnx_path`` at ``path`` (``.plan``, batch 1 to 1,024); ``(path, run)``."""
    trt = require()
    plan = _build(trt, onnx_path, input_shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(plan)
    return path, _runner(trt, plan, output_name)
