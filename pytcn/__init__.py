"""pytcn: Temporal Convolutional Networks from first principles.

Hand-written forward and backward passes for causal dilated convolution, the residual block, the TCN stack, its head,
its losses and Adam, on Numba CPU kernels (``kernels/``) that are tested against plain NumPy twins.
"""
from . import interop
from .nn import initializers, layers, losses, optim, streaming
from .nn.block import ResidualBlock
from .nn.gradcheck import GradcheckResult, gradcheck
from .nn.layers import BatchNorm1d, CausalConv1D, Conv1D, Dropout, LayerNorm, Linear, ReLU, SpatialDropout1D
from .nn.losses import cross_entropy, mse
from .nn.model import TCN, receptive_field
from .nn.optim import SGD, Adam
from .nn.saving import load_model
from .runtime.archive import CheckpointError
from .runtime.backends import BackendUnavailableError, cuda_backend, get_backend, to_numpy

__version__ = "0.1.0"

__all__ = ["TCN", "ResidualBlock", "CausalConv1D", "Conv1D", "ReLU", "SpatialDropout1D", "Dropout", "LayerNorm",
           "BatchNorm1d", "Linear", "Adam", "SGD", "mse", "cross_entropy", "receptive_field", "gradcheck",
           "GradcheckResult", "initializers", "layers", "losses", "optim", "streaming", "interop", "to_numpy",
           "get_backend", "cuda_backend", "BackendUnavailableError", "load_model", "CheckpointError"]
