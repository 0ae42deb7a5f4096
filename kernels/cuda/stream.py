"""The CUDA twin of kernels/stream.py: one step of a causal dilated convolution, for streaming, reading the inputs of
earlier steps from a ring buffer history (N, L, C_in), L = (K-1)*d.

    y[n, o] = b[o] + sum_{i, j} W[o, i, j] * x_{t - (K-1-j)*d}[n, i]        (x_s = 0 for s < 0)
"""
from numba import cuda

from .._config import CUDA
from ._device import launch


@cuda.jit(**CUDA)
def _conv_step_kernel(y, history, x, W, b, d, t, relu):
    """One thread per y[n, o] of one streaming step (kernels/stream.py): the sum over channels and taps, each tap
    reading the input of step t - (K-1-j)*d from its slot of the ring buffer, tap K-1 reading x itself."""
    N, C_out = y.shape
    C_in, K = W.shape[1], W.shape[2]
    L = history.shape[1]
    k = cuda.grid(1)
    if k >= N * C_out:
        return
    n = k // C_out
    o = k % C_out
    acc = b[o]
    for j in range(K):
        age = (K - 1 - j) * d
        slot = (t - age) % L
        for i in range(C_in):
            acc += W[o, i, j] * (x[n, i] if age == 0 else history[n, slot, i])
    y[n, o] = 0.0 if relu and acc <= 0 else acc


@cuda.jit(**CUDA)
def _ring_write_kernel(history, x, slot):
    """One thread per x[n, i]: into the ring buffer's slot."""
    N, C_in = x.shape
    k = cuda.grid(1)
    if k >= N * C_in:
        return
    history[k // C_in, slot, k % C_in] = x[k // C_in, k % C_in]


def conv_step_cuda(y, history, x, W, b, d, t, relu):
    # two launches: every thread of the first reads the slot that the second overwrites (step t - L, tap 0)
    _conv_step_kernel[launch(y.size)](y, history, x, W, b, d, t, relu)
    _ring_write_kernel[launch(x.size)](history, x, t % history.shape[1])
