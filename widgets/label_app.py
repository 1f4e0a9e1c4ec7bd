"""LabelApp: the labeling app for annotators who never see code (served by Voilà)."""

from __future__ import annotations

import ipywidgets as W

from mlaas_kernel import active, data
from mlaas_kernel.labels import LabelStore

from .image_labeler import ImageLabeler


class LabelApp(W.VBox):
    """Pick a dataset, type your name, press Enter: then label with the keyboard alone.

    Image datasets of the workspace are offered; labels go to the workspace's store and the
    agreement between annotators is shown as it changes. :meth:`start` is the public trigger.

    Parameters
    ----------
    n_items:
        How many items of the dataset are in the labeling pool (a fixed, seeded sample).
    strategy, retrain_every:
        Active learning settings; ``strategy=None`` labels in a fixed order.
    """

    def __init__(self, *, store: LabelStore | None = None, dataset: str | None = None, n_items: int = 1000,
                 strategy: str | None = "margin", retrain_every: int = 10, random_state: int = 0):
        self.store = store or LabelStore()
        self.n_items, self.strategy, self.retrain_every, self.random_state = n_items, strategy, retrain_every, random_state
        names = [d.name for d in data.list_datasets() if d.kind == "images"]
        self.dataset_picker = W.Dropdown(options=names, value=dataset if dataset in names else (names[0] if names else None), description="dataset")
        self.annotator_box = W.Text(placeholder="your name, then Enter", description="annotator", continuous_update=False)
        self.start_button = W.Button(description="Start labeling", button_style="primary", icon="play")
        self.status = W.HTML()
        self.agreement = W.HTML()
        self.labeler: ImageLabeler | None = None
        self.learner = None
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

        ds = data.load(dataset)
        images = ds.images()
        truth_classes = [str(c) for c in ds.manifest.get("classes") or sorted(set(ds.labels().astype(str)))]
        order = np.random.default_rng(self.random_state).permutation(len(ds))[: self.n_items]
        if self.strategy:
            features = active.image_features(images[np.sort(order)], random_state=self.random_state)
            self.learner = active.ActiveLearner(features, items=np.sort(order), strategy=self.strategy,
                                                retrain_every=self.retrain_every, random_state=self.random_state)
        self.labeler = ImageLabeler(images, store=self.store, dataset=ds.name, annotator=annotator.strip(), classes=truth_classes,
                                    items=order.tolist(), learner=self.learner, global_keys=True)
        self.labeler.observe(lambda _c: self._show_agreement(), names="labeled")
        self.form.layout.display = "none"
        self.status.value = f"<b>{annotator.strip()}</b> labeling <b>{ds.name}</b> ({len(order):,} items)"
        self._show_agreement()
        self.children = [*self.children, self.labeler, self.agreement]
        return self.labeler

    def _show_agreement(self) -> None:
        if self.labeler is None or self.labeler.labeled % 10:
            return  # every 10 labels: it reads the whole dataset's labels
        ag = self.store.agreement(self.labeler.dataset)
        others = [a for a in ag.annotators if a != self.labeler.annotator]
        if ag.kappa is None:
            text = f"Agreement: shown once another annotator has labeled the same items ({len(others)} other annotator(s) so far)."
        else:
            text = f"Agreement: {ag}"
        self.agreement.value = f"<div class='mlaas-agreement'>{text}</div>"
