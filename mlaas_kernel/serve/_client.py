"""EndpointClient: calls a running endpoint over HTTP (one keep-alive connection, the standard library only)."""

from __future__ import annotations

import http.client
import json
import re
import secrets
import threading
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import numpy as np

from ._errors import EndpointError

__all__ = ["EndpointClient"]

_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-]+:\d{1,5}(/.*)?$")


class EndpointClient:
    """A client of ``mlaas serve``: ``url`` (``http://127.0.0.1:8080``) or ``NAME@ALIAS`` of a running endpoint.

    ``predict_arrays(x)``, ``predict_images(paths)``, ``predict_rows(df)`` return the endpoint's
    answer (``{"model", "version", "predictions": [{"class", "probabilities", "set"}...]}``);
    ``metadata()``, ``ready()``. Errors raise :class:`EndpointError` with the endpoint's message.
    """

    def __init__(self, url: str, *, timeout: float = 30.0, workspace_dir=None):
        if "://" not in url and _HOST_PORT.match(url):  # localhost:8080 means http://localhost:8080
            url = "http://" + url
        if "://" not in url:
            from ._endpoints import find_endpoint

            try:
                record = find_endpoint(url, workspace_dir=workspace_dir)
            except (LookupError, ValueError) as exc:  # not a model reference either (RegistryError)
                raise EndpointError(f"{url!r} is neither an endpoint URL (http://HOST:PORT or HOST:PORT) nor NAME@ALIAS: {exc}") from None
            if record is None:
                raise EndpointError(f"no endpoint is running for {url}: start one with `mlaas serve {url}` or give its URL")
            url = record["url"]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EndpointError(f"{url!r} is not an http:// URL of an endpoint")
        self.url = url.rstrip("/")
        self._parts = parts
        self._prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
            conn = cls(self._parts.hostname, self._parts.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        for attempt in (0, 1):  # a kept-alive connection the server closed is reopened once
            conn = self._connection()
            try:
                conn.request(method, self._prefix + path, body=body, headers=headers or {})
                resp = conn.getresponse()
                data = resp.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                conn.close()
                self._local.conn = None
                if attempt:
                    raise EndpointError(f"{self.url}: cannot reach the endpoint ({exc})") from None
        try:
            payload = json.loads(data) if data else None
        except ValueError:
            payload = None
        if resp.status >= 400:
            message = payload.get("error") if isinstance(payload, dict) else data[:200].decode(errors="replace")
            raise EndpointError(f"{self.url}{path}: {resp.status} {message}", status=resp.status)
        return payload

    def _post_json(self, path: str, payload) -> dict:
        body = json.dumps(payload).encode()
        return self._request("POST", path, body, {"Content-Type": "application/json"})

    @staticmethod
    def _query(significance) -> str:
        return "?" + urlencode({"significance": significance}) if significance is not None else ""

    def predict_arrays(self, x, *, significance: float | None = None) -> dict:
        """Predictions for a batch ``x`` (``[N, ...]`` numbers: images in 0..1, or tabular rows in feature order)."""
        return self._post_json("/predict" + self._query(significance), {"instances": np.asarray(x, dtype=np.float32).tolist()})

    def predict_rows(self, rows, *, significance: float | None = None) -> dict:
        """Predictions for tabular rows: a DataFrame or a list of ``{feature: value}`` records."""
        if hasattr(rows, "to_dict"):  # a CSV's empty cells (NaN) sent as null: the endpoint fills them in as training did
            rows = rows.astype(object).where(rows.notna(), None)
        records = rows.to_dict(orient="records") if hasattr(rows, "to_dict") else list(rows)
        return self._post_json("/predict" + self._query(significance), {"instances": records})

    def predict_images(self, images, *, significance: float | None = None) -> dict:
        """Predictions for image files: paths, or ``(filename, bytes)`` pairs; sent as one multipart upload."""
        boundary = "mlaas-" + secrets.token_hex(12)
        parts = []
        for item in images:
            name, data = (item if isinstance(item, tuple) else (Path(item).name, Path(item).read_bytes()))
            kind = "image/jpeg" if str(name).lower().endswith((".jpg", ".jpeg")) else "image/png"
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                         f"Content-Type: {kind}\r\n\r\n".encode() + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self._request("POST", "/predict/image" + self._query(significance), body,
                             {"Content-Type": f"multipart/form-data; boundary={boundary}"})

    def metadata(self) -> dict:
        """The served model's metadata (name, version, kind, classes, features, input shape, conformal level)."""
        return self._request("GET", "/metadata")

    def ready(self) -> bool:
        """Whether the endpoint answers and has its model loaded."""
        try:
            self._request("GET", "/ready")
        except EndpointError:
            return False
        return True

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def __repr__(self) -> str:
        return f"EndpointClient({self.url!r})"
