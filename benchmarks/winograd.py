"""Would Winograd's F(2, 3) make the wide forward faster? A probe for issue #28, not a kernel of pytcn.

For K = 3, two outputs of a dilated convolution, y[t] and y[t + d], need six products per (output, input) channel
pair directly and four by Winograd's minimal filtering F(2, 3): with the inputs z0..z3 = x[t - 2d], x[t - d], x[t],
x[t + d] and the taps g0, g1, g2 (shifts 2d, d, 0),

    v = (z0 - z2, z1 + z2, z2 - z1, z1 - z3)                      the input transform, per input channel
    u = (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2)          the weight transform, once per call
    m_j = sum_i u_j[o, i] v_j[i]                                  four products summed over the input channels
    y[t] = m0 + m1 + m2,   y[t + d] = m1 - m2 - m3                the output transform

so the multiply-adds are 4/6 of the direct sum's. Here each m_j is summed by the forward's own blocked loop
(kernels/conv.py's four_rows_forward: four output rows by four input channels a pass, in scratch rows), the output
transform adds the bias and the ReLU from those rows, and the input transform is one parallel pass over x before.
It handles what wide needs (T a multiple of 2d, C_out a multiple of 4), nothing else.

    python benchmarks/winograd.py          # wide's layer: N 16, 128 -> 128, K 3, T 1024, float32, Numba's threads

Prints, per dilation, the direct kernel's time (conv_relu_forward_numba), the Winograd forward's, and its input
transform's alone: the median over rounds of the best of three calls, the calls alternating; and the largest
difference between the two results.
"""
import argparse
import time

import numpy as np
from numba import njit, prange

from pytcn.kernels.conv import conv_relu_forward_numba, four_rows_forward, scratch_rows

# the kernels' own options for a parallel loop (kernels/_config.py's PARALLEL, private to the kernels): the machine
# code cached beside this file, fast-math without nnan and ninf, Numba's threads
PARALLEL = dict(cache=True, fastmath={"reassoc", "contract", "arcp", "nsz"}, parallel=True)


@njit(**PARALLEL)
def input_transform(V, x, d):
    """V[j, n, i, s] for the tiles s = d * block + r, whose outputs are t = 2d * block + r and t + d."""
    N, C, T = x.shape
    for p in prange(N * C):
        n = p // C
        i = p % C
        row = x[n, i]
        for block in range(T // (2 * d)):
            t0 = 2 * d * block
            s0 = d * block
            v0, v1, v2, v3 = (V[0, n, i, s0:s0 + d], V[1, n, i, s0:s0 + d], V[2, n, i, s0:s0 + d],
                              V[3, n, i, s0:s0 + d])
            z2 = row[t0:t0 + d]
            z3 = row[t0 + d:t0 + 2 * d]
            if block == 0:  # z0 and z1 are the causal padding's zeros
                for r in range(d):
                    v0[r] = -z2[r]
                    v1[r] = z2[r]
                    v2[r] = z2[r]
                    v3[r] = -z3[r]
            else:
                z0 = row[t0 - 2 * d:t0 - d]
                z1 = row[t0 - d:t0]
                for r in range(d):
                    v0[r] = z0[r] - z2[r]
                    v1[r] = z1[r] + z2[r]
                    v2[r] = z2[r] - z1[r]
                    v3[r] = z1[r] - z3[r]


@njit(**PARALLEL)
def products_and_output(y, V, U, b, d):
    """y = ReLU(b + the output transform of m_j = U[:, :, j] @ V[j, n]), four output rows per task."""
    N, C_out, T = y.shape
    C_in = V.shape[2]
    S = T // 2
    channels = np.arange(C_in)
    same = np.zeros(C_in, np.int64)
    pairs = [(channels, same + j, same) for j in range(4)]  # (input channel, transform j, no shift)
    blocks = C_out // 4
    for p in prange(N * blocks):
        n = p // blocks
        o = p % blocks * 4
        m = [scratch_rows(S, y) for _ in range(4)]
        for j in range(4):
            mj = m[j]
            mj[:, :S] = 0
            four_rows_forward(mj[0, :S], mj[1, :S], mj[2, :S], mj[3, :S], V[j, n], U, o, pairs[j])
        for q in range(4):
            out = y[n, o + q]
            bias = b[o + q]
            m0, m1, m2, m3 = m[0][q], m[1][q], m[2][q], m[3][q]
            for block in range(T // (2 * d)):
                t0 = 2 * d * block
                s0 = d * block
                first = out[t0:t0 + d]
                second = out[t0 + d:t0 + 2 * d]
                for r in range(d):
                    s = s0 + r
                    first[r] = max(m0[s] + m1[s] + m2[s] + bias, 0.0)
                    second[r] = max(m1[s] - m2[s] - m3[s] + bias, 0.0)


def winograd_relu_forward(y, x, W, b, d, V):
    g0, g1, g2 = W[:, :, 0], W[:, :, 1], W[:, :, 2]
    U = np.ascontiguousarray(np.stack([g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2], axis=2))
    input_transform(V, x, d)
    products_and_output(y, V, U, b, d)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dilations", default="1,4,16,128,256")
    args = ap.parse_args(argv)
    N, C, T = 16, 128, 1024
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, T)).astype(np.float32)
    W = (rng.standard_normal((C, C, 3)) / np.sqrt(3 * C)).astype(np.float32)
    b = (0.1 * rng.standard_normal(C)).astype(np.float32)
    direct, wino = np.empty_like(x), np.empty_like(x)
    V = np.empty((4, N, C, T // 2), np.float32)
    dilations = [int(d) for d in args.dilations.split(",")]
    for d in dilations:
        conv_relu_forward_numba(direct, x, W, b, d)
        winograd_relu_forward(wino, x, W, b, d, V)
        print(f"d={d}: largest difference from the direct kernel {np.abs(direct - wino).max():.2g} "
              f"(outputs up to {np.abs(direct).max():.2g})")
    calls = {"direct": lambda d: conv_relu_forward_numba(direct, x, W, b, d),
             "winograd": lambda d: winograd_relu_forward(wino, x, W, b, d, V),
             "input transform": lambda d: input_transform(V, x, d)}
    times = {}
    for _ in range(args.rounds):
        for d in dilations:
            for name, call in calls.items():
                best = float("inf")
                for _ in range(3):
                    t0 = time.perf_counter()
                    call(d)
                    best = min(best, time.perf_counter() - t0)
                times.setdefault((name, d), []).append(best)
    print("ms per call (median of the rounds' best of 3):")
    for d in dilations:
        print(f"d={d:4d}  " + "  ".join(f"{name} {1e3 * np.median(times[(name, d)]):6.2f}" for name in calls))


if __name__ == "__main__":
    main()
