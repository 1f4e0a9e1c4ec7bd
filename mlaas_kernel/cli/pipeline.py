"""``mlaas pipeline``: list, run, status and show notebook pipelines (specs in ./pipelines or $MLAAS_PIPELINES)."""

from __future__ import annotations

import argparse
import sys

from ._common import PROG, _export_workspace, _fail, positive_int

_RUN_EXAMPLE = """examples:
  mlaas pipeline run digits                      # every step, independent ones at once
  mlaas pipeline run digits -p epochs 2          # a parameter (YAML scalar: 2 is an int)
  mlaas pipeline run digits --resume last        # start again from the failed or interrupted steps
  mlaas pipeline run digits --force --workers 1  # run every step again, one at a time

step keys for side effects (in the spec):
  cache: false   the step runs every time, never copied from the cache (and again on --resume);
                 steps after it are cached only while what it publishes stays the same
  always: true   a cleanup step: it runs once its needs have finished, whatever their status
                 (failed, skipped, unavailable); a parameter referring to an output they did not
                 publish is left out (the notebook's default applies); never cached, run again
                 at the end of a --resume; its own failure fails the run"""


def _error(exc: Exception) -> int:
    return _fail(str(exc))


def cmd_list(args: argparse.Namespace) -> int:
    from ..pipelines import PipelineError, load_pipeline
    from ..pipelines._spec import SUFFIXES, pipelines_dir

    folder = pipelines_dir()
    files = sorted(p for p in folder.glob("*") if p.suffix in SUFFIXES) if folder.is_dir() else []
    if not files:
        print(f"no pipelines in {folder} (write pipelines/NAME.yaml, or point MLAAS_PIPELINES at a folder)")
        return 0
    broken = 0
    for path in files:
        try:
            p = load_pipeline(path)
        except PipelineError as exc:  # one broken spec does not hide the others
            print(f"{path.stem}: INVALID: {exc}")
            broken += 1
            continue
        print(f"{p.name}: {p.description}")
        print(f"  steps       {_stages(p)}")
        params = ", ".join(f"{k}={v!r}{_bounds(p.limits.get(k))}" for k, v in p.parameters.items()) or "(none)"
        print(f"  parameters  {params}")
        for item in p.missing:
            print(f"  missing:    {item}")
        for step, reason in _not_here(p):
            print(f"  not here:   step {step} {reason}: it will be marked unavailable")
    return 1 if broken else 0


def _bounds(limits: dict | None) -> str:
    """`` (>= 1)``, `` (0.001..0.5)``: a parameter's limits as ``list`` shows them."""
    if not limits:
        return ""
    if "min" in limits and "max" in limits:
        return f" ({limits['min']}..{limits['max']})"
    return f" (>= {limits['min']})" if "min" in limits else f" (<= {limits['max']})"


def _stages(pipeline) -> str:
    """The steps in order, those that can run at once in brackets: ``ingest -> [explore, label] -> train``."""
    depth: dict[str, int] = {}
    for name in pipeline.order:  # dependencies come first in the order
        depth[name] = 1 + max((depth[d] for d in pipeline.deps[name]), default=-1)
    stages = [[n for n in pipeline.order if depth[n] == level] for level in range(max(depth.values(), default=-1) + 1)]
    return " -> ".join(names[0] if len(names) == 1 else "[" + ", ".join(names) + "]" for names in stages)


def _not_here(pipeline) -> list[tuple[str, str]]:
    """The steps whose ``requires:`` this machine lacks, with the reason."""
    from ..pipelines._requires import missing_requirement

    found = ((name, missing_requirement(spec.requires)) for name, spec in pipeline.steps.items() if spec.requires)
    return [(name, reason) for name, reason in found if reason]


def cmd_run(args: argparse.Namespace) -> int:
    from ..pipelines import PipelineError, run_pipeline

    _export_workspace()
    try:
        record = run_pipeline(args.name, params=args.parameters, resume=args.resume, force=args.force, workers=args.workers,
                              progress=not args.quiet, track=not args.no_track)
    except PipelineError as exc:
        return _error(exc)
    except KeyboardInterrupt as exc:
        run = getattr(exc, "pipeline_run", None) or "last"  # the run's own id: another run of it may start meanwhile
        print(f"{PROG}: pipeline {args.name} interrupted; resume with: mlaas pipeline run {args.name} --resume {run}", file=sys.stderr)
        return 130
    if record["status"] != "succeeded":
        failed = [n for n, s in record["steps"].items() if s["status"] == "failed"]
        print(f"{PROG}: pipeline {args.name} {record['status']} (failed: {', '.join(failed)}); after a fix: "
              f"mlaas pipeline run {args.name} --resume {record['run']}", file=sys.stderr)
        return 1
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from ..pipelines import list_runs

    _export_workspace()
    runs = list_runs(args.name)[: args.limit]
    if not runs and args.name:
        from ..pipelines import PipelineError, load_pipeline

        try:
            load_pipeline(args.name)  # a name that is no pipeline is an error, not "no runs yet"
        except PipelineError as exc:
            return _error(exc)
    if not runs:
        print("no pipeline runs yet" + (f" of {args.name}" if args.name else "") + " (mlaas pipeline run NAME)")
        return 0
    for r in runs:
        steps = r.get("steps", {})
        done = sum(s["status"] in ("succeeded", "cached") for s in steps.values())
        failed = [n for n, s in steps.items() if s["status"] == "failed"]
        unavailable = sum(s["status"] == "unavailable" for s in steps.values())
        extra = f"  failed: {', '.join(failed)}" if failed else ""
        not_here = f" ({unavailable} unavailable)" if unavailable else ""
        print(f"{r['pipeline']}/{r['run']}  {r['status']:<11} {done}/{len(steps)} steps{not_here}  started {r.get('started')}{extra}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from ..pipelines import PipelineError, load_run
    from ..pipelines._progress import failure_text, summary_table
    from ..pipelines._records import run_folder

    root = _export_workspace()
    try:
        record = load_run(args.run)
    except PipelineError as exc:
        return _error(exc)
    print(summary_table(record))
    print(f"  parameters  {record.get('parameters')}")
    if record.get("mlflow_run_id"):
        print(f"  MLflow run  {record['mlflow_run_id']} (experiment pipelines)")
    for item in record.get("missing") or []:
        print(f"  missing:    {item}")
    for name, step in record.get("steps", {}).items():
        if step.get("outputs"):
            print(f"  {name} outputs: {step['outputs']}")
        if step.get("mlflow_runs"):
            print(f"  {name} MLflow runs: {', '.join(step['mlflow_runs'])}")
        for warning in step.get("warnings") or []:
            print(f"  {name} ! {warning}")
    for name, step in record.get("steps", {}).items():
        if step["status"] == "failed":
            print(failure_text(name, step))
    print(f"folder: {run_folder(record, root)}")
    return 0


def register(sub) -> None:
    """Add ``mlaas pipeline`` and its subcommands to the parser."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("pipeline", help="run notebook pipelines (DAGs of notebooks, cached and resumable)", formatter_class=fmt,
                       description="Notebook pipelines: specs in ./pipelines (or $MLAAS_PIPELINES) name notebooks, their parameters "
                       "and which step's outputs feed which parameters. Runs are saved in the workspace's pipelines/NAME/RUN/.",
                       epilog="examples:\n  mlaas pipeline list\n  mlaas pipeline run digits\n  mlaas pipeline status\n  mlaas pipeline show digits/last")
    cmds = p.add_subparsers(dest="pipeline_command", metavar="SUBCOMMAND", required=True)
    ls = cmds.add_parser("list", help="the pipelines, their steps, parameters and missing capabilities",
                         description="List the pipelines: name, description, steps in order, parameters with defaults, missing: list.",
                         epilog="example:\n  mlaas pipeline list", formatter_class=fmt)
    ls.set_defaults(func=cmd_list)
    run = cmds.add_parser("run", help="run a pipeline (or resume a run)", formatter_class=fmt, epilog=_RUN_EXAMPLE,
                          description="Run pipeline NAME: independent steps in parallel, each notebook through papermill in its "
                          "own process; unchanged steps come from the cache. Python warnings a step's notebook shows (the first 3) "
                          "print under its line as `! Category: message`. A failing step prints its cell and error, its "
                          "dependants are skipped, the others finish; the exit status is then 1. Ctrl-C stops the running "
                          "steps and records the run as interrupted (resume it with --resume).")
    run.add_argument("name", help="the pipeline's name (pipelines/NAME.yaml) or a spec file's path")
    run.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="set a pipeline parameter (a YAML scalar: 2 is an int, mnist a string); repeatable")
    run.add_argument("--resume", metavar="RUN", help="continue run RUN (an id, a prefix, or last): succeeded steps are kept")
    run.add_argument("--force", action="store_true", help="run every step, ignoring the cache")
    run.add_argument("--workers", type=positive_int, help="steps run at once (default: the number of cores)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress lines or summary (errors still print)")
    run.add_argument("--no-track", action="store_true", help="no MLflow run for the pipeline")
    run.set_defaults(func=cmd_run)
    st = cmds.add_parser("status", help="recent runs, one line each", formatter_class=fmt,
                         description="Recent pipeline runs, newest first: status, steps done, failed steps.",
                         epilog="examples:\n  mlaas pipeline status\n  mlaas pipeline status digits")
    st.add_argument("name", nargs="?", help="only this pipeline's runs")
    st.add_argument("-n", "--limit", type=positive_int, default=20, help="how many runs (default 20)")
    st.set_defaults(func=cmd_status)
    sh = cmds.add_parser("show", help="one run: steps, status, seconds, cache, outputs, the failing cell", formatter_class=fmt,
                         description="Show one run: each step's status, seconds, where it was cached from, its outputs and "
                         "MLflow runs, and a failing step's cell and error.",
                         epilog="examples:\n  mlaas pipeline show digits/last\n  mlaas pipeline show 20261201-153000")
    sh.add_argument("run", help="NAME/RUN, NAME/last, a run id or a unique prefix")
    sh.set_defaults(func=cmd_show)
