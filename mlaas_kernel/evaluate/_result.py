"""What an evaluation returns: the numbers, the figures, where they went, and a summary for people."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._classification import ClassificationMetrics
from ._regression import RegressionMetrics

WEAKEST = 3  # classes named in the summary


@dataclass
class Evaluation:
    """One run's evaluation. ``metrics`` holds every number; ``figures`` maps names to plotly figures;
    ``wrong`` is a table of the most confidently wrong items (classification)."""

    run_id: str
    run_name: str
    metrics: ClassificationMetrics | RegressionMetrics
    figures: dict[str, Any]
    data: str  # what was evaluated on, for people: "the validation split of mnist (2,000 items)"
    wrong: Any = None
    out_dir: Path | None = None
    files: list[Path] = field(default_factory=list)
    logged: list[str] = field(default_factory=list)  # artifact paths on the run ([] when not logged)
    notes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "classification" if isinstance(self.metrics, ClassificationMetrics) else "regression"

    @property
    def table(self):
        """Per-class metrics (classification) or per-category errors (regression), as a pandas table."""
        return self.metrics.per_class if self.kind == "classification" else self.metrics.per_category

    def scalars(self) -> dict[str, float]:
        """The numbers logged as MLflow metrics, keyed ``eval_...``."""
        m = self.metrics
        if isinstance(m, ClassificationMetrics):
            out = {"eval_n_items": m.n_items, "eval_accuracy": m.accuracy, "eval_macro_f1": m.macro_f1, "eval_ece": m.calibration.ece,
                   "eval_roc_auc_macro": m.roc_auc_macro, "eval_pr_auc_macro": m.pr_auc_macro}
            out.update({f"eval_f1_{row['class']}": row["f1"] for row in m.per_class.to_dict("records")})
            return out
        out = {"eval_n_items": m.n_items, "eval_r2": m.r2, "eval_mae": m.mae, "eval_rmse": m.rmse}
        if m.per_category is not None:
            out.update({f"eval_mae_{row['category']}": row["mae"] for row in m.per_category.to_dict("records")})
        return out

    def numbers(self) -> dict:
        """Everything as JSON-ready values (what ``evaluation/metrics.json`` holds)."""
        out = {"run_id": self.run_id, "kind": self.kind, "data": self.data, **self.metrics.as_dict(), "notes": self.notes}
        if self.wrong is not None:
            out["confidently_wrong"] = self.wrong.reset_index().to_dict("records")
        return out

    def _lines(self) -> list[str]:
        m = self.metrics
        if isinstance(m, ClassificationMetrics):
            weak = m.per_class.sort_values(["f1", "support"], ascending=[True, False], kind="stable").head(WEAKEST)
            lines = [f"  accuracy          {m.accuracy:.4f}", f"  macro F1          {m.macro_f1:.4f}",
                     f"  ECE               {m.calibration.ece:.4f} ({len(m.calibration.counts)} equal-width confidence bins)",
                     f"  ROC AUC (macro)   {m.roc_auc_macro:.4f}", f"  PR AUC (macro)    {m.pr_auc_macro:.4f}",
                     "  weakest classes:  " + ", ".join(f"{r['class']} (F1 {r['f1']:.3f}, recall {r['recall']:.3f})" for _, r in weak.iterrows())]
            if self.wrong is not None:
                lines.append(f"  confidently wrong: {len(self.wrong)} shown" +
                             (f", the worst at {self.wrong['confidence'].iloc[0]:.1%} confidence" if len(self.wrong) else ""))
            return lines
        lines = [f"  R²                {m.r2:.4f}", f"  MAE               {m.mae:,.1f}", f"  RMSE              {m.rmse:,.1f}"]
        if m.worst_category is not None:
            worst = m.per_category.iloc[0]
            lines.append(f"  worst category:   {worst['category']} (MAE {worst['mae']:,.1f} over {int(worst['n'])} items)")
        return lines

    def summary(self) -> str:
        """A few lines: the run, the data, the headline numbers, where the figures went, notes."""
        lines = [f"run {self.run_id} ({self.run_name}): {self.kind} on {self.data}", *self._lines()]
        if self.out_dir is not None:
            kinds = sorted({p.suffix.lstrip(".") for p in self.files})
            lines.append(f"figures: {self.out_dir} ({', '.join(kinds)})")
        if self.logged:
            lines.append(f"logged to run {self.run_id}: {len(self.scalars())} eval_* metrics, {len(self.logged)} artifacts under evaluation/")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        # scores in [0, 1] to 4 decimals; errors in the target's units (G3Dmark points) to 1, as in the summary
        fmt = "{:.4f}" if self.kind == "classification" else "{:,.1f}"
        table = self.table.to_html(index=False, float_format=fmt.format) if self.table is not None else ""
        return f"<pre>{html.escape(self.summary())}</pre>{table}"
