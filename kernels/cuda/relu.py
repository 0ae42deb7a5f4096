"""The CUDA twins of kernels/relu.py, on flattened arrays: one thread per element.

    y = max(x, 0)      y = max(a + b, 0)      dx = dy * [y > 0]
"""
from numba import cuda

from .._config import CUDA
from ._device import _flat, launch


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
