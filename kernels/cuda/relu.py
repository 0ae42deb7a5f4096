"""The CUDA twins of kernels/relu.py, on flattened arrays: one thread per element.

    y = max(x, 0)      y = max(a + b, 0)      dx = dy * [y > 0]

and relu_bias_backward, dz = dy * [y > 0] with the bias gradient db[c] = sum over n and t of dz[n, c, t], as two
launches, relu_backward's and the bias gradient's: the tiled one of kernels/cuda/tiled.py, or beside it (as the
other convolution kernels' references) the one-thread-per-channel one of kernels/cuda/conv.py. The fusion is the
CPU's, where one pass instead of two was measured to save time (benchmarks/speed_results.md); a fused CUDA kernel
waits until the CUDA backend's speed has been measured on a GPU.
"""
from numba import cuda

from .._config import CUDA
from ._device import _flat, launch
from .conv import conv_backward_bias_reference
from .tiled import conv_backward_bias_cuda


@cuda.jit(**CUDA)
def _relu_forward_kernel(y, x):
    k = cuda.grid(1)
    if k < x.size:
        v = x[k]
        y[k] = 0.0 if v <= 0 else v  # a NaN fails the test and passes through, as in np.maximum


@cuda.jit(**CUDA)
def _add_relu_forward_kernel(y, a, b):
    k = cuda.grid(1)
    if k < a.size:
        v = a[k] + b[k]
        y[k] = 0.0 if v <= 0 else v


@cuda.jit(**CUDA)
def _relu_backward_kernel(dx, dy, y):
    k = cuda.grid(1)
    if k < dy.size:
        dx[k] = dy[k] if y[k] > 0 else 0.0  # forward: y = max(x, 0): the gradient passes where the unit was active


def relu_forward_cuda(y, x):
    _relu_forward_kernel[launch(x.size)](_flat(y), _flat(x))


def add_relu_forward_cuda(y, a, b):
    _add_relu_forward_kernel[launch(a.size)](_flat(y), _flat(a), _flat(b))


def relu_backward_cuda(dx, dy, y):
    _relu_backward_kernel[launch(dy.size)](_flat(dx), _flat(dy), _flat(y))


def relu_bias_backward_cuda(dz, db, dy, y):
    relu_backward_cuda(dz, dy, y)
    conv_backward_bias_cuda(db, dz)


def relu_bias_backward_reference(dz, db, dy, y):
    relu_backward_cuda(dz, dy, y)
    conv_backward_bias_reference(db, dz)
