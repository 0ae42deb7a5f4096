"""The CUDA twins of kernels/linear.py: x (M, F), W (O, F), b (O,), y (M, O).

    y[m, o] = b[o] + sum_f W[o, f] * x[m, f]

``linear_backward_reference`` is the formula, one thread per output (``CUDA_REFERENCES``); ``linear_backward_cuda``
sums dW and db over the M rows with the fast kernels of ``tiled.py``.
"""
from numba import cuda

from .._config import CUDA
from ._device import launch
from .tiled import conv_backward_bias_cuda, conv_backward_weight_cuda


@cuda.jit(**CUDA)
def _linear_forward_kernel(y, x, W, b):
    """One thread per y[m, o]."""
    M, O = y.shape
    F = x.shape[1]
    k = cuda.grid(1)
    if k >= M * O:
        return
    m = k // O
    o = k % O
    acc = b[o]
    for f in range(F):
        acc += W[o, f] * x[m, f]
    y[m, o] = acc


@cuda.jit(**CUDA)
def _linear_backward_input_kernel(dx, dy, W, zero):
    """One thread per dx[m, f] = sum_o dy[m, o] * W[o, f]."""
    M, F = dx.shape
    O = W.shape[0]
    k = cuda.grid(1)
    if k >= M * F:
        return
    m = k // F
    f = k % F
    acc = zero
    for o in range(O):
        acc += dy[m, o] * W[o, f]  # forward: y[m, o] += W[o, f] * x[m, f], so dx[m, f] += dy[m, o] * W[o, f]
    dx[m, f] = acc


@cuda.jit(**CUDA)
def _linear_backward_params_kernel(dW, db, dy, x):
    """One thread per dW[o, f] = sum_m dy[m, o] * x[m, f] (in float64); the threads of f = 0 also write db[o]."""
    M, F = x.shape
    O = dW.shape[0]
    k = cuda.grid(1)
    if k >= O * F:
        return
    o = k // F
    f = k % F
    acc = 0.0
    bias = 0.0
    for m in range(M):
        # forward: y[m, o] = b[o] + W[o, f] * x[m, f] + ..., so dW[o, f] += dy[m, o] * x[m, f] and db[o] += dy[m, o]
        acc += dy[m, o] * x[m, f]
        bias += dy[m, o]
    dW[o, f] = acc
    if f == 0:
        db[o] = bias


def linear_forward_cuda(y, x, W, b):
    _linear_forward_kernel[launch(y.size)](y, x, W, b)


def linear_backward_reference(dx, dW, db, dy, x, W):
    _linear_backward_input_kernel[launch(dx.size)](dx, dy, W, dx.dtype.type(0))
    _linear_backward_params_kernel[launch(dW.size)](dW, db, dy, x)


def linear_backward_cuda(dx, dW, db, dy, x, W, tiles=None, threads=None):
    """dx as the reference does (each of its M*F entries sums only O terms); dW and db, sums over the M rows, by the
    fast weight- and bias-gradient kernels (with their ``tiles`` and ``threads``), the rows taken as the steps of a
    length-1 sequence: dy as (M, O, 1), x as (M, F, 1), one tap."""
    M, O = dy.shape
    _linear_backward_input_kernel[launch(dx.size)](dx, dy, W, dx.dtype.type(0))
    conv_backward_weight_cuda(dW.reshape(O, x.shape[1], 1), dy.reshape(M, O, 1), x.reshape(M, x.shape[1], 1), 1,
                              tiles=tiles)
    conv_backward_bias_cuda(db, dy.reshape(M, O, 1), threads=threads)
