"""Reading runs back, and recording a fitted estimator as a finished run."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ._store import setup
from ._mlrun import pipeline_tags, record_end as _record, versions


def log_estimator(estimator, *, name: str, metrics: dict[str, float], params: dict | None = None, tags: dict | None = None,
                  experiment: str = "mlaas", workspace_dir: str | os.PathLike | None = None) -> str:
    """Record a fitted scikit-learn-style estimator as a finished MLflow run; returns its run id.

    Logs its parameters, ``metrics``, feature importances when it has them, and the pickled model.
    """
    import pickle
    import tempfile

    from mlflow.entities import Metric, Param

    from ._pending import deliver_all_pending

    client, exp_id = setup(experiment, workspace_dir=workspace_dir)
    for line in deliver_all_pending(client, workspace_dir=workspace_dir):
        print(line)
    run = client.create_run(exp_id, run_name=name, tags={"mlaas.estimator": type(estimator).__name__,
                                                         **{f"mlaas.version.{k}": v for k, v in versions().items()},
                                                         **pipeline_tags(),
                                                         **{k: str(v) for k, v in (tags or {}).items()}})
    run_id = run.info.run_id
    all_params = {**estimator.get_params(), **(params or {})}
    now = int(time.time() * 1000)
    client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in all_params.items()],
                     metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
    if hasattr(estimator, "importances"):
        client.log_dict(run_id, {k: float(v) for k, v in estimator.importances().items()}, "feature_importances.json")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pkl"
        path.write_bytes(pickle.dumps(estimator))
        client.log_artifact(run_id, str(path), "model")
    client.set_terminated(run_id, "FINISHED")
    _record(run_id, "FINISHED", metrics, experiment)
    return run_id


def runs(experiment: str = "mlaas", *, workspace_dir: str | os.PathLike | None = None, max_results: int = 200) -> list:
    """The experiment's runs, newest first (MLflow ``Run`` objects)."""
    client, exp_id = setup(experiment, workspace_dir=workspace_dir)
    return client.search_runs([exp_id], order_by=["attributes.start_time DESC"], max_results=max_results)


def metric_history(run_id: str, key: str, *, workspace_dir: str | os.PathLike | None = None) -> list[tuple[int, float]]:
    """(step, value) pairs of one metric of one run."""
    client, _ = setup(workspace_dir=workspace_dir)
    return [(m.step, m.value) for m in sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))]
