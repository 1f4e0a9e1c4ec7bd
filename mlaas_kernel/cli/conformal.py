"""``mlaas conformal RUN``: conformal prediction sets for a run's model, calibrated and checked on its held-out items."""

from __future__ import annotations

import argparse
import os

from ._common import _export_workspace, _fail, positive_int


def cmd_conformal(args: argparse.Namespace) -> int:
    from ..conformal import ConformalInputError, calibrate_run, check_significance
    from ..evaluate import EvaluationError
    from ..models import ModelNotFoundError

    try:
        check_significance(args.significance)  # before anything loads
    except ConformalInputError as exc:
        return _fail(f"--significance: {exc}")
    if args.embedding and args.score != "knn":
        return _fail(f"--embedding is for --score knn (the {args.score} score uses the model's probabilities)")
    _export_workspace()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        result = calibrate_run(args.run, significance=args.significance, score=args.score, mondrian=args.mondrian,
                               k=args.k, embedding=args.embedding, random_state=args.seed, log=not args.no_log)
    except (ModelNotFoundError, EvaluationError, ConformalInputError) as exc:
        return _fail(getattr(exc, "cli", str(exc)), 1)  # the command line's words (--embedding RUN, not embedding=RUN)
    print(result.summary_text())
    if not args.no_log:
        level = f"{result.significance:g}"
        print(f"logged onto the run: conformal/sets_{result.name}_{level}.parquet, conformal/calibration_{result.name}.json, "
              f"metrics conformal_coverage_{result.name}_{level} and conformal_mean_set_size_{result.name}_{level}")
        print(_serving_line(result))
    return 0


def _serving_line(result) -> str:
    """What the endpoints of this run's registered versions do with the calibration just logged."""
    from ..export import CONFORMAL_SIGNIFICANCE
    from ..registry import run_versions

    names = ", ".join(f"{v.name}/{v.version}" for v in run_versions(result.run_id))
    if result.name != "lac":
        return (f"endpoints serve LAC sets only (conformal/calibration_lac.json): this {result.name} calibration is not served"
                + (f" by {names}" if names else "") + f"; `mlaas conformal {result.run_id[:8]}` makes the one they use")
    if not names:
        return f"not registered yet: `mlaas models register {result.run_id[:8]}` makes a version whose endpoint serves these sets"
    return (f"the registered versions of this run ({names}) serve these sets (at significance {CONFORMAL_SIGNIFICANCE:g} unless a "
            "request asks another): an endpoint serving them now picks them up within 10 s, a new `mlaas serve` at its start")


def _level(text: str) -> float:
    """An argparse type: a number (its range is checked with a message saying what it means)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number: give a level in (0, 1), e.g. 0.05") from None


def register(sub) -> None:
    """Add this module's commands to the ``mlaas`` parser."""
    p = sub.add_parser("conformal", help="prediction sets with guaranteed coverage for a run's model (conformal calibration)",
                       description="Calibrate run RUN's model on half of its held-out items (those `mlaas evaluate` uses) and "
                       "measure on the other half how often its prediction sets hold the true class and how large they are. "
                       "At significance S a set misses the true class at most a fraction S of the time. Logs the sets "
                       "(conformal/sets_SCORE_S.parquet), the calibration (conformal/calibration_SCORE.json) and "
                       "conformal_coverage_* / conformal_mean_set_size_* metrics onto the run.")
    p.add_argument("run", metavar="RUN", help="a run id, a unique prefix of one (8 characters or more), or runs:/ID")
    p.add_argument("--significance", type=_level, default=0.05, metavar="S",
                   help="the error rate you accept, in (0, 1) (default 0.05: sets hold the true class 95%% of the time)")
    p.add_argument("--score", choices=("lac", "aps", "knn"), default="lac",
                   help="nonconformity: lac = 1 - p(class) (smallest sets), aps = cumulative probability (adapts to hard "
                   "items), knn = distances to the nearest training items of each class, in --embedding (default lac)")
    p.add_argument("--mondrian", action="store_true", help="calibrate each class on its own items, so each class is covered")
    p.add_argument("--embedding", metavar="RUN", help="for --score knn: an embedding run (mlaas train --model siamese) "
                   "whose vectors the distances are measured in (default: 50 PCA components of the pixels)")
    p.add_argument("--k", type=positive_int, default=10, help="neighbours per class for --score knn (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration/evaluation split and the randomisation (default 0)")
    p.add_argument("--no-log", action="store_true", help="print the figures but log nothing onto the run")
    p.set_defaults(func=cmd_conformal)
