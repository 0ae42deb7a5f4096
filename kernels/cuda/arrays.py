"""The CUDA twins of kernels/arrays.py: the plumbing, what NumPy does between the layers on the CPU.

Most are one thread per output element; ``sum_squares_cuda`` (the gradient norm) adds up whole arrays with the sums
of ``_device.py``.
"""
import math

from numba import cuda

from .._config import CUDA
from .._config import CUDA_SUM_CHUNK as SUM_CHUNK
from ._device import _flat, _partial_sums_kernel, _scratch, _total, launch


@cuda.jit(**CUDA)
def _fill_kernel(out, value):
    k = cuda.grid(1)
    if k < out.size:
        out[k] = value


def fill_cuda(out, value):
    _fill_kernel[launch(out.size)](_flat(out), value)


@cuda.jit(**CUDA)
def _copy_kernel(out, x):
    k = cuda.grid(1)
    if k < out.size:
        out[k] = x[k]


def copy_cuda(out, x):
    _copy_kernel[launch(out.size)](_flat(out), _flat(x))


@cuda.jit(**CUDA)
def _add_kernel(out, a, b):
    k = cuda.grid(1)
    if k < out.size:
        out[k] = a[k] + b[k]


def add_cuda(out, a, b):
    _add_kernel[launch(out.size)](_flat(out), _flat(a), _flat(b))


@cuda.jit(**CUDA)
def _scale_kernel(out, x, s):
    k = cuda.grid(1)
    if k < out.size:
        out[k] = x[k] * s


def scale_cuda(out, x, s):
    _scale_kernel[launch(out.size)](_flat(out), _flat(x), x.dtype.type(s))


def sum_squares_cuda(arrays):
    """The partial sums of every array go into one array, so that the total comes back in one copy."""
    chunks = [math.ceil(a.size / SUM_CHUNK) for a in arrays]
    partial = _scratch("partial sums", (sum(chunks),))
    offset = 0
    for a, n in zip(arrays, chunks):
        _partial_sums_kernel[launch(n)](partial[offset:offset + n], _flat(a), True)
        offset += n
    return _total(partial)


@cuda.jit(**CUDA)
def _transpose_kernel(out, x):
    """One thread per out[a, c, b] = x[a, b, c]. Writes are coalesced; reads stride by C (small in a TCN)."""
    A, C, B = out.shape
    k = cuda.grid(1)
    if k >= A * C * B:
        return
    a = k // (C * B)
    c = k // B % C
    b = k % B
    out[a, c, b] = x[a, b, c]


def transpose_cuda(out, x):
    _transpose_kernel[launch(out.size)](out, x)


@cuda.jit(**CUDA)
def _take_steps_kernel(out, x, steps):
    N, C = out.shape
    k = cuda.grid(1)
    if k < N * C:
        out[k // C, k % C] = x[k // C, k % C, steps[k // C]]


def take_steps_cuda(out, x, steps):
    _take_steps_kernel[launch(out.size)](out, x, steps)


@cuda.jit(**CUDA)
def _scatter_steps_kernel(dx, dout, steps):
    N, C, T = dx.shape
    k = cuda.grid(1)
    if k >= N * C * T:
        return
    n = k // (C * T)
    c = k // T % C
    t = k % T
    # forward: out[n, c] = x[n, c, steps[n]], so only that step of x receives a gradient
    dx[n, c, t] = dout[n, c] if t == steps[n] else 0.0


def scatter_steps_cuda(dx, dout, steps):
    _scatter_steps_kernel[launch(dx.size)](dx, dout, steps)


@cuda.jit(**CUDA)
def _mean_steps_kernel(out, x, lengths):
    """One thread per out[n, c] = (1 / L_n) sum_{t < L_n} x[n, c, t]: a loop over the sequence's own steps, never
    the padding after them."""
    N, C = out.shape
    k = cuda.grid(1)
    if k >= N * C:
        return
    n = k // C
    c = k % C
    L = lengths[n]
    acc = x[n, c, 0]  # L >= 1; started from a step of x, the sum is in x's dtype, as the CPU's
    for t in range(1, L):
        acc += x[n, c, t]
    out[n, c] = acc / L


def mean_steps_cuda(out, x, lengths):
    _mean_steps_kernel[launch(out.size)](out, x, lengths)


@cuda.jit(**CUDA)
def _spread_steps_kernel(dx, dout, lengths):
    N, C, T = dx.shape
    k = cuda.grid(1)
    if k >= N * C * T:
        return
    n = k // (C * T)
    c = k // T % C
    t = k % T
    # forward: out[n, c] = (1 / L_n) sum_{t < L_n} x[n, c, t], so each of the first L_n steps gets dout[n, c] / L_n
    dx[n, c, t] = dout[n, c] / lengths[n] if t < lengths[n] else 0.0


def spread_steps_cuda(dx, dout, lengths):
    _spread_steps_kernel[launch(dx.size)](dx, dout, lengths)


@cuda.jit(**CUDA)
def _window_kernel(out, x, start):
    N, C, T_out = out.shape
    T_x = x.shape[2]
    k = cuda.grid(1)
    if k >= N * C * T_out:
        return
    n = k // (C * T_out)
    c = k // T_out % C
    t = k % T_out
    s = start + t
    out[n, c, t] = x[n, c, s] if 0 <= s < T_x else 0.0


def window_cuda(out, x, start):
    _window_kernel[launch(out.size)](out, x, start)


@cuda.jit(**CUDA)
def _scale_channels_kernel(y, x, mask):
    N, C, T = y.shape
    k = cuda.grid(1)
    if k < N * C * T:
        y[k // (C * T), k // T % C, k % T] = x[k // (C * T), k // T % C, k % T] * mask[k // (C * T), k // T % C]


def scale_channels_cuda(y, x, mask):
    _scale_channels_kernel[launch(y.size)](y, x, mask)


@cuda.jit(**CUDA)
def _weight_norm_kernel(W, g, v):
    """One thread per output channel o: ||v[o]||, then the row W[o] = g[o] v[o] / ||v[o]|| (C_in*K entries)."""
    C_out, C_in, K = v.shape
    o = cuda.grid(1)
    if o >= C_out:
        return
    sq = 0.0
    for i in range(C_in):
        for j in range(K):
            sq += v[o, i, j] * v[o, i, j]
    norm = math.sqrt(sq)
    for i in range(C_in):
        for j in range(K):
            W[o, i, j] = g[o, 0, 0] * v[o, i, j] / norm


def weight_norm_cuda(W, g, v):
    _weight_norm_kernel[launch(v.shape[0])](W, g, v)


@cuda.jit(**CUDA)
def _weight_norm_backward_kernel(dg, dv, dW, g, v):
    """One thread per output channel o. Forward: W[o] = g[o] u, u = v[o] / ||v[o]||. So dg[o] = <dW[o], u>, and
    dv[o] = (g[o] / ||v[o]||) (dW[o] - u dg[o]) (the part of dW along u is what g already takes)."""
    C_out, C_in, K = v.shape
    o = cuda.grid(1)
    if o >= C_out:
        return
    sq = 0.0
    dot = 0.0
    for i in range(C_in):
        for j in range(K):
            sq += v[o, i, j] * v[o, i, j]
            dot += dW[o, i, j] * v[o, i, j]
    norm = math.sqrt(sq)
    dg_o = dot / norm
    dg[o, 0, 0] = dg_o
    for i in range(C_in):
        for j in range(K):
            dv[o, i, j] = (g[o, 0, 0] / norm) * (dW[o, i, j] - v[o, i, j] * (dg_o / norm))


def weight_norm_backward_cuda(dg, dv, dW, g, v):
    _weight_norm_backward_kernel[launch(v.shape[0])](dg, dv, dW, g, v)


@cuda.jit(**CUDA)
def _sgd_update_kernel(param, grad, lr):
    k = cuda.grid(1)
    if k < param.size:
        param[k] -= lr * grad[k]


def sgd_update_cuda(param, grad, lr):
    _sgd_update_kernel[launch(param.size)](_flat(param), _flat(grad), param.dtype.type(lr))
