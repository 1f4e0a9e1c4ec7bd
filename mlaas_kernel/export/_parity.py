"""Parity of an exported model with its source: the same inputs through both, the largest absolute
difference of the outputs and whether the predicted classes agree, checked at batch 1 and in batches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._errors import ExportError

PROBA_TOL = 1e-4  # the largest absolute difference of probabilities an export may show (issue 10)
BATCH = 256  # the batch size parity runs the exported model at (and a partial last batch)
SINGLE = 32  # items also run one at a time, so a batch of 1 is checked too


@dataclass
class Parity:
    max_abs_diff: float
    same_class: bool
    n_checked: int
    batch_sizes: tuple[int, ...]  # the batch sizes the exported model ran at
    mismatched: int = 0  # items whose predicted class differs

    def text(self, what: str = "probabilities") -> str:
        # an embedding has no classes of its own: its vectors are compared, and the classes their kNN vote gives
        label = "classes by the kNN vote on the embeddings" if what == "embedding" else "predicted classes"
        classes = f"the same {label}" if self.same_class else f"{self.mismatched} {label} differ"
        sizes = ", ".join(map(str, self.batch_sizes))
        return f"{self.n_checked:,} items, batch sizes {sizes}: max |Δ {'embedding vectors' if what == 'embedding' else what}| {self.max_abs_diff:.2e}, {classes}"


def batched(run, x: np.ndarray, batch: int = BATCH) -> tuple[np.ndarray, set[int]]:
    """``run(chunk)`` over ``x`` in chunks of ``batch`` rows, concatenated; with the chunk sizes used."""
    outs = [np.asarray(run(x[i : i + batch])) for i in range(0, len(x), batch)]
    return np.concatenate(outs), {min(batch, len(x) - i) for i in range(0, len(x), batch)}


def check(run, x: np.ndarray, reference: np.ndarray, *, classes=None, batch: int = BATCH, single: int = SINGLE) -> Parity:
    """Run the exported model (``run(x_chunk) -> outputs``) on ``x`` in batches and on the first ``single``
    items one at a time, against ``reference`` (the source model's outputs for ``x``).

    ``classes(outputs) -> labels`` turns outputs into predicted classes (default: argmax of each row).
    """
    classes = classes or (lambda out: np.asarray(out).reshape(len(out), -1).argmax(axis=1))
    out, sizes = batched(run, x, batch)
    one, _ = batched(run, x[:single], 1)
    reference = np.asarray(reference, dtype=np.float64).reshape(out.shape)
    diff = max(float(np.abs(out - reference).max()), float(np.abs(one - reference[: len(one)]).max()))
    ref_cls = np.asarray(classes(reference))
    mismatched = int((np.asarray(classes(out)) != ref_cls).sum() + (np.asarray(classes(one)) != ref_cls[: len(one)]).sum())
    return Parity(diff, mismatched == 0, len(x), tuple(sorted(sizes | {1})), mismatched)


def require(parity: Parity, *, tol: float, what: str, relative: bool = False) -> None:
    """:class:`ExportError` when ``parity`` misses ``tol`` or a predicted class changed."""
    kind = "relative " if relative else ""
    if not parity.max_abs_diff < tol:
        raise ExportError(f"{what}: the export differs from the model by {parity.max_abs_diff:.3g} ({kind}tolerance {tol:g}) "
                          f"on {parity.n_checked:,} items; not kept")
    if not parity.same_class:
        raise ExportError(f"{what}: {parity.mismatched} of {parity.n_checked:,} predicted classes differ between the export and the model; not kept")
