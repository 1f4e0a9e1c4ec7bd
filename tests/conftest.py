"""Shared fixtures: an isolated workspace and Jupyter state, a loopback file server, free ports."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(autouse=True)
def _environment_restored():
    """Each test ends with the process environment it began with. Library code sets variables for the process
    (``track.use_step_server`` sets MLFLOW_TRACKING_URI, as a step notebook's kernel needs); a test that calls it
    must not hand that setting to every ``mlaas`` process the tests after it start."""
    before = dict(os.environ)
    yield
    if dict(os.environ) != before:
        os.environ.clear()
        os.environ.update(before)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A fresh workspace folder, exported as MLAAS_WORKSPACE."""
    root = tmp_path / "workspace"
    monkeypatch.setenv("MLAAS_WORKSPACE", str(root))
    monkeypatch.setenv("MLAAS_OFFLINE", "1")  # no test reaches the internet
    return root


@pytest.fixture
def env(jupyter_env, workspace):
    """The environment for an ``mlaas`` process on the test's workspace (tests/_cli.py)."""
    jupyter_env["MLAAS_WORKSPACE"] = str(workspace)
    return jupyter_env


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory):
    """A workspace made once per session, for modules to copy (``_workspace.module_workspace(copy_of=...)``), never
    to write to: MNIST and the GPU table ingested, one 1-epoch CNN (batch 256, seed 0, on the CPU) tracked in the
    ``mlaas`` experiment. ``{"root", "cnn", "model_file"}``: ``cnn`` is train_dataset's result, ``model_file`` its
    model file relative to the root (a copy has it at the same place). Nothing calibrated or registered."""
    from _workspace import module_workspace

    from mlaas_kernel import data
    from mlaas_kernel.train import train_dataset

    with module_workspace(tmp_path_factory, "trained") as root:
        for name in ("mnist", "gpu-benchmarks"):
            data.ingest(name, progress=False)
        cnn = train_dataset("mnist", epochs=1, batch_size=256, device="cpu", random_state=0)
    return {"root": root, "cnn": cnn, "model_file": cnn.model_path.relative_to(root)}


@pytest.fixture(scope="session")
def registered_workspace(trained_workspace, tmp_path_factory):
    """A copy of ``trained_workspace`` whose CNN is calibrated for LAC sets (significance 0.05) and registered as
    ``mnist-cnn`` version 1 (champion, parity on 200 items), made once per session to be copied, never written to.
    ``{"root", "cnn", "model_file", "v1"}``: ``v1`` is the registry's Version."""
    from _workspace import module_workspace

    from mlaas_kernel import conformal, registry

    with module_workspace(tmp_path_factory, "registered", copy_of=trained_workspace["root"]) as root:
        run_id = trained_workspace["cnn"].run_id
        conformal.calibrate_run(run_id, score="lac")
        v1 = registry.register(run_id, "mnist-cnn", check_n=200)
    return {**trained_workspace, "root": root, "v1": v1}


@pytest.fixture
def compute_state(monkeypatch):
    """The compute layer with a fresh device decision and an empty fallback log."""
    from mlaas_kernel import compute

    for var in ("MLAAS_DEVICE", "MLAAS_STRICT_GPU"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(compute, "_detected", None)
    monkeypatch.setattr(compute, "LOG", compute.FallbackLog())
    yield compute
    compute._detected = None


@pytest.fixture
def jupyter_env(tmp_path):
    """Environment for Jupyter processes whose state stays out of the home folder."""
    env = dict(os.environ)
    for var, sub in [("JUPYTER_CONFIG_DIR", "jconfig"), ("JUPYTER_DATA_DIR", "jdata"), ("JUPYTER_RUNTIME_DIR", "jruntime"), ("IPYTHONDIR", "ipython")]:
        (tmp_path / sub).mkdir()
        env[var] = str(tmp_path / sub)
    env["MLAAS_OFFLINE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def port():
    return free_port()


class FileServer:
    """A loopback HTTP server for byte strings, with Range requests and injectable faults.

    ``files`` maps URL paths to bytes; ``die_after[path] = (n, times)`` makes the next ``times``
    responses for ``path`` send ``n`` bytes of the body and then drop the connection.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.die_after: dict[str, tuple[int, int]] = {}
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                part = body[start:]
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                n, times = server.die_after.get(self.path, (None, 0))
                if times:
                    server.die_after[self.path] = (n, times - 1)
                    self.wfile.write(part[:n])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(part)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def file_server():
    server = FileServer()
    yield server
    server.stop()


@pytest.fixture
def browser_page(tmp_path, request):
    """A Chromium page (fresh profile) that fails the test on any console error or page exception.

    ``page.console_errors`` lists them; a test that provokes an error on purpose clears it.
    """
    from playwright.sync_api import sync_playwright

    from _browser import CHROMIUM, CHROMIUM_ARGS, ConsoleErrors, require_chromium

    require_chromium()
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
            headless=True, viewport={"width": 1400, "height": 1000},
        )
        page = context.new_page()
        errors = ConsoleErrors()
        errors.attach(page)
        page.console_errors = errors
        # Voilà answers a page once its notebook has run; on a busy 2-core machine that can take
        # longer than Playwright's 30 s default when the preheated kernel is not ready yet.
        page.set_default_navigation_timeout(180_000)
        try:
            yield page
        finally:
            context.close()
        failed = request.node.stash.get(_FAILED, False)
        if errors and not failed:
            pytest.fail("the browser logged errors:\n" + "\n".join(errors), pytrace=False)


@pytest.fixture
def project_copy(tmp_path):
    """The notebooks in a scratch folder, so a browser session never writes to the repository's."""
    root = tmp_path / "project"
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    return root


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture
def artifacts(request):
    """A folder kept after the run for screenshots and output notebooks (test-artifacts/)."""
    path = ARTIFACTS / request.node.name.replace("/", "_")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
