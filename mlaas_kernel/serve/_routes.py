"""The FastAPI app: every route, its OpenAPI schema, and errors as ``{"error": ...}``."""


from . import _schemas, _v2
from ._core import Served
from ._errors import ServeInputError
from ._limits import BodyTooLarge

__all__ = ["build_fastapi"]


def ORJSONResponse(content, *, status_code: int = 200, headers=None):
    """A JSON response serialised by orjson (FastAPI's own ORJSONResponse is deprecated)."""
    import orjson
    from fastapi import Response

    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json", headers=headers)


def _errors(app) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(ServeInputError)
    async def _input(request, exc: ServeInputError):
        return ORJSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(BodyTooLarge)
    async def _large(request, exc: BodyTooLarge):
        return ORJSONResponse({"error": f"body: {exc}"}, status_code=413, headers={"connection": "close"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        said = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors())
        return ORJSONResponse({"error": said or "invalid request"}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request, exc: HTTPException):
        message = f"no route {request.method} {request.url.path}" if exc.status_code == 404 else str(exc.detail)
        return ORJSONResponse({"error": message}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _name_param(served: Served):
    """The ``{name}`` of the V2 model routes: documented as the one model served here (other names get 404)."""
    from fastapi import Path

    return Path(description="the served model's name", json_schema_extra={"enum": [served.predictor.name]})


def _simple_routes(app, served: Served) -> None:
    from fastapi import Request, Response

    def answer(result) -> Response:
        status, body, headers = result
        extra = dict((k.decode(), v.decode()) for k, v in headers)
        media = extra.pop("content-type", "application/json")
        return Response(body, status_code=status, media_type=media, headers=extra)

    @app.post("/predict", openapi_extra=_schemas.predict(served.predictor), summary="Predict a batch of arrays or tabular records")
    async def predict(request: Request):
        return answer(await served.predict(await request.body(), request.scope.get("query_string", b"")))

    @app.post("/predict/image", openapi_extra=_schemas.PREDICT_IMAGE, summary="Predict uploaded PNG/JPEG images")
    async def predict_image(request: Request):
        files = await _uploads(request)
        return answer(await served.predict_images(files, request.scope.get("query_string", b"")))

    @app.post("/v2/models/{name}/infer", openapi_extra=_schemas.INFER, summary="KServe V2 inference")
    async def infer(request: Request, name: str = _name_param(served)):
        return answer(await served.infer(name, await request.body(), request.headers.get(_v2.HEADER_LENGTH)))


async def _uploads(request) -> list[tuple[str, bytes]]:
    from starlette.datastructures import UploadFile

    kind = request.headers.get("content-type", "")
    if not kind.startswith("multipart/form-data"):
        raise ServeInputError(f"Content-Type: {kind or 'missing'}; send the images as multipart/form-data (field 'files')", status=415)
    try:
        form = await request.form()
    except BodyTooLarge:
        raise
    except Exception as exc:  # python-multipart's parse errors have no common base class
        raise ServeInputError(f"body: not a readable multipart/form-data upload ({exc})", status=400) from None
    return [(v.filename or f"file{i}", await v.read()) for i, (_, v) in enumerate(form.multi_items()) if isinstance(v, UploadFile)]


def _info_routes(app, served: Served) -> None:
    from .. import __version__

    @app.get("/health", summary="Liveness")
    async def health():
        return {"status": "live"}

    @app.get("/ready", summary="Readiness: a model is loaded")
    async def ready():
        return {"ready": True, "model": served.predictor.name, "version": served.predictor.version}

    @app.get("/metadata", summary="The served model: version, classes, features, input shape, conformal level")
    async def metadata():
        return ORJSONResponse(served.metadata())

    @app.get("/v2", summary="KServe V2 server metadata")
    async def v2_server():
        return {"name": "mlaas", "version": __version__, "extensions": ["binary_tensor_data"]}

    @app.get("/v2/health/live", summary="KServe V2 liveness")
    async def v2_live():
        return {"live": True}

    @app.get("/v2/health/ready", summary="KServe V2 readiness")
    async def v2_ready():
        return {"ready": True}

    @app.get("/v2/models/{name}", summary="KServe V2 model metadata", responses={404: {"description": "no such model here"}})
    async def v2_model(name: str = _name_param(served)):
        served.check_name(name)
        return _v2.model_metadata(served.predictor)

    @app.get("/v2/models/{name}/ready", summary="KServe V2 model readiness", responses={404: {"description": "no such model here"}})
    async def v2_model_ready(name: str = _name_param(served)):
        served.check_name(name)
        return {"name": name, "ready": True}


def swagger_static():
    """The folder of Swagger UI's files shipped by the ``swagger-ui-py`` package (Swagger UI 5: OpenAPI 3.1), or None.

    Found without importing the package (its ``__init__`` pulls in jinja2 and yaml, which serving does not need).
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("swagger_ui")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        static = Path(folder) / "static"
        if (static / "swagger-ui-bundle.js").is_file() and (static / "swagger-ui.css").is_file():
            return static
    return None


def _docs(app, static) -> None:
    """``/docs`` from local files (no CDN: the page works offline), Swagger UI's files under ``/docs/static``."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from starlette.staticfiles import StaticFiles

    app.mount("/docs/static", StaticFiles(directory=static), name="swagger-static")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - Swagger UI",
                                   swagger_js_url="/docs/static/swagger-ui-bundle.js", swagger_css_url="/docs/static/swagger-ui.css",
                                   swagger_favicon_url="/docs/static/favicon-32x32.png")


def build_fastapi(served: Served, *, lifespan=None):
    """The FastAPI app over ``served`` (all routes; the hot ones also reachable through the fast path)."""
    from fastapi import FastAPI

    from .. import __version__

    static = swagger_static()  # without the package, FastAPI's own /docs (Swagger UI from a CDN: blank offline)
    app = FastAPI(title="MLaaS Workbench model endpoint", version=__version__, lifespan=lifespan, redoc_url=None,
                  docs_url=None if static is not None else "/docs",
                  description="ONNX Runtime with micro-batching; simple routes and KServe's Open Inference Protocol (V2). "
                              "Errors are JSON {\"error\": ...} naming the field and what is wrong.")
    _errors(app)
    if static is not None:
        _docs(app, static)
    _simple_routes(app, served)
    _info_routes(app, served)
    return app
