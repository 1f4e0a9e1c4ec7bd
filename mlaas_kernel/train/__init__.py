"""Training: scikit-learn-style estimators (a CNN classifier and an embedding for images, forests for tables) and their loop."""

from ._embedding import EmbeddingNet, build_embedding_net
from ._embedding_run import train_embedding
from ._image import ImageClassifier, TrainingInputError, TrainingWarning, build_cnn
from ._loop import Progress
from ._net import NetEstimator
from ._separation import knn_accuracy, silhouette
from ._tabular import TabularClassifier, TabularRegressor
from ._run import TrainResult, split_dataset, train_dataset
from ._saved import load_model, save_model
from ._views import embedding_map, embedding_view_figure, silhouette_figure

__all__ = ["EmbeddingNet", "ImageClassifier", "NetEstimator", "Progress", "TabularClassifier", "TabularRegressor", "TrainResult",
           "TrainingInputError", "TrainingWarning", "build_cnn", "build_embedding_net", "embedding_map", "embedding_view_figure", "knn_accuracy", "load_model", "save_model",
           "silhouette", "silhouette_figure", "split_dataset", "train_dataset", "train_embedding"]
