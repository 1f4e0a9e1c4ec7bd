"""The mlaas command, run as a user runs it: a real process."""

import os
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from mlaas_kernel import compute
from mlaas_kernel import cli
from mlaas_kernel.cli import parse_value

from _cli import mlaas


def test_every_command_has_help():
    out = mlaas("--help")
    assert out.returncode == 0
    commands = ["doctor", "lab", "ingest", "datasets", "run", "dashboard", "labels", "train", "tune", "evaluate", "conformal", "models", "serve", "predict", "tensorboard", "mlflow", "pipeline", "tracking-server"]
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
    assert "without encryption" not in out.stderr, out.stderr  # the kernel's start-up warning is not the notebook's output
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


def test_run_passes_paths_relative_to_the_caller(env, tmp_path):
    notebooks, caller = tmp_path / "notebooks", tmp_path / "caller"
    notebooks.mkdir()
    (caller / "data" / "imgs").mkdir(parents=True)
    (caller / "data" / "rel.csv").write_text("a,b\n1,2\n")
    write_notebook(notebooks / "read.ipynb", "source = 'x'\nfolder = 'y'\nname = 'z'\nout = 'w'",
                   "import os\nprint('content', open(source).read().splitlines()[1], os.path.isdir(folder), name)\nos.makedirs(out)")
    out = mlaas("run", "../notebooks/read.ipynb", "-p", "source", "data/rel.csv", "-p", "folder", "data/imgs",
                "-p", "name", "mnist", "-p", "out", "./results/new", "-o", "out.ipynb", "-q", env=env, cwd=caller)
    assert out.returncode == 0, out.stderr
    text = nbformat.read(caller / "out.ipynb", as_version=4).cells[-1].outputs[0]["text"]
    assert text.strip() == "content 1,2 True mnist"  # a name that is no path here passes as typed
    assert f"parameter source: data/rel.csv is a path from here: passing {caller / 'data' / 'rel.csv'}" in out.stderr
    assert "parameter name" not in out.stderr
    assert (caller / "results" / "new").is_dir() and not (notebooks / "results").exists()  # ./ is where the user stands


RECORD = "from mlaas_kernel import _runrecord\n_runrecord.record('{run_id}', status='{status}', metrics={metrics}, experiment='digits')"


def test_run_prints_a_summary_with_the_notebooks_runs(env, workspace, tmp_path):
    nb = tmp_path / "tracked.ipynb"
    write_notebook(nb, "lr = 0.1", RECORD.format(run_id="a1b2c3", status="FINISHED", metrics={"loss": 0.31, "val_accuracy": 0.98123}),
                   RECORD.format(run_id="d4e5f6", status="FINISHED", metrics={"rmse": 2.5}))
    out = mlaas("run", str(nb), "-q", env=env)
    assert out.returncode == 0, out.stderr
    [saved] = list((workspace / "runs").glob("tracked-*.ipynb"))
    lines = out.stdout.splitlines()
    assert lines[lines.index("summary:") + 1] == f"  output notebook  {saved}"
    assert "  MLflow run       a1b2c3 (FINISHED, experiment digits): val_accuracy 0.9812" in lines
    assert "  MLflow run       d4e5f6 (FINISHED, experiment digits): rmse 2.5" in lines
    assert any(line.startswith("  wall time        ") and line.endswith(" s") for line in lines)
    untracked = tmp_path / "plain.ipynb"
    write_notebook(untracked, "x = 1", "print(x)")
    assert "  MLflow runs      none recorded by this notebook" in mlaas("run", str(untracked), "-q", env=env).stdout


def test_a_failing_run_still_prints_what_completed(env, workspace, tmp_path):
    nb = tmp_path / "half.ipynb"
    write_notebook(nb, "n = 1", RECORD.format(run_id="ok123", status="FINISHED", metrics={"accuracy": 0.5}), "raise RuntimeError('second model diverged')")
    out = mlaas("run", str(nb), "-q", env=env)
    assert out.returncode == 1
    assert "RuntimeError: second model diverged" in out.stderr and "raise RuntimeError('second model diverged')" in out.stderr
    assert "  MLflow run       ok123 (FINISHED, experiment digits): accuracy 0.5" in out.stdout
    assert "  status           failed in cell 3: RuntimeError" in out.stdout and "(partly executed)" in out.stdout


def test_ingest_flags_and_one_line_errors(env, tmp_path):
    (tmp_path / "preise.csv").write_bytes("Name;Preis\nMüller;1,5\nWeiß;2,25\n".encode("latin-1"))
    out = mlaas("ingest", str(tmp_path / "preise.csv"), "-q", env=env)
    assert out.returncode == 0, out.stderr
    assert "Preis (float64)" in out.stdout and "read preise.csv as cp1252, separator ';', decimal ','" in out.stdout
    given = mlaas("ingest", str(tmp_path / "preise.csv"), "--name", "p2", "--sep", "semicolon", "--decimal", ".", "--encoding", "latin-1", "-q", env=env)
    assert given.returncode == 0 and "Preis (str)" in given.stdout and "separator ';' (given)" in given.stdout
    pets = tmp_path / "pets" / "cat"
    pets.mkdir(parents=True)
    from PIL import Image

    Image.new("L", (4, 4)).save(pets / "0.png")
    (pets / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    strict = mlaas("ingest", str(tmp_path / "pets"), "--strict", "-q", env=env)
    assert strict.returncode == 1 and len(strict.stderr.strip().splitlines()) == 1
    assert "pets: 1 file(s) cannot be ingested (strict): cat/broken.png: not a readable image" in strict.stderr
    lenient = mlaas("ingest", str(tmp_path / "pets"), "-q", env=env)
    assert lenient.returncode == 0 and "skipped 1 file(s)" in lenient.stdout and "cat/broken.png" in lenient.stdout
    (tmp_path / "x-images-idx3-ubyte").write_bytes(b"GIF89a" + bytes(20))
    (tmp_path / "x-labels-idx1-ubyte").write_bytes(bytes(8))
    magic = mlaas("ingest", str(tmp_path / "x-images-idx3-ubyte"), env=env)
    assert magic.returncode == 1 and len(magic.stderr.strip().splitlines()) == 1
    assert "x-images-idx3-ubyte: bad magic number 0x47494638 (not an IDX file)" in magic.stderr
    help_text = mlaas("ingest", "--help").stdout
    for flag in ("--strict", "--crop-roi", "--encoding", "--sep", "--decimal", ".csv.gz", ".xlsx", ".jsonl", "GT-*.csv", "idx3-ubyte"):
        assert flag in help_text


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


def test_a_training_notebook_is_served_live_not_preheated():
    """04_train has a Stop button: in Voilà its kernel must run while the page is open, not before."""
    from conftest import REPO

    live = cli.dashboard_command(REPO / "notebooks" / "04_train.ipynb", 9999, open_browser=False)
    assert "--preheat_kernel=False" in live and "--progressive_rendering=True" in live and "--preheat_kernel=True" not in live
    other = cli.dashboard_command(REPO / "notebooks" / "dashboards" / "label_app.ipynb", 9999, open_browser=False)
    assert "--preheat_kernel=True" in other and "--progressive_rendering=True" not in other
