"""TabularClassifier and TabularRegressor: random forests (cuML on a GPU) over a table."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from .. import compute
from ._inputs import TrainingInputError


class _Tabular(BaseEstimator):
    _estimator_name = ""

    def __init__(self, *, n_estimators: int = 200, max_depth: int | None = None, min_samples_leaf: int = 1,
                 max_features: float | str | None = None, random_state: int | None = None):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features  # None: the forest's own default (a tuning study searches a fraction)
        self.random_state = random_state

    def _frame(self, X):
        import pandas as pd

        if isinstance(X, pd.DataFrame):
            return X
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise TrainingInputError(f"X has shape {arr.shape}; expected a table (rows, columns)")
        return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])

    def _check_y(self, y, n: int):
        import pandas as pd

        y = pd.Series(np.asarray(y))
        if len(y) != n:
            raise TrainingInputError(f"y has {len(y)} values for {n} rows of X")
        if y.isna().any():
            raise TrainingInputError(f"y holds {int(y.isna().sum())} missing value(s): drop those rows first")
        return y.to_numpy()

    def fit(self, X, y):
        """Fit the preprocessing (median imputing, one-hot categories) and the forest; returns ``self``."""
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder

        frame = self._frame(X)
        if len(frame) < 2:
            raise TrainingInputError(f"X has {len(frame)} row(s); need at least 2")
        y = self._check_y(y, len(frame))
        numeric = [c for c in frame.columns if frame[c].dtype.kind in "biuf"]
        categorical = [c for c in frame.columns if c not in numeric]
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = len(frame.columns)
        self.preprocessor_ = ColumnTransformer(
            [("num", SimpleImputer(strategy="median", keep_empty_features=True), numeric),
             ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                   OneHotEncoder(handle_unknown="ignore", sparse_output=False)), categorical)],
            verbose_feature_names_out=False,
        )
        features = self.preprocessor_.fit_transform(self._prepare(frame, categorical)).astype(np.float32)
        self.feature_names_ = [str(n) for n in self.preprocessor_.get_feature_names_out()]
        self._categorical = categorical
        extra = {"max_features": self.max_features} if self.max_features is not None else {}
        self.model_ = compute.estimator(self._estimator_name, n_estimators=self.n_estimators, max_depth=self.max_depth,
                                        min_samples_leaf=self.min_samples_leaf, random_state=self.random_state, **extra)
        self._fit_target(features, y)
        return self

    @staticmethod
    def _prepare(frame, categorical):
        out = frame.copy()
        for c in categorical:
            out[c] = out[c].astype("object").where(out[c].notna(), None)
        for c in out.columns:
            if c not in categorical and out[c].dtype.kind == "b":
                out[c] = out[c].astype(float)
        return out

    def _fit_target(self, features, y):
        self.model_.fit(features, y)

    def _features(self, X):
        frame = self._frame(X)
        missing = [c for c in self.feature_names_in_ if c not in set(map(str, frame.columns))]
        if missing:
            raise TrainingInputError(f"X lacks column(s) the model was trained on: {missing}")
        return self.preprocessor_.transform(self._prepare(frame[list(self.feature_names_in_)], self._categorical)).astype(np.float32)

    @property
    def feature_importances_(self):
        """Importance of each one-hot/numeric feature (``feature_names_``)."""
        return np.asarray(self.model_.wrapped.feature_importances_)

    def importances(self):
        """Feature importances as a sorted pandas Series."""
        import pandas as pd

        return pd.Series(self.feature_importances_, index=self.feature_names_).sort_values(ascending=False)


class TabularClassifier(ClassifierMixin, _Tabular):
    """A random forest classifier for a table (cuML on a GPU, scikit-learn otherwise)."""

    _estimator_name = "RandomForestClassifier"

    def _fit_target(self, features, y):
        classes = np.unique(y)
        if len(classes) < 2:
            raise TrainingInputError(f"y holds a single class ({classes[0]!r}): a classifier needs at least 2")
        self.classes_ = classes
        index = {c: i for i, c in enumerate(classes.tolist())}
        self.model_.fit(features, np.fromiter((index[v] for v in y.tolist()), dtype=np.int32, count=len(y)))

    def predict_proba(self, X):
        return np.asarray(self.model_.predict_proba(self._features(X)))

    def predict(self, X):
        return self.classes_[np.asarray(self.predict_proba(X)).argmax(axis=1)]


class TabularRegressor(RegressorMixin, _Tabular):
    """A random forest regressor for a table (cuML on a GPU, scikit-learn otherwise)."""

    _estimator_name = "RandomForestRegressor"

    def _fit_target(self, features, y):
        if y.dtype.kind not in "biuf":
            raise TrainingInputError(f"y must be numbers for a regressor, got {y.dtype}")
        self.model_.fit(features, y.astype(np.float32))

    def predict(self, X):
        return np.asarray(self.model_.predict(self._features(X)), dtype=np.float64)
