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


def mlflow_defaults(response) -> None:
    """jupyter-server-proxy's ``rewrite_response`` for MLflow: its page opens experiments on "Model training"
    and leaves the Assistant panel closed on a first visit (``mlaas_kernel.track._mlflow_page``)."""
    from ..track._mlflow_page import with_mlflow_defaults

    if "text/html" in _content_type(response):
        edit_body(response, with_mlflow_defaults, key=b"mlflow-defaults")
