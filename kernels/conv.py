"""Causal dilated 1-D convolution: forward, and backward with respect to the input, the weights and the bias.

Layout (every kernel in this module): channels before time, time contiguous in memory.

    x:  (N, C_in, T)      input
    W:  (C_out, C_in, K)  weights, the layout of torch.nn.Conv1d
    b:  (C_out,)          bias
    y:  (N, C_out, T)     output, the same length T as the input

The formula, with x[n, i, t] = 0 for t < 0 (left zero padding of (K-1)*d steps):

    y[n, o, t] = b[o] + sum_{i, j} W[o, i, j] * x[n, i, t - (K-1-j)*d]

Tap j = K-1 multiplies the current step, tap j = 0 the step (K-1)*d back. This is what torch.nn.Conv1d and keras
Conv1D compute on an input padded with (K-1)*d zeros on the left, so weights move between them and pytcn unchanged.
The textbook causal convolution y[t] = sum_j f[j] x[t - j*d] counts taps the other way round: f[j] = W[..., K-1-j],
the same kernel flipped in time. (Deep-learning "convolutions" are cross-correlations; the flip is why.)

Each op comes twice, with the same signature (outputs first, then inputs, then sizes) and the same result:

- ``*_numpy``: the reference. It pads explicitly and does one matrix product per tap, a different route from the
  fast kernel, so that agreement between the two means something. It is the test oracle and the teaching copy.
- ``*_numba``: the CPU kernel, loops over contiguous time rows that LLVM vectorises, parallel over (n, channel).

The backward passes are convolutions too: the input gradient is the same sum run anti-causally (each dy[t] flows
back to the K inputs it was made from), and the weight gradient correlates x with dy.
"""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL


# --------------------------------------------------------------------------------------------------------------
# NumPy reference


def conv_forward_numpy(y, x, W, b, d):
    """y[n, o, t] = b[o] + sum_{i, j} W[o, i, j] * x[n, i, t - (K-1-j)*d]. Writes y: (N, C_out, T)."""
    N, C_in, T = x.shape
    K = W.shape[2]
    pad = (K - 1) * d
    xp = np.concatenate([np.zeros((N, C_in, pad), x.dtype), x], axis=2)  # N, C_in, pad + T
    # x[t - (K-1-j)*d] sits at xp[t + j*d]: tap j reads the window of T steps starting at j*d
    acc = np.zeros((N, W.shape[0], T), x.dtype)
    for j in range(K):
        acc += np.einsum("oi,nit->not", W[:, :, j], xp[:, :, j * d:j * d + T])
    y[...] = acc + b[None, :, None]


def conv_backward_input_numpy(dx, dy, W, d):
    """dx[n, i, s] = sum_{o, j} W[o, i, j] * dy[n, o, s + (K-1-j)*d]  (terms past T are zero). Writes dx."""
    N, C_out, T = dy.shape
    K = W.shape[2]
    pad = (K - 1) * d
    # forward: acc += W[:, :, j] @ xp[:, :, j*d : j*d + T]; so each window of the padded input gets W[:, :, j].T @ dy
    dxp = np.zeros((N, W.shape[1], pad + T), dy.dtype)
    for j in range(K):
        dxp[:, :, j * d:j * d + T] += np.einsum("oi,not->nit", W[:, :, j], dy)
    dx[...] = dxp[:, :, pad:]  # the padding was constant zeros: its gradient is dropped


def conv_backward_weight_numpy(dW, dy, x, d):
    """dW[o, i, j] = sum_{n, t} dy[n, o, t] * x[n, i, t - (K-1-j)*d]. Writes dW: (C_out, C_in, K)."""
    N, C_in, T = x.shape
    K = dW.shape[2]
    pad = (K - 1) * d
    xp = np.concatenate([np.zeros((N, C_in, pad), x.dtype), x], axis=2)
    for j in range(K):
        # forward: acc += einsum("oi,nit->not", W[:, :, j], window_j), so dW[:, :, j] = einsum(dy, window_j)
        dW[:, :, j] = np.einsum("not,nit->oi", dy, xp[:, :, j * d:j * d + T])


def conv_backward_bias_numpy(db, dy):
    """db[o] = sum_{n, t} dy[n, o, t]. Writes db: (C_out,)."""
    db[...] = dy.sum(axis=(0, 2))


# --------------------------------------------------------------------------------------------------------------
# Numba CPU kernels
#
# Rows are sliced before the time loop (ys = y[n, o][s:], xs = x[n, i][:T - s]) so the loop indexes with a bare,
# non-negative counter: indexing x[n, i, t - s] directly makes Numba emit negative-index wraparound checks and
# stops LLVM vectorising (7x slower, see shared/notes/numba-performance.md). The slices also make the causal shift
# free: no padded copy of x is ever built.


def _conv_forward(y, x, W, b, d):
    N, C_in, T = x.shape
    C_out, _, K = W.shape
    for p in prange(N * C_out):  # each (n, o) row of y belongs to one thread
        n = p // C_out
        o = p % C_out
        yrow = y[n, o]
        for t in range(T):
            yrow[t] = b[o]
        for i in range(C_in):
            xrow = x[n, i]
            for j in range(K):
                s = (K - 1 - j) * d  # tap j looks s steps back
                if s >= T:
                    continue  # every step it would read is left padding
                w = W[o, i, j]
                ys = yrow[s:]
                xs = xrow[:T - s]
                for t in range(T - s):
                    ys[t] += w * xs[t]


def _conv_backward_input(dx, dy, W, d):
    N, C_out, T = dy.shape
    _, C_in, K = W.shape
    for p in prange(N * C_in):  # each (n, i) row of dx belongs to one thread
        n = p // C_in
        i = p % C_in
        dxrow = dx[n, i]
        for t in range(T):
            dxrow[t] = 0.0
        for o in range(C_out):
            dyrow = dy[n, o]
            for j in range(K):
                s = (K - 1 - j) * d
                if s >= T:
                    continue
                # forward: y[n, o, t] += W[o, i, j] * x[n, i, t - s]   for t >= s
                # so:      dx[n, i, u] += W[o, i, j] * dy[n, o, u + s] for u < T - s
                w = W[o, i, j]
                dys = dyrow[s:]
                for u in range(T - s):
                    dxrow[u] += w * dys[u]


def _conv_backward_weight(dW, dy, x, d):
    N, C_in, T = x.shape
    C_out, _, K = dW.shape
    for p in prange(C_out * C_in):  # each (o, i) slice of dW belongs to one thread: no two threads add to one sum
        o = p // C_in
        i = p % C_in
        for j in range(K):
            s = (K - 1 - j) * d
            acc = 0.0
            if s < T:
                for n in range(N):
                    # forward: y[n, o, t] += W[o, i, j] * x[n, i, t - s], so dW[o, i, j] += dy[n, o, t] * x[n, i, t - s]
                    dys = dy[n, o][s:]
                    xs = x[n, i][:T - s]
                    for t in range(T - s):
                        acc += dys[t] * xs[t]
            dW[o, i, j] = acc


def _conv_backward_bias(db, dy):
    N, C_out, T = dy.shape
    for o in prange(C_out):
        acc = 0.0
        for n in range(N):
            row = dy[n, o]
            for t in range(T):
                acc += row[t]  # forward: y[n, o, t] = b[o] + ..., so every dy[n, o, t] adds to db[o]
        db[o] = acc


conv_forward_numba = njit(**PARALLEL)(_conv_forward)
conv_backward_input_numba = njit(**PARALLEL)(_conv_backward_input)
conv_backward_weight_numba = njit(**PARALLEL)(_conv_backward_weight)
conv_backward_bias_numba = njit(**PARALLEL)(_conv_backward_bias)
