"""Four rows at a time: the products, and the gates' nonlinearities, of the recurrent kernels (kernels/gru.py,
kernels/lstm.py).

A recurrent layer cannot do a time step before the one before it is done, so it cannot hand a whole sequence to one
matrix product as a convolution can. What it can do is advance four sequences of the batch together: each weight is
then read from the cache once for four rows instead of once per row, and a step of four rows costs about what a
step of one would, where reading the weights is what limits it (an LSTM's W_hh of 130 hidden units is 270 KB).

Each helper takes the four rows as a (4, ...) array; a group of fewer than four sequences leaves the extra rows at
zero, so that they add nothing to a sum. With v: (4, K) and g: (4, G):

    project4:         out[r, j] = sum_k W[j, k] * v[r, k]               out = v @ W.T,       W: (G, K)
    add_products4:    out[r, j] += sum_k v[r, k] * M[k, j]              out += v @ M,        M: (K, G)
    add_outer4:       dWq[k % 4, k // 4, j] += sum_r v[r, k] * g[r, j]  dW.T += v.T @ g, four rows of it per pass
    add_rows4:        db[j] += sum_r g[r, j]
    copy:             dst[:] = src for one row, as a loop that LLVM vectorises (Numba's slice assignment clamps
                      every index for broadcasting and copies one element at a time)
    sigmoid, tanh:    of one number, in arithmetic that LLVM vectorises (see _exp_parts) in float32; the C
                      library's in float64, the dtype of the finite-difference checks (see sigmoid)

Two ways to make a product, because a sum across a vector's lanes costs what a dozen multiply-adds do. project4
sums each output along a row of W: right when the rows are long (the input gradient dx = g @ W_ih, rows of 3H or
4H). add_products4 adds rows of M, each scaled by one number, into the four output rows: no sum across lanes at all,
and the index that is vectorised is M's contiguous one, whatever the length of the sum. It takes four rows of M per
pass over the output, whose elements are then loaded and stored once per four rows of M instead of once per row; the
sixteen scale factors (four rows of v times four of M) stay in registers. The forward pass's products (with W_ih.T
and W_hh.T, made contiguous once per call) and the backward pass's g @ W_hh are made this way: 1.6-5x faster than
project4's sums at H = 50-150 (measured alone, AMD Zen 4), which spent as long in their horizontal additions and
leftover lanes as in the multiply-adds when the sums were 50-150 terms long.

add_outer4 is the same loop for the weight gradient, four rows of dW.T per pass, and its layout is what lets it run
vectorised. LLVM runs a vectorised loop only after a check that the rows it stores do not overlap the rows it loads,
and it hoists that check out of the enclosing loop, over every row that loop will reach. Four rows of one (K, G)
array fail it (their ranges over the whole enclosing loop overlap), and the loop then runs one element at a time: 3x
slower than one row per pass. Rows kept in four separate blocks, k % 4 = 0, 1, 2, 3 (dWq: (4, K/4, G)), pass it,
and the pass is then 2x faster than one row at a time (both measured). K must be a multiple of 4: the caller pads v
with zero columns. The kernels' loops over the H units of a row meet the same check, and store into rows that stay
put from one sequence to the next for the same reason.

sigmoid and tanh are written out, where np.exp and np.tanh would call the C library once per element: a loop that
calls a function cannot be vectorised, and those calls took about two thirds of the forward pass's time at H = 130.
"""
import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from ._config import SERIAL_INLINED


def _project4(out, W, v):
    G, K = W.shape
    zero = W.dtype.type(0)  # in W's dtype: a Python 0.0 would make float32 sums float64
    v0, v1, v2, v3 = v[0], v[1], v[2], v[3]
    for j in range(G):
        w = W[j]
        s0 = zero
        s1 = zero
        s2 = zero
        s3 = zero
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


def _add_products4(out, M, v):
    K, G = M.shape
    o0, o1, o2, o3 = out[0], out[1], out[2], out[3]
    K4 = K - K % 4
    for k in range(0, K4, 4):
        m0, m1, m2, m3 = M[k], M[k + 1], M[k + 2], M[k + 3]
        a00, a01, a02, a03 = v[0, k], v[0, k + 1], v[0, k + 2], v[0, k + 3]
        a10, a11, a12, a13 = v[1, k], v[1, k + 1], v[1, k + 2], v[1, k + 3]
        a20, a21, a22, a23 = v[2, k], v[2, k + 1], v[2, k + 2], v[2, k + 3]
        a30, a31, a32, a33 = v[3, k], v[3, k + 1], v[3, k + 2], v[3, k + 3]
        for j in range(G):
            # the four elements of M read before the first store: LLVM cannot tell that out's rows are not M's,
            # and would load them again after every store
            x0, x1, x2, x3 = m0[j], m1[j], m2[j], m3[j]
            o0[j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
            o1[j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
            o2[j] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3
            o3[j] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3
    for k in range(K4, K):  # the last K % 4 rows of M, one at a time
        m0 = M[k]
        a0, a1, a2, a3 = v[0, k], v[1, k], v[2, k], v[3, k]
        for j in range(G):
            x0 = m0[j]
            o0[j] += a0 * x0
            o1[j] += a1 * x0
            o2[j] += a2 * x0
            o3[j] += a3 * x0


def _add_outer4(dWq, g, v):
    _, Kq, G = dWq.shape
    g0, g1, g2, g3 = g[0], g[1], g[2], g[3]
    for q in range(Kq):
        k = 4 * q
        # rows k, k+1, k+2, k+3 of dW.T, one from each block (see the module's docstring)
        d0, d1, d2, d3 = dWq[0, q], dWq[1, q], dWq[2, q], dWq[3, q]
        a00, a01, a02, a03 = v[0, k], v[1, k], v[2, k], v[3, k]
        a10, a11, a12, a13 = v[0, k + 1], v[1, k + 1], v[2, k + 1], v[3, k + 1]
        a20, a21, a22, a23 = v[0, k + 2], v[1, k + 2], v[2, k + 2], v[3, k + 2]
        a30, a31, a32, a33 = v[0, k + 3], v[1, k + 3], v[2, k + 3], v[3, k + 3]
        for j in range(G):
            x0, x1, x2, x3 = g0[j], g1[j], g2[j], g3[j]
            d0[j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
            d1[j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
            d2[j] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3
            d3[j] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3


def _copy(dst, src):
    for u in range(src.shape[0]):
        dst[u] = src[u]


def _add_rows4(db, g):
    g0, g1, g2, g3 = g[0], g[1], g[2], g[3]
    for j in range(db.shape[0]):
        db[j] += g0[j] + g1[j] + g2[j] + g3[j]


# e^-a = 2^-n e^-r with n = round(a / ln 2) and r = a - n ln 2 in [-ln 2 / 2, ln 2 / 2] (Cody and Waite): ln 2 in two
# parts, the first of few enough bits (15) that n * _LN2_HI is exact, so that r is as exact as a is
_LOG2E = 1.4426950408889634
_LN2_HI = 0.693145751953125
_LN2_LO = 1.4286068203094172e-06  # ln 2 - _LN2_HI
_INVERSE_FACTORIALS = tuple(1 / math.factorial(j) for j in range(14))  # 1 / j!
# past a = 86, 2^-n = 2^-124 = 4.7e-38, near float32's smallest normal number (1.2e-38): e^-a is held there, an
# absolute difference that no sum a gate enters can see, and 2^n stays a product of two powers of two that int64s hold
_A_MAX = 86.0


def _exp_parts(a, real):
    """e^-a for 0 <= a (or NaN), as (D, P - 1) with e^-a = P / D: D = 2^n exactly, P = e^-r in [0.7, 1.42].

    ``real`` is the arrays' scalar type (np.float32, np.float64): every constant is made in it, so that float32
    arithmetic stays float32. Only arithmetic, comparisons and integer shifts, which LLVM vectorises; no call. The
    caller divides by D: a sigmoid or a tanh needs one division anyway.

    The sigmoid and tanh made from it are within 2.5 ulp of the exact values, in float32 as in float64: at most 2.23
    and 1.98 ulp in float32, 2.31 and 2.19 in float64, over 800,000 arguments in [-80, 80] (tests/test_recurrent.py
    checks 8,000 of them against 2.5); 1 / (1 + np.exp(-x)) in float32, the NumPy twin's sigmoid, is 3.06 ulp off
    at worst, np.tanh 1.34."""
    a = real(_A_MAX) if a > real(_A_MAX) else a  # NaN fails the comparison and goes on, to come out as NaN
    n = np.floor(a * real(_LOG2E) + real(0.5))
    k = int(n) if n <= real(124) else 124  # 0 <= n <= 124; NaN, whose int() is undefined, goes to 124
    # -r, the second part of ln 2 multiplied by n made again from the integer k: fast-math's reassociation would
    # otherwise fold n * _LN2_HI + n * _LN2_LO into n * ln 2 rounded, undoing the split (float64's e^-a was then up
    # to 13 ulp off)
    s = (n * real(_LN2_HI) - a) + real(k) * real(_LN2_LO)
    # e^s - 1 = s/1! + s^2/2! + ... + s^13/13! for |s| <= 0.35, which leaves 5e-18, below float64's rounding; by
    # Horner's rule from the highest term (a loop of constant length, which LLVM unrolls)
    p = real(_INVERSE_FACTORIALS[13])
    for j in range(12, 0, -1):
        p = real(_INVERSE_FACTORIALS[j]) + s * p
    pm1 = s * p
    k1 = min(k, 62)  # 2^k as a product of two powers of two that int64s hold
    return real(1 << k1) * real(1 << (k - k1)), pm1


def _sigmoid(x, real):
    """1 / (1 + e^-x), from e^-|x| = P / D: D / (D + P) for x >= 0, P / (D + P) below, with no cancellation on
    either side. np.divide is NumPy's division, which gives inf for a division by zero where Python's ``/`` raises:
    the check that raising needs would keep the loop from being vectorised (the denominator is never 0 here)."""
    D, pm1 = exp_parts(abs(x), real)
    P = real(1) + pm1
    return np.divide(D if x >= real(0) else P, D + P)


def _tanh(x, real):
    """tanh(|x|) = (1 - e^-2|x|) / (1 + e^-2|x|) = (D - P) / (D + P), with the sign of x. D - P is computed as
    (D - 1) - (P - 1), exact when D = 1, so that a small x keeps its relative precision."""
    ax = abs(x)
    D, pm1 = exp_parts(ax + ax, real)
    t = np.divide((D - real(1)) - pm1, (D + real(1)) + pm1)
    return t if x >= real(0) else -t


def _sigmoid_libm(x, real):
    return real(1) / (real(1) + np.exp(-x))


def _tanh_libm(x, real):
    return np.tanh(x)


def sigmoid(x, real):
    """1 / (1 + e^-x) in the kernels: _sigmoid's vectorised arithmetic in float32, the C library's in float64.

    float64 is the dtype of the finite-difference checks, which divide the forward pass's rounding by the step h:
    the C library's functions, within an ulp and smooth, kept the worst relative error of tests/test_recurrent.py's
    model check at 8.7e-7, _sigmoid's and _tanh's (1.5-1.7 ulp, and not monotonic from one float to the next) put it
    at 1.4e-6, over the 1e-6 the checks allow. float32 is the dtype that trains, where the speed is wanted and an ulp
    is 2^29 times larger than the difference. (Run without Numba, NUMBA_DISABLE_JIT=1: this function, the same
    choice.)"""
    return _sigmoid_libm(x, real) if real is np.float64 else _sigmoid(x, real)


def tanh(x, real):
    """tanh(x) in the kernels: _tanh's vectorised arithmetic in float32, the C library's in float64 (see sigmoid)."""
    return _tanh_libm(x, real) if real is np.float64 else _tanh(x, real)


project4 = njit(**SERIAL_INLINED)(_project4)
add_products4 = njit(**SERIAL_INLINED)(_add_products4)
add_outer4 = njit(**SERIAL_INLINED)(_add_outer4)
add_rows4 = njit(**SERIAL_INLINED)(_add_rows4)
copy = njit(**SERIAL_INLINED)(_copy)
exp_parts = njit(**SERIAL_INLINED)(_exp_parts)
_sigmoid_fast, _tanh_fast = njit(**SERIAL_INLINED)(_sigmoid), njit(**SERIAL_INLINED)(_tanh)
_sigmoid_exact, _tanh_exact = njit(**SERIAL_INLINED)(_sigmoid_libm), njit(**SERIAL_INLINED)(_tanh_libm)


# In Numba, sigmoid and tanh are chosen by the type of x when a kernel is compiled: no branch at run time. Not
# inline="always" (Numba's IR inlining): with it, Numba's SSA check warned at every first compile
# (NumbaIRAssumptionWarning); LLVM inlines the call by itself (the LSTM's forward pass took the same time either way:
# 109-110 ms at N = 64, T = 784, H = 130 on one thread)
@overload(sigmoid)
def _sigmoid_by_type(x, real):
    return (lambda x, real: _sigmoid_exact(x, real)) if x == types.float64 else \
        (lambda x, real: _sigmoid_fast(x, real))


@overload(tanh)
def _tanh_by_type(x, real):
    return (lambda x, real: _tanh_exact(x, real)) if x == types.float64 else (lambda x, real: _tanh_fast(x, real))

