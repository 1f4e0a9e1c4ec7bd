"""The simple routes' work, free of any web framework: parse a body, check it, shape the answer (orjson bytes).

The FastAPI routes and the ASGI fast path both call these, so the schema OpenAPI shows and the
path that is measured are the same code.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import numpy as np

from ._errors import ServeInputError

__all__ = ["parse_body", "query_significance", "batch_of", "predictions_body", "error_body", "sets_note"]


def error_body(message: str) -> bytes:
    import orjson

    return orjson.dumps({"error": message})


def parse_body(body: bytes):
    """The JSON document in ``body`` (400 naming what is wrong when it is not JSON)."""
    import orjson

    if not body:
        raise ServeInputError("body: empty; expected a JSON object such as {\"instances\": [...]}", status=400)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "infinity" in str(exc) or b"NaN" in body or b"Infinity" in body:
            raise ServeInputError(f"body: NaN or an infinite number ({exc}): the model takes finite numbers "
                                  "(and NaN/Infinity are not JSON)") from None
        if body.startswith(b"--") and b"form-data" in body[:1000]:
            raise ServeInputError("body: a multipart/form-data upload; /predict takes JSON {\"instances\": [...]}: "
                                  "send image files to POST /predict/image", status=415) from None
        raise ServeInputError(f"body: not valid JSON ({exc})", status=400) from None


def _level(value, where: str) -> float:
    from ..conformal._checks import ConformalInputError, check_significance

    try:
        return check_significance(value)
    except ConformalInputError as exc:
        raise ServeInputError(f"{where}: {exc}") from None


def query_significance(query: bytes | str, payload=None) -> float | None:
    """The conformal level asked for: ``?significance=`` or the body's ``significance`` field (None: the bundle's)."""
    if query:
        values = parse_qs(query.decode() if isinstance(query, bytes) else query).get("significance")
        if values:
            return _level(values[-1], "significance (query)")
    if isinstance(payload, dict) and payload.get("significance") is not None:
        return _level(payload["significance"], "significance")
    return None


def _records(rows: list, predictor, notes: dict | None = None) -> list | np.ndarray:
    """Tabular records ``{feature: value}`` as the model's input rows; a missing or extra feature is named.

    With an ``encoding`` in serving.json the records hold raw columns (categories as text), encoded
    as training did (``export.encode_rows``); without one they hold the input features themselves.
    """
    meta = predictor.metadata
    features = list(meta.get("raw_features") or predictor.features) if meta.get("encoding") else predictor.features
    wanted = set(features)
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ServeInputError(f"instances[{i}]: expected an object {{feature: value}} like the others, got {type(row).__name__}")
        if row.keys() != wanted:
            missing = [f for f in features if f not in row]
            extra = sorted(str(k) for k in row.keys() - wanted)
            said = "; ".join(s for s in (f"missing feature(s) {missing}" if missing else "",
                                         f"unknown feature(s) {extra}" if extra else "") if s)
            raise ServeInputError(f"instances[{i}]: {said}; the model's features are {features}")
        if not meta.get("encoding"):
            out.append([row[f] for f in features])
    if not meta.get("encoding"):
        return out
    from ..export import ExportError, encode_rows
    from ._tabular import check_rows

    found = check_rows(meta, rows)  # an unknown category refused; values filled in with the median named
    if notes is not None:
        notes.update(found)

    try:
        return encode_rows(meta, rows)
    except ExportError as exc:
        raise ServeInputError(f"instances: {exc}") from None


def batch_of(payload, predictor, notes: dict | None = None) -> np.ndarray:
    """The checked float32 batch in a /predict body: ``{"instances": [...]}`` or ``{"inputs": [...]}``; ``notes``
    (a dict) gets what the answer should say about the input (``imputed``: tabular values filled in)."""
    if not isinstance(payload, dict):
        raise ServeInputError(f"body: expected a JSON object {{\"instances\": [...]}}, got a JSON {type(payload).__name__}")
    field = "instances" if "instances" in payload else "inputs" if "inputs" in payload else None
    if field is None:
        raise ServeInputError("instances: missing; the body must hold \"instances\" (or \"inputs\"): a list of items")
    rows = payload[field]
    if not isinstance(rows, list):
        raise ServeInputError(f"{field}: expected a list of items, got a JSON {type(rows).__name__}")
    if predictor.kind == "tabular" and rows and isinstance(rows[0], dict):
        rows = _records(rows, predictor, notes)
    elif rows and any(isinstance(r, dict) for r in rows):
        raise ServeInputError(f"{field}: records {{feature: value}} are for tabular models; this one takes arrays "
                              f"of shape [N, {', '.join(map(str, predictor.input_shape))}]")
    return predictor.check(rows, field=field)


def _items(predictor, out: np.ndarray, significance, sets) -> list[dict]:
    if predictor.task == "regression":
        return [{"prediction": v} for v in out.reshape(len(out), -1)[:, 0].tolist()]
    if predictor.task == "embedding":
        return [{"embedding": row} for row in out.tolist()]
    labels = predictor.labels
    keys = predictor.label_keys
    best = out.argmax(axis=1).tolist()
    if significance is not None or sets is None:  # sets at the bundle's level come computed with the batch
        sets = _sets(predictor, out, significance)
    items = []
    for i, row in enumerate(out.tolist()):
        item = {"class": labels[best[i]], "probabilities": dict(zip(keys, row))}
        if sets is not None:
            item["set"] = sets[i]
        items.append(item)
    return items


def _sets(predictor, out, significance):
    from ..conformal._checks import ConformalInputError

    try:
        return predictor.sets(out, significance)
    except ConformalInputError as exc:
        raise ServeInputError(f"significance: {exc}") from None


def sets_note(predictor) -> str:
    """Why a classifier's answers carry no ``set``: its version has no conformal calibration, and how to add one."""
    run = predictor.metadata.get("run_id") or "RUN"
    return (f"no conformal calibration for version {predictor.version}, so no prediction sets: run `mlaas conformal {run}`, "
            "and this endpoint serves its sets within 10 s (it checks the run's calibration every 10 s)")


def predictions_body(predictor, out: np.ndarray, significance=None, *, sets=None, files=None, notes=None) -> bytes:
    """The /predict answer: ``{"model", "version", "predictions": [...]}`` (with ``file`` per item for uploads);
    ``sets``: the rows' sets at the bundle's level when already computed; ``notes``: said about the input."""
    import orjson

    items = _items(predictor, out, significance, sets)
    if files is not None:
        for item, name in zip(items, files):
            item["file"] = name
    level = significance if significance is not None else predictor.significance
    answer = {"model": predictor.name, "version": predictor.version, "predictions": items}
    if predictor.has_sets:
        answer["significance"] = level
    elif predictor.task == "classification":
        answer["notes"] = {"sets": sets_note(predictor)}
    if notes:
        answer["notes"] = {**answer.get("notes", {}), **notes}
    return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
