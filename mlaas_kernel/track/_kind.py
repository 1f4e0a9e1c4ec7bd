"""The experiment kind MLflow's UI offers for an experiment: "Machine learning" (model training), not GenAI.

MLflow 3 keeps an experiment's kind in the tag ``mlflow.experimentKind`` (values as its UI's enum:
``custom_model_development`` is "Machine learning", ``genai_development`` "GenAI apps & agents"); the
UI's kind selector in the experiment's header writes it, and MLflow's own demo sets it on its GenAI
experiment (``mlflow/demo/generators/traces.py``). Every experiment this workbench makes trains models,
so it carries the training kind, and an experiment made before this (an older workspace) gets it the
next time :func:`mlaas_kernel.track.setup` opens it.

MLflow 3.17's UI decides the view an experiment opens in from its "Model training" / "GenAI" switch
(the URL's ``workflowType``, else the browser's localStorage, else GenAI), not from this tag (measured
in Chromium: a tagged experiment clicked in the list still opened GenAI's Overview). The browser side
is :mod:`mlaas_kernel.track._mlflow_page` (the page Lab's proxy and ``mlflow server --app-name mlaas``
serve); this tag is what the server can say.
"""

from __future__ import annotations

KIND_TAG = "mlflow.experimentKind"
TRAINING = "custom_model_development"


def training_tags() -> dict[str, str]:
    """The tags an experiment is created with so that MLflow calls it a model-training one."""
    return {KIND_TAG: TRAINING}


def mark_training(client, experiment_id: str, tags: dict | None = None) -> bool:
    """Tag experiment ``experiment_id`` as model training unless it already has a kind; True when tagged now.

    ``tags`` (the experiment's, when the caller has them) saves a read. A kind someone chose (the UI's
    selector, or GenAI set on purpose) is left as it is.
    """
    if tags is None:
        tags = client.get_experiment(experiment_id).tags
    if tags.get(KIND_TAG):
        return False
    client.set_experiment_tag(experiment_id, KIND_TAG, TRAINING)
    return True
