"""The CUDA twin of kernels/adam.py: one Adam step on a flattened parameter array, one thread per element.
(SGD's update is plumbing, in ``arrays.py``, as on the CPU.)
"""
import math

from numba import cuda

from .._config import CUDA
from ._device import _flat, launch


@cuda.jit(**CUDA)
def _adam_update_kernel(param, m, v, grad, grad_scale, beta1, beta2, eps, weight_decay, step_size,
                        bias_correction2_sqrt):
    k = cuda.grid(1)
    if k >= param.size:
        return
    g = grad[k] * grad_scale + weight_decay * param[k]
    m[k] = beta1 * m[k] + (1 - beta1) * g
    v[k] = beta2 * v[k] + (1 - beta2) * g * g
    param[k] -= step_size * m[k] / (math.sqrt(v[k]) / bias_correction2_sqrt + eps)


def adam_update_cuda(param, m, v, grad, grad_scale, lr, beta1, beta2, eps, weight_decay, step):
    step_size = lr / (1 - beta1 ** step)  # the bias corrections, once per array rather than once per element
    bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
    _adam_update_kernel[launch(param.size)](_flat(param), _flat(m), _flat(v), _flat(grad), grad_scale, beta1, beta2,
                                            eps, weight_decay, step_size, bias_correction2_sqrt)
