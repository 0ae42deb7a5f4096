"""GRU layer: forward through the sequence, and backward through time.

Layout (every kernel in this module): batch first, channels last, as torch.nn.GRU(batch_first=True).

    x:   (N, T, C_in)    input
    W_ih: (3H, C_in)     input weights, the rows of the gates r, z, n in that order (torch.nn.GRU's weight_ih_l0)
    W_hh: (3H, H)        recurrent weights, the same order (weight_hh_l0)
    b_ih, b_hh: (3H,)    their biases (bias_ih_l0, bias_hh_l0)
    h0:  (N, H)          the state before the first step (zeros for a sequence at its start)
    h:   (N, T, H)       output: the state after every step

The equations, at each step t with h_prev = h[:, t-1] (h0 at t = 0), as torch.nn.GRU computes them:

    r = sigmoid(W_ir x_t + b_ir + W_hr h_prev + b_hr)         reset gate
    z = sigmoid(W_iz x_t + b_iz + W_hz h_prev + b_hz)         update gate
    n = tanh(W_in x_t + b_in + r * (W_hn h_prev + b_hn))      candidate state
    h_t = (1 - z) * n + z * h_prev

The reset gate multiplies the recurrent term *after* its bias (r * (W_hn h + b_hn)), which is why a GRU keeps two
biases where one would do for r and z. The forward pass saves, for the backward pass, ``gates`` (N, T, 4H): r, z, n
and W_hn h_prev + b_hn.

The backward pass takes dh (N, T, H), the gradient of the loss with respect to every step's output, and carries the
gradient of the state back through time: the state of step t-1 is read by step t (through z, n and the gates), so
its gradient is dh[:, t-1] plus what step t sends back.

Each op comes three times, with the same signature and the same result:

- ``*_numpy``: the reference: one time step per loop iteration, the whole batch at once with matrix products.
- ``*_naive``: Numba loops over one sequence at a time, scalar by scalar: the readable form of the fast kernel.
- ``*_numba``: the CPU kernel that runs: four sequences advanced together (kernels/rowblocks.py: the products, and
  the gates' sigmoid and tanh written out so that the loops over the H units are vectorised), the batch split into
  chunks run in parallel, one per thread; each chunk adds its weight gradients into its own buffers, which are summed
  once at the end (so no two threads ever add into the same element).
"""
import numba
import numpy as np
from numba import njit, prange

from ._config import PARALLEL, SERIAL
from .rowblocks import add_outer4, add_products4, add_rows4, copy, project4, sigmoid, tanh

# --------------------------------------------------------------------------------------------------------------
# NumPy reference


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def gru_forward_numpy(h, gates, x, W_ih, W_hh, b_ih, b_hh, h0):
    """The GRU over the sequence. Writes h: (N, T, H) and gates: (N, T, 4H) = (r, z, n, W_hn h_prev + b_hn)."""
    H = h0.shape[1]
    h_prev = h0
    for t in range(x.shape[1]):
        gx = x[:, t] @ W_ih.T + b_ih  # N, 3H: the input's part of every gate
        gh = h_prev @ W_hh.T + b_hh  # N, 3H: the state's part
        r = _sigmoid(gx[:, :H] + gh[:, :H])
        z = _sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        h_prev = (1 - z) * n + z * h_prev
        h[:, t] = h_prev
        gates[:, t] = np.concatenate([r, z, n, gh[:, 2 * H:]], axis=1)


def gru_backward_numpy(dx, dW_ih, dW_hh, db_ih, db_hh, dh0, dh, x, W_ih, W_hh, h, gates, h0):
    """Backward through time. Writes dx (N, T, C_in), the weights' and biases' gradients, and dh0 (N, H)."""
    H = h0.shape[1]
    for a in (dW_ih, dW_hh, db_ih, db_hh):
        a[...] = 0
    dh_next = np.zeros_like(h0)  # what step t+1 sends back to the state of step t
    for t in reversed(range(x.shape[1])):
        h_prev = h[:, t - 1] if t > 0 else h0
        r, z, n, hn = (gates[:, t, k * H:(k + 1) * H] for k in range(4))
        dht = dh[:, t] + dh_next
        # forward: h_t = (1 - z) * n + z * h_prev
        dn = dht * (1 - z)
        dz = dht * (h_prev - n)
        # forward: n = tanh(a_n), a_n = gx_n + r * hn
        da_n = dn * (1 - n * n)
        dr = da_n * hn
        dhn = da_n * r
        # forward: r = sigmoid(a_r), z = sigmoid(a_z), each a = gx + gh
        da_r = dr * r * (1 - r)
        da_z = dz * z * (1 - z)
        dgx = np.concatenate([da_r, da_z, da_n], axis=1)  # N, 3H: the gradient of x_t @ W_ih.T + b_ih
        dgh = np.concatenate([da_r, da_z, dhn], axis=1)  # N, 3H: of h_prev @ W_hh.T + b_hh
        dx[:, t] = dgx @ W_ih
        dW_ih += dgx.T @ x[:, t]
        db_ih += dgx.sum(axis=0)
        dW_hh += dgh.T @ h_prev
        db_hh += dgh.sum(axis=0)
        dh_next = dht * z + dgh @ W_hh  # h_prev reaches h_t directly (z * h_prev) and through the gates
    dh0[...] = dh_next


# --------------------------------------------------------------------------------------------------------------
# Numba: one sequence at a time (naive)


def _gru_forward_naive(h, gates, x, W_ih, W_hh, b_ih, b_hh, h0):
    N, T, C = x.shape
    H = h0.shape[1]
    for m in range(N):
        for t in range(T):
            for u in range(H):
                a_r = b_ih[u] + b_hh[u]
                a_z = b_ih[H + u] + b_hh[H + u]
                gx_n = b_ih[2 * H + u]
                hn = b_hh[2 * H + u]
                for i in range(C):
                    a_r += W_ih[u, i] * x[m, t, i]
                    a_z += W_ih[H + u, i] * x[m, t, i]
                    gx_n += W_ih[2 * H + u, i] * x[m, t, i]
                for k in range(H):
                    hk = h[m, t - 1, k] if t > 0 else h0[m, k]
                    a_r += W_hh[u, k] * hk
                    a_z += W_hh[H + u, k] * hk
                    hn += W_hh[2 * H + u, k] * hk
                r = 1.0 / (1.0 + np.exp(-a_r))
                z = 1.0 / (1.0 + np.exp(-a_z))
                n = np.tanh(gx_n + r * hn)
                hp = h[m, t - 1, u] if t > 0 else h0[m, u]
                h[m, t, u] = (1 - z) * n + z * hp
                gates[m, t, u] = r
                gates[m, t, H + u] = z
                gates[m, t, 2 * H + u] = n
                gates[m, t, 3 * H + u] = hn


def _gru_backward_naive(dx, dW_ih, dW_hh, db_ih, db_hh, dh0, dh, x, W_ih, W_hh, h, gates, h0):
    N, T, C = x.shape
    H = h0.shape[1]
    dW_ih[...] = 0
    dW_hh[...] = 0
    db_ih[...] = 0
    db_hh[...] = 0
    dgx = np.empty(3 * H, x.dtype)
    dgh = np.empty(3 * H, x.dtype)
    carry = np.zeros(H, x.dtype)  # the gradient of the state that step t+1 sends back
    for m in range(N):
        carry[:] = 0
        for t in range(T - 1, -1, -1):
            hp = h[m, t - 1] if t > 0 else h0[m]
            g = gates[m, t]
            for u in range(H):
                r, z, n, hn = g[u], g[H + u], g[2 * H + u], g[3 * H + u]
                dht = dh[m, t, u] + carry[u]
                da_n = dht * (1 - z) * (1 - n * n)  # h_t = (1 - z) * n + z * h_prev, n = tanh(a_n)
                dgx[u] = da_n * hn * r * (1 - r)  # a_n = gx_n + r * hn, r = sigmoid(a_r)
                dgx[H + u] = dht * (hp[u] - n) * z * (1 - z)  # z = sigmoid(a_z)
                dgx[2 * H + u] = da_n
                dgh[u] = dgx[u]
                dgh[H + u] = dgx[H + u]
                dgh[2 * H + u] = da_n * r
                carry[u] = dht * z  # the direct path, z * h_prev
            for k in range(H):  # ... and through the gates: carry += dgh @ W_hh
                acc = carry[k]
                for j in range(3 * H):
                    acc += dgh[j] * W_hh[j, k]
                carry[k] = acc
            for i in range(C):
                acc = 0.0
                for j in range(3 * H):
                    acc += dgx[j] * W_ih[j, i]
                dx[m, t, i] = acc
            for j in range(3 * H):
                for i in range(C):
                    dW_ih[j, i] += dgx[j] * x[m, t, i]
                for k in range(H):
                    dW_hh[j, k] += dgh[j] * hp[k]
                db_ih[j] += dgx[j]
                db_hh[j] += dgh[j]
        dh0[m] = carry


gru_forward_naive = njit(**SERIAL)(_gru_forward_naive)
gru_backward_naive = njit(**SERIAL)(_gru_backward_naive)

# --------------------------------------------------------------------------------------------------------------
# Numba: four sequences at a time, chunks of the batch in parallel


def _chunking(N, chunks):
    """(groups of four sequences, chunks, groups per chunk): ``chunks`` chunks at most, fewer when there are fewer
    groups."""
    groups = (N + 3) // 4
    n_chunks = max(1, min(chunks, groups))
    per_chunk = (groups + n_chunks - 1) // n_chunks
    return groups, (groups + per_chunk - 1) // per_chunk, per_chunk


def _gru_forward(h, gates, x, W_ih, W_hh, b_ih, b_hh, h0, chunks):
    N, T, C = x.shape
    H = h0.shape[1]
    groups, n_chunks, per_chunk = _chunking(N, chunks)
    real = x.dtype.type  # the arrays' scalar type: constants made with it keep float32 arithmetic float32
    one = real(1)
    # the products as rows of W.T added into the gates (kernels/rowblocks.py, add_products4), made contiguous once
    W_ihT, W_hhT = np.ascontiguousarray(W_ih.T), np.ascontiguousarray(W_hh.T)
    for c in prange(n_chunks):
        xs = np.zeros((4, C), x.dtype)  # the four sequences' inputs at step t (rows past the group stay zero)
        hs = np.zeros((4, H), x.dtype)  # their states before step t
        gx = np.empty((4, 3 * H), x.dtype)
        gh = np.empty((4, 3 * H), x.dtype)
        for group in range(c * per_chunk, min(groups, (c + 1) * per_chunk)):
            first = 4 * group
            rows = min(4, N - first)
            for r in range(rows):
                copy(hs[r], h0[first + r])
            for t in range(T):
                for r in range(rows):
                    copy(xs[r], x[first + r, t])
                for r in range(4):
                    copy(gx[r], b_ih)
                    copy(gh[r], b_hh)
                add_products4(gx, W_ihT, xs)  # gx = x_t @ W_ih.T + b_ih
                add_products4(gh, W_hhT, hs)  # gh = h_prev @ W_hh.T + b_hh
                for r in range(rows):
                    # each gate's H values as a row of their own, indexed by the bare loop counter (u): an index
                    # such as H + u, which Numba cannot prove positive, would keep the loop from being vectorised
                    gx_r, gx_z, gx_n = gx[r, :H], gx[r, H:2 * H], gx[r, 2 * H:]
                    gh_r, gh_z, gh_n = gh[r, :H], gh[r, H:2 * H], gh[r, 2 * H:]
                    g = gates[first + r, t]
                    g_r, g_z, g_n, g_hn = g[:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:]
                    hr = hs[r]
                    for u in range(H):
                        rg = sigmoid(gx_r[u] + gh_r[u], real)
                        z = sigmoid(gx_z[u] + gh_z[u], real)
                        hn = gh_n[u]
                        n = tanh(gx_n[u] + rg * hn, real)
                        hr[u] = (one - z) * n + z * hr[u]
                        g_r[u] = rg
                        g_z[u] = z
                        g_n[u] = n
                        g_hn[u] = hn
                    copy(h[first + r, t], hr)
            hs[:] = 0
            xs[:] = 0


def _gru_backward(dx, dW_ih, dW_hh, db_ih, db_hh, dh0, dh, x, W_ih, W_hh, h, gates, h0, chunks):
    N, T, C = x.shape
    H = h0.shape[1]
    groups, n_chunks, per_chunk = _chunking(N, chunks)
    real = x.dtype.type  # the arrays' scalar type: constants made with it keep float32 arithmetic float32
    one = real(1)
    # dx_t = dgx @ W_ih as project4's sums along the rows of W_ih.T, which are long (3H)
    W_ihT = np.ascontiguousarray(W_ih.T)
    # carry += dgh @ W_hh as add_products4's rows of W_hh, each H long: padded with zeros to Hv, a whole number of
    # 16-float vectors (AVX-512's), so that the loop along them leaves no elements over to do one at a time (at
    # H = 150, 6 of every 150, each costing what a vector of 16 does)
    Hv = (H + 15) // 16 * 16
    W_hh_v = np.zeros((3 * H, Hv), x.dtype)
    W_hh_v[:, :H] = W_hh
    # each chunk's own weight gradients, summed after the parallel loop; dW.T with its rows in four blocks, k % 4 =
    # 0, 1, 2, 3 (kernels/rowblocks.py, add_outer4, says why), so that x_t and h_prev take zero columns up to a
    # multiple of 4
    Cq, Hq = (C + 3) // 4, (H + 3) // 4
    dW_ih_c = np.zeros((n_chunks, 4, Cq, 3 * H), x.dtype)
    dW_hh_c = np.zeros((n_chunks, 4, Hq, 3 * H), x.dtype)
    db_ih_c = np.zeros((n_chunks, 3 * H), x.dtype)
    db_hh_c = np.zeros((n_chunks, 3 * H), x.dtype)
    for c in prange(n_chunks):
        xs = np.zeros((4, 4 * Cq), x.dtype)  # x_t (columns past C stay zero)
        hs = np.zeros((4, 4 * Hq), x.dtype)  # the states before step t, h_prev (columns past H stay zero)
        carry = np.zeros((4, Hv), x.dtype)  # the gradient of the state that step t+1 sends back (past H: 0)
        dgx = np.zeros((4, 3 * H), x.dtype)  # rows past the group stay zero: they add nothing
        dgh = np.zeros((4, 3 * H), x.dtype)
        # one row's gradients of a_r, a_z, a_n and hn, copied into dgx and dgh after the loop that makes them: that
        # loop would not be vectorised if it stored into dgx's and dgh's row r, whose parts move with r through one
        # array (LLVM's check that they do not overlap, hoisted out of the loop over r, covers every row and fails,
        # and the loop ran one element at a time: kernels/rowblocks.py, add_outer4); dS stays put from row to row
        dS = np.empty((4, H), x.dtype)
        dxs = np.empty((4, C), x.dtype)
        for group in range(c * per_chunk, min(groups, (c + 1) * per_chunk)):
            first = 4 * group
            rows = min(4, N - first)
            carry[:] = 0
            for t in range(T - 1, -1, -1):
                for r in range(rows):
                    m = first + r
                    copy(hs[r, :H], h[m, t - 1] if t > 0 else h0[m])
                    copy(xs[r, :C], x[m, t])
                    dh_t = dh[m, t]
                    # each gate's H values as a row of their own, indexed by the bare loop counter (u), as in the
                    # forward pass
                    g = gates[m, t]
                    g_r, g_z, g_n, g_hn = g[:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:]
                    dS_r, dS_z, dS_n, dS_hn = dS[0], dS[1], dS[2], dS[3]
                    h_prev, carry_r = hs[r], carry[r]
                    for u in range(H):
                        rg, z, n, hn = g_r[u], g_z[u], g_n[u], g_hn[u]
                        dht = dh_t[u] + carry_r[u]
                        # forward: h_t = (one - z) * n + z * h_prev
                        dn = dht * (one - z)
                        dz = dht * (h_prev[u] - n)
                        carry_r[u] = dht * z  # the direct path, z * h_prev ...
                        # forward: n = tanh(a_n), a_n = gx_n + rg * hn
                        da_n = dn * (one - n * n)
                        dS_n[u] = da_n
                        dS_hn[u] = da_n * rg
                        # forward: rg = sigmoid(a_r), z = sigmoid(a_z), each a = gx + gh
                        dS_r[u] = da_n * hn * rg * (one - rg)
                        dS_z[u] = dz * z * (one - z)
                    # dgx = (da_r, da_z, da_n), the gradient of gx; dgh = (da_r, da_z, dhn), of gh
                    copy(dgx[r, :H], dS_r)
                    copy(dgx[r, H:2 * H], dS_z)
                    copy(dgx[r, 2 * H:], dS_n)
                    copy(dgh[r, :H], dS_r)
                    copy(dgh[r, H:2 * H], dS_z)
                    copy(dgh[r, 2 * H:], dS_hn)
                add_products4(carry, W_hh_v, dgh)  # ... and through the gates: carry += dgh @ W_hh
                add_outer4(dW_hh_c[c], dgh, hs)  # dW_hh += dgh.T @ h_prev
                add_rows4(db_hh_c[c], dgh)
                add_outer4(dW_ih_c[c], dgx, xs)  # dW_ih += dgx.T @ x_t
                add_rows4(db_ih_c[c], dgx)
                project4(dxs, W_ihT, dgx)  # dx_t = dgx @ W_ih
                for r in range(rows):
                    dx[first + r, t] = dxs[r]
            for r in range(rows):
                copy(dh0[first + r], carry[r, :H])
            dgx[:] = 0
            dgh[:] = 0
            hs[:] = 0
            xs[:] = 0
    _sum_blocked_chunks(dW_ih, dW_ih_c)
    _sum_blocked_chunks(dW_hh, dW_hh_c)
    _sum_chunks(db_ih, db_ih_c)
    _sum_chunks(db_hh, db_hh_c)


def _sum_over_chunks(out, parts):
    """out = the sum of parts over its first axis, in chunk order."""
    out[...] = parts[0]
    for c in range(1, parts.shape[0]):
        out += parts[c]


def _sum_over_blocked_chunks(dW, parts):
    """dW (G, K) = the sum over chunks, in chunk order, of parts (chunks, 4, K/4 rounded up, G): each chunk's dW.T
    with its rows in four blocks, row k at [k % 4, k // 4] (kernels/rowblocks.py, add_outer4)."""
    G, K = dW.shape
    for k in range(K):
        for j in range(G):
            s = parts[0, k % 4, k // 4, j]
            for c in range(1, parts.shape[0]):
                s += parts[c, k % 4, k // 4, j]
            dW[j, k] = s


_sum_chunks = njit(**SERIAL)(_sum_over_chunks)
_sum_blocked_chunks = njit(**SERIAL)(_sum_over_blocked_chunks)
_chunking = njit(**SERIAL)(_chunking)
_gru_forward_jit = njit(**PARALLEL)(_gru_forward)
_gru_backward_jit = njit(**PARALLEL)(_gru_backward)


def chunks_for(chunks):
    """How many chunks a fast recurrent kernel splits the batch into: one per thread of Numba's pool (read here, on
    the host: a jitted function that reads it cannot be cached), or ``chunks`` where given (> 0: the tests use it to
    reach every split)."""
    return chunks if chunks > 0 else numba.get_num_threads()


def gru_forward_numba(h, gates, x, W_ih, W_hh, b_ih, b_hh, h0, chunks=0):
    """The GRU over the sequence (see gru_forward_numpy), four sequences at a time, a chunk of the batch per
    thread."""
    _gru_forward_jit(h, gates, x, W_ih, W_hh, b_ih, b_hh, h0, chunks_for(chunks))


def gru_backward_numba(dx, dW_ih, dW_hh, db_ih, db_hh, dh0, dh, x, W_ih, W_hh, h, gates, h0, chunks=0):
    """Backward through time (see gru_backward_numpy), four sequences at a time, a chunk of the batch per thread."""
    _gru_backward_jit(dx, dW_ih, dW_hh, db_ih, db_hh, dh0, dh, x, W_ih, W_hh, h, gates, h0, chunks_for(chunks))
