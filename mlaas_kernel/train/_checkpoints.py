"""Where a run's checkpoint lives, and finding the one to resume.

Each run has its own folder, ``models/<dataset>/<run id>/``: a CNN's ``checkpoint/last.pt`` after
each epoch and ``model.pt`` at the end; an embedding's ``embedding-checkpoint/last.pt`` and
``best.pt`` (the best epoch by validation silhouette) and ``embedding.pt`` at the end. So a new run
never deletes another's checkpoint, any run that was stopped or killed can be resumed by its id,
and resuming one kind never picks up the other's.
"""

from __future__ import annotations

from pathlib import Path

from ._inputs import TrainingInputError

CHECKPOINTS = {"cnn": Path("checkpoint") / "last.pt", "embedding": Path("embedding-checkpoint") / "last.pt"}
CHECKPOINT = CHECKPOINTS["cnn"]
NAMES = {"cnn": "a CNN", "embedding": "an embedding"}
RESUME_WITH = {"cnn": "mlaas train DATASET --resume RUN", "embedding": "mlaas train DATASET --model siamese --resume RUN"}


def all_checkpoints(models: Path, kind: str = "cnn") -> list[Path]:
    """The dataset's checkpoints of models of ``kind``, newest first."""
    return sorted(Path(models).glob(f"*/{CHECKPOINTS[kind].as_posix()}"), key=lambda p: p.stat().st_mtime, reverse=True)


def find_checkpoint(models: Path, dataset: str, run: str | bool, kind: str = "cnn") -> Path:
    """The checkpoint to resume: run id ``run`` (or a unique prefix of one), or with ``True`` the newest, of a ``kind`` model."""
    found = all_checkpoints(models, kind)
    matches = found[:1] if run is True else _matching(found, str(run))
    if len(matches) == 1:
        return matches[0]
    if run is not True and not matches:
        for other in CHECKPOINTS:
            if other != kind and len(_matching(all_checkpoints(models, other), str(run))) == 1:
                raise TrainingInputError(f"run {run!r} of dataset {dataset!r} trained {NAMES[other]}: resume it with `{RESUME_WITH[other]}`")
    if not found:
        raise TrainingInputError(f"nothing to resume: dataset {dataset!r} has no checkpoint of {NAMES[kind]} in {models}")
    known = ", ".join(p.parent.parent.name for p in found[:10])
    if not matches:
        raise TrainingInputError(f"no checkpoint of run {run!r} for dataset {dataset!r}; runs with one: {known}")
    raise TrainingInputError(f"run id prefix {run!r} matches {len(matches)} checkpoints of dataset {dataset!r}: give more of it")


def _matching(found: list[Path], run: str) -> list[Path]:
    return [p for p in found if p.parent.parent.name == run] or [p for p in found if p.parent.parent.name.startswith(run)]
