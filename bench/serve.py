"""Serving MNIST: the model alone (torch eager against ONNX Runtime) and over HTTP on loopback
(``mlaas serve`` against ``mlflow models serve`` of the same registered version), side by side.

1. Model only, the same trained CNN: latency per single image (p50, p99) and throughput in batches
   of 1, 32 and 256, torch eager (normalisation + net + softmax) against ONNX Runtime running the
   exported graph (the same computation inside).
2. The load generator's ceiling (bench/_loadgen.py: raw asyncio streams, closed loop, keep-alive)
   against a do-nothing server, so no figure below is the generator's limit.
3. HTTP at concurrency 1, 8 and 32, one real digit per request: ours with JSON ``/predict`` and the
   V2 ``/v2/models/NAME/infer`` route, and ``mlflow models serve -m models:/NAME@champion
   --env-manager local`` (the registry logs the ONNX model with ``mlflow.onnx``, so MLflow serves the
   same ONNX graph); requests/s, p50, p99, errors and the ratio ours/mlflow. Also time from start to
   ready of both, and how each answers a request announcing a 50 MB body (headers only; then the
   whole body sent), with the server's peak memory.

The CNN is ``train_dataset("mnist", epochs=1)`` in a scratch workspace unless ``--workspace DIR --run
RUN`` name one. Figures also go to ``bench/results/serve-<time>.json``. Others may share the
machine: the load average is printed with the figures.

    python bench/serve.py --quick
    python bench/serve.py --workspace workspace --run 1a2b3c4d --seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import _loadgen  # noqa: E402  (bench/ is not a package)

CONCURRENCY = (1, 8, 32)
BATCHES = (1, 32, 256)
BIG = 50 * 2**20


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    a = np.asarray(seconds) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def _time_single(fn, x: np.ndarray, n: int) -> tuple[float, float]:
    for i in range(min(20, n)):
        fn(x[i % len(x)][None])
    times = []
    for i in range(n):
        one = x[i % len(x)][None]
        t = time.perf_counter()
        fn(one)
        times.append(time.perf_counter() - t)
    return _percentiles(times)


def _time_batch(fn, x: np.ndarray, batch: int, budget_s: float) -> float:
    """Milliseconds per image in batches of ``batch`` (as many batches as fit in ``budget_s``, at least 3)."""
    xb = np.ascontiguousarray(np.resize(x, (batch, *x.shape[1:])))
    fn(xb)
    done, started = 0, time.perf_counter()
    while done < 3 or time.perf_counter() - started < budget_s:
        fn(xb)
        done += 1
    return (time.perf_counter() - started) / (done * batch) * 1000


def _runners(est, onnx_path: Path):
    import onnxruntime as ort
    import torch

    net = est.model_.to("cpu").eval()
    mean, std = float(est.mean_), float(est.std_)

    def torch_eager(x):
        with torch.inference_mode():
            return torch.softmax(net((torch.from_numpy(x) - mean) / std), dim=1).numpy()

    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def onnx_runtime(x):
        return session.run(None, {name: x})[0]

    gap = float(np.abs(torch_eager(_probe := np.random.default_rng(0).random((8, *est.input_shape_), dtype=np.float32))
                       - onnx_runtime(_probe)).max())
    return {"torch eager": torch_eager, "ONNX Runtime": onnx_runtime}, gap, torch.get_num_threads()


def model_only(est, onnx_path: Path, images: np.ndarray, quick: bool) -> dict:
    runners, gap, torch_threads = _runners(est, onnx_path)
    n, budget = (300, 0.3) if quick else (2000, 2.0)
    out = {"torch_threads": torch_threads, "ort_threads": os.cpu_count(), "max_abs_diff": gap, "engines": {}}
    print(f"\n1. model only: {n} single images, batches for {budget:g} s each; torch {torch_threads} threads, "
          f"ONNX Runtime {os.cpu_count()} intra-op threads; largest |difference| of probabilities {gap:.1e}")
    print(f"{'engine':<14}{'p50 ms':>9}{'p99 ms':>9}" + "".join(f"{f'ms/img @{b}':>14}{f'img/s @{b}':>13}" for b in BATCHES))
    for label, fn in runners.items():
        p50, p99 = _time_single(fn, images, n)
        per = {b: _time_batch(fn, images, b, budget) for b in BATCHES}
        out["engines"][label] = {"single_p50_ms": p50, "single_p99_ms": p99,
                                 "batch_ms_per_image": {str(b): v for b, v in per.items()},
                                 "batch_images_per_s": {str(b): 1000 / v for b, v in per.items()}}
        print(f"{label:<14}{p50:>9.3f}{p99:>9.3f}" + "".join(f"{per[b]:>14.3f}{1000 / per[b]:>13,.0f}" for b in BATCHES))
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_answers(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _start(cmd: list[str], ready_url: str, port: int, env: dict, log: Path, timeout: float = 120.0):
    """Start ``cmd`` in its own process group; (process, seconds until ``ready_url`` answered 200).

    Ready means the health route answering 200 while the process started here is alive. A port
    that already answers before the start is refused: a stale server there would answer the health
    route at once and then vanish (that gave mlflow a 0.01 s restart and connection refusals).
    """
    if _port_answers(port):
        raise RuntimeError(f"port {port} already answers before {' '.join(cmd[:4])} started: a stale server holds it")
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{' '.join(cmd[:4])} exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(ready_url, timeout=2) as r:
                if r.status == 200 and proc.poll() is None:
                    return proc, time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.perf_counter() - started > timeout:
            _stop(proc, port)
            raise TimeoutError(f"{ready_url} did not answer in {timeout:.0f} s:\n{log.read_text()[-2000:]}")
        time.sleep(0.02)


def _group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` still runs (zombies aside)."""
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _stop(proc, port: int | None = None, timeout: float = 15.0) -> None:
    """Stop the whole process group and wait until every member is gone and ``port`` is free
    (mlflow's server leaves uvicorn workers that keep answering for a while otherwise)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    deadline, killed = time.monotonic() + timeout, False
    while _group_alive(proc.pid) or (port is not None and _port_answers(port)):
        if time.monotonic() > deadline:
            if killed:
                raise RuntimeError(f"port {port} still answers {2 * timeout:g} s after its server's group {proc.pid} was "
                                   "stopped: another process holds it")
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline, killed = time.monotonic() + timeout, True
        time.sleep(0.05)
    proc.poll()


def _check(port: int, path: str, body: bytes, headers: dict) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", body, {"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()[:300].decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        raise RuntimeError(f"POST {path} answered {err.code}: {err.read()[:500]!r}") from None


def _loads(port: int, path: str, body: bytes, seconds: float, headers: dict | None = None) -> list[dict]:
    request = _loadgen.build_request(path, body, headers=headers)
    return [_loadgen.run_load("127.0.0.1", port, request, concurrency=c, seconds=seconds).as_dict() for c in CONCURRENCY]


def _print_loads(label: str, rows: list[dict]) -> None:
    for r in rows:
        errors = f"{r['errors']}" + (f" ({r['first_error'] or r['statuses']})" if r["errors"] else "")
        print(f"{label:<44}{r['concurrency']:>5}{r['requests_per_s']:>12,.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}   {errors}")


def _wait_listening(port: int, timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def ceiling(seconds: float) -> list[dict]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "_loadgen.py"), "--hello", str(port)], start_new_session=True)
    try:
        _wait_listening(port)
        return _loads(port, "/predict", b"x" * 6000, seconds)  # a body about the size of one digit as JSON
    finally:
        _stop(proc, port)


def _bodies(image: np.ndarray, name: str) -> dict[str, tuple[bytes, dict]]:
    """Route label -> (body, headers) for one [1, 28, 28] digit in 0..1, as each server takes it."""
    nested = np.round(image.astype(np.float64), 4).tolist()
    flat = [v for row in nested[0] for v in row]
    v2 = {"inputs": [{"name": "input", "shape": [1, *image.shape], "datatype": "FP32", "data": flat}]}
    raw = np.asarray(flat, dtype="<f4").tobytes()  # KServe's binary tensor extension: JSON header, then the bytes
    header = json.dumps({"inputs": [{"name": "input", "shape": [1, *image.shape], "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(raw)}}]}).encode()
    binary = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}
    return {"ours /predict": (json.dumps({"instances": [nested]}).encode(), {}),
            f"ours /v2/models/{name}/infer": (json.dumps(v2).encode(), {}),
            f"ours /v2/models/{name}/infer (binary)": (header + raw, binary),
            "mlflow /invocations": (json.dumps({"inputs": [nested]}).encode(), {})}


class _PeakRss:
    """The largest resident memory of a process group, sampled every 50 ms while the block runs."""

    def __init__(self, pgid: int):
        self.pgid, self.peak, self._stop = pgid, 0, None

    def _sample(self) -> int:
        total = 0
        for pid in (p for p in os.listdir("/proc") if p.isdigit()):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[2]) != self.pgid:
                    continue
                rss = next(ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith("VmRSS:"))
                total += int(rss.split()[1]) * 1024
            except (OSError, StopIteration, IndexError, ValueError):
                continue
        return total

    def __enter__(self):
        import threading

        self._stop = threading.Event()
        self.before = self._sample()

        def loop():
            while not self._stop.wait(0.05):
                self.peak = max(self.peak, self._sample())

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())


def big_body(proc, port: int, path: str, quick: bool) -> list[dict]:
    rows = []
    for send_body in (False, True):
        with _PeakRss(proc.pid) as rss:
            cap = (20.0 if quick else 60.0) if send_body else (3.0 if quick else 10.0)
            row = _loadgen.announce_big_body("127.0.0.1", port, path, BIG, send_body=send_body, cap_s=cap)
        row.update(rss_before_mb=round(rss.before / 2**20), rss_peak_mb=round(rss.peak / 2**20))
        rows.append(row)
    return rows


def _print_big(label: str, rows: list[dict]) -> None:
    for r in rows:
        how = "whole body sent" if r["send_body"] else "headers only"
        answer = f"{r['status']} after {r['seconds']:.2f} s" if r["seconds"] is not None else f"no answer within {r['cap_s']:g} s"
        sent = f"{r['body_sent_bytes'] / 2**20:.0f} MiB of the body sent by then" if r["send_body"] else ""
        print(f"  {label:<8} {how:<16} {answer:<26} {sent:<36} RSS {r['rss_before_mb']} -> peak {r['rss_peak_mb']} MB")


def _workspace_model(args, workspace: str):
    """(loaded CNN, images as float32 [N, 1, 28, 28] in 0..1, held-out positions)."""
    from mlaas_kernel import data, train
    from mlaas_kernel.models import load_run_model

    ds = data.ingest("mnist", workspace_dir=workspace, progress=False)
    run = args.run
    if not run:
        import warnings

        started = time.perf_counter()
        with warnings.catch_warnings():  # one epoch is few steps for the schedule; its accuracy is printed, speed is measured
            warnings.simplefilter("ignore", train.TrainingWarning)
            result = train.train_dataset("mnist", epochs=1, workspace_dir=workspace)
        run = result.run_id
        accuracy = result.metrics.get("val_accuracy")
        print(f"trained the CNN (1 epoch) in {time.perf_counter() - started:.0f} s: run {run}"
              + (f", validation accuracy {accuracy:.3f}" if accuracy is not None else ""))
    loaded = load_run_model(run, workspace_dir=workspace)
    est = loaded.model
    x = np.asarray(ds.images(), dtype=np.float32).reshape(-1, *est.input_shape_) / 255.0
    _, held = train.split_dataset(ds)
    return loaded, x, held


def _servers(args, workspace: str, name: str, bodies: dict[str, bytes]) -> dict:
    from mlaas_kernel import track

    env = {**os.environ, "MLAAS_WORKSPACE": workspace, "MLFLOW_TRACKING_URI": track.tracking_uri(workspace),
           "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1",
           # mlflow starts `uvicorn` through bash: this environment's scripts must come first on PATH
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    logs = Path(workspace) / "bench-logs"
    logs.mkdir(exist_ok=True)
    bin_dir = Path(sys.executable).parent
    ours_port, mlflow_port = _free_port(), _free_port()
    servers = {
        "ours": ([sys.executable, "-m", "mlaas_kernel", "serve", f"{name}@champion", "--port", str(ours_port)],
                 ours_port, "/ready", [k for k in bodies if k.startswith("ours")]),
        "mlflow": ([str(bin_dir / "mlflow"), "models", "serve", "-m", f"models:/{name}@champion", "--env-manager", "local",
                    "--host", "127.0.0.1", "--port", str(mlflow_port)], mlflow_port, "/health", ["mlflow /invocations"]),
    }
    out = {}
    for label, (cmd, port, ready, routes) in servers.items():
        out[label] = _measure_server(label, cmd, f"http://127.0.0.1:{port}{ready}", port, routes, bodies, args, env, logs)
    return out


def _measure_server(label, cmd, ready_url, port, routes, bodies, args, env, logs: Path) -> dict:
    """Start ``cmd`` twice (the first time from cold, then a restart), load its routes, announce a 50 MB body."""
    proc, first = _start(cmd, ready_url, port, env, logs / f"{label}-first.log")
    _stop(proc, port)
    proc, again = _start(cmd, ready_url, port, env, logs / f"{label}.log")
    out = {"ready_s": round(first, 3), "ready_again_s": round(again, 3), "routes": {}}
    try:
        for route in routes:
            path = route.split(" ")[1]
            body, headers = bodies[route]
            out["sample_answer_" + route] = _check(port, path, body, headers)
            out["routes"][route] = _loads(port, path, body, args.seconds, headers)
        out["big_body"] = big_body(proc, port, routes[0].split(" ")[1], args.quick)
    finally:
        _stop(proc, port)
    return out


def ratio(ours: dict, theirs: dict) -> str:
    """``c=8: 3.1x`` of two load rows, or why there is none: a figure over failed requests compares nothing."""
    head = f"c={ours['concurrency']}: "
    why = [f"{who} had {r['errors']:,} errors ({r['first_error'] or r['statuses']})" for who, r in (("ours", ours), ("mlflow", theirs))
           if r["errors"]]
    why += [f"{who} answered no request" for who, r in (("ours", ours), ("mlflow", theirs)) if not r["requests"] and not r["errors"]]
    if why:
        return head + "no ratio, " + "; ".join(why)
    return head + f"{ours['requests_per_s'] / theirs['requests_per_s']:.1f}x"


def _print_http(ceil: list[dict], http: dict) -> None:
    print(f"\n{'':<44}{'conc':>5}{'req/s':>12}{'p50 ms':>10}{'p99 ms':>10}   errors")
    _print_loads("do-nothing server", ceil)
    for label in ("ours", "mlflow"):
        for route, rows in http[label]["routes"].items():
            _print_loads(route, rows)
    mlflow_rows = http["mlflow"]["routes"]["mlflow /invocations"]
    for route, rows in http["ours"]["routes"].items():
        print(f"ours/mlflow requests/s, {route}: " + ", ".join(ratio(o, m) for o, m in zip(rows, mlflow_rows)))
    print("\ntime from start to ready (first start, then a restart): " + "; ".join(
        f"{label} {http[label]['ready_s']:.2f} s, {http[label]['ready_again_s']:.2f} s" for label in ("ours", "mlflow")))
    print(f"a request announcing a {BIG // 2**20} MiB body:")
    for label in ("ours", "mlflow"):
        _print_big(label, http[label]["big_body"])


def _write_json(result: dict) -> Path:
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    path = out / f"serve-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", help="a workspace to reuse (default: a scratch one)")
    parser.add_argument("--run", help="a CNN run in that workspace (default: train one for 1 epoch)")
    parser.add_argument("--name", default="mnist-bench", help="the registered name to serve (default mnist-bench)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per load point (default 10; --quick 2)")
    parser.add_argument("--quick", action="store_true", help="short runs: fewer model timings, 2 s per load point")
    parser.add_argument("--no-http", action="store_true", help="the model-only figures alone")
    args = parser.parse_args()
    args.seconds = args.seconds or (2.0 if args.quick else 10.0)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    workspace = str(Path(args.workspace or tempfile.mkdtemp(prefix="mlaas-bench-serve-")).resolve())
    os.environ["MLAAS_WORKSPACE"] = workspace  # every library call below and both servers use this one
    from mlaas_kernel import export, registry

    loaded, x, held = _workspace_model(args, workspace)
    onnx_path = Path(workspace) / "bench-model.onnx"
    exported = export.to_onnx(loaded, onnx_path)
    print(f"run {loaded.run_id[:8]}: ONNX export parity on {exported.n_checked} images, max |diff| {exported.max_abs_diff:.1e}")
    result = {"run_id": loaded.run_id, "cpus": os.cpu_count(), "quick": args.quick, "seconds_per_point": args.seconds,
              "model_only": model_only(loaded.model, onnx_path, x[held], args.quick)}
    if not args.no_http:
        version = registry.register(loaded.run_id, args.name, workspace_dir=workspace)
        print(f"\nregistered {version.name} version {version.version} (aliases {', '.join(version.aliases)})")
        print(f"2-3. HTTP on 127.0.0.1, one digit per request, closed loop, {args.seconds:g} s per point after 0.5 s warm-up")
        result["loadgen_ceiling"] = ceiling(args.seconds)
        result["http"] = _servers(args, workspace, version.name, _bodies(x[held[0]], version.name))
        _print_http(result["loadgen_ceiling"], result["http"])
    result["loadavg_after"] = os.getloadavg()
    print(f"\nload average (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}; {os.cpu_count()} CPUs "
          "(others may share this machine)")
    print(f"figures written to {_write_json(result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
