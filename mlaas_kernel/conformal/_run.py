"""Conformal calibration of a tracked run's model, logged back onto the run.

:func:`calibrate_run` calibrates on one half of the run's validation split and measures coverage
and set size on the other half; :func:`log_calibration` stores the sets, the metrics and the
calibration (``conformal/calibration_<name>.json``, what serving can load) on the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._checks import ConformalInputError, check_significance
from ._predictor import ConformalClassifier
from ._scores import APS, LAC, KNNScore

__all__ = ["RunCalibration", "calibrate_run", "log_calibration", "metric_key"]


@dataclass
class RunCalibration:
    """What :func:`calibrate_run` found; ``table`` has one row per evaluation item."""

    run_id: str
    name: str  # score, with "-mondrian" when class-conditional
    significance: float
    predictor: ConformalClassifier
    summary: dict
    table: Any
    n_calibration: int
    features: str | None = None  # what the kNN score measured distances on
    notes: list[str] = field(default_factory=list)


def metric_key(kind: str, name: str, significance: float) -> str:
    """``conformal_<kind>_<name>_<level>``, e.g. ``conformal_coverage_lac_0.05``."""
    return f"conformal_{kind}_{name}_{significance:g}"


def _split_validation(val_idx: np.ndarray, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(random_state).permutation(val_idx)
    half = len(order) // 2
    return np.sort(order[:half]), np.sort(order[half:])


def _scorer(score: str, model, images, y, train_idx, *, k: int, embedding, random_state: int):
    """The scorer and its inputs' transform: probabilities for lac/aps, features for knn."""
    if score in ("lac", "aps"):
        scorer = LAC(model.classes_) if score == "lac" else APS(model.classes_, random_state=random_state)
        return scorer, model.predict_proba, None
    if score != "knn":
        raise ConformalInputError(f"score {score!r} is not one of lac, aps, knn")
    if embedding is None:
        from ._features import PixelPCA

        embedding = PixelPCA(random_state=random_state).fit(images[train_idx])
    describe = getattr(embedding, "describe", None)
    scorer = KNNScore(k=k).fit(embedding.transform(images[train_idx]), y[train_idx])
    return scorer, embedding.transform, describe() if describe else type(embedding).__name__


def calibrate_run(run: str, *, significance: float = 0.05, score: str = "lac", mondrian: bool = False, k: int = 10,
                  embedding=None, random_state: int = 0, log: bool = True,
                  workspace_dir: str | os.PathLike | None = None) -> RunCalibration:
    """Calibrate run ``run``'s model on half of its validation split; evaluate on the other half.

    ``score`` is ``lac``, ``aps`` or ``knn``; the kNN score measures distances in ``embedding``
    (anything with ``transform(images)``, fitted on the training items) or, when None, in PCA
    components of the pixels. ``log`` stores the result on the run (:func:`log_calibration`).
    """
    from .. import data
    from ..models import load_run_model
    from ..train import split_dataset

    level = check_significance(significance)
    loaded = load_run_model(run, workspace_dir=workspace_dir)
    if loaded.dataset is None:
        raise ConformalInputError(f"run {loaded.run_id} names no dataset (tag mlaas.dataset): cannot find its validation split")
    ds = data.load(loaded.dataset, workspace_dir=workspace_dir)
    if ds.kind != "images":
        raise ConformalInputError(f"run {loaded.run_id} was trained on the {ds.kind} dataset {ds.name!r}: conformal "
                                  "calibration of runs covers image classifiers for now")
    images, y = ds.images(), ds.labels()
    train_idx, val_idx = split_dataset(ds)
    cal_idx, test_idx = _split_validation(val_idx, random_state)
    scorer, inputs, features = _scorer(score, loaded.model, images, y, train_idx, k=k, embedding=embedding, random_state=random_state)
    predictor = ConformalClassifier(scorer, mondrian=mondrian, random_state=random_state)
    predictor.calibrate(inputs(images[cal_idx]), y[cal_idx])
    test_scores = scorer.score(inputs(images[test_idx]))
    summary = predictor.evaluate_scores(test_scores, y[test_idx], level)
    table = _table(predictor, test_scores, level, y[test_idx], test_idx)
    name = score + ("-mondrian" if mondrian else "")
    notes = [f"calibrated on {len(cal_idx)} of the {len(val_idx)} validation items; evaluated on the other {len(test_idx)}"]
    if features:
        notes.append(f"kNN distances on {features}")
    result = RunCalibration(loaded.run_id, name, level, predictor, summary, table, len(cal_idx), features, notes)
    if log:
        log_calibration(result, workspace_dir=workspace_dir)
    return result


def _table(predictor: ConformalClassifier, scores, level: float, y, ids):
    from ._predictor import sets_table

    return sets_table(predictor.p_values_scores(scores), level, predictor.classes_, y=y, ids=ids)


def log_calibration(result: RunCalibration, *, workspace_dir: str | os.PathLike | None = None) -> list[str]:
    """Log ``result`` onto its run: the sets (``conformal/sets_<name>_<level>.parquet``), the calibration
    (``conformal/calibration_<name>.json``) and the metrics; returns the artifact paths."""
    import json
    import tempfile
    import time
    from pathlib import Path

    from mlflow.entities import Metric

    from ..track import setup

    client, _ = setup(workspace_dir=workspace_dir)
    level = f"{result.significance:g}"
    sets_name, cal_name = f"sets_{result.name}_{level}.parquet", f"calibration_{result.name}.json"
    with tempfile.TemporaryDirectory() as tmp:
        table = result.table.reset_index()
        table["set"] = table["set"].map(lambda s: [str(v) for v in s])
        table.to_parquet(Path(tmp) / sets_name, index=False)
        calibration = {**result.predictor.to_dict(), "features": result.features, "n_calibration": result.n_calibration}
        (Path(tmp) / cal_name).write_text(json.dumps(calibration))
        client.log_artifact(result.run_id, str(Path(tmp) / sets_name), "conformal")
        client.log_artifact(result.run_id, str(Path(tmp) / cal_name), "conformal")
    now = int(time.time() * 1000)
    client.log_batch(result.run_id, metrics=[
        Metric(metric_key("coverage", result.name, result.significance), result.summary["coverage"], now, 0),
        Metric(metric_key("mean_set_size", result.name, result.significance), result.summary["mean_set_size"], now, 0)])
    return [f"conformal/{sets_name}", f"conformal/{cal_name}"]
