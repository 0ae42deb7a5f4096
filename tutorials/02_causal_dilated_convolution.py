# %% [markdown]
# # Causal dilated convolution, three ways
#
# This tutorial takes one op, the causal dilated 1-D convolution, from its formula to the fast kernel pytcn runs:
# the derivation, the NumPy twin checked by finite differences, and the Numba kernel (Numba: a just-in-time compiler
# that turns numeric Python functions into machine code at their first call) checked against the twin. (Every
# op in pytcn has a *twin*: a plain NumPy version, written another way than the fast *kernel*, the compiled function
# that runs; the tests hold the kernel to its twin.)
#
# ## 1. The formula
#
# With input `x: (N, C_in, T)` (N sequences of C_in channels and T time steps), weights `W: (C_out, C_in, K)`
# (PyTorch's layout) and bias `b: (C_out,)`,
#
#     y[n, o, t] = b[o] + sum_{i, j} W[o, i, j] * x[n, i, t - (K-1-j)*d]      (x = 0 before t = 0)
#
# Each of the K weights of a kernel is a *tap*: it multiplies one input step. *Causal*: every tap reads the current
# step or an earlier one, so an output never depends on a later input; the steps before t = 0 read as zeros (the
# left *padding*). *Dilated*: the taps lie d steps apart, so K taps span (K−1)·d + 1 steps; d = 1 is the ordinary
# convolution. Tap `j` looks `lag = (K-1-j)*d` steps back. Differentiating a loss L through this sum, each product
# `W[o, i, j] * x[n, i, t - lag]` sends `dy[n, o, t] * x[n, i, t - lag]` to `dW[o, i, j]` and
# `dy[n, o, t] * W[o, i, j]` to `dx[n, i, t - lag]`:
#
#     dW[o, i, j] = sum_{n, t} dy[n, o, t] x[n, i, t - lag]      dx[n, i, u] = sum_{o, j} W[o, i, j] dy[n, o, u + lag]
#     db[o] = sum_{n, t} dy[n, o, t]
#
# The input gradient is the same convolution run anti-causally (reading forward in time), the weight gradient a
# correlation of the input with dy.

# %%
import matplotlib.pyplot as plt
import numpy as np

import pytcn
from pytcn import kernels
from pytcn.course import figure_path
from pytcn.nn.gradcheck import numerical_gradient, relative_error

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
assert np.allclose(y, y_loops, rtol=0, atol=1e-12)

# %% [markdown]
# Causality, seen directly: change the input at step 6 and no earlier output moves. Of the later ones, only
# those with a tap on step 6 do: steps 6 and 8 here (K = 3, d = 2; step 10 would be the next, past the end).

# %%
x2 = x.copy()
x2[:, :, 6] += 1.0
y2 = np.empty_like(y)
kernels.conv_forward_numpy(y2, x2, W, b, d)
changed = np.flatnonzero(np.abs(y2 - y).max(axis=(0, 1)) > 0)
print("steps whose output changed:", changed)
assert list(changed) == [6, 8]

# %% [markdown]
# The same seen as the impulse response: the output to an input that is 1 at one step t0 and 0 elsewhere, with one
# channel in and out and no bias, is the kernel itself, laid out in time after t0: tap j answers (K−1−j)·d steps
# later. Nothing answers before t0: the padding (K−1)·d zeros all go on the left, before the sequence. (A
# deep-learning "convolution" is a cross-correlation, so the taps appear in time in reverse order, W[K−1] first.)

# %%
t0, T_impulse = 5, 16
impulse = np.zeros((1, 1, T_impulse))
impulse[0, 0, t0] = 1.0
w = np.array([[[0.5, -1.0, 2.0]]])  # K = 3 taps: W[0], W[1], W[2]
response = np.empty((1, 1, T_impulse))
kernels.conv_forward_numpy(response, impulse, w, np.zeros(1), d)
print("impulse response:", response[0, 0])
assert not response[0, 0, :t0].any(), "an output before the impulse moved: not causal"
assert [response[0, 0, t0 + (2 - j) * d] for j in range(3)] == list(w[0, 0])

fig, ax = plt.subplots(figsize=(7, 2.6))
ax.stem(np.arange(T_impulse), response[0, 0], basefmt=" ")
ax.axvline(t0, color="grey", ls="--", lw=0.8)
ax.text(t0 + 0.1, 1.8, "impulse at t0", fontsize=8)
for j in range(3):
    ax.annotate(f"W[{j}]", (t0 + (2 - j) * d, w[0, 0, j]), textcoords="offset points", xytext=(4, 4), fontsize=8)
ax.set_xlabel("output step")
ax.set_ylabel("y")
ax.set_title(f"Impulse response of a causal convolution, K = 3, d = {d}: nothing before t0")
fig.tight_layout()
fig.savefig(figure_path("02_impulse_response.png"), dpi=100)

# %% [markdown]
# Turned around, the same taps say which inputs one output reads: y[t] reads x at t, t − d, …, t − (K−1)d. A TCN
# stacks such convolutions, two per residual block, and each output reads the taps of the layer below through
# every path. `pytcn.plot.dilation_diagram` (also the `pytcn draw` command) draws those paths for any
# configuration; here one residual block of this convolution (K = 3, d = 2, twice), whose last output reads every
# second input step over a span of 2 (K−1) d + 1 = 9 steps: the steps between never reach it. Tutorial 03
# stacks blocks of growing dilation, which fill those holes.

# %%
from pytcn.plot import diagram_size, dilation_diagram, reach  # noqa: E402

T_drawn, last, layers, _ = reach(3, [d])
print(f"one block, K = 3, d = {d}: the last output (step {last}) reads input steps {sorted(layers[0])}")
assert sorted(layers[0]) == list(range(last - 2 * (3 - 1) * d, last + 1, d))  # every d-th step, 2 (K-1) d back
fig, ax = plt.subplots(figsize=diagram_size(3, [d]))
drawn = dilation_diagram(dict(kernel_size=3, dilations=[d]), figure_path("02_one_block.png"), ax=ax)
assert drawn is fig  # it drew into our axes, and returns their figure

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


errors = {"dx": relative_error(dx, numerical_gradient(scalar, x)).max(),
          "dW": relative_error(dW, numerical_gradient(scalar, W)).max()}
for name, error in errors.items():
    print(f"{name}: worst relative error {error:.1e}")
    assert error < 1e-6

# %% [markdown]
# ## 4. The Numba kernel
#
# `kernels.conv_forward_numba` computes the same sum with loops over contiguous time rows, parallel over
# (sequence, block of four output channels). It must equal the twin, and so must its two backward passes.

# %%
y_fast = np.empty_like(y)
kernels.conv_forward_numba(y_fast, x, W, b, d)
dx_fast = np.empty_like(x)
kernels.conv_backward_input_numba(dx_fast, dy, W, d)
print("numba vs twin, forward:", np.abs(y_fast - y).max(), " input gradient:", np.abs(dx_fast - dx).max())
assert np.allclose(y_fast, y, rtol=1e-12, atol=1e-12) and np.allclose(dx_fast, dx, rtol=1e-12, atol=1e-12)
dW_fast = np.empty_like(W)
kernels.conv_backward_weight_numba(dW_fast, dy, x, d)
print("numba vs twin, weight gradient:", np.abs(dW_fast - dW).max())
assert np.allclose(dW_fast, dW, rtol=1e-12, atol=1e-12)

# %% [markdown]
# ## Summary
#
# - One formula, three implementations that agree: literal loops, the NumPy twin (the oracle), the Numba kernel
#   (the one that runs). The tests in `tests/` do the same comparisons on shapes that hypothesis draws, dozens per test.
# - Causal means all (K−1)·d steps of padding on the left: an input at t0 answers at t0 and after, never before.
# - The backward passes are convolutions too, checked against central differences in float64.
#
# ## References
#
# - van den Oord, A. et al. (2016). *WaveNet: A Generative Model for Raw Audio*. arXiv:1609.03499: stacked causal
#   dilated convolutions.
# - Yu, F. and Koltun, V. (2016). *Multi-Scale Context Aggregation by Dilated Convolutions*. ICLR; arXiv:1511.07122:
#   dilated convolutions.
# - Bai, S., Kolter, J. Z. and Koltun, V. (2018). *An Empirical Evaluation of Generic Convolutional and Recurrent
#   Networks for Sequence Modeling*. arXiv:1803.01271: the TCN's convolution, causal and dilated.
#
# ## Exercises
#
# 1. Pad on both sides instead, (K−1)·d // 2 before and the rest after (keras's padding="same"): which output steps
#    does the impulse at t0 now reach?
# 2. Show that `conv_backward_input` is the adjoint of the forward: <conv(x), dy> = <x, conv_backward_input(dy)>
#    for the convolution without bias.
#
# Solutions below (folded in the rendered site).

# %% tags=["hide-cell"]
# Solution 1: pytcn's Conv1D(padding="same"): the impulse now reaches steps t0 - 2 .. t0 + 2 (span (K-1)d = 4,
# half of it before t0)
layer = pytcn.Conv1D(1, 1, 3, d, padding="same", dtype=np.float64)
layer.params["weight"][...] = w
same_response, _ = layer.forward(impulse)
print("padding='same' reaches steps", np.flatnonzero(same_response[0, 0]))
assert list(np.flatnonzero(same_response[0, 0])) == [t0 - 2, t0, t0 + 2]

# Solution 2: the two inner products agree to roundoff
y0 = np.empty((N, C_out, T))
kernels.conv_forward_numpy(y0, x, W, np.zeros(C_out), d)
assert np.isclose(np.vdot(y0, dy), np.vdot(x, dx))
