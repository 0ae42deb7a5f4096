"""The CUDA twin of kernels/dropout.py: element-wise dropout's product with its mask, y = x * mask, on flattened
arrays. Spatial dropout's mask, one entry per (sample, channel), is applied by ``scale_channels`` in ``arrays.py``.
"""
from numba import cuda

from .._config import CUDA
from ._device import _flat, launch


@cuda.jit(**CUDA)
def _scale_elements_kernel(y, x, mask):
    """One thread per element: y = x * mask (element-wise dropout, kernels/dropout.py)."""
    k = cuda.grid(1)
    if k < y.size:
        y[k] = x[k] * mask[k]


def scale_elements_cuda(y, x, mask):
    _scale_elements_kernel[launch(y.size)](_flat(y), _flat(x), _flat(mask))
