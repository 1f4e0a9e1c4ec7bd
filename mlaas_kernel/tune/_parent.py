"""The study's parent MLflow run: made when the study starts, reopened on resume, and given the best trial at the end."""

from __future__ import annotations

import os
import tempfile
import time

PARENT_ATTR = "mlaas.parent_run_id"


def open_parent(study, spec, *, n_trials: int, workspace_dir=None) -> str:
    """The study's parent run, RUNNING: a new one (its id stored on the study), or the one a resumed study has."""
    from ..track import setup
    from ..track._mlrun import create_run

    client, exp_id = setup(spec.experiment, workspace_dir=workspace_dir)
    run_id = study.user_attrs.get(PARENT_ATTR)
    if run_id:
        client.update_run(run_id, status="RUNNING")
        client.set_tag(run_id, "mlaas.study.resumed_trials", str(n_trials))
        return run_id
    tags = {"mlaas.study": study.study_name, "mlaas.kind": "study", "mlaas.dataset": spec.dataset, "mlaas.model": spec.space.model}
    run_id = create_run(client, exp_id, study.study_name, tags)
    client.log_param(run_id, "search_space", spec.space.describe())
    client.log_param(run_id, "pruner", study.user_attrs.get("mlaas.pruner", "?"))
    client.log_param(run_id, "target", spec.target or "label")
    study.set_user_attr(PARENT_ATTR, run_id)
    return run_id


def close_parent(study, spec, run_id: str, *, status: str = "FINISHED", workspace_dir=None) -> dict | None:
    """Put the best trial on the parent run (parameters, metric, number, model) and end it; returns the best trial's summary."""
    import optuna
    from mlflow.entities import Metric, RunTag

    from ..track import setup

    client, _ = setup(spec.experiment, workspace_dir=workspace_dir)
    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    best = None
    if done:
        trial = max(done, key=lambda t: t.value)
        best = {"number": trial.number, "value": trial.value, "params": dict(trial.params), "run_id": trial.user_attrs.get("mlflow_run_id")}
        counts = {s.name.lower(): sum(t.state == s for t in study.trials) for s in optuna.trial.TrialState}
        metric = trial.user_attrs.get("metric", "value")
        now, step = int(time.time() * 1000), len(study.trials)
        client.log_batch(run_id, metrics=[Metric(f"best_{metric}", float(trial.value), now, step),
                                          Metric("best_trial", float(trial.number), now, step),
                                          *[Metric(f"trials_{k}", float(v), now, step) for k, v in counts.items() if v]],
                         tags=[RunTag("mlaas.best.trial", str(trial.number)), RunTag("mlaas.best.run_id", str(best["run_id"])),
                               *[RunTag(f"mlaas.best.{k}", str(v)) for k, v in trial.params.items()]])
        _log_best_params(client, run_id, trial.params)
        _copy_model(client, best["run_id"], run_id)
    client.set_terminated(run_id, status)
    return best


def _log_best_params(client, run_id: str, params: dict) -> None:
    """The best trial's parameters as the parent's parameters, the first time; a resumed study that finds a better
    trial has them in the ``mlaas.best.*`` tags (MLflow parameters cannot change)."""
    from mlflow.entities import Param

    logged = client.get_run(run_id).data.params
    new = [Param(f"best.{k}", str(v)) for k, v in params.items() if f"best.{k}" not in logged]
    if new and len(new) == len(params):
        client.log_batch(run_id, params=new)


def _copy_model(client, child_run_id: str | None, parent_run_id: str) -> None:
    """The best trial's ``model/`` artifacts become the parent's ``model/`` (replacing an earlier best's)."""
    if not child_run_id:
        return
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar (the study's) is enough
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(child_run_id, "model", tmp)
        except Exception:  # the child logged no model (its artifacts could not be sent): the parent says so
            client.set_tag(parent_run_id, "mlaas.best.model", f"run {child_run_id} has no model artifact")
            return
        client.log_artifacts(parent_run_id, local, "model")
        client.set_tag(parent_run_id, "mlaas.best.model", f"runs:/{child_run_id}/model")
