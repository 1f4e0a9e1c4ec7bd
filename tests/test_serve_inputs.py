"""What the endpoint accepts, without a model: batches checked by shape, dtype and finiteness, uploaded
images framed like MNIST, references and running-endpoint files, the body limit on a bare ASGI app."""

from __future__ import annotations

import asyncio
import io
import json
import os

import numpy as np
import pytest

from mlaas_kernel.serve import ServeInputError, check_batch
from mlaas_kernel.serve._image import prepare_image


@pytest.mark.parametrize("shape_in", [(3, 1, 28, 28), (3, 28, 28), (3, 784)])
def test_check_batch_takes_the_usual_image_layouts(shape_in):
    x = check_batch(np.zeros(shape_in, dtype=np.float64), (1, 28, 28))
    assert x.shape == (3, 1, 28, 28) and x.dtype == np.float32 and x.flags.c_contiguous


@pytest.mark.parametrize("value, message", [
    ([[1.0, 2.0], [3.0]], "instances: not a rectangular array"),
    ([[[["a"] * 28] * 28]], "instances: holds text; expected numbers"),
    ([[1.0, 2.0, 3.0]], r"instances: shape \[1, 3\] does not fit the model; expected \[N, 1, 28, 28\]"),
    ([], r"instances: empty or not a list"),
    (np.full((2, 1, 28, 28), np.inf), r"instances: 2 of 2 item\(s\) hold NaN or infinite values"),
    ([[[None] * 28] * 28], "instances: holds values of mixed or non-numeric types"),
])
def test_check_batch_names_the_field_and_what_is_wrong(value, message):
    with pytest.raises(ServeInputError, match=message) as info:
        check_batch(value, (1, 28, 28))
    assert info.value.status == 422


def _png(array, mode=None) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, "PNG")
    return buf.getvalue()


def _digit() -> np.ndarray:
    """A white stroke (a '1') on black, 28x28, centred like MNIST."""
    a = np.zeros((28, 28), dtype=np.uint8)
    a[5:23, 13:16] = 255
    return a


def test_prepare_image_keeps_a_model_sized_mnist_image_as_it_is():
    a = _digit()
    x = prepare_image(_png(a), (1, 28, 28))
    assert x.shape == (1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], a / 255.0)


def test_prepare_image_inverts_dark_on_light_and_frames_larger_images_like_mnist():
    from PIL import Image

    big = np.full((280, 200), 255, dtype=np.uint8)  # a black stroke on white, off centre
    big[20:120, 20:40] = 0
    buf = io.BytesIO()
    Image.fromarray(big).convert("RGB").save(buf, "JPEG")
    x = prepare_image(buf.getvalue(), (1, 28, 28))[0]
    ys, xs = np.nonzero(x > 0.5)
    assert x[0].max() < 0.1 and x[:, 0].max() < 0.1  # the background came out black
    assert ys.max() - ys.min() + 1 in (19, 20, 21)  # the ink's box scaled to 20 of 28 pixels
    assert abs(ys.mean() - 14) < 1.5 and abs(xs.mean() - 14) < 1.5  # centred by mass


def test_prepare_image_reads_a_transparent_canvas_drawing_from_its_alpha():
    rgba = np.zeros((56, 56, 4), dtype=np.uint8)
    rgba[10:46, 26:30] = (0, 0, 255, 255)  # blue ink, transparent background
    x = prepare_image(_png(rgba, "RGBA"), (1, 28, 28))[0]
    assert x.max() > 0.9 and x[0].max() == 0 and (x > 0.5).sum() > 20


@pytest.mark.parametrize("data, message", [
    (b"", "upload.png: the file is empty"),
    (b"\x89PNG\r\n\x1a\nnot really", "upload.png: cannot be decoded as a PNG or JPEG image"),
    (b"GIF89a" + bytes(30), "upload.png: cannot be decoded|upload.png: a GIF image; expected PNG or JPEG"),
])
def test_prepare_image_refuses_what_is_not_a_png_or_jpeg(data, message):
    with pytest.raises(ServeInputError, match=message) as info:
        prepare_image(data, (1, 28, 28), name="upload.png")
    assert info.value.status == 422


def test_prepare_image_refuses_a_decompression_bomb_before_decoding():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (6000, 6000)).save(buf, "PNG")  # 36 M pixels in a few kB
    assert len(buf.getvalue()) < 100_000
    with pytest.raises(ServeInputError, match="6000x6000 pixels is over the 25,000,000-pixel limit"):
        prepare_image(buf.getvalue(), (1, 28, 28))


def test_references_and_running_endpoint_files(workspace):
    from mlaas_kernel.serve._endpoints import endpoint_file, find_endpoint, remove_endpoint, split_ref, write_endpoint

    assert split_ref("mnist-cnn") == ("mnist-cnn", "champion", None)
    assert split_ref("mnist-cnn/3") == ("mnist-cnn", None, 3)
    with pytest.raises(ValueError, match="mnist-cnn@"):
        split_ref("mnist-cnn@")
    path = write_endpoint("mnist-cnn@champion", url="http://127.0.0.1:1", version=2)
    assert path == workspace / "serving" / "endpoints" / "mnist-cnn@champion.json"
    assert find_endpoint("mnist-cnn") == {"ref": "mnist-cnn@champion", "url": "http://127.0.0.1:1", "pid": os.getpid(), "version": 2}
    remove_endpoint("mnist-cnn@champion", pid=os.getpid() + 1)  # not the writer's: kept
    assert path.exists()
    remove_endpoint("mnist-cnn@champion")
    assert not path.exists()
    path.write_text(json.dumps({"url": "http://127.0.0.1:1", "pid": 2 ** 22 + 12345, "version": 1}))  # a process that is gone
    assert find_endpoint("mnist-cnn@champion") is None and not endpoint_file("mnist-cnn@champion").exists()


def _call(app, headers, chunks):
    """Run one request through an ASGI app; the messages it sent and how many body chunks it read."""
    sent, read = [], []

    async def receive():
        i = len(read)
        read.append(i)
        if i >= len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[i], "more_body": i < len(chunks) - 1}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers, "query_string": b""}
    asyncio.run(app(scope, receive, send))
    return sent, len(read)


async def _reader(scope, receive, send):
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def test_body_limit_answers_413_from_content_length_without_reading():
    from mlaas_kernel.serve._limits import BodyLimit

    app = BodyLimit(_reader, max_body=1000)
    sent, read = _call(app, [(b"content-length", b"50000000")], [b"x" * 1000] * 3)
    assert read == 0 and sent[0]["status"] == 413 and (b"connection", b"close") in sent[0]["headers"]
    assert "Content-Length 50,000,000 is over the 1,000-byte limit" in json.loads(sent[1]["body"])["error"]
    sent, read = _call(app, [(b"content-length", b"ten")], [b""])
    assert sent[0]["status"] == 400 and read == 0
    sent, _ = _call(app, [(b"content-length", b"900")], [b"x" * 900])
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"900"


def test_body_limit_cuts_off_a_streamed_body_when_it_passes_the_limit():
    from mlaas_kernel.serve._limits import BodyLimit

    app = BodyLimit(_reader, max_body=1000)
    sent, read = _call(app, [], [b"x" * 400] * 10)
    assert read == 3 and sent[0]["status"] == 413  # the third chunk passed 1,000 bytes: nothing more was read
    assert "the streamed body is over the 1,000-byte limit" in json.loads(sent[1]["body"])["error"]
    sent, read = _call(app, [], [b"x" * 400, b"x" * 400])
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"800"


def test_mlaas_serve_wrong_input_is_one_clear_line_and_exit_2(env):
    import socket

    from _cli import mlaas

    done = mlaas("serve", "mnist cnn@champion", env=env)
    assert done.returncode == 2 and "is not a model name" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = mlaas("serve", "mnist-cnn@champion", "--port", str(port), env=env)
    assert done.returncode == 2 and f"port {port} is in use: choose another with --port" in done.stderr, done.stderr
