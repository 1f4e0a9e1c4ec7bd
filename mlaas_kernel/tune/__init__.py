"""Tuning: Optuna studies over the CNN or the forests, in worker processes that share one study.

>>> from mlaas_kernel import tune
>>> result = tune.tune("mnist", n_trials=20, workers=2)      # TPE, median pruning on val_accuracy
>>> result.best_params, result.parent_run_id

Studies live in ``workspace/optuna/studies.db`` (SQLite, WAL, heartbeats: a killed worker's trial
ends FAIL). Each trial is an MLflow child run of the study's parent run.
"""

from ._figures import study_figures
from ._space import CNN_SPACE, FOREST_SPACE, Param, SearchSpace, default_space
from ._storage import TuneError, storage, storage_path, storage_url
from ._study import PRUNERS, StudySpec, study_names
from ._trials import PruningCallback
from ._tune import StudyInterrupted, StudyResult, load_study, resolve_space, tune

__all__ = ["CNN_SPACE", "FOREST_SPACE", "PRUNERS", "Param", "PruningCallback", "SearchSpace", "StudyInterrupted", "StudyResult", "StudySpec", "TuneError",
           "default_space", "load_study", "resolve_space", "storage", "storage_path", "storage_url", "study_figures", "study_names", "tune"]
