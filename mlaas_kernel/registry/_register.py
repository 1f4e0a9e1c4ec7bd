"""Registering a run's model: exported to ONNX (parity checked), logged onto the run as an MLflow ONNX model
with its serving.json, and made a version of a registered model with lineage tags and an alias."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from . import _aliases
from ._lineage import default_name, key_metric, lineage_tags
from ._refs import CHALLENGER, DEFAULT_ALIAS, RegistryError, check_name
from ._uri import fluent_uri
from ._versions import KEY_METRIC_TAG, client, to_version, versions_of

MODEL_NAME = "onnx_model"  # the logged model's name (interfaces.md: mlflow.onnx.log_model(..., name="onnx_model"))
REGISTRABLE = ("FINISHED", "KILLED")  # a run stopped by its user keeps the model it had


def _providers() -> list[str]:
    """The execution providers the pyfunc ONNX model asks for: CUDA where this ONNX Runtime has it, then CPU."""
    import onnxruntime as ort

    have = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in have] or ["CPUExecutionProvider"]


def _requirements() -> list[str]:
    """What the pyfunc model needs, pinned to what made it (given, so MLflow does not spend seconds inferring them)."""
    from importlib.metadata import version

    return [f"{dist}=={version(dist)}" for dist in ("mlflow", "onnx", "onnxruntime", "numpy", "pandas")]


def _log_onnx(c, loaded, onnx_path: Path, serving: Path, input_shape) -> str:
    """``onnx_path`` as an MLflow ONNX model (``onnx_model``, serving.json among its extra files) linked to the run; its URI."""
    import mlflow.onnx
    import numpy as np
    import onnx

    exp_id = loaded.run.info.experiment_id  # the logged model lives in its run's experiment (not the default one)
    logged = c.create_logged_model(exp_id, name=MODEL_NAME, source_run_id=loaded.run_id, tags={"mlaas.model": loaded.kind})
    example = np.zeros((2, *[int(v) for v in input_shape]), dtype=np.float32)  # batch 2: the batch axis stays free
    info = mlflow.onnx.log_model(onnx.load(str(onnx_path)), name=MODEL_NAME, run_id=loaded.run_id, model_id=logged.model_id,
                                 input_example=example, onnx_execution_providers=_providers(), extra_files=[str(serving)],
                                 save_as_external_data=False, pip_requirements=_requirements())
    return info.model_uri


def _existing(c, name: str, run_id: str):
    from mlflow.exceptions import MlflowException

    try:
        return next((mv for mv in versions_of(c, name) if mv.run_id == run_id), None)
    except MlflowException:
        return None


def _version_tags(loaded, exported) -> dict[str, str]:
    key = key_metric(loaded)
    value = loaded.run.data.metrics.get(key)
    tags = {**lineage_tags(loaded), KEY_METRIC_TAG: key, "mlaas.onnx.max_abs_diff": f"{exported.max_abs_diff:.3g}",
            "mlaas.onnx.same_class": str(bool(exported.same_class)).lower(), "mlaas.onnx.n_checked": str(exported.n_checked)}
    if value is not None:
        tags[f"mlaas.metric.{key}"] = f"{value:.6g}"
    return tags


def _load(run: str, workspace_dir):
    from ..models import ModelNotFoundError, load_run_model

    try:
        loaded = load_run_model(run, workspace_dir=workspace_dir)
    except ModelNotFoundError as exc:
        raise RegistryError(str(exc)) from None
    status = loaded.run.info.status
    if status not in REGISTRABLE:
        raise RegistryError(f"run {loaded.run_id} ({loaded.run.info.run_name}) is {status}: register a run that has finished")
    return loaded


def register(run: str, name: str | None = None, *, check_n: int = 1000, workspace_dir: str | os.PathLike | None = None):
    """Register run ``run``'s model (a run id or a unique prefix) as a new version of ``name``; returns its Version.

    The model is exported to ONNX and checked against itself (``export.to_onnx``: probabilities
    within 1e-4, the same classes, on ``check_n`` held-out items), logged onto the run with
    ``mlflow.onnx.log_model`` (name ``onnx_model``, so the version's pyfunc runs ONNX Runtime) and
    its ``serving.json`` beside it on the run (``export.SERVING_ARTIFACT``), then registered with
    lineage tags (``mlaas.lineage.*``) and its key metric. ``name`` defaults to ``<dataset>-cnn``,
    ``<dataset>-embedding`` or ``<dataset>-<task>``. A model's first version becomes its
    ``champion``; later ones its ``challenger``. A run already registered under ``name`` is not
    registered twice: its version comes back, with a note saying so.
    """
    from .. import export

    loaded = _load(run, workspace_dir)
    name = check_name(name or default_name(loaded))
    c = client(workspace_dir)
    model = _ensure_model(c, name, loaded)
    if (old := _existing(c, name, loaded.run_id)) is not None:
        return to_version(c, c.get_model_version(name, old.version),
                          notes=(f"run {loaded.run_id} is already version {old.version} of {name}: not registered again",))
    with tempfile.TemporaryDirectory(prefix="mlaas-register-") as tmp:
        exported = export.to_onnx(loaded, Path(tmp) / "model.onnx", check_n=check_n, workspace_dir=workspace_dir)
        meta = export.serving_metadata(loaded, exported, workspace_dir=workspace_dir)
        serving = Path(tmp) / "serving.json"
        serving.write_text(json.dumps(meta, indent=2, default=str))
        c.log_artifact(loaded.run_id, str(serving), os.path.dirname(export.SERVING_ARTIFACT))
        with fluent_uri(workspace_dir):  # both read MLflow's global URI (create_model_version to find the logged model)
            model_uri = _log_onnx(c, loaded, exported.path, serving, meta["input_shape"])
            mv = c.create_model_version(name, source=model_uri, run_id=loaded.run_id, tags=_version_tags(loaded, exported),
                                        model_id=model_uri.removeprefix("models:/"))
    alias = CHALLENGER if DEFAULT_ALIAS in (model.aliases or {}) else DEFAULT_ALIAS
    _aliases.move(c, name, alias, int(mv.version), action="register")
    notes = tuple(exported.notes) + (f"version {mv.version} of {name} is its {alias}",)
    return to_version(c, c.get_model_version(name, mv.version), notes=notes)


def _ensure_model(c, name: str, loaded):
    from mlflow.exceptions import MlflowException

    try:
        model = c.get_registered_model(name)
    except MlflowException:
        model = None
    if model is not None:
        held = (model.tags or {}).get("mlaas.model")
        if held and held != loaded.kind:
            raise RegistryError(f"model {name!r} holds {held} models and run {loaded.run_id} has {'an' if loaded.kind[0] in 'aeiou' else 'a'} {loaded.kind} model: "
                                f"register it under another name (its default is {default_name(loaded)!r})")
        return model
    try:
        return c.create_registered_model(name, tags={"mlaas.model": loaded.kind, "mlaas.dataset": str(loaded.dataset)},
                                         description=f"{loaded.kind} model on {loaded.dataset}, registered by mlaas")
    except MlflowException:  # made by another process meanwhile
        return c.get_registered_model(name)
