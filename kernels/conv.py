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

Each op comes three times, with the same signature (outputs first, then inputs, then sizes) and the same result:

- ``*_numpy``: the reference. It pads explicitly and does one matrix product per tap, a different route from the
  fast kernel, so that agreement between the two means something. It is the test oracle and the teaching copy.
- ``*_naive``: the formula's sum as Numba loops, one (channel, tap) pair into one row per pass over time.
- ``*_numba``: the CPU kernel that runs: the same loops blocked four rows by four (channel, tap) pairs per pass over
  time (why, below), parallel over (n, block of rows) or over chunks of the batch.

The backward passes are convolutions too: the input gradient is the same sum run anti-causally (each dy[t] flows
back to the K inputs it was made from), and the weight gradient correlates x with dy.
"""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL, SERIAL, SERIAL_INLINED, SERIAL_NOALIAS

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


def conv_backward_input_add_numpy(dx, dy, W, d, addend):
    """dx = addend + the input gradient of conv_backward_input_numpy, addend of dx's shape: a residual block's input
    gradient, whose skip path brings the addend (its own gradient) to the convolution's. Writes dx."""
    conv_backward_input_numpy(dx, dy, W, d)
    dx += addend


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
# Numba CPU kernels: the naive loops, then the blocked ones
#
# Both index every row with a bare, non-negative counter. The causal shift is taken by slicing the rows before the
# time loop (ys = y[n, o][s:], xs = x[n, i][:T - s], then ys[t] += w * xs[t]): indexing x[n, i, t - s] instead makes
# Numba emit negative-index wraparound checks, and LLVM then stops vectorising the loop (7x slower on these
# machines). The slices also make the padding free: no padded copy of x is ever built.


def _add_tap_forward(yrow, xrow, w, s, stop):
    """yrow[t] += w * xrow[t - s] for s <= t < stop: one (channel, tap) pair added into one output row."""
    if s < stop:
        ys = yrow[s:stop]
        xs = xrow[:stop - s]
        for t in range(stop - s):
            ys[t] += w * xs[t]


def _add_tap_backward(dxrow, dyrow, w, s, start):
    """dxrow[u] += w * dyrow[u + s] for start <= u < T - s: the adjoint of _add_tap_forward."""
    stop = len(dxrow) - s
    if start < stop:
        dxs = dxrow[start:stop]
        dys = dyrow[start + s:]
        for u in range(stop - start):
            dxs[u] += w * dys[u]


def _relu_row(row):
    for t in range(len(row)):
        v = row[t]
        row[t] = 0.0 if v <= 0 else v  # a NaN passes through, as in np.maximum


def _copy_row(dst, src, relu):
    """The row src copied into dst, with ``relu`` through a ReLU."""
    if relu:
        for t in range(len(dst)):
            v = src[t]
            dst[t] = 0.0 if v <= 0 else v  # a NaN passes through, as in np.maximum
    else:
        for t in range(len(dst)):
            dst[t] = src[t]


ALIAS_BYTES = 256  # rows whose starts lie closer than this within a page are taken to alias (_rows_alias)


def _rows_alias(T, itemsize):
    """Whether two of a block's ROWS consecutive rows of T elements, a page or more apart, start within ALIAS_BYTES of
    the same offset in a 4 KiB page. Then the blocked kernels sum each block in scratch rows (_scratch_rows) instead
    of in the output, and the weight gradient reads its dy rows from scratch rows (why: in _conv_backward_weight).

    Why: the blocked loops load and store four rows at the same t in every step. When the rows start at the same
    offset within a page (T = 1024 in float32, 512 in float64), or nearly (T = 1020: 16 bytes apart), a load from
    y[n, o + 1, t] agrees in its last 12 address bits with the store just made to y[n, o, t], the core takes it for
    one that may depend on that store, and waits ("4K aliasing"). Measured on a 2-vCPU AMD EPYC (Zen 4), wide's
    layers (128 channels, K 3, T 1024, float32): the forward and the input gradient ran at 111-143 GFLOP/s summed
    in place, at 168-193 summed in scratch rows, and at 151-194 in place with T = 992, 1008, 1040 or 1056. Where
    the rows do not alias, the scratch rows cost 3-13% (the copy out, and an allocation per block), so they are
    used only where they do."""
    for k in range(1, ROWS):
        apart = k * T * itemsize  # bytes from the start of a row to the start of the row k later
        offset = apart % PAGE
        if apart > PAGE - ALIAS_BYTES and (offset < ALIAS_BYTES or offset > PAGE - ALIAS_BYTES):
            return True  # (rows closer than a page are told apart by their last 12 bits: short rows never alias)
    return False


def _scratch_rows(T, like):
    """ROWS rows of T elements of ``like``'s dtype (a few KiB from the heap, reused from one block to the next), in
    which a block of rows is summed before it is copied out. Each row starts on a cache line, and consecutive rows
    start between 512 and 1024 bytes apart within a page, so that no two of them alias, whatever T is."""
    itemsize = like.itemsize
    line = LINE // itemsize  # elements in a cache line
    stride = (T + line - 1) // line * line
    while not (512 <= stride * itemsize % PAGE <= 1024):
        stride += line
    flat = np.empty(ROWS * stride + line, like.dtype)
    start = (-flat.ctypes.data) % LINE // itemsize  # the first element on a cache line
    return flat[start:start + ROWS * stride].reshape((ROWS, stride))


# The naive kernels: one (channel, tap) pair into one row per pass over time, exactly the formula's sum. They are the
# readable reference of the blocked kernels below, tested against the same NumPy twins.


def _conv_forward_naive(y, x, W, b, d):
    conv_forward_naive_then(y, x, W, b, d, False)


def _conv_relu_forward_naive(y, x, W, b, d):
    conv_forward_naive_then(y, x, W, b, d, True)


def _conv_forward_naive_then(y, x, W, b, d, relu):
    if overlap(y, x):
        raise ValueError("the convolution's output y overlaps its input x: give it an array of its own")
    N, C_in, T = x.shape
    C_out, _, K = W.shape
    for p in prange(N * C_out):  # each output row y[n, o] belongs to one thread
        n = p // C_out
        o = p % C_out
        yrow = y[n, o]
        for t in range(T):
            yrow[t] = b[o]
        for i in range(C_in):
            for j in range(K):
                add_tap_forward(yrow, x[n, i], W[o, i, j], (K - 1 - j) * d, T)  # y[n, o, t] += W x[n, i, t - s]
        if relu:
            relu_row(yrow)


def _conv_backward_input_naive(dx, dy, W, d):
    if overlap(dx, dy):
        raise ValueError("the input gradient dx overlaps dy: give it an array of its own")
    N, C_out, T = dy.shape
    _, C_in, K = W.shape
    for p in prange(N * C_in):  # each input row dx[n, i] belongs to one thread
        n = p // C_in
        i = p % C_in
        dxrow = dx[n, i]
        for u in range(T):
            dxrow[u] = 0.0
        for o in range(C_out):
            for j in range(K):
                # forward: y[n, o, t] += W[o, i, j] * x[n, i, t - s], so dx[n, i, u] += W[o, i, j] * dy[n, o, u + s]
                add_tap_backward(dxrow, dy[n, o], W[o, i, j], (K - 1 - j) * d, 0)


def _conv_backward_weight_naive(dW, dy, x, d):
    N, C_in, T = x.shape
    C_out, _, K = dW.shape
    zero = dW.dtype.type(0)  # not 0.0: a float64 literal would turn float32 sums into float64 ones
    for o in prange(C_out):  # each row dW[o] belongs to one thread
        for i in range(C_in):
            for j in range(K):
                s = (K - 1 - j) * d
                acc = zero
                for n in range(N):
                    # forward: y[n, o, t] += W[o, i, j] * x[n, i, t - s], so dW[o, i, j] += dy[n, o, t] x[n, i, t - s]
                    dys = dy[n, o][s:]
                    xs = x[n, i][:max(T - s, 0)]
                    for t in range(len(dys)):
                        acc += dys[t] * xs[t]
                dW[o, i, j] = acc


# The blocked kernels, and why they are blocked.
#
# In the naive loop each multiply-add costs a load of y, a load of x and a store of y: the loop is bound by memory
# traffic, not arithmetic. The blocked kernels instead make one pass over time for four output rows times four
# (channel, tap) pairs: per step they load four x values and four y values, do sixteen multiply-adds, and store four
# y values. Every loaded x serves four rows and every y four pairs (1.5-1.8x faster than one row and four pairs, on
# the shapes of the standard TCNs; the naive loop is slower still).
#
# The pairs are ordered tap-major (every channel of tap 0, then every channel of tap 1, ...), so that the four pairs
# of a pass usually share one tap, one shift s, and the pass covers the whole row. Where their shifts differ, the first
# steps of a row (where some of the four still read the left padding) are added one pair at a time ("edges"). Pairs
# left over when their count is not a multiple of four go one at a time too, and rows left over when the channels
# are not a multiple of four go two at a time, then one. Never padded with weight-0 pairs: 0 * inf is NaN, and an inf
# must reach only the outputs that read it.
#
# PAIRS and ROWS are not tuning knobs: the loop bodies below are written out for four of each.
#
# Where the rows of the output are a whole number of pages long (T = 1024 in float32), a block is summed in scratch
# rows and copied out, instead of in the output itself: see _rows_alias for why (4K aliasing) and what it gained.

LINE = 64  # bytes in a cache line
PAGE = 4096  # bytes in a page

PAIRS = 4  # (channel, tap) pairs added in one pass over time
ROWS = 4  # output rows (forward, weight gradient) or input rows (input gradient) written in one pass

# The passes over time are functions of their own: _add_four_rows, _add_two_rows and _add_one_row, shared by the
# forward (z: output rows, a: input rows, each slice shifted by its pair's tap) and the input gradient (z: rows of dx,
# a: rows of dy), and the edges' add_tap_forward and add_tap_backward. They are compiled with their array arguments
# declared apart (SERIAL_NOALIAS in kernels/_config.py: why, and what it gained) and never inlined, and so the
# kernels that call them refuse an output that overlaps their input (``overlap``).


def _add_four_rows(z0, z1, z2, z3, a0, a1, a2, a3, w, L):
    """z_r[t] += sum_k w[4r + k] * a_k[t] for t < L and the rows r = 0..3: four rows by four pairs, one pass."""
    w00, w01, w02, w03, w10, w11, w12, w13, w20, w21, w22, w23, w30, w31, w32, w33 = w  # w_rk: pair k, row r
    for t in range(L):
        v0, v1, v2, v3 = a0[t], a1[t], a2[t], a3[t]
        z0[t] += w00 * v0 + w01 * v1 + w02 * v2 + w03 * v3
        z1[t] += w10 * v0 + w11 * v1 + w12 * v2 + w13 * v3
        z2[t] += w20 * v0 + w21 * v1 + w22 * v2 + w23 * v3
        z3[t] += w30 * v0 + w31 * v1 + w32 * v2 + w33 * v3


def _add_two_rows(z0, z1, a0, a1, a2, a3, w, L):
    """_add_four_rows for the two rows z0, z1 (w: their eight weights, row by row)."""
    w00, w01, w02, w03, w10, w11, w12, w13 = w
    for t in range(L):
        v0, v1, v2, v3 = a0[t], a1[t], a2[t], a3[t]
        z0[t] += w00 * v0 + w01 * v1 + w02 * v2 + w03 * v3
        z1[t] += w10 * v0 + w11 * v1 + w12 * v2 + w13 * v3


def _add_one_row(z0, a0, a1, a2, a3, w, L):
    """_add_four_rows for the one row z0 (w: its four weights)."""
    w00, w01, w02, w03 = w
    for t in range(L):
        z0[t] += w00 * a0[t] + w01 * a1[t] + w02 * a2[t] + w03 * a3[t]


def _overlap(a, b):
    """Whether the memory of the (contiguous) arrays a and b overlaps."""
    return a.ctypes.data < b.ctypes.data + b.nbytes and b.ctypes.data < a.ctypes.data + a.nbytes


def _tap_pairs(C, K, d):
    """Every (channel, tap) pair, tap-major: its channel c, its tap j and its shift s = (K-1-j)*d."""
    channels = np.empty(C * K, np.int64)
    taps = np.empty(C * K, np.int64)
    shifts = np.empty(C * K, np.int64)
    for j in range(K):
        for c in range(C):
            channels[j * C + c] = c
            taps[j * C + c] = j
            shifts[j * C + c] = (K - 1 - j) * d
    return channels, taps, shifts


def _conv_forward(y, x, W, b, d):
    conv_forward_by_shape(y, x, W, b, d, False)


def _conv_relu_forward(y, x, W, b, d):
    conv_forward_by_shape(y, x, W, b, d, True)


def _conv_forward_by_shape(y, x, W, b, d, relu):
    """The blocked kernel, summing in the output rows, or where they alias within a page, in scratch rows."""
    if rows_alias(x.shape[2], y.itemsize):
        conv_forward_staged(y, x, W, b, d, relu)
    else:
        conv_forward_blocked(y, x, W, b, d, relu)


def _conv_forward_blocked(y, x, W, b, d, relu):
    """The convolution, and with ``relu`` a ReLU on each block of rows while they are still in cache."""
    if overlap(y, x):
        raise ValueError("the convolution's output y overlaps its input x: give it an array of its own")
    N, C_in, T = x.shape
    C_out, _, K = W.shape
    pairs = tap_pairs(C_in, K, d)  # the (input channel, tap) pairs
    blocks = (C_out + ROWS - 1) // ROWS
    for p in prange(N * blocks):  # each block of four output rows y[n, o:o+4] belongs to one thread
        n = p // blocks
        o = p % blocks * ROWS
        rows = min(ROWS, C_out - o)
        for r in range(o, o + rows):
            yrow = y[n, r]
            for t in range(T):
                yrow[t] = b[r]
        if rows == 4:
            four_rows_forward(y[n, o], y[n, o + 1], y[n, o + 2], y[n, o + 3], x[n], W, o, pairs)
        else:  # the rows left over: two at a time, then one
            if rows >= 2:
                two_rows_forward(y[n, o], y[n, o + 1], x[n], W, o, pairs)
            if rows % 2 == 1:
                row_forward(y[n, o + rows - 1], x[n], W, o + rows - 1, pairs)
        if relu:
            for r in range(o, o + rows):
                relu_row(y[n, r])


def _conv_forward_staged(y, x, W, b, d, relu):
    """_conv_forward_blocked, each block of rows summed in scratch rows and copied out (why: _rows_alias)."""
    if overlap(y, x):
        raise ValueError("the convolution's output y overlaps its input x: give it an array of its own")
    N, C_in, T = x.shape
    C_out, _, K = W.shape
    pairs = tap_pairs(C_in, K, d)
    blocks = (C_out + ROWS - 1) // ROWS
    for p in prange(N * blocks):  # each block of four output rows y[n, o:o+4] belongs to one thread
        n = p // blocks
        o = p % blocks * ROWS
        rows = min(ROWS, C_out - o)
        block = scratch_rows(T, y)  # the block's rows are block[0:rows]
        for r in range(rows):
            row = block[r, :T]
            for t in range(T):
                row[t] = b[o + r]
        rows_forward(block, rows, x[n], W, o, pairs)
        for r in range(rows):
            copy_row(y[n, o + r], block[r, :T], relu)


def _rows_forward(block, rows, xn, W, o, pairs):
    """block[r, :T] += the convolution's sums for the output rows o + r, r < rows (1 to 4)."""
    T = xn.shape[1]
    if rows == 4:
        four_rows_forward(block[0, :T], block[1, :T], block[2, :T], block[3, :T], xn, W, o, pairs)
    else:  # the rows left over: two at a time, then one
        if rows >= 2:
            two_rows_forward(block[0, :T], block[1, :T], xn, W, o, pairs)
        if rows % 2 == 1:
            row_forward(block[rows - 1, :T], xn, W, o + rows - 1, pairs)


def _four_rows_forward(y0, y1, y2, y3, xn, W, o, pairs):
    """y_r[t] += sum over pairs (i, j, s) of W[o + r, i, j] * xn[i, t - s], for the rows r = 0..3, four pairs per
    pass over time."""
    channels, taps, shifts = pairs
    T = len(y0)
    full = len(channels) // PAIRS * PAIRS  # the pairs in groups of four
    for q in range(0, full, PAIRS):
        i0, i1, i2, i3 = channels[q], channels[q + 1], channels[q + 2], channels[q + 3]
        j0, j1, j2, j3 = taps[q], taps[q + 1], taps[q + 2], taps[q + 3]
        s0, s1, s2, s3 = shifts[q], shifts[q + 1], shifts[q + 2], shifts[q + 3]
        start = max(max(s0, s1), max(s2, s3))  # from here on all four pairs read real input
        if start < T:
            L = T - start
            x0 = xn[i0][start - s0:start - s0 + L]  # x0[t] = x[n, i0, start + t - s0]
            x1 = xn[i1][start - s1:start - s1 + L]
            x2 = xn[i2][start - s2:start - s2 + L]
            x3 = xn[i3][start - s3:start - s3 + L]
            y0s, y1s, y2s, y3s = y0[start:], y1[start:], y2[start:], y3[start:]
            w = (W[o, i0, j0], W[o, i1, j1], W[o, i2, j2], W[o, i3, j3],  # row o's weights of the four pairs, ...
                 W[o + 1, i0, j0], W[o + 1, i1, j1], W[o + 1, i2, j2], W[o + 1, i3, j3],
                 W[o + 2, i0, j0], W[o + 2, i1, j1], W[o + 2, i2, j2], W[o + 2, i3, j3],
                 W[o + 3, i0, j0], W[o + 3, i1, j1], W[o + 3, i2, j2], W[o + 3, i3, j3])
            add_four_rows(y0s, y1s, y2s, y3s, x0, x1, x2, x3, w, L)  # y_r[start + t] += sum_k w_rk x_k[t]
        for k in range(q, q + PAIRS):  # edges: the steps s_k <= t < start, one pair at a time
            i, j, s = channels[k], taps[k], shifts[k]
            if s < start:
                stop = min(start, T)
                add_tap_forward(y0, xn[i], W[o, i, j], s, stop)
                add_tap_forward(y1, xn[i], W[o + 1, i, j], s, stop)
                add_tap_forward(y2, xn[i], W[o + 2, i, j], s, stop)
                add_tap_forward(y3, xn[i], W[o + 3, i, j], s, stop)
    for k in range(full, len(channels)):  # the pairs left over: all their steps, one pair at a time
        i, j, s = channels[k], taps[k], shifts[k]
        add_tap_forward(y0, xn[i], W[o, i, j], s, T)
        add_tap_forward(y1, xn[i], W[o + 1, i, j], s, T)
        add_tap_forward(y2, xn[i], W[o + 2, i, j], s, T)
        add_tap_forward(y3, xn[i], W[o + 3, i, j], s, T)


def _two_rows_forward(y0, y1, xn, W, o, pairs):
    """_four_rows_forward for the two rows o and o + 1."""
    channels, taps, shifts = pairs
    T = len(y0)
    full = len(channels) // PAIRS * PAIRS
    for q in range(0, full, PAIRS):
        i0, i1, i2, i3 = channels[q], channels[q + 1], channels[q + 2], channels[q + 3]
        j0, j1, j2, j3 = taps[q], taps[q + 1], taps[q + 2], taps[q + 3]
        s0, s1, s2, s3 = shifts[q], shifts[q + 1], shifts[q + 2], shifts[q + 3]
        start = max(max(s0, s1), max(s2, s3))
        if start < T:
            L = T - start
            x0 = xn[i0][start - s0:start - s0 + L]
            x1 = xn[i1][start - s1:start - s1 + L]
            x2 = xn[i2][start - s2:start - s2 + L]
            x3 = xn[i3][start - s3:start - s3 + L]
            w = (W[o, i0, j0], W[o, i1, j1], W[o, i2, j2], W[o, i3, j3],
                 W[o + 1, i0, j0], W[o + 1, i1, j1], W[o + 1, i2, j2], W[o + 1, i3, j3])
            add_two_rows(y0[start:], y1[start:], x0, x1, x2, x3, w, L)
        for k in range(q, q + PAIRS):
            i, j, s = channels[k], taps[k], shifts[k]
            if s < start:
                add_tap_forward(y0, xn[i], W[o, i, j], s, min(start, T))
                add_tap_forward(y1, xn[i], W[o + 1, i, j], s, min(start, T))
    for k in range(full, len(channels)):
        i, j, s = channels[k], taps[k], shifts[k]
        add_tap_forward(y0, xn[i], W[o, i, j], s, T)
        add_tap_forward(y1, xn[i], W[o + 1, i, j], s, T)


def _row_forward(y0, xn, W, o, pairs):
    """_four_rows_forward for the one row o."""
    channels, taps, shifts = pairs
    T = len(y0)
    full = len(channels) // PAIRS * PAIRS
    for q in range(0, full, PAIRS):
        i0, i1, i2, i3 = channels[q], channels[q + 1], channels[q + 2], channels[q + 3]
        j0, j1, j2, j3 = taps[q], taps[q + 1], taps[q + 2], taps[q + 3]
        s0, s1, s2, s3 = shifts[q], shifts[q + 1], shifts[q + 2], shifts[q + 3]
        start = max(max(s0, s1), max(s2, s3))
        if start < T:
            L = T - start
            x0 = xn[i0][start - s0:start - s0 + L]
            x1 = xn[i1][start - s1:start - s1 + L]
            x2 = xn[i2][start - s2:start - s2 + L]
            x3 = xn[i3][start - s3:start - s3 + L]
            w = (W[o, i0, j0], W[o, i1, j1], W[o, i2, j2], W[o, i3, j3])
            add_one_row(y0[start:], x0, x1, x2, x3, w, L)
        for k in range(q, q + PAIRS):
            i, j, s = channels[k], taps[k], shifts[k]
            if s < start:
                add_tap_forward(y0, xn[i], W[o, i, j], s, min(start, T))
    for k in range(full, len(channels)):
        i, j, s = channels[k], taps[k], shifts[k]
        add_tap_forward(y0, xn[i], W[o, i, j], s, T)


def _conv_backward_input(dx, dy, W, d):
    """The blocked kernel, summing in the input gradient's rows, or where they alias within a page, in scratch rows."""
    if rows_alias(dy.shape[2], dx.itemsize):
        conv_backward_input_staged(dx, dy, W, d, None)
    else:
        conv_backward_input_blocked(dx, dy, W, d, None)


def _conv_backward_input_add(dx, dy, W, d, addend):
    """The same kernels with each row's sum started from the addend's row instead of zeros: in a residual block,
    dx = (the skip path's gradient) + (the convolution's), without a pass of its own that reads both and writes dx."""
    if rows_alias(dy.shape[2], dx.itemsize):
        conv_backward_input_staged(dx, dy, W, d, addend)
    else:
        conv_backward_input_blocked(dx, dy, W, d, addend)


def _conv_backward_input_blocked(dx, dy, W, d, addend):
    """``addend``: None (Numba compiles the branches for it away), or an array of dx's shape the sums start from."""
    if overlap(dx, dy):
        raise ValueError("the input gradient dx overlaps dy: give it an array of its own")
    N, C_out, T = dy.shape
    _, C_in, K = W.shape
    pairs = tap_pairs(C_out, K, d)  # the (output channel, tap) pairs
    blocks = (C_in + ROWS - 1) // ROWS
    for p in prange(N * blocks):  # each block of four input rows dx[n, i:i+4] belongs to one thread
        n = p // blocks
        i = p % blocks * ROWS
        rows = min(ROWS, C_in - i)
        for r in range(i, i + rows):
            dxrow = dx[n, r]
            if addend is None:
                for u in range(T):
                    dxrow[u] = 0.0
            else:
                start = addend[n, r]
                for u in range(T):
                    dxrow[u] = start[u]
        if rows == 4:
            four_rows_backward_input(dx[n, i], dx[n, i + 1], dx[n, i + 2], dx[n, i + 3], dy[n], W, i, pairs)
        else:  # the rows left over, one at a time
            for r in range(i, i + rows):
                row_backward_input(dx[n, r], dy[n], W, r, pairs)


def _conv_backward_input_staged(dx, dy, W, d, addend):
    """_conv_backward_input_blocked, each block of rows summed in scratch rows and copied out (why: _rows_alias)."""
    if overlap(dx, dy):
        raise ValueError("the input gradient dx overlaps dy: give it an array of its own")
    N, C_out, T = dy.shape
    _, C_in, K = W.shape
    pairs = tap_pairs(C_out, K, d)
    blocks = (C_in + ROWS - 1) // ROWS
    for p in prange(N * blocks):  # each block of four input rows dx[n, i:i+4] belongs to one thread
        n = p // blocks
        i = p % blocks * ROWS
        rows = min(ROWS, C_in - i)
        block = scratch_rows(T, dx)  # the block's rows are block[0:rows]
        for r in range(rows):
            row = block[r, :T]
            if addend is None:
                for u in range(T):
                    row[u] = 0.0
            else:
                copy_row(row, addend[n, i + r], False)
        if rows == 4:
            four_rows_backward_input(block[0, :T], block[1, :T], block[2, :T], block[3, :T], dy[n], W, i, pairs)
        else:  # the rows left over, one at a time
            for r in range(rows):
                row_backward_input(block[r, :T], dy[n], W, i + r, pairs)
        for r in range(rows):
            copy_row(dx[n, i + r], block[r, :T], False)


def _four_rows_backward_input(dx0, dx1, dx2, dx3, dyn, W, i, pairs):
    """dx_r[u] += sum over pairs (o, j, s) of W[o, i + r, j] * dyn[o, u + s], for the rows r = 0..3, four pairs per
    pass over time: the adjoint of _four_rows_forward."""
    outputs, taps, shifts = pairs
    T = len(dx0)
    full = len(outputs) // PAIRS * PAIRS
    for q in range(0, full, PAIRS):
        o0, o1, o2, o3 = outputs[q], outputs[q + 1], outputs[q + 2], outputs[q + 3]
        j0, j1, j2, j3 = taps[q], taps[q + 1], taps[q + 2], taps[q + 3]
        s0, s1, s2, s3 = shifts[q], shifts[q + 1], shifts[q + 2], shifts[q + 3]
        # forward: y[n, o, t] += W[o, i, j] * x[n, i, t - s]   for t >= s
        # so:      dx[n, i, u] += W[o, i, j] * dy[n, o, u + s] for u < T - s; all four pairs for u < T - s_max
        s_max = max(max(s0, s1), max(s2, s3))
        if s_max < T:
            L = T - s_max
            dy0 = dyn[o0][s0:s0 + L]  # dy0[u] = dy[n, o0, u + s0]
            dy1 = dyn[o1][s1:s1 + L]
            dy2 = dyn[o2][s2:s2 + L]
            dy3 = dyn[o3][s3:s3 + L]
            w = (W[o0, i, j0], W[o1, i, j1], W[o2, i, j2], W[o3, i, j3],  # input row i's weights of the pairs, ...
                 W[o0, i + 1, j0], W[o1, i + 1, j1], W[o2, i + 1, j2], W[o3, i + 1, j3],
                 W[o0, i + 2, j0], W[o1, i + 2, j1], W[o2, i + 2, j2], W[o3, i + 2, j3],
                 W[o0, i + 3, j0], W[o1, i + 3, j1], W[o2, i + 3, j2], W[o3, i + 3, j3])
            add_four_rows(dx0, dx1, dx2, dx3, dy0, dy1, dy2, dy3, w, L)  # dx_r[u] += sum_k w_rk dy_k[u]
        for k in range(q, q + PAIRS):  # edges: the steps T - s_max <= u < T - s_k, one pair at a time
            o, j, s = outputs[k], taps[k], shifts[k]
            if s < s_max:
                start = max(T - s_max, 0)
                add_tap_backward(dx0, dyn[o], W[o, i, j], s, start)
                add_tap_backward(dx1, dyn[o], W[o, i + 1, j], s, start)
                add_tap_backward(dx2, dyn[o], W[o, i + 2, j], s, start)
                add_tap_backward(dx3, dyn[o], W[o, i + 3, j], s, start)
    for k in range(full, len(outputs)):  # the pairs left over: all their steps, one pair at a time
        o, j, s = outputs[k], taps[k], shifts[k]
        add_tap_backward(dx0, dyn[o], W[o, i, j], s, 0)
        add_tap_backward(dx1, dyn[o], W[o, i + 1, j], s, 0)
        add_tap_backward(dx2, dyn[o], W[o, i + 2, j], s, 0)
        add_tap_backward(dx3, dyn[o], W[o, i + 3, j], s, 0)


def _row_backward_input(dx0, dyn, W, i, pairs):
    """_four_rows_backward_input for the one input row i."""
    outputs, taps, shifts = pairs
    T = len(dx0)
    full = len(outputs) // PAIRS * PAIRS
    for q in range(0, full, PAIRS):
        o0, o1, o2, o3 = outputs[q], outputs[q + 1], outputs[q + 2], outputs[q + 3]
        j0, j1, j2, j3 = taps[q], taps[q + 1], taps[q + 2], taps[q + 3]
        s0, s1, s2, s3 = shifts[q], shifts[q + 1], shifts[q + 2], shifts[q + 3]
        s_max = max(max(s0, s1), max(s2, s3))
        if s_max < T:
            L = T - s_max
            dy0 = dyn[o0][s0:s0 + L]
            dy1 = dyn[o1][s1:s1 + L]
            dy2 = dyn[o2][s2:s2 + L]
            dy3 = dyn[o3][s3:s3 + L]
            w = (W[o0, i, j0], W[o1, i, j1], W[o2, i, j2], W[o3, i, j3])
            add_one_row(dx0, dy0, dy1, dy2, dy3, w, L)
        for k in range(q, q + PAIRS):
            o, j, s = outputs[k], taps[k], shifts[k]
            if s < s_max:
                add_tap_backward(dx0, dyn[o], W[o, i, j], s, max(T - s_max, 0))
    for k in range(full, len(outputs)):
        o, j, s = outputs[k], taps[k], shifts[k]
        add_tap_backward(dx0, dyn[o], W[o, i, j], s, 0)


TASKS = 16  # the weight gradient is cut into at least this many tasks where the batch allows, whatever the threads
CHUNKS = 16  # and the batch into at most this many chunks


def _conv_backward_weight(dW, dy, x, d, chunks=CHUNKS, tasks=TASKS):
    """``chunks``: at most this many chunks of the batch (tests lower it, so that small batches put several samples
    in one chunk); ``tasks``: at least this many tasks (benchmarks vary it)."""
    N, C_in, T = x.shape
    C_out, _, K = dW.shape
    # The tasks, run in parallel: (chunk of the batch, block of four rows of dW). Each task sums into the rows of its
    # own partial dW (no two threads add into one number), and the partials of the chunks are added up afterwards.
    # As few chunks as give TASKS tasks: every chunk costs a partial dW to zero and to add (with wide's 128 channels,
    # 16 chunks of one sample took 7% more than one chunk, one thread), and its 32 blocks of rows are tasks enough.
    # (On the five configurations of benchmarks/speed.py, 2 threads, TASKS = 16 beat 32 and 64 or tied with them.)
    # The chunks depend on the shapes, not on the thread count, and so does the result: one thread and two give the
    # same bits.
    blocks = (C_out + ROWS - 1) // ROWS
    chunks = min(N, chunks, (tasks + blocks - 1) // blocks)
    per_chunk = (N + chunks - 1) // chunks
    partial = np.zeros((chunks, C_out, C_in, K), dW.dtype)
    zero = dW.dtype.type(0)  # not 0.0: a float64 literal would turn float32 sums into float64 ones
    # Where the rows alias within a page (_rows_alias), each block of four dy rows is first copied into scratch rows
    # that do not: this kernel only loads, but its four dy rows and four x rows, all at one offset within a page, fall
    # into the same few sets of the L1 cache. Measured on wide's layers (T = 1024, float32, one thread, a 2-vCPU AMD
    # EPYC, Zen 4): 72-74 GFLOP/s reading dy in place, 85-89 from the scratch rows. The copy is a row per 32-128 passes.
    stage = rows_alias(T, dy.itemsize)
    for task in prange(chunks * blocks):
        c = task // blocks
        o = task % blocks * ROWS
        block = scratch_rows(T if stage else 1, dy)
        for n in range(c * per_chunk, min(N, (c + 1) * per_chunk)):
            rows = dy[n, o:o + ROWS]  # the block's dy rows, read in place ...
            if stage and o + ROWS <= C_out:
                for r in range(ROWS):  # ... or from the scratch rows
                    copy_row(block[r, :T], dy[n, o + r], False)
                rows = block
            # The taps inside the blocks of input rows: a block's four x rows are read K times while they are in the
            # L1 cache, not once in each of K sweeps over all the blocks. The same sums in the same order; 1-5% faster
            # on wide's layers (float32, 2 threads, d = 1, 4, 16, 128; a 2-vCPU AMD EPYC, Zen 4).
            for i in range(0, C_in, PAIRS):
                for j in range(K):
                    s = (K - 1 - j) * d  # forward: y[n, o, t] += W[o, i, j] * x[n, i, t - s], for t >= s
                    if s >= T:
                        continue  # the tap only ever read the padding
                    L = T - s
                    if o + ROWS <= C_out and i + PAIRS <= C_in:
                        # one pass over t >= s feeds sixteen sums, dw_rk = sum_t dy[n, o + r, t] x[n, i + k, t - s]
                        dy0, dy1, dy2, dy3 = rows[0, s:T], rows[1, s:T], rows[2, s:T], rows[3, s:T]
                        x0, x1, x2, x3 = x[n, i][:L], x[n, i + 1][:L], x[n, i + 2][:L], x[n, i + 3][:L]
                        dw00 = dw01 = dw02 = dw03 = dw10 = dw11 = dw12 = dw13 = zero
                        dw20 = dw21 = dw22 = dw23 = dw30 = dw31 = dw32 = dw33 = zero
                        for t in range(L):
                            v0, v1, v2, v3 = x0[t], x1[t], x2[t], x3[t]
                            g = dy0[t]
                            dw00 += g * v0
                            dw01 += g * v1
                            dw02 += g * v2
                            dw03 += g * v3
                            g = dy1[t]
                            dw10 += g * v0
                            dw11 += g * v1
                            dw12 += g * v2
                            dw13 += g * v3
                            g = dy2[t]
                            dw20 += g * v0
                            dw21 += g * v1
                            dw22 += g * v2
                            dw23 += g * v3
                            g = dy3[t]
                            dw30 += g * v0
                            dw31 += g * v1
                            dw32 += g * v2
                            dw33 += g * v3
                        add4(partial[c, o, i:i + PAIRS, j], dw00, dw01, dw02, dw03)
                        add4(partial[c, o + 1, i:i + PAIRS, j], dw10, dw11, dw12, dw13)
                        add4(partial[c, o + 2, i:i + PAIRS, j], dw20, dw21, dw22, dw23)
                        add4(partial[c, o + 3, i:i + PAIRS, j], dw30, dw31, dw32, dw33)
                    else:  # output rows or input channels left over: one sum at a time
                        for r in range(o, min(o + ROWS, C_out)):
                            for k in range(i, min(i + PAIRS, C_in)):
                                dys = dy[n, r][s:]
                                xs = x[n, k][:L]
                                acc = zero
                                for t in range(L):
                                    acc += dys[t] * xs[t]
                                partial[c, r, k, j] += acc
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


add_tap_forward = njit(**SERIAL_NOALIAS)(_add_tap_forward)
add_tap_backward = njit(**SERIAL_NOALIAS)(_add_tap_backward)
add_four_rows = njit(**SERIAL_NOALIAS)(_add_four_rows)
add_two_rows = njit(**SERIAL_NOALIAS)(_add_two_rows)
add_one_row = njit(**SERIAL_NOALIAS)(_add_one_row)
overlap = njit(**SERIAL)(_overlap)
relu_row = njit(**SERIAL)(_relu_row)
copy_row = njit(**SERIAL)(_copy_row)
scratch_rows = njit(**SERIAL)(_scratch_rows)
rows_alias = njit(**SERIAL)(_rows_alias)
conv_forward_naive_then = njit(**PARALLEL)(_conv_forward_naive_then)
conv_forward_naive = njit(**SERIAL)(_conv_forward_naive)  # the parallel loop is in conv_forward_naive_then
conv_relu_forward_naive = njit(**SERIAL)(_conv_relu_forward_naive)
conv_backward_input_naive = njit(**PARALLEL)(_conv_backward_input_naive)
conv_backward_weight_naive = njit(**PARALLEL)(_conv_backward_weight_naive)
tap_pairs = njit(**SERIAL)(_tap_pairs)
four_rows_forward = njit(**SERIAL_INLINED)(_four_rows_forward)
two_rows_forward = njit(**SERIAL_INLINED)(_two_rows_forward)
row_forward = njit(**SERIAL_INLINED)(_row_forward)
rows_forward = njit(**SERIAL_INLINED)(_rows_forward)
conv_forward_blocked = njit(**PARALLEL)(_conv_forward_blocked)
conv_forward_staged = njit(**PARALLEL)(_conv_forward_staged)
conv_forward_by_shape = njit(**SERIAL)(_conv_forward_by_shape)
four_rows_backward_input = njit(**SERIAL)(_four_rows_backward_input)
row_backward_input = njit(**SERIAL)(_row_backward_input)
add4 = njit(**SERIAL)(_add4)
conv_forward_numba = njit(**SERIAL)(_conv_forward)  # the parallel loops are in conv_forward_blocked and _staged
conv_relu_forward_numba = njit(**SERIAL)(_conv_relu_forward)
conv_backward_input_blocked = njit(**PARALLEL)(_conv_backward_input_blocked)
conv_backward_input_staged = njit(**PARALLEL)(_conv_backward_input_staged)
conv_backward_input_numba = njit(**SERIAL)(_conv_backward_input)  # the parallel loops: _blocked and _staged
conv_backward_input_add_numba = njit(**SERIAL)(_conv_backward_input_add)
conv_backward_weight_numba = njit(**PARALLEL)(_conv_backward_weight)
conv_backward_bias_numba = njit(**PARALLEL)(_conv_backward_bias)
