"""``bundle(ref)``: the local serving folder of a registered version, ``workspace/serving/<name>/<version>/``:
``model.onnx`` (one self-contained file), ``serving.json`` and ``version.json`` (name, version, run id, aliases).

Downloaded once from the tracking store (the version's ONNX model, the run's ``serving/serving.json``);
later calls check the three files and the run id and only refresh ``version.json`` when the aliases
moved, and serving.json's ``"conformal"`` when the run's LAC calibration changed since (``_calibration``:
``mlaas conformal RUN`` after ``mlaas models register``). The folder is built under a temporary name beside its place and renamed into it, so a reader
(an endpoint swapping versions) never sees half a bundle.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path

from . import _calibration
from ._errors import ExportError
from ._metadata import SERVING_ARTIFACT

FILES = ("model.onnx", "serving.json", "version.json")


def _version_json(v) -> dict:
    return {"name": v.name, "version": int(v.version), "run_id": v.run_id, "aliases": sorted(v.aliases), "source": v.source,
            "created": v.created}


def _cached(dest: Path, v) -> bool:
    """True when ``dest`` holds this version's bundle (its version.json refreshed when the aliases moved)."""
    from .._atomic import atomic_write

    if not all((dest / f).is_file() for f in FILES):
        return False
    try:
        held = json.loads((dest / "version.json").read_text())
    except (OSError, ValueError):
        return False
    if held.get("run_id") != v.run_id or held.get("version") != int(v.version):
        return False
    if held.get("aliases") != sorted(v.aliases):
        atomic_write(dest / "version.json", lambda p: p.write_text(json.dumps(_version_json(v), indent=2)))
    return True


def _model_files(c, v, tmp: str) -> Path | None:
    """The version's logged ONNX model downloaded into ``tmp`` (its logged-model artifacts, else the run's ``onnx_model/``)."""
    import mlflow.artifacts

    if v.source.startswith("models:/m-"):
        try:
            location = c.get_logged_model(v.source.removeprefix("models:/")).artifact_location
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=tmp))
        except Exception:  # MLflow raises several types for a missing model; the run's copy is tried next
            pass
    try:
        return Path(c.download_artifacts(v.run_id, "onnx_model", tmp))
    except Exception:
        return None


def _download_onnx(c, v, into: Path) -> Path:
    """The version's ONNX model saved as one file ``into/model.onnx`` (external weights, if any, folded in)."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="mlaas-bundle-") as tmp:
        local = _model_files(c, v, tmp)
        found = (sorted(local.rglob("*.onnx")) if local.is_dir() else [local]) if local is not None else []
        if not found:
            raise ExportError(f"model {v.name} version {v.version}: no ONNX model at {v.source} nor in run {v.run_id}'s onnx_model/")
        onnx.save_model(onnx.load(str(found[0])), str(into / "model.onnx"))
    return into / "model.onnx"


def _download_serving(c, v, into: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="mlaas-bundle-") as tmp:
        try:
            local = c.download_artifacts(v.run_id, SERVING_ARTIFACT, tmp)
        except Exception as exc:
            raise ExportError(f"model {v.name} version {v.version}: run {v.run_id} has no {SERVING_ARTIFACT} ({type(exc).__name__}); "
                              "register the run again with `mlaas models register`") from None
        shutil.copyfile(local, into / "serving.json")
    return into / "serving.json"


def _build(c, v, dest: Path) -> Path:
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.tmp")
    tmp.mkdir(parents=True)
    try:
        _download_onnx(c, v, tmp)
        _calibration.refresh(c, _download_serving(c, v, tmp))
        (tmp / "version.json").write_text(json.dumps(_version_json(v), indent=2))
        if dest.exists():  # a stale or partial bundle: moved aside first (a folder cannot be renamed over a full one)
            stale = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.old")
            try:
                dest.rename(stale)
            except FileNotFoundError:
                stale = None
            else:
                shutil.rmtree(stale, ignore_errors=True)
        try:
            tmp.rename(dest)
        except OSError:  # another process put a bundle there meanwhile
            if not _cached(dest, v):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def bundle(ref, *, workspace_dir: str | os.PathLike | None = None) -> Path:
    """The serving folder of the version ``ref`` resolves to (``NAME@ALIAS``, ``NAME/VERSION``, ``NAME``, or a
    ``registry.Version``): ``workspace/serving/<name>/<version>/`` with ``model.onnx``, ``serving.json`` and
    ``version.json``, downloaded on first use, a file check after (and a check of the run's LAC calibration,
    refreshing serving.json's ``"conformal"`` when the run was calibrated since)."""
    from .. import registry
    from ..data import workspace
    from ..track import setup

    v = ref if isinstance(ref, registry.Version) else registry.resolve(ref, workspace_dir=workspace_dir)
    dest = workspace(workspace_dir) / "serving" / v.name / str(int(v.version))
    c = setup(workspace_dir=workspace_dir)[0]
    if _cached(dest, v):
        _calibration.refresh(c, dest / "serving.json")  # a run calibrated since: its sets served from now on
        return dest
    return _build(c, v, dest)
