"""Every notebook executed headless, as batch users run them: papermill, then nbval."""

import subprocess
import sys

import nbformat
import pytest

from _notebook_checks import check_outputs, ingested_by
from conftest import REPO

# notebooks/pipelines/ holds pipeline steps: the pipeline tests (test_pipelines_*.py) run each of them
# in its pipeline, fed by the steps before it, which is how they are meant to run.
NOTEBOOKS = sorted(p for p in (REPO / "notebooks").rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts and p.parent.name != "pipelines")
# Small parameters per notebook, so each runs in seconds on a CPU. An empty list: a pipeline test runs the notebook
# as a step with these parameters and applies the same checks (tests/_notebook_checks.py) to the notebook it saves,
# so it is not run a second time here; it still runs alone with its defaults under nbval (below). Where: 01 on mnist
# (10 samples) in digits and on gpu-benchmarks in gpu-specs; 02 (pca) and 03 (simulated annotator) in digits; 04
# (1 epoch on every digit) and 05 (2 trials of 1 epoch, widths 8:12) in platform; the training dashboard in digits,
# drawing the pipeline's 2-epoch CNN run (tests/test_pipelines_lifecycle.py, tests/test_pipelines_tabular.py).
PARAMETERS = {
    "01_ingest.ipynb": [],
    "02_explore.ipynb": [{"embedding_samples": 200, "embedding_method": "tsne"}],
    "03_label.ipynb": [],
    "label_app.ipynb": [{"n_items": 200}],
    "04_train.ipynb": [],
    "04b_train_tabular.ipynb": [{"n_estimators": 20}],
    "05_tune.ipynb": [],
    "06_evaluate.ipynb": [{"top_wrong": 8, "png": False}],
    "07_embedding.ipynb": [{"epochs": 1, "view_samples": 300}],
    "08_conformal.ipynb": [{"epochs": 1, "embedding_epochs": 1, "levels": [0.05, 0.1], "n_show": 5, "n_splits": 20}],
    "09_register_serve.ipynb": [{"epochs": 1, "n_show": 4, "int8": "dynamic"}],
    "training_dashboard.ipynb": [],
}


@pytest.mark.notebook
@pytest.mark.parametrize(
    "notebook, params",
    [(nb, p) for nb in NOTEBOOKS for p in PARAMETERS.get(nb.name, [{}])],
    ids=lambda v: v.name if hasattr(v, "name") else "-".join(f"{k}={val}" for k, val in v.items()),
)
def test_notebook_runs_under_papermill(notebook, params, workspace, jupyter_env, artifacts, monkeypatch):
    import papermill as pm

    for key, value in jupyter_env.items():
        monkeypatch.setenv(key, value)
    out = artifacts / notebook.name
    pm.execute_notebook(str(notebook), str(out), parameters=params, cwd=str(notebook.parent), progress_bar=False, kernel_name="python3")
    check_outputs(notebook.name, nbformat.read(out, as_version=4), params, workspace=workspace)
    from mlaas_kernel.data import list_datasets

    ingested = {d.name for d in list_datasets(workspace_dir=workspace)}
    expected = ingested_by(notebook.name, params)
    assert ingested == expected, f"{notebook.name} left datasets {ingested}, expected {expected}"


@pytest.mark.notebook
def test_notebooks_pass_nbval(workspace, jupyter_env, tmp_path):
    """``pytest --nbval-lax`` over the notebooks with their default parameters."""
    env = {**jupyter_env, "MLAAS_WORKSPACE": str(workspace)}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path), *map(str, NOTEBOOKS)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert f"{sum(1 for _ in NOTEBOOKS)} failed" not in res.stdout and " passed" in res.stdout
