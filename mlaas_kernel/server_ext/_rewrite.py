"""Rewrites of proxied responses (jupyter-server-proxy's ``rewrite_response``): absolute URLs in a
program's pages made to go through Lab's proxy. Bodies may come gzip-compressed (the proxy does
not decompress them), so each rewrite decompresses, edits and compresses again."""

from __future__ import annotations

import gzip
import hashlib
import logging
from typing import Callable

log = logging.getLogger("mlaas.server_ext")


_DONE: dict[tuple, bytes] = {}  # (what, body's digest) -> the edited body: a 6 MB bundle is edited once


def edit_body(response, edit: Callable[[bytes], bytes], *, key: bytes = b"") -> None:
    """Apply ``edit`` to ``response.body``, through gzip when the body is compressed; with ``key``
    (what the edit depends on) the result is kept for the next response with the same body."""
    if not response.body:
        return
    memo = (key, hashlib.sha1(response.body).digest()) if key else None
    if memo in _DONE:
        response.body = _DONE[memo]
        response.headers["Content-Length"] = str(len(response.body))
        return
    zipped = "gzip" in str(response.headers.get("Content-Encoding", "")).lower()
    body = gzip.decompress(response.body) if zipped else response.body
    new = edit(body)
    if new == body:
        return
    response.body = gzip.compress(new, compresslevel=5) if zipped else new
    response.headers["Content-Length"] = str(len(response.body))
    if memo is not None:
        if len(_DONE) > 8:
            _DONE.clear()
        _DONE[memo] = response.body


def _content_type(response) -> str:
    return str(response.headers.get("Content-Type", "")).lower()


def prefix_of(path: str, name: str) -> str:
    """The proxy's prefix for server ``name`` in a request path: ``/base/name/`` of ``/base/name/x/y``."""
    marker = f"/{name}/"
    at = path.find(marker)
    return path[: at + len(marker)] if at >= 0 else "/"


def tensorboard_fonts(response) -> None:
    """TensorBoard's page points its Roboto fonts at ``/font-roboto/`` (the server root, 404 behind
    the proxy): make them relative to the page, which TensorBoard serves at its ``--path_prefix``."""
    if "text/html" in _content_type(response):
        edit_body(response, lambda body: body.replace(b"url(/font-roboto/", b"url(font-roboto/"))


def _replace_once(body: bytes, old: bytes, new: bytes, what: str) -> bytes:
    if old not in body:
        log.warning("optuna-dashboard: %s not found in its page; the dashboard may not load behind the proxy", what)
        return body
    return body.replace(old, new)


# optuna-dashboard's page and bundle assume they are served at the server's root: its bundle's
# API client and router have these defaults (optuna-dashboard 0.21; jupyterlab-optuna sets them itself).
_OPTUNA_API = b'return e.slice(0,t)})(null!=e?e:"")'
_OPTUNA_ROUTER = b'url_prefix:"/dashboard"'


def optuna_prefix(response, request) -> None:
    """Point optuna-dashboard's bundle, API calls, routes and artifact images at the proxy's prefix."""
    prefix = prefix_of(request.path, "optuna-dashboard").encode()
    kind = _content_type(response)
    if "text/html" in kind:
        edit_body(response, lambda b: b.replace(b'src="/static/', b'src="' + prefix + b"static/"))
    elif "javascript" in kind and request.path.endswith("/static/bundle.js"):
        def edit(b: bytes) -> bytes:
            b = _replace_once(b, _OPTUNA_API, _OPTUNA_API[:-3] + b'"' + prefix.rstrip(b"/") + b'")', "the API client's base URL")
            b = _replace_once(b, _OPTUNA_ROUTER, b'url_prefix:"' + prefix + b'dashboard"', "the router's prefix")
            return b.replace(b"`/artifacts/", b"`" + prefix + b"artifacts/")
        edit_body(response, edit, key=prefix)


# MLflow 3.17's UI keeps these in the browser's localStorage (its useLocalStorage hook stores JSON under
# ``<key>_v<version>``): the view experiments open in ("genai" when unset, whatever the experiment's
# ``mlflow.experimentKind`` tag says), and whether its Assistant panel opened by itself once (it does on
# a first visit from 127.0.0.1 or localhost, the way Lab is reached here). No server setting, flag or
# header decides either (its server-info has no such feature), so the page MLflow serves seeds them
# before its bundle runs; a choice the user made (either switch, the panel opened or closed) is kept.
MLFLOW_STORAGE_DEFAULTS = {
    "mlflow.workflowType_v1": "machine_learning",
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": True,
}
_MLFLOW_PAGE = b"<title>MLflow</title>"


def mlflow_seed_script() -> bytes:
    """A ``<script>`` that writes :data:`MLFLOW_STORAGE_DEFAULTS` into localStorage where unset
    (and the Assistant panel closed, when it has never opened by itself)."""
    import json

    seeds = json.dumps({k: json.dumps(v) for k, v in MLFLOW_STORAGE_DEFAULTS.items()})
    panel = json.dumps("mlflow.assistant.panelOpen_v1")
    auto = json.dumps("mlflow.assistant.fab.autoOpenedOnFirstLoad_v1")
    js = (f"(function(){{try{{var s=window.localStorage,d={seeds};"
          f"if(s.getItem({auto})===null&&s.getItem({panel})===null)s.setItem({panel},'false');"
          "for(var k in d)if(s.getItem(k)===null)s.setItem(k,d[k]);}catch(e){}})();")
    return b'<script data-mlaas="mlflow-defaults">' + js.encode() + b"</script>"


def with_mlflow_defaults(body: bytes) -> bytes:
    """MLflow's page with :func:`mlflow_seed_script` first in its ``<head>``; any other body as it is."""
    if _MLFLOW_PAGE not in body or b'data-mlaas="mlflow-defaults"' in body or b"<head>" not in body:
        return body
    return body.replace(b"<head>", b"<head>" + mlflow_seed_script(), 1)


def mlflow_defaults(response) -> None:
    """jupyter-server-proxy's ``rewrite_response`` for MLflow: its page opens experiments on "Model training"
    and leaves the Assistant panel closed on a first visit (see :data:`MLFLOW_STORAGE_DEFAULTS`)."""
    if "text/html" in _content_type(response):
        edit_body(response, with_mlflow_defaults, key=b"mlflow-defaults")


# ``mlflow server --app-name mlaas`` serves :func:`mlflow_app` (MLflow's plugin group ``mlflow.app``; the
# entry point is declared in pyproject.toml), so a UI that no proxy fronts (``mlaas mlflow``) gets the same page
MLFLOW_APP = "mlaas"
_PAGE_PATHS = ("/", "/index.html")


def mlflow_app_args() -> list[str]:
    """``["--app-name", "mlaas"]`` for ``mlflow server`` when the entry point is installed, else ``[]``
    (an older install: MLflow's own app, and the page without the seed)."""
    from importlib.metadata import entry_points

    return ["--app-name", MLFLOW_APP] if any(e.name == MLFLOW_APP for e in entry_points(group="mlflow.app")) else []


def mlflow_app():
    """MLflow's server app (``mlflow.server.fastapi_app``) with its page seeded by :func:`with_mlflow_defaults`.

    A function, so MLflow runs it as uvicorn's ``--factory``; MLflow's settings reach it through the
    environment ``mlflow server`` sets, as they reach its own app."""
    from mlflow.server.fastapi_app import app as inner

    async def app(scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "GET" or scope.get("path") not in _PAGE_PATHS:
            return await inner(scope, receive, send)
        plain = [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]  # the page small, uncompressed
        start: dict = {}
        chunks: list[bytes] = []

        async def edited(message):
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                return await send(message)
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if b"text/html" in dict(start.get("headers", [])).get(b"content-type", b""):
                body = with_mlflow_defaults(body)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": headers + [(b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await inner({**scope, "headers": plain}, receive, edited)

    return app
