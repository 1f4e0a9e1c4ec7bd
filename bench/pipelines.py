"""Notebook pipelines: what a run costs cold, what the cache saves, papermill's own cost, parallel speed-up.

For each pipeline in ./pipelines (or $MLAAS_PIPELINES): the wall time of ``mlaas pipeline run NAME``
in a fresh workspace (cold), then again in the same workspace (every step from the cache).
papermill's overhead per notebook: an empty one-cell notebook through ``papermill.execute_notebook``
(kernel start and stop included) against the same code run in this process; and the same notebook as
a one-step pipeline (a worker process, its papermill import, the run record). The parallel speed-up:
``digits`` with ``--force`` at the default workers against ``--workers 1``. Figures are from this run
only; the machine's load average is printed before and after.

    python bench/pipelines.py                  # everything
    python bench/pipelines.py --only digits    # one pipeline (and the overhead figures)
    python bench/pipelines.py --skip-slow      # no parallel speed-up runs (two more full digits runs)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _env(workspace: Path, pipelines: Path) -> dict:
    env = dict(os.environ, MLAAS_WORKSPACE=str(workspace), MLAAS_PIPELINES=str(pipelines), MLAAS_OFFLINE="1",
               MLFLOW_DISABLE_TELEMETRY="true", PYTHONUNBUFFERED="1")
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def run_cli(name: str, workspace: Path, pipelines: Path, *extra: str, timeout: float = 3600) -> dict:
    """One ``mlaas pipeline run``: wall seconds, exit status, and the run's step statuses."""
    cmd = [sys.executable, "-m", "mlaas_kernel", "pipeline", "run", name, "--quiet", *extra]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=pipelines.parent, env=_env(workspace, pipelines), capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t
    runs = sorted((workspace / "pipelines" / name).glob("*/run.json"))
    record = json.loads(max(runs, key=lambda p: p.parent.name).read_text()) if runs else {}
    steps = record.get("steps", {})
    return {"seconds": round(seconds, 2), "rc": done.returncode, "status": record.get("status", "no run"),
            "steps": {n: s["status"] for n, s in steps.items()}, "stderr_tail": done.stderr[-1500:] if done.returncode else ""}


def _empty_notebook(folder: Path) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell("x = 1")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "notebooks" / "empty.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    (folder / "pipelines").mkdir(exist_ok=True)
    (folder / "pipelines" / "empty.yaml").write_text("name: empty\nsteps:\n  only: {notebook: notebooks/empty.ipynb}\n")
    return path


def overhead(repeat: int) -> dict:
    """papermill on an empty notebook vs the same code in process, and as a one-step pipeline."""
    import papermill as pm

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        nb = _empty_notebook(tmp)
        papermill, inproc, pipeline = [], [], []
        for i in range(repeat):
            t = time.perf_counter()
            pm.execute_notebook(str(nb), str(tmp / f"out{i}.ipynb"), kernel_name="python3", progress_bar=False, cwd=str(tmp))
            papermill.append(time.perf_counter() - t)
            t = time.perf_counter()
            exec(compile("x = 1", "<cell>", "exec"), {})
            inproc.append(time.perf_counter() - t)
            pipeline.append(run_cli("empty", tmp / "ws", tmp / "pipelines", "--force", "--no-track")["seconds"])
    med = statistics.median
    return {"papermill_s": round(med(papermill), 3), "in_process_s": med(inproc), "one_step_pipeline_s": round(med(pipeline), 3),
            "repeat": repeat, "papermill_all": [round(x, 3) for x in papermill], "pipeline_all": pipeline}


def bench_pipeline(name: str, pipelines: Path, root: Path, speedup: bool) -> dict:
    workspace = root / f"ws-{name}"
    row = {"cold": run_cli(name, workspace, pipelines)}
    row["cached"] = run_cli(name, workspace, pipelines)
    if speedup and name == "digits":
        row["force_default_workers"] = run_cli(name, workspace, pipelines, "--force")
        row["force_1_worker"] = run_cli(name, workspace, pipelines, "--force", "--workers", "1")
    return row


def table(results: dict, over: dict | None) -> str:
    lines = [f"{'pipeline':<20} {'cold s':>9} {'status':<10} {'cached s':>9} {'cached steps':>13}"]
    for name, r in results["pipelines"].items():
        cached = sum(s == "cached" for s in r["cached"]["steps"].values())
        lines.append(f"{name:<20} {r['cold']['seconds']:>9.1f} {r['cold']['status']:<10} {r['cached']['seconds']:>9.1f} "
                     f"{cached:>6}/{len(r['cached']['steps'])}")
        if r["cold"]["status"] != "succeeded":
            failed = [s for s, st in r["cold"]["steps"].items() if st not in ("succeeded", "cached")]
            lines.append(f"  {name} cold run: {r['cold']['status']}; steps not done: {', '.join(failed)}")
        if "force_1_worker" in r:
            d, one = r["force_default_workers"]["seconds"], r["force_1_worker"]["seconds"]
            lines.append(f"  {name} --force: default workers ({os.cpu_count()}) {d:.1f} s, --workers 1 {one:.1f} s, "
                         f"speed-up {one / d:.2f}x")
    if over:
        lines.append(f"papermill, empty one-cell notebook (kernel start + stop), median of {over['repeat']}: "
                     f"{over['papermill_s']:.2f} s; the same code in process: {over['in_process_s'] * 1e6:.1f} us; "
                     f"as a one-step pipeline (mlaas pipeline run, process start included): {over['one_step_pipeline_s']:.2f} s")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", metavar="NAME", help="only this pipeline")
    ap.add_argument("--skip-slow", action="store_true", help="skip the parallel speed-up (two more full digits runs)")
    ap.add_argument("--repeat", type=int, default=5, help="repeats of the overhead figures (default 5)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from mlaas_kernel.pipelines import find_pipelines
    from mlaas_kernel.pipelines._spec import pipelines_dir

    folder = pipelines_dir() if os.environ.get("MLAAS_PIPELINES") else REPO / "pipelines"
    names = [p.name for p in find_pipelines(folder)]
    if args.only:
        if args.only not in names:
            print(f"bench/pipelines.py: no pipeline {args.only!r} in {folder}; pipelines: {', '.join(names) or '(none)'}", file=sys.stderr)
            return 2
        names = [args.only]
    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_before": os.getloadavg()},
               "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "pipelines": {}}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores", flush=True)
    results["overhead"] = overhead(args.repeat)
    with tempfile.TemporaryDirectory(prefix="bench-pipelines-") as tmp:
        for name in names:
            print(f"running {name} ...", flush=True)
            results["pipelines"][name] = bench_pipeline(name, folder, Path(tmp), speedup=not args.skip_slow)
    results["machine"]["load_after"] = os.getloadavg()
    print(table(results, results["overhead"]))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    out = REPO / "bench" / "results" / f"pipelines-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"details: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
