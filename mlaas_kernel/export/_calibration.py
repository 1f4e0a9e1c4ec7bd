"""The run's current LAC calibration in a bundle's serving.json.

serving.json is logged at register time with the calibration the run had then (or none). A run
calibrated later (``mlaas conformal RUN``) has a new ``conformal/calibration_lac.json``; :func:`refresh`
puts it into the bundle's serving.json (``"conformal"``) with its SHA-256 (``"conformal_sha256"``), so the
next check is a comparison: one artifact listing and one small download (the calibration file, tens of KB).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

CALIBRATION_ARTIFACT = "conformal/calibration_lac.json"  # what mlaas conformal RUN logs (conformal.log_calibration)


def current(c, run_id: str) -> tuple[str, dict] | None:
    """``(sha256 of the file, ConformalClassifier.to_dict())`` of run ``run_id``'s LAC calibration, or None when it has none."""
    from mlflow.exceptions import MlflowException

    from ..conformal import ConformalClassifier

    try:
        if CALIBRATION_ARTIFACT not in {a.path for a in c.list_artifacts(run_id, "conformal")}:
            return None
        with tempfile.TemporaryDirectory(prefix="mlaas-bundle-") as tmp:
            raw = Path(c.download_artifacts(run_id, CALIBRATION_ARTIFACT, tmp)).read_bytes()
    except (MlflowException, OSError):  # a deleted run or unreadable artifacts: the bundle keeps what it has
        return None
    return hashlib.sha256(raw).hexdigest(), ConformalClassifier.from_dict(json.loads(raw)).to_dict()


def refresh(c, serving_json: Path) -> bool:
    """Rewrite ``serving_json`` (atomically) when its run's LAC calibration is newer than the one it holds; True if it did.

    Only an image classifier's sets are served (as :func:`serving_metadata` decides); a run with no
    calibration leaves the file as it is.
    """
    from .._atomic import atomic_write

    meta = json.loads(serving_json.read_text())
    if (meta.get("kind"), meta.get("task")) != ("image", "classification") or not meta.get("run_id"):
        return False
    found = current(c, meta["run_id"])
    if found is None or meta.get("conformal_sha256") == found[0]:
        return False
    meta["conformal"], meta["conformal_sha256"] = found[1], found[0]
    atomic_write(serving_json, lambda p: p.write_text(json.dumps(meta, indent=2, default=str)))
    return True
