"""Training: scikit-learn-style estimators (a CNN for images, forests for tables) and their loop."""

from ._image import ImageClassifier, TrainingInputError, TrainingWarning, build_cnn
from ._loop import Progress
from ._tabular import TabularClassifier, TabularRegressor
from ._run import TrainResult, split_dataset, train_dataset
from ._saved import load_model, save_model

__all__ = ["ImageClassifier", "Progress", "TabularClassifier", "TabularRegressor", "TrainResult", "TrainingInputError", "TrainingWarning", "build_cnn", "load_model", "save_model", "split_dataset", "train_dataset"]
