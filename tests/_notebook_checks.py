"""What an executed notebook must show, per notebook: one set of checks for every place a notebook runs.

tests/test_notebooks.py applies them to its papermill runs (each notebook alone in a fresh workspace), the
pipeline tests (tests/_pipelines.py) to the step notebooks a pipeline run saves (workspace/pipelines/NAME/RUN/
STEP.ipynb), with the parameters the step ran with. A check reads only the notebook, its parameters and what
the caller names (``context``); it never assumes which workspace the notebook ran in.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

# The datasets each notebook ingests by itself (into a fresh workspace, or one that already has them), besides a
# ``source`` parameter's; each notebook ingests what it reads, so it also runs alone.
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


def ingested_by(name: str, params: dict) -> set[str]:
    """The datasets notebook ``name`` run with ``params`` leaves in the workspace (INGESTS and its ``source``)."""
    return INGESTS.get(name, set()) | ({params["source"]} if "source" in params else set())


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


def check_outputs(name: str, nb, params: dict, **context) -> None:
    """Assert that notebook ``name`` (its file name), executed with ``params``, has no error output and shows what
    it should. ``context``: what a check needs besides the notebook (``workspace`` for 09, ``run`` for the dashboard)."""
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == [], f"{name}: {errors}"
    check = CHECKS.get(name)
    if check is not None:
        wanted = inspect.signature(check).parameters
        check(nb, outputs_text(nb), params, **{k: v for k, v in context.items() if k in wanted})


def _ingest(nb, text, params):
    assert f"dataset '{params['source']}'" in text


def _explore(nb, text, params):
    plots = widget_plots(nb)
    assert len(plots) == 4  # correlations, price/performance, performance per watt, embedding
    [embedding] = [p for p in plots if "images, coloured by label" in p["layout"]["title"]["text"]]
    assert sum(n_points(trace["x"]) for trace in embedding["data"]) == params["embedding_samples"]
    assert all(p["data"] for p in plots) and "no data yet" not in json.dumps(plots)
    assert "application/vnd.jupyter.widget-view+json" in text or "model_id" in text  # the badge
    assert "backend: cpu" in text or "backend: gpu" in text


def _dashboard(nb, text, params, *, run):
    """``run``: (run id, run name, epochs logged) of the one run the dashboard must draw, all three curves."""
    run_id, run_name, epochs = run
    [curves] = widget_plots(nb)
    assert {t["name"] for t in curves["data"]} == {f"{run_name} ({run_id[:6]})"} and len(curves["data"]) == 3
    assert all(n_points(t["x"]) == epochs for t in curves["data"])
    assert run_id in json.dumps(nb.metadata["widgets"])  # the runs table names the run


def _label(nb, text, params):
    simulate, n_items, annotator = params["simulate"], params["n_items"], params.get("annotator", "me")
    assert f"{simulate} of {n_items} labeled by {annotator}" in text and f"held-out accuracy after {simulate} labels" in text
    assert "label snapshot: mnist@sha256:" in text


def _train(nb, text, params):
    assert "run id: " in text and "validation accuracy: " in text
    if not params.get("labels") and params.get("dataset", "mnist") == "mnist" and params.get("epochs") == 1:
        assert "validation accuracy: 0.9" in text  # one epoch on 8,000 digits


def _embedding(nb, text, params):
    assert "validation silhouette: 0." in text and "validation kNN accuracy: 0.9" in text  # one epoch on 8,000 digits
    titles = [(p, p["layout"].get("title", {}).get("text", "")) for p in widget_plots(nb)]  # the monitor's chart has none
    [curve] = [p for p, title in titles if "silhouette and kNN accuracy per epoch" in title]
    [view] = [p for p, title in titles if "validation digits, coloured by class" in title]
    assert n_points(curve["data"][0]["y"]) == 1 and len(view["data"]) == 10  # one epoch; one trace per digit
    assert sum(n_points(t["x"]) for t in view["data"]) == params["view_samples"]
    assert (view["layout"]["xaxis"]["title"]["text"], view["layout"]["yaxis"]["title"]["text"]) == ("PC 1", "PC 2")


def _tabular(nb, text, params):
    assert "accuracy 0." in text and "R² 0." in text
    figures = [o["data"]["application/vnd.plotly.v1+json"] for c in nb.cells for o in c.get("outputs", [])
               if "application/vnd.plotly.v1+json" in o.get("data", {})]
    [importance] = [f for f in figures if "predicts the category" in str(f["layout"].get("title", ""))]
    legend = [t.get("name") for t in importance["data"] if t.get("showlegend", True) and t.get("name")]
    assert legend == [], f"the importance chart has a stray legend: {legend}"
    assert n_points(importance["data"][0]["x"]) == n_points(importance["data"][0]["y"]) > 3  # one bar per feature


def _evaluate(nb, text, params):
    assert "classification on the validation split of mnist (2,000 items)" in text and "weakest classes:" in text
    assert "regression on the test rows of gpu-benchmarks" in text and "worst category:" in text
    titles = [p["layout"]["title"]["text"] for p in widget_plots(nb)]
    assert len(titles) == 8 and "The 8 most confidently wrong predictions" in titles  # 4 + the images + 3 regression figures
    assert any(t.startswith("Reliability (10 equal-width bins, ECE 0.") for t in titles)


def _conformal(nb, text, params):
    for score in ("lac", "aps", "knn"):
        assert f"{score} sets at significance 0.05 (target coverage 95.0%)" in text
    assert "kNN distances on the 16-d siamese embedding of run" in text and "p-value 9" in text and "over 20 splits" in text
    [chart] = widget_plots(nb)
    names = [t["name"] for t in chart["data"]]
    assert names[0] == "target: coverage = 1 - significance" and {"lac", "aps", "knn"} <= set(names)
    assert all(n_points(t["x"]) == 2 for t in chart["data"])  # the two levels asked for
    assert chart["data"][1]["error_y"]["visible"] and "coverage_sd" in text


def _tune(nb, text, params):
    assert f"{params['n_trials']} complete, 0 pruned, 0 failed" in text and "parent run id: " in text
    titles = [str(p["layout"].get("title", {}).get("text", "")) for p in widget_plots(nb)]
    assert len(titles) == 4 and "Optimization History Plot" in titles and "Hyperparameter Importances" in titles, titles


def _register_serve(nb, text, params, *, workspace: Path):
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


CHECKS = {
    "01_ingest.ipynb": _ingest,
    "02_explore.ipynb": _explore,
    "03_label.ipynb": _label,
    "04_train.ipynb": _train,
    "04b_train_tabular.ipynb": _tabular,
    "05_tune.ipynb": _tune,
    "06_evaluate.ipynb": _evaluate,
    "07_embedding.ipynb": _embedding,
    "08_conformal.ipynb": _conformal,
    "09_register_serve.ipynb": _register_serve,
    "training_dashboard.ipynb": _dashboard,
}
