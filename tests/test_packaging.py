"""The distribution: dependencies in step, light import, notebooks committed clean."""

import json
import re
import subprocess
import sys
import tomllib

import nbformat

from conftest import REPO


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"])
    for extra in ("torch", "test", "bench"):
        wanted |= set(project["optional-dependencies"][extra])
    env = (REPO / "environment.yml").read_text()
    pip_section = env.split("- pip:", 1)[1]
    listed = {line.strip()[2:].strip() for line in pip_section.splitlines() if line.strip().startswith("- ") and not line.strip().startswith("- -e")}
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"


def test_import_is_light():
    code = "import sys, time; t = time.perf_counter(); import mlaas_kernel, mlaas_widgets; print(time.perf_counter() - t); print(','.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    modules = set(out[1].split(","))
    for heavy in ("pandas", "numpy", "torch", "sklearn", "plotly", "cudf", "mlflow", "ipywidgets"):
        assert heavy not in modules, f"import mlaas_kernel imported {heavy}"


def test_notebooks_are_committed_without_outputs_and_with_parameters():
    notebooks = sorted((REPO / "notebooks").rglob("*.ipynb"))
    assert {p.name for p in notebooks} >= {"01_ingest.ipynb", "02_explore.ipynb"}
    for path in notebooks:
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), f"{path.name} has outputs"
        tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged parameters"
        # saved as Jupyter saves it, with the metadata Lab fills in: opening one in Lab leaves git clean
        assert path.read_text() == nbformat.writes(nbformat.reads(path.read_text(), as_version=4)) + "\n", f"{path.name}: not nbformat's layout"
        assert all(c.get("id") for c in nb["cells"]), f"{path.name}: a cell has no id"
        assert nb["metadata"]["kernelspec"] == {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}, path.name
        assert nb["metadata"]["language_info"].get("pygments_lexer") == "ipython3", f"{path.name}: language_info as the kernel reports it"


def test_bundled_data_matches_the_published_checksums():
    """The bundled MNIST test set is the published one (an earlier copy was a corrupted reshuffle)."""
    import gzip
    import hashlib

    import numpy as np

    from mlaas_kernel.data import file_digest
    from mlaas_kernel.data._sources import _bundled

    # MD5s of the decompressed files as published with MNIST (and in ../shared/data/README.md).
    published = {"t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea", "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637"}
    raw = {}
    for name, md5 in published.items():
        raw[name] = gzip.decompress(_bundled("mnist", name).read_bytes())
        assert hashlib.md5(raw[name]).hexdigest() == md5, f"bundled {name} is not the published MNIST file"
    images = np.frombuffer(raw["t10k-images-idx3-ubyte.gz"][16:], np.uint8).reshape(-1, 28 * 28)
    labels = np.frombuffer(raw["t10k-labels-idx1-ubyte.gz"][8:], np.uint8)
    assert len(images) == len(labels) == 10_000
    assert len(np.unique(images, axis=0)) == 10_000, "duplicated images in the bundled test set"
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert file_digest(_bundled("gpu-benchmarks", "GPU_benchmarks_v7.csv")) == "3d4d3476f32d24bb77f54a5856b9936ad518af160e0f701e130cfaa87de74012"


def test_make_installs_the_gpu_extra_where_a_gpu_is_found():
    """``make`` on a GPU machine asks for ``.[test,bench,gpu,torch]`` (a misplaced ``comma`` once made it ``benchgputorch``)."""
    out = subprocess.run(["make", "-n", "-B", "HAS_GPU=1", "VENV=/nonexistent-venv", "setup"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert '-e ".[test,bench,gpu,torch]"' in out
    cpu = subprocess.run(["make", "-n", "-B", "HAS_GPU=", "VENV=/nonexistent-venv", "setup"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert '-e ".[test,bench]"' in cpu and "torch==2.13.0" in cpu


def test_gpu_extra_asks_for_the_cuml_that_tabular_training_needs():
    """_tabular.py passes max_depth=None (cuML >= 26.04) and reads feature_importances_ (NVIDIA/cuml#7275, before 26.04)."""
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["gpu"]
    floors = {_name(r): tuple(int(x) for x in re.search(r">=\s*([\d.]+)", r).group(1).split(".")[:2]) for r in extra if ">=" in r}
    assert floors["cuml-cu12"] >= (26, 4) and floors["cudf-cu12"] == floors["cuml-cu12"]
    source = (REPO / "mlaas_kernel" / "train" / "_tabular.py").read_text()
    assert "max_depth" in source and "feature_importances_" in source  # still what the floor is for


def test_umap_is_declared_for_the_cpu_umap_path():
    """compute.estimator("UMAP") needs umap-learn on the CPU: a fresh install must have it."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "umap-learn" in {_name(r) for r in project["dependencies"]}
    from mlaas_kernel import compute

    assert compute.ESTIMATORS.get("UMAP")[1] == "umap:UMAP"
    import umap  # noqa: F401  (installed by the dependency above)


# The gpu extra's wheels and the conda packages RAPIDS publishes the same libraries as.
GPU_CONDA_NAMES = {"cudf-cu12": "cudf", "cuml-cu12": "cuml", "cupy-cuda12x": "cupy"}


def _floor(spec: str) -> tuple[int, ...] | None:
    found = re.search(r">=\s*([\d.]+)", spec)
    return tuple(int(x) for x in found.group(1).split(".")) if found else None


def test_environment_gpu_yml_is_environment_yml_with_rapids_from_conda():
    """environment-gpu.yml: the gpu extra's RAPIDS packages from conda (same floors), CUDA 12 like the
    -cu12 wheels, the same pip list as environment.yml plus the gpu extra's other packages."""
    import yaml

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    gpu = {_name(r): r for r in project["optional-dependencies"]["gpu"]}
    cpu_env, gpu_env = (yaml.safe_load((REPO / f).read_text()) for f in ("environment.yml", "environment-gpu.yml"))
    assert gpu_env["channels"] == ["rapidsai", "conda-forge", "nvidia"]
    conda = {_name(d): d for d in gpu_env["dependencies"] if isinstance(d, str)}
    for wheel, name in GPU_CONDA_NAMES.items():
        assert name in conda, f"environment-gpu.yml has no {name} (the gpu extra's {wheel})"
        assert _floor(conda[name]) == _floor(gpu[wheel]), f"{conda[name]} against the gpu extra's {gpu[wheel]}"
    assert conda["cuda-version"].replace(" ", "") == "cuda-version>=12,<13"  # the wheels are the CUDA 12 builds
    assert conda["python"] == next(d for d in cpu_env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    pip_of = lambda env: [p for d in env["dependencies"] if isinstance(d, dict) for p in d["pip"]]  # noqa: E731
    pip_only = {r for w, r in gpu.items() if w not in GPU_CONDA_NAMES}
    assert pip_only == {r for r in gpu.values() if _name(r) == "jupyterlab-nvdashboard"}
    assert sorted(pip_of(gpu_env)) == sorted(pip_of(cpu_env) + list(pip_only))


def test_nvdashboard_is_in_the_gpu_extra_only():
    """PLATFORM.md: jupyterlab-nvdashboard shows failing GPU panels without a GPU, so only GPU installs get it."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    elsewhere = [project["dependencies"], *(v for k, v in project["optional-dependencies"].items() if k != "gpu")]
    assert not [r for reqs in elsewhere for r in reqs if _name(r) == "jupyterlab-nvdashboard"]
    assert "jupyterlab-nvdashboard" not in (REPO / "environment.yml").read_text()
