"""Search spaces: named parameters with their ranges, suggested through an Optuna trial.

A space is stored with its study (user attribute ``mlaas.space``), so a study reused with
another space is refused, and ``--space NAME=LOW:HIGH[:log]`` / ``NAME=A,B,C`` overrides one
parameter of the default space.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from ._storage import TuneError


@dataclass(frozen=True)
class Param:
    """One searched parameter: ``kind`` is ``float``, ``int`` or ``choice`` (then ``choices``)."""

    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()

    def __post_init__(self):
        if self.kind == "choice":
            if not self.choices:
                raise TuneError("a choice parameter needs at least one value")
        elif self.kind in ("float", "int"):
            if self.low is None or self.high is None or self.low > self.high:
                raise TuneError(f"range {self.low}:{self.high} is empty: LOW must not be above HIGH")
            if self.log and self.low <= 0:
                raise TuneError(f"a log range needs LOW above 0, got {self.low}")
        else:
            raise TuneError(f"unknown parameter kind {self.kind!r}")

    def suggest(self, trial, name: str):
        if self.kind == "choice":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), log=self.log)

    def describe(self) -> str:
        if self.kind == "choice":
            return ",".join(map(str, self.choices))
        return f"{self.low:g}:{self.high:g}" + (":log" if self.log else "")


@dataclass(frozen=True)
class SearchSpace:
    """The parameters a study searches (``params``) for one kind of model (``model``)."""

    model: str
    params: dict[str, Param] = field(default_factory=dict)

    def suggest(self, trial) -> dict:
        """One value per parameter, drawn by the study's sampler."""
        return {name: p.suggest(trial, name) for name, p in self.params.items()}

    def to_json(self) -> str:
        return json.dumps({"model": self.model, "params": {k: asdict(p) for k, p in self.params.items()}})  # in order

    @classmethod
    def from_json(cls, text: str) -> "SearchSpace":
        d = json.loads(text)
        return cls(d["model"], {k: Param(v["kind"], v["low"], v["high"], v["log"], tuple(v["choices"])) for k, v in d["params"].items()})

    def describe(self) -> str:
        """``model: name=range, ...``, as people write ``--space``."""
        return f"{self.model}: " + " ".join(f"{k}={p.describe()}" for k, p in self.params.items())

    def override(self, specs) -> "SearchSpace":
        """A copy with ``NAME=LOW:HIGH[:log]`` or ``NAME=A,B,C`` (one value: fixed) replacing parameters."""
        params = dict(self.params)
        for spec in specs or ():
            name, param = parse_override(spec, self)
            params[name] = param
        return SearchSpace(self.model, params)


def _number(text: str, spec: str):
    try:
        return int(text) if text.lstrip("+-").isdigit() else float(text)
    except ValueError:
        raise TuneError(f"--space {spec!r}: {text!r} is not a number") from None


def parse_override(spec: str, space: SearchSpace) -> tuple[str, Param]:
    """``lr=1e-4:1e-2:log`` -> (``lr``, Param); a clear error naming the spec when it is wrong."""
    name, eq, rest = spec.partition("=")
    name = name.strip()
    if not eq or not name or not rest:
        raise TuneError(f"--space {spec!r}: write NAME=LOW:HIGH[:log] or NAME=A,B,C")
    if name not in space.params:
        raise TuneError(f"--space {spec!r}: {space.model} has no parameter {name!r}; it has {', '.join(space.params)}")
    old = space.params[name]
    if ":" not in rest:
        values = tuple(_number(v, spec) if old.kind != "choice" or _numeric(v) else v for v in rest.split(","))
        return name, Param("choice", choices=values)
    parts = rest.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
        raise TuneError(f"--space {spec!r}: write NAME=LOW:HIGH or NAME=LOW:HIGH:log")
    low, high = _number(parts[0], spec), _number(parts[1], spec)
    kind = "int" if old.kind == "int" or (old.kind == "choice" and all(isinstance(c, int) for c in old.choices)) else "float"
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise TuneError(f"--space {spec!r}: {name} takes whole numbers")
    try:
        return name, Param(kind, low, high, log=len(parts) == 3)
    except TuneError as exc:
        raise TuneError(f"--space {spec!r}: {exc}") from None


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# Ranges chosen so that a 30-trial study of the CNN on 8,000 MNIST digits fits in ~10 minutes on 2 CPU cores.
CNN_SPACE = SearchSpace("cnn", {
    "max_lr": Param("float", 1e-3, 3e-2, log=True),
    "width": Param("int", 8, 32),
    "dropout": Param("float", 0.0, 0.5),
    "batch_size": Param("choice", choices=(64, 128, 256)),
    "epochs": Param("int", 2, 6),
})

FOREST_SPACE = SearchSpace("forest", {
    "n_estimators": Param("int", 50, 400, log=True),
    "max_depth": Param("int", 3, 30),
    "min_samples_leaf": Param("int", 1, 10),
    "max_features": Param("float", 0.2, 1.0),
})

SPACES = {"cnn": CNN_SPACE, "forest": FOREST_SPACE}


def default_space(model: str) -> SearchSpace:
    """The default search space of ``model`` (``cnn`` or ``forest``)."""
    if model not in SPACES:
        raise TuneError(f"unknown model kind {model!r}; choose one of {', '.join(SPACES)}")
    return SPACES[model]
