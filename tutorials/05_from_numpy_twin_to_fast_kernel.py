# %% [markdown]
# # From the NumPy twin to the fast Numba kernel
#
# The causal convolution is written four times here, computing one sum: literal Python loops, and pytcn's NumPy twin,
# naive Numba kernel and blocked Numba kernel. This tutorial runs all four on one problem, checks that they agree, times
# them, and reads why the fast one is fast.
#
#     y[n, o, t] = b[o] + Σ_{i, j} W[o, i, j] · x[n, i, t − (K−1−j)·d]        (x = 0 before t = 0)
#
# 1. literal Python loops over (n, o, t, i, j): the formula as written;
# 2. the NumPy twin (`kernels.conv_forward_numpy`): pad x on the left, then one matrix product per tap;
# 3. the naive Numba kernel (`kernels.NAIVE["conv_forward"]`): for each output row (y[n, o, :], one output channel
#    of one sequence), one (channel, tap) pair at a time added along the row, compiled;
# 4. the blocked Numba kernel (`kernels.conv_forward_numba`), the one a model runs: four output rows and four
#    (channel, tap) pairs in one pass over time.

# %%
import inspect
import time

import matplotlib.pyplot as plt
import numba
import numpy as np

from pytcn import kernels
from pytcn.course import QUICK, figure_path

# the blog configuration's shape (20 channels, K = 6) at one dilation
N, C, T, K, d = (4, 8, 100, 6, 4) if QUICK else (32, 20, 600, 6, 4)
rng = np.random.default_rng(0)
x = rng.standard_normal((N, C, T)).astype(np.float32)
W = rng.standard_normal((C, C, K)).astype(np.float32)
b = rng.standard_normal(C).astype(np.float32)
flops = 2 * N * C * T * C * K  # a multiply and an add per term


def loops(y, x, W, b, d):
    N, C_in, T = x.shape
    C_out, _, K = W.shape
    for n in range(N):
        for o in range(C_out):
            for t in range(T):
                total = b[o]
                for i in range(C_in):
                    for j in range(K):
                        if t - (K - 1 - j) * d >= 0:
                            total += W[o, i, j] * x[n, i, t - (K - 1 - j) * d]
                y[n, o, t] = total


# %% [markdown]
# ## 1. They agree
#
# Each writes into y (outputs first, as every pytcn kernel). The literal loops run on one sample only (they are
# slow); the others on the whole batch.

# %%
ways = {"literal loops": loops, "NumPy twin": kernels.conv_forward_numpy,
        "naive Numba": kernels.NAIVE["conv_forward"], "blocked Numba": kernels.conv_forward_numba}
y_twin = np.empty((N, C, T), np.float32)
kernels.conv_forward_numpy(y_twin, x, W, b, d)
for name, fn in ways.items():
    n = 1 if name == "literal loops" else N
    y = np.full((n, C, T), np.nan, np.float32)
    fn(y, np.ascontiguousarray(x[:n]), W, b, d)  # (the first call of a Numba kernel compiles it, or loads it)
    error = np.abs(y - y_twin[:n]).max() / np.abs(y_twin).max()
    print(f"{name:14s} largest difference to the twin, relative: {error:.1e}")
    assert error < 1e-5

# %% [markdown]
# ## 2. Timed
#
# The median of a few calls each, single-threaded (`numba.set_num_threads(1)`) so that the kernels compare as loops, not
# as thread pools; GFLOP/s are billions of floating-point operations per second, counting the sum's N·C²·T·K
# multiply-adds as 2·N·C²·T·K operations. Times depend on the machine: compare the ratios.

# %%


def median_seconds(fn, n, repeats):
    y = np.empty((n, C, T), np.float32)
    xs = np.ascontiguousarray(x[:n])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(y, xs, W, b, d)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


threads = numba.get_num_threads()
numba.set_num_threads(1)
speed = {}
for name, fn in ways.items():
    n = 1 if name == "literal loops" else N
    seconds = median_seconds(fn, n, 1 if name == "literal loops" else 5)
    speed[name] = flops * n / N / seconds / 1e9
    print(f"{name:14s} {seconds * 1e3 * N / n:10.2f} ms for the batch  {speed[name]:8.3f} GFLOP/s")
numba.set_num_threads(threads)

fig, ax = plt.subplots(figsize=(7, 2.8))
ax.barh(list(speed), list(speed.values()), color=["#c8c8c8", "#9ecae1", "#6baed6", "#1f77b4"])
ax.set_xscale("log")
ax.set_xlabel("GFLOP/s, one thread (log)")
ax.set_title(f"One causal convolution, N={N}, C={C}, T={T}, K={K}, d={d}, float32")
fig.tight_layout()
fig.savefig(figure_path("05_kernel_speed.png"), dpi=100)
assert speed["blocked Numba"] > speed["literal loops"]

# %% [markdown]
# ## 3. Why the blocked kernel is faster
#
# - The literal loops run in the Python interpreter: every multiply-add is several bytecodes (the interpreter's
#   instructions) and boxed numbers (each a Python object of its own).
# - The NumPy twin hands each tap to a matrix product, fast per call, but it builds a padded copy of x and a
#   temporary per tap, and passes over y K times.
# - The naive Numba kernel compiles the formula's loop: for one (channel, tap) pair it adds `w · x[t − lag]` into a
#   whole output row. Each multiply-add then loads y, loads x and stores y: the loop waits on memory, not on
#   arithmetic.
# - The blocked kernel loads four x values and four y values per step and does sixteen multiply-adds with them: four
#   output rows times four (channel, tap) pairs. Every load serves four multiply-adds, and the sixteen products go
#   into vector registers (registers that hold several numbers, each instruction working on all of them at once;
#   AVX-512's hold 16 float32).
#
# Its docstring says so beside the code:

# %%
print(inspect.getsource(kernels.conv_forward_numba.py_func).split("\n")[0])
source = inspect.getsource(kernels.conv)
start = source.index("# The blocked kernels, and why they are blocked.")
print(source[start:start + 900])

# %% [markdown]
# Both Numba kernels index rows by a bare counter after slicing off the tap's lag, which their code calls `s`
# (`ys = y[s:]`, `xs = x[:T-s]`). An index like `x[t − s]` would make Numba check for negative indices, and that
# check stops LLVM (the compiler Numba hands its code to) from vectorising the loop, that is, compiling it to vector
# instructions: 7x slower on the machines pytcn is measured on, as the comment above the kernels in
# `kernels/conv.py` records.
#
# One more thing stood between the blocked loop and the vector instructions. Before a vectorised pass, LLVM must know
# that the four rows it stores do not overlap one another or the four rows it loads: otherwise a store could change a
# value a later step loads, and 16 steps at once would give another result than one at a time. Rows sliced out of the
# caller's arrays give it nothing to prove that from, so it compared their addresses at run time, before every pass:
# some twenty comparisons for a pass of a thousand steps. The pass is now a function of its own (`_add_four_rows`),
# compiled with its array arguments declared apart (`NoAliasCompiler` in `kernels/_config.py`, the meaning of C's
# `restrict`), and the kernels that call it refuse an output that overlaps their input. On a layer of 128 channels the
# forward ran 12% faster for it, with the same bits. The declaration is a promise the caller keeps; the compiler does
# not check it.
#
# ## Summary
#
# - Four implementations of one sum agree to float32 roundoff; the twin is the oracle the tests compare the fast kernels
#   with, on shapes that hypothesis draws, dozens per test (`tests/test_kernels.py`), and the naive kernel is the
#   blocked one's readable reference.
# - Speed comes from the loop structure: compiled loops, then blocking so that every load feeds several
#   multiply-adds.
#
# ## References
#
# - Lam, S. K., Pitrou, A. and Seibert, S. (2015). *Numba: a LLVM-based Python JIT compiler*. LLVM-HPC workshop: the
#   compiler of pytcn's CPU kernels.
# - Harris, C. R. et al. (2020). *Array programming with NumPy*. Nature 585, 357-362: the twins' arrays and matrix
#   products.
#
# ## Exercises
#
# 1. Time the two Numba kernels with 2 threads instead of 1. How much does each gain, and what could keep a kernel
#    from running twice as fast on two cores?
# 2. Use K = 1 (a pointwise product): how do the four compare now, and why does the NumPy twin close the gap?
#
# Solutions below (folded in the rendered site).

# %% tags=["hide-cell"]
# Solution 1: each thread owns whole output rows (a sample's block of four rows, in the blocked kernel), so nothing
# is shared and both can double. On a 2-vCPU AMD EPYC VM (2026-12-07, the full-size problem) both did, 1.97-2.01x
# in three tries each (naive 3.35 -> 1.68 ms, blocked 1.05 -> 0.53 ms). What keeps a kernel from it: memory that
# both cores share (a problem too large for their own caches, whose rows then come from the shared cache or RAM),
# too little work per call to pay for the second thread (PYTCN_QUICK's problem, 0.01 ms, shows that), or, on
# these VMs, a process whose two threads run at the rate of one (benchmarks/speed.py measures in fresh processes for
# that reason).
for name in ("naive Numba", "blocked Numba"):
    timed = {}
    for n_threads in (1, 2):
        numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
        timed[n_threads] = median_seconds(ways[name], N, 5)
    numba.set_num_threads(threads)
    print(f"{name:14s} 1 thread {timed[1] * 1e3:.2f} ms, 2 threads {timed[2] * 1e3:.2f} ms: "
          f"{timed[1] / timed[2]:.2f}x")

# Solution 2: with K = 1 the twin is a single matrix product per sample, which NumPy's BLAS (the optimised
# linear-algebra library it calls for matrix products) does well. The blocked kernel's advantage is reuse: each x it
# loads serves four output rows, and each y four (channel, tap) pairs, where the twin passes over y once per tap; with
# one tap the twin's one pass is all there is, and BLAS reuses as well
W1 = W[:, :, :1].copy()
y_twin1, y_fast1 = np.empty((N, C, T), np.float32), np.empty((N, C, T), np.float32)
kernels.conv_forward_numpy(y_twin1, x, W1, b, d)
kernels.conv_forward_numba(y_fast1, x, W1, b, d)
assert np.allclose(y_twin1, y_fast1, rtol=1e-4, atol=1e-4)
print("K = 1: the twin and the kernel agree")
