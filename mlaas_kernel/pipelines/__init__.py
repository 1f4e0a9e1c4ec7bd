"""Notebook pipelines: named notebooks run by papermill as a DAG, in parallel, cached and resumable.

A spec (``pipelines/<name>.yaml`` or ``.toml``) names the steps, their notebooks, parameters and
which step's outputs feed which parameters (``${steps.S.outputs.K}``, ``${params.X}``).
:func:`run_pipeline` runs it: independent steps at once (each in its own process, with its own
kernel), dependants in order, every executed notebook saved under
``workspace/pipelines/<name>/<run>/`` with a ``run.json``. A step whose notebook code, resolved
parameters and package version did not change since a successful run is copied from the cache.

A notebook hands values to later steps with :func:`publish`; this module imports nothing heavy, so
notebooks can call it freely (the rest of the API loads on first use).
"""

from __future__ import annotations

from ._outputs import OUTPUTS_ENV, publish

__all__ = ["OUTPUTS_ENV", "Pipeline", "PipelineError", "Step", "find_pipelines", "list_runs", "load_pipeline", "load_run",
           "publish", "run_pipeline"]

_LAZY = {
    "Pipeline": "_spec", "PipelineError": "_spec", "Step": "_spec", "find_pipelines": "_spec", "load_pipeline": "_spec",
    "list_runs": "_records", "load_run": "_records", "run_pipeline": "_runner",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
