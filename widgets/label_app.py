"""LabelApp: the labeling app for annotators who never see code (served by Voilà)."""

from __future__ import annotations

import html

import ipywidgets as W

from mlaas_kernel import active, data
from mlaas_kernel.labels import LabelStore

from .image_labeler import ImageLabeler


def agreement_html(store: LabelStore, dataset: str, annotator: str) -> str:
    """One line: Cohen's kappa between ``annotator`` and each other annotator, on the items both labeled."""
    pairs = store.agreement_with(dataset, annotator)
    if not pairs:
        return ("<div class='mlaas-agreement'>Agreement (Cohen's κ): no item labeled by you and another annotator yet.</div>")
    parts = [f"with <b>{html.escape(other)}</b> κ = {kappa:.2f} on {n} item{'s' if n != 1 else ''} labeled by both"
             for other, (kappa, n) in sorted(pairs.items())]
    return "<div class='mlaas-agreement'>Agreement (Cohen's κ): " + " · ".join(parts) + "</div>"


class LabelApp(W.VBox):
    """Pick a dataset, type your name, press Enter: then label with the keyboard alone.

    Image datasets of the workspace are offered; labels go to the workspace's store and the
    agreement with each other annotator (Cohen's kappa, with the number of items both labeled)
    is shown after every label. :meth:`start` is the public trigger; :meth:`close` also stops
    the learner's retrain thread and the embedding's process.

    Parameters
    ----------
    n_items:
        How many items of the dataset are in the labeling pool (a fixed, seeded sample).
    strategy, retrain_every:
        Active learning settings; ``strategy=None`` labels in a fixed order.
    embedding:
        Compute (or read from the workspace's cache) an unsupervised UMAP embedding of the
        dataset in the background; the queue and the suggestions use it once it is ready.
    """

    def __init__(self, *, store: LabelStore | None = None, dataset: str | None = None, n_items: int = 1000,
                 strategy: str | None = "margin", retrain_every: int = 10, embedding: bool = False, random_state: int = 0):
        self.store = store or LabelStore()
        self.n_items, self.strategy, self.retrain_every, self.random_state = n_items, strategy, retrain_every, random_state
        self.use_embedding = embedding
        names = [d.name for d in data.list_datasets() if d.kind == "images"]
        self.dataset_picker = W.Dropdown(options=names, value=dataset if dataset in names else (names[0] if names else None), description="dataset")
        self.annotator_box = W.Text(placeholder="your name, then Enter", description="annotator", continuous_update=False)
        self.start_button = W.Button(description="Start labeling", button_style="primary", icon="play")
        self.status = W.HTML()
        self.agreement = W.HTML()
        self.labeler: ImageLabeler | None = None
        self.learner = None
        self.embedding = None
        self.annotator_box.observe(lambda change: self._start_from_form(), names="value")
        self.start_button.on_click(lambda _b: self._start_from_form())
        self.form = W.HBox([self.dataset_picker, self.annotator_box, self.start_button])
        super().__init__([self.form, self.status])
        if not names:
            self.status.value = "No image dataset in the workspace yet: run <code>mlaas ingest mnist</code>."

    def _start_from_form(self) -> None:
        if self.labeler is None and self.annotator_box.value.strip() and self.dataset_picker.value:
            self.start(self.dataset_picker.value, self.annotator_box.value)

    def start(self, dataset: str, annotator: str) -> ImageLabeler:
        """Open ``dataset`` for ``annotator``: builds the labeler (and the learner) and shows it."""
        import numpy as np

        annotator = annotator.strip()
        ds = data.load(dataset)
        images = ds.images()
        truth_classes = [str(c) for c in ds.manifest.get("classes") or sorted(set(ds.labels().astype(str)))]
        order = np.random.default_rng(self.random_state).permutation(len(ds))[: self.n_items]
        if self.strategy:
            self.learner = self._learner(ds, images, np.sort(order))
        self.labeler = ImageLabeler(images, store=self.store, dataset=ds.name, annotator=annotator, classes=truth_classes,
                                    items=order.tolist(), learner=self.learner, global_keys=True)
        self.labeler.observe(lambda _c: self._show_agreement(), names="committed")
        self.form.layout.display = "none"
        self.status.value = f"<b>{html.escape(annotator)}</b> labeling <b>{html.escape(ds.name)}</b> ({len(order):,} items)"
        self._show_agreement()
        self.children = [*self.children, self.labeler, self.agreement]
        return self.labeler

    def _learner(self, ds, images, pool):
        if self.use_embedding:
            from mlaas_kernel.embedding import BackgroundEmbedding

            self.embedding = BackgroundEmbedding.for_dataset(ds).start()
        features = active.image_features(images[pool], random_state=self.random_state)
        return active.ActiveLearner(features, items=pool, strategy=self.strategy, retrain_every=self.retrain_every,
                                    random_state=self.random_state, embedding=self.embedding)

    def _show_agreement(self) -> None:
        if self.labeler is not None:
            self.agreement.value = agreement_html(self.store, self.labeler.dataset, self.labeler.annotator)

    def close(self) -> None:
        """Close the labeler, stop the learner's thread pool and the embedding's process, then the app."""
        if self.labeler is not None:
            self.labeler.close()
        if self.learner is not None:
            self.learner.close()
        if self.embedding is not None:
            self.embedding.close()
        super().close()
