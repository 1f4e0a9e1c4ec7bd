"""Every notebook executed headless, as batch users run them: papermill, then nbval."""

import json
import re
import subprocess
import sys

import nbformat
import pytest

from conftest import REPO

# notebooks/pipelines/ holds pipeline steps: the pipeline tests (test_pipelines_*.py) run each of them
# in its pipeline, fed by the steps before it, which is how they are meant to run.
NOTEBOOKS = sorted(p for p in (REPO / "notebooks").rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts and p.parent.name != "pipelines")
# Small parameters per notebook, so each runs in seconds on a CPU.
PARAMETERS = {
    "01_ingest.ipynb": [{"source": "mnist", "n_samples": 10}, {"source": "gpu-benchmarks"}],
    "02_explore.ipynb": [{"embedding_samples": 200, "embedding_method": "tsne"}, {"embedding_samples": 150, "embedding_method": "pca"}],
    "03_label.ipynb": [{"simulate": 40, "n_items": 400, "holdout": 300, "retrain_every": 10}],
    "label_app.ipynb": [{"n_items": 200}],
    "04_train.ipynb": [{"epochs": 1}],
    "04b_train_tabular.ipynb": [{"n_estimators": 20}],
    "05_tune.ipynb": [{"n_trials": 2, "epochs": "1:1", "width": "8:12"}],
    "06_evaluate.ipynb": [{"top_wrong": 8, "png": False}],
    "07_embedding.ipynb": [{"epochs": 1, "view_samples": 300}],
    "08_conformal.ipynb": [{"epochs": 1, "embedding_epochs": 1, "levels": [0.05, 0.1], "n_show": 5, "n_splits": 20}],
    "09_register_serve.ipynb": [{"epochs": 1, "n_show": 4, "int8": "dynamic"}],
    "training_dashboard.ipynb": [{"poll_seconds": 60.0}],
}

# The datasets each notebook leaves in a fresh workspace (papermill runs each in its own).
INGESTS = {
    "02_explore.ipynb": {"gpu-benchmarks", "mnist"},
    "03_label.ipynb": {"mnist"},
    "label_app.ipynb": {"mnist"},
    "04_train.ipynb": {"mnist"},
    "04b_train_tabular.ipynb": {"gpu-benchmarks"},
    "05_tune.ipynb": {"mnist"},
    "06_evaluate.ipynb": {"gpu-benchmarks", "mnist"},
    "07_embedding.ipynb": {"mnist"},
    "08_conformal.ipynb": {"mnist"},
    "09_register_serve.ipynb": {"mnist"},
}


def n_points(values) -> int:
    """Length of a plotly JSON array, plain or base64-encoded typed array ({"dtype", "bdata"})."""
    if isinstance(values, dict) and "bdata" in values:
        import base64

        import numpy as np

        return len(base64.b64decode(values["bdata"])) // np.dtype(values["dtype"]).itemsize
    return len(values)


def widget_plots(nb) -> list[dict]:
    """The plotly figures shown in Output widgets (PlotOutput), from the widget state papermill saves."""
    states = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [o["data"]["application/vnd.plotly.v1+json"] for m in states.values() if m.get("model_name") == "OutputModel"
            for o in m["state"].get("outputs", []) if "application/vnd.plotly.v1+json" in o.get("data", {})]


def outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.extend(str(v) for v in out.get("data", {}).values())
    return "\n".join(parts)


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
    if notebook.name == "training_dashboard.ipynb":  # a tracked run for the dashboard to show
        from mlflow.entities import Metric

        from mlaas_kernel import track

        client, exp_id = track.setup(workspace_dir=workspace)
        run_id = client.create_run(exp_id, run_name="nb-run").info.run_id
        client.log_batch(run_id, metrics=[Metric(k, 0.5, 0, e) for k in ("loss", "val_loss", "val_accuracy") for e in (1, 2, 3)])
        client.set_terminated(run_id, "FINISHED")
    pm.execute_notebook(str(notebook), str(out), parameters=params, cwd=str(notebook.parent), progress_bar=False, kernel_name="python3")
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    text = outputs_text(nb)
    if notebook.name == "02_explore.ipynb":
        plots = widget_plots(nb)
        assert len(plots) == 4  # correlations, price/performance, performance per watt, embedding
        [embedding] = [p for p in plots if "images, coloured by label" in p["layout"]["title"]["text"]]
        assert sum(n_points(trace["x"]) for trace in embedding["data"]) == params["embedding_samples"]
        assert all(p["data"] for p in plots) and "no data yet" not in json.dumps(plots)
        assert "application/vnd.jupyter.widget-view+json" in text or "model_id" in text  # the badge
        assert "backend: cpu" in text or "backend: gpu" in text
    if notebook.name == "training_dashboard.ipynb":
        [curves] = widget_plots(nb)
        assert {t["name"] for t in curves["data"]} == {f"nb-run ({run_id[:6]})"} and len(curves["data"]) == 3
        assert all(n_points(t["x"]) == 3 for t in curves["data"])
        assert run_id in json.dumps(nb.metadata["widgets"])  # the runs table names the run
    if notebook.name == "03_label.ipynb":
        assert "40 of 400 labeled by me" in text and "held-out accuracy after 40 labels" in text
        assert "label snapshot: mnist@sha256:" in text
    if notebook.name == "04_train.ipynb":
        assert "run id: " in text and "validation accuracy: 0.9" in text  # one epoch on 8,000 digits
    if notebook.name == "07_embedding.ipynb":
        assert "validation silhouette: 0." in text and "validation kNN accuracy: 0.9" in text  # one epoch on 8,000 digits
        titles = [(p, p["layout"].get("title", {}).get("text", "")) for p in widget_plots(nb)]  # the monitor's chart has none
        [curve] = [p for p, title in titles if "silhouette and kNN accuracy per epoch" in title]
        [view] = [p for p, title in titles if "validation digits, coloured by class" in title]
        assert n_points(curve["data"][0]["y"]) == 1 and len(view["data"]) == 10  # one epoch; one trace per digit
        assert sum(n_points(t["x"]) for t in view["data"]) == params["view_samples"]
        assert (view["layout"]["xaxis"]["title"]["text"], view["layout"]["yaxis"]["title"]["text"]) == ("PC 1", "PC 2")
    if notebook.name == "04b_train_tabular.ipynb":
        assert "accuracy 0." in text and "R² 0." in text
        figures = [o["data"]["application/vnd.plotly.v1+json"] for c in nb.cells for o in c.get("outputs", []) if "application/vnd.plotly.v1+json" in o.get("data", {})]
        [importance] = [f for f in figures if "predicts the category" in str(f["layout"].get("title", ""))]
        legend = [t.get("name") for t in importance["data"] if t.get("showlegend", True) and t.get("name")]
        assert legend == [], f"the importance chart has a stray legend: {legend}"
        assert n_points(importance["data"][0]["x"]) == n_points(importance["data"][0]["y"]) > 3  # one bar per feature
    if notebook.name == "06_evaluate.ipynb":
        assert "classification on the validation split of mnist (2,000 items)" in text and "weakest classes:" in text
        assert "regression on the test rows of gpu-benchmarks" in text and "worst category:" in text
        titles = [p["layout"]["title"]["text"] for p in widget_plots(nb)]
        assert len(titles) == 8 and "The 8 most confidently wrong predictions" in titles  # 4 + the images + 3 regression figures
        assert any(t.startswith("Reliability (10 equal-width bins, ECE 0.") for t in titles)
    if notebook.name == "08_conformal.ipynb":
        for score in ("lac", "aps", "knn"):
            assert f"{score} sets at significance 0.05 (target coverage 95.0%)" in text
        assert "kNN distances on the 16-d siamese embedding of run" in text and "p-value 9" in text and "over 20 splits" in text
        [chart] = widget_plots(nb)
        names = [t["name"] for t in chart["data"]]
        assert names[0] == "target: coverage = 1 - significance" and {"lac", "aps", "knn"} <= set(names)
        assert all(n_points(t["x"]) == 2 for t in chart["data"])  # the two levels asked for
        assert chart["data"][1]["error_y"]["visible"] and "coverage_sd" in text
    if notebook.name == "05_tune.ipynb":
        assert "2 complete, 0 pruned, 0 failed" in text and "parent run id: " in text
        titles = [str(p["layout"].get("title", {}).get("text", "")) for p in widget_plots(nb)]
        assert len(titles) == 4 and "Optimization History Plot" in titles and "Hyperparameter Importances" in titles, titles
    if notebook.name == "09_register_serve.ipynb":
        assert "mnist-cnn-tour version 1 (champion) from run" in text and "max |Δ probabilities|" in text
        assert "int8 (dynamic) accuracy" in text and "the endpoint still answers with version 1" in text
        assert re.search(r"promoted version 2 to champion: the endpoint answered with it after [0-9.]+ s", text)
        assert "rolled back to version 1" in text and "the same classes as version 1 gave before: True" in text
        assert "server log: mnist-cnn-tour@champion now answers with version 2" in text
        assert all(ln.startswith("server log: ") for ln in text.splitlines() if "now answers with" in ln)  # the rest in its log
        assert "TrainingWarning" not in text and "<NA>" not in text
        assert re.search(r"\bpromote\s+1\s+\d\d:\d\d", text) and re.search(r"\brollback\s+2\s+\d\d:\d\d", text)  # from 1, from 2
        from mlaas_kernel import registry

        assert [m.name for m in registry.list_models(workspace_dir=workspace)] == ["mnist-cnn-tour"]  # the user's names untouched
        assert not (workspace / "labels.db").exists()  # no labels written
        [chart] = widget_plots(nb)
        bars = [t for t in chart["data"] if t["type"] == "bar"]
        assert len(bars) == 2 * params["n_show"] and {t["name"] for t in bars} == {"version 1", "version 2"}
        assert all(n_points(t["y"]) == 10 for t in bars)  # one bar per class
    if notebook.name == "01_ingest.ipynb":
        assert f"dataset '{params['source']}'" in text
    from mlaas_kernel.data import list_datasets

    ingested = {d.name for d in list_datasets(workspace_dir=workspace)}
    expected = INGESTS.get(notebook.name, set()) | ({params["source"]} if "source" in params else set())
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
