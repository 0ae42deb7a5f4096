"""ReLU, forward and backward, on arrays of any shape (the kernels see them flattened).

    y = max(x, 0)             forward
    y = max(a + b, 0)         forward of a sum (the residual block's out = ReLU(branch + residual), in one pass)
    dx = dy * [y > 0]         backward, from the saved output y (y > 0 exactly where x > 0)
    dz = dy * [y > 0], db[c] = sum over n and t of dz[n, c, t]
                              backward of the convolution's own ReLU, y = max(z, 0) with z = conv(x) + b, and the
                              gradient of its bias b in the same pass (one read of dz fewer per convolution)

At x = 0 the derivative is taken as 0, as torch and keras take it. A NaN input gives a NaN output (as np.maximum
and torch.relu do), so that a diverging run shows its NaN instead of hiding it behind zeros.
"""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL, SERIAL_NOALIAS
from .conv import overlap


def relu_forward_numpy(y, x):
    """y = max(x, 0), elementwise. Writes y (same shape as x)."""
    np.maximum(x, 0, out=y)


def add_relu_forward_numpy(y, a, b):
    """y = max(a + b, 0), elementwise. Writes y (same shape as a and b)."""
    np.maximum(a + b, 0, out=y)


def relu_backward_numpy(dx, dy, y):
    """dx = dy where y > 0, else 0. Writes dx (same shape as dy)."""
    dx[...] = np.where(y > 0, dy, 0)


def relu_bias_backward_numpy(dz, db, dy, y):
    """dz = dy where y > 0, else 0, and db[c] = the sum of dz[:, c, :], for dy and y of shape (N, C, T): the backward
    pass of y = max(z, 0) and of the bias added into z. Writes dz and db (C,)."""
    relu_backward_numpy(dz, dy, y)
    db[...] = dz.sum(axis=(0, 2))


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


def _relu_bias_backward(dz, db, dy, y):
    N, C, T = dy.shape
    if overlap(dz, dy) or overlap(dz, y):  # the promise relu_bias_row is compiled on
        raise ValueError("the ReLU's gradient dz overlaps dy or y: give it an array of its own")
    # The rows in memory order, each thread a run of consecutive rows, each row's sum kept apart and the sums added
    # over n afterwards (in order: one thread and two give the same bits). Measured on wide's arrays (N 16, C 128,
    # T 1024, float32, from memory, 2 threads, a 2-vCPU AMD EPYC): 0.65 ms a call, against 0.80 with a thread per
    # channel summing in place, whose rows lie a page each, C pages apart, and 0.78 for relu_backward and then
    # conv_backward_bias (relu_backward alone: 0.60).
    sums = np.empty((N, C), dy.dtype)
    for p in prange(N * C):
        n = p // C
        c = p % C
        sums[n, c] = relu_bias_row(dz[n, c], dy[n, c], y[n, c])
    for c in range(C):
        acc = sums[0, c]  # forward: z[n, c, t] = b[c] + ..., so every dz[n, c, t] adds to db[c]
        for n in range(1, N):
            acc += sums[n, c]
        db[c] = acc


def _relu_bias_row(dzrow, dyrow, yrow):
    """dzrow = dyrow [yrow > 0], and the sum of dzrow, returned.

    A function of its own, compiled with its rows declared apart (SERIAL_NOALIAS, kernels/_config.py), so that the
    sum's order never depends on where the rows lie. Inlined, the loop stores dzrow and sums in one pass, and LLVM ran
    its vectorised loop (sixteen partial sums, added at the end) only after a run-time check that dzrow does not
    overlap the rows it reads. The check errs on the safe side: with short rows it could send two rows that do not
    overlap to the one-at-a-time loop, whose sum rounds otherwise. Seen as a bias gradient that differed in its last
    bit between one thread and two, the outputs of the two calls lying elsewhere (T = 16, 33, 40: dz placed from 16 to
    200 floats after dy)."""
    zero = dyrow.dtype.type(0)  # not 0.0: a float64 literal would turn float32 sums into float64 ones
    acc = zero
    for t in range(len(dzrow)):
        v = dyrow[t] if yrow[t] > 0 else zero
        dzrow[t] = v
        acc += v
    return acc


relu_bias_row = njit(**SERIAL_NOALIAS)(_relu_bias_row)
relu_forward_numba = njit(**PARALLEL)(_relu_forward)
relu_backward_numba = njit(**PARALLEL)(_relu_backward)
add_relu_forward_numba = njit(**PARALLEL)(_add_relu_forward)
relu_bias_backward_numba = njit(**PARALLEL)(_relu_bias_backward)
