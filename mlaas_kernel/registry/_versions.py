"""Reading the registry: one version by reference (:func:`resolve`), every model with its versions (:func:`list_models`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ._refs import Ref, RegistryError, parse_ref

KEY_METRIC_TAG = "mlaas.key_metric"  # on each version: the metric it was judged by (accuracy, silhouette, r2...)


@dataclass(frozen=True)
class Version:
    """One registered version: what it is, where its model is, and the run that made it."""

    name: str
    version: int
    run_id: str
    aliases: tuple[str, ...]
    tags: dict
    metrics: dict  # the run's metrics
    source: str  # the model's URI in MLflow (models:/m-... for a logged model)
    created: int  # ms since the epoch
    notes: tuple[str, ...] = field(default=(), compare=False)  # what registering it said (parity, reuse)

    @property
    def ref(self) -> Ref:
        return Ref(self.name, version=self.version)

    @property
    def uri(self) -> str:
        """``models:/NAME/VERSION``: what ``mlflow.pyfunc.load_model`` takes."""
        return self.ref.uri

    @property
    def key_metric(self) -> tuple[str, float] | None:
        """``(metric, value)`` the version was judged by, when the run has it."""
        key = self.tags.get(KEY_METRIC_TAG)
        return (key, float(self.metrics[key])) if key and key in self.metrics else None

    @property
    def lineage(self) -> dict:
        """The ``mlaas.lineage.*`` tags without their prefix."""
        return {k.removeprefix("mlaas.lineage."): v for k, v in self.tags.items() if k.startswith("mlaas.lineage.")}


@dataclass(frozen=True)
class ModelSummary:
    """A registered model: its versions (newest first) and which version each alias points at."""

    name: str
    versions: tuple[Version, ...]
    aliases: dict  # alias -> version number
    tags: dict


def client(workspace_dir: str | os.PathLike | None = None):
    """The MLflow client on the workspace's store (tracking and registry are the same SQLite file)."""
    from ..track import setup

    return setup(workspace_dir=workspace_dir)[0]


def _missing(exc) -> bool:
    return getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") or "not found" in str(exc).lower()


def model_names(c) -> list[str]:
    return sorted(m.name for m in c.search_registered_models(max_results=1000))


def registered_model(c, name: str):
    """The MLflow RegisteredModel ``name``, or RegistryError listing the names there are."""
    from mlflow.exceptions import MlflowException

    try:
        return c.get_registered_model(name)
    except MlflowException as exc:
        if not _missing(exc):
            raise
    names = model_names(c)
    there = f"registered models: {', '.join(names)}" if names else "no model is registered there yet (`mlaas models register RUN`)"
    raise RegistryError(f"no registered model {name!r} in {store_place(c)}; {there}. {WORKSPACE_HINT}")


WORKSPACE_HINT = "Commands use the workspace $MLAAS_WORKSPACE names, else ./workspace in the current folder: set MLAAS_WORKSPACE to use another"


def store_place(c) -> str:
    """Where client ``c`` looks, in words: ``the workspace /path/workspace`` (its SQLite store's folder), else its tracking URI."""
    from ..track._store import STORE_NAME

    uri = str(getattr(c, "tracking_uri", "") or "")
    if uri.startswith("sqlite:///") and uri.endswith("/" + STORE_NAME):
        return f"the workspace {uri.removeprefix('sqlite:///').removesuffix('/' + STORE_NAME)}"
    return f"the tracking store {uri}" if uri else "the tracking store"


def to_version(c, mv, *, notes: tuple[str, ...] = (), aliases: dict | None = None) -> Version:
    """Our :class:`Version` of an MLflow ModelVersion (with its run's metrics); ``aliases`` (alias -> version,
    the registered model's) stands in for the version's own, which ``search_model_versions`` leaves empty."""
    from mlflow.exceptions import MlflowException

    try:
        metrics = dict(c.get_run(mv.run_id).data.metrics) if mv.run_id else {}
    except MlflowException:  # the run was deleted: the version stays usable
        metrics = {}
    own = mv.aliases if aliases is None else [a for a, v in aliases.items() if int(v) == int(mv.version)]
    return Version(mv.name, int(mv.version), mv.run_id or "", tuple(sorted(own or ())), dict(mv.tags or {}), metrics,
                   mv.source, int(mv.creation_timestamp or 0), notes)


def versions_of(c, name: str) -> list:
    """MLflow ModelVersions of ``name``, newest first."""
    found = c.search_model_versions(f"name = '{name}'", max_results=1000)
    return sorted(found, key=lambda mv: -int(mv.version))


def _by_alias(c, model, ref: Ref):
    aliases = dict(model.aliases or {})
    if ref.alias not in aliases:
        there = ", ".join(f"{a} -> version {v}" for a, v in sorted(aliases.items())) or "none"
        raise RegistryError(f"model {ref.name!r} has no alias {ref.alias!r} (its aliases: {there}); "
                            f"`mlaas models promote {ref.name} --version V --alias {ref.alias}` sets it")
    return c.get_model_version(ref.name, str(aliases[ref.alias]))


def _by_number(c, ref: Ref):
    from mlflow.exceptions import MlflowException

    try:
        return c.get_model_version(ref.name, str(ref.version))
    except MlflowException as exc:
        if not _missing(exc):
            raise
    numbers = sorted(int(mv.version) for mv in versions_of(c, ref.name))
    raise RegistryError(f"model {ref.name!r} has no version {ref.version} (its versions: {', '.join(map(str, numbers)) or 'none'})")


def resolve(ref: str | Ref, *, workspace_dir: str | os.PathLike | None = None) -> Version:
    """The :class:`Version` that ``ref`` (``NAME@ALIAS``, ``NAME/VERSION``, ``NAME``) names now; RegistryError when none."""
    ref = ref if isinstance(ref, Ref) else parse_ref(ref)
    c = client(workspace_dir)
    model = registered_model(c, ref.name)
    mv = _by_number(c, ref) if ref.version is not None else _by_alias(c, model, ref)
    return to_version(c, mv)


def run_versions(run_id: str, *, workspace_dir: str | os.PathLike | None = None) -> list[Version]:
    """The registered versions made from run ``run_id`` (a full id), every model's, oldest first."""
    c = client(workspace_dir)
    found = c.search_model_versions(f"run_id = '{run_id}'", max_results=1000)
    return [to_version(c, mv) for mv in sorted(found, key=lambda mv: (mv.name, int(mv.version)))]


def list_models(*, workspace_dir: str | os.PathLike | None = None) -> list[ModelSummary]:
    """Every registered model (by name) with its versions, newest first, and its aliases."""
    c = client(workspace_dir)
    out = []
    for model in sorted(c.search_registered_models(max_results=1000), key=lambda m: m.name):
        aliases = {a: int(v) for a, v in (model.aliases or {}).items()}
        versions = tuple(to_version(c, mv, aliases=aliases) for mv in versions_of(c, model.name))
        out.append(ModelSummary(model.name, versions, aliases, dict(model.tags or {})))
    return out
