"""Four rows at a time: the matrix-vector products of the recurrent kernels (kernels/gru.py, kernels/lstm.py).

A recurrent layer cannot do a time step before the one before it is done, so it cannot hand a whole sequence to one
matrix product as a convolution can. What it can do is advance four sequences of the batch together: each weight is
then read from the cache once for four rows instead of once per row, and a step of four rows costs about what a
step of one would, where reading the weights is what limits it (a GRU's W_hh of 130 hidden units is 200 KB).

Each helper takes the four rows as a (4, ...) array; a group of fewer than four sequences leaves the extra rows at
zero, so that they add nothing to a sum. With W: (G, K), G the gates' rows:

    project4:             out[r, j] = b[j] + sum_k W[j, k] * v[r, k]          out = v @ W.T + b
    add_outer4:           dW[j, k] += sum_r g[r, j] * v[r, k]                 dW += g.T @ v,  db += g summed over r

The loops put the long, contiguous index (k of a weight's row) innermost, so that they vectorise, and keep the four
rows' sums in registers (project4) or the four rows' terms in one update of dW (add_outer4). A product g @ W (the
backward pass's) is project4 with W.T, made contiguous once per call: its sums stay in registers, where adding
g[r, j] * W[j] into the result row by row would store every element of it once per row of W.
"""
from numba import njit

from ._config import SERIAL_INLINED


def _project4(out, W, b, v):
    G, K = W.shape
    v0, v1, v2, v3 = v[0], v[1], v[2], v[3]
    for j in range(G):
        w = W[j]
        s0 = b[j]
        s1 = b[j]
        s2 = b[j]
        s3 = b[j]
        for k in range(K):
            wk = w[k]
            s0 += wk * v0[k]
            s1 += wk * v1[k]
            s2 += wk * v2[k]
            s3 += wk * v3[k]
        out[0, j] = s0
        out[1, j] = s1
        out[2, j] = s2
        out[3, j] = s3


def _add_outer4(dW, db, g, v):
    G, K = dW.shape
    v0, v1, v2, v3 = v[0], v[1], v[2], v[3]
    for j in range(G):
        dw = dW[j]
        g0 = g[0, j]
        g1 = g[1, j]
        g2 = g[2, j]
        g3 = g[3, j]
        for k in range(K):
            dw[k] += g0 * v0[k] + g1 * v1[k] + g2 * v2[k] + g3 * v3[k]
        db[j] += g0 + g1 + g2 + g3


project4 = njit(**SERIAL_INLINED)(_project4)
add_outer4 = njit(**SERIAL_INLINED)(_add_outer4)
