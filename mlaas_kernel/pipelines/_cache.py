"""The step cache: a key from what decides a step's result, and the index that maps it to the run
that computed it (``workspace/pipelines/<name>/cache/<key>.json``)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path


def code_sources(notebook: Path) -> list[str]:
    """The sources of the notebook's code cells: what it does, not its outputs or metadata."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    out = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            src = cell.get("source", "")
            out.append("".join(src) if isinstance(src, list) else src)
    return out


def cache_key(notebook: Path, parameters: dict, *, step: str, upstream: dict[str, str]) -> str:
    """sha256 of the code cells, the resolved parameters (so a changed upstream output changes it),
    this package's version, the step's name and its dependencies' keys.

    The dependencies' keys count because ``needs`` without a reference usually means "reads what that
    step wrote in the workspace": when that step's work changes, so may this one's. The name keeps
    two steps that run the same notebook alike from being each other's cache.
    """
    from .. import __version__

    blob = json.dumps({"code": code_sources(notebook), "parameters": parameters, "version": __version__, "step": step,
                       "upstream": upstream}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _index(pipeline_dir: Path, key: str) -> Path:
    return pipeline_dir / "cache" / f"{key}.json"


def lookup(pipeline_dir: Path, key: str) -> dict | None:
    """The cache entry for ``key`` whose saved notebook still exists, else None."""
    try:
        entry = json.loads(_index(pipeline_dir, key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (pipeline_dir / entry.get("run", "") / f"{entry.get('step', '')}.ipynb").is_file():
        return None
    return entry


def store(pipeline_dir: Path, key: str, *, run: str, step: str, outputs: dict, mlflow_runs: list, seconds: float) -> None:
    """Record that ``run``'s ``step`` succeeded with this key (the run that first computed it)."""
    from .._atomic import atomic_write

    entry = {"run": run, "step": step, "outputs": outputs, "mlflow_runs": mlflow_runs, "seconds": seconds}
    text = json.dumps(entry, indent=1, default=str)
    atomic_write(_index(pipeline_dir, key), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def copy_into(pipeline_dir: Path, entry: dict, folder: Path, step: str, pipeline: str) -> None:
    """The cached step's notebook (marked ``cached_from``), log and outputs, copied into ``folder``."""
    source = pipeline_dir / entry["run"]
    nb = json.loads((source / f"{entry['step']}.ipynb").read_text(encoding="utf-8"))
    nb.setdefault("metadata", {}).setdefault("mlaas", {})["pipeline"] = {"cached_from": f"{pipeline}/{entry['run']}"}
    (folder / f"{step}.ipynb").write_text(json.dumps(nb, indent=1), encoding="utf-8")
    for suffix in (".log", ".outputs.json"):
        src = source / f"{entry['step']}{suffix}"
        if src.is_file():
            shutil.copyfile(src, folder / f"{step}{suffix}")


def upstream_key(step: dict, *, fresh: bool) -> str | None:
    """What a dependant's key records of dependency ``step``: its key, and for a step that runs every time
    (``cache: false``, ``always: true``) its outputs too, so that its dependants follow what it published
    this time even when they only ``need`` it."""
    if not fresh:
        return step.get("cache_key")
    blob = json.dumps({"key": step.get("cache_key"), "outputs": step.get("outputs") or {}}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
