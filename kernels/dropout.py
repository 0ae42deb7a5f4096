"""Element-wise dropout's one operation: every element scaled by its own entry of a mask, forward and backward.

    y[k] = x[k] * mask[k]        x, y, mask: one shape (any), mask = 0 (dropped) or 1 / (1 - rate) (kept)

The backward pass is the same product with dy (forward: y = x * mask, so dx = dy * mask). The mask is drawn by the
layer (pytcn.layers.Dropout) on the host; spatial dropout's mask, one entry per (sample, channel), is applied by
``scale_channels`` in kernels/arrays.py.
"""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL


def scale_elements_numpy(y, x, mask):
    """y = x * mask, elementwise. Writes y."""
    np.multiply(x, mask, out=y)


def _scale_elements(y, x, mask):
    xf = x.reshape(-1)
    mf = mask.reshape(-1)
    yf = y.reshape(-1)
    for k in prange(xf.size):
        yf[k] = xf[k] * mf[k]


scale_elements_numba = njit(**PARALLEL)(_scale_elements)
