"""``${params.X}`` and ``${steps.S.outputs.K}`` references in step parameters."""

from __future__ import annotations

import re

REF = re.compile(r"\$\{([^}]*)\}")
_PARAM = re.compile(r"^params\.([A-Za-z_][\w-]*)$")
_OUTPUT = re.compile(r"^steps\.([A-Za-z0-9][\w-]*)\.outputs\.([A-Za-z_][\w-]*)$")


class RefError(ValueError):
    """A reference that is malformed or names nothing."""


def parse(expr: str) -> tuple[str, ...]:
    """``("params", X)`` or ``("steps", S, K)`` for the text inside ``${...}``."""
    text = expr.strip()
    m = _PARAM.match(text)
    if m:
        return ("params", m.group(1))
    m = _OUTPUT.match(text)
    if m:
        return ("steps", m.group(1), m.group(2))
    raise RefError(f"unknown reference ${{{expr}}}: write ${{params.NAME}} or ${{steps.STEP.outputs.NAME}}")


def references(value) -> list[tuple[str, ...]]:
    """Every reference inside ``value`` (strings, lists and mappings, nested)."""
    if isinstance(value, str):
        return [parse(m.group(1)) for m in REF.finditer(value)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return []


def resolve(value, params: dict, outputs: dict[str, dict]):
    """``value`` with its references replaced: one whole reference keeps the referenced type,
    references inside longer text are formatted with ``str()``."""
    if isinstance(value, dict):
        return {k: resolve(v, params, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, params, outputs) for v in value]
    if not isinstance(value, str):
        return value
    whole = REF.fullmatch(value.strip())
    if whole:
        return _lookup(parse(whole.group(1)), params, outputs)
    return REF.sub(lambda m: str(_lookup(parse(m.group(1)), params, outputs)), value)


def _lookup(ref: tuple[str, ...], params: dict, outputs: dict[str, dict]):
    if ref[0] == "params":
        if ref[1] not in params:
            raise RefError(f"${{params.{ref[1]}}}: no such pipeline parameter; declared: {', '.join(params) or '(none)'}")
        return params[ref[1]]
    step, key = ref[1], ref[2]
    published = outputs.get(step) or {}
    if key not in published:
        raise RefError(f"${{steps.{step}.outputs.{key}}}: step {step!r} did not publish {key!r}; "
                       f"it published: {', '.join(sorted(published)) or '(nothing)'} "
                       "(a notebook publishes with mlaas_kernel.pipelines.publish(NAME=value))")
    return published[key]


def resolve_available(parameters: dict, params: dict, outputs: dict[str, dict], unfinished: set[str]) -> tuple[dict, list[str]]:
    """``parameters`` resolved, leaving out each one that refers to an output a step in ``unfinished``
    (failed, skipped, unavailable) did not publish; returns them and the names left out.

    For a cleanup step (``always: true``): the notebook's own default stands in for what never came.
    An output a finished step did not publish is still an error.
    """
    resolved, left_out = {}, []
    for name, value in parameters.items():
        try:
            resolved[name] = resolve(value, params, outputs)
        except RefError:
            if not any(ref[0] == "steps" and ref[1] in unfinished for ref in references(value)):
                raise
            left_out.append(name)
    return resolved, left_out
