"""Feature vectors for the kNN score when no embedding is given: PCA components of the pixels."""

from __future__ import annotations

import numpy as np

__all__ = ["PixelPCA"]


class PixelPCA:
    """PCA of flattened pixels scaled to [0, 1], fitted on the reference (training) items only.

    A stand-in for a learned embedding: anything with ``transform(X) -> (n, d)`` works the same.
    """

    def __init__(self, *, n_components: int = 50, random_state: int = 0):
        self.n_components = n_components
        self.random_state = random_state

    @staticmethod
    def _flat(images) -> np.ndarray:
        x = np.asarray(images)
        return x.reshape(len(x), -1).astype(np.float32) / 255.0

    def fit(self, images) -> "PixelPCA":
        from sklearn.decomposition import PCA

        flat = self._flat(images)
        self.pca_ = PCA(n_components=min(self.n_components, *flat.shape), random_state=self.random_state).fit(flat)
        return self

    def transform(self, images) -> np.ndarray:
        return self.pca_.transform(self._flat(images))

    def describe(self) -> str:
        return f"PCA ({self.pca_.n_components_} components) of the pixels, fitted on the training items"
