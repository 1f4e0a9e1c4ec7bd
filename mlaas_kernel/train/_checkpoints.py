"""Where a run's checkpoint lives, and finding the one to resume.

Each run has its own folder, ``models/<dataset>/<run id>/`` (``checkpoint/last.pt`` after each
epoch, ``model.pt`` at the end), so a new run never deletes another's checkpoint and any run that
was stopped or killed can be resumed by its id.
"""

from __future__ import annotations

from pathlib import Path

from ._image import TrainingInputError

CHECKPOINT = Path("checkpoint") / "last.pt"


def all_checkpoints(models: Path) -> list[Path]:
    """The dataset's checkpoints, newest first."""
    return sorted(Path(models).glob(f"*/{CHECKPOINT.as_posix()}"), key=lambda p: p.stat().st_mtime, reverse=True)


def find_checkpoint(models: Path, dataset: str, run: str | bool) -> Path:
    """The checkpoint to resume: run id ``run`` (or a unique prefix of one), or with ``True`` the newest."""
    found = all_checkpoints(models)
    if not found:
        raise TrainingInputError(f"nothing to resume: dataset {dataset!r} has no checkpoint in {models}")
    if run is True:
        return found[0]
    run = str(run)
    matches = [p for p in found if p.parent.parent.name == run] or [p for p in found if p.parent.parent.name.startswith(run)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(p.parent.parent.name for p in found[:10])
    if not matches:
        raise TrainingInputError(f"no checkpoint of run {run!r} for dataset {dataset!r}; runs with one: {known}")
    raise TrainingInputError(f"run id prefix {run!r} matches {len(matches)} checkpoints of dataset {dataset!r}: give more of it")
