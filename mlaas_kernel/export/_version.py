"""``export_version``: a registered version exported to a format, checked against its model, logged onto its run.

Formats: ``onnx`` (optionally int8: ``dynamic`` or ``static``), ``torchscript`` (``torch.jit.trace``),
``torch-export`` (a ``torch.export`` program), ``tflite`` (the ``edge`` extra) and ``tensorrt``
(a CUDA GPU with ``tensorrt``). Each export runs on ``check_n`` held-out items against the model
(max |Δ| under 1e-4, the same classes) and on the whole held-out split for its accuracy; an int8
model's accuracy drop is given in points. Files go to ``out_dir`` (default
``workspace/exports/<name>/<version>/<format>/``) and onto the version's run under ``export/<format>/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _parity
from ._errors import ExportError

FORMATS = ("onnx", "torchscript", "torch-export", "tflite", "tensorrt")
FILES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt", "torch-export": "model.pt2", "tflite": "model.tflite",
         "tensorrt": "model.plan"}


@dataclass
class ExportResult:
    """What ``export_version`` made and measured (accuracies are shares, ``accuracy_drop`` is in points)."""

    name: str
    version: int
    run_id: str
    format: str
    paths: list[Path]
    max_abs_diff: float
    same_class: bool
    n_checked: int
    batch_sizes: tuple[int, ...] = ()
    tolerance: float = _parity.PROBA_TOL  # of max_abs_diff (a tabular regressor's: 1e-5 of its largest prediction)
    classes_checked: bool = True  # False for a regressor: no classes to compare
    accuracy: float | None = None
    int8: str | None = None
    int8_accuracy: float | None = None
    accuracy_drop: float | None = None
    int8_max_abs_diff: float | None = None
    logged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    compared: str = "probabilities"  # what max_abs_diff measures: "embedding vectors" for an embedding, "predictions" for a regressor
    accuracy_on: str | None = None  # the held-out items the accuracy is measured on, in words
    relative_to: float | None = None  # a regressor's: its largest |prediction|, which the tolerance is a share of
    rows: str = "held-out items"  # what parity ran on, in words

    def _parity_line(self) -> str:
        head = f"  parity on {self.n_checked:,} {self.rows} at batch sizes {', '.join(map(str, self.batch_sizes))}: "
        if self.relative_to is not None:  # one tolerance, relative to the largest prediction
            share = self.max_abs_diff / self.relative_to
            return (head + f"max |Δ| of the predictions {self.max_abs_diff:.3g}, {share:.2e} of the largest prediction "
                    f"({self.relative_to:,.6g}); tolerance {self.tolerance / self.relative_to:.0e} of it (float32 trees against float64)")
        classes = ""
        if self.classes_checked:
            what = "classes by the kNN vote on the embeddings" if self.compared == "embedding vectors" else "predicted classes"
            classes = f", the same {what}" if self.same_class else f", {what} differ"
        return head + f"max |Δ| of the {self.compared} {self.max_abs_diff:.2e} (tolerance {self.tolerance:.3g}){classes}"

    def _int8_line(self) -> str:
        drop = round(self.accuracy_drop, 2)
        change = f"a drop of {drop:.2f} points" if drop > 0 else f"a gain of {-drop:.2f} points" if drop < 0 else "no drop"
        return (f"  int8 ({self.int8}) accuracy {self.int8_accuracy:.2%}: {change}; "
                f"max |Δ| against the float model {self.int8_max_abs_diff:.2e}")

    def summary(self) -> str:
        """What was exported and how it compares, as lines to print (the figures first, then where the files went)."""
        lines = [f"{self.name} version {self.version} (run {self.run_id[:8]}) as {self.format}: " + ", ".join(p.name for p in self.paths),
                 self._parity_line()]
        if self.accuracy is not None:
            lines.append(f"  held-out accuracy {self.accuracy:.2%}" + (f" on {self.accuracy_on}" if self.accuracy_on else ""))
        if self.int8_accuracy is not None:
            lines.append(self._int8_line())
        lines += [f"  {n}" for n in self.notes] + [f"  logged to the run under {p}" for p in self.logged]
        return "\n".join(lines)


@dataclass
class _Checked:
    paths: list[Path]
    run: object  # x (float32 0..1) -> outputs
    parity: _parity.Parity
    notes: list[str] = field(default_factory=list)


def _check_args(fmt: str, int8: str | None) -> None:
    from ._quantisation import MODES

    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if int8 is not None and int8 not in MODES:
        raise ExportError(f"int8 {int8!r}: expected one of {', '.join(MODES)}")
    if int8 is not None and fmt != "onnx":
        raise ExportError(f"int8 quantisation is for the onnx format (ONNX Runtime's quantiser), not {fmt}")


def _check_packages(fmt: str) -> None:
    """What ``fmt`` needs installed, for an image model (after the model's kind: a tabular one exports to onnx only)."""
    if fmt == "tflite":
        from ._tflite import available, install_message

        if not available():
            raise ExportError(install_message())
    if fmt == "tensorrt":  # before any work: the message says what to install
        from ._tensorrt import require

        require()


def _image_format(loaded, fmt: str, out: Path, x: np.ndarray, check_n: int, workspace_dir) -> _Checked:
    from ._onnx import session, to_onnx

    est = loaded.model
    if fmt in ("onnx", "tensorrt"):
        ex = to_onnx(loaded, out / FILES["onnx"], check_n=check_n, workspace_dir=workspace_dir)
        sess = session(ex.path)
        onnx_run = lambda c: sess.run(None, {"input": c})[0]  # noqa: E731
        if fmt == "onnx":
            p = _parity.Parity(ex.max_abs_diff, ex.same_class, ex.n_checked, ex.batch_sizes)
            return _Checked([ex.path], onnx_run, p)
        from ._tensorrt import tensorrt

        path, run = tensorrt(ex.path, est.input_shape_, ex.output_name, out / FILES[fmt])
        paths, batch = [ex.path, path], _parity.BATCH
    else:
        from ._tflite import tflite
        from ._torchscript import torch_export, torchscript

        make = {"torchscript": torchscript, "torch-export": torch_export, "tflite": tflite}[fmt]
        path, run = make(loaded, x, out / FILES[fmt])
        paths, batch = [path], (1 if fmt == "tflite" else _parity.BATCH)
    reference = est.transform(x[:check_n]) if loaded.kind == "embedding" else est.predict_proba(x[:check_n])
    classes = est.knn_.predict if loaded.kind == "embedding" else None
    parity = _parity.check(run, x[:check_n], reference, classes=classes, batch=batch)
    _parity.require(parity, tol=_parity.PROBA_TOL, what=f"{fmt} export of run {loaded.run_id}")
    return _Checked(paths, run, parity)


def _accuracy(loaded, outputs: np.ndarray, y: np.ndarray) -> float:
    if loaded.kind == "embedding":  # the kNN vote in the embedding space, as the model predicts
        return float(np.mean(loaded.model.knn_.predict(outputs) == np.asarray(loaded.model.classes_)[y]))
    return float(np.mean(np.asarray(outputs).argmax(axis=1) == y))


def _int8(loaded, result: ExportResult, checked: _Checked, mode: str, x, y, workspace_dir) -> None:
    from ._onnx import session
    from ._quantisation import CALIBRATION_N, quantise, training_images

    src = checked.paths[0]
    calibration = training_images(loaded, CALIBRATION_N, workspace_dir) if mode == "static" else None
    path = quantise(src, src.with_name(f"model.int8-{mode}.onnx"), mode, calibration=calibration)
    sess = session(path)
    out, _ = _parity.batched(lambda c: sess.run(None, {"input": c})[0], x)
    full, _ = _parity.batched(checked.run, x)
    result.paths.append(path)
    result.int8, result.int8_accuracy = mode, _accuracy(loaded, out, y)
    result.accuracy_drop = 100.0 * (result.accuracy - result.int8_accuracy)
    result.int8_max_abs_diff = float(np.abs(out - full).max())
    if calibration is not None:
        result.notes.append(f"static int8 calibrated on {len(calibration)} training images of {loaded.dataset}")


def _held_out(loaded, workspace_dir):
    from ..evaluate import held_out_items
    from ._onnx import unit_images

    images, y, _, _, data, _ = held_out_items(loaded, workspace_dir)
    return unit_images(images), np.asarray(y), data


def _tabular(loaded, v, fmt: str, out: Path, int8, check_n: int, workspace_dir) -> ExportResult:
    from ._onnx import to_onnx

    if fmt != "onnx" or int8 is not None:
        raise ExportError(f"model {v.name} is a tabular model (run {loaded.run_id}): it exports to onnx only, without int8 "
                          f"(asked: {fmt}{' --int8 ' + int8 if int8 else ''})")
    from ._tabular import REGRESSION_RTOL

    out.mkdir(parents=True, exist_ok=True)
    ex = to_onnx(loaded, out / FILES["onnx"], check_n=check_n, workspace_dir=workspace_dir)
    regressor = ex.output_name == "prediction"
    # ex.notes holds only the parity sentence, which the parity line says: not repeated
    return ExportResult(v.name, int(v.version), v.run_id, fmt, [ex.path], ex.max_abs_diff, ex.same_class, ex.n_checked,
                        ex.batch_sizes, ex.tolerance, not regressor, compared="predictions" if regressor else "probabilities",
                        relative_to=ex.tolerance / REGRESSION_RTOL if regressor else None, rows="test rows")


def _log(result: ExportResult, workspace_dir) -> None:
    from ..track import setup

    client, _ = setup(workspace_dir=workspace_dir)
    where = f"export/{result.format}"
    for path in result.paths:
        client.log_artifact(result.run_id, str(path), where)
        result.logged.append(f"{where}/{path.name}")


def export_version(ref, fmt: str = "onnx", *, int8: str | None = None, out_dir: str | os.PathLike | None = None, check_n: int = 1000,
                   log: bool = True, workspace_dir: str | os.PathLike | None = None) -> ExportResult:
    """Export the version ``ref`` names (``NAME@ALIAS``, ``NAME/VERSION``, ``NAME``) as ``fmt`` and check it.

    ``int8`` ("dynamic" or "static", onnx only) adds a quantised model and its accuracy drop on the
    held-out split. With ``log`` the files are logged to the version's run under ``export/<fmt>/``.
    Raises :class:`ExportError` for an impossible export (format, missing package, failed parity).
    """
    from .. import registry
    from ..data import workspace
    from ..models import load_run_model

    _check_args(fmt, int8)
    v = ref if isinstance(ref, registry.Version) else registry.resolve(ref, workspace_dir=workspace_dir)
    loaded = load_run_model(v.run_id, workspace_dir=workspace_dir)
    out = Path(out_dir) if out_dir is not None else workspace(workspace_dir) / "exports" / v.name / str(v.version) / fmt
    if loaded.kind == "estimator":
        result = _tabular(loaded, v, fmt, out, int8, check_n, workspace_dir)
    else:
        _check_packages(fmt)
        out.mkdir(parents=True, exist_ok=True)
        x, y, data = _held_out(loaded, workspace_dir)
        checked = _image_format(loaded, fmt, out, x, check_n, workspace_dir)
        full, _ = _parity.batched(checked.run, x, 1 if fmt == "tflite" else _parity.BATCH)
        p = checked.parity
        result = ExportResult(v.name, int(v.version), v.run_id, fmt, list(checked.paths), p.max_abs_diff, p.same_class, p.n_checked,
                              p.batch_sizes, accuracy=_accuracy(loaded, full, y), notes=list(checked.notes), accuracy_on=str(data),
                              compared="embedding vectors" if loaded.kind == "embedding" else "probabilities")
        if int8 is not None:
            _int8(loaded, result, checked, int8, x, y, workspace_dir)
    if log:
        _log(result, workspace_dir)
    return result
