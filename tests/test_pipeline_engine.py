"""The notebook pipeline engine: specs and their errors, parallel steps, the cache, failures, resume,
interrupts and MLflow, run for real (papermill kernels on tiny notebooks in tests/data/pipelines)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mlaas_kernel.pipelines import PipelineError, load_pipeline, publish, run_pipeline
from mlaas_kernel.pipelines._params import apply_overrides, check_notebooks, parse_value
from mlaas_kernel.pipelines._refs import resolve
from mlaas_kernel.pipelines._warnings import notebook_warnings

from _cli import mlaas

DATA = Path(__file__).parent / "data" / "pipelines"


@pytest.fixture
def project(tmp_path, monkeypatch, workspace):
    """A copy of tests/data/pipelines (specs in pipelines/, notebooks in notebooks/) as MLAAS_PIPELINES."""
    root = tmp_path / "project"
    shutil.copytree(DATA, root)
    monkeypatch.setenv("MLAAS_PIPELINES", str(root / "pipelines"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return root


def write_spec(project: Path, name: str, text: str) -> Path:
    path = project / "pipelines" / f"{name}.yaml"
    path.write_text(text)
    return path


def run_json(workspace: Path, record: dict) -> Path:
    return workspace / "pipelines" / record["pipeline"] / record["run"]


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def stream_text(notebook: Path) -> str:
    nb = json.loads(notebook.read_text())
    return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "stream")


BAD_SPECS = [
    ("steps:\n  a: {notebook: notebooks/step.ipynb}\n  b: {notebook: notebooks/step.ipynb, needs: [nope]}\n",
     "step 'b': needs 'nope', which is not a step; steps: a, b"),
    ("steps:\n  a: {notebook: notebooks/step.ipynb, needs: [c]}\n  b: {notebook: notebooks/step.ipynb, needs: [a]}\n"
     "  c: {notebook: notebooks/step.ipynb, needs: [b]}\n", "steps form a cycle: a -> c -> b -> a"),
    ("steps:\n  a: {notebook: notebooks/none.ipynb}\n", "step 'a': notebook notebooks/none.ipynb not found"),
    ("steps:\n  a: {notebook: notebooks/step.ipynb, parameters: {value: '${param.x}'}}\n", "step 'a': unknown reference ${param.x}"),
    ("parameters: {n: 1}\nsteps:\n  a: {notebook: notebooks/step.ipynb, parameters: {value: '${params.m}'}}\n",
     "${params.m} names no pipeline parameter; declared: n"),
    ("steps:\n  a: {notebook: notebooks/step.ipynb, parameters: {value: '${steps.z.outputs.v}'}}\n", "names no step; steps: a"),
    ("steps:\n  a: {notebook: notebooks/step.ipynb, need: [b]}\n", "step 'a': unknown key 'need'; known keys: notebook, needs"),
    ("steps:\n  a: {notebook: notebooks/step.ipynb, always: yes please}\n", "step 'a': always must be true or false (got 'yes please')"),
    ("parameters: {n: 1}\nlimits: {m: {min: 1}}\nsteps:\n  a: {notebook: notebooks/step.ipynb}\n",
     "limits of 'm': no such parameter; declared: n"),
    ("parameters: {n: 0}\nlimits: {n: {min: 1}}\nsteps:\n  a: {notebook: notebooks/step.ipynb}\n",
     "limits of 'n': the default breaks them: parameter 'n' must be at least 1 (got 0)"),
    ("parameters: {n: 1}\nlimits: {n: {least: 1}}\nsteps:\n  a: {notebook: notebooks/step.ipynb}\n",
     "limits of 'n': must be a mapping with min and/or max"),
    ("parameters: {name: a}\nlimits: {name: {min: 1}}\nsteps:\n  a: {notebook: notebooks/step.ipynb}\n",
     "limits of 'name': its default 'a' is not a number"),
]


@pytest.mark.parametrize("body, message", BAD_SPECS, ids=["unknown-need", "cycle", "missing-notebook", "bad-reference",
                                                          "unknown-parameter", "unknown-step-output", "unknown-key", "not-a-flag",
                                                          "limit-of-no-parameter", "default-out-of-limits", "bad-limit",
                                                          "limit-on-text"])
def test_a_bad_spec_names_its_file_step_and_problem(project, body, message):
    path = write_spec(project, "bad", "name: bad\n" + body)
    with pytest.raises(PipelineError) as err:
        load_pipeline("bad")
    assert str(path) in str(err.value) and message in str(err.value)


def test_name_parameters_and_references(project):
    write_spec(project, "other", "name: renamed\nsteps:\n  a: {notebook: notebooks/step.ipynb}\n")
    with pytest.raises(PipelineError, match="name must equal the file name's stem 'other'"):
        load_pipeline("other")
    with pytest.raises(PipelineError, match="no pipeline 'nope' in .*; pipelines: branches, fan, other, slow"):
        load_pipeline("nope")
    write_spec(project, "typo", "name: typo\nsteps:\n  a: {notebook: notebooks/step.ipynb, parameters: {secs: 1}}\n")
    with pytest.raises(PipelineError, match=r"step 'a': notebook notebooks/step.ipynb has no parameter 'secs'; its parameters: seconds, fail, value, label, warn"):
        check_notebooks(load_pipeline("typo"))
    fan = load_pipeline("fan")
    assert fan.deps["c"] == {"a", "b"}  # references make dependencies without needs
    assert load_pipeline("slow").parameters == {"seconds": 60}  # TOML reads the same
    assert apply_overrides(fan, fan.parameters, [("seconds", "3"), ("a_value", "-4")]) == {"seconds": 3, "a_value": -4}
    write_spec(project, "bounded", "name: bounded\nparameters: {n: 2, p: 0.5}\nlimits: {n: {min: 1}, p: {min: 0.1, max: 0.9}}\n"
               "steps:\n  a: {notebook: notebooks/step.ipynb, parameters: {value: '${params.n}'}}\n")
    bounded = load_pipeline("bounded")
    assert apply_overrides(bounded, bounded.parameters, [("n", "1"), ("p", "0.9")]) == {"n": 1, "p": 0.9}  # the bounds themselves
    with pytest.raises(PipelineError, match=r"parameter 'n' must be at least 1 \(got 0\): the pipeline's limits \(nothing has run\)"):
        apply_overrides(bounded, bounded.parameters, [("n", "0")])
    with pytest.raises(PipelineError, match=r"parameter 'p' must be at most 0.9 \(got 1.5\)"):
        apply_overrides(bounded, bounded.parameters, [("p", "1.5")])
    assert parse_value("mnist") == "mnist" and parse_value("true") is True and parse_value("null") is None
    with pytest.raises(PipelineError, match=r"has no parameter 'epochs'; its parameters: seconds \(default 2\), a_value \(default 1\)"):
        apply_overrides(fan, fan.parameters, [("epochs", "2")])
    with pytest.raises(PipelineError, match=r"parameter 'seconds' takes an int \(a whole number\) like its default 2, not 'soon'"):
        apply_overrides(fan, fan.parameters, [("seconds", "soon")])
    with pytest.raises(PipelineError, match=r"parameter 'seconds' takes an int \(a whole number\) like its default 2, not 1.5"):
        apply_overrides(fan, fan.parameters, [("seconds", "1.5")])  # not left for torch to refuse a minute later
    whole = apply_overrides(fan, fan.parameters, [("seconds", "3.0")])
    assert whole["seconds"] == 3 and type(whole["seconds"]) is int  # a whole float is that int
    outputs = {"a": {"value": 3, "items": [1, 2]}}
    assert resolve({"x": "${steps.a.outputs.value}", "y": "n=${steps.a.outputs.value}", "z": "${steps.a.outputs.items}"},
                   {}, outputs) == {"x": 3, "y": "n=3", "z": [1, 2]}
    with pytest.raises(ValueError, match=r"step 'a' did not publish 'nope'; it published: items, value"):
        resolve("${steps.a.outputs.nope}", {}, outputs)


def test_cli_parameter_errors_and_list(project, env):
    env["MLAAS_PIPELINES"] = str(project / "pipelines")
    bad = mlaas("pipeline", "run", "fan", "-p", "epochs", "2", env=env, cwd=project)
    assert bad.returncode == 2 and "no parameter 'epochs'; its parameters: seconds (default 2), a_value (default 1)" in bad.stderr
    write_spec(project, "broken", "name: broken\n")
    listing = mlaas("pipeline", "list", env=env, cwd=project)
    assert listing.returncode == 1 and "broken: INVALID: " in listing.stdout and "steps must be a non-empty mapping" in listing.stdout
    assert "branches: A chain whose middle step fails" in listing.stdout
    assert "steps       [first, tracked] -> middle -> last" in listing.stdout and "missing:    a GPU step: not built yet" in listing.stdout
    assert "parameters  seconds=2, a_value=1" in listing.stdout
    assert "steps       [a, b] -> c" in listing.stdout  # the two independent steps, shown as running at once
    write_spec(project, "needy", "name: needy\nsteps:\n  a: {notebook: notebooks/step.ipynb, requires: [no_such_module_here]}\n")
    needy = mlaas("pipeline", "list", env=env, cwd=project).stdout
    assert "not here:   step a needs the Python module 'no_such_module_here', which is not installed here" in needy
    unknown = mlaas("pipeline", "status", "nosuch", env=env, cwd=project)
    assert unknown.returncode == 2 and "no pipeline 'nosuch'" in unknown.stderr and "fan" in unknown.stderr  # not "no runs yet"
    assert "example" in mlaas("pipeline", "run", "--help", env=env).stdout


def test_publish_merges_under_a_step_and_returns_alone(tmp_path, monkeypatch):
    monkeypatch.delenv("MLAAS_PIPELINE_OUTPUTS", raising=False)
    assert publish(a=1) == {"a": 1} and not list(tmp_path.iterdir())
    out = tmp_path / "step.outputs.json"
    monkeypatch.setenv("MLAAS_PIPELINE_OUTPUTS", str(out))
    publish(a=1, b="x")
    publish(b="y")
    assert json.loads(out.read_text()) == {"a": 1, "b": "y"}
    with pytest.raises(TypeError, match="JSON-serialisable"):
        publish(c=object())


def test_runs_are_listed_newest_first_across_pipelines_and_a_limit_reads_only_the_newest(tmp_path):
    from mlaas_kernel.pipelines import list_runs

    for name, run in (("digits", "20261201-100000-aaaa"), ("digits", "20261201-120000-bbbb"), ("platform", "20261201-110000-cccc")):
        (tmp_path / "pipelines" / name / run).mkdir(parents=True)
        (tmp_path / "pipelines" / name / run / "run.json").write_text(json.dumps({"pipeline": name, "run": run, "status": "succeeded"}))
    (tmp_path / "pipelines" / "digits" / "20261201-130000-eeee").mkdir()  # being created: no run.json yet
    (tmp_path / "pipelines" / "digits" / "cache").mkdir()
    (tmp_path / "pipelines" / "digits" / "cache" / "key.json").write_text("{}")
    assert [r["run"] for r in list_runs(workspace_dir=tmp_path)] == ["20261201-120000-bbbb", "20261201-110000-cccc", "20261201-100000-aaaa"]
    (tmp_path / "pipelines" / "digits" / "20261201-100000-aaaa" / "run.json").write_text("{")  # damaged, and older than the limit
    assert [r["run"] for r in list_runs(workspace_dir=tmp_path, limit=2)] == ["20261201-120000-bbbb", "20261201-110000-cccc"]
    assert [r["run"] for r in list_runs("digits", workspace_dir=tmp_path)] == ["20261201-120000-bbbb"]


def test_a_notebooks_warnings_are_read_from_its_stderr_once_each(tmp_path):
    def stderr(text):
        return {"output_type": "stream", "name": "stderr", "text": text}

    nb = tmp_path / "step.ipynb"
    nb.write_text(json.dumps({"cells": [
        {"cell_type": "code", "outputs": [stderr(["/x/train.py:40: TrainingWarning: only 40 training items\n", "  warnings.warn(\n"]),
                                          {"output_type": "stream", "name": "stdout", "text": "UserWarning: printed, not warned\n"}]},
        {"cell_type": "markdown"},
        {"cell_type": "code", "outputs": [stderr("/x/train.py:40: TrainingWarning: only 40 training items\n"),
                                          stderr("\x1b[31m<ipython>:2: FutureWarning: old\x1b[0m\nnot a warning\n"),
                                          stderr("a.py:1: DeprecationWarning: gone\nb.py:1: RuntimeWarning: overflow\n")]}]}))
    assert notebook_warnings(nb) == ["TrainingWarning: only 40 training items", "FutureWarning: old", "DeprecationWarning: gone"]
    assert notebook_warnings(tmp_path / "none.ipynb") == []


def test_a_missing_requirement_makes_a_step_unavailable(project, env, workspace):
    write_spec(project, "needy", "name: needy\nsteps:\n  x: {notebook: notebooks/step.ipynb, requires: [no_such_module_here]}\n"
                                 "  y: {notebook: notebooks/step.ipynb, needs: [x]}\n")
    record = run_pipeline("needy", track=False, progress=False)
    assert record["status"] == "succeeded" and "x unavailable" in record["status_note"]
    assert record["steps"]["x"]["status"] == "unavailable" and "no_such_module_here" in record["steps"]["x"]["reason"]
    assert record["steps"]["y"] == {**record["steps"]["y"], "status": "skipped", "reason": "needs x unavailable"}
    env["MLAAS_PIPELINES"] = str(project / "pipelines")
    status = mlaas("pipeline", "status", env=env, cwd=project)
    assert f"needy/{record['run']}  succeeded   0/2 steps (1 unavailable)  started" in status.stdout, status.stdout


def test_a_closed_stdout_ends_a_command_quietly(project, env, workspace):
    """`mlaas pipeline show ... | head`: the reader gone before the output, no BrokenPipeError traceback."""
    write_spec(project, "needy", "name: needy\nsteps:\n  x: {notebook: notebooks/step.ipynb, requires: [no_such_module_here]}\n")
    run_pipeline("needy", track=False, progress=False)
    env["MLAAS_PIPELINES"] = str(project / "pipelines")
    read, write = os.pipe()
    os.close(read)  # no reader: the first flush of stdout gets EPIPE
    try:
        proc = subprocess.run([sys.executable, "-m", "mlaas_kernel", "pipeline", "show", "needy/last"], stdout=write,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=project, timeout=60)
    finally:
        os.close(write)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr


@pytest.mark.notebook
def test_parallel_steps_the_cache_upstream_changes_and_force(project, workspace):
    first = run_pipeline("fan", track=False, progress=False)
    steps = first["steps"]
    assert first["status"] == "succeeded", steps
    a, b = steps["a"], steps["b"]
    assert when(a["started"]) < when(b["ended"]) and when(b["started"]) < when(a["ended"]), "a and b did not overlap"
    folder = run_json(workspace, first)
    cells = [json.loads((folder / f"{s}.ipynb").read_text())["cells"][4] for s in "ab"]  # after the injected parameters
    assert all("time.sleep" in "".join(c["source"]) for c in cells)
    sleeps = [c["metadata"]["papermill"] for c in cells]
    assert when(sleeps[0]["start_time"]) < when(sleeps[1]["end_time"]) and when(sleeps[1]["start_time"]) < when(sleeps[0]["end_time"])
    assert steps["c"]["parameters"] == {"value": 2, "label": f"after {b['outputs']['token']}"}

    cached = run_pipeline("fan", track=False, progress=False)
    assert {s["status"] for s in cached["steps"].values()} == {"cached"}
    for name in "abc":
        assert cached["steps"][name]["cached_from"] == f"fan/{first['run']}"
        assert cached["steps"][name]["outputs"] == steps[name]["outputs"]
        nb = json.loads((run_json(workspace, cached) / f"{name}.ipynb").read_text())
        assert nb["metadata"]["mlaas"]["pipeline"]["cached_from"] == f"fan/{first['run']}"
        assert (run_json(workspace, cached) / f"{name}.log").is_file()

    changed = run_pipeline("fan", params={"a_value": "5"}, track=False, progress=False)
    assert [changed["steps"][s]["status"] for s in "abc"] == ["succeeded", "cached", "succeeded"]
    assert changed["steps"]["c"]["parameters"]["value"] == 6  # a's new output reached c: its key changed

    forced = run_pipeline("fan", force=True, track=False, progress=False)
    assert {s["status"] for s in forced["steps"].values()} == {"succeeded"}
    assert forced["steps"]["b"]["outputs"]["token"] != steps["b"]["outputs"]["token"]


@pytest.mark.notebook
def test_a_failure_skips_dependants_resume_reruns_them_and_mlflow_links_the_runs(project, env, workspace):
    from mlaas_kernel.track import setup

    env["MLAAS_PIPELINES"] = str(project / "pipelines")
    failed = mlaas("pipeline", "run", "branches", env=env, cwd=project)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "step 'middle' failed in cell 7 (In [5]): ValueError: asked to fail middle" in failed.stderr
    assert 'raise ValueError(f"asked to fail {label}")' in failed.stderr and "\x1b[" not in failed.stderr
    assert "--resume" in failed.stderr and "[4/4]" in failed.stdout
    assert "] first    succeeded" in failed.stdout and "\n  ! UserWarning: only 3 items for 10 classes\n" in failed.stdout
    record = json.loads(next((workspace / "pipelines" / "branches").glob("*/run.json")).read_text())
    folder = run_json(workspace, record)
    st = {n: s["status"] for n, s in record["steps"].items()}
    assert st == {"first": "succeeded", "middle": "failed", "last": "skipped", "tracked": "succeeded"} and record["status"] == "failed"
    error = record["steps"]["middle"]["error"]
    assert error["ename"] == "ValueError" and "raise ValueError" in "".join(json.loads((folder / "middle.ipynb").read_text())["cells"][error["cell"]]["source"])
    assert record["steps"]["first"]["warnings"] == ["UserWarning: only 3 items for 10 classes"]
    token = stream_text(folder / "first.ipynb")
    assert "token " in token

    shown = mlaas("pipeline", "show", "branches/last", env=env, cwd=project)
    assert shown.returncode == 0 and "middle   failed" in shown.stdout and "asked to fail middle" in shown.stdout
    assert "  first ! UserWarning: only 3 items for 10 classes\n" in shown.stdout

    resumed = mlaas("pipeline", "run", "branches", "--resume", "last", "-p", "fail", "false", env=env, cwd=project)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = json.loads((folder / "run.json").read_text())
    assert {n: s["status"] for n, s in after["steps"].items()} == {"first": "succeeded", "middle": "succeeded", "last": "succeeded",
                                                                   "tracked": "succeeded"}
    assert after["steps"]["first"] == record["steps"]["first"] and stream_text(folder / "first.ipynb") == token
    assert after["steps"]["tracked"]["mlflow_runs"] == record["steps"]["tracked"]["mlflow_runs"]
    assert after["resumed_from"] == f"branches/{record['run']}" and after["parameters"] == {"fail": False}

    client, _ = setup("pipelines", workspace_dir=workspace)
    parent = client.get_run(after["mlflow_run_id"])
    assert parent.info.run_name == f"branches/{record['run']}" and parent.info.status == "FINISHED"
    assert parent.data.params == {"fail": "True"} and client.get_experiment(parent.info.experiment_id).name == "pipelines"
    assert json.loads(parent.data.tags["mlaas.pipeline.parameters"]) == {"fail": False}  # what it resumed with
    assert parent.data.tags["mlaas.pipeline.status"] == "succeeded"
    assert "run.json" in [f.path for f in client.list_artifacts(parent.info.run_id)]
    [step_run] = after["steps"]["tracked"]["mlflow_runs"]
    tags = client.get_run(step_run).data.tags
    assert tags["mlflow.parentRunId"] == parent.info.run_id and tags["mlaas.pipeline.step"] == "tracked"
    assert tags["mlaas.pipeline.run"] == f"branches/{record['run']}"
    status = mlaas("pipeline", "status", env=env, cwd=project)
    assert f"branches/{record['run']}  succeeded   4/4 steps" in status.stdout


def _kernels_of(run_ref: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("MLAAS_PIPELINE_RUN") == run_ref:
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.mark.notebook
def test_an_interrupted_run_stops_its_kernel_and_resumes(project, env, workspace):
    env["MLAAS_PIPELINES"] = str(project / "pipelines")
    proc = subprocess.Popen([sys.executable, "-m", "mlaas_kernel", "pipeline", "run", "slow", "--no-track"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        log = None
        while time.monotonic() < deadline:
            logs = list((workspace / "pipelines" / "slow").glob("*/nap.log"))
            if logs and "Executing Cell 5" in logs[0].read_text():  # the sleep cell (after the injected parameters)
                log = logs[0]
                break
            time.sleep(0.2)
        assert log is not None, "the step never reached its sleep"
        ref = f"slow/{log.parent.name}"
        assert _kernels_of(ref), "no kernel runs the step"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    assert f"interrupted; resume with: mlaas pipeline run slow --resume {log.parent.name}" in err
    assert f"resume with --resume {log.parent.name}" in out and "--resume last" not in out + err  # one hint, the run's id
    record = json.loads((log.parent / "run.json").read_text())
    assert record["status"] == "interrupted" and record["steps"]["nap"]["status"] == "pending"
    assert record["steps"]["nap"]["reason"] == "interrupted" and record["steps"]["after"]["status"] == "pending"
    tidy = record["steps"]["tidy"]  # the cleanup ran after the interrupt, with what the quick step had published
    assert "interrupted: running the cleanup step tidy (Ctrl-C again to skip)" in out
    assert tidy["status"] == "succeeded" and when(tidy["started"]) >= when(record["steps"]["nap"]["ended"])
    assert tidy["parameters"] == {"value": 2} and tidy["reason"] == "runs after after not run; notebook defaults for label"
    assert not _kernels_of(ref), "a kernel outlived the interrupted run"
    resumed = mlaas("pipeline", "run", "slow", "--resume", log.parent.name, "-p", "seconds", "0", "--no-track", env=env, cwd=project)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = json.loads((log.parent / "run.json").read_text())
    assert after["status"] == "succeeded" and after["resumes"][0]["previous_status"] == "interrupted"
    assert [after["steps"][s]["status"] for s in ("nap", "after", "tidy")] == ["succeeded"] * 3
    assert after["steps"]["tidy"]["outputs"]["token"] != tidy["outputs"]["token"]  # the cleanup ran again, at the end


FRESH = """name: fresh
steps:
  token: {notebook: notebooks/step.ipynb, cache: false}
  plain: {notebook: notebooks/step.ipynb}
  after: {notebook: notebooks/step.ipynb, needs: [token]}
"""


@pytest.mark.notebook
def test_a_cache_false_step_runs_every_time_and_its_dependants_follow_it(project, workspace):
    write_spec(project, "fresh", FRESH)
    first = run_pipeline("fresh", track=False, progress=False)
    again = run_pipeline("fresh", track=False, progress=False)
    assert first["status"] == again["status"] == "succeeded"
    assert {n: s["status"] for n, s in again["steps"].items()} == {"token": "succeeded", "plain": "cached", "after": "succeeded"}
    token = again["steps"]["token"]
    assert token["cached_from"] is None and token["cache_key"] == first["steps"]["token"]["cache_key"]  # its key is still computed
    assert token["outputs"]["token"] != first["steps"]["token"]["outputs"]["token"]
    # a step that only needs it (no reference, the same parameters) follows what it published; a reference does anyway
    assert again["steps"]["after"]["cache_key"] != first["steps"]["after"]["cache_key"]
    assert not list((workspace / "pipelines" / "fresh" / "cache").glob(f"{token['cache_key']}.json"))  # never stored


CLEANUP = """name: cleanup
parameters: {fail: true}
steps:
  first: {notebook: notebooks/step.ipynb}
  middle: {notebook: notebooks/step.ipynb, needs: [first], parameters: {fail: "${params.fail}", label: middle}}
  last: {notebook: notebooks/step.ipynb, needs: [middle], parameters: {label: done}}
  gpu_part: {notebook: notebooks/step.ipynb, requires: [no_such_module_here]}
  stop:
    notebook: notebooks/step.ipynb
    always: true
    needs: [last, gpu_part]
    parameters: {value: "${steps.first.outputs.value}", label: "${steps.last.outputs.label}"}
"""


@pytest.mark.notebook
def test_an_always_step_runs_after_a_failure_and_again_on_resume(project, workspace):
    write_spec(project, "cleanup", CLEANUP)
    failed = run_pipeline("cleanup", track=False, progress=False)
    steps = failed["steps"]
    assert {n: s["status"] for n, s in steps.items()} == {"first": "succeeded", "middle": "failed", "last": "skipped",
                                                         "gpu_part": "unavailable", "stop": "succeeded"}
    assert failed["status"] == "failed"  # the cleanup ran, the run still failed
    stop = steps["stop"]
    assert when(stop["started"]) >= when(steps["middle"]["ended"])
    assert stop["parameters"] == {"value": 2} and stop["outputs"]["label"] == ""  # last's label never came: the notebook's default
    assert stop["reason"] == "runs after gpu_part unavailable, last skipped; notebook defaults for label"

    resumed = run_pipeline("cleanup", resume=failed["run"], params={"fail": False}, track=False, progress=False)
    after = resumed["steps"]
    assert resumed["status"] == "succeeded" and after["first"] == steps["first"]  # kept
    assert [after[s]["status"] for s in ("middle", "last", "gpu_part", "stop")] == ["succeeded", "succeeded", "unavailable", "succeeded"]
    assert when(after["stop"]["started"]) >= when(after["last"]["ended"])  # again, at the end
    assert after["stop"]["outputs"]["token"] != stop["outputs"]["token"] and after["stop"]["outputs"]["label"] == "done"
    assert after["stop"]["reason"] == "runs after gpu_part unavailable"
