"""A pipeline run as a user runs it, `mlaas pipeline run NAME -p K V ...`, and the checks every pipeline test makes.

The run is a real process from the repository root on the test's workspace; the checks read the run's folder
(workspace/pipelines/NAME/RUN/: run.json, one saved notebook per step) and apply the notebooks' own checks
(tests/_notebook_checks.py) to the step notebooks, with the parameters each step ran with.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from _cli import mlaas
from _notebook_checks import check_outputs, ingested_by
from conftest import REPO


def run_folders(workspace: Path, name: str) -> list[Path]:
    """The pipeline's run folders (those with a run.json), oldest first (run ids sort by time)."""
    root = Path(workspace) / "pipelines" / name
    return sorted(p for p in root.iterdir() if (p / "run.json").exists()) if root.is_dir() else []


def run_pipeline(env: dict, name: str, *options: str, **params) -> tuple:
    """``mlaas pipeline run NAME OPTIONS -p K V ...``: the finished process, the newest run's folder and its run.json."""
    args = ["pipeline", "run", name, *options]
    for key, value in params.items():
        args += ["-p", key, str(value)]
    proc = mlaas(*args, env=env, cwd=REPO, timeout=900)
    folders = run_folders(env["MLAAS_WORKSPACE"], name)
    assert folders, f"mlaas pipeline run {name} left no run folder:\n" + proc.stdout[-3000:] + proc.stderr[-3000:]
    newest = max(folders, key=lambda p: (p / "run.json").stat().st_mtime)  # a resumed run continues an older folder
    return proc, newest, json.loads((newest / "run.json").read_text())


def outputs(record: dict, step: str) -> dict:
    """What step ``step`` published."""
    return record["steps"][step]["outputs"]


def step_notebook(folder: Path, step: str):
    return nbformat.read(Path(folder) / f"{step}.ipynb", as_version=4)


def assert_succeeded(proc, folder: Path, record: dict, *, statuses=("succeeded",)) -> None:
    """The process exited 0, the run succeeded, and every step's status is one of ``statuses`` (add ``cached`` for a
    resumed run, ``unavailable`` for a step that needs what this machine may lack) and, where it ran, it left its
    executed notebook."""
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert record["status"] == "succeeded", record
    for step, state in record["steps"].items():
        assert state["status"] in statuses, (step, state)
        if state["status"] != "unavailable":
            assert (Path(folder) / f"{step}.ipynb").is_file(), (step, state)


def check_steps(folder: Path, record: dict, **context) -> list[str]:
    """Apply each notebook's checks to the notebooks of the steps that ran; ``context[step]`` is that step's context
    (tests/_notebook_checks.check_outputs). The steps checked, in order."""
    checked = []
    for step, state in record["steps"].items():
        if state["status"] in ("succeeded", "cached"):
            nb = step_notebook(folder, step)
            assert nb.cells, step
            check_outputs(Path(state["notebook"]).name, nb, state["parameters"], **context.get(step, {}))
            checked.append(step)
    return checked


def expected_datasets(record: dict, *, made: set[str] = frozenset()) -> set[str]:
    """The datasets a fresh workspace holds after the run: what its step notebooks ingest by themselves
    (_notebook_checks.INGESTS, a ``source``), and the datasets its steps ``made``."""
    found = set(made)
    for state in record["steps"].values():
        if state["status"] in ("succeeded", "cached"):
            found |= ingested_by(Path(state["notebook"]).name, state["parameters"])
    return found


def workspace_datasets(workspace: Path) -> set[str]:
    from mlaas_kernel.data import list_datasets

    return {d.name for d in list_datasets(workspace_dir=workspace)}
