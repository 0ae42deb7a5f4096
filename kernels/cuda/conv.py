"""The CUDA twins of kernels/conv.py written as the formulas: one thread per output element, every operand read from
global memory. The clearest statement of each formula, and the oracle of the fast kernels on a GPU
(``CUDA_REFERENCES``, tests/test_cuda.py); a model runs the tiled kernels of ``tiled.py`` in their place
(``pytcn.runtime.backends.cuda_backend`` chooses).

Layout as in kernels/conv.py, channels before time: x (N, C_in, T), W (C_out, C_in, K), b (C_out,), y (N, C_out, T).

    y[n, o, t] = b[o] + sum_{i, j} W[o, i, j] * x[n, i, t - (K-1-j)*d]   (x = 0 before t = 0)
"""
from numba import cuda

from .._config import CUDA
from ._device import launch
from .arrays import add_cuda


@cuda.jit(**CUDA)
def _conv_forward_kernel(y, x, W, b, d, relu):
    """One thread per y[n, o, t]: its sum over input channels and taps. Consecutive threads take consecutive t, so
    a warp reads 32 consecutive x[n, i, t - shift] at once."""
    N, C_out, T = y.shape
    C_in = x.shape[1]
    K = W.shape[2]
    k = cuda.grid(1)
    if k >= N * C_out * T:
        return
    n = k // (C_out * T)
    o = k // T % C_out
    t = k % T
    acc = b[o]
    for i in range(C_in):
        for j in range(K):
            s = t - (K - 1 - j) * d
            if s >= 0:  # causal: taps before the start read the zero padding, and add nothing
                acc += W[o, i, j] * x[n, i, s]
    # the ReLU as on the CPU: a NaN fails the test and passes through
    y[n, o, t] = 0.0 if relu and acc <= 0 else acc


def conv_forward_reference(y, x, W, b, d):
    _conv_forward_kernel[launch(y.size)](y, x, W, b, d, False)


def conv_relu_forward_reference(y, x, W, b, d):
    _conv_forward_kernel[launch(y.size)](y, x, W, b, d, True)


@cuda.jit(**CUDA)
def _conv_backward_input_kernel(dx, dy, W, d, zero):
    """One thread per dx[n, i, s]: the forward sent x[n, i, s] into y[n, o, s + (K-1-j)*d] with weight W[o, i, j]
    for every o and j, so dx[n, i, s] gathers dy from those outputs (those that exist: t < T)."""
    N, C_in, T = dx.shape
    C_out = dy.shape[1]
    K = W.shape[2]
    k = cuda.grid(1)
    if k >= N * C_in * T:
        return
    n = k // (C_in * T)
    i = k // T % C_in
    s = k % T
    acc = zero  # 0 of the arrays' dtype (a float literal would make the sum float64, slow on most GPUs)
    for o in range(C_out):
        for j in range(K):
            t = s + (K - 1 - j) * d
            if t < T:
                # forward: y[n, o, t] += W[o, i, j] * x[n, i, t - (K-1-j)*d], so dx[n, i, s] += W[o, i, j] * dy[n, o, t]
                acc += W[o, i, j] * dy[n, o, t]
    dx[n, i, s] = acc


def conv_backward_input_reference(dx, dy, W, d):
    _conv_backward_input_kernel[launch(dx.size)](dx, dy, W, d, dx.dtype.type(0))


@cuda.jit(**CUDA)
def _conv_backward_weight_kernel(dW, dy, x, d):
    """One thread per dW[o, i, j]: its sum over every (n, t) of dy[n, o, t] * x[n, i, t - (K-1-j)*d], in float64.
    A sum of N*T terms in one thread is long, but there are C_out*C_in*K threads, each reading rows that the
    neighbouring threads (the other taps j of the same i) read too, so most loads come from cache."""
    C_out, C_in, K = dW.shape
    N, _, T = x.shape
    k = cuda.grid(1)
    if k >= C_out * C_in * K:
        return
    o = k // (C_in * K)
    i = k // K % C_in
    j = k % K
    shift = (K - 1 - j) * d
    acc = 0.0
    for n in range(N):
        for t in range(shift, T):  # earlier t read the zero padding
            # forward: y[n, o, t] += W[o, i, j] * x[n, i, t - shift], so dW[o, i, j] += dy[n, o, t] * x[n, i, t - shift]
            acc += dy[n, o, t] * x[n, i, t - shift]
    dW[o, i, j] = acc


def conv_backward_weight_reference(dW, dy, x, d):
    _conv_backward_weight_kernel[launch(dW.size)](dW, dy, x, d)


@cuda.jit(**CUDA)
def _conv_backward_bias_kernel(db, dy):
    """One thread per db[o] = sum over (n, t) of dy[n, o, t], in float64."""
    N, C_out, T = dy.shape
    o = cuda.grid(1)
    if o >= C_out:
        return
    acc = 0.0
    for n in range(N):
        for t in range(T):
            acc += dy[n, o, t]  # forward: y[n, o, t] = b[o] + ..., so db[o] sums dy over n and t
    db[o] = acc


def conv_backward_bias_reference(db, dy):
    _conv_backward_bias_kernel[launch(db.size)](db, dy)


def conv_backward_input_add_reference(dx, dy, W, d, addend):
    """dx = addend + conv_backward_input_reference's dx, as two launches (tiled.py's conv_backward_input_add_cuda
    says why)."""
    conv_backward_input_reference(dx, dy, W, d)
    add_cuda(dx, dx, addend)
