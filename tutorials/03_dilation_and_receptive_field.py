# %% [markdown]
# # Dilation and the receptive field
#
# How far back can a TCN's last output see? This tutorial counts it from the architecture, draws the taps that
# carry it, and then measures it from a model: backpropagate one output and look at which input steps receive a
# gradient. It also shows why the figure most often quoted for it, 2^(D−1)·K·s (D levels of dilation, s stacks;
# section 1 defines both), is off.
#
# ## 1. The formula
#
# A convolution of kernel size K and dilation d reads its input at K steps spread over (K−1)·d: it reaches (K−1)·d
# steps further back than its output step. Stacked, the reaches add. A residual block holds two such convolutions
# (and its residual and skip paths reach nothing further), and the list of dilations repeats nb_stacks times:
#
#     R = 1 + 2 · (K − 1) · nb_stacks · Σ dilations
#
# R is a span: the oldest input step the output can read is R − 1 steps back. Whether it reads every step in
# between is another question, taken up in section 2.
#
# The approximation of the post pytcn grew from (Luke Guerdan's *Diving Into Temporal Convolutional Networks*, whose
# study tutorial 10 reads again) and of keras-tcn's old documentation, 2^(D−1)·K·s for D levels of dilation 1, 2,
# 4, ..., 2^(D−1) and s stacks, misses three factors. Write the exact field for those dilations: Σd = 2^D − 1, so
# R − 1 = 2 · (K − 1) · s · (2^D − 1) ≈ 2 · 2 · (K − 1) · s · 2^(D−1). Against 2^(D−1)·K·s, the approximation
# counts one convolution per block where there are two (a factor 2), the largest dilation 2^(D−1) where the sum
# 2^D − 1 ≈ 2 · 2^(D−1) belongs (another 2), and K gaps where a kernel of size K spans K − 1 (a factor (K−1)/K). So
# the exact field is about 4(K−1)/K times the approximation. The table computes both, and the ratio beside it.

# %%
import matplotlib.pyplot as plt
import numpy as np

import pytcn
from pytcn.course import figure_path
from pytcn.plot import diagram_size, dilation_diagram

print(" K  dilations                       stacks  exact R  2^(D-1)*K*s  ratio  4(K-1)/K")
ratios = {}
for K, dilations, stacks in [(2, [1, 2, 4, 8], 1), (3, [1, 2, 4, 8], 1), (6, [1, 2, 4, 8, 16, 32], 1),
                             (6, [1, 2, 4, 8, 16, 32], 2), (8, [1, 2, 4, 8, 16, 32, 64, 128], 1)]:
    R = pytcn.receptive_field(K, dilations, stacks)
    approx = 2 ** (len(dilations) - 1) * K * stacks
    ratios[K] = R / approx
    print(f"{K:2d}  {str(dilations):31s} {stacks:3d}  {R:7d}  {approx:11d}  {R / approx:5.2f}  {4 * (K - 1) / K:8.2f}")
    assert R == 1 + 2 * (K - 1) * stacks * sum(dilations)
    # the three factors: exact up to the 1 of R and the 1 of 2^D - 1, which weigh less as D grows
    assert abs(R / approx - 4 * (K - 1) / K) <= 4 * (K - 1) / K / 2 ** len(dilations) + 1 / approx

# %% [markdown]
# The approximation never agrees with the exact field: for K = 2 it is short by a factor of about 2 (31 against
# 16), for K = 6 by about 3.3, and the ratio climbs towards 4 as K grows, as the three factors say.

# %%
print(f"R / approximation: K = 2 {ratios[2]:.2f}, K = 6 {ratios[6]:.2f}, K = 8 {ratios[8]:.2f}")
assert 1.9 < ratios[2] < 2.0 and 3.2 < ratios[6] < 3.4 and ratios[2] < ratios[3] < ratios[6] < ratios[8] < 4

# %% [markdown]
#
# ## 2. The taps, drawn
#
# `pytcn.plot.dilation_diagram` (also `pytcn draw`) draws every layer's steps and, in blue, the ones through which
# the last output (red) reads the input: two rows per residual block, each convolution's taps d steps apart.

# %%
config = dict(kernel_size=3, dilations=[1, 2, 4])
fig, ax = plt.subplots(figsize=diagram_size(**config))
dilation_diagram(config, figure_path("03_dilations.png"), ax=ax)
R = pytcn.receptive_field(3, [1, 2, 4])
print(f"K = 3, dilations 1, 2, 4: R = {R} steps")

# %% [markdown]
# Here the output reads every one of its R input steps. That is not the rule: R is a span, and a dilation that
# starts where no smaller one has filled in skips steps. `pytcn.plot.reach` lists the steps each layer feeds to the
# output (`layers[0]`, the input's); count them against R:

# %%
from pytcn.plot import reach  # noqa: E402

for K_, dilations in [(3, [1, 2, 4]), (3, [2]), (2, [1, 2, 4, 8]), (2, [5, 10]), (2, [15])]:
    span = pytcn.receptive_field(K_, dilations)
    read = len(reach(K_, dilations)[2][0])
    print(f"K = {K_}, dilations {str(dilations):13s}: a span of R = {span:2d} steps, {read:2d} of them read")
    assert read <= span and (read == span) == (dilations[0] == 1)  # in these five: every step where d starts at 1
assert len(reach(3, [2])[2][0]) == 5 and len(reach(2, [5, 10])[2][0]) == 7 and len(reach(2, [15])[2][0]) == 3

# %% [markdown]
# ## 3. Measured from a model
#
# Backpropagate the last output alone (dy = 1 there, 0 elsewhere, with return_sequences=True: the head outputs every
# step, not only the last) and read the input gradient: the steps where it is not zero (its support) are the ones the
# output depends on. A ReLU, max(z, 0), is off where its input z is negative: its output and its gradient are 0 there,
# so with random signed weights some ReLUs are off and may hide a path. The weights and inputs here are positive (every
# unit on): the measured support is then the architecture's reach, not this model's.

# %%
T = R + 10
model = pytcn.TCN(input_channels=1, outputs=1, nb_filters=4, kernel_size=3, dilations=[1, 2, 4],
                  use_skip_connections=False, return_sequences=True, dtype=np.float64, seed=0)
rng = np.random.default_rng(0)
for p in model.params.values():
    p[...] = rng.uniform(0.1, 1.0, p.shape) / p.shape[-1]
x = rng.uniform(0.5, 1.0, (1, T, 1))  # a model takes (N, T, C), time before channels; its kernels (N, C, T)
y = model.forward(x)
dy = np.zeros_like(y)
dy[0, -1, 0] = 1.0
gradient = np.abs(model.backward(dy)[0, :, 0])
reached = np.flatnonzero(gradient)
print(f"the last output (step {T - 1}) reads steps {reached.min()} to {reached.max()}: {reached.size} steps")
assert reached.size == R and reached.min() == T - R
field = gradient[T - R:]  # oldest step first
print(f"largest {np.argmax(field)} steps into the field; at its oldest step {field[0] / field.max():.3f} of that")
assert np.argmin(field) == 0 and R // 4 < np.argmax(field) < 3 * R // 4  # what the text below says

fig, ax = plt.subplots(figsize=(7, 2.8))
ax.bar(np.arange(T), gradient, color=["#1f77b4" if value else "#c8c8c8" for value in gradient])
ax.axvspan(T - R - 0.5, T - 0.5, color="#ff7f0e", alpha=0.15, label=f"exact R = {R}")
approx = 2 ** 2 * 3
ax.axvspan(T - approx - 0.5, T - 0.5, ymax=0.15, color="black", alpha=0.3, label=f"2^(D-1)·K·s = {approx}")
ax.set_xlabel("input step")
ax.set_ylabel("|d out[T-1] / d x[t]|")
ax.set_title("Which input steps the last output depends on")
ax.legend(loc="upper left")
fig.tight_layout()
fig.savefig(figure_path("03_gradient_support.png"), dpi=100)

# %% [markdown]
# The gradient is largest in the middle of the field, where many paths of taps meet, and smallest at its oldest
# steps, which a single path of taps reaches: the field is exact, but its far edge weighs little.
#
# ## Summary
#
# - The exact receptive field is 1 + 2(K−1)·s·Σd: two convolutions per block, K−1 gaps per kernel.
# - It is a span: the output reads every step of it only where the dilations leave no holes (1, 2, 4 with K = 3
#   does; 5, 10 with K = 2 reads 7 of its 31 steps).
# - The often-quoted 2^(D−1)·K·s undercounts it about 4(K−1)/K times (one convolution per block instead of two,
#   the largest dilation instead of the sum, K gaps instead of K − 1); docs/experiments.md shows that this explains
#   what the post saw on copy memory.
# - Backpropagating one output measures the field from a model; `tests/test_model.py` does it over a grid of
#   architectures, and `tests/test_draw.py` checks the drawn taps against it.
#
# ## References
#
# - Guerdan, L. (2019). *Diving Into Temporal Convolutional Networks*, https://lukeguerdan.com/blog/2019/intro-to-tcns/:
#   the approximation 2^(D−1)·K·s that section 1 takes apart.
# - Bai, S., Kolter, J. Z. and Koltun, V. (2018). *An Empirical Evaluation of Generic Convolutional and Recurrent
#   Networks for Sequence Modeling*. arXiv:1803.01271: the receptive field of a TCN, and the need for it to cover the
#   history a task depends on.
# - van den Oord, A. et al. (2016). *WaveNet: A Generative Model for Raw Audio*. arXiv:1609.03499: dilations doubling
#   per layer, a field that grows exponentially with depth.
# - Luo, W., Li, Y., Urtasun, R. and Zemel, R. (2016). *Understanding the Effective Receptive Field in Deep
#   Convolutional Neural Networks*. NeurIPS; arXiv:1701.04128: why the gradient concentrates in the middle of the
#   field (section 3).
# - keras-tcn, https://github.com/philipperemy/keras-tcn: the approximation 2^(D−1)·K·s, in its earlier documentation.
#
# ## Exercises
#
# 1. Which dilations give R = 31 with K = 2 in a single stack? Find two different lists, and count with
#    `pytcn.plot.reach` how many of the 31 steps each one's output reads.
# 2. With `padding="same"` the output at T // 2 reads steps on both sides. Measure it as above (dy at T // 2):
#    how wide is it, and where is it centred?
#
# Solutions below (folded in the rendered site).

# %% tags=["hide-cell"]
# Solution 1: 1 + 2 (K-1) sum(d) = 31 with K = 2 needs sum(d) = 15: [1, 2, 4, 8], or [5, 10], or [15], or any
# other list that sums to 15. They span the same 31 steps but do not read the same ones: [1, 2, 4, 8] reads all
# 31, [5, 10] only 7 (every fifth step) and [15] only 3 (steps 0, 15 and 30 back). The same span, not the same field.
for dilations, read in (([1, 2, 4, 8], 31), ([5, 10], 7), ([15], 3)):
    assert pytcn.receptive_field(2, dilations) == 31
    assert len(reach(2, dilations)[2][0]) == read

# Solution 2: the same width R, centred on the output step (for odd spans; even ones lean one step right)
same = pytcn.TCN(**(model.config | {"padding": "same"}))
same.load_state_dict(model.state_dict())  # state_dict: the parameters by name, as PyTorch's
dy_mid = np.zeros_like(y)
dy_mid[0, T // 2, 0] = 1.0
same.forward(x)
support = np.flatnonzero(same.backward(dy_mid)[0, :, 0])
print(f"padding='same': the output at step {T // 2} reads steps {support.min()} to {support.max()}")
assert support.size == R
