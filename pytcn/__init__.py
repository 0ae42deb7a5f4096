"""pytcn: Temporal Convolutional Networks from first principles.

Hand-written forward and backward passes for causal dilated convolution, the residual block, the TCN stack, its head,
its losses and Adam, on Numba CPU kernels (``kernels/``) that are tested against plain NumPy twins.
"""
from . import export, interop
from .nn import initializers, layers, losses, optim, streaming
from .nn.block import ResidualBlock
from .nn.gradcheck import GradcheckResult, gradcheck
from .nn.layers import BatchNorm1d, CausalConv1D, Conv1D, Dropout, LayerNorm, Linear, ReLU, SpatialDropout1D
from .nn.losses import cross_entropy, mse
from .nn.model import TCN, receptive_field
from .nn.optim import SGD, Adam, RMSprop
from .nn.recurrent import GRU, LSTM
from .nn.saving import load_model as _load_bare_model
from .runtime.archive import CheckpointError
from .runtime.backends import BackendUnavailableError, cuda_backend, get_backend, to_numpy

__version__ = "0.1.0"

#: the estimators, imported on first use: scikit-learn is an optional extra (pip install 'pytcn[sklearn]')
_ESTIMATORS = ("TCNClassifier", "TCNRegressor", "TCNForecaster", "backtest", "load_estimator")


def __getattr__(name):
    if name in _ESTIMATORS:
        from . import estimators  # ImportError with the pip command when scikit-learn is missing

        return getattr(estimators, name)
    raise AttributeError(f"module 'pytcn' has no attribute {name!r}")


def load_model(path, backend=None):
    """What ``path`` holds: the model of ``model.save`` or of a `pytcn train` checkpoint (or run folder), as a TCN;
    or the estimator of ``est.save`` or of a `pytcn fit` run folder (its model.npz), as that estimator. On the
    backend it was saved from, or on ``backend``."""
    import os

    from .runtime.archive import load_checkpoint
    from .runtime.validate import file_path

    path = file_path("path", path)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "model.npz")):
        path = os.path.join(path, "model.npz")  # a pytcn fit run: its fitted estimator
    if os.path.isfile(path) and "estimator" in load_checkpoint(path)[0]:
        from .estimators import load_estimator

        return load_estimator(path, backend=backend)
    return _load_bare_model(path, backend=backend)


__all__ = ["TCN", "GRU", "LSTM", "ResidualBlock", "CausalConv1D", "Conv1D", "ReLU", "SpatialDropout1D", "Dropout",
           "LayerNorm", "BatchNorm1d", "Linear", "Adam", "RMSprop", "SGD", "mse", "cross_entropy", "receptive_field",
           "gradcheck", "GradcheckResult", "initializers", "layers", "losses", "optim", "streaming", "interop",
           "export", "to_numpy", "get_backend", "cuda_backend", "BackendUnavailableError", "load_model",
           "CheckpointError"]
# the estimators (_ESTIMATORS) are left out of __all__: `from pytcn import *` must not need scikit-learn
