"""The prediction playground's work, without UI: which registered model to ask, where it runs
(a running endpoint, or ONNX Runtime in this process) and its answer in one shape.

``Playground(ref)`` follows a registered model (``NAME@ALIAS``, ``NAME/VERSION``, ``NAME``). Each
prediction looks for a running endpoint first: ``endpoint=`` (a URL) when given, else the file a
running ``mlaas serve NAME@ALIAS`` keeps in ``workspace/serving/endpoints/`` (its process alive and
its ``/ready`` answering). With none, the version the reference resolves to now is bundled
(``export.bundle``) and run in process (``serve.OnnxPredictor``). :class:`Prediction` says which.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EMBEDDING", "NO_MODEL", "Playground", "PlaygroundError", "Prediction", "default_ref", "feature_names", "find_endpoint", "form_fields",
           "model_kind", "model_names", "no_set_note", "page_parameters", "probability_figure", "summaries", "unshowable"]

NO_MODEL = ("No registered model yet. Train one (`mlaas train mnist --epochs 1` prints its run id), then register "
            "the run: `mlaas models register RUN`. The first version of a name becomes its champion, which this page shows.")


EMBEDDING = ("an embedding model: it answers with a vector per image, not a class and its probabilities, so this page "
             "cannot show it (notebooks 07 and 08 use it); the page shows image classifiers and tabular models")


class PlaygroundError(LookupError):
    """No model to show, or a model or input the playground cannot use; the message says which."""


@dataclass
class Prediction:
    """One answer: the class with its probabilities and conformal set, or a regression's value."""

    name: str
    version: int | None
    aliases: tuple[str, ...]
    via: str  # "endpoint" or "in process"
    url: str | None = None
    labels: list[str] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)
    predicted: str | None = None
    set: list[str] | None = None  # None: the model has no conformal calibration
    significance: float | None = None
    value: float | None = None  # a regression's prediction
    note: str = ""  # why the endpoint was not used, when one was asked for
    set_note: str = ""  # why a classifier's answer has no conformal set (its version has no calibration)

    def source_text(self) -> str:
        """Where the answer came from: ``via endpoint URL (version 3)`` or ``in process, no endpoint running``."""
        if self.via == "endpoint":
            return f"via endpoint {self.url} (version {self.version})"
        return "in process, " + (self.note or "no endpoint running")

    def model_text(self) -> str:
        aliases = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.name} version {self.version}{aliases}"

    def answer_text(self) -> str:
        """The answer in words: class and probability with the set, or the predicted value."""
        if self.value is not None:
            return f"predicted {self.value:,.1f}"
        p = dict(zip(self.labels, self.probabilities)).get(self.predicted, float("nan"))
        text = f"class {self.predicted} (probability {p:.3f})"
        if self.set is not None:
            level = f" at {1 - self.significance:.0%} coverage" if self.significance is not None else ""
            text += f"; conformal set{level}: {{{', '.join(self.set)}}}" + (" (empty: nothing fits well enough)" if not self.set else "")
        elif self.set_note:
            text += f"; {self.set_note}"
        return text


def summaries(*, workspace_dir: str | os.PathLike | None = None) -> list:
    """The registered models (``registry.list_models``: name, versions, aliases), [] when there are none."""
    from . import registry

    return registry.list_models(workspace_dir=workspace_dir)


def model_kind(summary) -> str:
    """What a registered model holds: ``cnn``, ``estimator`` or ``embedding`` (its newest version's
    ``mlaas.lineage.model_kind`` tag; a version without it counts as an embedding when judged by silhouette)."""
    newest = summary.versions[0] if summary.versions else None
    tags = newest.tags if newest is not None else {}
    kind = tags.get("mlaas.lineage.model_kind")
    if kind:
        return str(kind)
    return "embedding" if tags.get("mlaas.key_metric") == "silhouette" else "cnn"


def unshowable(summary) -> str | None:
    """Why the playground cannot show ``summary``'s model (an embedding answers with a vector, not a
    class), or None when it can (image classifiers and tabular models)."""
    if model_kind(summary) == "embedding":
        return f"{summary.name} is {EMBEDDING}"
    return None


def model_names(*, workspace_dir: str | os.PathLike | None = None) -> list[str]:
    """The registered models' names."""
    return [m.name for m in summaries(workspace_dir=workspace_dir)]


def default_ref(names: list[str] | None = None, *, kind: str = "image") -> str | None:
    """The champion of the model to show first: an image classifier (``*-cnn``, else ``*-cnn*``) for ``kind="image"``,
    a tabular one (``gpu-*``) for ``kind="tabular"``; else the first name. None with no models."""
    names = model_names() if names is None else names
    if not names:
        return None
    if kind == "image":  # mnist-cnn before a tour's mnist-cnn-tour, that before any other name
        wanted = sorted(n for n in names if n.endswith("-cnn")) or sorted(n for n in names if "-cnn" in n)
    else:
        wanted = sorted(n for n in names if n.startswith("gpu-"))
    return f"{(wanted or sorted(names))[0]}@champion"


def find_endpoint(ref: str, *, workspace_dir: str | os.PathLike | None = None) -> dict | None:
    """The running endpoint for ``ref`` (``{"url", "pid", "version"}``, the file ``mlaas serve`` keeps in
    ``workspace/serving/endpoints/``), if its process is alive and it answers ready."""
    from .serve import EndpointClient
    from .serve import find_endpoint as endpoint_record

    record = endpoint_record(ref, workspace_dir=workspace_dir)
    if record and EndpointClient(str(record["url"]), timeout=2.0).ready():
        return record
    return None


def page_parameters(**defaults: str) -> dict[str, str]:
    """``defaults`` with the page's URL query (``?model=NAME&alias=challenger&endpoint=URL``) over
    them. In a Voilà page with a preheated kernel this waits until someone opens the page."""
    query = os.environ.get("QUERY_STRING", "")
    if os.environ.get("VOILA_KERNEL_ID") or os.environ.get("VOILA_PREHEAT"):
        try:
            from voila.utils import get_query_string
        except ImportError:
            pass
        else:
            query = get_query_string() or ""
    from urllib.parse import parse_qs

    given = {k: v[-1] for k, v in parse_qs(query).items() if k in defaults and v and v[-1]}
    return {**defaults, **given}


class Playground:
    """Predictions from the registered model ``ref``, through its endpoint when one runs."""

    def __init__(self, ref: str, *, endpoint: str | None = None, workspace_dir: str | os.PathLike | None = None):
        from .registry import parse_ref

        parse_ref(ref)  # an invalid reference fails here, with the registry's message
        self.ref, self.endpoint, self.workspace_dir = ref, endpoint or None, workspace_dir
        self._predictors: dict[str, Any] = {}

    # where it runs -----------------------------------------------------------------------------
    def endpoint_url(self) -> tuple[str | None, str]:
        """The endpoint to call now, or None with the reason (what ``source_text`` says)."""
        if self.endpoint:
            from .serve import EndpointClient, EndpointError

            try:
                if EndpointClient(self.endpoint, timeout=2.0).ready():
                    return self.endpoint.rstrip("/"), ""
            except EndpointError as exc:
                return None, str(exc)
            return None, f"the endpoint {self.endpoint} does not answer"
        info = find_endpoint(self.ref, workspace_dir=self.workspace_dir)
        return (str(info["url"]).rstrip("/"), "") if info else (None, "no endpoint running")

    def predictor(self):
        """The in-process ONNX Runtime predictor of the version ``ref`` resolves to now (cached per version)."""
        from . import export, serve

        bundle = Path(export.bundle(self.ref, workspace_dir=self.workspace_dir))
        key = str(bundle)
        if key not in self._predictors:
            self._predictors = {key: serve.OnnxPredictor(bundle)}  # an older version's session is let go
        return self._predictors[key]

    def metadata(self) -> dict:
        """serving.json with version.json (from the endpoint when one runs, else the bundle)."""
        url, _ = self.endpoint_url()
        if url:
            from .serve import EndpointClient

            return dict(EndpointClient(url).metadata())
        return dict(self.predictor().metadata)

    # predictions -------------------------------------------------------------------------------
    def predict_array(self, x) -> Prediction:
        """Predict one input: an image [H, W] or [C, H, W] in 0..1, or a row of features in serving order."""
        import numpy as np

        arr = np.asarray(x, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise PlaygroundError("the input holds NaN or infinite values")
        url, note = self.endpoint_url()
        if url:
            from .serve import EndpointClient

            client = EndpointClient(url)
            meta = client.metadata()
            batch = arr.reshape(1, *meta.get("input_shape", arr.shape))
            return _from_response(client.predict_arrays(batch), meta, url)
        predictor = self.predictor()
        meta = predictor.metadata
        batch = arr.reshape(1, *meta.get("input_shape", arr.shape))
        return _from_local(predictor.predict(batch), meta, note)

    def predict_upload(self, content: bytes, filename: str = "upload.png") -> Prediction:
        """Predict an uploaded PNG or JPEG, prepared the way the endpoint prepares uploads."""
        url, note = self.endpoint_url()
        if url:
            import tempfile

            from .serve import EndpointClient

            client = EndpointClient(url)
            with tempfile.TemporaryDirectory(prefix="mlaas-upload-") as tmp:
                path = Path(tmp) / (Path(filename).name or "upload.png")
                path.write_bytes(content)
                answer = client.predict_images([path])
            return _from_response(answer, client.metadata(), url)
        predictor = self.predictor()
        try:
            image = predictor.prepare_image(content)
        except ValueError as exc:
            raise PlaygroundError(f"{filename}: {exc}") from None
        return _from_local(predictor.predict(image[None]), predictor.metadata, note)

    def predict_row(self, values: dict) -> Prediction:
        """Predict one row of a tabular model from ``{feature: value}`` (raw values, categories as text)."""
        url, note = self.endpoint_url()
        if url:
            from .serve import EndpointClient

            client = EndpointClient(url)
            return _from_response(client.predict_rows([values]), client.metadata(), url)
        from .export import encode_rows

        predictor = self.predictor()
        return _from_local(predictor.predict(encode_rows(predictor.metadata, [values])), predictor.metadata, note)

def warm() -> None:
    """Import what a first prediction needs (ONNX Runtime, MLflow, plotly), so a preheated page answers at once."""
    import mlflow  # noqa: F401
    import onnxruntime  # noqa: F401
    import plotly.graph_objects  # noqa: F401

    from . import export, registry, serve  # noqa: F401


def form_fields(meta: dict) -> list[dict]:
    """A tabular model's raw features for a form, from its serving.json: ``[{"name", "default",
    "choices"}]``; a number's default is its training median, a category's choices are the
    training categories (the first one the default). Without an encoding: the input features, 0 each."""
    encoding = meta.get("encoding") or {}
    numeric, categorical = encoding.get("numeric") or {}, encoding.get("categorical") or {}
    names = meta.get("raw_features") or feature_names(meta)
    fields = []
    for name in names:
        if name in categorical:
            choices = [str(c) for c in categorical[name] if str(c) != encoding.get("missing", "missing")] or [str(c) for c in categorical[name]]
            fields.append({"name": name, "default": choices[0] if choices else "", "choices": choices})
        else:
            median = numeric.get(name)
            fields.append({"name": name, "default": round(float(median), 3) if median is not None else 0.0, "choices": None})
    return fields


def feature_names(meta: dict) -> list[str]:
    """The feature names of serving.json's ``features`` (plain names, or ``{"name": ...}`` entries)."""
    return [f["name"] if isinstance(f, dict) else str(f) for f in meta.get("features") or []]


def _version_fields(meta: dict) -> tuple[str, int | None, tuple[str, ...]]:
    version = meta.get("version")
    info = version if isinstance(version, dict) else meta
    number = info.get("version")
    return str(info.get("name") or meta.get("name") or meta.get("model") or "?"), (int(number) if number is not None else None), tuple(info.get("aliases") or ())


def _significance(meta: dict) -> float | None:
    level = meta.get("conformal_significance")
    return float(level) if level is not None and meta.get("conformal") else None


def _from_local(out: dict, meta: dict, note: str) -> Prediction:
    name, version, aliases = _version_fields(meta)
    pred = Prediction(name, version, aliases, "in process", note=note if note != "no endpoint running" else "")
    if out.get("prediction") is not None:
        pred.value = float(__import__("numpy").asarray(out["prediction"]).ravel()[0])
        return pred
    pred.labels = [str(c) for c in meta.get("classes") or range(len(out["probabilities"][0]))]
    pred.probabilities = [float(p) for p in out["probabilities"][0]]
    pred.predicted = str(out["classes"][0])
    sets = out.get("sets")
    pred.set = [str(c) for c in sets[0]] if sets is not None else None
    pred.significance = _significance(meta)
    if pred.set is None:
        pred.set_note = no_set_note(meta)
    return pred


def no_set_note(meta: dict) -> str:
    """Why an in-process answer has no conformal set, and how to get one (the endpoint says the same in ``notes.sets``)."""
    run = meta.get("run_id") or "RUN"
    return (f"no conformal set: version {_version_fields(meta)[1]} has no conformal calibration (`mlaas conformal {run}` "
            "adds one; reopen this page after it)")


def _from_response(answer: dict, meta: dict, url: str) -> Prediction:
    """A Prediction from an endpoint's ``/predict`` answer (``{"model", "version", "predictions": [...]}``)."""
    name, version, aliases = _version_fields(meta)
    pred = Prediction(str(answer.get("model") or name), answer.get("version", version), aliases, "endpoint", url=url)
    first = answer["predictions"][0]
    if "prediction" in first or "value" in first:
        pred.value = float(first.get("prediction", first.get("value")))
        return pred
    probs = first["probabilities"]
    pred.labels = [str(k) for k in probs] if isinstance(probs, dict) else [str(c) for c in meta.get("classes") or range(len(probs))]
    pred.probabilities = [float(v) for v in (probs.values() if isinstance(probs, dict) else probs)]
    pred.predicted = str(first["class"])
    pred.set = [str(c) for c in first["set"]] if first.get("set") is not None else None
    pred.significance = _significance(meta)
    if pred.set is None:
        why = (answer.get("notes") or {}).get("sets") or (meta.get("notes") or {}).get("sets")
        pred.set_note = str(why or "")
    return pred


def probability_figure(pred: Prediction | None):
    """A bar per class: the predicted class dark, the rest of its conformal set mid-blue, the others grey."""
    import plotly.graph_objects as go

    if pred is None or not pred.labels:
        fig = go.Figure(go.Bar(x=[], y=[]))
        fig.update_layout(title="Probabilities", height=320, margin={"l": 50, "r": 20, "t": 50, "b": 40})
        return fig
    members = set(pred.set or ())
    colours = ["#0d47a1" if c == pred.predicted else "#64b5f6" if c in members else "#bdbdbd" for c in pred.labels]
    title = f"Probabilities: class {pred.predicted}"
    if pred.set is not None:
        level = f"{1 - pred.significance:.0%} " if pred.significance is not None else ""
        title += f"; {level}conformal set {{{', '.join(pred.set)}}}"
    fig = go.Figure(go.Bar(x=pred.labels, y=pred.probabilities, marker_color=colours,
                           hovertemplate="class %{x}: %{y:.3f}<extra></extra>"))
    fig.update_layout(title=title, height=320, margin={"l": 50, "r": 20, "t": 50, "b": 40},
                      xaxis={"title": "class", "type": "category"}, yaxis={"title": "probability", "range": [0, 1.02]})
    return fig
