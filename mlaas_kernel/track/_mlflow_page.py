"""MLflow's page as the workbench serves it: experiments open on "Model training", the Assistant panel closed.

Used by Lab's proxy (``server_ext._rewrite.mlflow_defaults``) and by ``mlflow server --app-name mlaas``
(:func:`mlflow_app`), which ``mlaas mlflow`` and ``mlaas tracking-server`` run.
"""

from __future__ import annotations

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
