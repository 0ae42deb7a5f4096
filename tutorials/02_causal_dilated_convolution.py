# %% [markdown]
# # Causal dilated convolution, three ways
#
# This tutorial takes one op, the causal dilated 1-D convolution, from its formula to the fast kernel pytcn runs:
# the derivation, the NumPy twin checked by finite differences, and the Numba kernel checked against the twin.
#
# ## 1. The formula
#
# With input `x: (N, C_in, T)`, weights `W: (C_out, C_in, K)` and bias `b: (C_out,)`,
#
#     y[n, o, t] = b[o] + sum_{i, j} W[o, i, j] * x[n, i, t - (K-1-j)*d]      (x = 0 before t = 0)
#
# Tap `j` looks `s = (K-1-j)*d` steps back. Differentiating a loss L through this sum, each product
# `W[o, i, j] * x[n, i, t - s]` sends `dy[n, o, t] * x[n, i, t - s]` to `dW[o, i, j]` and `dy[n, o, t] * W[o, i, j]`
# to `dx[n, i, t - s]`:
#
#     dW[o, i, j] = sum_{n, t} dy[n, o, t] x[n, i, t - s]        dx[n, i, u] = sum_{o, j} W[o, i, j] dy[n, o, u + s]
#     db[o] = sum_{n, t} dy[n, o, t]
#
# The input gradient is the same convolution run anti-causally (reading forward in time), the weight gradient a
# correlation of the input with dy.

# %%
import numpy as np

from pytcn import kernels
from pytcn.gradcheck import numerical_gradient, relative_error

rng = np.random.default_rng(0)
N, C_in, C_out, T, K, d = 2, 3, 4, 10, 3, 2
x = rng.standard_normal((N, C_in, T))
W = rng.standard_normal((C_out, C_in, K))
b = rng.standard_normal(C_out)

# %% [markdown]
# ## 2. Straight from the formula, then the NumPy twin
#
# Four nested loops compute the formula literally. The twin in `kernels/conv.py` takes another route (pad `x` on
# the left with `(K-1)*d` zeros, then one matrix product per tap): the two must agree.

# %%
y_loops = np.zeros((N, C_out, T))
for n in range(N):
    for o in range(C_out):
        for t in range(T):
            y_loops[n, o, t] = b[o] + sum(W[o, i, j] * x[n, i, t - (K - 1 - j) * d]
                                          for i in range(C_in) for j in range(K) if t - (K - 1 - j) * d >= 0)

y = np.empty((N, C_out, T))
kernels.conv_forward_numpy(y, x, W, b, d)
print("loops vs twin, largest difference:", np.abs(y - y_loops).max())

# %% [markdown]
# Causality, seen directly: change the input at step 6 and no earlier output moves. Of the later ones, only
# those with a tap on step 6 do: steps 6 and 8 here (K = 3, d = 2; step 10 would be the next, past the end).

# %%
x2 = x.copy()
x2[:, :, 6] += 1.0
y2 = np.empty_like(y)
kernels.conv_forward_numpy(y2, x2, W, b, d)
print("steps whose output changed:", np.flatnonzero(np.abs(y2 - y).max(axis=(0, 1)) > 0))

# %% [markdown]
# ## 3. The backward pass, checked by finite differences
#
# For a random upstream gradient `dy`, the scalar `<y, dy>` has gradient `dx` with respect to `x` and `dW` with
# respect to `W`. Central differences with h = 1e-5 (`numerical_gradient`'s default) in float64 estimate both.

# %%
dy = rng.standard_normal((N, C_out, T))
dx = np.empty_like(x)
dW = np.empty_like(W)
kernels.conv_backward_input_numpy(dx, dy, W, d)
kernels.conv_backward_weight_numpy(dW, dy, x, d)


def scalar():
    out = np.empty((N, C_out, T))
    kernels.conv_forward_numpy(out, x, W, b, d)
    return float(np.sum(out * dy))


print("dx: worst relative error", relative_error(dx, numerical_gradient(scalar, x)).max())
print("dW: worst relative error", relative_error(dW, numerical_gradient(scalar, W)).max())

# %% [markdown]
# ## 4. The Numba kernel
#
# `kernels.conv_forward_numba` computes the same sum with loops over contiguous time rows, parallel over
# (sequence, output channel). It must equal the twin.

# %%
y_fast = np.empty_like(y)
kernels.conv_forward_numba(y_fast, x, W, b, d)
dx_fast = np.empty_like(x)
kernels.conv_backward_input_numba(dx_fast, dy, W, d)
print("numba vs twin, forward:", np.abs(y_fast - y).max(), " input gradient:", np.abs(dx_fast - dx).max())

# %% [markdown]
# ## Summary
#
# One formula, three implementations that agree: literal loops, the NumPy twin (the oracle), the Numba kernel (the
# one that runs). The tests in `tests/` do the same comparisons over thousands of random shapes.
