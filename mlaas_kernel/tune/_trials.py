"""One trial: train with the sampled parameters as an MLflow child run, pruned on the per-epoch validation accuracy."""

from __future__ import annotations

import os
import socket

PRUNED, COMPLETE, FAIL, INTERRUPTED = "PRUNED", "COMPLETE", "FAIL", "INTERRUPTED"
INTERRUPTED_ATTR = "mlaas.interrupted"  # on a FAIL trial that Ctrl-C stopped (not a failure of its own)


def worker_id() -> str:
    """``host:pid`` of this process, recorded on each of its trials (so a launcher can fail a dead worker's trial at once)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class PruningCallback:
    """A fit-loop callback: reports each epoch's ``val_accuracy`` to the trial and stops training when the pruner says so."""

    def __init__(self, trial):
        self.trial = trial
        self.stop_requested = False
        self.pruned_at: int | None = None

    def on_train_begin(self, progress, estimator) -> None:
        run_id = getattr(estimator, "run_state_", {}).get("mlflow_run_id")  # the Tracker (first callback) opened it
        if run_id:
            self.trial.set_user_attr("mlflow_run_id", run_id)

    def on_epoch_end(self, progress) -> None:
        value = progress.history[-1].get("val_accuracy")
        if value is None or self.stop_requested:
            return
        self.trial.report(float(value), progress.epoch)
        if self.trial.should_prune():
            self.stop_requested = True  # the loop stops after this step; the run ends KILLED, tagged PRUNED below
            self.pruned_at = progress.epoch


def trial_tags(study, trial, parent_run_id: str | None) -> dict[str, str]:
    tags = {"mlaas.study": study.study_name, "mlaas.trial.number": str(trial.number)}
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    return tags


def mark_run(run_id: str | None, state: str, *, note: str | None = None, status: str | None = None,
             experiment: str = "mlaas", workspace_dir=None) -> None:
    """Tag a trial's MLflow run with its trial state (and end it ``status`` when given)."""
    if not run_id:
        return
    from ..track import setup

    client, _ = setup(experiment, workspace_dir=workspace_dir)
    client.set_tag(run_id, "mlaas.trial.state", state)
    if note:
        client.set_tag(run_id, "mlaas.error" if state == FAIL else "mlaas.stopped", note)
    if status and client.get_run(run_id).info.status == "RUNNING":
        client.set_terminated(run_id, status)


def end_stale_run(study, trial) -> None:
    """A trial failed because its worker died: its MLflow run ends FAILED, saying why."""
    mark_run(trial.user_attrs.get("mlflow_run_id"), FAIL, status="FAILED",
             note=f"worker {trial.user_attrs.get('mlaas.worker', '?')} died during trial {trial.number}",
             experiment=study.user_attrs.get("mlaas.experiment", "mlaas"))


def interruptible(objective, *, experiment: str = "mlaas", workspace_dir=None):
    """``objective`` whose trial, when Ctrl-C stops it, is tagged :data:`INTERRUPTED_ATTR` (Optuna then makes it
    FAIL) and has its MLflow run KILLED; the interrupt goes on (a second one is ignored while this is recorded)."""
    import signal

    def run(trial):
        try:
            return objective(trial)
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            trial.set_user_attr(INTERRUPTED_ATTR, True)
            mark_run(trial.user_attrs.get("mlflow_run_id"), INTERRUPTED, status="KILLED", experiment=experiment,
                     workspace_dir=workspace_dir, note=f"interrupted during trial {trial.number}")
            raise

    return run


class CNNObjective:
    """Trains the CNN on ``dataset`` with the trial's parameters; returns the last epoch's validation accuracy."""

    def __init__(self, spec, parent_run_id: str | None, *, workspace_dir=None, random_state: int = 0):
        self.spec, self.parent_run_id = spec, parent_run_id
        self.workspace_dir, self.random_state = workspace_dir, random_state

    def __call__(self, trial) -> float:
        import optuna

        from ..train import train_dataset

        trial.set_user_attr("mlaas.worker", worker_id())
        trial.set_user_attr("metric", "val_accuracy")
        params = self.spec.space.suggest(trial)
        callback = PruningCallback(trial)
        res = train_dataset(self.spec.dataset, callbacks=[callback], run_name=f"{trial.study.study_name}-{trial.number}",
                            tags=trial_tags(trial.study, trial, self.parent_run_id), experiment=self.spec.experiment,
                            random_state=self.random_state, workspace_dir=self.workspace_dir, **params)
        trial.set_user_attr("mlflow_run_id", res.run_id)
        trial.set_user_attr("epochs_run", callback.pruned_at or res.epochs_run)  # (the loop's one step more is not an epoch)
        trial.set_user_attr("epochs_planned", int(params.get("epochs") or res.epochs_run))
        if callback.pruned_at is not None:
            mark_run(res.run_id, PRUNED, experiment=self.spec.experiment, workspace_dir=self.workspace_dir,
                     note=f"pruned by study {trial.study.study_name} after epoch {callback.pruned_at} (trial {trial.number})")
            raise optuna.TrialPruned(f"validation accuracy {res.metrics.get('val_accuracy', float('nan')):.4f} "
                                     f"after epoch {callback.pruned_at} is below the pruner's bar")
        if "val_accuracy" not in res.metrics:
            raise ValueError(f"dataset {self.spec.dataset!r} left no items to validate on: a study needs a validation accuracy")
        mark_run(res.run_id, COMPLETE, experiment=self.spec.experiment, workspace_dir=self.workspace_dir)
        return float(res.metrics["val_accuracy"])
