"""Tabular models (random forests logged by ``track.log_estimator``, notebook 04b) to ONNX through skl2onnx.

The graph holds the forest; its input is the encoded feature vector (numbers, one-hot categories:
``serving.json``'s ``features``), as float32. ``encode_rows`` builds that vector from raw rows.
Parity runs on the task's test rows (``evaluate.TabularTask``); skl2onnx's tree ensembles compute
in float32, scikit-learn's in float64, so outputs differ slightly: classifiers are held to 1e-4
absolute (probabilities), regressors to 1e-5 relative to the largest prediction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _parity
from ._errors import ExportError

REGRESSION_RTOL = 1e-5


def _forest(est):
    """The scikit-learn object skl2onnx converts, and whether ``est`` is one of train's tabular wrappers."""
    if hasattr(est, "preprocessor_") and hasattr(est, "model_"):
        inner = getattr(est.model_, "wrapped", est.model_)
        as_sklearn = getattr(inner, "as_sklearn", None)  # cuML estimators convert to scikit-learn's
        return (as_sklearn() if callable(as_sklearn) and not type(inner).__module__.startswith("sklearn") else inner), True
    return est, False


def _is_classifier(model) -> bool:
    return hasattr(model, "predict_proba") and hasattr(model, "classes_")


def _convert(model, n_features: int):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(model): {"zipmap": False}} if _is_classifier(model) else None
    try:
        return convert_sklearn(model, initial_types=[("input", FloatTensorType([None, n_features]))], options=options)
    except Exception as exc:  # skl2onnx raises several types (MissingShapeCalculator, RuntimeError, NotImplementedError...)
        raise ExportError(f"skl2onnx cannot convert a {type(model).__module__}.{type(model).__name__} to ONNX "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None


def _rename_outputs(onx, classifier: bool):
    """Keep one output: ``probabilities`` (classifier) or ``prediction`` (regressor, renamed from skl2onnx's ``variable``)."""
    graph = onx.graph
    keep = "probabilities" if classifier else graph.output[0].name
    outputs = [o for o in graph.output if o.name == keep]
    del graph.output[:]
    graph.output.extend(outputs)
    if not classifier:
        for node in graph.node:
            node.output[:] = ["prediction" if n == keep else n for n in node.output]
        graph.output[0].name = "prediction"
    return onx


def _test_rows(loaded, check_n: int, workspace_dir):
    from ..evaluate import TabularTask, TaskError

    try:
        task = TabularTask.from_run(loaded.run)
        _, X_test, _, _ = task.split(workspace_dir=workspace_dir)
    except TaskError as exc:
        raise ExportError(f"run {loaded.run_id}: no test rows to check the export on: {exc}") from None
    X_test = X_test.iloc[:check_n]
    return task, X_test, f"{len(X_test):,} test rows of {task.dataset} (target {task.target})"


def _inputs(est, wrapped: bool, X_test) -> np.ndarray:
    return est._features(X_test) if wrapped else np.asarray(X_test, dtype=np.float32)


def tabular_onnx(loaded, path: Path, check_n: int, workspace_dir):
    """The estimator of ``loaded`` as ONNX at ``path``, checked on the task's test rows."""
    from ._onnx import OnnxExport, session

    est = loaded.model
    model, wrapped = _forest(est)
    classifier = _is_classifier(model)
    n_features = len(est.feature_names_) if wrapped else int(getattr(est, "n_features_in_", 0))
    onx = _rename_outputs(_convert(model, n_features), classifier)  # first: an unconvertible model fails before any data is read
    task, X_test, data = _test_rows(loaded, check_n, workspace_dir)
    x = _inputs(est, wrapped, X_test)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onx.SerializeToString())
    sess = session(path)
    name = "probabilities" if classifier else "prediction"
    run = lambda c: sess.run([name], {"input": c})[0]  # noqa: E731
    what = f"ONNX export of run {loaded.run_id}"
    if classifier:
        parity = _parity.check(run, x, model.predict_proba(x))
        _parity.require(parity, tol=_parity.PROBA_TOL, what=what)
        return OnnxExport(path, parity.max_abs_diff, True, parity.n_checked, "input", name, batch_sizes=parity.batch_sizes,
                          data=data, notes=[f"ONNX Runtime against scikit-learn on {parity.text()}"])
    reference = np.asarray(model.predict(x), dtype=np.float64)
    parity = _parity.check(run, x, reference, classes=lambda out: np.zeros(len(out)))
    scale = max(float(np.abs(reference).max()), 1e-12)
    relative = parity.max_abs_diff / scale
    note = (f"ONNX Runtime against scikit-learn on {parity.n_checked:,} rows, batch sizes {', '.join(map(str, parity.batch_sizes))}: "
            f"max |Δ prediction| {parity.max_abs_diff:.3g} ({relative:.2e} of the largest prediction, {scale:.4g}; "
            f"float32 trees against float64, tolerance {REGRESSION_RTOL:g} relative)")
    if not relative < REGRESSION_RTOL:
        raise ExportError(f"{what}: predictions differ by {parity.max_abs_diff:.3g} ({relative:.2e} relative, tolerance {REGRESSION_RTOL:g})")
    return OnnxExport(path, parity.max_abs_diff, True, parity.n_checked, "input", name, tolerance=REGRESSION_RTOL * scale,
                      batch_sizes=parity.batch_sizes, data=data, notes=[note])


def _encoding(est) -> dict | None:
    """How raw rows become the input vector (see ``_encoding``), read off the fitted ColumnTransformer."""
    pre = getattr(est, "preprocessor_", None)
    if pre is None:
        return None
    numeric, categorical = {}, {}
    for name, step, columns in pre.transformers_:
        if name == "num":
            numeric = {str(c): float(v) for c, v in zip(columns, step.statistics_)}
        elif name == "cat":
            encoder = step[-1]
            categorical = {str(c): [str(v) for v in cats] for c, cats in zip(columns, encoder.categories_)}
    return {"numeric": numeric, "categorical": categorical, "missing": "missing"}


def tabular_metadata(loaded, workspace_dir) -> dict:
    """serving.json's model part for a tabular estimator."""
    from ..evaluate import TabularTask, TaskError

    est = loaded.model
    model, wrapped = _forest(est)
    try:
        kind = TabularTask.from_run(loaded.run).kind
    except TaskError:
        kind = "classification" if _is_classifier(model) else "regression"
    raw = [str(c) for c in getattr(est, "feature_names_in_", [])] or [f"x{i}" for i in range(int(est.n_features_in_))]
    features = list(est.feature_names_) if wrapped else raw
    return {"kind": "tabular", "task": kind, "input_shape": [len(features)], "features": features, "raw_features": raw,
            "classes": [str(c) for c in est.classes_] if kind == "classification" else [], "encoding": _encoding(est)}
