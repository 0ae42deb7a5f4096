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
- ``*_numba``: the CPU kernel, loops over contiguous time rows that LLVM vectorises, four taps per pass, parallel
  over (n, channel) or over chunks of the batch.

The backward passes are convolutions too: the input gradient is the same sum run anti-causally (each dy[t] flows
back to the K inputs it was made from), and the weight gradient correlates x with dy.
"""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL, SERIAL


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


def conv_relu_forward_numpy(y, x, W, b, d):
    """y = max(conv(x), 0): the convolution above, then a ReLU. Writes y: (N, C_out, T)."""
    conv_forward_numpy(y, x, W, b, d)
    np.maximum(y, 0, out=y)


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
# Two habits make these fast, and both are about memory traffic rather than arithmetic:
#
# 1. Rows are sliced before the time loop (ys = y[n, o][s:], xs = x[n, i][:T - s]) so that every loop indexes with
#    a bare, non-negative counter: indexing x[n, i, t - s] makes Numba emit negative-index wraparound checks and
#    stops LLVM vectorising (7x slower, see shared/notes/numba-performance.md). The slices also make the causal
#    shift free: no padded copy of x is ever built.
#
# 2. Each pass over time does sixteen multiply-adds per step from eight loads: four output rows (or input rows, for
#    the input gradient) times four (row, tap) pairs. Adding one tap into one output row costs a load of y, a load
#    of x and a store of y per multiply-add; four rows times four pairs reuse every loaded x for four rows and every
#    y for four pairs (1.5-1.8x faster on the shapes of the standard TCNs, see benchmarks/). Pairs are ordered tap
#    by tap, so the four pairs of a pass usually share one shift and the pass covers the whole row. Where their
#    shifts differ, the first steps of a row (where some of the four still read the left padding) are added one
#    pair at a time ("edges"); so are the pairs left over when their count is not a multiple of four, and rows
#    left over when the channels are not, go through the same loop one row at a time. (Never padded with weight-0
#    pairs: 0 * inf is NaN, and an inf must reach only the outputs that read it.)

GROUP = 4  # (row, tap) pairs added in one pass
BLOCK = 4  # output rows (forward, weight gradient) or input rows (input gradient) written in one pass


def _tap_pairs(n_rows, K, d):
    """For every (row, tap) pair, tap by tap: its row, its tap j and its shift s = (K-1-j)*d."""
    rows = np.empty(n_rows * K, np.int64)
    taps = np.empty(n_rows * K, np.int64)
    shifts = np.empty(n_rows * K, np.int64)
    for j in range(K):
        for r in range(n_rows):
            rows[j * n_rows + r] = r
            taps[j * n_rows + r] = j
            shifts[j * n_rows + r] = (K - 1 - j) * d
    return rows, taps, shifts


def _conv_forward(y, x, W, b, d):
    conv_forward_then(y, x, W, b, d, False)


def _conv_relu_forward(y, x, W, b, d):
    conv_forward_then(y, x, W, b, d, True)


def _conv_forward_then(y, x, W, b, d, relu):
    """The convolution, and with ``relu`` a ReLU on each block of rows while they are still in cache."""
    N, C_in, T = x.shape
    C_out, _, K = W.shape
    rows, taps, shifts = tap_pairs(C_in, K, d)  # the (input channel, tap) pairs
    full = len(rows) // GROUP * GROUP  # pairs in full groups of four
    blocks = (C_out + BLOCK - 1) // BLOCK
    for p in prange(N * blocks):  # each block of four (n, o) rows of y belongs to one thread
        n = p // blocks
        o = p % blocks * BLOCK
        for r in range(o, min(o + BLOCK, C_out)):
            yrow = y[n, r]
            for t in range(T):
                yrow[t] = b[r]
        if o + BLOCK > C_out:  # the rows left over: two at a time, then one
            r = o
            if r + 2 <= C_out:
                two_rows_forward(y[n, r], y[n, r + 1], x[n], W[r], W[r + 1], rows, taps, shifts, full)
                r += 2
            if r < C_out:
                row_forward(y[n, r], x[n], W[r], rows, taps, shifts, full)
            if relu:
                for r in range(o, C_out):
                    relu_row(y[n, r])
            continue
        for q in range(0, full, GROUP):
            i0, i1, i2, i3 = rows[q], rows[q + 1], rows[q + 2], rows[q + 3]
            j0, j1, j2, j3 = taps[q], taps[q + 1], taps[q + 2], taps[q + 3]
            s0, s1, s2, s3 = shifts[q], shifts[q + 1], shifts[q + 2], shifts[q + 3]
            start = max(max(s0, s1), max(s2, s3))  # from here on all four taps read real input
            if start < T:
                L = T - start
                x0 = x[n, i0][start - s0:start - s0 + L]
                x1 = x[n, i1][start - s1:start - s1 + L]
                x2 = x[n, i2][start - s2:start - s2 + L]
                x3 = x[n, i3][start - s3:start - s3 + L]
                ya, yb, yc, yd = y[n, o][start:], y[n, o + 1][start:], y[n, o + 2][start:], y[n, o + 3][start:]
                a0, a1, a2, a3 = W[o, i0, j0], W[o, i1, j1], W[o, i2, j2], W[o, i3, j3]
                b0, b1, b2, b3 = W[o + 1, i0, j0], W[o + 1, i1, j1], W[o + 1, i2, j2], W[o + 1, i3, j3]
                c0, c1, c2, c3 = W[o + 2, i0, j0], W[o + 2, i1, j1], W[o + 2, i2, j2], W[o + 2, i3, j3]
                e0, e1, e2, e3 = W[o + 3, i0, j0], W[o + 3, i1, j1], W[o + 3, i2, j2], W[o + 3, i3, j3]
                for t in range(L):  # y[n, o + r, t] += sum_k W[o + r, i_k, j_k] * x[n, i_k, t - s_k]
                    v0, v1, v2, v3 = x0[t], x1[t], x2[t], x3[t]
                    ya[t] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
                    yb[t] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3
                    yc[t] += c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3
                    yd[t] += e0 * v0 + e1 * v1 + e2 * v2 + e3 * v3
            for k in range(q, q + GROUP):  # edges: steps s_k <= t < start, one pair at a time
                if shifts[k] < start:
                    for r in range(o, o + BLOCK):
                        add_tap_forward(y[n, r], x[n, rows[k]], W[r, rows[k], taps[k]], shifts[k], min(start, T))
        for k in range(full, len(rows)):  # the pairs left over: all their steps, one pair at a time
            for r in range(o, o + BLOCK):
                add_tap_forward(y[n, r], x[n, rows[k]], W[r, rows[k], taps[k]], shifts[k], T)
        if relu:
            for r in range(o, o + BLOCK):
                relu_row(y[n, r])


def _row_forward(yrow, xn, Wo, rows, taps, shifts, full):
    """One output row: yrow[t] += sum over pairs of Wo[i, j] * xn[i, t - s], four pairs per pass over time."""
    T = len(yrow)
    for q in range(0, full, GROUP):
        i0, i1, i2, i3 = rows[q], rows[q + 1], rows[q + 2], rows[q + 3]
        s0, s1, s2, s3 = shifts[q], shifts[q + 1], shifts[q + 2], shifts[q + 3]
        w0, w1, w2, w3 = Wo[i0, taps[q]], Wo[i1, taps[q + 1]], Wo[i2, taps[q + 2]], Wo[i3, taps[q + 3]]
        start = max(max(s0, s1), max(s2, s3))
        if start < T:
            L = T - start
            ys = yrow[start:]
            x0 = xn[i0][start - s0:start - s0 + L]
            x1 = xn[i1][start - s1:start - s1 + L]
            x2 = xn[i2][start - s2:start - s2 + L]
            x3 = xn[i3][start - s3:start - s3 + L]
            for t in range(L):
                ys[t] += w0 * x0[t] + w1 * x1[t] + w2 * x2[t] + w3 * x3[t]
        for k in range(q, q + GROUP):
            add_tap_forward(yrow, xn[rows[k]], Wo[rows[k], taps[k]], shifts[k], min(start, T))
    for k in range(full, len(rows)):
        add_tap_forward(yrow, xn[rows[k]], Wo[rows[k], taps[k]], shifts[k], T)


def _two_rows_forward(ya, yb, xn, Wa, Wb, rows, taps, shifts, full):
    """Two output rows, four pairs per pass: the loop of _row_forward, with every x loaded used twice."""
    T = len(ya)
    for q in range(0, full, GROUP):
        i0, i1, i2, i3 = rows[q], rows[q + 1], rows[q + 2], rows[q + 3]
        j0, j1, j2, j3 = taps[q], taps[q + 1], taps[q + 2], taps[q + 3]
        s0, s1, s2, s3 = shifts[q], shifts[q + 1], shifts[q + 2], shifts[q + 3]
        start = max(max(s0, s1), max(s2, s3))
        if start < T:
            L = T - start
            x0 = xn[i0][start - s0:start - s0 + L]
            x1 = xn[i1][start - s1:start - s1 + L]
            x2 = xn[i2][start - s2:start - s2 + L]
            x3 = xn[i3][start - s3:start - s3 + L]
            yas, ybs = ya[start:], yb[start:]
            a0, a1, a2, a3 = Wa[i0, j0], Wa[i1, j1], Wa[i2, j2], Wa[i3, j3]
            b0, b1, b2, b3 = Wb[i0, j0], Wb[i1, j1], Wb[i2, j2], Wb[i3, j3]
            for t in range(L):
                v0, v1, v2, v3 = x0[t], x1[t], x2[t], x3[t]
                yas[t] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
                ybs[t] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3
        for k in range(q, q + GROUP):
            if shifts[k] < start:
                add_tap_forward(ya, xn[rows[k]], Wa[rows[k], taps[k]], shifts[k], min(start, T))
                add_tap_forward(yb, xn[rows[k]], Wb[rows[k], taps[k]], shifts[k], min(start, T))
    for k in range(full, len(rows)):
        add_tap_forward(ya, xn[rows[k]], Wa[rows[k], taps[k]], shifts[k], T)
        add_tap_forward(yb, xn[rows[k]], Wb[rows[k], taps[k]], shifts[k], T)


def _relu_row(row):
    for t in range(len(row)):
        v = row[t]
        row[t] = 0.0 if v <= 0 else v  # a NaN passes through, as in np.maximum


def _add_tap_forward(yrow, xrow, w, s, stop):
    """yrow[t] += w * xrow[t - s] for s <= t < stop."""
    if s < stop:
        ys = yrow[s:stop]
        xs = xrow[:stop - s]
        for t in range(stop - s):
            ys[t] += w * xs[t]


def _conv_backward_input(dx, dy, W, d):
    N, C_out, T = dy.shape
    _, C_in, K = W.shape
    rows, taps, shifts = tap_pairs(C_out, K, d)  # the (output channel, tap) pairs
    full = len(rows) // GROUP * GROUP
    blocks = (C_in + BLOCK - 1) // BLOCK
    for p in prange(N * blocks):  # each block of four (n, i) rows of dx belongs to one thread
        n = p // blocks
        i = p % blocks * BLOCK
        for r in range(i, min(i + BLOCK, C_in)):
            dxrow = dx[n, r]
            for t in range(T):
                dxrow[t] = 0.0
        if i + BLOCK > C_in:
            for r in range(i, C_in):
                row_backward_input(dx[n, r], dy[n], W[:, r, :], rows, taps, shifts, full)
            continue
        for q in range(0, full, GROUP):
            o0, o1, o2, o3 = rows[q], rows[q + 1], rows[q + 2], rows[q + 3]
            j0, j1, j2, j3 = taps[q], taps[q + 1], taps[q + 2], taps[q + 3]
            s0, s1, s2, s3 = shifts[q], shifts[q + 1], shifts[q + 2], shifts[q + 3]
            # forward: y[n, o, t] += W[o, i, j] * x[n, i, t - s]   for t >= s
            # so:      dx[n, i, u] += W[o, i, j] * dy[n, o, u + s] for u < T - s; all four pairs for u < T - s_max
            s_max = max(max(s0, s1), max(s2, s3))
            if s_max < T:
                L = T - s_max
                g0 = dy[n, o0][s0:s0 + L]
                g1 = dy[n, o1][s1:s1 + L]
                g2 = dy[n, o2][s2:s2 + L]
                g3 = dy[n, o3][s3:s3 + L]
                xa, xb, xc, xd = dx[n, i], dx[n, i + 1], dx[n, i + 2], dx[n, i + 3]
                a0, a1, a2, a3 = W[o0, i, j0], W[o1, i, j1], W[o2, i, j2], W[o3, i, j3]
                b0, b1, b2, b3 = W[o0, i + 1, j0], W[o1, i + 1, j1], W[o2, i + 1, j2], W[o3, i + 1, j3]
                c0, c1, c2, c3 = W[o0, i + 2, j0], W[o1, i + 2, j1], W[o2, i + 2, j2], W[o3, i + 2, j3]
                e0, e1, e2, e3 = W[o0, i + 3, j0], W[o1, i + 3, j1], W[o2, i + 3, j2], W[o3, i + 3, j3]
                for u in range(L):
                    v0, v1, v2, v3 = g0[u], g1[u], g2[u], g3[u]
                    xa[u] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
                    xb[u] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3
                    xc[u] += c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3
                    xd[u] += e0 * v0 + e1 * v1 + e2 * v2 + e3 * v3
            for k in range(q, q + GROUP):  # edges: steps T - s_max <= u < T - s_k, one pair at a time
                if shifts[k] < s_max:
                    for r in range(i, i + BLOCK):
                        add_tap_backward(dx[n, r], dy[n, rows[k]], W[rows[k], r, taps[k]], shifts[k],
                                         max(T - s_max, 0))
        for k in range(full, len(rows)):
            for r in range(i, i + BLOCK):
                add_tap_backward(dx[n, r], dy[n, rows[k]], W[rows[k], r, taps[k]], shifts[k], 0)


def _row_backward_input(dxrow, dyn, Wi, rows, taps, shifts, full):
    """One input row: dxrow[u] += sum over pairs of Wi[o, j] * dyn[o, u + s], four pairs per pass over time."""
    T = len(dxrow)
    for q in range(0, full, GROUP):
        o0, o1, o2, o3 = rows[q], rows[q + 1], rows[q + 2], rows[q + 3]
        s0, s1, s2, s3 = shifts[q], shifts[q + 1], shifts[q + 2], shifts[q + 3]
        w0, w1, w2, w3 = Wi[o0, taps[q]], Wi[o1, taps[q + 1]], Wi[o2, taps[q + 2]], Wi[o3, taps[q + 3]]
        s_max = max(max(s0, s1), max(s2, s3))
        if s_max < T:
            L = T - s_max
            g0 = dyn[o0][s0:s0 + L]
            g1 = dyn[o1][s1:s1 + L]
            g2 = dyn[o2][s2:s2 + L]
            g3 = dyn[o3][s3:s3 + L]
            for u in range(L):
                dxrow[u] += w0 * g0[u] + w1 * g1[u] + w2 * g2[u] + w3 * g3[u]
        for k in range(q, q + GROUP):
            add_tap_backward(dxrow, dyn[rows[k]], Wi[rows[k], taps[k]], shifts[k], max(T - s_max, 0))
    for k in range(full, len(rows)):
        add_tap_backward(dxrow, dyn[rows[k]], Wi[rows[k], taps[k]], shifts[k], 0)


def _add_tap_backward(dxrow, dyrow, w, s, start):
    """dxrow[u] += w * dyrow[u + s] for start <= u < T - s."""
    stop = len(dxrow) - s
    if start < stop:
        dxs = dxrow[start:stop]
        dys = dyrow[start + s:]
        for u in range(stop - start):
            dxs[u] += w * dys[u]


CHUNKS = 16  # the batch is cut into at most this many chunks for the weight gradient, whatever the thread count


def _conv_backward_weight(dW, dy, x, d):
    N, C_in, T = x.shape
    C_out, _, K = dW.shape
    # Each chunk of the batch sums into its own partial dW (no two threads add into one number), and the partials
    # are added up afterwards. The chunks do not depend on the thread count, so neither does the result: one
    # thread and two threads give the same bits.
    chunks = min(N, CHUNKS)
    per_chunk = (N + chunks - 1) // chunks
    partial = np.zeros((chunks, C_out, C_in, K), dW.dtype)
    zero = dW.dtype.type(0)  # not 0.0: a float64 literal would turn float32 sums into float64 ones
    for c in prange(chunks):
        for n in range(c * per_chunk, min(N, (c + 1) * per_chunk)):
            for j in range(K):
                s = (K - 1 - j) * d  # forward: y[n, o, t] += W[o, i, j] * x[n, i, t - s], for t >= s
                if s >= T:
                    continue  # the tap only ever read the padding
                L = T - s
                for o in range(0, C_out, BLOCK):
                    for i in range(0, C_in, BLOCK):
                        if o + BLOCK <= C_out and i + BLOCK <= C_in:
                            # one pass over t >= s feeds sixteen sums, dW[o + r, i + k, j] += dy[n, o + r, t] *
                            # x[n, i + k, t - s]
                            ga, gb, gc, gd = dy[n, o][s:], dy[n, o + 1][s:], dy[n, o + 2][s:], dy[n, o + 3][s:]
                            x0, x1, x2, x3 = x[n, i][:L], x[n, i + 1][:L], x[n, i + 2][:L], x[n, i + 3][:L]
                            a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = zero
                            c0 = c1 = c2 = c3 = e0 = e1 = e2 = e3 = zero
                            for t in range(L):
                                v0, v1, v2, v3 = x0[t], x1[t], x2[t], x3[t]
                                g = ga[t]
                                a0 += g * v0
                                a1 += g * v1
                                a2 += g * v2
                                a3 += g * v3
                                g = gb[t]
                                b0 += g * v0
                                b1 += g * v1
                                b2 += g * v2
                                b3 += g * v3
                                g = gc[t]
                                c0 += g * v0
                                c1 += g * v1
                                c2 += g * v2
                                c3 += g * v3
                                g = gd[t]
                                e0 += g * v0
                                e1 += g * v1
                                e2 += g * v2
                                e3 += g * v3
                            add4(partial[c, o, i:i + BLOCK, j], a0, a1, a2, a3)
                            add4(partial[c, o + 1, i:i + BLOCK, j], b0, b1, b2, b3)
                            add4(partial[c, o + 2, i:i + BLOCK, j], c0, c1, c2, c3)
                            add4(partial[c, o + 3, i:i + BLOCK, j], e0, e1, e2, e3)
                        else:  # rows or channels left over: one sum at a time
                            for r in range(o, min(o + BLOCK, C_out)):
                                for k in range(i, min(i + BLOCK, C_in)):
                                    gs = dy[n, r][s:]
                                    xs = x[n, k][:L]
                                    a = zero
                                    for t in range(L):
                                        a += gs[t] * xs[t]
                                    partial[c, r, k, j] += a
    for o in prange(C_out):
        for i in range(C_in):
            for j in range(K):
                total = partial[0, o, i, j]
                for c in range(1, chunks):
                    total += partial[c, o, i, j]
                dW[o, i, j] = total


def _add4(four, a0, a1, a2, a3):
    four[0] += a0
    four[1] += a1
    four[2] += a2
    four[3] += a3


def _conv_backward_bias(db, dy):
    N, C_out, T = dy.shape
    for o in prange(C_out):
        acc = db.dtype.type(0)
        for n in range(N):
            row = dy[n, o]
            for t in range(T):
                acc += row[t]  # forward: y[n, o, t] = b[o] + ..., so every dy[n, o, t] adds to db[o]
        db[o] = acc


tap_pairs = njit(**SERIAL)(_tap_pairs)
add_tap_forward = njit(**SERIAL)(_add_tap_forward)
add_tap_backward = njit(**SERIAL)(_add_tap_backward)
row_forward = njit(**SERIAL)(_row_forward)
two_rows_forward = njit(**SERIAL)(_two_rows_forward)
relu_row = njit(**SERIAL)(_relu_row)
conv_forward_then = njit(**PARALLEL)(_conv_forward_then)
row_backward_input = njit(**SERIAL)(_row_backward_input)
add4 = njit(**SERIAL)(_add4)
conv_forward_numba = njit(**SERIAL)(_conv_forward)  # the parallel loop is in conv_forward_then
conv_relu_forward_numba = njit(**SERIAL)(_conv_relu_forward)
conv_backward_input_numba = njit(**PARALLEL)(_conv_backward_input)
conv_backward_weight_numba = njit(**PARALLEL)(_conv_backward_weight)
conv_backward_bias_numba = njit(**PARALLEL)(_conv_backward_bias)
