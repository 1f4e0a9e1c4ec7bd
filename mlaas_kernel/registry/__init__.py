"""The model registry: a run's model as a version of a registered model, with lineage and aliases that move.

MLflow's model registry on the workspace's store (the same SQLite file as the runs, see
:mod:`mlaas_kernel.track`). :func:`register` exports a run's model to ONNX (parity checked),
logs it on the run as an MLflow ONNX model (so ``mlflow.pyfunc.load_model("models:/NAME@champion")``
and ``mlflow models serve`` run it with ONNX Runtime) and registers it with lineage tags
(``mlaas.lineage.dataset``, ``dataset_fingerprint``, ``label_snapshot``, ``code_version``, ``run_id``)
and its key metric. A model's first version is its ``champion``, later ones its ``challenger``;
:func:`promote` and :func:`rollback` move an alias and keep its history.

References: ``NAME@ALIAS``, ``NAME/VERSION`` or ``NAME`` (its champion), parsed by :func:`parse_ref`;
:func:`resolve` turns one into a :class:`Version`.
"""

from ._aliases import alias_history, promote, rollback
from ._lineage import code_version, default_name, lower_is_better
from ._refs import CHALLENGER, DEFAULT_ALIAS, Ref, RegistryError, parse_ref
from ._best import register_best
from ._figures import answer_probabilities, versions_figure
from ._register import MODEL_NAME, register
from ._uri import download_model, fluent_uri, load_pyfunc
from ._versions import ModelSummary, Version, list_models, resolve, run_versions

__all__ = ["CHALLENGER", "DEFAULT_ALIAS", "MODEL_NAME", "ModelSummary", "Ref", "RegistryError", "Version", "alias_history", "answer_probabilities",
           "code_version", "default_name", "download_model", "fluent_uri", "list_models", "load_pyfunc", "lower_is_better", "parse_ref", "promote",
           "register", "register_best", "resolve", "rollback", "run_versions", "versions_figure"]
