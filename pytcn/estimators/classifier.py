"""TCNClassifier: a TCN with a global-average-pooling head and a softmax, as a scikit-learn classifier."""
import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets

from ..nn import losses
from .base import TCNEstimatorBase


class TCNClassifier(ClassifierMixin, TCNEstimatorBase):
    """Classifies time series with a temporal convolutional network.

    X: (n_cases, n_channels, n_timepoints), (n_cases, n_timepoints) for univariate series, or a list of 2-D
    (n_channels, n_timepoints_i) arrays of different lengths; y: one label per case, of any type np.unique sorts.

    The model is pytcn.TCN with causal padding and a head that reads the mean of the last block's features over
    each series' own steps (pooling='mean'). Parameters with keras-tcn's names mean what they mean there;
    ``dilations=None`` sizes them from the longest training series (``dilations_``). Training: Adam at ``lr``,
    halved (``lr_factor``) after ``lr_patience`` epochs without a better monitored loss, down to ``min_lr``;
    ``validation_fraction`` of the cases held out (stratified) and monitored; stop after ``n_iter_no_change``
    epochs without a better one, and keep the best epoch's weights. ``normalize``: 'channel' (each channel
    standardised with statistics fitted on the training data), 'series' (each series on its own) or None.
    Design and defaults: docs/design/estimators.md.

    Fitted: classes_, n_features_in_ (X.shape[1]), n_channels_, dilations_, mean_, scale_, history_ (one dict per
    epoch), n_iter_, best_epoch_, monitor_, model_ (the pytcn.TCN).
    """

    def _encode_targets(self, y):
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y has one class only ({self.classes_[0]!r}); a classifier needs at least 2 classes")
        return codes.astype(np.int64), len(self.classes_), losses.cross_entropy

    def _strata(self, y):
        _, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
        return codes if counts.min() >= 2 else None

    def predict_proba(self, X):
        """(n_cases, n_classes): the softmax of the model's outputs, columns in the order of classes_."""
        logits = self._outputs(X)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X):
        logits = self._outputs(X)  # first: NotFittedError before classes_ is read
        return self.classes_[np.argmax(logits, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy; a label that is not in classes_ is a ValueError (it can never be predicted)."""
        unseen = np.setdiff1d(np.unique(np.asarray(y)), self.classes_) if hasattr(self, "classes_") else []
        if len(unseen):
            raise ValueError(f"y holds labels the classifier was not fitted on: {unseen[:5].tolist()} (classes_ are "
                             f"{self.classes_[:10].tolist()})")
        return super().score(X, y, sample_weight)

    def _saved_targets(self):
        plain = (bool, int, float, str, np.bool_, np.integer, np.floating, np.str_)
        if self.classes_.dtype.kind not in "biufUO" or (
                self.classes_.dtype.kind == "O" and not all(isinstance(c, plain) for c in self.classes_)):
            raise TypeError(f"save() writes labels as JSON: bool, integer, float or str labels only; classes_ has "
                            f"dtype {self.classes_.dtype} (pickle or joblib save any labels)")
        classes = [c.item() if isinstance(c, np.generic) else c for c in self.classes_]
        return {"classes_": classes, "classes_dtype": self.classes_.dtype.str}

    def _restore_targets(self, fitted):
        self.classes_ = np.array(fitted["classes_"], dtype=np.dtype(fitted["classes_dtype"]))
