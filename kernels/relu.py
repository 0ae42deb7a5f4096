"""ReLU, forward and backward, on arrays of any shape (the kernels see them flattened).

    y = max(x, 0)             forward
    y = max(a + b, 0)         forward of a sum (the residual block's out = ReLU(branch + residual), in one pass)
    dx = dy * [y > 0]         backward, from the saved output y (y > 0 exactly where x > 0)

At x = 0 the derivative is taken as 0, as torch and keras take it. A NaN input gives a NaN output (as np.maximum
and torch.relu do), so that a diverging run shows its NaN instead of hiding it behind zeros.
"""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL


def relu_forward_numpy(y, x):
    """y = max(x, 0), elementwise. Writes y (same shape as x)."""
    np.maximum(x, 0, out=y)


def add_relu_forward_numpy(y, a, b):
    """y = max(a + b, 0), elementwise. Writes y (same shape as a and b)."""
    np.maximum(a + b, 0, out=y)


def relu_backward_numpy(dx, dy, y):
    """dx = dy where y > 0, else 0. Writes dx (same shape as dy)."""
    dx[...] = np.where(y > 0, dy, 0)


def _relu_forward(y, x):
    xf = x.reshape(-1)
    yf = y.reshape(-1)
    for k in prange(xf.size):
        v = xf[k]
        yf[k] = 0.0 if v <= 0 else v  # written so that a NaN fails the test and passes through, as in np.maximum


def _add_relu_forward(y, a, b):
    af = a.reshape(-1)
    bf = b.reshape(-1)
    yf = y.reshape(-1)
    for k in prange(af.size):
        v = af[k] + bf[k]
        yf[k] = 0.0 if v <= 0 else v


def _relu_backward(dx, dy, y):
    dyf = dy.reshape(-1)
    yf = y.reshape(-1)
    dxf = dx.reshape(-1)
    for k in prange(dyf.size):
        # forward: y = max(x, 0): the gradient passes where the unit was active
        dxf[k] = dyf[k] if yf[k] > 0 else 0.0


relu_forward_numba = njit(**PARALLEL)(_relu_forward)
relu_backward_numba = njit(**PARALLEL)(_relu_backward)
add_relu_forward_numba = njit(**PARALLEL)(_add_relu_forward)
