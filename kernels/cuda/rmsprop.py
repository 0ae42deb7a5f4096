"""The CUDA twin of kernels/rmsprop.py: one RMSprop step on a flattened parameter array, one thread per element."""
import math

from numba import cuda

from .._config import CUDA
from ._device import _flat, launch


@cuda.jit(**CUDA)
def _rmsprop_update_kernel(param, m, v, grad, grad_scale, lr, alpha, eps, weight_decay, momentum):
    k = cuda.grid(1)
    if k >= param.size:
        return
    g = grad[k] * grad_scale + weight_decay * param[k]
    v[k] = alpha * v[k] + (1 - alpha) * g * g
    u = g / (math.sqrt(v[k]) + eps)
    if momentum > 0:
        m[k] = momentum * m[k] + u
        param[k] -= lr * m[k]
    else:
        param[k] -= lr * u


def rmsprop_update_cuda(param, m, v, grad, grad_scale, lr, alpha, eps, weight_decay, momentum):
    _rmsprop_update_kernel[launch(param.size)](_flat(param), _flat(m), _flat(v), _flat(grad), grad_scale, lr, alpha,
                                               eps, weight_decay, momentum)
