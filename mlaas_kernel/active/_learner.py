"""The active learner: a queue that reranks and a model that retrains, both off the UI thread."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Sequence

from ._spreading import SpreadingModel
from ._strategies import STRATEGIES, default_model, select, top_two
from ._typical import TypicalPick, cluster_count, typical_points

__all__ = ["ActiveLearner"]


class _PoolLabels(dict):
    """``{item: label}`` that drops (and remembers) items outside the learner's pool.

    Callers write labels straight into ``learner.labels`` (the labeler replays an annotator's
    stored labels, which may cover other items); a foreign item must not reach the retrain.
    """

    def __init__(self, pool: dict[int, int]):
        super().__init__()
        self._pool = pool
        self.foreign: set[int] = set()

    def __setitem__(self, item, label) -> None:
        item = int(item)
        if item in self._pool:
            super().__setitem__(item, str(label))
        else:
            self.foreign.add(item)

    def update(self, *args, **kwargs) -> None:
        for item, label in dict(*args, **kwargs).items():
            self[item] = label

    def setdefault(self, item, label=None):
        if int(item) not in self:
            self[item] = label
        return self.get(int(item))


class ActiveLearner:
    """Ranks unlabeled items and retrains in the background every ``retrain_every`` labels.

    ``teach()`` only records a label and may start a retrain in a worker thread; it never
    waits for one. When a retrain ends, the ranking, the suggestions and ``history`` are
    swapped in at once and ``on_update`` callbacks run (on the worker thread). A retrain that
    raises is recorded in ``error`` and the next one runs as usual.

    With an ``embedding`` the queue improves once the embedding is ready (until then it works
    as without one, and ``status`` says so): the first ``cold_start`` labels go to the typical
    points of k-means clusters of the embedding (:mod:`._typical`), suggestions come from label
    spreading over it (:mod:`._spreading`), and after the cold start ``strategy`` ranks by the
    spreading's probabilities.

    Parameters
    ----------
    features:
        One row of features per item; item ids are the row positions unless ``items`` is given.
    model:
        A zero-argument factory of an estimator with ``fit`` and ``predict_proba`` on ``features``.
    strategy:
        A name in :data:`STRATEGIES`.
    retrain_every:
        Labels between retrains.
    batch:
        Items asked for between rankings: the typical-point cold start forms ``labels + batch``
        clusters; the diversity step picks ``batch`` spread-out items.
    holdout:
        Optional ``(features, labels)`` on which each model trained on ``features`` is scored
        (the learning curve's ``accuracy``).
    diversity:
        Use the k-means diversity step when ranking a batch.
    embedding:
        None, an array with one row per item (in the order of ``features``), or a
        :class:`mlaas_kernel.embedding.BackgroundEmbedding` whose rows are indexed by item id
        (started here if it was not).
    cold_start:
        Labels up to which typical points lead the queue once the embedding is ready (0: never).
    spreading_neighbors:
        Neighbours in label spreading's graph.
    features_name:
        What ``features`` are, for ``status``.
    """

    def __init__(self, features, *, items: Sequence[int] | None = None, model: Callable[[], Any] = default_model,
                 strategy: str = "margin", retrain_every: int = 10, batch: int = 50, holdout=None,
                 diversity: bool = False, random_state: int = 0, embedding=None, cold_start: int = 100,
                 spreading_neighbors: int = 20, max_clusters: int = 500, features_name: str = "PCA features"):
        import numpy as np

        STRATEGIES.get(strategy)  # a bad name fails here, listing the valid ones
        self.features = np.asarray(features)
        self.items = np.asarray(items if items is not None else np.arange(len(self.features)))
        if len(self.items) != len(self.features):
            raise ValueError(f"{len(self.items)} item ids for {len(self.features)} feature rows")
        if retrain_every < 1 or batch < 1:
            raise ValueError(f"retrain_every and batch must be at least 1, got {retrain_every} and {batch}")
        self._pos = {int(i): p for p, i in enumerate(self.items)}
        self.model_factory, self.strategy, self.retrain_every, self.batch = model, strategy, retrain_every, batch
        self.holdout, self.diversity, self.random_state = holdout, diversity, random_state
        self.cold_start, self.spreading_neighbors, self.max_clusters = cold_start, spreading_neighbors, max_clusters
        self.features_name = features_name
        self.labels: dict[int, str] = _PoolLabels(self._pos)
        self.history: list[dict] = []
        self.on_update: list[Callable[["ActiveLearner"], None]] = []
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._since_retrain = 0
        self._ranking = list(np.random.default_rng(random_state).permutation(self.items).tolist())
        self._reasons: dict[int, str] = {}
        self._default_reason = "random order: no model yet"
        self._mode = "features"  # what the last ranking used: "features", "typical" or "spreading"
        self._clusters = 0
        self._suggestions: dict[int, tuple[str, float]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlaas-retrain")
        self._future: Future | None = None
        self._pending_force = False
        self._closed = False
        self.model_ = None
        self.classes_: list[str] = []
        self.retrains = 0
        self.embedding = embedding
        self._emb_rows = None
        self._attach(embedding)

    # ---------------------------------------------------------- the UI side: never blocks
    def teach(self, item: int, label: str) -> None:
        """Record a label; start a background retrain when ``retrain_every`` have come in.

        An item outside the learner's pool is ignored and counted in ``ignored``.
        """
        if int(item) not in self._pos:
            self.labels[int(item)] = label  # remembered as foreign
            return
        with self._lock:
            self.labels[int(item)] = str(label)
            self._since_retrain += 1
            due = self._since_retrain >= self.retrain_every
        if due:
            self.retrain_async()

    def forget(self, item: int) -> None:
        """Drop a label (after an undo)."""
        with self._lock:
            self.labels.pop(int(item), None)

    @property
    def ignored(self) -> int:
        """Items given labels that are not in this learner's pool (left out of every retrain)."""
        return len(self.labels.foreign)

    def next_items(self, k: int = 1, *, exclude: set[int] | frozenset = frozenset()) -> list[int]:
        """The ``k`` items to label next, best first, leaving out labeled ones and ``exclude``."""
        with self._lock:
            ranking, labeled = self._ranking, set(self.labels)
        out = []
        for item in ranking:
            if item not in labeled and item not in exclude:
                out.append(item)
                if len(out) == k:
                    break
        return out

    def suggestion(self, item: int) -> tuple[str, float] | None:
        """The last model's (label, probability) for ``item``, or None before the first model."""
        with self._lock:
            return self._suggestions.get(int(item))

    def reason(self, item: int) -> str | None:
        """Why ``item`` stands where it does in the queue, e.g. "typical point of cluster 3 of 12"; None if not in the pool."""
        if int(item) not in self._pos:
            return None
        with self._lock:
            return self._reasons.get(int(item), self._default_reason)

    @property
    def status(self) -> str:
        """One line for the UI: what orders the queue and what makes the suggestions."""
        emb = self.embedding
        with self._lock:
            mode, clusters, has_model = self._mode, self._clusters, self.model_ is not None
        if emb is None:
            text = f"{self.strategy} on {self.features_name}" if has_model else "random order until two classes are labeled"
        elif mode == "features":
            state = getattr(emb, "state", "ready")
            what = f"{self.strategy} on {self.features_name}" if has_model else "random order"
            if state == "failed":
                text = f"embedding failed ({getattr(emb, 'error', '?')}): {what}"
            else:
                text = f"embedding not ready yet: {what}"
        else:
            head = f"typical points of {clusters} clusters" if mode == "typical" else f"{self.strategy} on label spreading"
            tail = "label spreading suggestions" if has_model else "suggestions once two classes are labeled"
            text = f"{self._embedding_name()} ready: {head}; {tail}"
        if self.error is not None:
            text = f"last retrain failed ({type(self.error).__name__}: {self.error}); " + text
        return text

    @property
    def busy(self) -> bool:
        """True while a retrain runs."""
        return self._future is not None and not self._future.done()

    # ---------------------------------------------------------- the worker side
    def retrain_async(self, *, force: bool = False) -> Future | None:
        """Start a retrain in the worker thread unless one is running; returns its future.

        Without two labeled classes there is nothing to train; ``force`` still reranks (the
        embedding's cold start needs no labels). Labels that arrive during a retrain, and a
        forced rerank asked for meanwhile, start the next one as soon as it ends.
        """
        with self._lock:
            if self._future is not None and not self._future.done():
                self._pending_force |= force
                return self._future
            if (len(set(self.labels.values())) < 2 and not force) or self._closed:
                return None
            return self._submit()

    def _submit(self) -> Future:
        """Queue a job on the current labels (the lock is held)."""
        self._since_retrain, self._pending_force = 0, False
        self._future = self._executor.submit(self._job, dict(self.labels))
        return self._future

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running retrain (and any it queued) ends; for scripts and tests, not the UI."""
        while (future := self._future) is not None:
            future.result(timeout=timeout)
            if self._future is future:
                return

    def retrain(self) -> None:
        """Retrain now and wait for it (batch jobs); raises what the retrain raised."""
        self.wait()
        future = self.retrain_async()
        if future is not None and (exc := future.result()) is not None:
            raise exc

    def _job(self, labels: dict[int, str]) -> BaseException | None:
        """One retrain; its error goes to ``error`` (a Future nobody reads would swallow it)."""
        try:
            self._retrain(labels)
            failure = None
        except Exception as exc:  # noqa: BLE001 - any model's failure; surfaced in .error and .status
            failure = exc
        self.error = failure
        for callback in list(self.on_update):
            try:
                callback(self)
            except Exception as exc:  # noqa: BLE001 - a broken view must not stop retraining
                self.error = exc
        with self._lock:  # queued before this future completes, so wait() sees it
            due = self._since_retrain >= self.retrain_every and len(set(self.labels.values())) >= 2
            if (due or self._pending_force) and not self._closed:
                self._submit()
        return failure

    def _retrain(self, labels: dict[int, str]) -> None:
        started = time.perf_counter()
        labels = {i: v for i, v in labels.items() if i in self._pos}
        emb = self._embedding_ready()
        record: dict[str, Any] = {"labels": len(labels), "time": time.time()}
        proba, classes, model = self._fit(labels, emb, record) if len(set(labels.values())) >= 2 else (None, None, None)
        ranking, reasons, mode, clusters = self._rank(labels, proba, classes, emb)
        default = "random order: no model yet" if proba is None else f"further down the {self.strategy} ranking"
        suggestions = {}
        if proba is not None:
            top = proba.argmax(axis=1)
            suggestions = {int(self.items[p]): (classes[top[p]], float(proba[p, top[p]])) for p in range(len(self.items))}
        record["seconds"] = time.perf_counter() - started
        with self._lock:
            self._ranking, self._reasons, self._mode, self._clusters = ranking, reasons, mode, clusters
            self._default_reason = default
            if model is not None:
                self._suggestions, self.model_, self.classes_ = suggestions, model, list(classes)
                self.history.append(record)
                self.retrains += 1

    def _fit(self, labels: dict[int, str], emb, record: dict) -> tuple[Any, list[str], Any]:
        """The suggestion model (label spreading with an embedding, else ``model``) and its probabilities for every item.

        The ``model`` on the features is also fitted when there is a ``holdout`` to score it on.
        """
        import numpy as np

        proba = classes = model = None
        if emb is not None:
            model = SpreadingModel(emb, n_neighbors=self.spreading_neighbors).fit({self._pos[i]: v for i, v in labels.items()})
            proba, classes = model.proba_, model.classes_
            record["model"] = "label spreading"
        if emb is None or self.holdout is not None:
            fmodel = self.model_factory()
            items = list(labels)
            fmodel.fit(self.features[[self._pos[i] for i in items]], np.asarray([labels[i] for i in items]))
            if self.holdout is not None:
                hx, hy = self.holdout
                record["accuracy"] = float(np.mean(np.asarray(fmodel.predict(hx)).astype(str) == np.asarray(hy).astype(str)))
            if emb is None:
                proba = np.asarray(fmodel.predict_proba(self.features))
                classes = [str(c) for c in np.asarray(getattr(fmodel, "classes_", sorted(set(labels.values()))))]
                model, record["model"] = fmodel, "features"
        return proba, classes, model

    # ---------------------------------------------------------- ranking
    def _rank(self, labels, proba, classes, emb) -> tuple[list[int], dict[int, str], str, int]:
        """The new queue (item ids, best first), the reason of each, the mode and the cluster count."""
        import numpy as np

        unlabeled = np.fromiter((int(i) not in labels for i in self.items), dtype=bool, count=len(self.items))
        pos = np.flatnonzero(unlabeled)
        reasons: dict[int, str] = {}
        head: list[int] = []
        mode, clusters = ("features" if emb is None else "spreading"), 0
        if emb is not None and len(labels) < self.cold_start and len(pos):
            picks = self._typical(emb, labels, len(pos))
            head = [p.position for p in picks]
            reasons = {int(self.items[p.position]): p.reason() for p in picks}
            mode, clusters = "typical", (picks[0].clusters if picks else cluster_count(len(labels), self.batch, len(self.items), max_clusters=self.max_clusters))
        rest = np.setdiff1d(pos, np.asarray(head, dtype=np.int64), assume_unique=True)
        if proba is None or not len(rest):
            rng = np.random.default_rng(self.random_state + len(labels))
            order = rng.permutation(rest)
        else:
            order = self._by_uncertainty(rest, proba, emb)
            reasons.update(self._uncertainty_reasons(order, proba, classes))
        return [int(self.items[p]) for p in [*head, *order.tolist()]], reasons, mode, clusters

    def _typical(self, emb, labels, n_unlabeled: int) -> list[TypicalPick]:
        budget = min(self.cold_start - len(labels), self.batch, n_unlabeled)
        return typical_points(emb, budget, labeled=[self._pos[i] for i in labels], batch=self.batch, max_clusters=self.max_clusters,
                              random_state=self.random_state)

    def _by_uncertainty(self, pos, proba, emb):
        import numpy as np

        order = pos[select(proba[pos], len(pos), strategy=self.strategy, random_state=self.random_state)]
        if self.diversity and len(pos) > self.batch:
            space = self.features if emb is None else emb
            first = pos[select(proba[pos], self.batch, strategy=self.strategy, random_state=self.random_state, embeddings=space[pos])]
            taken = set(first.tolist())
            order = np.concatenate([first, np.asarray([p for p in order if p not in taken], dtype=np.int64)])
        return order

    def _uncertainty_reasons(self, order, proba, classes) -> dict[int, str]:
        shown = order[: max(self.batch, 50)]  # reasons for the head of the queue; the rest gets the default
        two = top_two(proba[shown])
        out = {}
        for p, (a, b) in zip(shown.tolist(), two.tolist()):
            out[int(self.items[p])] = f"{self.strategy}: top two classes {classes[a]} {proba[p, a]:.2f} / {classes[b]} {proba[p, b]:.2f}"
        return out

    # ---------------------------------------------------------- the embedding
    def _attach(self, embedding) -> None:
        import numpy as np

        if embedding is None:
            return
        if hasattr(embedding, "subscribe"):
            if getattr(embedding, "state", "idle") == "idle":
                embedding.start()
            embedding.subscribe(self._on_embedding)
            return
        rows = np.asarray(embedding, dtype=np.float32)
        if rows.ndim != 2 or len(rows) != len(self.items):
            raise ValueError(f"embedding must have one row per item ({len(self.items)}), got shape {rows.shape}")
        self._emb_rows = rows
        self.retrain_async(force=True)

    def _on_embedding(self, embedding) -> None:
        """Runs on the embedding's watcher thread: rerank in the worker, never here."""
        if getattr(embedding, "ready", False):
            rows = embedding.rows(self.items)
            if rows is None or len(rows) != len(self.items):
                return
            self._emb_rows = rows
            self.retrain_async(force=True)  # after the running retrain, if one runs
        else:
            for callback in list(self.on_update):  # the status changed ("embedding failed")
                try:
                    callback(self)
                except Exception as exc:  # noqa: BLE001 - see _job
                    self.error = exc

    def _embedding_ready(self):
        return self._emb_rows

    def _embedding_name(self) -> str:
        params = getattr(self.embedding, "params", None)
        return "UMAP embedding" if params is not None else "embedding"

    def close(self) -> None:
        """Stop the worker (the embedding, which may be shared, is left running)."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
