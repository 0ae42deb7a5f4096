"""TCNRegressor: a TCN with a global-average-pooling head and a linear output, as a scikit-learn regressor."""
import numpy as np
from sklearn.base import RegressorMixin

from ..nn import losses
from .base import TCNEstimatorBase


class TCNRegressor(RegressorMixin, TCNEstimatorBase):
    """Predicts one or several numbers per time series with a temporal convolutional network.

    X as for TCNClassifier; y (n_cases,) or (n_cases, n_targets). y is standardised with its training mean and
    standard deviation (``y_mean_``, ``y_scale_``) for the mean-squared-error loss, and predictions are given back
    in y's units and shape. Every other parameter and fitted attribute: TCNClassifier.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _is_regressor(self):
        return True

    def _y_kwargs(self):
        return dict(multi_output=True, y_numeric=True)

    def _encode_targets(self, y):
        y = np.asarray(y, dtype=np.float64)
        self.y_ndim_ = y.ndim
        y2 = y.reshape(len(y), -1)
        self.y_mean_ = y2.mean(axis=0)
        std = y2.std(axis=0)
        self.y_scale_ = np.where(std > 0, std, 1.0)
        targets = ((y2 - self.y_mean_) / self.y_scale_).astype(self.dtype)
        return targets, y2.shape[1], losses.mse

    def predict(self, X):
        y = self._outputs(X) * self.y_scale_ + self.y_mean_
        return y[:, 0] if self.y_ndim_ == 1 else y

    def _saved_targets(self):
        return {"y_ndim_": self.y_ndim_, "y_mean_": self.y_mean_.tolist(), "y_scale_": self.y_scale_.tolist()}

    def _restore_targets(self, fitted):
        self.y_ndim_ = fitted["y_ndim_"]
        self.y_mean_ = np.array(fitted["y_mean_"], dtype=np.float64)
        self.y_scale_ = np.array(fitted["y_scale_"], dtype=np.float64)
