# %% [markdown]
# # Dilation and the receptive field
#
# How far back can a TCN's last output see? This tutorial counts it from the architecture, draws the taps that
# carry it, and then measures it from a model: backpropagate one output and look at which input steps receive a
# gradient. It also shows why the figure most often quoted for it, 2^(D−1)·K·s, is off.
#
# ## 1. The formula
#
# A convolution of kernel size K and dilation d reads its input at K steps spread over (K−1)·d: it reaches (K−1)·d
# steps further back than its output step. Stacked, the reaches add. A residual block holds two such convolutions
# (and its residual and skip paths reach nothing further), and the list of dilations repeats nb_stacks times:
#
#     R = 1 + 2 · (K − 1) · nb_stacks · Σ dilations
#
# The approximation of the post and of keras-tcn's old documentation, 2^(D−1)·K·s for D levels of dilation 1, 2,
# 4, ..., 2^(D−1), counts one convolution per block and K gaps where a kernel of size K spans K − 1.

# %%
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import pytcn
from pytcn.plot import diagram_size, dilation_diagram

# PYTCN_QUICK=1, the test suite's reduced mode: fewer steps where there is training, and the figures go to a
# temporary folder instead of tutorials/figures (whose copies are those of full runs)
QUICK = os.environ.get("PYTCN_QUICK") == "1"
# this folder: __file__ as a script; as a notebook (in Jupyter, or in the site's build, which runs from the
# repository root) there is none, and the folder is found from the working directory
HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.path.abspath(
    "tutorials" if os.path.isdir("tutorials") else ".")
FIGURES = tempfile.mkdtemp() if QUICK else os.path.join(HERE, "figures")
os.makedirs(FIGURES, exist_ok=True)

print(" K  dilations             stacks  exact R   2^(D-1)*K*s")
for K, dilations, stacks in [(2, [1, 2, 4, 8], 1), (3, [1, 2, 4, 8], 1), (6, [1, 2, 4, 8, 16, 32], 1),
                             (6, [1, 2, 4, 8, 16, 32], 2), (8, [1, 2, 4, 8, 16, 32, 64, 128], 1)]:
    R = pytcn.receptive_field(K, dilations, stacks)
    approx = 2 ** (len(dilations) - 1) * K * stacks
    print(f"{K:2d}  {str(dilations):22s} {stacks:3d}  {R:8d}  {approx:10d}")
    assert R == 1 + 2 * (K - 1) * stacks * sum(dilations)

# %% [markdown]
# For K = 2 and dilations 1..8 the two agree by chance (2(K−1) = K); for any larger K the exact field is about
# 4(K−1)/K times the approximation, 3.3 times for K = 6.
#
# ## 2. The taps, drawn
#
# `pytcn.plot.dilation_diagram` (also `pytcn draw`) draws every layer's steps and, in blue, the ones through which
# the last output (red) reads the input: two rows per residual block, each convolution's taps d steps apart.

# %%
config = dict(kernel_size=3, dilations=[1, 2, 4])
fig, ax = plt.subplots(figsize=diagram_size(**config))
dilation_diagram(config, os.path.join(FIGURES, "03_dilations.png"), ax=ax)
R = pytcn.receptive_field(3, [1, 2, 4])
print(f"K = 3, dilations 1, 2, 4: R = {R} steps")

# %% [markdown]
# ## 3. Measured from a model
#
# Backpropagate the last output alone (dy = 1 there, 0 elsewhere, with return_sequences) and read the input
# gradient: the steps where it is not zero are the ones the output depends on. With random signed weights some
# ReLUs are off and may hide a path, so the weights and inputs here are positive (every unit on): the measured
# support is then the architecture's reach, not this model's.

# %%
T = R + 10
model = pytcn.TCN(input_channels=1, outputs=1, nb_filters=4, kernel_size=3, dilations=[1, 2, 4],
                  use_skip_connections=False, return_sequences=True, dtype=np.float64, seed=0)
rng = np.random.default_rng(0)
for p in model.params.values():
    p[...] = rng.uniform(0.1, 1.0, p.shape) / p.shape[-1]
x = rng.uniform(0.5, 1.0, (1, T, 1))
y = model.forward(x)
dy = np.zeros_like(y)
dy[0, -1, 0] = 1.0
gradient = np.abs(model.backward(dy)[0, :, 0])
reached = np.flatnonzero(gradient)
print(f"the last output (step {T - 1}) reads steps {reached.min()} to {reached.max()}: {reached.size} steps")
assert reached.size == R and reached.min() == T - R

fig, ax = plt.subplots(figsize=(7, 2.8))
ax.bar(np.arange(T), gradient, color=["#1f77b4" if g else "#c8c8c8" for g in gradient])
ax.axvspan(T - R - 0.5, T - 0.5, color="#ff7f0e", alpha=0.15, label=f"exact R = {R}")
approx = 2 ** 2 * 3
ax.axvspan(T - approx - 0.5, T - 0.5, ymax=0.15, color="black", alpha=0.3, label=f"2^(D-1)·K·s = {approx}")
ax.set_xlabel("input step")
ax.set_ylabel("|d out[T-1] / d x[t]|")
ax.set_title("Which input steps the last output depends on")
ax.legend(loc="upper left")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "03_gradient_support.png"), dpi=100)

# %% [markdown]
# The gradient is largest in the middle of the field, where many paths of taps meet, and smallest at its oldest
# steps, which a single path of taps reaches: the field is exact, but its far edge weighs little.
#
# ## Summary
#
# - The exact receptive field is 1 + 2(K−1)·s·Σd: two convolutions per block, K−1 gaps per kernel.
# - The often-quoted 2^(D−1)·K·s undercounts it about 4(K−1)/K times; docs/experiments.md shows that this explains
#   what the post saw on copy memory.
# - Backpropagating one output measures the field from a model; `tests/test_model.py` does it over a grid of
#   architectures, and `tests/test_draw.py` checks the drawn taps against it.
#
# ## Exercises
#
# 1. Which dilations give R = 31 with K = 2 in a single stack? Find two different lists.
# 2. With `padding="same"` the output at T // 2 reads steps on both sides. Measure it as above (dy at T // 2):
#    how wide is it, and where is it centred?
#
# Solutions below (folded in the rendered site).

# %% tags=["hide-cell"]
# Solution 1: 1 + 2 (K-1) sum(d) = 31 with K = 2 needs sum(d) = 15: [1, 2, 4, 8], or [5, 10], or [15]
for dilations in ([1, 2, 4, 8], [5, 10], [15]):
    assert pytcn.receptive_field(2, dilations) == 31

# Solution 2: the same width R, centred on the output step (for odd spans; even ones lean one step right)
same = pytcn.TCN(**(model.config | {"padding": "same"}))
same.load_state_dict(model.state_dict())
dy_mid = np.zeros_like(y)
dy_mid[0, T // 2, 0] = 1.0
same.forward(x)
support = np.flatnonzero(same.backward(dy_mid)[0, :, 0])
print(f"padding='same': the output at step {T // 2} reads steps {support.min()} to {support.max()}")
assert support.size == R
