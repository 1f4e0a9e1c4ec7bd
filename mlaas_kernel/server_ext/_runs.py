"""The overview's runs: the newest runs of every MLflow experiment with the metric they are read by.

A pipeline's own MLflow run (``mlaas.kind=pipeline``, experiment ``pipelines``) is left out: the Pipelines
section lists those runs, and the runs their steps made (children of it) are the ones to read here.
"""

from __future__ import annotations

from pathlib import Path

from .._key_metric import key_metric as _first_metric
from . import _mlflow

PER_EXPERIMENT = 20
_BY_KIND = {"embedding": ("silhouette", "val_silhouette"), "cnn": ("val_accuracy",)}


def run_kind(tags: dict) -> str | None:
    """``study``/``pipeline`` (a parent run's ``mlaas.kind``), ``estimator`` (a tabular run), else ``mlaas.model`` (``cnn``, ``embedding``)."""
    if tags.get("mlaas.kind"):
        return tags["mlaas.kind"]
    if "mlaas.estimator" in tags:
        return "estimator"
    return tags.get("mlaas.model") or ("cnn" if "mlaas.dataset" in tags else None)


def _study_metric(metrics: dict) -> dict | None:
    """A study parent's best objective value (``best_<metric>``, as ``mlaas_kernel.tune`` logs it), never
    ``best_trial`` (a trial number) or the ``trials_<state>`` counts; None before a trial completed."""
    named = sorted(k for k, v in metrics.items() if k.startswith("best_") and k != "best_trial" and v is not None)
    return {"name": named[0], "value": float(metrics[named[0]])} if named else None


def key_metric(metrics: dict, kind: str | None) -> dict | None:
    """``{"name", "value"}`` of the metric the run is judged by, or None when it has none."""
    if kind == "study":
        return _study_metric(metrics)
    found = _first_metric(metrics, _BY_KIND.get(kind or "", ()))
    return {"name": found[0], "value": found[1]} if found else None


def _trial(tags: dict) -> int | None:
    """The Optuna trial number of a study's trial run (``mlaas.trial.number``), else None."""
    try:
        return int(tags["mlaas.trial.number"])
    except (KeyError, ValueError):
        return None


def _row(run, uri: str, experiment: str) -> dict:
    info, tags = run.info, dict(run.data.tags)
    kind = run_kind(tags)
    return {"run_id": info.run_id, "name": info.run_name, "status": info.status, "experiment": experiment,
            "experiment_id": info.experiment_id, "dataset": tags.get("mlaas.dataset"), "kind": kind,
            "study": tags.get("mlaas.study"), "trial": _trial(tags), "metric": key_metric(dict(run.data.metrics), kind), "started": info.start_time, "ended": info.end_time,
            "parent": tags.get("mlflow.parentRunId"), "pipeline": tags.get("mlaas.pipeline.run"),
            "open": _mlflow.ui_link(uri, f"#/experiments/{info.experiment_id}/runs/{info.run_id}{_mlflow.TRAINING_VIEW}")}


def runs(ws: Path) -> list[dict]:
    """The newest runs of every active experiment, newest first; pipeline runs left out (see the module's doc)."""
    uri = _mlflow.store_uri(ws)
    if uri is None:
        return []
    c = _mlflow.client(uri)
    rows = []
    for exp in c.search_experiments():
        found = c.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=PER_EXPERIMENT)
        rows.extend(row for row in (_row(r, uri, exp.name) for r in found) if row["kind"] != "pipeline")
    return sorted(rows, key=lambda r: -(r["started"] or 0))
