"""Train an embedding on an ingested image dataset, tracked: what ``mlaas train --model siamese`` and notebook 07 call."""

from __future__ import annotations

import os
from typing import Any, Sequence

from ._embedding import LOSSES, EmbeddingNet
from ._inputs import TrainingInputError, check_given
from ._run import TrainResult, _first, finish_run, start_run


def train_embedding(
    name: str,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    dim: int = 16,
    loss: str = "triplet",
    margin: float = 0.2,
    labels: str | None = None,
    resume: bool | str = False,
    track: bool = True,
    callbacks: Sequence[Any] = (),
    random_state: int | None = None,
    device: str = "auto",
    compile: bool = False,
    max_lr: float | None = None,
    width: int = 16,
    weight_decay: float = 1e-4,
    experiment: str = "mlaas",
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    workspace_dir: str | os.PathLike | None = None,
    verbose: int = 0,
) -> TrainResult:
    """Train an :class:`EmbeddingNet` on dataset ``name`` (its labels, or a label snapshot's) and track it in MLflow.

    The same run life as :func:`train_dataset` (split, label snapshots, checkpoints in
    ``models/<dataset>/<run id>/``, ``resume`` by run id, callbacks, DDP under torchrun), with the
    embedding's metrics: ``val_silhouette`` and ``val_accuracy`` (kNN) each epoch. The model kept
    (``embedding.pt``, and the run's ``model/embedding.pt`` artifact) is the epoch with the best
    silhouette; the result's ``metrics`` are that epoch's: ``silhouette``, ``knn_accuracy``
    (also ``accuracy``) and ``best_epoch``, beside the last epoch's ``loss``.
    """
    check_given(epochs=epochs, batch_size=batch_size, dim=dim, margin=margin, max_lr=max_lr, width=width,
                weight_decay=weight_decay, device=device)  # before the run exists: bad input leaves no run behind
    if loss not in LOSSES:
        raise TrainingInputError(f"loss {loss!r} is not one of {', '.join(LOSSES)}")
    run = start_run(name, kind="embedding", epochs=epochs, labels=labels, resume=resume, track=track, callbacks=callbacks,
                    random_state=random_state, experiment=experiment, run_name=run_name, tags=tags,
                    workspace_dir=workspace_dir, verbose=verbose)
    plan = run.plan
    est = EmbeddingNet(dim=plan.get("dim", dim), loss=plan.get("loss", loss), margin=plan.get("margin", margin),
                       epochs=epochs, batch_size=_first(batch_size, plan.get("batch_size"), 128),
                       max_lr=_first(max_lr, plan.get("max_lr"), 3e-3), width=plan.get("width", width),
                       weight_decay=plan.get("weight_decay", weight_decay), device=device, compile=compile,
                       **run.estimator_options(resume), verbose=verbose)
    run.fit(est)
    result = finish_run(est, run, "embedding.pt", lambda tracker: _log_best(est, tracker))
    if est.best_:
        result.metrics.update(silhouette=est.best_["val_silhouette"], knn_accuracy=est.best_["val_accuracy"],
                              accuracy=est.best_["val_accuracy"], best_epoch=float(est.best_["epoch"]))
    return result


def _log_best(est: EmbeddingNet, tracker) -> None:
    """The kept epoch's scores as the run's summary metrics (``silhouette``, ``knn_accuracy``, ``best_epoch``)."""
    if not est.best_:
        return
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    values = {"silhouette": est.best_["val_silhouette"], "knn_accuracy": est.best_["val_accuracy"], "best_epoch": est.best_["epoch"]}
    tracker.client.log_batch(tracker.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in values.items()])
    tracker.client.set_tag(tracker.run_id, "mlaas.embedding.best_epoch", str(est.best_["epoch"]))
