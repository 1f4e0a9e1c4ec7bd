"""Active learning: which item to label next, and a learner that retrains off the UI thread.

- :mod:`._strategies`: query strategies, pure functions of predicted probabilities.
- :mod:`._typical`: the cold start, typical points of k-means clusters of an embedding.
- :mod:`._spreading`: label spreading over the embedding, the source of suggestions.
- :mod:`._learner`: :class:`ActiveLearner`, which ties them together without blocking the UI.

>>> emb = embedding.BackgroundEmbedding.for_dataset(ds).start()        # minutes, in a child process
>>> learner = ActiveLearner(image_features(images), embedding=emb)     # usable at once
>>> learner.next_items(3), learner.status, learner.reason(item), learner.suggestion(item)
"""

from ._learner import ActiveLearner
from ._spreading import SpreadingModel
from ._strategies import STRATEGIES, default_model, entropy, image_features, least_confidence, margin, random_sampling, select, top_two
from ._typical import TypicalPick, cluster_count, typical_points, typicality

__all__ = [
    "ActiveLearner",
    "STRATEGIES",
    "SpreadingModel",
    "TypicalPick",
    "cluster_count",
    "default_model",
    "entropy",
    "for_dataset",
    "image_features",
    "least_confidence",
    "margin",
    "random_sampling",
    "select",
    "top_two",
    "typical_points",
    "typicality",
]


def for_dataset(dataset, *, items=None, embedding: bool = True, params=None, **options) -> ActiveLearner:
    """An :class:`ActiveLearner` over an image dataset's ``items`` (row positions; all by default).

    Features are :func:`image_features` of those images; with ``embedding`` the dataset's UMAP
    embedding is read from its cache or computed in the background (:mod:`mlaas_kernel.embedding`).
    ``options`` go to :class:`ActiveLearner`.
    """
    import numpy as np

    from ..embedding import BackgroundEmbedding

    items = np.arange(len(dataset)) if items is None else np.asarray(items, dtype=np.int64)
    features = image_features(dataset.images()[items], random_state=options.get("random_state", 0))
    emb = BackgroundEmbedding.for_dataset(dataset, params=params).start() if embedding else None
    return ActiveLearner(features, items=items, embedding=emb, **options)
