"""Lineage: what a registered version was made from (dataset manifest hash, label snapshot, code, run) and its key metric."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

PREFIX = "mlaas.lineage."
LOWER_IS_BETTER = ("loss", "error", "mae", "mse", "rmse", "mape")  # metric names (or their endings) where less is better


def lower_is_better(metric: str) -> bool:
    """True for losses and errors (``val_loss``, ``mae``, ``error_rate``...); the rest (accuracy, silhouette, r2) are higher-is-better."""
    words = metric.lower().replace("-", "_").split("_")
    return any(w in LOWER_IS_BETTER for w in words)


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """This package's version, with the git commit (``+g<sha>``, ``.dirty`` when files differ) when it runs from a checkout."""
    from .. import __version__

    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return __version__
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "--", str(here.parent)],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):  # no git on the machine: the version alone
        return __version__
    return f"{__version__}+g{sha.stdout.strip()}" + (".dirty" if dirty.stdout.strip() else "")


EMBEDDING_METRICS = ("silhouette", "val_silhouette", "knn_accuracy")  # only embedding runs have these


def run_kind(run) -> str:
    """``cnn``, ``embedding`` (mlaas train runs, by their ``mlaas.model`` tag) or ``estimator`` (a tabular run)."""
    tags = run.data.tags
    return "estimator" if "mlaas.estimator" in tags else tags.get("mlaas.model", "cnn")


def key_metric(loaded) -> str:
    """The metric a run's model is judged by: a CNN's ``val_accuracy``, an embedding's ``silhouette``,
    a tabular classifier's ``accuracy`` or regressor's ``r2`` (on the task's test rows)."""
    if loaded.kind == "embedding":
        return "silhouette"
    if loaded.kind == "estimator":
        return "r2" if _task_kind(loaded.run) == "regression" else "accuracy"
    return "val_accuracy"


def _task_kind(run) -> str | None:
    from ..evaluate import TASK_TAG

    try:
        return json.loads(run.data.tags.get(TASK_TAG, "{}")).get("kind")
    except ValueError:
        return None


def default_name(loaded) -> str:
    """``<dataset>-cnn``, ``<dataset>-embedding``, ``<dataset>-classification`` / ``-regression`` (a tabular run)."""
    dataset = loaded.dataset or "model"
    if loaded.kind == "estimator":
        return f"{dataset}-{_task_kind(loaded.run) or 'estimator'}"
    return f"{dataset}-{loaded.kind}"


def lineage_tags(loaded) -> dict[str, str]:
    """The ``mlaas.lineage.*`` tags of a version made from ``loaded``'s run."""
    tags = loaded.run.data.tags
    return {f"{PREFIX}dataset": str(loaded.dataset or "unknown"),
            f"{PREFIX}dataset_fingerprint": tags.get("mlaas.dataset.fingerprint", "unknown"),
            f"{PREFIX}label_snapshot": tags.get("mlaas.labels.snapshot", "none"),
            f"{PREFIX}code_version": code_version(),
            f"{PREFIX}run_id": loaded.run_id,
            f"{PREFIX}model_kind": loaded.kind}
