"""An evaluation written out and logged onto its run: figures as HTML and PNG, the numbers as
MLflow metrics (``eval_...``) and as one JSON file.

PNG export goes through kaleido, which drives a Chromium; when that fails the HTML files are
still written and logged, and the reason is one line in the evaluation's notes.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

ARTIFACT_DIR = "evaluation"
PNG_WIDTH = 1000


def metric_key(name: str) -> str:
    """``name`` as an MLflow metric key (letters, digits, ``_ - . /`` and spaces; anything else becomes ``_``)."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", str(name))


def _write_html(figures: dict, folder: Path) -> list[Path]:
    from .._atomic import atomic_write

    paths = []
    for name, fig in figures.items():
        # plotly.js inside each file: the files open offline and in MLflow's artifact viewer
        paths.append(atomic_write(folder / f"{name}.html", lambda tmp, fig=fig: fig.write_html(str(tmp), include_plotlyjs=True, full_html=True)))
    return paths


def _write_png(figures: dict, folder: Path) -> tuple[list[Path], str | None]:
    """All figures as PNG in one kaleido call (one browser start); ``(paths, None)`` or ``([], why)``."""
    import plotly.io as pio

    names = list(figures)
    scratch = Path(tempfile.mkdtemp(prefix=".png-", dir=folder))
    try:
        targets = [scratch / f"{n}.png" for n in names]
        pio.write_images([figures[n] for n in names], [str(t) for t in targets], format="png", width=PNG_WIDTH)
        final = []
        for name, tmp in zip(names, targets):
            final.append(folder / f"{name}.png")
            os.replace(tmp, final[-1])
        return final, None
    except Exception as exc:  # kaleido raises many kinds (no browser, a browser that died, a timeout): never fatal
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return [], f"PNG export failed ({type(exc).__name__}: {first}); the figures are logged as HTML only"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_evaluation(figures: dict, numbers: dict, folder: str | os.PathLike, *, png: bool = True) -> tuple[list[Path], str | None]:
    """Write each figure as ``NAME.html`` (and ``NAME.png``) and the numbers as ``metrics.json``
    into ``folder``; returns the files written and why PNGs are missing (or ``None``)."""
    from .._atomic import atomic_write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = _write_html(figures, folder)
    why = None
    if png:
        pngs, why = _write_png(figures, folder)
        files += pngs
    if not png or why:  # a PNG left from an earlier evaluation would not match its HTML
        for name in figures:
            (folder / f"{name}.png").unlink(missing_ok=True)
    if why:
        numbers = {**numbers, "notes": [*numbers.get("notes", []), why]}
    text = json.dumps(numbers, indent=2, default=_jsonable)
    files.append(atomic_write(folder / "metrics.json", lambda tmp: Path(tmp).write_text(text)))
    return files, why


def _jsonable(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def log_to_run(run_id: str, metrics: dict[str, float], files: list[Path], *,
               workspace_dir: str | os.PathLike | None = None) -> list[str]:
    """Log ``metrics`` (NaNs left out) in one batch and ``files`` under ``evaluation/`` on run
    ``run_id``; returns the artifact paths."""
    from mlflow.entities import Metric

    from ..track import setup

    client, _ = setup(workspace_dir=workspace_dir)
    now = int(time.time() * 1000)
    batch = [Metric(metric_key(k), float(v), now, 0) for k, v in metrics.items() if v is not None and not math.isnan(float(v))]
    for start in range(0, len(batch), 1000):  # MLflow takes at most 1,000 metrics per batch
        client.log_batch(run_id, metrics=batch[start:start + 1000])
    for path in files:
        client.log_artifact(run_id, str(path), ARTIFACT_DIR)
    return [f"{ARTIFACT_DIR}/{Path(p).name}" for p in files]
