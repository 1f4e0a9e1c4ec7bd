"""Creating and reopening a study, with what it searches stored beside it (user attributes)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from ._space import SearchSpace
from ._storage import TuneError, storage

PRUNERS = ("median", "hyperband", "none")


@dataclass(frozen=True)
class StudySpec:
    """What a study is about: a dataset, a model kind and its search space (and, for tables, a target)."""

    dataset: str
    space: SearchSpace
    target: str | None = None
    experiment: str = "mlaas"

    def attrs(self) -> dict:
        return {"mlaas.dataset": self.dataset, "mlaas.model": self.space.model, "mlaas.space": self.space.to_json(),
                "mlaas.target": self.target, "mlaas.experiment": self.experiment}

    def describe(self) -> str:
        target = f" -> {self.target}" if self.target else ""
        return f"dataset {self.dataset}{target}, {self.space.describe()}"

    @classmethod
    def from_attrs(cls, attrs: dict) -> "StudySpec":
        return cls(attrs["mlaas.dataset"], SearchSpace.from_json(attrs["mlaas.space"]), attrs.get("mlaas.target"),
                   attrs.get("mlaas.experiment", "mlaas"))


def make_pruner(name: str, *, max_epochs: int = 6, startup_trials: int = 3):
    """Optuna's median pruner (after ``startup_trials`` complete trials), Hyperband over epochs, or none.

    Both compare trials at the same epoch. With the one-cycle schedule a trial planned for more
    epochs is still warming up at epoch 1, so they favour short plans: fix ``epochs`` in the space
    (``epochs=4:4``) when that matters more than the time pruning saves.
    """
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(max_epochs, 1), reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise TuneError(f"unknown pruner {name!r}; choose one of {', '.join(PRUNERS)}")


def default_study_name(spec: StudySpec) -> str:
    return f"{spec.dataset}-{spec.space.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def study_names(workspace_dir: str | os.PathLike | None = None) -> list[str]:
    """The names of the workspace's studies."""
    import optuna

    return [s.study_name for s in optuna.get_all_study_summaries(storage(workspace_dir, heartbeat=False))]


def open_study(name: str, spec: StudySpec | None, *, resume: bool = False, pruner: str = "median", startup_trials: int = 3,
               workspace_dir: str | os.PathLike | None = None, heartbeat: bool = True):
    """The study ``name``: created for ``spec``, or reopened (``resume``) when its stored spec is the same.

    A name in use is refused unless ``resume``; a spec that differs from the stored one is refused
    naming both; ``resume`` of a study that does not exist is refused listing those that do.
    ``spec=None`` reopens whatever the study searches (workers do).
    """
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no INFO line per trial: the progress bar says it
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # multivariate TPE
    store = storage(workspace_dir, heartbeat=heartbeat)
    sampler = optuna.samplers.TPESampler(n_startup_trials=5, multivariate=True)
    try:
        study = optuna.load_study(study_name=name, storage=store, sampler=sampler)
    except KeyError:
        study = None
    if study is None:
        if resume or spec is None:
            known = study_names(workspace_dir)
            raise TuneError(f"no study {name!r} to resume in this workspace; studies: {', '.join(known) or '(none)'}")
        study = optuna.create_study(study_name=name, storage=store, sampler=sampler, direction="maximize",
                                    pruner=make_pruner(pruner, max_epochs=_max_epochs(spec.space), startup_trials=startup_trials))
        for key, value in {**spec.attrs(), "mlaas.pruner": pruner, "mlaas.pruner.startup": startup_trials}.items():
            study.set_user_attr(key, value)
        return study
    if "mlaas.space" not in study.user_attrs:
        raise TuneError(f"study {name!r} was not made by mlaas tune (it stores no search space); pick another --study")
    stored = StudySpec.from_attrs(study.user_attrs)
    if spec is not None and stored.attrs() != spec.attrs():
        raise TuneError(f"study {name!r} searches {stored.describe()}; this asks for {spec.describe()}: "
                        "give another --study name, or the same dataset, model and space to resume it")
    if spec is not None and not resume:
        raise TuneError(f"study {name!r} exists ({len(study.trials)} trials): --resume continues it, or give another --study name")
    # the pruner is not stored by Optuna: rebuild the study's own
    study.pruner = make_pruner(study.user_attrs.get("mlaas.pruner", pruner), max_epochs=_max_epochs(stored.space),
                               startup_trials=int(study.user_attrs.get("mlaas.pruner.startup", startup_trials)))
    return study


def _max_epochs(space: SearchSpace) -> int:
    p = space.params.get("epochs")
    if p is None:
        return 6
    return int(max(p.choices)) if p.kind == "choice" else int(p.high)
