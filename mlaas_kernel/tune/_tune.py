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
    stopped: int = 0  # trials Ctrl-C stopped (FAIL in Optuna, their runs KILLED)

    @property
    def best_params(self) -> dict:
        return dict(self.best["params"]) if self.best else {}

    @property
    def best_value(self) -> float | None:
        return self.best["value"] if self.best else None

    def summary(self) -> str:
        """What the study did and its best trial, its parameters rounded to 3 significant digits."""
        stopped = f", {self.stopped} stopped" if self.stopped else ""
        lines = [f"study {self.study_name}: {self.complete} complete, {self.pruned} pruned, {self.failed} failed{stopped} in {self.seconds:.0f} s"]
        if self.best:
            lines.append(f"best trial: {self.best['number']}  value {self.best['value']:.4f}  (run {self.best['run_id']})")
            lines += [f"  {key:<18} {value:.3g}" if isinstance(value, float) else f"  {key:<18} {value}"
                      for key, value in sorted(self.best["params"].items())]
        else:
            lines.append("no trial completed")
        lines.append(f"parent run id: {self.parent_run_id}")
        return "\n".join(lines)

    def study(self, workspace_dir: str | os.PathLike | None = None):
        """The Optuna study (for figures and analysis)."""
        return load_study(self.study_name, workspace_dir=workspace_dir)


class StudyInterrupted(KeyboardInterrupt):
    """Ctrl-C (a terminal's, or a kernel interrupt) stopped a study, cleanly: its running trials are FAIL in
    Optuna (tagged ``mlaas.interrupted``; like failed trials they do not count toward the trials a study
    or its ``resume`` runs), their MLflow runs and the parent run KILLED. The message says how to continue; ``result`` is the :class:`StudyResult` so far."""

    def __init__(self, result: StudyResult, message: str):
        super().__init__(message)
        self.result = result


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


def _spec(dataset: str, model: str | None, space, target: str | None, experiment: str, workspace_dir) -> tuple[StudySpec, str]:
    """The study's spec, and the name of what it maximises (``val_accuracy``; ``val_r2`` for a numeric target)."""
    from .. import data

    ds = data.load(dataset, workspace_dir=workspace_dir)
    model = model or ("cnn" if ds.kind == "images" else "forest")
    if model == "cnn" and ds.kind != "images":
        raise TuneError(f"dataset {dataset!r} is a {ds.kind} dataset: the CNN needs images (use --model forest)")
    if model == "forest":
        from ._forest import default_target, table_xy

        target = target or default_target(dataset)
        classify = table_xy(dataset, target, workspace_dir=workspace_dir)[2]  # a wrong target or dataset fails here, not in the workers
    elif target:
        raise TuneError("--target is for table datasets (the CNN learns the dataset's labels)")
    return StudySpec(ds.name, resolve_space(model, space), target, experiment), ("val_accuracy" if model == "cnn" or classify else "val_r2")


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
    which gets the best trial's parameters, metric and model. Ctrl-C (a kernel interrupt) stops the
    study cleanly and raises :class:`StudyInterrupted` (a KeyboardInterrupt) saying how to resume.
    """
    from ..data import workspace
    from ._launch import interrupt_flag, start_workers, watch
    from ._parent import close_parent, open_parent
    from ._progress import StudyProgress, count_trials

    if n_trials < 1 or workers < 1:
        raise TuneError(f"n_trials and workers must be at least 1 (got {n_trials} and {workers})")
    ws = workspace(workspace_dir)
    if resume and study and space is None:
        space = _stored_space(study, ws)  # resuming: the study's own space, unless one is given (and must match)
    spec, metric = _spec(dataset, model, space, target, experiment, ws)
    name = study or default_study_name(spec)
    st = open_study(name, spec, resume=resume, pruner=pruner, startup_trials=startup_trials, workspace_dir=ws, heartbeat=False)
    if not st.metric_names:
        st.set_metric_names([metric])  # optuna-dashboard and the history figure name it, not "Objective 0"
    first = len(st.trials)  # this run's trials are numbered from here (enqueued ones too)
    for params in enqueue:
        st.enqueue_trial(dict(params), skip_if_exists=True)
    prior = count_trials(st)
    until = prior.complete + prior.pruned + n_trials
    t0 = time.perf_counter()
    with interrupt_flag() as stop:  # from here Ctrl-C stops the study cleanly, then StudyInterrupted is raised
        parent = open_parent(st, spec, n_trials=n_trials, workspace_dir=ws)
        bar = StudyProgress(st, total=n_trials, first_number=first, show=progress)
        try:
            report = watch(st, start_workers(name, workers, until=until, deadline=time.time() + timeout if timeout else 0.0, workspace_dir=ws),
                           bar, stop=stop, workspace_dir=ws)
        finally:
            bar.close()
        counts = count_trials(st, first_number=first)
        status = "KILLED" if report.interrupted else ("FINISHED" if counts.complete or prior.complete else "FAILED")
        best = close_parent(st, spec, parent, status=status, workspace_dir=ws)
    result = StudyResult(name, parent, best, counts.complete, counts.pruned, counts.failed, time.perf_counter() - t0,
                         storage_url(ws), spec.describe(), report.notes, report.interrupted, counts.stopped)
    if report.interrupted:
        kept = count_trials(st)
        raise StudyInterrupted(result, f"interrupted: {counts.stopped} trial(s) stopped (their runs KILLED); the study keeps its "
                                       f"{kept.complete + kept.pruned} finished trials; continue with "
                                       f"`mlaas tune {spec.dataset} --study {name} --resume`")
    return result
