"""``mlaas evaluate RUN``: a run's model on its held-out data, the numbers and figures logged onto the run."""

from __future__ import annotations

import argparse
import os

from ._common import _export_workspace, _fail, non_negative_int


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluate import EvaluationError, evaluate_run
    from ..models import ModelNotFoundError

    _export_workspace()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # loading a pickled model is a one-file download
    try:
        ev = evaluate_run(args.run, top_wrong=args.top_wrong, log=not args.no_log, out=args.out, png=not args.no_png)
    except (ModelNotFoundError, EvaluationError) as exc:
        return _fail(str(exc), 1)
    print(ev.summary())
    return 0




def register(sub) -> None:
    """Add this module's commands to the ``mlaas`` parser."""
    p = sub.add_parser("evaluate", help="measure a run's model on its held-out data; figures and eval_* metrics onto the run",
                       description="Evaluate run RUN's model on the data it was held out from: a CNN run (mlaas train) on its "
                       "validation split (less its label snapshot's items), a tabular run (notebook 04b) on its recorded test rows. "
                       "Prints accuracy, macro F1, calibration error (ECE, 10 equal-width bins), ROC/PR AUCs and the weakest "
                       "classes, or R², MAE, RMSE and the worst category; writes the figures (HTML and PNG) and metrics.json, "
                       "and logs them with eval_* metrics onto the run.")
    p.add_argument("run", metavar="RUN", help="a run id, a unique prefix of one (8 characters or more), or runs:/ID")
    p.add_argument("--no-log", action="store_true", help="write the figures but log nothing onto the run")
    p.add_argument("--top-wrong", type=non_negative_int, default=16, metavar="N", help="how many of the most confidently wrong items to show (default 16)")
    p.add_argument("--out", metavar="DIR", help="also write the figures and metrics.json here (default: in the run's evaluation/ artifacts only; with --no-log, the workspace's runs/RUN/evaluation)")
    p.add_argument("--no-png", action="store_true", help="HTML figures only (PNG export starts a headless Chromium: a few seconds)")
    p.set_defaults(func=cmd_evaluate)
