"""LSTM layer: forward through the sequence, and backward through time.

Layout (every kernel in this module): batch first, channels last, as torch.nn.LSTM(batch_first=True).

    x:   (N, T, C_in)    input
    W_ih: (4H, C_in)     input weights, the rows of the gates i, f, g, o in that order (torch.nn.LSTM's weight_ih_l0)
    W_hh: (4H, H)        recurrent weights, the same order (weight_hh_l0)
    b_ih, b_hh: (4H,)    their biases (bias_ih_l0, bias_hh_l0); only their sum matters
    h0, c0: (N, H)       the state and the cell before the first step (zeros for a sequence at its start)
    h, c: (N, T, H)      output: the state and the cell after every step

The equations, at each step t with h_prev, c_prev those of step t-1 (h0, c0 at t = 0), as torch.nn.LSTM computes
them, a = W_ih x_t + b_ih + W_hh h_prev + b_hh split in four:

    i = sigmoid(a_i)    input gate          g = tanh(a_g)       candidate cell
    f = sigmoid(a_f)    forget gate         o = sigmoid(a_o)    output gate
    c_t = f * c_prev + i * g
    h_t = o * tanh(c_t)

The forward pass saves, for the backward pass, ``gates`` (N, T, 4H): i, f, g, o after their nonlinearities, and
every step's cell ``c``.

The backward pass takes dh (N, T, H), the gradient of the loss with respect to every step's output h, and carries
two gradients back through time: the state's (h_prev is read by every gate of step t) and the cell's (c_prev reaches
c_t through f, with no nonlinearity on the way, which is what lets an LSTM's gradient survive many steps).

Each op comes three times, with the same signature and the same result, as the GRU's (kernels/gru.py):
``*_numpy`` one time step per iteration with matrix products, ``*_naive`` one sequence at a time scalar by scalar,
``*_numba`` four sequences at a time (kernels/rowblocks.py) in chunks of the batch, one per thread.
"""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL, SERIAL
from .gru import _chunking, _sigmoid, _sum_blocked_chunks, _sum_chunks, chunks_for
from .rowblocks import add_outer4, add_products4, add_rows4, copy, project4, sigmoid, tanh

# --------------------------------------------------------------------------------------------------------------
# NumPy reference


def lstm_forward_numpy(h, c, gates, x, W_ih, W_hh, b_ih, b_hh, h0, c0):
    """The LSTM over the sequence. Writes h, c: (N, T, H) and gates: (N, T, 4H) = (i, f, g, o)."""
    H = h0.shape[1]
    h_prev, c_prev = h0, c0
    for t in range(x.shape[1]):
        a = x[:, t] @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh  # N, 4H
        i = _sigmoid(a[:, :H])
        f = _sigmoid(a[:, H:2 * H])
        g = np.tanh(a[:, 2 * H:3 * H])
        o = _sigmoid(a[:, 3 * H:])
        c_prev = f * c_prev + i * g
        h_prev = o * np.tanh(c_prev)
        h[:, t], c[:, t] = h_prev, c_prev
        gates[:, t] = np.concatenate([i, f, g, o], axis=1)


def lstm_backward_numpy(dx, dW_ih, dW_hh, db_ih, db_hh, dh0, dc0, dh, x, W_ih, W_hh, h, c, gates, h0, c0):
    """Backward through time. Writes dx (N, T, C_in), the weights' and biases' gradients, dh0 and dc0 (N, H)."""
    H = h0.shape[1]
    for a in (dW_ih, dW_hh, db_ih, db_hh):
        a[...] = 0
    dh_next = np.zeros_like(h0)  # what step t+1 sends back to the state of step t
    dc_next = np.zeros_like(c0)  # ... and to its cell
    for t in reversed(range(x.shape[1])):
        h_prev = h[:, t - 1] if t > 0 else h0
        c_prev = c[:, t - 1] if t > 0 else c0
        i, f, g, o = (gates[:, t, k * H:(k + 1) * H] for k in range(4))
        dht = dh[:, t] + dh_next
        tanh_c = np.tanh(c[:, t])
        # forward: h_t = o * tanh(c_t)
        do = dht * tanh_c
        dct = dc_next + dht * o * (1 - tanh_c * tanh_c)
        # forward: c_t = f * c_prev + i * g
        di, df, dg = dct * g, dct * c_prev, dct * i
        dc_next = dct * f
        # forward: i, f, o = sigmoid(a_i, a_f, a_o), g = tanh(a_g)
        da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)], axis=1)
        dx[:, t] = da @ W_ih  # forward: a = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
        dW_ih += da.T @ x[:, t]
        dW_hh += da.T @ h_prev
        db_ih += da.sum(axis=0)
        dh_next = da @ W_hh
    db_hh[...] = db_ih  # both biases are added into a alike
    dh0[...] = dh_next
    dc0[...] = dc_next


# --------------------------------------------------------------------------------------------------------------
# Numba: one sequence at a time (naive)


def _lstm_forward_naive(h, c, gates, x, W_ih, W_hh, b_ih, b_hh, h0, c0):
    N, T, C = x.shape
    H = h0.shape[1]
    a = np.empty(4 * H, x.dtype)
    for m in range(N):
        for t in range(T):
            for j in range(4 * H):
                acc = b_ih[j] + b_hh[j]
                for k in range(C):
                    acc += W_ih[j, k] * x[m, t, k]
                for k in range(H):
                    acc += W_hh[j, k] * (h[m, t - 1, k] if t > 0 else h0[m, k])
                a[j] = acc
            for u in range(H):
                i = 1.0 / (1.0 + np.exp(-a[u]))
                f = 1.0 / (1.0 + np.exp(-a[H + u]))
                g = np.tanh(a[2 * H + u])
                o = 1.0 / (1.0 + np.exp(-a[3 * H + u]))
                cp = c[m, t - 1, u] if t > 0 else c0[m, u]
                c[m, t, u] = f * cp + i * g
                h[m, t, u] = o * np.tanh(c[m, t, u])
                gates[m, t, u] = i
                gates[m, t, H + u] = f
                gates[m, t, 2 * H + u] = g
                gates[m, t, 3 * H + u] = o


def _lstm_backward_naive(dx, dW_ih, dW_hh, db_ih, db_hh, dh0, dc0, dh, x, W_ih, W_hh, h, c, gates, h0, c0):
    N, T, C = x.shape
    H = h0.shape[1]
    dW_ih[...] = 0
    dW_hh[...] = 0
    db_ih[...] = 0
    da = np.empty(4 * H, x.dtype)
    dh_next = np.zeros(H, x.dtype)
    dc_next = np.zeros(H, x.dtype)
    for m in range(N):
        dh_next[:] = 0
        dc_next[:] = 0
        for t in range(T - 1, -1, -1):
            hp = h[m, t - 1] if t > 0 else h0[m]
            cp = c[m, t - 1] if t > 0 else c0[m]
            gt = gates[m, t]
            for u in range(H):
                i, f, g, o = gt[u], gt[H + u], gt[2 * H + u], gt[3 * H + u]
                dht = dh[m, t, u] + dh_next[u]
                tanh_c = np.tanh(c[m, t, u])
                dct = dc_next[u] + dht * o * (1 - tanh_c * tanh_c)  # h_t = o * tanh(c_t)
                da[u] = dct * g * i * (1 - i)  # c_t = f * c_prev + i * g; i = sigmoid(a_i)
                da[H + u] = dct * cp[u] * f * (1 - f)
                da[2 * H + u] = dct * i * (1 - g * g)
                da[3 * H + u] = dht * tanh_c * o * (1 - o)
                dc_next[u] = dct * f
            for k in range(H):  # dh_prev = da @ W_hh
                acc = 0.0
                for j in range(4 * H):
                    acc += da[j] * W_hh[j, k]
                dh_next[k] = acc
            for k in range(C):
                acc = 0.0
                for j in range(4 * H):
                    acc += da[j] * W_ih[j, k]
                dx[m, t, k] = acc
            for j in range(4 * H):
                for k in range(C):
                    dW_ih[j, k] += da[j] * x[m, t, k]
                for k in range(H):
                    dW_hh[j, k] += da[j] * hp[k]
                db_ih[j] += da[j]
        dh0[m] = dh_next
        dc0[m] = dc_next
    db_hh[...] = db_ih


lstm_forward_naive = njit(**SERIAL)(_lstm_forward_naive)
lstm_backward_naive = njit(**SERIAL)(_lstm_backward_naive)

# --------------------------------------------------------------------------------------------------------------
# Numba: four sequences at a time, chunks of the batch in parallel


def _lstm_forward(h, c, gates, x, W_ih, W_hh, b_ih, b_hh, h0, c0, chunks):
    N, T, C = x.shape
    H = h0.shape[1]
    groups, n_chunks, per_chunk = _chunking(N, chunks)
    real = x.dtype.type  # the arrays' scalar type: constants made with it keep float32 arithmetic float32
    # the products as rows of W.T added into the gates (kernels/rowblocks.py, add_products4), made contiguous once
    W_ihT, W_hhT = np.ascontiguousarray(W_ih.T), np.ascontiguousarray(W_hh.T)
    b = b_ih + b_hh  # only the biases' sum enters a
    for k in prange(n_chunks):
        xs = np.zeros((4, C), x.dtype)  # the four sequences' inputs at step t (rows past the group stay zero)
        hs = np.zeros((4, H), x.dtype)  # their states before step t
        cs = np.zeros((4, H), x.dtype)  # ... and cells
        a = np.empty((4, 4 * H), x.dtype)  # the gates before their nonlinearities
        for group in range(k * per_chunk, min(groups, (k + 1) * per_chunk)):
            first = 4 * group
            rows = min(4, N - first)
            for r in range(rows):
                copy(hs[r], h0[first + r])
                copy(cs[r], c0[first + r])
            for t in range(T):
                for r in range(rows):
                    copy(xs[r], x[first + r, t])
                for r in range(4):
                    copy(a[r], b)
                add_products4(a, W_ihT, xs)  # a = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
                add_products4(a, W_hhT, hs)
                for r in range(rows):
                    # each gate's H values as a row of their own, indexed by the bare loop counter (u): an index
                    # such as H + u, which Numba cannot prove positive, would keep the loop from being vectorised
                    a_i, a_f, a_g, a_o = a[r, :H], a[r, H:2 * H], a[r, 2 * H:3 * H], a[r, 3 * H:]
                    gt = gates[first + r, t]
                    g_i, g_f, g_g, g_o = gt[:H], gt[H:2 * H], gt[2 * H:3 * H], gt[3 * H:]
                    cr, hr = cs[r], hs[r]
                    for u in range(H):
                        i = sigmoid(a_i[u], real)
                        f = sigmoid(a_f[u], real)
                        g = tanh(a_g[u], real)
                        o = sigmoid(a_o[u], real)
                        cr[u] = f * cr[u] + i * g
                        hr[u] = o * tanh(cr[u], real)
                        g_i[u] = i
                        g_f[u] = f
                        g_g[u] = g
                        g_o[u] = o
                    copy(h[first + r, t], hr)
                    copy(c[first + r, t], cr)
            hs[:] = 0
            cs[:] = 0
            xs[:] = 0


def _lstm_backward(dx, dW_ih, dW_hh, db_ih, db_hh, dh0, dc0, dh, x, W_ih, W_hh, h, c, gates, h0, c0, chunks):
    N, T, C = x.shape
    H = h0.shape[1]
    groups, n_chunks, per_chunk = _chunking(N, chunks)
    real = x.dtype.type  # the arrays' scalar type: constants made with it keep float32 arithmetic float32
    one = real(1)
    # dx_t = da @ W_ih as project4's sums along the rows of W_ih.T, which are long (4H)
    W_ihT = np.ascontiguousarray(W_ih.T)
    # dh_prev = da @ W_hh as add_products4's rows of W_hh, each H long: padded with zeros to Hv, a whole number of
    # 16-float vectors (AVX-512's), so that the loop along them leaves no elements over to do one at a time (at
    # H = 130, 2 of every 130, each costing what a vector of 16 does)
    Hv = (H + 15) // 16 * 16
    W_hh_v = np.zeros((4 * H, Hv), x.dtype)
    W_hh_v[:, :H] = W_hh
    # each chunk's own weight gradients, summed after the parallel loop; dW.T with its rows in four blocks, k % 4 =
    # 0, 1, 2, 3 (kernels/rowblocks.py, add_outer4, says why), so that x_t and h_prev take zero columns up to a
    # multiple of 4
    Cq, Hq = (C + 3) // 4, (H + 3) // 4
    dW_ih_c = np.zeros((n_chunks, 4, Cq, 4 * H), x.dtype)
    dW_hh_c = np.zeros((n_chunks, 4, Hq, 4 * H), x.dtype)
    db_c = np.zeros((n_chunks, 4 * H), x.dtype)  # the bias's, once: b_ih and b_hh are added into a alike
    for k in prange(n_chunks):
        xs = np.zeros((4, 4 * Cq), x.dtype)  # x_t (columns past C stay zero)
        hs = np.zeros((4, 4 * Hq), x.dtype)  # the states before step t, h_prev (columns past H stay zero)
        dh_next = np.zeros((4, Hv), x.dtype)  # the gradient of the state that step t+1 sends back (past H: 0)
        dc_next = np.zeros((4, H), x.dtype)  # ... and of the cell
        da = np.zeros((4, 4 * H), x.dtype)  # rows past the group stay zero: they add nothing
        # one row's four gate gradients, copied into da after the loop that makes them: that loop would not be
        # vectorised if it stored into da's row r, whose four parts move with r through one array (LLVM's check that
        # they do not overlap, hoisted out of the loop over r, covers every row and fails, and the loop ran one
        # element at a time: kernels/rowblocks.py, add_outer4); dS stays put from row to row
        dS = np.empty((4, H), x.dtype)
        dxs = np.empty((4, C), x.dtype)
        for group in range(k * per_chunk, min(groups, (k + 1) * per_chunk)):
            first = 4 * group
            rows = min(4, N - first)
            dh_next[:] = 0
            dc_next[:] = 0
            for t in range(T - 1, -1, -1):
                for r in range(rows):
                    m = first + r
                    copy(hs[r, :H], h[m, t - 1] if t > 0 else h0[m])
                    copy(xs[r, :C], x[m, t])
                    c_prev = c[m, t - 1] if t > 0 else c0[m]
                    c_t, dh_t = c[m, t], dh[m, t]
                    # each gate's H values as a row of their own, indexed by the bare loop counter (u), as in the
                    # forward pass
                    gt = gates[m, t]
                    g_i, g_f, g_g, g_o = gt[:H], gt[H:2 * H], gt[2 * H:3 * H], gt[3 * H:]
                    da_i, da_f, da_g, da_o = dS[0], dS[1], dS[2], dS[3]
                    dh_r, dc_r = dh_next[r], dc_next[r]
                    for u in range(H):
                        i, f, g, o = g_i[u], g_f[u], g_g[u], g_o[u]
                        dht = dh_t[u] + dh_r[u]
                        # computed again: the forward pass has nowhere to keep it (gates holds i, f, g, o and c the
                        # cell); written out (kernels/rowblocks.py), it costs about 5% of the backward pass
                        tanh_c = tanh(c_t[u], real)
                        # forward: h_t = o * tanh(c_t)
                        do = dht * tanh_c
                        dct = dc_r[u] + dht * o * (one - tanh_c * tanh_c)
                        # forward: c_t = f * c_prev + i * g
                        di, df, dg = dct * g, dct * c_prev[u], dct * i
                        dc_r[u] = dct * f
                        # forward: i, f, o = sigmoid(a_i, a_f, a_o), g = tanh(a_g)
                        da_i[u] = di * i * (one - i)
                        da_f[u] = df * f * (one - f)
                        da_g[u] = dg * (one - g * g)
                        da_o[u] = do * o * (one - o)
                    for q in range(4):  # da[r] = (da_i, da_f, da_g, da_o)
                        copy(da[r, q * H:(q + 1) * H], dS[q])
                dh_next[:] = 0  # what the loop above read of it is spent: now dh_prev = da @ W_hh
                add_products4(dh_next, W_hh_v, da)
                add_outer4(dW_hh_c[k], da, hs)  # dW_hh += da.T @ h_prev
                add_outer4(dW_ih_c[k], da, xs)  # dW_ih += da.T @ x_t
                add_rows4(db_c[k], da)  # db += da summed over the rows
                project4(dxs, W_ihT, da)  # dx_t = da @ W_ih
                for r in range(rows):
                    dx[first + r, t] = dxs[r]
            for r in range(rows):
                copy(dh0[first + r], dh_next[r, :H])
                copy(dc0[first + r], dc_next[r])
            da[:] = 0
            hs[:] = 0
            xs[:] = 0
    _sum_blocked_chunks(dW_ih, dW_ih_c)
    _sum_blocked_chunks(dW_hh, dW_hh_c)
    _sum_chunks(db_ih, db_c)
    db_hh[...] = db_ih


_lstm_forward_jit = njit(**PARALLEL)(_lstm_forward)
_lstm_backward_jit = njit(**PARALLEL)(_lstm_backward)


def lstm_forward_numba(h, c, gates, x, W_ih, W_hh, b_ih, b_hh, h0, c0, chunks=0):
    """The LSTM over the sequence (see lstm_forward_numpy), four sequences at a time, a chunk of the batch per
    thread (kernels/gru.py, chunks_for)."""
    _lstm_forward_jit(h, c, gates, x, W_ih, W_hh, b_ih, b_hh, h0, c0, chunks_for(chunks))


def lstm_backward_numba(dx, dW_ih, dW_hh, db_ih, db_hh, dh0, dc0, dh, x, W_ih, W_hh, h, c, gates, h0, c0, chunks=0):
    """Backward through time (see lstm_backward_numpy), four sequences at a time, a chunk of the batch per thread."""
    _lstm_backward_jit(dx, dW_ih, dW_hh, db_ih, db_hh, dh0, dc0, dh, x, W_ih, W_hh, h, c, gates, h0, c0,
                       chunks_for(chunks))
