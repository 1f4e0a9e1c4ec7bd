"""A serving bundle made here, by the graph contract, for the serving tests (export.bundle makes the real ones)."""

from __future__ import annotations

import json
from pathlib import Path


def make_bundle(est, folder, *, name: str = "mnist-cnn", version: int = 1, run_id: str = "test", conformal=None,
                significance: float = 0.1) -> Path:
    """``est`` (a fitted ImageClassifier) as ``folder``/model.onnx + serving.json + version.json."""
    import torch

    class Graph(torch.nn.Module):  # inputs 0..1, the training normalisation and the softmax inside
        def __init__(self, net, mean, std):
            super().__init__()
            self.net, self.mean, self.std = net, float(mean), float(std)

        def forward(self, x):
            return torch.softmax(self.net((x - self.mean) / self.std), dim=1)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    net = est.model_.to("cpu").eval()
    graph = Graph(net, est.mean_, est.std_).eval()
    example = torch.zeros(2, *est.input_shape_)
    torch.onnx.export(graph, (example,), str(folder / "model.onnx"), input_names=["input"], output_names=["probabilities"],
                      dynamic_axes={"input": {0: "batch"}, "probabilities": {0: "batch"}}, dynamo=False)
    classes = [c.item() if hasattr(c, "item") else c for c in est.classes_]
    serving = {"kind": "image", "task": "classification", "input_shape": list(est.input_shape_), "classes": classes,
               "features": [], "dataset": "mnist", "run_id": run_id, "parity": {},
               "conformal": conformal.to_dict() if conformal is not None else None, "conformal_significance": significance}
    (folder / "serving.json").write_text(json.dumps(serving))
    (folder / "version.json").write_text(json.dumps({"name": name, "version": version, "run_id": run_id, "aliases": ["champion"]}))
    return folder


def make_embedding_bundle(folder, *, dim: int = 8, name: str = "mnist-embedding", version: int = 1, seed: int = 0) -> Path:
    """A small random-weight embedding graph (``input`` [N, 1, 28, 28] -> ``embedding`` [N, dim]) as a bundle folder."""
    import torch

    torch.manual_seed(seed)
    graph = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, dim)).eval()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(graph, (torch.zeros(2, 1, 28, 28),), str(folder / "model.onnx"), input_names=["input"], output_names=["embedding"],
                      dynamic_axes={"input": {0: "batch"}, "embedding": {0: "batch"}}, dynamo=False)
    serving = {"kind": "image", "task": "embedding", "input_shape": [1, 28, 28], "classes": [], "features": [], "dataset": "mnist",
               "run_id": "test", "parity": {}, "conformal": None, "conformal_significance": 0.1}
    (folder / "serving.json").write_text(json.dumps(serving))
    (folder / "version.json").write_text(json.dumps({"name": name, "version": version, "run_id": "test", "aliases": ["champion"]}))
    return folder


TABULAR = {"numeric": {"G2Dmark": 500.0, "TDP": 150.0}, "categorical": {"brand": ["AMD", "NVIDIA", "missing"]}, "missing": "missing"}


def make_tabular_bundle(folder, *, name: str = "gpu-linear", version: int = 1) -> Path:
    """A linear regressor over encoded rows, ``G2Dmark + 10 TDP + 1000 brand_AMD + 2000 brand_NVIDIA``, with the raw
    columns G2Dmark, TDP, brand and the encoding (medians 500 and 150; brand one-hot) in serving.json."""
    import torch

    features = ["G2Dmark", "TDP", "brand_AMD", "brand_NVIDIA", "brand_missing"]
    graph = torch.nn.Linear(len(features), 1, bias=False)
    with torch.no_grad():
        graph.weight.copy_(torch.tensor([[1.0, 10.0, 1000.0, 2000.0, 0.0]]))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(graph.eval(), (torch.zeros(2, len(features)),), str(folder / "model.onnx"), input_names=["input"],
                      output_names=["prediction"], dynamic_axes={"input": {0: "batch"}, "prediction": {0: "batch"}}, dynamo=False)
    serving = {"kind": "tabular", "task": "regression", "input_shape": [len(features)], "classes": [], "features": features,
               "raw_features": ["G2Dmark", "TDP", "brand"], "encoding": TABULAR, "dataset": "gpu-benchmarks", "run_id": "test",
               "parity": {}, "conformal": None}
    (folder / "serving.json").write_text(json.dumps(serving))
    (folder / "version.json").write_text(json.dumps({"name": name, "version": version, "run_id": "test", "aliases": ["champion"]}))
    return folder
