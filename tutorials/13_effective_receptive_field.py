# %% [markdown]
# # The effective receptive field
#
# The receptive field R says which input steps an output *can* depend on. How much it depends on each is another matter.
# Luo et al. (2016) measured, in image networks, the gradient of one output with respect to every input pixel, and found
# it concentrated in a small bump in the middle of the theoretical field: an *effective* receptive field, much smaller
# than the theoretical one, which grows during training. This tutorial measures the same for a TCN on copy memory. It
# takes tutorial 07's architecture (R = 61) at its limit, T = R − 11 = 50 (T is copy memory's gap, as in tutorial 07 and
# the TCN paper: a sequence has T + 20 time steps), where every recall reads the oldest step of the field, and shows why
# that is the gap that starts learning last.
#
# Set `PYTCN_QUICK=1` to run it in a few seconds (60 training steps instead of 1,500; the test suite does). The
# full run takes about ten seconds on 2 idle cores (9 s on a 2-vCPU AMD EPYC VM).

# %%
import matplotlib.pyplot as plt
import numpy as np

import pytcn
from pytcn.course import QUICK, figure_path
from pytcn.tasks.copy_memory import baseline_loss, copy_memory

ARCH = dict(input_channels=1, outputs=10, nb_filters=20, kernel_size=3, dilations=[1, 2, 4, 8],
            return_sequences=True, kernel_initializer="glorot_uniform")  # tutorial 07's model
R = pytcn.TCN(**ARCH).receptive_field
STEPS = 60 if QUICK else 1500
assert R == 61

# %% [markdown]
# ## 1. Measuring it
#
# For an output y_t and each distance k = 0 … R − 1, the effective field is the mean over inputs of
# |∂⟨y_t, dy_t⟩ / ∂x_{t−k}|, with dy_t a random direction over the output's ten classes. One backward pass gives it for
# every k at once (tutorial 03 does the same with a single one). Here y_t is the first recall, at step T + 10: the
# output that must read the first symbol, shown at step 0, k = T + 10 steps back.

# %%
def effective_field(model, T, n=64):
    """The mean |gradient| of the first recall's output over the input steps k = 0 ... R - 1 back from it (R the
    model's receptive field; 0 where the step would be before the sequence), over n copy-memory sequences of gap T
    (T + 20 time steps each)."""
    x, _ = copy_memory(n, T, np.random.default_rng(1))
    out = model.forward(x)
    dy = np.zeros_like(out)
    step = T + 10
    dy[:, step, :] = np.random.default_rng(2).standard_normal((n, out.shape[-1]))
    size = np.abs(model.backward(dy)[:, :, 0]).mean(axis=0)
    span = model.receptive_field
    field = np.zeros(span)
    k = min(span - 1, step)
    field[:k + 1] = size[step - k:step + 1][::-1]
    return field


T = 50
untrained = effective_field(pytcn.TCN(**ARCH, seed=0), T)
newest = untrained[:R // 4].sum() / untrained.sum()
oldest = untrained[R - 1] / untrained.mean()
print(f"untrained, T = {T}: the newest quarter of the field ({R // 4} steps) holds {newest:.0%} of the gradient; "
      f"at the oldest step (k = {R - 1}, the first symbol) it is {oldest:.2f} of its mean over the field")
assert newest > 0.75 and oldest < 0.2

# %% [markdown]
# Before training, the recall output hardly feels its oldest steps. Most of the gradient sits on the newest quarter of
# the field, and at the first symbol's step it is a small fraction of its average. Luo et al. found an effective field
# smaller than the theoretical one in image networks too, though as a bump in its middle, where the most paths of taps
# meet (tutorial 12 counts them). Here the newest steps are favoured by the residual paths, which skip the convolutions,
# and by the delimiters, the only non-zero inputs near the recall. The rest is particular to this task and to how the
# model starts. The blanks between the symbols and the delimiters are zeros, and the biases start at zero. So every unit
# whose taps read only blanks has a pre-activation of exactly 0, and a ReLU passes no gradient at 0. Over most of the
# gap the gradient is not small but exactly zero:

# %%
dead = np.flatnonzero(untrained == 0)
print(f"untrained: the gradient is exactly 0 at k = {dead.min()} ... {dead.max()} ({dead.size} of the {R} steps)")
assert dead.size == dead.max() - dead.min() + 1 > R // 2  # one stretch, over most of the blanks

# %% [markdown]
# ## 2. Training moves it
#
# Train the model at T = 50 as tutorial 07 does (Adam, lr 1e-3, clipped at 1, batches of 32) and measure again.
# Then compare how fast three gaps start to learn: T = 10, 30 and 50, whose recalls reach back 20, 40 and 60
# steps. "Starting" means the training loss, averaged over 50 training steps, falling below half the memoryless loss
# 10 ln 8 / (T + 20) of tutorial 07.

# %%
def train(T, steps):
    model = pytcn.TCN(**ARCH, seed=0)
    optimizer = pytcn.Adam(model.params, lr=1e-3, max_grad_norm=1.0)
    rng = np.random.default_rng(T)
    losses = []
    for _ in range(steps):
        x, y = copy_memory(32, T, rng)
        loss, dlogits = pytcn.cross_entropy(model.forward(x, training=True), y, model.backend)
        model.backward(dlogits)
        optimizer.step(model.grads)
        losses.append(loss / baseline_loss(T))
    return model, np.convolve(losses, np.ones(50) / 50, mode="valid") if steps >= 50 else np.array(losses)


curves, started = {}, {}
for gap in (10, 30, 50):
    model, curves[gap] = train(gap, STEPS)
    below = np.flatnonzero(curves[gap] < 0.5)
    started[gap] = int(below[0]) + 50 if below.size else None
    print(f"T = {gap}: recall {gap + 10} steps back; the loss fell below half the memoryless loss at "
          f"training step {started[gap]}")
    if gap == T:
        trained = effective_field(model, T)

share_oldest = trained[R - 11:].sum() / trained.sum()
print(f"trained, T = {T}: at the first symbol's step the gradient is {trained[R - 1] / trained.mean():.1f} times its "
      f"mean; the oldest 11 steps hold {share_oldest:.0%} of it (before training: "
      f"{untrained[R - 11:].sum() / untrained.sum():.0%})")
if not QUICK:  # what the full run shows
    assert trained[R - 1] / trained.mean() > 5 and share_oldest > 0.25 and np.all(trained > 0)
    assert started[10] < started[30] < started[50] and started[50] > 2 * started[30]

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
left.plot(np.arange(R), untrained / untrained.sum(), label="untrained")
left.plot(np.arange(R), trained / trained.sum(), label=f"after {STEPS:,} training steps at T = {T}")
left.axvspan(R - 10.5, R - 0.5, color="C2", alpha=0.15, label="where the ten symbols are")
left.set_yscale("log")
left.set_xlabel("steps back from the first recall, k")
left.set_ylabel("share of the gradient")
left.set_title(f"The first recall's effective field (R = {R})")
left.legend(fontsize=8)
for gap, curve in curves.items():
    right.plot(np.arange(len(curve)) + (50 if STEPS >= 50 else 0), curve, label=f"T = {gap} ({gap + 10} back)")
right.axhline(0.5, color="grey", ls=":", lw=1, label="half the memoryless loss")
right.set_yscale("log")
right.set_xlabel("training step")
right.set_ylabel("training loss / memoryless loss (mean of 50)")
right.set_title("The farther the recall, the later it starts")
right.legend(fontsize=8)
fig.tight_layout()
fig.savefig(figure_path("13_effective_field.png"), dpi=100)
plt.show()

# %% [markdown]
# After training, the biases are no longer zero and the gradient reaches every step of the field; over a third of it
# sits where the symbols are. The ten oldest steps of the field, which held almost nothing of it before, now hold a
# large share, and the first symbol's step gets several times the average. Training widened the effective field exactly
# as far as the task needed.
#
# The start is where the first picture pays off. At T = 50 the symbols sit at the edge of the field, where the untrained
# gradient is weakest, and the loss takes over twice as many training steps to fall to half the memoryless loss as
# at T = 30. This is the slow start of the T = 50 curve in tutorial 07's right panel. A model whose R barely covers the
# dependency it must learn can learn it, but slowly; a margin in R, which puts the symbols where the untrained gradient
# is larger, should make the start faster (exercise 1 measures that gradient). (In the reduced mode, 60 training steps,
# no gap has started yet: `None` above.)
#
# ## Summary
#
# - The effective receptive field is the gradient of one output over the input steps. Untrained, it is packed into
#   the newest part of R: the field's oldest steps are reached by few paths, and on copy memory the zero blanks
#   and zero biases leave ReLUs at 0 that pass no gradient at all.
# - Training moves it where the task needs it: on copy memory, to the steps where the symbols are.
# - A dependency at the edge of R is learned last. At T = R − 11 copy memory's loss starts to fall more than twice
#   as late as at T = R − 31.
#
# ## References
#
# - Luo, W., Li, Y., Urtasun, R. and Zemel, R. (2016). *Understanding the Effective Receptive Field in Deep
#   Convolutional Neural Networks*. NeurIPS: the effective field as the gradient over the input, smaller than the
#   theoretical one and growing in training.
# - Bai, S., Kolter, J. Z. and Koltun, V. (2018). *An Empirical Evaluation of Generic Convolutional and Recurrent
#   Networks for Sequence Modeling*. arXiv:1803.01271: the architecture and copy memory as a benchmark.
# - Arjovsky, M., Shah, A. and Bengio, Y. (2016). *Unitary Evolution Recurrent Neural Networks*. ICML: the copy
#   memory task in the form used here.
#
# ## Exercises
#
# 1. Measure the untrained effective field of the model with dilations [1, 2, 4, 16] (R = 93) at T = 50: how much
#    of the gradient reaches the first symbol's step now that it is no longer at the edge?
# 2. Why is the gradient exactly zero for k > T + 10 when T is short (T = 30, say)?
#
# Solutions below (folded in the rendered site).

# %% tags=["hide-cell"]
# Solution 1: with R = 93 the first symbol (60 back) is no longer at the edge of the field; its share of the mean
# gradient grows several times over
wider = effective_field(pytcn.TCN(**dict(ARCH, dilations=[1, 2, 4, 16]), seed=0), 50)
print(f"R = 93: the gradient at the first symbol (k = 60) is {wider[60] / wider.mean():.2f} of its mean, against "
      f"{untrained[60] / untrained.mean():.2f} with R = 61")
assert wider[60] / wider.mean() > 3 * untrained[60] / untrained.mean()

# Solution 2: step T + 10 - k is before the start of the sequence for k > T + 10: there is no input there (the
# causal padding is a constant 0, which no gradient reaches), so effective_field leaves those distances at 0
short = effective_field(pytcn.TCN(**ARCH, seed=0), 30)
assert np.all(short[41:] == 0) and short[40] > 0
