"""One step of a causal dilated convolution, for streaming: the output at step t from the input at step t and the
(K-1)*d inputs before it, kept in a ring buffer.

    history: (N, L, C_in), L = (K-1)*d >= 1   the last L inputs: the input of step s sits in slot s % L
    x:       (N, C_in)                         the input at step t
    W:       (C_out, C_in, K),  b: (C_out,)
    y:       (N, C_out)

    y[n, o] = b[o] + sum_{i, j} W[o, i, j] * x_{t - (K-1-j)*d}[n, i]        (x_s = 0 for s < 0)
    y = max(y, 0)                                                          (relu)

This is the full convolution of kernels/conv.py read at one step: y[n, o, t] there. Tap K-1 reads x itself; tap j < K-1
reads the input (K-1-j)*d steps back, in slot (t - (K-1-j)*d) % L. A fresh history is zeros, which is the causal
padding: the steps before the start. Once y is computed, x goes into slot t % L, the slot of step t - L, which tap 0
has just read and no later step needs; so a step costs O(C_out * C_in * K) and moves no memory but one row.

The history is an output as well as an input: the kernel writes x into it, in place (``t`` is the step of x).
"""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL


def conv_step_numpy(y, history, x, W, b, d, t, relu):
    """y[n, o] = b[o] + sum_{i, j} W[o, i, j] * x_{t - (K-1-j)*d}[n, i] (then max(., 0) if relu); then x goes into
    history's slot t % L. Writes y: (N, C_out) and history: (N, L, C_in)."""
    K = W.shape[2]
    L = history.shape[1]
    # the K inputs the taps read, gathered into one window (N, C_in, K), oldest first as the taps are ordered
    slots = [(t - (K - 1 - j) * d) % L for j in range(K - 1)]
    window = np.concatenate([history[:, slots, :], x[:, None, :]], axis=1).transpose(0, 2, 1)  # N, C_in, K
    acc = np.einsum("oij,nij->no", W, window) + b
    y[...] = np.maximum(acc, 0) if relu else acc
    history[:, t % L, :] = x  # replaces step t - L, the oldest, which tap 0 has just read


def _conv_step(y, history, x, W, b, d, t, relu):
    N, C_out = y.shape
    C_in, K = W.shape[1], W.shape[2]
    L = history.shape[1]
    Wf = W.reshape(C_out, C_in * K)  # W[o] as one row of (i, j) pairs, contiguous
    for n in prange(N):  # one sample per thread: its row of y and its own history, read then written
        # the inputs the taps read, laid out as W[o] is: window[i * K + j] = x_{t - (K-1-j)*d}[n, i], so that
        # each output is one contiguous dot product, which vectorises
        window = np.empty(C_in * K, y.dtype)
        for j in range(K):
            age = (K - 1 - j) * d
            row = x[n] if age == 0 else history[n, (t - age) % L]  # the input of step t - age
            for i in range(C_in):
                window[i * K + j] = row[i]
        for o in range(C_out):
            acc = b[o]
            for k in range(C_in * K):
                acc += Wf[o, k] * window[k]
            y[n, o] = 0.0 if relu and acc <= 0 else acc  # as the ReLU kernels: a NaN passes through
        slot = t % L
        for i in range(C_in):
            history[n, slot, i] = x[n, i]


conv_step_numba = njit(**PARALLEL)(_conv_step)
