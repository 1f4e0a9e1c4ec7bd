"""Registering the best run of an experiment by a metric (the siamese model by its silhouette, a classifier by its accuracy)."""

from __future__ import annotations

import os

from ._lineage import EMBEDDING_METRICS, lower_is_better as lower_default, run_kind
from ._refs import RegistryError
from ._register import register
from ._versions import client

KINDS = ("cnn", "embedding", "estimator")


def kinds_for(metric: str, model: str | None) -> tuple[str, ...]:
    """The run kinds ``metric`` compares: ``model`` when given (``any`` for all); else embedding runs for an
    embedding's metrics (silhouette, knn_accuracy) and classifier/tabular runs otherwise (an embedding's
    ``val_accuracy`` is its kNN accuracy, not comparable with a classifier's)."""
    if model == "any":
        return KINDS
    if model is not None:
        if model not in KINDS:
            raise RegistryError(f"model kind {model!r} is not one of {', '.join(KINDS)} or any")
        return (model,)
    return ("embedding",) if metric in EMBEDDING_METRICS else ("cnn", "estimator")


def _finished(c, metric: str, experiment: str, lower: bool) -> list:
    from mlflow.exceptions import MlflowException

    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        names = sorted(e.name for e in c.search_experiments())
        raise RegistryError(f"no experiment {experiment!r} (experiments: {', '.join(names) or 'none'})")
    try:
        return c.search_runs([exp.experiment_id], filter_string="attributes.status = 'FINISHED'",
                             order_by=[f"metrics.`{metric}` {'ASC' if lower else 'DESC'}"], max_results=1000)
    except MlflowException as exc:
        raise RegistryError(f"cannot search runs by {metric!r}: {exc}") from None


def candidates(c, metric: str, experiment: str, *, lower: bool, kinds: tuple[str, ...], dataset: str | None) -> list:
    """Finished runs with ``metric``, of ``kinds`` (and ``dataset``), best first; RegistryError naming what there is."""
    finished = _finished(c, metric, experiment, lower)
    # A tuning study's parent run repeats its best trial's metric; the trial itself is the run to register.
    found = [r for r in finished if metric in r.data.metrics and r.data.tags.get("mlaas.kind") != "study"
             and run_kind(r) in kinds and (dataset is None or r.data.tags.get("mlaas.dataset") == dataset)]
    if not found:
        have = sorted({k for r in finished for k in r.data.metrics})
        which = f"{'/'.join(kinds)} run" + (f" on {dataset!r}" if dataset else "")
        raise RegistryError(f"no finished {which} of experiment {experiment!r} has a metric {metric!r} "
                            f"(metrics its finished runs have: {', '.join(have) or 'none'})")
    datasets = sorted({str(r.data.tags.get("mlaas.dataset")) for r in found})
    if len(datasets) > 1:
        raise RegistryError(f"runs with {metric!r} are on {len(datasets)} datasets ({', '.join(datasets)}): "
                            "say which (--dataset NAME)")
    return found


def register_best(metric: str, experiment: str = "mlaas", name: str | None = None, *, lower_is_better: bool | None = None,
                  model: str | None = None, dataset: str | None = None, check_n: int = 1000,
                  workspace_dir: str | os.PathLike | None = None):
    """Register the finished run of ``experiment`` with the best ``metric`` (see :func:`register`); returns its Version.

    Higher is better unless the metric is a loss or an error (``loss``, ``mae``, ``rmse``...);
    ``lower_is_better`` overrides. ``model`` (cnn, embedding, estimator, any) picks the kind of run,
    by default the kind the metric judges (see :func:`kinds_for`); ``dataset`` is needed when runs
    with the metric are on several. A run whose model cannot be loaded is skipped, with a note.
    """
    lower = lower_default(metric) if lower_is_better is None else bool(lower_is_better)
    c = client(workspace_dir)
    runs = candidates(c, metric, experiment, lower=lower, kinds=kinds_for(metric, model), dataset=dataset)
    skipped = []
    for run in runs:
        value = run.data.metrics[metric]
        try:
            version = register(run.info.run_id, name, check_n=check_n, workspace_dir=workspace_dir)
        except RegistryError as exc:  # no model (its files gone): the next best
            skipped.append(f"skipped run {run.info.run_id} ({metric} {value:.4g}): {exc}")
            continue
        from dataclasses import replace

        best = (f"best of {len(runs)} run(s) by {metric} ({'lowest' if lower else 'highest'}): "
                f"{run.info.run_id} ({run.info.run_name}) with {value:.4g}")
        return replace(version, notes=(best, *skipped, *version.notes))
    raise RegistryError(f"no run with {metric!r} has a registrable model:\n  " + "\n  ".join(skipped))
