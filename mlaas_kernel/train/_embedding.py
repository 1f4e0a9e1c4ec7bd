"""EmbeddingNet: a CNN that maps images to a few dimensions where Euclidean distance measures similarity.

Trained by the shared fit loop with a metric-learning loss from pytorch-metric-learning
(TripletMarginLoss on the semi-hard triplets TripletMarginMiner finds in each batch by default,
or MultiSimilarityLoss on mined pairs); the validation silhouette picks the best epoch, whose weights are the model kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.base import ClassifierMixin

from . import _loop
from ._image import build_cnn
from ._inputs import TrainingInputError
from ._net import NetEstimator
from ._separation import SILHOUETTE_SAMPLES, knn_accuracy, silhouette


def build_embedding_net(in_channels: int, height: int, width: int, *, dim: int = 16, base: int = 16, dropout: float = 0.0):
    """:func:`build_cnn`'s conv blocks with a linear layer to ``dim`` and an L2 normalisation.

    Unit vectors bound the space, so the triplet margin means the same all through training and
    the distances the loss trains are the ones silhouette and kNN measure (on the unit sphere
    Euclidean distance ranks pairs as cosine similarity does).
    """
    import torch.nn as nn

    from ._unit import L2Normalize

    return nn.Sequential(build_cnn(in_channels, dim, height, width, base=base, dropout=dropout), L2Normalize())


LOSSES = {
    "triplet": "TripletMarginLoss(margin) on the semi-hard triplets TripletMarginMiner picks in each batch",
    "multi-similarity": "MultiSimilarityLoss on the pairs MultiSimilarityMiner picks in each batch",
}


def metric_loss(name: str, *, margin: float = 0.2):
    """pytorch-metric-learning's (loss, miner) for ``name`` (a key of :data:`LOSSES`)."""
    from pytorch_metric_learning import losses, miners

    if name == "triplet":
        return losses.TripletMarginLoss(margin=margin), miners.TripletMarginMiner(margin=margin, type_of_triplets="semihard")
    if name == "multi-similarity":
        return losses.MultiSimilarityLoss(), miners.MultiSimilarityMiner(epsilon=0.1)
    raise TrainingInputError(f"loss {name!r} is not one of {', '.join(LOSSES)}")


class EmbeddingNet(ClassifierMixin, NetEstimator):
    """Images to ``dim`` numbers each, close for the same class: ``transform`` gives the embedding,
    ``predict`` a ``n_neighbors``-nearest-neighbour vote among the training images' embeddings.

    Each epoch logs ``val_silhouette`` (the validation embedding's silhouette, Euclidean, on a
    fixed sample of ``silhouette_samples`` items) and ``val_accuracy`` (the kNN accuracy on the
    validation set); the epoch with the best silhouette is the model kept (``best_``, and
    ``best.pt`` beside ``last.pt`` in ``checkpoint_dir``). Without validation data the last epoch is kept.

    Parameters
    ----------
    dim:
        Dimensions of the embedding (unit vectors).
    loss:
        ``"triplet"`` (the default: the higher silhouette on MNIST here) or ``"multi-similarity"`` (pairs); see :data:`LOSSES`.
    margin:
        The triplet margin (``loss="triplet"``): a negative must be this much farther from the anchor than a positive
        (on unit vectors, whose distances lie in 0..2).
    n_neighbors:
        Neighbours in the kNN vote of ``predict``, ``predict_proba`` and ``val_accuracy``.
    silhouette_samples:
        Items the per-epoch silhouette is computed on (a fixed sample).
    The others are :class:`ImageClassifier`'s (the same loop): epochs, batch_size, max_lr,
    weight_decay, min_steps, width, dropout, device, compile, warm_start, checkpoint_dir, resume,
    callbacks, random_state, verbose.
    """

    metric_label = "kNN accuracy"  # val_accuracy is the kNN vote's: the monitor and the printed lines say so
    printed_names = {"val_accuracy": "knn_accuracy"}

    def __init__(self, *, dim: int = 16, loss: str = "triplet", margin: float = 0.2, n_neighbors: int = 5, silhouette_samples: int = SILHOUETTE_SAMPLES,
                 epochs: int | None = None, batch_size: int = 128, max_lr: float = 3e-3, weight_decay: float = 1e-4,
                 min_steps: int = 200, width: int = 16, dropout: float = 0.0, device: str = "auto", compile: bool = False,
                 warm_start: bool = False, checkpoint_dir: str | None = None, resume: bool = False,
                 callbacks: Sequence[Any] = (), random_state: int | None = None, verbose: int = 0):
        self._keep(locals())

    # ------------------------------------------------------------------ the loop's hooks
    def _check_training_data(self, X, y):
        x, y, classes = super()._check_training_data(X, y)
        if len(classes) < 2:
            raise TrainingInputError(f"y holds a single class ({classes[0]!r}): an embedding needs at least 2 to tell apart")
        if self.loss not in LOSSES:
            raise TrainingInputError(f"loss {self.loss!r} is not one of {', '.join(LOSSES)}")
        return x, y, classes

    def _make_net(self, c: int, h: int, w: int, n_classes: int, params: dict):
        return build_embedding_net(c, h, w, dim=int(params["dim"]), base=params["width"], dropout=params.get("dropout", 0.0))

    def _net_params(self) -> dict:
        return {"dim": int(self.dim), "width": self.width, "dropout": self.dropout, "loss": self.loss, "margin": self.margin}

    def _build_model(self, x, classes, ckpt) -> None:
        super()._build_model(x, classes, ckpt)
        self.classes_ = np.union1d(self.classes_, classes)  # no output per class: new classes are fine
        plan = {**self._net_params(), **(ckpt or {}).get("plan", {})}
        self._criterion = metric_loss(plan["loss"], margin=plan["margin"])
        self.best_, self._best_state = (ckpt or {}).get("best"), None
        best = Path(self.checkpoint_dir) / "best.pt" if ckpt is not None and self.checkpoint_dir else None
        if best is not None and best.exists():
            self._best_state = _loop.load_checkpoint(best)["model"]

    def _loss(self, outputs, targets):
        loss_fn, miner = self._criterion
        outputs = outputs.float()  # the distances in float32, also under bf16 autocast
        return loss_fn(outputs, targets, miner(outputs, targets))

    def _validate(self, s) -> dict[str, float]:
        vx, vy = s.validation
        train = self._outputs(s.xt, tensor=True).cpu().numpy()
        val = self._outputs(vx).cpu().numpy()
        seed = 0 if self.random_state is None else int(self.random_state)
        return {"val_silhouette": silhouette(val, vy, samples=self.silhouette_samples, random_state=seed),
                "val_accuracy": knn_accuracy(train, self.classes_[s.y_idx.cpu().numpy()], val, vy, k=self.n_neighbors)}

    def _epoch_done(self, s, progress, record: dict) -> None:
        score = record.get("val_silhouette")
        if score is None or score != score:
            return
        if self.best_ is None or score > self.best_["val_silhouette"]:
            self.best_ = {"epoch": int(record["epoch"]), "val_silhouette": float(score), "val_accuracy": float(record["val_accuracy"])}
            self._best_state = {k: v.detach().to("cpu", copy=True) for k, v in s.model.state_dict().items()}
            if s.ckpt_dir is not None:
                _loop.save_checkpoint(s.ckpt_dir / "best.pt", {"model": self._best_state, **self.best_})

    def _checkpoint(self, s, progress, epoch: int) -> dict:
        return {**super()._checkpoint(s, progress, epoch), "kind": "embedding", "best": self.best_}

    def _fit_done(self, s, progress) -> None:
        if self._best_state is not None:
            self.model_.load_state_dict(self._best_state)
        self.reference_ = self._outputs(s.xt, tensor=True).cpu().numpy()
        self.reference_labels_ = self.classes_[s.y_idx.cpu().numpy()]
        self._fit_knn()

    def _fit_knn(self) -> None:
        from sklearn.neighbors import KNeighborsClassifier

        k = min(int(self.n_neighbors), len(self.reference_labels_))
        self.knn_ = KNeighborsClassifier(n_neighbors=k).fit(self.reference_, self.reference_labels_)

    # ------------------------------------------------------------------ embedding and predictions
    def transform(self, X) -> np.ndarray:
        """The embedding of images ``X``: (n, dim) float32 unit vectors."""
        return self._outputs(X).float().cpu().numpy().astype(np.float32, copy=False)

    def predict_proba(self, X) -> np.ndarray:
        """The share of each class among the ``n_neighbors`` nearest training images, columns in ``knn_.classes_`` order."""
        return self.knn_.predict_proba(self.transform(X))

    def predict(self, X) -> np.ndarray:
        """The majority class of the ``n_neighbors`` nearest training images."""
        return self.knn_.predict(self.transform(X))

    def silhouette(self, X, y) -> float:
        """The silhouette of ``X``'s embedding under labels ``y`` (Euclidean, on a fixed sample)."""
        seed = 0 if self.random_state is None else int(self.random_state)
        return silhouette(self.transform(X), y, samples=self.silhouette_samples, random_state=seed)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        return tags
