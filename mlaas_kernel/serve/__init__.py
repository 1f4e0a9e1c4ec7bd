"""Serving: a serving bundle run by ONNX Runtime (:class:`OnnxPredictor`), the REST endpoint that
micro-batches it and follows an alias (``create_app``, ``mlaas serve``), and its client
(:class:`EndpointClient`, ``mlaas predict``).

Nothing heavy is imported here: ONNX Runtime, FastAPI and uvicorn load when first used.
"""

from __future__ import annotations

from ._client import EndpointClient
from ._endpoints import find_endpoint
from ._errors import EndpointError, ServeInputError
from ._predictor import OnnxPredictor, check_batch

__all__ = ["EndpointClient", "EndpointError", "OnnxPredictor", "ServeInputError", "check_batch", "create_app", "find_endpoint"]


def create_app(source, **options):
    """The ASGI app serving ``source`` (a bundle folder or ``NAME@ALIAS``); see :func:`mlaas_kernel.serve._app.create_app`."""
    from ._app import create_app as _create

    return _create(source, **options)
