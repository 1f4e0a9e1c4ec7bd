"""The forest's trial: a TabularClassifier (or Regressor, for a numeric target) on a table dataset, one MLflow child run each."""

from __future__ import annotations

from ._storage import TuneError
from ._trials import COMPLETE, trial_tags, worker_id

# Defaults for bundled tables: the target, and the columns that do not give it away.
TABLE_DEFAULTS = {"gpu-benchmarks": ("primary_category", ["G3Dmark", "G2Dmark", "price", "TDP", "testDate", "brand"])}
MAX_CATEGORIES = 50  # text columns with more distinct values (names, ids) are not features


def default_target(dataset: str) -> str | None:
    return TABLE_DEFAULTS.get(dataset, (None, None))[0]


def table_xy(dataset: str, target: str | None, *, workspace_dir=None):
    """Features, target and whether it is a classification, for ``dataset``'s table."""
    from .. import data

    ds = data.load(dataset, workspace_dir=workspace_dir)
    if ds.kind != "table":
        raise TuneError(f"dataset {dataset!r} is a {ds.kind} dataset: tune it with --model cnn")
    table = ds.table()
    target = target or default_target(dataset)
    if not target:
        raise TuneError(f"dataset {dataset!r}: name the column to predict with --target (columns: {', '.join(map(str, table.columns))})")
    if target not in table.columns:
        raise TuneError(f"dataset {dataset!r} has no column {target!r}; columns: {', '.join(map(str, table.columns))}")
    table = table[table[target].notna()]
    features = TABLE_DEFAULTS[dataset][1] if dataset in TABLE_DEFAULTS and target == default_target(dataset) else [
        c for c in table.columns if c != target and (table[c].dtype.kind in "biuf" or table[c].nunique() <= MAX_CATEGORIES)]
    y = table[target]
    classify = y.dtype.kind not in "iuf" or y.nunique() <= 20
    return table[features], (y.astype(str) if classify else y.astype(float)), classify


class ForestObjective:
    """Fits a forest with the trial's parameters on 75 % of the table; returns accuracy (or R²) on the other 25 %."""

    def __init__(self, spec, parent_run_id: str | None, *, workspace_dir=None, random_state: int = 0):
        from sklearn.model_selection import train_test_split

        self.spec, self.parent_run_id, self.workspace_dir, self.random_state = spec, parent_run_id, workspace_dir, random_state
        X, y, self.classify = table_xy(spec.dataset, spec.target, workspace_dir=workspace_dir)
        self.split = train_test_split(X, y, test_size=0.25, random_state=random_state, stratify=y if self.classify else None)

    def __call__(self, trial) -> float:
        from sklearn.metrics import accuracy_score, r2_score

        from ..track import log_estimator
        from ..train import TabularClassifier, TabularRegressor

        trial.set_user_attr("mlaas.worker", worker_id())
        params = self.spec.space.suggest(trial)
        X_train, X_test, y_train, y_test = self.split
        model = (TabularClassifier if self.classify else TabularRegressor)(random_state=self.random_state, **params).fit(X_train, y_train)
        pred = model.predict(X_test)
        key, value = ("val_accuracy", accuracy_score(y_test, pred)) if self.classify else ("val_r2", r2_score(y_test, pred))
        run_id = log_estimator(model, name=f"{trial.study.study_name}-{trial.number}", metrics={key: value},
                               params={"dataset": self.spec.dataset, "target": self.spec.target},
                               tags={**trial_tags(trial.study, trial, self.parent_run_id), "mlaas.trial.state": COMPLETE},
                               experiment=self.spec.experiment, workspace_dir=self.workspace_dir)
        trial.set_user_attr("mlflow_run_id", run_id)
        trial.set_user_attr("metric", key)
        return float(value)
