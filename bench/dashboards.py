"""Time to first useful paint of the Voilà dashboards, cold and preheated, in Chromium.

"Useful" means what a person came for: a chart that has data in it (the explore dashboard's
first chart, the training dashboard's curves) or the runs table with a row, and for the label
app the first item to label. Each dashboard is served by ``mlaas dashboard`` on 127.0.0.1 from
a scratch workspace (datasets ingested from the bundled copies, two tracked runs: an image run
with three epochs and a newer tabular run), then opened in Debian's Chromium through
Playwright:

- cold: Voilà started with ``--preheat_kernel=False``: the page waits for a kernel to start
  and run the notebook;
- preheated: ``mlaas dashboard``'s default (a pool of one kernel that ran the notebook before
  the page is asked for); the page is opened once the preheated kernel has gone idle.

The clock starts when the browser asks for the page and stops when the useful paint is in the
DOM (the page's own timer: ``performance.now()`` from navigation start).

    python bench/dashboards.py                    # explore, training and label, cold and preheated
    python bench/dashboards.py --only training --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from _servers import serving  # noqa: E402  (the tests' way to run a server and stop it by its PID)

DASHBOARDS = {
    "explore": "notebooks/02_explore.ipynb",
    "training": "training",
    "label": "label",
}
# JavaScript that is true once the page shows something useful: a plotly chart whose traces hold
# points, the runs table with a row, or an item to label.
USEFUL_PAINT = """() => {
  const charts = [...document.querySelectorAll('.js-plotly-plot')].some(gd =>
    (gd._fullData || []).some(t => t.visible !== false && ((t._length || 0) > 0 || (t.z && t.z.length > 0))));
  const table = document.querySelectorAll('table.mlaas-runs tr td').length > 0;
  const item = document.querySelector('.mlaas-labeler, .widget-text input') !== null;  // the label app asks for a name first
  return charts || table || item;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_workspace(root: Path) -> None:
    """Ingest the bundled datasets and track two runs (an image run, then a newer tabular one)."""
    os.environ["MLAAS_WORKSPACE"] = str(root)
    os.environ["MLAAS_OFFLINE"] = "1"
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    from mlflow.entities import Metric

    from mlaas_kernel import data, track

    data.ingest("gpu-benchmarks", progress=False)
    data.ingest("mnist", progress=False)
    client, exp_id = track.setup()
    now = int(time.time() * 1000)
    run = client.create_run(exp_id, run_name="mnist-cnn", start_time=now - 60_000, tags={"mlaas.device": "cpu"})
    curves = {"loss": [0.9, 0.4, 0.25], "val_loss": [0.5, 0.3, 0.2], "val_accuracy": [0.85, 0.92, 0.95]}
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, now, e + 1) for k, vs in curves.items() for e, v in enumerate(vs)])
    client.set_terminated(run.info.run_id, "FINISHED")
    tab = client.create_run(exp_id, run_name="gpu-category-forest", start_time=now - 10_000)
    client.log_batch(tab.info.run_id, metrics=[Metric("accuracy", 0.91, now, 0)])
    client.set_terminated(tab.info.run_id, "FINISHED")


def jupyter_env(root: Path) -> dict:
    env = dict(os.environ)
    for var, sub in [("JUPYTER_CONFIG_DIR", "jconfig"), ("JUPYTER_DATA_DIR", "jdata"), ("JUPYTER_RUNTIME_DIR", "jruntime"), ("IPYTHONDIR", "ipython")]:
        (root / sub).mkdir(exist_ok=True)
        env[var] = str(root / sub)
    env["PYTHONUNBUFFERED"] = "1"
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return env


def kernel_ids(log: Path) -> list[str]:
    """The kernels Voilà says it started (it keeps their connection files in a folder of its own)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return re.findall(r"Kernel started: ([0-9a-f-]{36})", text)


def kernel_pids(ids: list[str]) -> list[int]:
    """PIDs of those kernels (their command line names their connection file)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "ipykernel" in cmdline and any(f"kernel-{k}.json" in cmdline for k in ids):
                pids.append(int(proc.name))
    return pids


def wait_until(predicate, timeout: float, what: str, step: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")


def get_json(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
        return None


def wait_preheated(base: str, log: Path, timeout: float = 300.0) -> None:
    """Until the pool's kernel has run the notebook: idle, and nothing sent for 2 s."""
    ids = wait_until(lambda: kernel_ids(log), timeout, "a preheated kernel")
    last, since = None, time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = get_json(f"{base}/api/kernels/{ids[0]}") or {}
        if info.get("last_activity") != last:
            last, since = info.get("last_activity"), time.monotonic()
        elif info.get("execution_state") == "idle" and time.monotonic() - since >= 2.0:
            return
        time.sleep(0.25)
    raise TimeoutError("the preheated kernel did not settle")


def dashboard_cmd(name: str, port: int, *, preheat: bool) -> list[str]:
    cmd = [sys.executable, "-m", "mlaas_kernel", "dashboard", DASHBOARDS[name], "--port", str(port), "--no-browser"]
    return cmd + ([] if preheat else ["--", "--preheat_kernel=False"])


def stop_kernels(log: Path) -> None:
    """Voilà's kernels live in their own process groups: stopping Voilà leaves them running."""
    for pid in kernel_pids(kernel_ids(log)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def first_paint(browser, url: str, profile: Path) -> tuple[float, list[str]]:
    """Seconds from navigation start to the useful paint, and the console errors seen."""
    from _browser import CHROMIUM, CHROMIUM_ARGS

    context = browser.chromium.launch_persistent_context(str(profile), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                                         headless=True, viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(f"{m.text} ({m.location.get('url', '')})"))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url, wait_until="commit", timeout=300_000)
        page.wait_for_function(USEFUL_PAINT, timeout=300_000, polling=50)
        seconds = page.evaluate("performance.now()") / 1000
        return seconds, errors
    finally:
        context.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(DASHBOARDS), help="comma-separated: " + ", ".join(DASHBOARDS))
    ap.add_argument("--repeat", type=int, default=1, help="page loads per dashboard and mode (median printed)")
    ap.add_argument("--modes", default="cold,preheated", help="cold, preheated or both")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in DASHBOARDS]
    if unknown:
        ap.error(f"unknown dashboard(s) {', '.join(unknown)}; choose from {', '.join(DASHBOARDS)}")
    modes = [m.strip() for m in args.modes.split(",")]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers and kernels get stopped
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print("preparing a scratch workspace (bundled datasets, two tracked runs)...", flush=True)
        prepare_workspace(root / "workspace")
        env = jupyter_env(root)
        print(f"{'dashboard':<10} {'mode':<10} {'first useful paint (s)':>24}  console errors", flush=True)
        with sync_playwright() as pw:
            for name in names:
                for mode in modes:
                    times, errors = [], []
                    for i in range(args.repeat):
                        port = free_port()
                        log = root / f"voila-{name}-{mode}-{i}.log"
                        base = f"http://127.0.0.1:{port}"
                        try:
                            with serving(dashboard_cmd(name, port, preheat=mode == "preheated"), base + "/voila/static/voila.js",
                                         env=env, cwd=REPO, log=log):
                                if mode == "preheated":
                                    wait_preheated(base, log)
                                seconds, errs = first_paint(pw, base + "/", root / f"chromium-{name}-{mode}-{i}")
                        finally:
                            stop_kernels(log)
                        times.append(seconds)
                        errors += errs
                    shown = f"{statistics.median(times):.2f}" + (f" ({min(times):.2f}-{max(times):.2f})" if len(times) > 1 else "")
                    print(f"{name:<10} {mode:<10} {shown:>24}  {len(errors)}", flush=True)
                    for error in dict.fromkeys(errors):
                        print(f"{'':<22} console: {error[:160]}", flush=True)
    print("target: <= 3 s preheated (2-core CPU, no GPU here)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
