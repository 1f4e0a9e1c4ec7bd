"""The mlaas command, run as a user runs it: a real process."""

import os
import re
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from mlaas_kernel import compute
from mlaas_kernel import cli
from mlaas_kernel.cli import parse_value


def mlaas(*args, env=None, cwd=None, timeout=180):
    return subprocess.run([sys.executable, "-m", "mlaas_kernel", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


@pytest.fixture
def env(jupyter_env, workspace):
    jupyter_env["MLAAS_WORKSPACE"] = str(workspace)
    return jupyter_env


def test_every_command_has_help():
    out = mlaas("--help")
    assert out.returncode == 0
    commands = ["doctor", "lab", "ingest", "datasets", "run", "dashboard", "labels", "train", "tensorboard", "mlflow"]
    for command in commands:
        assert command in out.stdout
        sub = mlaas(command, "--help")
        assert sub.returncode == 0 and "usage: mlaas " + command in sub.stdout
    assert "-p NAME VALUE" in mlaas("run", "--help").stdout
    listed = set(re.findall(r"^    (\w[\w-]*)\s", out.stdout.split("COMMAND", 2)[-1], re.M))
    assert listed == set(commands), f"commands without a test of their --help: {listed - set(commands)}"


@pytest.mark.skipif(compute.detect(refresh=True).is_gpu, reason="reports a machine without a GPU")
def test_doctor_reports_the_cpu_with_its_reasons(env, workspace):
    out = mlaas("doctor", env=env)
    assert out.returncode == 0, out.stderr
    assert "device      CPU: no usable NVIDIA GPU" in out.stdout
    assert "dataframes  pandas" in out.stdout and "CPU fallback" in out.stdout
    assert f"workspace   {workspace}" in out.stdout
    env["MLAAS_DEVICE"] = "gpu"
    bad = mlaas("doctor", env=env)
    assert bad.returncode == 1 and "MLAAS_DEVICE=gpu, but no usable NVIDIA GPU" in bad.stdout


def test_ingest_and_datasets(env, tmp_path):
    empty = mlaas("datasets", env=env)
    assert "no datasets in" in empty.stdout
    out = mlaas("ingest", "gpu-benchmarks", "-q", env=env)
    assert out.returncode == 0, out.stderr
    assert "dataset 'gpu-benchmarks': table, 2,317 rows" in out.stdout
    assert "category:combined" in out.stdout
    again = mlaas("ingest", "gpu-benchmarks", env=env)
    assert "already ingested: nothing to do" in again.stdout
    listing = mlaas("datasets", env=env)
    assert "gpu-benchmarks  table      2,317" in listing.stdout
    (tmp_path / "empty.csv").write_text("")
    bad = mlaas("ingest", str(tmp_path / "empty.csv"), env=env)
    assert bad.returncode == 1 and "empty.csv: the file is empty" in bad.stderr
    size = mlaas("ingest", str(tmp_path), "--image-size", "28", env=env)
    assert size.returncode == 1 and "expected WIDTHxHEIGHT" in size.stderr


def write_notebook(path, *cells):
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [new_code_cell(src) for src in cells]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, path)


def test_run_saves_a_timestamped_output_in_the_workspace(env, workspace, tmp_path):
    nb = tmp_path / "square.ipynb"
    write_notebook(nb, "x = 2\nname = 'a'", "print('result', x * x, name)")
    out = mlaas("run", str(nb), "-p", "x", "7", "-p", "name", "seven", "-q", env=env)
    assert out.returncode == 0, out.stderr
    [saved] = list((workspace / "runs").glob("square-*.ipynb"))
    assert str(saved) in out.stdout
    result = nbformat.read(saved, as_version=4)
    assert "result 49 seven" in result.cells[-1].outputs[0]["text"]


def test_run_prints_the_failing_cell_and_exits_non_zero(env, workspace, tmp_path):
    nb = tmp_path / "fails.ipynb"
    write_notebook(nb, "n = 1", "ok = n + 1", "raise ValueError(f'bad input n={n}')")
    out = mlaas("run", str(nb), "-p", "n", "5", "-q", env=env)
    assert out.returncode == 1
    assert "fails.ipynb failed in cell" in out.stderr
    assert "ValueError: bad input n=5" in out.stderr
    assert "raise ValueError(f'bad input n={n}')" in out.stderr  # the cell's source
    assert "Traceback" in out.stderr or "----> " in out.stderr
    assert "\x1b[" not in out.stderr
    assert len(list((workspace / "runs").glob("fails-*.ipynb"))) == 1


def test_dashboard_and_lab_refuse_what_they_cannot_serve(env, tmp_path):
    out = mlaas("dashboard", "nosuch", env=env, cwd=tmp_path)
    assert out.returncode == 2 and "no dashboard 'nosuch'" in out.stderr
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        out = mlaas("lab", "--port", str(busy), "--no-browser", env=env)
    assert out.returncode == 2 and f"port {busy} on 127.0.0.1 is in use" in out.stderr
    env["JUPYTER_TOKEN"] = ""
    out = mlaas("lab", "--no-browser", env=env)
    assert out.returncode == 2 and "without a token" in out.stderr


@pytest.mark.parametrize("text, value", [("3", 3), ("0.5", 0.5), ("true", True), ("None", None), ("[1, 2]", [1, 2]), ("mnist", "mnist"), ("'q'", "q")])
def test_parameter_values(text, value):
    assert parse_value(text) == value


def test_lab_command_line(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notebooks").mkdir()
    cmd = cli.lab_command(8890, open_browser=False)
    assert "--ServerApp.ip=127.0.0.1" in cmd and "--ServerApp.port=8890" in cmd and "--ServerApp.port_retries=0" in cmd
    assert "--LabApp.default_url=/lab/tree/notebooks" in cmd
    assert ("--allow-root" in cmd) == (os.geteuid() == 0)
    assert not any("token" in part.lower() for part in cmd)  # the server's own token stays on


def test_extra_server_arguments_pass_through(monkeypatch):
    seen = {}
    monkeypatch.setattr(cli.lab, "cmd_dashboard", lambda args: seen.update(vars(args)) or 0)
    assert cli.main(["dashboard", "nb.ipynb", "--port", "9999", "--", "--theme=dark"]) == 0
    assert seen["port"] == 9999 and seen["voila_args"] == ["--theme=dark"] and seen["notebook"] == "nb.ipynb"
    cmd = cli.dashboard_command(__import__("pathlib").Path("nb.ipynb"), 9999, open_browser=False, extra=["--theme=dark"])
    assert cmd[-1] == "--theme=dark" and "--Voila.ip=127.0.0.1" in cmd and "--preheat_kernel=True" in cmd


# `mlaas labels` is tested in test_labels_cli.py (it needs an ingested dataset).
