"""scikit-learn estimators on pytcn's TCN, for a user's own series (needs scikit-learn: pip install 'pytcn[sklearn]').

    data.py         X and y in aeon's layouts checked, padded batches, the input normalisation (NumPy only)
    base.py         fit (through pytcn.training's epoch driver and training step), the batched forward, saving
    classifier.py   TCNClassifier
    regressor.py    TCNRegressor
    forecaster.py   TCNForecaster (windows of one series, a TCNRegressor inside) and backtest
    runs.py         a fit in a run folder: checkpoints and exact resume (pytcn fit, pytcn forecast)
    datafiles.py    a user's files for the command line: .npz, the UCR layout's CSV, a CSV column (NumPy only)
"""
try:
    import sklearn  # noqa: F401
except ImportError:  # pragma: no cover (the tests of this package need scikit-learn)
    raise ImportError("pytcn's estimators (TCNClassifier, TCNRegressor, TCNForecaster; pytcn fit, predict and "
                      "forecast) need scikit-learn: pip install 'pytcn[sklearn]'") from None

from ..runtime.archive import CheckpointError, load_checkpoint
from .classifier import TCNClassifier
from .forecaster import TCNForecaster, backtest
from .regressor import TCNRegressor

__all__ = ["TCNClassifier", "TCNRegressor", "TCNForecaster", "backtest", "load_estimator", "ESTIMATORS"]

#: class name (as a saved file names it) -> class
ESTIMATORS = {"TCNClassifier": TCNClassifier, "TCNRegressor": TCNRegressor, "TCNForecaster": TCNForecaster}


def load_estimator(path, backend=None):
    """The TCNClassifier, TCNRegressor or TCNForecaster that ``est.save(path)`` wrote (read without pickle), or the
    one in a run folder of pytcn fit or pytcn forecast (its model.npz), on the
    backend it was fitted on or on ``backend`` (a model fitted on a GPU predicts on a laptop's CPU)."""
    import os

    from .base import load_estimator as load
    from .forecaster import load_forecaster
    from .runs import MODEL

    if isinstance(path, (str, os.PathLike)) and os.path.isfile(os.path.join(path, MODEL)):
        path = os.path.join(path, MODEL)  # the folder of pytcn fit or pytcn forecast: the estimator it fitted
    meta = load_checkpoint(path)[0]
    record = meta.get("estimator")
    if isinstance(record, dict) and record.get("class") == "TCNForecaster":
        return load_forecaster(path, backend=backend)
    if not isinstance(record, dict) or record.get("class") not in ESTIMATORS:
        raise CheckpointError(f"{path}: holds no pytcn estimator (its meta has no 'estimator' record naming one of "
                              f"{', '.join(ESTIMATORS)}); a model or run of pytcn train loads with pytcn.load_model")
    return load(path, ESTIMATORS, backend=backend)
