"""The training monitor's Stop button in a real kernel: heard while the next cell waits (Run All)."""

from __future__ import annotations

import re
import time

import nbformat
import pytest

from conftest import REPO

pytest.importorskip("torch")


def _code_cells(notebook: str) -> list[str]:
    nb = nbformat.read(REPO / "notebooks" / notebook, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


class Kernel:
    """A real IPython kernel driven over the Jupyter protocol, as JupyterLab and Voilà drive it."""

    def __init__(self, env: dict):
        from jupyter_client.manager import start_new_kernel

        self.km, self.kc = start_new_kernel(kernel_name="python3", env=env)

    def run(self, code: str, timeout: float = 300) -> str:
        """Execute ``code`` and return its stream output; fail on an error."""
        out: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))

        reply = self.kc.execute_interactive(code, timeout=timeout, output_hook=hook)
        assert reply["content"]["status"] == "ok", "".join(out)
        return "".join(out)

    def start(self, code: str) -> str:
        """Send ``code`` without waiting; return once the kernel has begun running it."""
        msg_id = self.kc.execute(code)
        while True:
            msg = self.kc.get_iopub_msg(timeout=120)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
                return msg_id

    def finish(self, msg_id: str, timeout: float) -> str:
        """The stream output of ``msg_id`` until the kernel is idle again (fails after ``timeout`` s)."""
        out: list[str] = []
        deadline = time.monotonic() + timeout  # other cells' widget updates keep coming: one deadline for all
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"the cell was still running after {timeout} s: {''.join(out)}"
            msg = self.kc.get_iopub_msg(timeout=left)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out)

    def click(self, model_id: str) -> None:
        """What the browser sends when a person clicks an ipywidgets Button."""
        msg = self.kc.session.msg("comm_msg", {"comm_id": model_id, "data": {"method": "custom", "content": {"event": "click"}}})
        self.kc.shell_channel.send(msg)

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def test_stop_is_heard_while_the_notebooks_next_cell_waits(jupyter_env, workspace, monkeypatch):
    from mlaas_kernel import track

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    env = {**jupyter_env, "MLAAS_WORKSPACE": str(workspace)}
    env.pop("MLFLOW_TRACKING_URI", None)
    parameters, start, wait, *_later = _code_cells("04_train.ipynb")  # later cells (publish) need the run to end
    assert "epochs = " in parameters
    kernel = Kernel(env)
    try:
        kernel.run(parameters + "\nepochs = 500  # far longer than the test waits\n")
        kernel.run(start)
        model_id = kernel.run("print(monitor.stop_button.model_id)").strip()
        # Run All: the waiting cell is already running when the person clicks Stop
        msg_id = kernel.start(wait)
        kernel.click(model_id)
        out = kernel.finish(msg_id, timeout=240)  # 500 epochs would take far longer
        assert "run id: " in out and "(stopped)" in out, out
        after = kernel.run("print(monitor.status.value)")  # the cells after it run
        assert re.search(r"stopped by you (during epoch 1 of 500 \(step \d+ of \d+\)|after epoch 1 of 500)", after), after
    finally:
        kernel.close()
    [run] = track.runs()
    assert run.info.status == "KILLED" and run.data.tags["mlaas.stopped"] == "by user, after epoch 1"


def test_wait_in_a_kernel_cell_warns_that_it_blocks_stop(jupyter_env, workspace):
    kernel = Kernel({**jupyter_env, "MLAAS_WORKSPACE": str(workspace)})
    try:
        out = kernel.run("import warnings\nfrom mlaas_widgets import TrainingMonitor\nm = TrainingMonitor().run(lambda: 1)\n"
                         "with warnings.catch_warnings(record=True) as w:\n    warnings.simplefilter('always')\n"
                         "    print(m.wait(), [str(x.message) for x in w])")
        assert out.startswith("1 ") and "use `await monitor.finished()`" in out
    finally:
        kernel.close()
