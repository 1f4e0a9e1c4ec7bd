"""``tune()``: a study on a dataset, its trials in worker processes, its parent MLflow run, its progress bar."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from ._space import SearchSpace, default_space
from ._storage import TuneError, storage_url
from ._study import StudySpec, default_study_name, open_study


@dataclass
class StudyResult:
    """What a study run did: its name, parent run, best trial (number, value, params, run id) and trial counts."""

    study_name: str
    parent_run_id: str
    best: dict | None
    complete: int
    pruned: int
    failed: int
    seconds: float
    storage: str
    search_space: str = ""
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def best_params(self) -> dict:
        return dict(self.best["params"]) if self.best else {}

    @property
    def best_value(self) -> float | None:
        return self.best["value"] if self.best else None

    def study(self, workspace_dir: str | os.PathLike | None = None):
        """The Optuna study (for figures and analysis)."""
        return load_study(self.study_name, workspace_dir=workspace_dir)


def load_study(name: str, *, workspace_dir: str | os.PathLike | None = None):
    """An existing study of the workspace, read-only use (no heartbeats)."""
    return open_study(name, None, resume=True, workspace_dir=workspace_dir, heartbeat=False)


def resolve_space(model: str, space: SearchSpace | Iterable[str] | Mapping[str, str] | None) -> SearchSpace:
    """``space`` as a :class:`SearchSpace`: the model's default, or it with ``NAME=LOW:HIGH[:log]`` overrides
    (a list of those strings, or a mapping ``{"max_lr": "1e-3:1e-2:log"}``)."""
    if isinstance(space, SearchSpace):
        if space.model != model:
            raise TuneError(f"the search space is for {space.model}, the study trains {model}")
        return space
    base = default_space(model)
    if space is None:
        return base
    if isinstance(space, Mapping):
        space = [f"{k}={v}" for k, v in space.items()]
    if isinstance(space, str):
        space = [space]
    return base.override(list(space))


def _spec(dataset: str, model: str | None, space, target: str | None, experiment: str, workspace_dir) -> StudySpec:
    from .. import data

    ds = data.load(dataset, workspace_dir=workspace_dir)
    model = model or ("cnn" if ds.kind == "images" else "forest")
    if model == "cnn" and ds.kind != "images":
        raise TuneError(f"dataset {dataset!r} is a {ds.kind} dataset: the CNN needs images (use --model forest)")
    if model == "forest":
        from ._forest import default_target, table_xy

        target = target or default_target(dataset)
        table_xy(dataset, target, workspace_dir=workspace_dir)  # a wrong target or dataset fails here, not in the workers
    elif target:
        raise TuneError("--target is for table datasets (the CNN learns the dataset's labels)")
    return StudySpec(ds.name, resolve_space(model, space), target, experiment)


def _stored_space(name: str, ws) -> SearchSpace | None:
    from ._study import study_names

    if name not in study_names(ws):
        return None  # open_study says there is no such study
    return SearchSpace.from_json(load_study(name, workspace_dir=ws).user_attrs["mlaas.space"])


def tune(dataset: str, *, n_trials: int = 20, workers: int = 1, study: str | None = None, resume: bool = False,
         model: str | None = None, space=None, target: str | None = None, pruner: str = "median", startup_trials: int = 3,
         timeout: float | None = None, enqueue: Iterable[dict] = (), experiment: str = "mlaas",
         workspace_dir: str | os.PathLike | None = None, progress: bool = True) -> StudyResult:
    """Run an Optuna study on ``dataset`` (TPE sampler), its trials in ``workers`` processes; returns a :class:`StudyResult`.

    ``model`` is ``cnn`` (image datasets, the default there) or ``forest`` (tables; ``target`` names the
    column to predict). ``space`` overrides the default search space (see :func:`resolve_space`).
    ``pruner`` (``median`` after ``startup_trials`` trials, ``hyperband`` or ``none``) stops trials whose
    per-epoch validation accuracy lags. ``study`` names the study (default ``DATASET-MODEL-TIME``);
    ``resume`` adds ``n_trials`` to an existing one. ``timeout`` (seconds): no trial starts after it.
    ``enqueue``: parameter sets tried first. Every trial is an MLflow child run of the study's parent run,
    which gets the best trial's parameters, metric and model.
    """
    from ..data import workspace
    from ._launch import start_workers, watch
    from ._parent import close_parent, open_parent
    from ._progress import StudyProgress, count_trials

    if n_trials < 1 or workers < 1:
        raise TuneError(f"n_trials and workers must be at least 1 (got {n_trials} and {workers})")
    ws = workspace(workspace_dir)
    if resume and study and space is None:
        space = _stored_space(study, ws)  # resuming: the study's own space, unless one is given (and must match)
    spec = _spec(dataset, model, space, target, experiment, ws)
    name = study or default_study_name(spec)
    st = open_study(name, spec, resume=resume, pruner=pruner, startup_trials=startup_trials, workspace_dir=ws, heartbeat=False)
    first = len(st.trials)  # this run's trials are numbered from here (enqueued ones too)
    for params in enqueue:
        st.enqueue_trial(dict(params), skip_if_exists=True)
    prior = count_trials(st)
    until = prior.complete + prior.pruned + n_trials
    parent = open_parent(st, spec, n_trials=n_trials, workspace_dir=ws)
    t0 = time.perf_counter()
    bar = StudyProgress(st, total=n_trials, first_number=first, show=progress)
    try:
        report = watch(st, start_workers(name, workers, until=until, deadline=time.time() + timeout if timeout else 0.0, workspace_dir=ws), bar, workspace_dir=ws)
    finally:
        bar.close()
    counts = count_trials(st, first_number=first)
    status = "KILLED" if report.interrupted else ("FINISHED" if counts.complete or prior.complete else "FAILED")
    best = close_parent(st, spec, parent, status=status, workspace_dir=ws)
    return StudyResult(name, parent, best, counts.complete, counts.pruned, counts.failed, time.perf_counter() - t0,
                       storage_url(ws), spec.describe(), report.notes, report.interrupted)
