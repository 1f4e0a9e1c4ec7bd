"""A served version's conformal calibration kept current: a run calibrated after it was registered serves its sets.

``mlaas conformal RUN`` logs ``conformal/calibration_lac.json`` on the run; ``export.bundle(version)``
copies it into the bundle's serving.json (``"conformal"``, ``"conformal_sha256"``). An endpoint checks
it when it starts from its last-served bundle and every :data:`CALIBRATION_INTERVAL` seconds while it
runs. The check first hashes the run's file in the workspace's own ``mlartifacts/`` (a glob and a
read of tens of KB, no MLflow); only when that file differs from the loaded one, or the run's
artifacts are elsewhere (a tracking server), does it import MLflow and call ``export.bundle``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ._predictor import OnnxPredictor

__all__ = ["CALIBRATION_INTERVAL", "calibration_changed", "recalibrated"]

CALIBRATION_INTERVAL = 10.0  # seconds between two checks of a running endpoint's calibration
_ARTIFACT = ("artifacts", "conformal", "calibration_lac.json")  # export._calibration.CALIBRATION_ARTIFACT on disk


def _serves_sets(predictor: OnnxPredictor) -> bool:
    """Only an image classifier's sets are served (as ``export.serving_metadata`` decides)."""
    return (predictor.kind, predictor.task) == ("image", "classification") and bool(predictor.metadata.get("run_id"))


def _local_sha(run_id: str, workspace_dir=None) -> tuple[bool, str | None]:
    """``(known, sha256 or None)`` of the run's LAC calibration file in ``workspace/mlartifacts/RUN/`` (or ``EXP/RUN/``);
    known is False when the run's artifacts are not there (another artifact root: ask MLflow)."""
    from ..data import workspace

    root = workspace(workspace_dir) / "mlartifacts"  # the workspace's experiments put runs at its top (others: EXP/RUN)
    runs = [d for d in (root / run_id, *root.glob(f"*/{run_id}")) if d.is_dir()]
    if len(runs) != 1:
        return False, None
    path = runs[0].joinpath(*_ARTIFACT)
    try:
        return True, hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return True, None
    except OSError:
        return False, None


def calibration_changed(predictor: OnnxPredictor, *, workspace_dir=None) -> bool | None:
    """True when the run has a LAC calibration other than the one ``predictor`` serves, False when not,
    None when the workspace's files cannot tell (the run's artifacts live elsewhere)."""
    if not _serves_sets(predictor):
        return False
    known, sha = _local_sha(predictor.metadata["run_id"], workspace_dir)
    if not known:
        return None
    return sha is not None and sha != predictor.metadata.get("conformal_sha256")


def recalibrated(predictor: OnnxPredictor, version, *, workspace_dir=None, threads=None) -> OnnxPredictor | None:
    """The same version loaded again when its run's calibration changed (``export.bundle`` rewrites serving.json), else None.

    ``version``: a ``registry.Version`` or a reference (resolved here, importing MLflow)."""
    from .. import export

    changed = calibration_changed(predictor, workspace_dir=workspace_dir)
    if changed is False:
        return None
    folder = Path(export.bundle(version, workspace_dir=workspace_dir))
    sha = json.loads((folder / "serving.json").read_text()).get("conformal_sha256")
    if sha is None or sha == predictor.metadata.get("conformal_sha256"):
        return None
    return OnnxPredictor(folder, threads=threads)
