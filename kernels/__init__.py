"""Low-level kernels of pytcn: pure functions on NumPy arrays, each written twice.

For every op, ``<op>_numpy`` is the readable reference (the test oracle) and ``<op>_numba`` the jitted CPU kernel
with the same signature: outputs first, then inputs, then sizes (a fast kernel may add optional arguments after
them, for tests). Where the fast kernel is blocked (the convolutions), ``<op>_naive`` beside it is the same loop
without the blocking: the readable form of the fast one, tested against the same reference. Kernels assume valid,
C-contiguous input of one floating dtype (float32 or float64); ``pytcn`` validates at its public boundary before
calling them.

``arrays.PLUMBING`` holds the array operations a model does between kernels (transposes, sums, dropout masks, weight
normalisation): NumPy on the CPU. The package ``cuda`` (imported only on request, since it needs numba-cuda) has a
CUDA twin of every op of both tables, in ``cuda.CUDA_TWINS``, each in the file of ``kernels/cuda/`` named like the
CPU file of its op (``kernels/cuda/norm.py`` beside ``norm.py``; the tiled convolutions in ``kernels/cuda/tiled.py``).

This package imports nothing from ``pytcn``.
"""
from .adam import adam_update_numba, adam_update_numpy
from .arrays import PLUMBING  # noqa: F401 (the plumbing table, for pytcn.runtime.backends)
from .conv import (
    conv_backward_bias_numba,
    conv_backward_bias_numpy,
    conv_backward_input_add_numba,
    conv_backward_input_add_numpy,
    conv_backward_input_naive,
    conv_backward_input_numba,
    conv_backward_input_numpy,
    conv_backward_weight_naive,
    conv_backward_weight_numba,
    conv_backward_weight_numpy,
    conv_forward_naive,
    conv_forward_numba,
    conv_forward_numpy,
    conv_relu_forward_naive,
    conv_relu_forward_numba,
    conv_relu_forward_numpy,
)
from .dropout import scale_elements_numba, scale_elements_numpy
from .gru import (
    gru_backward_naive,
    gru_backward_numba,
    gru_backward_numpy,
    gru_forward_naive,
    gru_forward_numba,
    gru_forward_numpy,
)
from .linear import linear_backward_numba, linear_backward_numpy, linear_forward_numba, linear_forward_numpy
from .losses import (
    masked_mse_numba,
    masked_mse_numpy,
    masked_softmax_cross_entropy_numba,
    masked_softmax_cross_entropy_numpy,
    mse_numba,
    mse_numpy,
    softmax_cross_entropy_numba,
    softmax_cross_entropy_numpy,
)
from .lstm import (
    lstm_backward_naive,
    lstm_backward_numba,
    lstm_backward_numpy,
    lstm_forward_naive,
    lstm_forward_numba,
    lstm_forward_numpy,
)
from .norm import (
    batch_norm_backward_numba,
    batch_norm_backward_numpy,
    batch_norm_forward_numba,
    batch_norm_forward_numpy,
    batch_norm_statistics_numba,
    batch_norm_statistics_numpy,
    layer_norm_backward_numba,
    layer_norm_backward_numpy,
    layer_norm_forward_numba,
    layer_norm_forward_numpy,
)
from .relu import (
    add_relu_forward_numba,
    add_relu_forward_numpy,
    relu_backward_numba,
    relu_backward_numpy,
    relu_bias_backward_numba,
    relu_bias_backward_numpy,
    relu_forward_numba,
    relu_forward_numpy,
)
from .rmsprop import rmsprop_update_numba, rmsprop_update_numpy
from .stream import conv_step_numba, conv_step_numpy

#: op name -> (NumPy reference, Numba CPU kernel). Tests walk this table; a kernel missing from it is untested.
TWINS = {
    "conv_forward": (conv_forward_numpy, conv_forward_numba),
    "conv_relu_forward": (conv_relu_forward_numpy, conv_relu_forward_numba),
    "conv_backward_input": (conv_backward_input_numpy, conv_backward_input_numba),
    "conv_backward_input_add": (conv_backward_input_add_numpy, conv_backward_input_add_numba),
    "conv_backward_weight": (conv_backward_weight_numpy, conv_backward_weight_numba),
    "conv_backward_bias": (conv_backward_bias_numpy, conv_backward_bias_numba),
    "conv_step": (conv_step_numpy, conv_step_numba),
    "relu_forward": (relu_forward_numpy, relu_forward_numba),
    "scale_elements": (scale_elements_numpy, scale_elements_numba),
    "relu_backward": (relu_backward_numpy, relu_backward_numba),
    "relu_bias_backward": (relu_bias_backward_numpy, relu_bias_backward_numba),
    "add_relu_forward": (add_relu_forward_numpy, add_relu_forward_numba),
    "linear_forward": (linear_forward_numpy, linear_forward_numba),
    "linear_backward": (linear_backward_numpy, linear_backward_numba),
    "mse": (mse_numpy, mse_numba),
    "softmax_cross_entropy": (softmax_cross_entropy_numpy, softmax_cross_entropy_numba),
    "masked_mse": (masked_mse_numpy, masked_mse_numba),
    "masked_softmax_cross_entropy": (masked_softmax_cross_entropy_numpy, masked_softmax_cross_entropy_numba),
    "adam_update": (adam_update_numpy, adam_update_numba),
    "rmsprop_update": (rmsprop_update_numpy, rmsprop_update_numba),
    "layer_norm_forward": (layer_norm_forward_numpy, layer_norm_forward_numba),
    "layer_norm_backward": (layer_norm_backward_numpy, layer_norm_backward_numba),
    "batch_norm_statistics": (batch_norm_statistics_numpy, batch_norm_statistics_numba),
    "batch_norm_forward": (batch_norm_forward_numpy, batch_norm_forward_numba),
    "batch_norm_backward": (batch_norm_backward_numpy, batch_norm_backward_numba),
}

#: op name -> the naive Numba loop beside a blocked fast kernel (kernels/conv.py explains the blocking)
NAIVE = {
    "conv_forward": conv_forward_naive,
    "conv_relu_forward": conv_relu_forward_naive,
    "conv_backward_input": conv_backward_input_naive,
    "conv_backward_weight": conv_backward_weight_naive,
}

#: the recurrent layers' ops (kernels/gru.py, kernels/lstm.py): op name -> (NumPy reference, Numba CPU kernel, naive
#: Numba loop). A table of their own, outside TWINS, because they have no CUDA twin: the GRU and LSTM baselines run
#: on the CPU backends only (pytcn.nn.recurrent says so when backend='cuda' is asked for).
RECURRENT = {
    "gru_forward": (gru_forward_numpy, gru_forward_numba, gru_forward_naive),
    "gru_backward": (gru_backward_numpy, gru_backward_numba, gru_backward_naive),
    "lstm_forward": (lstm_forward_numpy, lstm_forward_numba, lstm_forward_naive),
    "lstm_backward": (lstm_backward_numpy, lstm_backward_numba, lstm_backward_naive),
}
