"""The distribution: dependencies in step, light import, notebooks committed clean."""

import json
import re
import subprocess
import sys
import tomllib

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


def test_bundled_data_matches_the_published_checksums():
    from mlaas_kernel.data import file_digest
    from mlaas_kernel.data._sources import _bundled

    assert file_digest(_bundled("mnist", "t10k-images-idx3-ubyte.gz")) == "b234daf65db3e4272c886f630695d3bfd3d7a3401cd67f17fd4e2ce719fc4488"
    assert file_digest(_bundled("mnist", "t10k-labels-idx1-ubyte.gz")) == "164f11fd9ac9690604ea27b860b699a4a80c074d539970dad5dff0b1c26719f8"
    assert file_digest(_bundled("gpu-benchmarks", "GPU_benchmarks_v7.csv")) == "3d4d3476f32d24bb77f54a5856b9936ad518af160e0f701e130cfaa87de74012"
