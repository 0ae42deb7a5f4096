# %% [markdown]
# # Quickstart: train a TCN on the adding problem
#
# The adding problem gives a network sequences of two channels: random values, and a marker channel that is 1 at exactly
# two steps. The answer is the sum of the two marked values. A network that sees neither marker can do no better than
# always answering 1, an MSE of 1/6 (about 0.167; one that sees only one does somewhat better, exercise 1); a TCN whose
# receptive field covers the whole sequence learns to pick the two values out and drives the error towards zero.
#
# Everything below is what a user of pytcn writes: a model, a loss, Adam, and a loop of forward, backward, step.

# %%
import matplotlib.pyplot as plt
import numpy as np

import pytcn
from pytcn.course import QUICK, figure_path
from pytcn.tasks.adding import BASELINE_MSE, adding_problem

STEPS = 600  # training steps of 32 sequences
LENGTH = 100  # T, the sequence length
SEED = 0

# %% [markdown]
# ## The model
#
# The words of the call below, each defined where it first appears here and taken apart in a later tutorial:
#
# - a *causal convolution* computes each output step from the current input step and earlier ones only, never
#   later ones; with *kernel size* K it reads K input steps, and with *dilation* d those K steps lie d apart
#   (tutorial 02);
# - a *residual block* is two such convolutions, each followed by a ReLU, whose result is added to the block's own
#   input (the *residual path*; a 1x1 convolution of it where the channel counts differ) before a last ReLU; the
#   TCN stacks one block per entry of `dilations`, each with `nb_filters` channels (tutorial 04);
# - the *receptive field* R is the span of input steps the last output reaches back over (tutorial 03);
# - the *head* is a linear layer that turns the last step of the last block's output into the answer;
#   `use_skip_connections=False` feeds it that output alone (with skip connections, keras-tcn's default, it reads
#   the sum of every block's branch, tutorial 08);
# - `max_grad_norm=1.0` *clips* the gradient: when the norm of all gradients together exceeds 1, they are scaled
#   down to norm 1 before Adam's step (tutorial 06 takes Adam apart).
#
# Kernel size 4 and dilations 1, 2, 4, 8, 16 give an exact receptive field of 1 + 2 (K-1) sum(d) = 1 + 2 * 3 * 31
# = 187 steps, more than the sequence: the last output can see every input.

# %%
model = pytcn.TCN(input_channels=2, outputs=1, nb_filters=24, kernel_size=4, dilations=[1, 2, 4, 8, 16],
                  use_skip_connections=False, seed=SEED)
print(f"{model.count_params()} parameters, receptive field {model.receptive_field} steps, T = {LENGTH}")
assert model.receptive_field == 1 + 2 * (4 - 1) * sum([1, 2, 4, 8, 16]) == 187 > LENGTH
optimizer = pytcn.Adam(model.params, lr=2e-3, max_grad_norm=1.0)

rng = np.random.default_rng(SEED)
x_val, y_val = adding_problem(512, LENGTH, rng)

# %% [markdown]
# ## Training
#
# One training step: forward, the loss and its gradient with respect to the prediction, backward (which fills
# `model.grads`), and Adam (which updates `model.params` in place).

# %%
curve = []  # (training step, validation MSE)
for step in range(1, STEPS + 1):
    x, y = adding_problem(32, LENGTH, rng)
    prediction = model.forward(x, training=True)
    # the loss is computed where the model's arrays live: its backend ('cpu', the Numba kernels, by default)
    loss, dprediction = pytcn.mse(prediction, y, model.backend)
    model.backward(dprediction)
    optimizer.step(model.grads)
    if step % 50 == 0 or step == 1:
        val_loss, _ = pytcn.mse(model.forward(x_val), y_val, model.backend)
        curve.append((step, val_loss))
        print(f"training step {step:4d}  train MSE {loss:.4f}  validation MSE {val_loss:.4f}  "
              f"(baseline {BASELINE_MSE:.3f})")

# %% [markdown]
# The first errors are far above the baseline, not below it: the untrained network answers with whatever its random
# weights make of the input (keras-tcn's he_normal initialiser, weights drawn from a normal distribution, truncated at
# two standard deviations, with a variance of 2 / fan_in, whose residual blocks add up to outputs of size several;
# tutorial 15 compares it with others), so its first squared errors are large. Adam's first steps bring the answer to
# the scale of the sums, near the baseline, and the network then learns to read the two marked values.

# %%
assert curve[0][1] > 5 * BASELINE_MSE  # the first printed error (after one training step), far above the baseline

# %%
print(f"after {STEPS} training steps: validation MSE {val_loss:.4f}, {BASELINE_MSE / val_loss:.0f}x better than always "
      f"answering 1 (MSE {BASELINE_MSE:.3f})")
assert val_loss < BASELINE_MSE / 4, "the network should have learned to add"

fig, ax = plt.subplots(figsize=(6.5, 3.2))
ax.plot(*zip(*curve), "o-", label="validation MSE")
ax.axhline(BASELINE_MSE, color="grey", ls="--", lw=0.8, label="always answering 1")
ax.set_yscale("log")
ax.set_xlabel("training step (batches of 32)")
ax.set_ylabel("MSE")
ax.set_title(f"The adding problem, T = {LENGTH}")
ax.legend()
fig.tight_layout()
fig.savefig(figure_path("01_adding_curve.png"), dpi=100)

# %% [markdown]
# ## Summary
#
# A few hundred steps of hand-written forward and backward passes take the validation MSE well below the 0.167 of
# always answering 1. `pytcn train adding` adds epochs, checkpoints and learning curves.
#
# ## References
#
# - Bai, S., Kolter, J. Z. and Koltun, V. (2018). *An Empirical Evaluation of Generic Convolutional and Recurrent
#   Networks for Sequence Modeling*. arXiv:1803.01271: the TCN, and the adding problem as a benchmark.
# - Hochreiter, S. and Schmidhuber, J. (1997). *Long Short-Term Memory*. Neural Computation 9(8), 1735-1780: the
#   adding problem, first posed there.
# - Kingma, D. P. and Ba, J. (2015). *Adam: A Method for Stochastic Optimization*. ICLR; arXiv:1412.6980: the
#   optimiser (tutorial 06).
# - He, K., Zhang, X., Ren, S. and Sun, J. (2015). *Delving Deep into Rectifiers*. ICCV; arXiv:1502.01852: the
#   he_normal initialiser.
# - Pascanu, R., Mikolov, T. and Bengio, Y. (2013). *On the difficulty of training recurrent neural networks*. ICML;
#   arXiv:1211.5063: clipping the gradient's norm (`max_grad_norm`).
# - keras-tcn, https://github.com/philipperemy/keras-tcn: the argument names pytcn's TCN shares.
#
# ## Exercises
#
# 1. Use dilations 1, 2, 4 instead: what is the receptive field, how much of a T = 100 sequence does the last output
#    see, and what is the best MSE a network that sees only that much can reach? Train it as above and compare.
# 2. Train with `return_sequences=True` and read only the last step's output as the answer: what changes in the
#    loss, and what must the target be?
#
# Solutions below (folded in the rendered site).

# %% tags=["hide-cell"]
# Solution 1: R = 1 + 2 * 3 * (1 + 2 + 4) = 43 < 100: the last output sees steps 57 to 99 only. The two markers
# fall anywhere (two distinct steps, uniformly), so each is out of sight with probability 57/100. That does not stop
# the network from beating the baseline: the best it can do is add the marked values it sees and guess the mean, 0.5,
# for each marker it does not see, a squared error of 1/12 (a uniform value's variance) per unseen marker. The best
# MSE such a field allows is E[unseen markers] / 12 = 2 * 0.57 / 12 = 0.095, against 0.167 for always answering 1.
small = pytcn.TCN(input_channels=2, outputs=1, nb_filters=24, kernel_size=4, dilations=[1, 2, 4], seed=SEED)
R_small = small.receptive_field
assert R_small == 43 < LENGTH
best = 2 * (LENGTH - R_small) / LENGTH / 12
# the same bound from data: that best guess, made from the last 43 steps of 20,000 sequences
xs, ys = adding_problem(20_000, LENGTH, np.random.default_rng(SEED + 1))
seen = xs[:, LENGTH - R_small:]
guess = (seen[..., 0] * seen[..., 1]).sum(axis=1) + 0.5 * (2 - seen[..., 1].sum(axis=1))
print(f"the best MSE with R = {R_small}: {best:.4f} by the formula, {np.mean((guess - ys[:, 0]) ** 2):.4f} from data")
assert abs(np.mean((guess - ys[:, 0]) ** 2) - best) < 0.005
# trained as above (a few training steps in the test suite's reduced mode)
small_optimizer = pytcn.Adam(small.params, lr=2e-3, max_grad_norm=1.0)
for _ in range(50 if QUICK else STEPS):
    x, y = adding_problem(32, LENGTH, rng)
    _, dprediction = pytcn.mse(small.forward(x, training=True), y, small.backend)
    small.backward(dprediction)
    small_optimizer.step(small.grads)
small_loss, _ = pytcn.mse(small.forward(x_val), y_val, small.backend)
print(f"R = {R_small} after {50 if QUICK else STEPS} training steps: MSE {small_loss:.4f} on the validation set "
      f"(the best such a field allows {best:.3f}, the baseline {BASELINE_MSE:.3f})")
if not QUICK:
    assert 0.8 * best < small_loss < BASELINE_MSE  # below the baseline, and not below what it can see

# Solution 2: the head runs at every step, the prediction is (N, T, 1); the loss must then be taken on the last
# step only (pred[:, -1]), with the gradient zero elsewhere: exactly what return_sequences=False does for you
seq = pytcn.TCN(input_channels=2, outputs=1, nb_filters=8, kernel_size=4, dilations=[1, 2, 4, 8, 16],
                use_skip_connections=False, return_sequences=True, seed=SEED)
x, y = adding_problem(4, LENGTH, rng)
pred = seq.forward(x)
loss, dlast = pytcn.mse(pred[:, -1], y)
dpred = np.zeros_like(pred)
dpred[:, -1] = dlast
seq.backward(dpred)
print("return_sequences: prediction", pred.shape, "loss on the last step", round(loss, 3))
