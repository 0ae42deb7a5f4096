"""pytcn: Temporal Convolutional Networks from first principles.

Hand-written forward and backward passes for causal dilated convolution, the residual block, the TCN stack, its head,
its losses and Adam, on Numba CPU kernels (``kernels/``) that are tested against plain NumPy twins.
"""
from . import initializers, interop, layers, losses, optim, streaming
from .backends import BackendUnavailableError, get_backend, to_numpy
from .block import ResidualBlock
from .checkpoint import CheckpointError, load_model
from .gradcheck import GradcheckResult, gradcheck
from .layers import BatchNorm1d, CausalConv1D, Dropout, LayerNorm, Linear, ReLU, SpatialDropout1D
from .losses import cross_entropy, mse
from .model import TCN, receptive_field
from .optim import SGD, Adam

__version__ = "0.1.0"

__all__ = ["TCN", "ResidualBlock", "CausalConv1D", "ReLU", "SpatialDropout1D", "Dropout", "LayerNorm", "BatchNorm1d",
           "Linear", "Adam", "SGD", "mse",
           "cross_entropy", "receptive_field", "gradcheck", "GradcheckResult", "initializers", "layers", "losses",
           "optim", "streaming", "interop", "to_numpy", "get_backend", "BackendUnavailableError", "load_model",
           "CheckpointError"]
