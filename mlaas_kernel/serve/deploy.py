"""Deployment files for a registered model: a Dockerfile, its install script, a KServe
InferenceService and a plain Kubernetes Deployment + Service (``mlaas serve NAME@ALIAS --export DIR``).

The image holds the model's serving bundle (``model.onnx``, ``serving.json``, ``version.json``) and
only what ``mlaas serve BUNDLE_DIR`` needs (:data:`SERVE_REQUIREMENTS`, pinned to the versions this
environment runs, plus the workbench wheel installed with ``--no-deps``). The install steps are one
script, ``install.sh``, that the Dockerfile runs and the tests run too.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ._deploy.manifests import K8S_VERSION, check_manifests, deployment_objects, inference_service

__all__ = ["DeployError", "K8S_VERSION", "SERVE_REQUIREMENTS", "check_manifests", "deployment_objects", "k8s_name",
           "inference_service", "write_deployment"]

# What `mlaas serve BUNDLE_DIR` needs: ONNX Runtime, the ASGI stack, image decoding and Swagger UI's files for /docs.
SERVE_REQUIREMENTS = ("numpy", "onnxruntime", "fastapi", "uvicorn[standard]", "orjson", "python-multipart", "pillow", "swagger-ui-py")
BUNDLE_FILES = ("model.onnx", "serving.json", "version.json")
_TEMPLATES = Path(__file__).resolve().parent / "_deploy"
_DISTRIBUTION = "mlaas-workbench"


class DeployError(ValueError):
    """The deployment files cannot be written (a bad argument, a missing bundle, a busy folder)."""


@dataclass(frozen=True)
class _Model:
    name: str  # the registered name
    version: int | str
    run_id: str
    k8s_name: str  # the name as a Kubernetes object name (DNS-1123 label)
    bundle: Path
    asked: str = ""  # the reference as the user gave it (``mnist-cnn@champion``), for the files' "written by" line
    folder: bool = False  # ``asked`` is a bundle folder

    def written_by(self) -> str:
        """The command that wrote the files, as the user ran it, and the version it resolved to."""
        asked = self.asked or f"{self.name}/{self.version}"
        said = f"`mlaas serve {asked} --export DIR`"
        if self.folder:
            return f"{said} (a bundle of {self.name} version {self.version})"
        return said if asked == f"{self.name}/{self.version}" else f"{said} ({asked} was version {self.version})"


def write_deployment(ref, out_dir, *, image: str | None = None, port: int = 8080, workspace_dir=None,
                     overwrite: bool = False) -> list[Path]:
    """Write the deployment folder for ``ref`` and return the files written.

    ``ref`` is a model reference (``NAME@ALIAS``, ``NAME/VERSION``, ``NAME``; its serving bundle comes
    from :func:`mlaas_kernel.export.bundle`) or the path of a bundle folder. ``image`` is the tag the
    manifests run (default ``mlaas-serve-<name>:<version>``); ``port`` the container's port.
    ``out_dir`` must be new or empty unless ``overwrite``.
    """
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise DeployError(f"port {port!r} is not a TCP port (a whole number from 1 to 65535)")
    model = _model(ref, workspace_dir)
    image = image or f"mlaas-serve-{model.k8s_name}:{model.version}"
    if not _IMAGE.fullmatch(image):
        raise DeployError(f"image {image!r} is not a container image reference (e.g. registry.example.com/team/mnist:3)")
    out = _prepare_folder(Path(out_dir), overwrite)
    labels = {"model": model.name, "version": str(model.version), "run_id": model.run_id}
    docs = deployment_objects(model.k8s_name, image, port=port, labels=labels)
    isvc = inference_service(model.k8s_name, image, port=port, labels=labels)
    problems = check_manifests([*docs, isvc])
    if problems:  # a defect of this module, never of the user's input: say exactly what
        raise DeployError("the generated manifests are inconsistent: " + "; ".join(problems))
    written = [*_copy_bundle(model, out), *_install_files(out), _dockerfile(model, out, port)]
    written.append(_yaml(out / "deployment.yaml", docs, _header(model, image, "kubectl apply -f deployment.yaml")))
    written.append(_yaml(out / "kserve-inferenceservice.yaml", [isvc],
                         _header(model, image, "kubectl apply -f kserve-inferenceservice.yaml  (KServe installed)")))
    written.append(_readme(model, out, image, port))
    return written


_IMAGE = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?")


def k8s_name(name: str) -> str:
    """``name`` as a DNS-1123 label (lower case, digits and '-', at most 63 characters)."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].rstrip("-")
    if not label or not label[0].isalpha():
        label = ("m-" + label)[:63].rstrip("-")
    return label


def _model(ref, workspace_dir) -> _Model:
    path = Path(ref) if isinstance(ref, (str, Path)) else None
    if path is not None and path.is_dir():
        bundle = path
    else:
        from .. import export  # lazily: the registry and MLflow load only when a reference is given

        bundle = Path(export.bundle(ref, workspace_dir=workspace_dir))
    missing = [f for f in BUNDLE_FILES if not (bundle / f).is_file()]
    if missing:
        raise DeployError(f"{bundle} is not a serving bundle: it lacks {', '.join(missing)}")
    try:
        info = json.loads((bundle / "version.json").read_text())
        name, version = str(info["name"]), info["version"]
    except (ValueError, KeyError, TypeError) as err:
        raise DeployError(f"{bundle / 'version.json'} does not hold a name and version: {err}") from None
    asked = f"{ref.name}/{ref.version}" if hasattr(ref, "version") and hasattr(ref, "name") else str(ref)
    return _Model(name, version, str(info.get("run_id", "")), k8s_name(name), bundle, asked, folder=path is not None and path.is_dir())


def _prepare_folder(out: Path, overwrite: bool) -> Path:
    if out.exists() and not out.is_dir():
        raise DeployError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DeployError(f"{out} is not empty: give a new or empty folder for the deployment files")
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("model", "wheels"):
        shutil.rmtree(out / stale, ignore_errors=True)
    return out


def _copy_bundle(model: _Model, out: Path) -> list[Path]:
    (out / "model").mkdir()
    return [Path(shutil.copy2(model.bundle / f, out / "model" / f)) for f in BUNDLE_FILES]


def _install_files(out: Path) -> list[Path]:
    script = Path(shutil.copy2(_TEMPLATES / "install.sh", out / "install.sh"))
    script.chmod(0o755)
    reqs = out / "requirements-serve.txt"
    reqs.write_text("# pinned to the versions the exporting environment runs\n" + "\n".join(_pinned()) + "\n")
    files = [script, reqs]
    wheel = _workbench_wheel(out / "wheels")
    if wheel is not None:
        files.append(wheel)
    else:  # an installed (not checked-out) workbench: install the same version from the package index
        spec = out / "requirements-workbench.txt"
        spec.write_text(f"{_DISTRIBUTION}=={_workbench_version()}\n")
        files.append(spec)
    return files


def _pinned() -> list[str]:
    lines = []
    for req in SERVE_REQUIREMENTS:
        dist = req.split("[")[0]
        try:
            lines.append(f"{req}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            raise DeployError(f"{dist} is not installed here; the image pins the versions this environment runs") from None
    return lines


def _workbench_version() -> str:
    from .. import __version__

    return __version__


def _checkout() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and f'name = "{_DISTRIBUTION}"' in pyproject.read_text():
        return root
    return None


def _workbench_wheel(dest: Path) -> Path | None:
    """Build the workbench's wheel from its source checkout into ``dest``; None when not in one."""
    root = _checkout()
    if root is None:
        return None
    with tempfile.TemporaryDirectory(prefix="mlaas-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", "*.egg-info")
        for item in ("pyproject.toml", "README.md", "LICENSE", "mlaas_kernel", "widgets"):
            if (root / item).is_dir():
                shutil.copytree(root / item, src / item, ignore=ignore)
            elif (root / item).exists():
                shutil.copy2(root / item, src / item)
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dest), str(src)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise DeployError(f"building the workbench wheel failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise DeployError(f"building the workbench wheel left {len(wheels)} wheels in {dest}")
    return wheels[0]


def _base_image() -> str:
    return f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def _dockerfile(model: _Model, out: Path, port: int) -> Path:
    served = f"/models/{model.k8s_name}"
    cmd = json.dumps(["mlaas", "serve", served, "--host", "0.0.0.0", "--port", str(port)])  # a bundle folder, served as it is
    text = (_TEMPLATES / "Dockerfile.in").read_text().format(
        name=model.name, version=model.version, run_id=model.run_id or "unknown", base=_base_image(), written_by=model.written_by(),
        served=served, port=port, cmd=cmd)
    path = out / "Dockerfile"
    path.write_text(text)
    return path


def _header(model: _Model, image: str, apply: str) -> str:
    return (f"# {model.name} version {model.version} (run {model.run_id or 'unknown'}), image {image}\n"
            f"# written by {model.written_by()}; checked against Kubernetes {K8S_VERSION}\n"
            f"# build and push the image first (see README.md here), then: {apply}\n")


def _yaml(path: Path, docs: list[dict], header: str) -> Path:
    import yaml  # a dependency of MLflow and Jupyter; imported here only

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data):  # shared dicts written out in full, not as &id001 anchors
            return True

    path.write_text(header + yaml.dump_all(docs, Dumper=Dumper, sort_keys=False, explicit_start=True))
    return path


def _readme(model: _Model, out: Path, image: str, port: int) -> Path:
    text = (_TEMPLATES / "README.md.in").read_text().format(
        name=model.name, version=model.version, run_id=model.run_id or "unknown", image=image, port=port,
        k8s_name=model.k8s_name, k8s_version=K8S_VERSION, written_by=model.written_by())
    path = out / "README.md"
    path.write_text(text)
    return path
