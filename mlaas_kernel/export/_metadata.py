"""``serving_metadata``: the serving.json an endpoint reads beside the ONNX file (interfaces.md)."""

from __future__ import annotations

import os

CONFORMAL_SIGNIFICANCE = 0.1  # the default level of the conformal sets an endpoint returns (90 % coverage)
SERVING_ARTIFACT = "serving/serving.json"  # where the registry logs it on the run (not inside onnx_model/: MLflow owns that folder)


def _conformal(loaded, workspace_dir) -> dict | None:
    """The run's LAC calibration as data, or None when the run has none (or it is not a classifier's)."""
    from ..conformal import load_calibration
    from ..models import ModelNotFoundError

    if loaded.kind != "cnn":
        return None
    try:
        return load_calibration(loaded.run_id, name="lac", workspace_dir=workspace_dir).to_dict()
    except (ModelNotFoundError, OSError):
        return None


def _image(loaded) -> dict:
    est = loaded.model
    task = "embedding" if loaded.kind == "embedding" else "classification"
    return {"kind": "image", "task": task, "input_shape": [int(v) for v in est.input_shape_],
            "classes": [str(c) for c in est.classes_], "features": [], "input_scale": "0..1",
            "normalisation": {"mean": float(est.mean_), "std": float(est.std_), "in_graph": True}}


def serving_metadata(loaded, onnx_export, *, workspace_dir: str | os.PathLike | None = None) -> dict:
    """The serving.json dict for ``loaded`` exported as ``onnx_export`` (an :class:`OnnxExport`).

    ``{"kind": "image"|"tabular", "task": "classification"|"regression"|"embedding", "input_shape",
    "classes", "features", "dataset", "run_id", "input_name", "output_name", "parity", "conformal"
    (the run's LAC calibration, ``ConformalClassifier.to_dict()``, or None), "conformal_significance"}``;
    tabular models add ``"encoding"`` (how a row of raw values becomes the input vector, see
    :func:`~mlaas_kernel.export.encode_rows`).
    """
    if loaded.kind == "estimator":
        from ._tabular import tabular_metadata

        body = tabular_metadata(loaded, workspace_dir)
    else:
        body = _image(loaded)
    return {**body, "dataset": loaded.dataset, "run_id": loaded.run_id, "run_name": loaded.run.info.run_name,
            "input_name": onnx_export.input_name, "output_name": onnx_export.output_name, "parity": onnx_export.parity(),
            "conformal": _conformal(loaded, workspace_dir), "conformal_significance": CONFORMAL_SIGNIFICANCE}
