"""A tabular model's task, recorded on its run so its test split can be rebuilt: which dataset,
how its features are prepared, the target, the features, the test size and the seed.

Notebook 04b trains through :meth:`TabularTask.fit_and_log`; ``mlaas evaluate RUN`` reads the
task back with :meth:`TabularTask.from_run` and evaluates on the very rows the run was tested on.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field

TASK_TAG = "mlaas.tabular.task"


class TaskError(ValueError):
    """A task that cannot be built or read back; the message says why."""


def gpu_features(table):
    """The GPU table with the features notebook 04b predicts from: ``log_price`` (log10 of the
    price; missing stays missing) and ``age`` (years before the newest test in the table)."""
    import numpy as np

    out = table.copy()
    price = out["price"].astype(float)
    out["log_price"] = np.log10(price.where(price > 0))
    out["age"] = out["testDate"].max() - out["testDate"]
    return out


# name -> function(table) -> table with the task's features; the name is what a run records.
PREPARE = {"none": lambda table: table, "gpu_features": gpu_features}


@dataclass
class TabularTask:
    """What a tabular model learns and how its rows are split (``sklearn.model_selection.train_test_split``)."""

    target: str
    features: list[str]
    kind: str = "regression"  # or "classification"
    dataset: str = "gpu-benchmarks"
    prepare: str = "gpu_features"
    test_size: float = 0.25
    random_state: int = 0
    stratify: bool = False
    drop_target_values: list[str] = field(default_factory=list)  # rows whose target is one of these are left out
    group: str | None = None  # a column to break errors down by (regression: error by category)

    def __post_init__(self):
        if self.kind not in ("classification", "regression"):
            raise TaskError(f"kind {self.kind!r}: expected 'classification' or 'regression'")
        if self.prepare not in PREPARE:
            raise TaskError(f"feature preparation {self.prepare!r} is not one of {sorted(PREPARE)}")
        if not 0 < float(self.test_size) < 1:
            raise TaskError(f"test_size {self.test_size} must be between 0 and 1")

    @classmethod
    def gpu_category(cls, *, test_size: float = 0.25, random_state: int = 0) -> "TabularTask":
        """A GPU's primary category (Desktop, Mobile, Workstation) from its marks, price, TDP, age and brand."""
        return cls("primary_category", ["G3Dmark", "G2Dmark", "log_price", "TDP", "age", "brand"], "classification",
                   test_size=test_size, random_state=random_state, stratify=True, drop_target_values=["Unknown"])

    @classmethod
    def gpu_g3dmark(cls, *, test_size: float = 0.25, random_state: int = 0) -> "TabularTask":
        """A GPU's G3Dmark from everything else; errors broken down by primary category."""
        return cls("G3Dmark", ["G2Dmark", "log_price", "TDP", "age", "brand", "primary_category"], "regression",
                   test_size=test_size, random_state=random_state, group="primary_category")

    def tags(self) -> dict[str, str]:
        """What goes on the run: the whole task as JSON, and the dataset as every run names it."""
        return {TASK_TAG: json.dumps(asdict(self), sort_keys=True), "mlaas.dataset": self.dataset}

    def params(self) -> dict[str, str]:
        """The task as readable run parameters (the tag is what :meth:`from_run` reads)."""
        return {"target": self.target, "features": ",".join(self.features), "test_size": str(self.test_size),
                "split_seed": str(self.random_state)}

    @classmethod
    def from_run(cls, run) -> "TabularTask":
        """The task recorded on an MLflow run; :class:`TaskError` when it has none."""
        text = run.data.tags.get(TASK_TAG)
        if not text:
            raise TaskError(f"run {run.info.run_id} ({run.info.run_name}) does not record its dataset, target, features and split "
                            f"(no {TASK_TAG} tag), so its test rows cannot be rebuilt: train it again with notebook 04b "
                            "(or TabularTask.fit_and_log)")
        try:
            return cls(**json.loads(text))
        except (TypeError, ValueError) as exc:
            raise TaskError(f"run {run.info.run_id}: its {TASK_TAG} tag is unreadable ({exc})") from None

    def frame(self, *, workspace_dir: str | os.PathLike | None = None):
        """The dataset's rows this task uses (target known, not dropped), features prepared."""
        from ..data import load

        table = PREPARE[self.prepare](load(self.dataset, workspace_dir=workspace_dir).table())
        missing = [c for c in [self.target, *self.features, *([self.group] if self.group else [])] if c not in table.columns]
        if missing:
            raise TaskError(f"dataset {self.dataset!r} has no column(s) {missing}")
        keep = table[self.target].notna() & ~table[self.target].astype(str).isin(self.drop_target_values)
        return table[keep]

    def split(self, *, workspace_dir: str | os.PathLike | None = None):
        """``X_train, X_test, y_train, y_test`` as the run had them (``X_test`` keeps the dataset's row index)."""
        from sklearn.model_selection import train_test_split

        rows = self.frame(workspace_dir=workspace_dir)
        y = rows[self.target].astype(str) if self.kind == "classification" else rows[self.target].astype(float)
        return train_test_split(rows[self.features], y, test_size=self.test_size, random_state=self.random_state,
                                stratify=y if self.stratify else None)

    def fit_and_log(self, estimator, *, name: str, experiment: str = "mlaas",
                    workspace_dir: str | os.PathLike | None = None) -> tuple[str, dict[str, float]]:
        """Fit ``estimator`` on the training rows, score it on the test rows (accuracy, or R² and MAE),
        and record it with this task as a finished MLflow run; returns ``(run id, metrics)``."""
        from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score

        from ..data import load
        from ..track import log_estimator

        X_train, X_test, y_train, y_test = self.split(workspace_dir=workspace_dir)
        estimator.fit(X_train, y_train)
        pred = estimator.predict(X_test)
        metrics = ({"accuracy": float(accuracy_score(y_test, pred))} if self.kind == "classification"
                   else {"r2": float(r2_score(y_test, pred)), "mae": float(mean_absolute_error(y_test, pred))})
        fingerprint = load(self.dataset, workspace_dir=workspace_dir).manifest.get("fingerprint")
        tags = {**self.tags(), **({"mlaas.dataset.fingerprint": str(fingerprint)} if fingerprint else {})}
        run_id = log_estimator(estimator, name=name, metrics=metrics, params=self.params(), tags=tags,
                               experiment=experiment, workspace_dir=workspace_dir)
        return run_id, {k: v for k, v in metrics.items() if not math.isnan(v)}
