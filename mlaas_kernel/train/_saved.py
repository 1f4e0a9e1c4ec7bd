"""A trained network's file (``model.pt``, or ``embedding.pt``, beside its run's checkpoint): written once, loaded anywhere.

The file holds the weights and what rebuilding the network needs (classes, input shape,
normalisation, width, dropout; for an embedding also its dimensions, the training images'
embedding and labels its kNN vote uses, and the epoch it was kept from), so evaluation,
conformal calibration and export load a model without the run's training arguments.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._embedding import EmbeddingNet
from ._image import ImageClassifier
from ._inputs import TrainingInputError


def save_model(est: ImageClassifier | EmbeddingNet, path: str | os.PathLike) -> Path:
    """Write ``est``'s trained network (an :class:`ImageClassifier` or :class:`EmbeddingNet`) to ``path`` atomically; returns the path."""
    import torch

    from .._atomic import atomic_write

    path = Path(path)
    state = {"state_dict": est.model_.state_dict(), "classes": est.classes_, "mean": est.mean_, "std": est.std_,
             "input_shape": est.input_shape_, "width": est.width, "dropout": getattr(est, "dropout", 0.0)}
    if isinstance(est, EmbeddingNet):
        state.update(kind="embedding", params={k: getattr(est, k) for k in ("dim", "loss", "margin", "n_neighbors", "silhouette_samples")},
                     reference=est.reference_, reference_labels=est.reference_labels_, best=est.best_)
    atomic_write(path, lambda tmp: torch.save(state, tmp))
    return path


def load_model(path: str | os.PathLike, *, device: str = "cpu") -> ImageClassifier | EmbeddingNet:
    """The model saved in ``path`` (a ``model.pt`` or ``embedding.pt``), ready to predict (and, an embedding, to transform)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise TrainingInputError(f"{path}: no such model file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        shape = {"width": state.get("width", 16), "dropout": state.get("dropout", 0.0)}
        if state.get("kind") == "embedding":
            est = EmbeddingNet(**shape, **state["params"], device=device)
        else:
            est = ImageClassifier(**shape, device=device)
        est.classes_, est.mean_, est.std_ = state["classes"], state["mean"], state["std"]
        est.input_shape_ = tuple(state["input_shape"])
        net = est._make_net(*est.input_shape_, len(est.classes_), est._net_params())
        net.load_state_dict(state["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError, EOFError) as exc:
        raise TrainingInputError(f"{path} is not a model file written by mlaas train ({type(exc).__name__}: {exc})") from exc
    est.model_ = net.to(est._torch_device()).eval()
    if isinstance(est, EmbeddingNet):
        est.reference_, est.reference_labels_, est.best_ = state["reference"], state["reference_labels"], state.get("best")
        est._fit_knn()
    return est
