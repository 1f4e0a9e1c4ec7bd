"""Pipeline specs: find them, load YAML or TOML, validate every field, name what is wrong and where.

Top-level keys: ``name`` (the file's stem), ``description``, ``parameters`` (NAME: default), ``limits``
(NAME: {min, max} for numeric parameters, checked on ``-p`` before anything runs), ``steps``, ``missing``.

A step's keys: ``notebook`` (required), ``needs``, ``parameters``, ``timeout`` (seconds per cell),
``requires`` (importable modules, or ``gpu``), and two for steps with side effects:

- ``cache: false``: the step runs every time (never copied from the cache, and again on a resume);
  steps after it are cached only while what it publishes stays the same.
- ``always: true``: a cleanup step. It runs once each of its dependencies has finished, whatever their
  status (failed, skipped, unavailable), and after Ctrl-C when a step before it had run (a second Ctrl-C
  stops it too); a parameter that refers to an output a dependency did not
  publish is left out, so the notebook's own default applies. It is never cached, runs again at the
  end of a resume, and its own failure fails the run as any step's does.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import _dag, _refs

SUFFIXES = (".yaml", ".yml", ".toml")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_TOP_KEYS = ("name", "description", "parameters", "limits", "steps", "missing")
_STEP_KEYS = ("notebook", "needs", "parameters", "timeout", "requires", "cache", "always")


class PipelineError(ValueError):
    """A spec, a parameter or a run reference that is wrong: the message names the file and the problem."""


@dataclass(frozen=True)
class Step:
    name: str
    notebook: str  # relative to the pipeline's root, as written
    needs: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)
    timeout: float | None = None
    requires: tuple[str, ...] = ()
    cache: bool = True  # False: run every time, never copied from the cache
    always: bool = False  # run after its dependencies whatever their status (cleanup)

    @property
    def fresh(self) -> bool:
        """Whether the step runs every time (``cache: false`` or ``always: true``)."""
        return self.always or not self.cache


@dataclass(frozen=True)
class Pipeline:
    name: str
    path: Path
    root: Path  # the folder notebook paths are relative to (the one above the pipelines folder)
    description: str
    parameters: dict
    steps: dict[str, Step]
    deps: dict[str, frozenset[str]]  # needs plus the steps whose outputs a step references
    order: tuple[str, ...]
    missing: tuple[str, ...] = ()
    limits: dict = field(default_factory=dict)  # parameter -> {"min": n, "max": n}, checked before any step runs

    def notebook_path(self, step: str) -> Path:
        return self.root / self.steps[step].notebook


def pipelines_dir() -> Path:
    """``$MLAAS_PIPELINES``, else ``./pipelines``."""
    return Path(os.environ.get("MLAAS_PIPELINES") or "pipelines").expanduser().absolute()


def find_pipelines(folder: str | os.PathLike | None = None) -> list[Pipeline]:
    """Every valid pipeline in ``folder`` (default :func:`pipelines_dir`), by name; raises on the first invalid one."""
    folder = Path(folder) if folder else pipelines_dir()
    files = sorted(p for p in folder.glob("*") if p.suffix in SUFFIXES) if folder.is_dir() else []
    return [load_pipeline(p) for p in files]


def spec_path(name_or_path: str | os.PathLike) -> Path:
    text = str(name_or_path)
    if Path(text).suffix in SUFFIXES or os.sep in text:
        path = Path(text).expanduser().absolute()
        if not path.is_file():
            raise PipelineError(f"{text}: no such pipeline file")
        return path
    folder = pipelines_dir()
    for suffix in SUFFIXES:
        if (folder / f"{text}{suffix}").is_file():
            return folder / f"{text}{suffix}"
    have = sorted(p.stem for p in folder.glob("*") if p.suffix in SUFFIXES) if folder.is_dir() else []
    raise PipelineError(f"no pipeline {text!r} in {folder}; pipelines: {', '.join(have) or '(none)'}")


def _read(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the file's fault, said with its message
        raise PipelineError(f"{path}: cannot be read as {path.suffix[1:].upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise PipelineError(f"{path}: the spec must be a mapping with name, steps, ... (got {type(data).__name__})")
    return data


def load_pipeline(name_or_path: str | os.PathLike) -> Pipeline:
    """The pipeline named ``name_or_path`` (in :func:`pipelines_dir`) or in that file, validated."""
    path = spec_path(name_or_path)
    data = _read(path)
    where = str(path)
    _unknown_keys(where, data, _TOP_KEYS)
    name = data.get("name")
    if name != path.stem:
        raise PipelineError(f"{where}: name must equal the file name's stem {path.stem!r} (got {name!r})")
    params = data.get("parameters") or {}
    if not isinstance(params, dict):
        raise PipelineError(f"{where}: parameters must be a mapping of NAME: default")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, dict) or not raw_steps:
        raise PipelineError(f"{where}: steps must be a non-empty mapping of STEP: {{notebook: ...}}")
    root = path.parent.parent
    steps = {s: _step(where, root, s, spec) for s, spec in raw_steps.items()}
    deps = {s: _dependencies(where, steps, params, step) for s, step in steps.items()}
    try:
        order = _dag.topological_order(deps)
    except ValueError as exc:
        raise PipelineError(f"{where}: steps form {exc}") from None
    missing = data.get("missing") or []
    if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
        raise PipelineError(f"{where}: missing must be a list of strings (what a not-yet-built capability would add)")
    return Pipeline(name=name, path=path, root=root, description=str(data.get("description") or ""), parameters=dict(params),
                    steps=steps, deps={s: frozenset(d) for s, d in deps.items()}, order=tuple(order), missing=tuple(missing),
                    limits=_limits(where, data.get("limits"), params))


def _limits(where: str, limits, params: dict) -> dict:
    """``limits: {epochs: {min: 1}}``: bounds on numeric parameters, so a value no step could use is refused at once."""
    if limits is None:
        return {}
    if not isinstance(limits, dict):
        raise PipelineError(f"{where}: limits must be a mapping of PARAMETER: {{min: N, max: N}}")
    out = {}
    for name, bounds in limits.items():
        here = f"{where}: limits of {name!r}"
        if name not in params:
            raise PipelineError(f"{here}: no such parameter; declared: {', '.join(params) or '(none)'}")
        if not isinstance(bounds, dict) or not bounds or set(bounds) - {"min", "max"}:
            raise PipelineError(f"{here}: must be a mapping with min and/or max (got {bounds!r})")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in bounds.values()):
            raise PipelineError(f"{here}: min and max must be numbers (got {bounds!r})")
        default = params[name]
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise PipelineError(f"{here}: its default {default!r} is not a number; limits bound numeric parameters")
        out[name] = dict(bounds)
        problem = limit_problem(name, params[name], out[name])
        if problem:
            raise PipelineError(f"{here}: the default breaks them: {problem}")
    return out


def limit_problem(name: str, value, bounds: dict) -> str | None:
    """What is wrong with ``value`` of parameter ``name`` under ``bounds`` (min, max), or None."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if "min" in bounds and value < bounds["min"]:
        return f"parameter {name!r} must be at least {bounds['min']} (got {value!r})"
    if "max" in bounds and value > bounds["max"]:
        return f"parameter {name!r} must be at most {bounds['max']} (got {value!r})"
    return None


def _unknown_keys(where: str, data: dict, known: tuple[str, ...]) -> None:
    wrong = [k for k in data if k not in known]
    if wrong:
        raise PipelineError(f"{where}: unknown key {', '.join(map(repr, wrong))}; known keys: {', '.join(known)}")


def _str_list(where: str, value, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PipelineError(f"{where}: {what} must be a list of names")
    return tuple(value)


def _step(where: str, root: Path, name, spec) -> Step:
    if not isinstance(name, str) or not _NAME.match(name):
        raise PipelineError(f"{where}: step name {name!r} is not allowed: use letters, digits, '_' or '-'")
    here = f"{where}: step {name!r}"
    if not isinstance(spec, dict):
        raise PipelineError(f"{here}: must be a mapping with a notebook")
    _unknown_keys(here, spec, _STEP_KEYS)
    notebook = spec.get("notebook")
    if not isinstance(notebook, str) or not notebook.endswith(".ipynb"):
        raise PipelineError(f"{here}: notebook must be the path of an .ipynb relative to {root} (got {notebook!r})")
    if not (root / notebook).is_file():
        raise PipelineError(f"{here}: notebook {notebook} not found (paths are relative to {root})")
    parameters = spec.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise PipelineError(f"{here}: parameters must be a mapping of NAME: value")
    timeout = spec.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise PipelineError(f"{here}: timeout must be a positive number of seconds per cell (got {timeout!r})")
    return Step(name=name, notebook=notebook, needs=_str_list(here, spec.get("needs"), "needs"), parameters=dict(parameters),
                timeout=timeout, requires=_str_list(here, spec.get("requires"), "requires"),
                cache=_flag(here, spec, "cache", True), always=_flag(here, spec, "always", False))


def _flag(where: str, spec: dict, key: str, default: bool) -> bool:
    value = spec.get(key, default)
    if not isinstance(value, bool):
        raise PipelineError(f"{where}: {key} must be true or false (got {value!r})")
    return value


def _dependencies(where: str, steps: dict[str, Step], params: dict, step: Step) -> set[str]:
    here = f"{where}: step {step.name!r}"
    deps = set()
    for need in step.needs:
        if need not in steps:
            raise PipelineError(f"{here}: needs {need!r}, which is not a step; steps: {', '.join(steps)}")
        deps.add(need)
    try:
        refs = _refs.references(step.parameters)
    except _refs.RefError as exc:
        raise PipelineError(f"{here}: {exc}") from None
    for ref in refs:
        if ref[0] == "params" and ref[1] not in params:
            raise PipelineError(f"{here}: ${{params.{ref[1]}}} names no pipeline parameter; declared: {', '.join(params) or '(none)'}")
        if ref[0] == "steps":
            if ref[1] not in steps:
                raise PipelineError(f"{here}: ${{steps.{ref[1]}.outputs.{ref[2]}}} names no step; steps: {', '.join(steps)}")
            if ref[1] == step.name:
                raise PipelineError(f"{here}: refers to its own output ${{steps.{ref[1]}.outputs.{ref[2]}}}")
            deps.add(ref[1])
    return deps
