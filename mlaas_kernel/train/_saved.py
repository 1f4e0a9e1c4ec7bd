"""A trained CNN's file (``model.pt`` beside its run's checkpoint): written once, loaded anywhere.

The file holds the weights and what rebuilding the network needs (classes, input shape,
normalisation, width, dropout), so evaluation, conformal calibration and export load a model
without the run's training arguments.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._image import ImageClassifier, TrainingInputError, build_cnn


def save_model(clf: ImageClassifier, path: str | os.PathLike) -> Path:
    """Write ``clf``'s trained network to ``path`` atomically; returns the path."""
    import torch

    from .._atomic import atomic_write

    path = Path(path)
    state = {"state_dict": clf.model_.state_dict(), "classes": clf.classes_, "mean": clf.mean_, "std": clf.std_,
             "input_shape": clf.input_shape_, "width": clf.width, "dropout": getattr(clf, "dropout", 0.0)}
    atomic_write(path, lambda tmp: torch.save(state, tmp))
    return path


def load_model(path: str | os.PathLike, *, device: str = "cpu") -> ImageClassifier:
    """The :class:`ImageClassifier` saved in ``path`` (a ``model.pt``), ready to predict."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise TrainingInputError(f"{path}: no such model file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        c, h, w = state["input_shape"]
        net = build_cnn(c, len(state["classes"]), h, w, base=state.get("width", 16), dropout=state.get("dropout", 0.0))
        net.load_state_dict(state["state_dict"])
    except (KeyError, ValueError, RuntimeError, EOFError) as exc:
        raise TrainingInputError(f"{path} is not a model file written by mlaas train ({type(exc).__name__}: {exc})") from exc
    clf = ImageClassifier(width=state.get("width", 16), dropout=state.get("dropout", 0.0), device=device)
    clf.classes_, clf.mean_, clf.std_ = state["classes"], state["mean"], state["std"]
    clf.input_shape_ = tuple(state["input_shape"])
    clf.model_ = net.to(clf._torch_device()).eval()
    return clf
