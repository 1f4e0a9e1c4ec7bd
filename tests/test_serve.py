"""The endpoint for real: ``mlaas serve mnist-cnn@champion`` on 127.0.0.1 over two registered 1-epoch CNNs.

Routes and their answers against the model in process, image uploads, KServe V2 (JSON and binary),
each bad input and its 4xx, 413 before the body is read, schemathesis over /openapi.json, ``mlaas
predict`` on a folder and a CSV, blue-green under load (promote, then roll back), the ready time.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from _cli import mlaas
from _servers import serving
from _workspace import module_workspace, use_workspace
from conftest import free_port


@pytest.fixture(scope="module")
def registered(registered_workspace, tmp_path_factory):
    """MNIST, two 1-epoch CNN runs (the first calibrated for LAC sets) registered as mnist-cnn 1 (champion) and 2 (challenger).

    The first, calibrated and registered, is a copy of the session's ``registered_workspace``; the second is trained here."""
    from mlaas_kernel import data, registry
    from mlaas_kernel.train import train_dataset

    with module_workspace(tmp_path_factory, "serve", copy_of=registered_workspace["root"]) as root:
        v1 = registered_workspace["v1"]
        second = train_dataset("mnist", epochs=1, batch_size=256, device="cpu", random_state=1)
        v2 = registry.register(second.run_id, "mnist-cnn", check_n=200)
        ds = data.load("mnist")
        images = np.asarray(ds.images()[-64:], dtype=np.float32) / 255.0
        yield {"root": root, "v1": v1, "v2": v2, "images": images, "labels": np.asarray(ds.labels()[-64:])}


def _env(root) -> dict:
    env = dict(os.environ, MLAAS_WORKSPACE=str(root), MLAAS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _serve_cmd(port: int) -> list[str]:
    return [sys.executable, "-m", "mlaas_kernel", "serve", "mnist-cnn@champion", "--port", str(port), "--max-body", "1"]


@pytest.fixture(scope="module")
def endpoint(registered, tmp_path_factory):
    """``mlaas serve mnist-cnn@champion`` (1 MiB body limit), started cold: the alias resolved, the bundle fetched."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve-log") / "serve.log"
    with serving(_serve_cmd(port), f"http://127.0.0.1:{port}/ready", env=_env(registered["root"]), cwd=registered["root"].parent,
                 log=log) as proc:
        yield {"url": f"http://127.0.0.1:{port}", "port": port, "proc": proc, "log": log, **registered}
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]  # no request made the server fail


@pytest.fixture
def ws(registered, monkeypatch):
    use_workspace(monkeypatch, registered["root"])
    return registered


def _request(port, method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), dict(resp.getheaders())
    finally:
        conn.close()


def _png(image: np.ndarray, fmt="PNG") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((image * 255).round().astype(np.uint8)).save(buf, fmt)
    return buf.getvalue()


def test_predict_answers_like_the_model_in_process_with_version_and_sets(endpoint, ws):
    from mlaas_kernel import export
    from mlaas_kernel.serve import EndpointClient, OnnxPredictor

    client = EndpointClient("mnist-cnn@champion")  # found through the running-endpoint file
    assert client.url == endpoint["url"] and client.ready()
    record = json.loads((ws["root"] / "serving" / "endpoints" / "mnist-cnn@champion.json").read_text())
    assert record == {"ref": "mnist-cnn@champion", "url": endpoint["url"], "pid": endpoint["proc"].pid, "version": 1}
    x = ws["images"][:8]
    answer = client.predict_arrays(x)
    local = OnnxPredictor(export.bundle("mnist-cnn/1")).predict(x[:, None])
    assert answer["model"] == "mnist-cnn" and answer["version"] == 1 and answer["significance"] == 0.1
    got = np.array([[p["probabilities"][str(c)] for c in range(10)] for p in answer["predictions"]])
    np.testing.assert_allclose(got, local["probabilities"], atol=1e-6)
    assert [p["class"] for p in answer["predictions"]] == local["classes"]
    assert all(isinstance(p["set"], list) for p in answer["predictions"])
    loose = client.predict_arrays(x, significance=0.5)  # a looser level never gives larger sets
    assert sum(len(p["set"]) for p in loose["predictions"]) <= sum(len(p["set"]) for p in client.predict_arrays(x, significance=0.01)["predictions"])
    meta = client.metadata()
    assert meta["version"] == 1 and meta["classes"] == [str(c) for c in range(10)] and meta["input_shape"] == [1, 28, 28]
    assert meta["conformal"]["n_calibration"] > 0 and "calibration_scores" not in meta["conformal"]
    assert meta["serving"]["ref"] == "mnist-cnn@champion" and meta["serving"]["follows_alias"] is True
    assert _request(endpoint["port"], "GET", "/health")[0] == 200


def test_image_uploads_png_and_jpeg_several_per_request(endpoint):
    from mlaas_kernel.serve import EndpointClient

    client = EndpointClient(endpoint["url"])
    x = endpoint["images"][:6]
    files = [(f"digit{i}.png", _png(img)) for i, img in enumerate(x[:3])] + [(f"digit{i}.jpg", _png(img, "JPEG")) for i, img in enumerate(x[3:], 3)]
    answer = client.predict_images(files)
    assert [p["file"] for p in answer["predictions"]] == [name for name, _ in files] and answer["version"] == 1
    arrays = client.predict_arrays(x)["predictions"]
    assert [p["class"] for p in answer["predictions"][:3]] == [p["class"] for p in arrays[:3]]  # a 28x28 PNG is the array itself
    assert np.mean([p["class"] == q["class"] for p, q in zip(answer["predictions"], arrays)]) >= 0.5


def test_v2_open_inference_protocol_json_and_binary(endpoint):
    port, x = endpoint["port"], endpoint["images"][:2]
    for path, expected in [("/v2/health/live", {"live": True}), ("/v2/health/ready", {"ready": True}),
                           ("/v2/models/mnist-cnn/ready", {"name": "mnist-cnn", "ready": True})]:
        status, body, _ = _request(port, "GET", path)
        assert status == 200 and json.loads(body) == expected, path
    status, body, _ = _request(port, "GET", "/v2/models/mnist-cnn")
    meta = json.loads(body)
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 28, 28]}] and meta["versions"] == ["1"]
    request = {"id": "r1", "inputs": [{"name": "input", "shape": [2, 1, 28, 28], "datatype": "FP32", "data": x.reshape(-1).tolist()}]}
    status, body, _ = _request(port, "POST", "/v2/models/mnist-cnn/infer", json.dumps(request).encode(), {"Content-Type": "application/json"})
    answer = json.loads(body)
    assert status == 200 and answer["model_name"] == "mnist-cnn" and answer["model_version"] == "1" and answer["id"] == "r1"
    out = answer["outputs"][0]
    assert out["name"] == "probabilities" and out["shape"] == [2, 10]
    head = json.dumps({"inputs": [{"name": "input", "shape": [2, 1, 28, 28], "datatype": "FP32", "parameters": {"binary_data_size": 2 * 784 * 4}}],
                       "parameters": {"binary_data_output": True}}).encode()
    status, body, headers = _request(port, "POST", "/v2/models/mnist-cnn/infer", head + x.astype("<f4").tobytes(),
                                     {"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"})
    n = int(headers["inference-header-content-length"])
    tensor = json.loads(body[:n])["outputs"][0]
    assert status == 200 and tensor["parameters"]["binary_data_size"] == 80
    np.testing.assert_allclose(np.frombuffer(body[n:], "<f4").reshape(2, 10), np.reshape(out["data"], (2, 10)), atol=1e-7)


def _digit_json(**extra) -> bytes:
    return json.dumps({"instances": np.zeros((1, 1, 28, 28)).tolist(), **extra}).encode()


_MULTI = "multipart/form-data; boundary=b0"
BAD = [  # (method, path, body, content type, status, what the error says)
    ("POST", "/predict", b"{not json", "application/json", 400, "body: not valid JSON"),
    ("POST", "/predict", b"", "application/json", 400, "body: empty"),
    ("POST", "/predict", b'{"rows": [1]}', "application/json", 422, "instances: missing"),
    ("POST", "/predict", b'[1, 2]', "application/json", 422, "body: expected a JSON object"),
    ("POST", "/predict", b'{"instances": [[1, 2, 3]]}', "application/json", 422, "instances: shape [1, 3] does not fit the model"),
    ("POST", "/predict", b'{"instances": [[["a", "b"]]]}', "application/json", 422, "instances: holds text"),
    ("POST", "/predict", b'{"instances": [[[NaN]]]}', "application/json", 422, "NaN or an infinite number"),
    ("POST", "/predict", b'{"instances": [[[1e999]]]}', "application/json", 422, "NaN or an infinite number"),
    ("POST", "/predict", b'{"instances": [{"a": 1}]}', "application/json", 422, "records {feature: value} are for tabular models"),
    ("POST", "/predict?significance=2", _digit_json(), "application/json", 422, "significance (query): significance '2' is outside (0, 1)"),
    ("POST", "/predict?significance=5e-324", _digit_json(), "application/json", 422, "significance: 5e-324 is below 1/(n+1)"),
    ("POST", "/predict", _digit_json(significance="x"), "application/json", 422, "significance: significance 'x' is not a number"),
    ("POST", "/predict/image", b'--b0\r\nContent-Disposition: form-data; name="files"; filename="x.png"\r\n\r\nnot an image\r\n--b0--\r\n',
     _MULTI, 422, "files[0] (x.png): cannot be decoded as a PNG or JPEG image (cannot identify image file)"),
    ("POST", "/predict", b'--b0\r\nContent-Disposition: form-data; name="files"; filename="x.png"\r\n\r\n\xff\xd8\r\n--b0--\r\n',
     _MULTI, 415, "send image files to POST /predict/image"),
    ("POST", "/predict", json.dumps({"instances": np.full((1, 1, 28, 28), 255.0).tolist()}).encode(), "application/json", 422,
     "pixel values range 255..255; the model takes intensities in 0..1: divide raw 0..255 pixels by 255"),
    ("POST", "/predict", json.dumps({"instances": np.full((1, 1, 28, 28), -0.4).tolist()}).encode(), "application/json", 422,
     "pixel values range -0.4..-0.4; the model takes intensities in 0..1: send intensities"),
    ("POST", "/predict/image", b'--b0\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--b0--\r\n', _MULTI, 422, "files: no image"),
    ("POST", "/predict/image", b"{}", "application/json", 415, "send the images as multipart/form-data"),
    ("POST", "/v2/models/other/infer", b"{}", "application/json", 404, "model 'other' is not served here"),
    ("GET", "/v2/models/other", b"", None, 404, "model 'other' is not served here; this endpoint serves 'mnist-cnn'"),
    ("POST", "/v2/models/mnist-cnn/infer", b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}', "application/json",
     422, "inputs[0].name: 'x' is not the model's input"),
    ("POST", "/v2/models/mnist-cnn/infer", b'{"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "data": [1]}]}',
     "application/json", 422, "inputs[0].data: 1 values, but shape [1, 784] needs 784"),
    ("POST", "/v2/models/mnist-cnn/infer", b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "BYTES", "data": ["a"]}]}',
     "application/json", 422, "inputs[0].datatype: 'BYTES'"),
    ("GET", "/predict", b"", None, 405, "Method Not Allowed"),
    ("GET", "/nowhere", b"", None, 404, "no route GET /nowhere"),
]


@pytest.mark.parametrize("method, path, body, kind, status, said", BAD, ids=[f"{b[0]} {b[1]} {b[4]}" for b in BAD])
def test_bad_input_gets_its_4xx_naming_what_is_wrong(endpoint, method, path, body, kind, status, said):
    got, answer, headers = _request(endpoint["port"], method, path, body, {"Content-Type": kind} if kind else {})
    assert got == status and headers["content-type"] == "application/json", answer
    assert said in json.loads(answer)["error"], answer
    assert "object at 0x" not in json.loads(answer)["error"], answer


def test_pixels_a_little_outside_0_1_are_taken(endpoint):
    x = np.zeros((1, 1, 28, 28))
    x[0, 0, 0, :2] = (-0.005, 1.005)
    status, body, _ = _request(endpoint["port"], "POST", "/predict", json.dumps({"instances": x.tolist()}).encode())
    assert status == 200, body


def test_a_version_without_a_calibration_says_why_its_answers_have_no_set(ws):
    from mlaas_kernel import export
    from mlaas_kernel.serve import OnnxPredictor, create_app
    from mlaas_kernel.serve._handlers import predictions_body

    bare = OnnxPredictor(export.bundle("mnist-cnn/2"))
    x = ws["images"][:2, None]
    for level in (None, 0.2):  # asked for or not: the answer says there are no sets and how to get them
        answer = json.loads(predictions_body(bare, bare.run(x), level))
        assert all("set" not in item for item in answer["predictions"]) and "significance" not in answer
        assert answer["notes"]["sets"].startswith(f"no conformal calibration for version 2, so no prediction sets: "
                                                  f"run `mlaas conformal {ws['v2'].run_id}`"), answer
    assert create_app(bare, follow=False).served.metadata()["notes"] == answer["notes"]
    calibrated = OnnxPredictor(export.bundle("mnist-cnn/1"))
    answer = json.loads(predictions_body(calibrated, calibrated.run(x)))
    assert "notes" not in answer and "notes" not in create_app(calibrated, follow=False).served.metadata()


def test_v2_binary_nan_is_refused(endpoint):
    head = json.dumps({"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "parameters": {"binary_data_size": 784 * 4}}]}).encode()
    status, body, _ = _request(endpoint["port"], "POST", "/v2/models/mnist-cnn/infer", head + np.full(784, np.nan, "<f4").tobytes(),
                               {"Inference-Header-Content-Length": str(len(head))})
    assert status == 422 and "inputs[0]: 1 of 1 item(s) hold NaN or infinite values" in json.loads(body)["error"]


def _response(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """What the server sent until it closed the connection (it does after a 413)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            part = sock.recv(65536)
        except ConnectionResetError:
            break
        if not part:
            break
        data += part
    return data


def test_a_body_over_the_limit_is_refused_before_it_is_read(endpoint):
    with socket.create_connection(("127.0.0.1", endpoint["port"])) as sock:  # 100 MB announced, not one byte sent
        started = time.perf_counter()
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
        head = _response(sock)
        elapsed = time.perf_counter() - started
    assert head.startswith(b"HTTP/1.1 413") and elapsed < 1.0, (head, elapsed)
    with socket.create_connection(("127.0.0.1", endpoint["port"])) as sock:  # chunked: no length, cut off as it passes 1 MiB
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (256 * 1024, b" " * 256 * 1024)
        try:
            for _ in range(40):  # up to 10 MiB; the server stops reading past 1 MiB and closes
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        head = _response(sock)
    assert head.startswith(b"HTTP/1.1 413") and b"the streamed body is over the 1,048,576-byte limit (cut off as it passed" in head, head
    assert b"Content-Length checked" not in head, head


def test_schemathesis_finds_no_server_error(endpoint, tmp_path):
    cmd = [str(Path(sys.executable).with_name("schemathesis")), "run", f"{endpoint['url']}/openapi.json", "--checks", "not_a_server_error",
           "-n", "8", "-w", "1", "--generation-deterministic", "--request-timeout", "10"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=150, cwd=tmp_path, env=dict(os.environ, NO_COLOR="1"))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "passed" in done.stdout and "Tested: 11" in done.stdout, done.stdout[-2000:]


def _digit_folder(root: Path, images, labels) -> Path:
    for i, (img, label) in enumerate(zip(images, labels)):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        (root / str(label) / f"{i}.png").write_bytes(_png(img))
    return root


def test_mlaas_predict_a_folder_and_a_csv_writes_the_table_and_the_accuracy(endpoint, tmp_path):
    import pandas as pd

    images, labels = endpoint["images"][:40], endpoint["labels"][:40]
    folder = _digit_folder(tmp_path / "digits", images, labels)
    (folder / str(labels[0]) / "bad.png").write_bytes(b"not an image")
    env = _env(endpoint["root"])
    done = mlaas("predict", "mnist-cnn@champion", str(folder), "--out", str(tmp_path / "s.csv"), "--strict", env=env)
    assert done.returncode == 2 and "bad.png): cannot be decoded" in done.stderr and not (tmp_path / "s.csv").exists(), done.stderr
    done = mlaas("predict", "mnist-cnn@champion", str(folder), "--out", str(tmp_path / "r.csv"), "--batch", "16", env=env)
    assert done.returncode == 0, done.stderr
    assert f"skipped {labels[0]}/bad.png: cannot be decoded as a PNG or JPEG image" in done.stderr, done.stderr
    assert "files[" not in done.stderr, done.stderr  # the request's own field name is not the user's
    assert "40 predictions by version 1 written to" in done.stdout and "1 file(s) skipped" in done.stdout, done.stdout
    table = pd.read_csv(tmp_path / "r.csv")
    assert list(table.columns) == ["file", "class", "confidence", "set", "version", "label", "correct"] and len(table) == 40
    assert set(table["version"]) == {1} and table["confidence"].between(0, 1).all()
    accuracy = float((table["class"] == table["label"]).mean())
    assert f"accuracy {accuracy:.2%} ({int(round(accuracy * 40))} of 40 labelled items)" in done.stdout, done.stdout
    frame = pd.DataFrame(images.reshape(40, -1) * 255, columns=[f"pixel{i}" for i in range(784)]).round().astype(int)
    frame.insert(0, "label", labels)
    frame.to_csv(tmp_path / "digits.csv", index=False)
    done = mlaas("predict", f"127.0.0.1:{endpoint['port']}", str(tmp_path / "digits.csv"), "--out", str(tmp_path / "c.csv"), "--quiet", env=env)
    assert done.returncode == 0, done.stderr
    low, high = frame.iloc[:, 1:].to_numpy().min(), frame.iloc[:, 1:].to_numpy().max()
    assert f"digits.csv: pixel values range {low:g}..{high:g}: divided by 255 (the model takes intensities in 0..1)" in done.stderr
    rows = pd.read_csv(tmp_path / "c.csv")
    assert rows["class"].tolist() == table.sort_values("file", key=lambda f: f.str.extract(r"(\d+)\.png")[0].astype(int))["class"].tolist()
    assert f"accuracy {accuracy:.2%}" in done.stdout


@pytest.mark.parametrize("args, said", [
    (["mnist-cnn@champion", "no-such-folder"], "no-such-folder: no such file or folder"),
    (["nobody@champion", "."], "no endpoint is running for nobody@champion: start one with `mlaas serve nobody@champion`"),
    (["mnist-cnn@champion", "{bad_csv}"], "2 numeric pixel column(s) besides the label; the model takes 784"),
    (["mnist-cnn@champion", "{empty}"], "no PNG or JPEG images in this folder"),
    (["ftp://x", "."], "'ftp://x' is not an http:// URL of an endpoint"),
    (["bad name!", "."], "'bad name!' is neither an endpoint URL (http://HOST:PORT or HOST:PORT) nor NAME@ALIAS"),
])
def test_mlaas_predict_wrong_input_is_one_clear_line_and_exit_2(endpoint, tmp_path, args, said):
    (tmp_path / "bad.csv").write_text("label,a,b\n1,2,3\n")
    (tmp_path / "empty").mkdir()
    args = [a.format(bad_csv=tmp_path / "bad.csv", empty=tmp_path / "empty") for a in args]
    done = mlaas("predict", *args, "--out", str(tmp_path / "r.csv"), env=_env(endpoint["root"]), cwd=tmp_path)
    assert done.returncode == 2 and said in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "r.csv").exists()


class _Load:
    """Client threads calling /predict back to back, each answer recorded as (sent, answered, version or error)."""

    def __init__(self, url: str, x, threads: int = 4):
        from mlaas_kernel.serve import EndpointClient

        self.client, self.x, self.stop, self.log = EndpointClient(url, timeout=10), x, threading.Event(), []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        while not self.stop.is_set():
            sent = time.monotonic()
            try:
                version = self.client.predict_arrays(self.x)["version"]
            except Exception as exc:  # every failure is counted against the endpoint
                version = exc
            self.log.append((sent, time.monotonic(), version))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)

    def switched(self, version, after: float, timeout: float = 5.0) -> float:
        """Seconds from ``after`` to the first answer by ``version`` sent after ``after``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [done for sent, done, v in list(self.log) if v == version and sent >= after]
            if hits:
                return min(hits) - after
            time.sleep(0.02)
        raise AssertionError(f"no answer from version {version} within {timeout} s")


def test_blue_green_promote_and_rollback_under_load_switch_within_a_second_without_a_failure(endpoint, ws):
    from mlaas_kernel import registry
    from mlaas_kernel.serve import EndpointClient

    with _Load(endpoint["url"], ws["images"][:1]) as load:
        time.sleep(1.0)
        promoting = time.monotonic()
        registry.promote("mnist-cnn")  # the challenger (2) becomes champion
        promoted = time.monotonic()  # the move is committed by now (perhaps earlier: the alias is set before the history tag)
        to_new = load.switched(2, promoted)
        time.sleep(1.0)
        rolling = time.monotonic()
        registry.rollback("mnist-cnn")
        rolled = time.monotonic()
        to_old = load.switched(1, rolled)
        time.sleep(0.5)
    failures = [v for _, _, v in load.log if not isinstance(v, int)]
    assert not failures and len(load.log) > 100, (failures[:3], len(load.log))
    new_first = min(done for sent, done, v in load.log if v == 2)
    between = [v for sent, _, v in load.log if new_first + 0.05 < sent < rolling]
    assert set(between) == {2}  # once version 2 answered, only version 2 did until the rollback began
    assert not [v for sent, _, v in load.log if sent < promoting and v == 2]  # and none before the promotion
    print(f"\nblue-green under 4 client threads: {len(load.log)} requests, 0 failed; promote -> version 2 answering "
          f"{to_new * 1000:.0f} ms after promote() returned ({(promoted - promoting) * 1000:.0f} ms call), rollback -> version 1 "
          f"{to_old * 1000:.0f} ms after rollback() returned ({(rolled - rolling) * 1000:.0f} ms call)")
    assert to_new < 1.0 and to_old < 1.0, (to_new, to_old)
    meta = EndpointClient(endpoint["url"]).metadata()
    assert meta["version"] == 1 and meta["serving"]["versions_served"] == [1, 2, 1]
    assert json.loads((ws["root"] / "serving" / "endpoints" / "mnist-cnn@champion.json").read_text())["version"] == 1


@pytest.mark.browser
def test_docs_page_works_offline_and_lists_the_operations(endpoint, browser_page):
    """/docs loads Swagger UI from the endpoint itself: with every other host blocked, the operations are listed."""
    outside = []

    def only_here(route):
        if route.request.url.startswith(endpoint["url"] + "/"):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    browser_page.route("**/*", only_here)
    browser_page.goto(endpoint["url"] + "/docs")
    browser_page.get_by_text("/predict/image", exact=True).wait_for(timeout=20_000)
    for path in ("/predict", "/v2/models/{name}/infer", "/metadata"):
        assert browser_page.get_by_text(path, exact=True).count() >= 1, path
    assert not outside, outside
    status, _, _ = _request(endpoint["port"], "GET", "/redoc")
    assert status == 404  # ReDoc would need a CDN: not offered


def test_a_restart_serves_the_cached_bundle_at_once(endpoint, tmp_path):
    """Runs last: the second server rewrites the running-endpoint file, and removes it when it stops."""
    port = free_port()
    started = time.perf_counter()
    with serving(_serve_cmd(port), f"http://127.0.0.1:{port}/ready", env=_env(endpoint["root"]), cwd=tmp_path, log=tmp_path / "log"):
        ready = time.perf_counter() - started
        printed = (tmp_path / "log").read_text()
        time.sleep(1.2)  # two polls of the alias
        status, body, _ = _request(port, "GET", "/metadata")
    print(f"\nready {ready:.2f} s after the process started (from the cached bundle); it printed: {printed.strip()}")
    assert status == 200 and json.loads(body)["version"] == 1
    serving_ = json.loads(body)["serving"]  # the store unchanged since the pointer: no MLflow resolve (it slowed requests)
    assert serving_["alias_checks"] == 0 and serving_["alias_polls_unchanged"] >= 2, serving_
    assert "serving mnist-cnn version 1 at http://127.0.0.1:" in printed and "ready in" in printed
    assert ready < 5.0  # measured about 1 s on an idle 2-core machine; the bound allows for a loaded one


def test_mlaas_predict_an_embedding_endpoint_writes_the_vectors(endpoint, tmp_path):
    """An embedding model has no class: the table holds each image's vector (as /predict answers and OpenAPI documents it)."""
    import pandas as pd

    from _serve_bundle import make_embedding_bundle
    from mlaas_kernel.serve import OnnxPredictor

    bundle = make_embedding_bundle(tmp_path / "emb", dim=8)
    images, labels = endpoint["images"][:6], endpoint["labels"][:6]
    folder = _digit_folder(tmp_path / "digits", images, labels)
    port = free_port()
    env = _env(tmp_path / "ws")
    with serving([sys.executable, "-m", "mlaas_kernel", "serve", str(bundle), "--port", str(port)], f"http://127.0.0.1:{port}/ready",
                 env=env, cwd=tmp_path, log=tmp_path / "log"):
        done = mlaas("predict", f"127.0.0.1:{port}", str(folder), "--out", str(tmp_path / "e.csv"), "--quiet", env=env)
        _, schema, _ = _request(port, "GET", "/openapi.json")
    assert done.returncode == 0 and "6 embeddings by version 1 written to" in done.stdout and "accuracy" not in done.stdout, done
    table = pd.read_csv(tmp_path / "e.csv")
    assert list(table.columns) == ["file", "embedding", "version", "label"], table.columns
    got = np.array([[float(v) for v in row.split()] for row in table["embedding"]])
    from PIL import Image

    x = np.stack([np.asarray(Image.open(folder / f), dtype=np.float32)[None] / 255.0 for f in table["file"]])
    np.testing.assert_allclose(got, OnnxPredictor(bundle).run(x), rtol=1e-4, atol=1e-5)
    item = json.loads(schema)["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert "embedding" in item["properties"]["predictions"]["items"]["properties"], item


def _first_answer(port: int, x, until, timeout: float) -> tuple[dict, float]:
    """The first /predict answer ``until(answer)`` accepts within ``timeout`` s, and when it came (s after the call)."""
    started = time.monotonic()
    body = json.dumps({"instances": x.tolist()}).encode()
    while True:
        status, raw, _ = _request(port, "POST", "/predict", body)
        answer = json.loads(raw)
        if status == 200 and until(answer):
            return answer, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"no such answer within {timeout} s; the last: {status} {answer}")
        time.sleep(0.1)


def test_a_calibration_made_after_register_is_served_by_a_restart_and_by_the_running_endpoint(endpoint, ws):
    """Runs last (it calibrates version 2's run and makes 2 champion): `mlaas conformal RUN` after the version is served.

    A restart from the last-served bundle (in process, as ``mlaas serve mnist-cnn`` starts: the bare name follows
    @champion) answers with sets at once; the endpoint running all along swaps in the same version with sets."""
    from mlaas_kernel import conformal, registry
    from mlaas_kernel.serve import create_app
    from mlaas_kernel.serve._recalibrate import CALIBRATION_INTERVAL

    x = ws["images"][:1, None]
    registry.promote("mnist-cnn")  # the uncalibrated version 2 becomes champion; the endpoint follows
    answer, _ = _first_answer(endpoint["port"], x, lambda a: a["version"] == 2, 5.0)
    assert "set" not in answer["predictions"][0] and "within 10 s" in answer["notes"]["sets"], answer
    conformal.calibrate_run(ws["v2"].run_id, score="lac")
    calibrated = time.monotonic()
    restarted = create_app("mnist-cnn")  # from the pointer to bundle 2, whose serving.json has no calibration yet
    served = restarted.served
    assert served.follower is not None and served.metadata()["serving"]["follows_alias"] is True
    assert served.predictor.version == 2 and served.predictor.has_sets and "notes" not in served.metadata()
    answer, waited = _first_answer(endpoint["port"], x, lambda a: "set" in a["predictions"][0], CALIBRATION_INTERVAL + 5)
    after = time.monotonic() - calibrated
    print(f"\nthe running endpoint answered with sets {after:.1f} s after the calibration was logged")
    assert answer["version"] == 2 and "notes" not in answer and answer["significance"] > 0, answer
    log = endpoint["log"].read_text()
    assert "mnist-cnn@champion version 2 now answers with prediction sets" in log, log[-2000:]


def test_a_tabular_endpoint_takes_raw_rows_refuses_an_unknown_category_and_says_what_it_filled_in(tmp_path):
    """/predict and `mlaas predict CSV` take the raw columns (serving.json's raw_features), as the model was trained on."""
    import pandas as pd

    from _serve_bundle import make_tabular_bundle

    bundle = make_tabular_bundle(tmp_path / "lin")
    port = free_port()
    env = _env(tmp_path / "ws")

    def post(*rows):
        status, body, _ = _request(port, "POST", "/predict", json.dumps({"instances": list(rows)}).encode())
        return status, json.loads(body)

    pd.DataFrame({"G2Dmark": [100, None], "TDP": [5, 5], "brand": ["AMD", "NVIDIA"]}).to_csv(tmp_path / "raw.csv", index=False)
    pd.DataFrame({"G2Dmark": [100], "TDP": [5]}).to_csv(tmp_path / "short.csv", index=False)
    with serving([sys.executable, "-m", "mlaas_kernel", "serve", str(bundle), "--port", str(port)], f"http://127.0.0.1:{port}/ready",
                 env=env, cwd=tmp_path, log=tmp_path / "log"):
        known = post({"G2Dmark": 100, "TDP": 5, "brand": "AMD"})
        unknown = post({"G2Dmark": 100, "TDP": 5, "brand": "AMD"}, {"G2Dmark": 100, "TDP": 5, "brand": "Foo"})
        filled = post({"G2Dmark": 100, "TDP": None, "brand": "NVIDIA"}, {"G2Dmark": None, "TDP": None, "brand": None})
        done = mlaas("predict", f"127.0.0.1:{port}", str(tmp_path / "raw.csv"), "--out", str(tmp_path / "p.csv"), "--quiet", env=env)
        short = mlaas("predict", f"127.0.0.1:{port}", str(tmp_path / "short.csv"), "--out", str(tmp_path / "q.csv"), env=env)
    assert known == (200, {"model": "gpu-linear", "version": 1, "predictions": [{"prediction": 1150.0}]}), known
    assert unknown[0] == 422 and unknown[1]["error"] == ("instances[1]: brand is 'Foo', a category the model was not trained on; "
                                                         "known categories: ['AMD', 'NVIDIA']"), unknown
    assert filled[0] == 200 and [p["prediction"] for p in filled[1]["predictions"]] == [100 + 1500 + 2000, 500 + 1500], filled
    assert filled[1]["notes"] == {"imputed": "missing values: brand (row 1) taken as the category 'missing'; G2Dmark (row 1) "
                                             "filled with the training median 500; TDP (rows 0, 1) filled with the training median 150"}
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(tmp_path / "p.csv")["class"].tolist() == [1150.0, 500 + 50 + 2000]  # the empty cell: the median
    assert short.returncode == 2 and "short.csv: missing column(s) ['brand']; the model takes the columns ['G2Dmark', 'TDP', 'brand']" \
        in short.stderr, short.stderr
