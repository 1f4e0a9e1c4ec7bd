"""``mlaas serve NAME@ALIAS``: the REST endpoint; ``mlaas predict ENDPOINT FOLDER|CSV``: batch prediction through it."""

from __future__ import annotations

import argparse
import sys
import time

from ._common import _export_workspace, _fail, _port_free, positive_int, whole_number

_STARTED = time.perf_counter()


def _hooks(ref: str, url: str, started: float, *, owner: int | None = None):
    """The CLI's hooks: the running-endpoint file (``owner``: the pid it names, the supervisor's with --workers)."""
    from ..serve._endpoints import remove_endpoint, write_endpoint

    served_version = []  # the versions answered with, in order

    def on_start(served):
        p = served.predictor
        served_version.append(p.version)
        if served.ref is not None:
            write_endpoint(served.ref, url=url, version=p.version, pid=owner)
        follows = f", following {served.ref}" if served.follower is not None else ""
        print(f"serving {p.name} version {p.version} at {url}{follows} (ready in {time.perf_counter() - started:.2f} s; "
              f"docs at {url}/docs)", flush=True)

    def on_swap(predictor):
        write_endpoint(ref, url=url, version=predictor.version, pid=owner)
        if served_version[-1:] == [predictor.version]:  # the same version again: its run was calibrated since
            print(f"{ref} version {predictor.version} now answers with prediction sets (its run's new conformal calibration)",
                  flush=True)
        else:
            print(f"{ref} now answers with version {predictor.version}", flush=True)
        served_version.append(predictor.version)

    def on_stop(served):
        if served.ref is not None and owner is None:  # with --workers the supervisor removes it
            remove_endpoint(served.ref)

    return on_start, on_swap, on_stop


def _export(args) -> int:
    from ..serve import deploy

    try:
        paths = deploy.write_deployment(args.ref, args.export, port=args.port)
    except (LookupError, ValueError, FileNotFoundError) as exc:
        return _fail(str(exc))
    for path in paths:
        print(path)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    _export_workspace()
    if args.export:
        return _export(args)
    from pathlib import Path

    from ..serve._endpoints import split_ref

    if not (Path(args.ref) / "model.onnx").is_file():  # a bundle folder is served as it is
        try:
            split_ref(args.ref)
        except ValueError as exc:
            return _fail(str(exc))
    if not _port_free(args.port) and args.host in ("127.0.0.1", "localhost", "0.0.0.0"):
        return _fail(f"port {args.port} is in use: choose another with --port")
    url = f"http://{'127.0.0.1' if args.host == '0.0.0.0' else args.host}:{args.port}"
    options = {"ref": args.ref, "url": url, "follow": not args.no_follow, "interval": args.interval, "max_batch": args.max_batch,
               "max_body": args.max_body * 1024 * 1024, "threads": args.threads}
    if args.workers > 1:
        return _serve_workers(args, options)
    try:
        app = _app(options, _STARTED)
    except (LookupError, ValueError, FileNotFoundError) as exc:  # RegistryError, ExportError, a broken bundle
        return _fail(str(exc), 1)
    import uvicorn

    config = uvicorn.Config(app, host=args.host, port=args.port, **_UVICORN)
    uvicorn.Server(config).run()
    return 0


_UVICORN = {"loop": "uvloop", "http": "httptools", "access_log": False, "log_level": "warning", "lifespan": "on",
            "timeout_graceful_shutdown": 5}


def _app(options: dict, started: float, owner: int | None = None):
    from ..serve import create_app

    on_start, on_swap, on_stop = _hooks(options["ref"], options["url"], started, owner=owner)
    return create_app(options["ref"], follow=options["follow"], interval=options["interval"], max_batch=options["max_batch"],
                      max_body=options["max_body"], threads=options["threads"], on_start=on_start, on_swap=on_swap, on_stop=on_stop)


def worker_app():
    """uvicorn's app factory in each ``--workers`` process: the options the supervisor put in MLAAS_SERVE_APP."""
    import json
    import os

    options = json.loads(os.environ["MLAAS_SERVE_APP"])
    return _app(options, options["started"], owner=options["owner"])


def _serve_workers(args, options: dict) -> int:
    """Several processes on one socket (uvicorn's supervisor); the bundle is fetched once here, so the workers start from it."""
    import json
    import os

    import uvicorn

    from ..serve._app import initial_predictor
    from ..serve._endpoints import remove_endpoint

    try:
        _, ref, _ = initial_predictor(args.ref, threads=1)  # resolves and caches the bundle when none is cached
    except (LookupError, ValueError, FileNotFoundError) as exc:
        return _fail(str(exc), 1)
    os.environ["MLAAS_SERVE_APP"] = json.dumps({**options, "owner": os.getpid(), "started": _STARTED})
    try:
        uvicorn.run("mlaas_kernel.cli.serve:worker_app", factory=True, host=args.host, port=args.port, workers=args.workers, **_UVICORN)
    finally:
        if ref is not None:
            remove_endpoint(ref)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .._atomic import atomic_write
    from ..serve import EndpointClient, EndpointError, ServeInputError
    from ..serve._batch import predict_source

    _export_workspace()
    try:
        client = EndpointClient(args.endpoint)
        result = predict_source(client, args.source, batch=args.batch, progress=not args.quiet, strict=args.strict)
    except (EndpointError, ServeInputError, LookupError, ValueError) as exc:  # LookupError/ValueError: RegistryError
        return _fail(str(exc))
    atomic_write(args.out, lambda tmp: result.table.to_csv(tmp, index=False))
    versions = sorted(set(result.table["version"].astype(str)))
    for line in result.said or ():
        print(line, file=sys.stderr)
    for name, why in result.skipped or ():
        print(f"skipped {name}: {why}", file=sys.stderr)
    skipped = f"; {len(result.skipped)} file(s) skipped (listed above; --strict stops at the first)" if result.skipped else ""
    what = "embeddings" if "embedding" in result.table.columns else "predictions"
    print(f"{result.n} {what} by version {', '.join(versions) or '-'} written to {args.out}{skipped}")
    if result.n == 0:
        return _fail("no file could be predicted", 1)
    if result.accuracy is not None:
        print(f"accuracy {result.accuracy:.2%} ({int(result.table['correct'].sum())} of {result.n} labelled items)")
    return 0


def register(sub) -> None:
    """Add ``serve`` and ``predict`` to the ``mlaas`` parser."""
    p = sub.add_parser("serve", help="serve a registered model (NAME@ALIAS) as a REST endpoint that follows its alias",
                       description="Serve NAME@ALIAS (or NAME/VERSION, or NAME = NAME@champion) with ONNX Runtime and micro-batching: "
                       "POST /predict (JSON), /predict/image (PNG/JPEG uploads), KServe V2 under /v2, /health, /ready, /metadata, "
                       "/openapi.json and /docs. The alias is re-resolved every --interval seconds and a new version is loaded, "
                       "then swapped in (blue-green). A restart serves the last bundle at once and confirms the alias meanwhile.")
    p.add_argument("ref", metavar="NAME@ALIAS", help="the registered model: NAME@ALIAS, NAME/VERSION or NAME (its champion); "
                   "or a bundle folder (model.onnx + serving.json), served as it is")
    p.add_argument("--port", type=whole_number(1), default=8080, help="port (default 8080)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--export", metavar="DIR", help="write deployment files (Dockerfile, KServe InferenceService, Deployment + Service) "
                   "for NAME@ALIAS into DIR instead of serving")
    p.add_argument("--interval", type=float, default=0.5, metavar="S", help="how often the alias is re-resolved (default 0.5 s)")
    p.add_argument("--no-follow", action="store_true", help="serve the version the alias names now; do not follow it")
    p.add_argument("--max-batch", type=positive_int, default=64, metavar="N", help="most items in one model call (default 64)")
    p.add_argument("--max-body", type=positive_int, default=16, metavar="MB", help="request body limit in MiB (default 16): 413 over it")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N", help="server processes on the port (default 1); "
                   "each loads the model and follows the alias")
    p.add_argument("--threads", type=positive_int, default=None, metavar="N", help="ONNX Runtime threads (default half the cores, at most 4)")
    p.set_defaults(func=cmd_serve)
    q = sub.add_parser("predict", help="predict a folder of images or a CSV through a running endpoint; a results table",
                       description="Send FOLDER (PNG/JPEG images; label subfolders give an accuracy) or CSV (tabular rows by feature "
                       "name, or one column per pixel; a label column gives an accuracy) through ENDPOINT, a URL or the NAME@ALIAS of "
                       "an endpoint `mlaas serve` runs. Writes file, class, confidence, set and version per item (an embedding model: file, embedding, version). Host:port "
                       "alone means http://HOST:PORT.")
    q.add_argument("endpoint", metavar="ENDPOINT", help="http://HOST:PORT, or NAME@ALIAS of a running `mlaas serve`")
    q.add_argument("source", metavar="FOLDER|CSV", help="a folder of images or a CSV file")
    q.add_argument("--out", default="results.csv", help="the results table (CSV, written atomically; default results.csv)")
    q.add_argument("--batch", type=positive_int, default=64, metavar="N", help="items per request (default 64)")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.add_argument("--strict", action="store_true", help="stop at the first file the endpoint cannot decode (default: skip "
                   "it, list it, predict the rest; exit 0 when some succeeded)")
    q.set_defaults(func=cmd_predict)
