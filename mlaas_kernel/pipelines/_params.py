"""Pipeline parameters: ``-p NAME VALUE`` parsed as YAML scalars, checked against the declared ones;
step parameters checked against each notebook's cell tagged ``parameters``."""

from __future__ import annotations

from ._spec import Pipeline, PipelineError, limit_problem


def parse_value(text: str):
    """``text`` as a YAML scalar: ``2`` an int, ``0.5`` a float, ``true`` a bool, ``null`` None, ``mnist`` a string."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if value is None and text.strip().lower() not in ("null", "~", "none", "") else value


def _fits(default, value):
    """``value`` as the pipeline gets it (a whole float for an int default becomes that int), or raise TypeError."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)  # "2.0" means 2 epochs; 1.5 has no meaning for a count
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    else:
        return value
    raise TypeError(value)


def _kind(value) -> str:
    return {bool: "a bool (true or false)", int: "an int (a whole number)", float: "a number"}.get(type(value), type(value).__name__)


def apply_overrides(pipeline: Pipeline, base: dict, overrides: dict | list | None) -> dict:
    """``base`` (the defaults, or a resumed run's parameters) with ``overrides`` applied and checked.

    ``overrides`` is a mapping or ``(NAME, VALUE)`` pairs; text values parse as YAML scalars.
    """
    params = dict(base)
    pairs = overrides.items() if isinstance(overrides, dict) else (overrides or [])
    declared = pipeline.parameters
    for name, value in pairs:
        if name not in declared:
            listed = ", ".join(f"{k} (default {v!r})" for k, v in declared.items()) or "none"
            raise PipelineError(f"{pipeline.path}: pipeline {pipeline.name!r} has no parameter {name!r}; its parameters: {listed}")
        if isinstance(value, str):
            value = parse_value(value)
        try:
            params[name] = _fits(declared[name], value)
        except TypeError:
            raise PipelineError(f"{pipeline.path}: parameter {name!r} takes {_kind(declared[name])} like its default "
                                f"{declared[name]!r}, not {value!r}") from None
        problem = limit_problem(name, params[name], pipeline.limits.get(name, {}))
        if problem:
            raise PipelineError(f"{pipeline.path}: {problem}: the pipeline's limits (nothing has run)")
    return params


def notebook_parameters(notebook) -> list[str] | None:
    """The names assigned in the notebook's cell tagged ``parameters`` (None when it cannot be read as Python).

    Read with ``ast`` rather than papermill's ``inspect_notebook``, whose import costs seconds.
    """
    import ast
    import json
    from pathlib import Path

    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in (cell.get("metadata", {}).get("tags") or []):
            src = cell.get("source", "")
            try:
                tree = ast.parse("".join(src) if isinstance(src, list) else src)
            except SyntaxError:
                return None
            names = []
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
                names += [t.id for t in targets if isinstance(t, ast.Name)]
            return names
    return []


def check_notebooks(pipeline: Pipeline) -> None:
    """Every step's parameters exist in its notebook's cell tagged ``parameters`` (papermill would
    only warn and run with the defaults, so a typo would pass unnoticed)."""
    for name in pipeline.order:
        step = pipeline.steps[name]
        if not step.parameters:
            continue
        known = notebook_parameters(pipeline.notebook_path(name))
        if known is None:
            continue
        wrong = sorted(set(step.parameters) - set(known))
        if wrong:
            have = ", ".join(known) or "none (no cell tagged 'parameters')"
            raise PipelineError(f"{pipeline.path}: step {name!r}: notebook {step.notebook} has no parameter "
                                f"{', '.join(map(repr, wrong))}; its parameters: {have}")
