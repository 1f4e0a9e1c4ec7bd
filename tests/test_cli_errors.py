"""Wrong input on the command line, as a new user types it: one clear line, no traceback."""


import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from _cli import mlaas


@pytest.mark.parametrize("option, value", [("--epochs", "0"), ("--epochs", "-1"), ("--batch-size", "0"), ("--nproc", "zero")])
def test_train_refuses_numbers_that_make_no_sense(env, tmp_path, option, value):
    out = mlaas("train", "mnist", option, value, env=env, cwd=tmp_path)
    assert out.returncode == 2 and f"argument {option}:" in out.stderr and "Traceback" not in out.stderr


def test_train_errors_are_one_line(env, tmp_path):
    assert mlaas("ingest", "mnist", "-q", env=env, cwd=tmp_path).returncode == 0
    snap = mlaas("train", "mnist", "--labels", "nosuchsnap", "--epochs", "1", env=env, cwd=tmp_path)
    assert snap.returncode == 1 and "nosuchsnap: no such label snapshot" in snap.stderr and "Traceback" not in snap.stderr
    gpu = mlaas("train", "mnist", "--epochs", "1", env={**env, "MLAAS_DEVICE": "gpu"}, cwd=tmp_path)
    if "Traceback" not in gpu.stderr and gpu.returncode == 0:
        pytest.skip("this machine has a GPU")
    assert gpu.returncode == 1 and "MLAAS_DEVICE=gpu, but no usable NVIDIA GPU" in gpu.stderr and "Traceback" not in gpu.stderr


def test_run_names_a_missing_notebook_and_unknown_parameters(env, tmp_path):
    missing = mlaas("run", "nosuch.ipynb", env=env, cwd=tmp_path)
    assert missing.returncode == 2 and "nosuch.ipynb: no such notebook" in missing.stderr
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [new_code_cell("epochs = 1\nsource = 'mnist'"), new_code_cell("print(epochs)")]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, tmp_path / "p.ipynb")
    typo = mlaas("run", "p.ipynb", "-p", "epoch", "3", env=env, cwd=tmp_path)
    assert typo.returncode == 2 and "p.ipynb: no parameter 'epoch'; its parameters: epochs, source" in typo.stderr
    assert not (tmp_path / "workspace").exists() and not list(tmp_path.glob("**/p-*.ipynb"))  # nothing ran


def test_export_of_a_dataset_without_labels_is_an_error(env, tmp_path):
    out = mlaas("labels", "export", "nosuch", env=env, cwd=tmp_path)
    assert out.returncode == 1 and "no labels for dataset 'nosuch': nothing to export" in out.stderr
    assert not (tmp_path / "nosuch-labels.csv").exists()


def test_train_warns_once_in_one_line(env, workspace, tmp_path, monkeypatch):
    """A small label snapshot's warning reaches the terminal once, as a line a person reads."""
    import numpy as np

    from mlaas_kernel import data
    from mlaas_kernel.labels import LabelStore

    monkeypatch.setenv("MLAAS_WORKSPACE", str(workspace))
    truth = data.ingest("mnist", progress=False).labels()
    store = LabelStore()
    for item in [int(i) for c in range(10) for i in np.flatnonzero(truth == c)[:2]]:
        store.label("mnist", item, str(truth[item]), annotator="ana")
    snap = store.snapshot("mnist")
    out = mlaas("train", "mnist", "--labels", snap.ref, "--epochs", "2", "--no-track", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    both = out.stdout + out.stderr
    assert both.count("only 20 training items for 10 classes") == 1, both
    assert "mlaas: warning: only 20 training items" in out.stderr and "TrainingWarning" not in both
