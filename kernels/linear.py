"""Linear (dense) layer, forward and backward.

    x: (M, F)   M rows (sequences, or sequences times steps), F features
    W: (O, F)   weights, the layout of torch.nn.Linear
    b: (O,)
    y: (M, O)   y[m, o] = b[o] + sum_f W[o, f] * x[m, f]
"""
from numba import njit, prange

from ._config import PARALLEL


def linear_forward_numpy(y, x, W, b):
    """y = x @ W.T + b. Writes y: (M, O)."""
    y[...] = x @ W.T + b


def linear_backward_numpy(dx, dW, db, dy, x, W):
    """dx = dy @ W, dW = dy.T @ x, db = sum over rows of dy. Writes dx: (M, F), dW: (O, F), db: (O,)."""
    dx[...] = dy @ W
    dW[...] = dy.T @ x
    db[...] = dy.sum(axis=0)


def _linear_forward(y, x, W, b):
    M, F = x.shape
    O = W.shape[0]
    for m in prange(M):
        for o in range(O):
            acc = b[o]
            for f in range(F):
                acc += W[o, f] * x[m, f]
            y[m, o] = acc


def _linear_backward(dx, dW, db, dy, x, W):
    M, F = x.shape
    O = W.shape[0]
    for m in prange(M):  # each row of dx belongs to one thread
        for f in range(F):
            acc = 0.0
            for o in range(O):
                # forward: y[m, o] += W[o, f] * x[m, f], so dx[m, f] += dy[m, o] * W[o, f]
                acc += dy[m, o] * W[o, f]
            dx[m, f] = acc
    for o in prange(O):  # each row of dW, and db[o], belongs to one thread
        for f in range(F):
            acc = 0.0
            for m in range(M):
                acc += dy[m, o] * x[m, f]  # ... and dW[o, f] += dy[m, o] * x[m, f]
            dW[o, f] = acc
        acc = 0.0
        for m in range(M):
            acc += dy[m, o]  # forward: y[m, o] = b[o] + ..., so db[o] sums dy over rows
        db[o] = acc


linear_forward_numba = njit(**PARALLEL)(_linear_forward)
linear_backward_numba = njit(**PARALLEL)(_linear_backward)
