"""Deployment files (``write_deployment``): the manifests against the Kubernetes and KServe schemas, broken
manifests failing them, and the install script the Dockerfile runs, run for real into a scratch
environment that holds only the serving packages, then the image's command serving the bundle from it."""

from __future__ import annotations

import copy
import importlib.metadata as md
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from _servers import serving
from _workspace import module_workspace
from conftest import free_port

KSERVE_SCHEMA = Path(__file__).parent / "data" / "kserve_inferenceservice_v1beta1.schema.yaml"


@pytest.fixture(scope="module")
def registered(registered_workspace, tmp_path_factory):
    """A 1-epoch CNN registered as ``mnist-cnn`` (champion; a copy of the session's registered workspace: parity itself
    is tested in test_export.py); yields (workspace, version, bundle folder, one digit 0..1)."""
    from mlaas_kernel import data, export

    with module_workspace(tmp_path_factory, "deploy", copy_of=registered_workspace["root"]) as root:
        ds = data.load("mnist")
        digit = ds.images()[0].astype("float32")[None] / 255.0
        yield root, registered_workspace["v1"], Path(export.bundle("mnist-cnn@champion", workspace_dir=root)), digit


@pytest.fixture(scope="module")
def deployment(registered, tmp_path_factory):
    from mlaas_kernel.serve.deploy import write_deployment

    root, version, _, _ = registered
    out = tmp_path_factory.mktemp("export") / "deploy"
    files = write_deployment("mnist-cnn@champion", out, workspace_dir=root)
    return out, files, version


def _docs(path: Path) -> list[dict]:
    import yaml

    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _strict(schema):
    """The CRD schema as the API server applies it with strict field validation: unknown fields are errors."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _kserve_errors(doc: dict) -> list[str]:
    import jsonschema
    import yaml

    validator = jsonschema.Draft7Validator(_strict(yaml.safe_load(KSERVE_SCHEMA.read_text())))
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def _k8s_errors(doc: dict) -> list[str]:
    import kubernetes_validate

    from mlaas_kernel.serve.deploy import K8S_VERSION

    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        return [f"{'.'.join(map(str, err.path))}: {err.message}"]
    return []


def test_the_folder_holds_the_image_recipe_the_bundle_and_the_manifests(deployment, registered):
    out, files, version = deployment
    names = sorted(str(p.relative_to(out)) for p in files)
    assert {"Dockerfile", "install.sh", "requirements-serve.txt", "deployment.yaml", "kserve-inferenceservice.yaml",
            "README.md", "model/model.onnx", "model/serving.json", "model/version.json"} <= set(names)
    assert any(n.startswith("wheels/mlaas_workbench-") and n.endswith(".whl") for n in names), names
    bundle = registered[2]
    assert (out / "model" / "model.onnx").read_bytes() == (bundle / "model.onnx").read_bytes()
    docker = (out / "Dockerfile").read_text()
    assert f"FROM python:{sys.version_info.major}.{sys.version_info.minor}-slim" in docker
    assert "RUN sh ./install.sh --venv /opt/mlaas/venv" in docker and "COPY model/ /models/mnist-cnn/" in docker
    assert _command(out)[:3] == ["mlaas", "serve", "/models/mnist-cnn"]
    pins = (out / "requirements-serve.txt").read_text().split()
    assert f"onnxruntime=={md.version('onnxruntime')}" in pins and f"fastapi=={md.version('fastapi')}" in pins
    image = f"mlaas-serve-mnist-cnn:{version.version}"
    assert all(c["image"] == image for d in _docs(out / "deployment.yaml") if d["kind"] == "Deployment"
               for c in d["spec"]["template"]["spec"]["containers"])
    assert f"docker build -t {image} ." in (out / "README.md").read_text()
    # the files name the command the user ran (the alias) and the version it resolved to, not a NAME/VERSION they never typed
    said = f"`mlaas serve mnist-cnn@champion --export DIR` (mnist-cnn@champion was version {version.version})"
    for name in ("Dockerfile", "deployment.yaml", "kserve-inferenceservice.yaml", "README.md"):
        text = (out / name).read_text()
        assert said in text and "mlaas serve mnist-cnn/" not in text, (name, text[:400])


def test_manifests_pass_the_kubernetes_and_kserve_schemas(deployment):
    from mlaas_kernel.serve.deploy import check_manifests

    out, _, _ = deployment
    docs = _docs(out / "deployment.yaml")
    assert [d["kind"] for d in docs] == ["Deployment", "Service"]
    for doc in docs:
        assert _k8s_errors(doc) == []
    (isvc,) = _docs(out / "kserve-inferenceservice.yaml")
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1" and isvc["kind"] == "InferenceService"
    assert _kserve_errors(isvc) == []
    assert check_manifests([*docs, isvc]) == []
    pod = docs[0]["spec"]["template"]["spec"]["containers"][0]
    assert (pod["readinessProbe"]["httpGet"]["path"], pod["livenessProbe"]["httpGet"]["path"]) == ("/ready", "/health")


def _break(doc: dict, how: str) -> dict:
    doc = copy.deepcopy(doc)
    if doc["kind"] == "InferenceService":
        container = doc["spec"]["predictor"]["containers"][0]
    elif doc["kind"] == "Deployment":
        container = doc["spec"]["template"]["spec"]["containers"][0]
    if how == "probe on a wrong port name":
        container["readinessProbe"]["httpGet"]["port"] = "metrics"
    elif how == "probe on a wrong port number":
        container["livenessProbe"]["httpGet"]["port"] = 9090
    elif how == "no image":
        del container["image"]
    elif how == "replicas as text":
        doc["spec"]["replicas"] = "two"
    elif how == "a misspelt field":
        container["imagePullPolicyy"] = container.pop("imagePullPolicy", "IfNotPresent")
    elif how == "cpu limit not a quantity":
        container["resources"]["limits"]["cpu"] = "two cores"
    elif how == "no predictor":
        doc["spec"] = {"transformer": {}}
    elif how == "service selects nothing":
        doc["spec"]["selector"] = {"app.kubernetes.io/name": "another-model"}
    return doc


@pytest.mark.parametrize("kind, how, caught_by", [
    ("Deployment", "probe on a wrong port name", "check"),
    ("Deployment", "no image", "check"),
    ("Deployment", "replicas as text", "schema"),
    ("Deployment", "a misspelt field", "schema"),
    ("Deployment", "cpu limit not a quantity", "check"),  # the core schema has no quantity pattern
    ("Service", "service selects nothing", "check"),
    ("InferenceService", "probe on a wrong port number", "check"),
    ("InferenceService", "no image", "check"),
    ("InferenceService", "a misspelt field", "schema"),
    ("InferenceService", "cpu limit not a quantity", "schema"),
    ("InferenceService", "no predictor", "schema"),
])
def test_a_broken_manifest_fails_validation(deployment, kind, how, caught_by):
    from mlaas_kernel.serve.deploy import check_manifests

    out, _, _ = deployment
    docs = _docs(out / "deployment.yaml") + _docs(out / "kserve-inferenceservice.yaml")
    broken = [_break(d, how) if d["kind"] == kind else d for d in docs]
    target = next(d for d in broken if d["kind"] == kind)
    schema = _kserve_errors(target) if kind == "InferenceService" else _k8s_errors(target)
    if caught_by == "schema":
        assert schema, f"{kind} with {how} passed its schema"
    else:  # what no schema checks (the API server accepts these too; the pod then never becomes ready)
        problems = check_manifests(broken)
        assert problems, f"{kind} with {how} passed check_manifests"
        word = {"probe on a wrong port name": "'metrics'", "probe on a wrong port number": "9090", "no image": "no image", "cpu limit not a quantity": "not a quantity",
                "service selects nothing": "matches no Deployment"}[how]
        assert any(word in p for p in problems), problems


def test_bad_arguments_name_what_is_wrong(deployment, registered, tmp_path):
    from mlaas_kernel.serve.deploy import DeployError, write_deployment

    out, _, _ = deployment
    bundle = registered[2]
    with pytest.raises(DeployError, match=r"is not empty: give a new or empty folder"):
        write_deployment(bundle, out)
    with pytest.raises(DeployError, match=r"port 0 is not a TCP port"):
        write_deployment(bundle, tmp_path / "a", port=0)
    with pytest.raises(DeployError, match=r"image 'Not An Image' is not a container image reference"):
        write_deployment(bundle, tmp_path / "b", image="Not An Image")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "model.onnx").write_bytes(b"")
    with pytest.raises(DeployError, match=r"half is not a serving bundle: it lacks serving.json, version.json"):
        write_deployment(tmp_path / "half", tmp_path / "c")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_mlaas_serve_export_writes_the_folder(registered, env, tmp_path):
    from _cli import mlaas

    env["MLAAS_WORKSPACE"] = str(registered[0])
    done = mlaas("serve", "mnist-cnn@champion", "--export", str(tmp_path / "out"), env=env)
    assert done.returncode == 0, done.stderr
    assert {Path(p).name for p in done.stdout.split()} >= {"Dockerfile", "install.sh", "deployment.yaml", "kserve-inferenceservice.yaml"}
    assert (tmp_path / "out" / "model" / "model.onnx").read_bytes() == (registered[2] / "model.onnx").read_bytes()
    v = json.loads((tmp_path / "out" / "model" / "version.json").read_text())["version"]
    assert (f"# written by `mlaas serve mnist-cnn@champion --export DIR` (mnist-cnn@champion was version {v})"
            in (tmp_path / "out" / "deployment.yaml").read_text())


def _command(out: Path) -> list[str]:
    line = next(ln for ln in (out / "Dockerfile").read_text().splitlines() if ln.startswith("CMD "))
    return json.loads(line[4:])


def _closure(requirements) -> set[str]:
    """The installed distributions ``requirements`` need, with their extras' dependencies."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[tuple[str, str]] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        for extra in {"", *req.extras}:
            key = (canonicalize_name(req.name), extra)
            if key in seen:
                continue
            seen.add(key)
            for spec in md.requires(req.name) or []:
                dep = Requirement(spec)
                if dep.marker is None or dep.marker.evaluate({"extra": extra}):
                    todo.append(dep)
    return {name for name, _ in seen}


def _serving_site(tmp_path: Path) -> Path:
    """A folder of links to the serving packages only (and pip): the scratch environment's stand-in for an index."""
    from mlaas_kernel.serve.deploy import SERVE_REQUIREMENTS

    site = tmp_path / "serving-site"
    site.mkdir()
    for name in sorted(_closure([*SERVE_REQUIREMENTS, "pip"])):
        dist = md.distribution(name)
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            src = Path(dist.locate_file(top))
            if src.exists() and not (site / top).exists():
                (site / top).symlink_to(src)
    return site


def _scratch_python(tmp_path: Path) -> Path:
    """A new virtual environment whose only packages are the serving ones (a .pth line to the linked site)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "serving-site.pth").write_text(str(_serving_site(tmp_path)) + "\n")
    return python


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status


def test_the_install_script_builds_an_environment_the_image_command_serves_from(deployment, registered, tmp_path):
    from mlaas_kernel.serve import OnnxPredictor

    out, _, version = deployment
    digit = registered[3]
    python = _scratch_python(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PIP_NO_INDEX="1", PIP_NO_CACHE_DIR="1", MLAAS_WORKSPACE=str(tmp_path / "ws"), MLFLOW_DISABLE_TELEMETRY="true")
    done = subprocess.run(["sh", str(out / "install.sh"), "--python", str(python)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "mlaas serving environment ready: mlaas_kernel" in done.stdout
    where = subprocess.run([str(python), "-c", "import mlaas_kernel; print(mlaas_kernel.__file__)"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, check=True).stdout
    assert where.startswith(str(tmp_path / "venv")), where  # the wheel's copy, not the checkout's
    # The image's CMD, with the bundle's path in the image and the port mapped to this machine.
    port = free_port()
    cmd = _command(out)
    cmd = [str(python.parent / cmd[0]), *cmd[1:]]
    cmd[2] = str(out / "model")  # the bundle folder, where the image has it
    cmd[cmd.index("--host") + 1] = "127.0.0.1"
    cmd[cmd.index("--port") + 1] = str(port)
    url = f"http://127.0.0.1:{port}"
    docs = _docs(out / "deployment.yaml") + _docs(out / "kserve-inferenceservice.yaml")
    paths = {c[p]["httpGet"]["path"] for d in docs if d["kind"] != "Service"
             for c in (d["spec"].get("predictor") or d["spec"].get("template", {}).get("spec"))["containers"]
             for p in ("readinessProbe", "livenessProbe", "startupProbe") if p in c}
    assert paths == {"/ready", "/health", "/v2/health/ready", "/v2/health/live"}
    with serving(cmd, f"{url}/ready", env=env, cwd=tmp_path, log=tmp_path / "serve.log", timeout=60):
        assert {p: _get(url + p) for p in sorted(paths)} == {p: 200 for p in sorted(paths)}
        body = json.dumps({"instances": [digit.tolist()]}).encode()
        req = urllib.request.Request(f"{url}/predict", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            answer = json.loads(r.read())
    assert answer["model"] == "mnist-cnn" and str(answer["version"]) == str(version.version)
    here = OnnxPredictor(registered[2]).predict(digit[None])  # the same bundle in this process
    (pred,) = answer["predictions"]
    assert str(pred["class"]) == str(here["classes"][0])
    assert [pred["probabilities"][str(c)] for c in OnnxPredictor(registered[2]).metadata["classes"]] == pytest.approx(
        here["probabilities"][0].tolist(), abs=1e-6)


def test_the_written_by_line_names_what_the_user_gave():
    from pathlib import Path

    from mlaas_kernel.serve.deploy import _Model

    def said(asked, folder=False):
        return _Model("mnist-cnn", 3, "r" * 32, "mnist-cnn", Path("b"), asked, folder=folder).written_by()

    assert said("mnist-cnn@champion") == "`mlaas serve mnist-cnn@champion --export DIR` (mnist-cnn@champion was version 3)"
    assert said("mnist-cnn/3") == "`mlaas serve mnist-cnn/3 --export DIR`"
    assert said("bundles/mnist", folder=True) == "`mlaas serve bundles/mnist --export DIR` (a bundle of mnist-cnn version 3)"
