"""models.load_run_model: a run's model by id, prefix or runs:/ URI, and the errors people meet."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlaas_kernel import models, track


@pytest.fixture
def estimator_run(workspace):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), np.repeat([0, 1], 30)
    clf = LogisticRegression().fit(X, y)
    return track.log_estimator(clf, name="toy", metrics={"accuracy": clf.score(X, y)}), X, clf


def test_an_estimator_run_loads_by_id_prefix_and_uri_without_progress_bars(estimator_run, capfd):
    run_id, X, clf = estimator_run
    capfd.readouterr()
    for ref in (run_id, run_id[:8], f"runs:/{run_id}"):
        got = models.load_run_model(ref)
        assert got.run_id == run_id and got.kind == "estimator"
        assert (got.model.predict(X) == clf.predict(X)).all()
    out = capfd.readouterr()
    assert "Downloading artifacts" not in out.err + out.out  # MLflow's tqdm bar stays out of notebooks and the CLI


def test_unknown_runs_and_runs_without_a_model_say_so(estimator_run):
    with pytest.raises(models.ModelNotFoundError, match="no run 'nosuchrun'"):
        models.load_run_model("nosuchrun")
    client, exp = track.setup()
    bare = client.create_run(exp, run_name="bare").info.run_id
    client.set_terminated(bare, "KILLED")
    with pytest.raises(models.ModelNotFoundError, match=rf"run {bare} \(bare, KILLED\) has no usable model"):
        models.load_run_model(bare)
