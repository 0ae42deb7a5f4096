"""scikit-learn estimators on pytcn's TCN: TCNClassifier and TCNRegressor (needs scikit-learn: pytcn[sklearn]).

    data.py        X and y in aeon's layouts checked, padded batches, the input normalisation
    base.py        fit (through pytcn.training.loop.training_step), the batched forward, save, pickling
    classifier.py  TCNClassifier
    regressor.py   TCNRegressor
"""
from .base import load_estimator as _load_estimator
from .classifier import TCNClassifier
from .regressor import TCNRegressor

__all__ = ["TCNClassifier", "TCNRegressor", "load_estimator"]


def load_estimator(path):
    """The TCNClassifier or TCNRegressor that ``est.save(path)`` wrote."""
    return _load_estimator(path, {"TCNClassifier": TCNClassifier, "TCNRegressor": TCNRegressor})
