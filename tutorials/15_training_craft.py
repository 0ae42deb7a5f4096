# %% [markdown]
# # Training craft
#
# The tutorials so far pass options that they never explain: the initialiser, `max_grad_norm`, the dropout rate and
# kind, the normalisations, the warm-up mask. This tutorial takes them one at a time, each with a measurement: the
# loss before the first training step, what clipping does to a run that would not learn without it, spatial against
# element-wise dropout, the three normalisations and the one that is not causal in training, the first check of
# any new model (can it learn one batch by heart?), and the outputs that a sequence-to-sequence loss should leave
# out.
#
# Set `PYTCN_QUICK=1` to run it in a few seconds (short trainings; the test suite does). The full run takes about
# ten seconds on 2 idle cores (8 s on a 2-vCPU AMD EPYC VM).

# %%
import matplotlib.pyplot as plt
import numpy as np

import pytcn
from pytcn.course import QUICK, figure_path
from pytcn.nn.optim import global_grad_norm
from pytcn.tasks.adding import BASELINE_MSE, adding_problem

# %% [markdown]
# ## 1. The loss before the first training step
#
# Tutorial 01's first validation error is far above the baseline of always answering 1 (MSE 1/6), and then falls.
# The untrained network answers with whatever its random weights make of the input. How large that answer is
# depends on the initialiser. He's normal initialiser (keras-tcn's default, and 01's) keeps the variance of a
# ReLU layer's output equal to its input's. In a residual block the branch's output is then *added* to the input,
# so the variance grows from block to block. Glorot's uniform initialiser and PyTorch's default draw smaller
# weights.

# %%
LENGTH = 100  # tutorial 01's model and sequence length
ARCH = dict(input_channels=2, outputs=1, nb_filters=24, kernel_size=4, dilations=[1, 2, 4, 8, 16],
            use_skip_connections=False)
x_val, y_val = adding_problem(512, LENGTH, np.random.default_rng(5))
initial = {}
for init in ("he_normal", "glorot_uniform", "torch_default"):
    model = pytcn.TCN(**ARCH, kernel_initializer=init, seed=0)
    prediction = model.forward(x_val)
    initial[init] = pytcn.mse(prediction, y_val, model.backend)[0] / BASELINE_MSE
    print(f"{init:15s}: the untrained outputs' standard deviation {prediction.std():.3f}, their MSE "
          f"{initial[init]:.1f} times the baseline's")
assert initial["he_normal"] > 5 * max(initial["glorot_uniform"], initial["torch_default"])

# %% [markdown]
# Tutorial 01 prints its first validation error after its first training step, not before. Its own model, seed and
# data: the untrained MSE, then the MSE after that one step, each against the baseline.

# %%
model = pytcn.TCN(**ARCH, seed=0)  # 01's: he_normal, SEED = 0
optimizer = pytcn.Adam(model.params, lr=2e-3, max_grad_norm=1.0)
rng = np.random.default_rng(0)
x_val01, y_val01 = adding_problem(512, LENGTH, rng)  # drawn first from 01's generator, as 01 draws them
untrained = pytcn.mse(model.forward(x_val01), y_val01, model.backend)[0] / BASELINE_MSE
x, y = adding_problem(32, LENGTH, rng)  # 01's first batch
loss, dprediction = pytcn.mse(model.forward(x, training=True), y, model.backend)
model.backward(dprediction)
optimizer.step(model.grads)
after_one = pytcn.mse(model.forward(x_val01), y_val01, model.backend)[0] / BASELINE_MSE
print(f"tutorial 01's model: untrained MSE {untrained:.0f} times the baseline, after one training step "
      f"{after_one:.1f} times (01's first printed line)")
assert untrained > 100 and 5 < after_one < 30

# %% [markdown]
# So 01 starts at about 12 times the baseline because its first line comes after one step of Adam, which has
# already taken the loss down from some 180 times. Adam's first step moves every parameter by about lr against
# the sign of its gradient, whatever the gradient's size (tutorial 06), and all of them at once pull the too-large
# outputs towards the targets.
#
# A large first loss is not a failure: Adam's first steps bring the output to the scale of the targets (tutorial
# 06), and 01 then learns. It is why a learning curve that starts far above the baseline should not alarm you. A
# first loss far from what the initialiser predicts, on the other hand, is worth a look.
#
# ## 2. Gradient clipping
#
# The same untrained network's first gradients are huge, hundreds of times their later size, because its outputs
# are far off. With `max_grad_norm=1.0` the whole gradient, all parameters together, is scaled down to norm 1
# whenever it is larger (as `torch.nn.utils.clip_grad_norm_` does) before Adam sees it. Adam divides each step by
# the running root mean square of the gradient, √v (Adam's v of tutorial 06, the running mean of dθ²; section 4's
# v is weight normalisation's, another). An enormous first gradient inflates v, and it decays only
# with β2 = 0.999, over thousands of steps. Until then every step is small. The adding problem at T = 200, trained
# with and without clipping:

# %%
TRAIN = 60 if QUICK else 400
runs = {}
for clip in (None, 1.0):
    model = pytcn.TCN(**ARCH, seed=0)
    optimizer = pytcn.Adam(model.params, lr=2e-3, max_grad_norm=clip)
    rng = np.random.default_rng(0)
    norms = []
    for _ in range(TRAIN):
        x, y = adding_problem(32, 200, rng)
        loss, dprediction = pytcn.mse(model.forward(x, training=True), y, model.backend)
        model.backward(dprediction)
        norms.append(global_grad_norm(model.grads))
        optimizer.step(model.grads)
    x_test, y_test = adding_problem(512, 200, np.random.default_rng(6))
    runs[clip] = (pytcn.mse(model.forward(x_test), y_test, model.backend)[0], np.array(norms))
    print(f"clip {clip}: first gradient norms {', '.join(f'{n:.0f}' for n in norms[:3])}, median "
          f"{np.median(norms):.1f}; test MSE after {TRAIN} training steps {runs[clip][0]:.3f} "
          f"(baseline {BASELINE_MSE:.3f})")
assert runs[None][1][0] > 100 * np.median(runs[None][1])
first, typical = runs[None][1][0], np.median(runs[None][1])
print(f"unclipped, after {TRAIN} training steps the first gradient alone still puts about "
      f"{first / np.sqrt(TRAIN):.0f} into Adam's sqrt(v_hat) (first / sqrt(steps)), against a typical gradient of "
      f"{typical:.1f}")
assert first / np.sqrt(TRAIN) > 5 * typical  # "still many times the gradients of the moment"
if not QUICK:  # what the full run shows
    assert runs[1.0][0] < 0.9 * BASELINE_MSE and runs[None][0] > BASELINE_MSE

# %% [markdown]
# Without clipping the run is still above the baseline after 400 steps; with it, it is 20% below. The printout gives the
# reason in numbers: v̂ = v/(1 − β2^t) with v = (1 − β2)·Σ_i β2^(t−i) dθ_i² (dθ_i the gradient at training step i), so
# for t ≪ 1,000 the first gradient contributes about dθ_1²/t to v̂, and its root is still many times the gradients of
# the moment. The TCN paper's adding run at T = 600 showed the same on a larger scale (`benchmarks/paper_results.md`,
# "Measured on the way").
#
# ## 3. Dropout: whole channels or single entries
#
# Dropout zeroes a random share of the activations in training and scales the rest by 1/(1 − rate), so that the
# expected activation is unchanged and inference needs no scaling. Element-wise dropout (`dropout_type=
# "elementwise"`, locuslab/TCN's) draws every entry on its own. Spatial dropout (keras-tcn's `SpatialDropout1D`,
# pytcn's default) drops a channel of a sequence at every step at once. In a convolution neighbouring steps are
# strongly correlated, so a single zeroed entry is easily filled in from its neighbours, and only whole channels
# take information away.

# %%
h = np.ones((2, 6, 40))  # 2 sequences, 6 channels, 40 steps
rng = np.random.default_rng(0)
for layer in (pytcn.SpatialDropout1D(0.5), pytcn.Dropout(0.5)):
    y, _ = layer.forward(h, training=True, rng=rng)
    dropped = y == 0
    whole = np.all(dropped == dropped[:, :, :1], axis=2)  # channels dropped at every step, or at none
    print(f"{type(layer).__name__:16s}: {dropped.mean():.0%} of the entries zeroed; channels dropped whole or not "
          f"at all: {whole.mean():.0%}; the others scaled to {y[~dropped].max():.1f}")
    assert np.all(y[~dropped] == 2.0)
    if isinstance(layer, pytcn.SpatialDropout1D):
        assert whole.all()

# %% [markdown]
# ## 4. Three normalisations, and the one that looks ahead
#
# - **Weight normalisation** (`use_weight_norm`, the TCN paper's): each convolution's weight is g · v/‖v‖, a length g
#   and a direction v (not Adam's v) trained separately. It involves no data, so it is the same in training and at
#   inference.
# - **Layer normalisation** (`use_layer_norm`): each step of each sequence normalised over its channels. It is
#   computed within one step, so it is causal.
# - **Batch normalisation** (`use_batch_norm`): each channel normalised over the batch *and all the steps* in
#   training, with running averages used at inference. The mean over the steps includes the future.
#
# Change a sequence's input at its last step, and look at the output at its first step, in training mode:

# %%
probe = np.random.default_rng(0).standard_normal((4, 30, 1))
changed = probe.copy()
changed[:, -1] += 5.0
leaks = {}
for option in ("use_weight_norm", "use_layer_norm", "use_batch_norm"):
    model = pytcn.TCN(input_channels=1, outputs=1, nb_filters=8, kernel_size=3, dilations=[1, 2],
                      return_sequences=True, dtype=np.float64, seed=0, **{option: True})
    first = [model.forward(inp, training=True)[:, 0] for inp in (probe, changed)]
    leaks[option] = float(np.abs(first[0] - first[1]).max())
    inference = [model.forward(inp)[:, 0] for inp in (probe, changed)]
    print(f"{option:16s}: the output at step 0 moved by {leaks[option]:.3g} in training, "
          f"{np.abs(inference[0] - inference[1]).max():.3g} at inference")
    assert np.array_equal(inference[0], inference[1])  # causal at inference, all three
assert leaks["use_weight_norm"] == leaks["use_layer_norm"] == 0.0 < leaks["use_batch_norm"]

# %% [markdown]
# With batch normalisation, the output at step 0 moved when only step 29 changed. In training, a batch-normalised TCN
# sees a little of the future through the batch statistics; at inference, with running averages, it does not. A task
# that could exploit the leak (predicting the next step from statistics that include it) could then train well and
# disappoint at inference: a risk this section shows the mechanism of, not one it measures. Prefer weight or layer
# normalisation for a causal model.
#
# ## 5. Learn one batch by heart first
#
# Before a long run on a new model, loss or data pipeline, train it on a single batch, again and again. A network
# of thousands of parameters should drive the loss on 32 examples to nearly zero. If it cannot, something is broken
# (a sign in the loss, a wrong shape, targets that do not match their inputs), and the full run would only hide it.

# %%
model = pytcn.TCN(**ARCH, seed=0)
optimizer = pytcn.Adam(model.params, lr=2e-3, max_grad_norm=1.0)
xb, yb = adding_problem(32, 50, np.random.default_rng(9))
memorised = []
for _ in range(60 if QUICK else 300):
    loss, dprediction = pytcn.mse(model.forward(xb, training=True), yb, model.backend)
    model.backward(dprediction)
    optimizer.step(model.grads)
    memorised.append(loss)
print(f"one batch, {len(memorised)} training steps: MSE {memorised[0]:.3g} -> {memorised[-1]:.2e}")
if not QUICK:
    assert memorised[-1] < 1e-6

# %% [markdown]
# ## 6. The warm-up mask
#
# With `return_sequences=True` the loss is taken at every step. But the output at step t < R − 1 reads zeros (the
# causal padding) in place of the steps before the sequence began: it sees fewer than R real steps. On a task whose
# answer needs the full field, those early outputs cannot be right, and their errors fill the loss with something
# the model cannot learn. `pytcn.losses.warmup_mask(T, R)` is False at those steps, and a loss given it as `mask`
# leaves them out. Below, the per-step error of a next-value predictor (tutorial 14's signal, a sum of two sine
# waves, here with a noise that makes each window's start unknown) trained with the mask:

# %%
def signal(start, length, rng):
    t = np.arange(length)[None, :] + start[:, None]
    return np.sin(2 * np.pi * t / 20) + 0.5 * np.sin(2 * np.pi * t / 7) + 0.3 * rng.standard_normal(t.shape)


predictor = pytcn.TCN(input_channels=1, outputs=1, nb_filters=16, kernel_size=3, dilations=[1, 2, 4, 8],
                      return_sequences=True, seed=1)
R = predictor.receptive_field
mask = pytcn.losses.warmup_mask(100, R)
optimizer = pytcn.Adam(predictor.params, lr=2e-3)
rng = np.random.default_rng(2)
for _ in range(50 if QUICK else 800):
    waves = signal(rng.uniform(0, 140, 32), 101, rng).astype(np.float32)[:, :, None]
    loss, dy = pytcn.mse(predictor.forward(waves[:, :-1], training=True), waves[:, 1:], predictor.backend, mask=mask)
    predictor.backward(dy)
    optimizer.step(predictor.grads)
waves = signal(rng.uniform(0, 140, 512), 101, rng).astype(np.float32)[:, :, None]
per_step = ((predictor.forward(waves[:, :-1]) - waves[:, 1:]) ** 2).mean(axis=(0, 2))
early, late = per_step[:R - 1].mean(), per_step[R - 1:].mean()
print(f"R = {R}: mean squared error at steps 0..{R - 2} {early:.3f}, at steps {R - 1}..99 {late:.3f}")
if not QUICK:
    assert early > 1.2 * late and per_step[:10].mean() > 3 * late and per_step[30:R - 1].mean() < 1.3 * late

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
for clip, (_, norms) in runs.items():
    left.plot(norms, label=f"max_grad_norm={clip}")
left.set_yscale("log")
left.set_xlabel("training step")
left.set_ylabel("gradient norm (before clipping)")
left.set_title("Adding problem, T = 200: the first gradients")
left.legend()
right.plot(per_step, color="C2")
right.axvspan(-0.5, R - 1.5, color="grey", alpha=0.2, label=f"masked out: steps before R - 1 = {R - 1}")
right.set_xlabel("output step")
right.set_ylabel("mean squared error")
right.set_title("Per-step error of a model trained with the warm-up mask")
right.legend()
fig.tight_layout()
fig.savefig(figure_path("15_training_craft.png"), dpi=100)
plt.show()

# %% [markdown]
# The outputs that read padding are worse than the others, but not all of them: the error is high over the first
# steps (about 20 here, the longer wave's period: a model that has seen less than one period cannot place it) and
# ordinary from step 30 on. The mask leaves out all R − 1 = 60 steps that read some padding, because a model of this R
# *could* need them all; on this signal the first 30 would have been enough. It is conservative: it leaves out
# every output that might be wrong for want of data, at the cost of some that are not.
#
# ## 7. The last epoch, or the best one
#
# A run ends on its last epoch's weights, but nothing makes them its best. With Adam at a constant learning rate the
# validation loss still jumps from one epoch to the next late in a run. The records of the paper's adding runs
# (`benchmarks/paper_runs/`, T = 600, 70K parameters, Adam at 2e-3, 1,000 validation and 1,000 test sequences) show
# it: below, each run's validation MSE over its last epochs, and its test MSE with the last epoch's weights.

# %%
import json  # noqa: E402 (this section's only)
import os  # noqa: E402

from pytcn.course import repository_path  # noqa: E402
from pytcn.training.loop import best_epoch  # noqa: E402

records = {}
for name in ("adding-tcn", "adding-tcn-seed1", "adding-tcn-seed2", "adding-tcn-seed3", "adding-tcn-20epochs-best",
             "adding-tcn-seed1-20epochs-best", "adding-tcn-seed2-20epochs-best", "adding-tcn-seed3-20epochs-best"):
    path = repository_path("benchmarks", "paper_runs", name + ".json")
    if os.path.exists(path):  # (a run still training when this was written has no record yet)
        with open(path) as f:
            records[name] = json.load(f)
for name, record in records.items():
    val = [h["val_loss"] for h in record["history"]]
    best = best_epoch(record["history"])
    print(f"{name:32s} last 5 epochs' validation MSE {' '.join(f'{v:.1e}' for v in val[-5:])}; best epoch {best} "
          f"({val[best - 1]:.1e}), last {len(val)}: test MSE {record['test_loss']:.2e}")
    if "best_epoch" in record:  # a run of --keep-best records the best epoch it kept
        assert record["best_epoch"] == best
spread = [max(h["val_loss"] for h in r["history"][-5:]) / min(h["val_loss"] for h in r["history"][-5:])
          for r in records.values()]
print(f"over the last five epochs the validation MSE moved by a factor {min(spread):.1f} to {max(spread):.1f}")
for name, record in records.items():
    if record.get("best_epoch", len(record["history"])) != len(record["history"]):  # --keep-best kept an earlier one
        print(f"{name}: test MSE {record['test_loss']:.2e} with the last epoch's weights, "
              f"{record['best_test_loss']:.2e} with those of epoch {record['best_epoch']}, the best on the validation "
              f"split")
assert min(spread) > 1.5

# %% [markdown]
# Stopping one epoch earlier or later would often have changed the result by a factor of two or more. Two remedies:
# lower the learning rate late in the run (a schedule: the estimators of tutorial 16 halve it on a plateau), or keep
# the weights of the epoch that did best on the validation split. `pytcn train ... --keep-best` does the second: after
# every epoch whose validation loss is the lowest so far it writes the weights to `best.npz` in the run's folder (a
# saved model: `pytcn.load_model`), the run's summary tests them beside the last epoch's, and
# `pytcn evaluate RUN --best` computes that again. The choice is made on the validation split and never on the test
# split: choosing the epoch by its test loss would make the test number a best case, no longer an estimate. In the
# runs above the best epoch was the last in some and not in others: seed 2's run of 20 epochs ended on a validation MSE
# of 5.3e-4 and a test MSE of 5.35e-4, and its best epoch, the 18th, tests at 4.3e-5 (its record's `best_test_loss`),
# a twelfth of that.
#
# ## Summary
#
# - The first loss depends on the initialiser: he_normal's residual sums start large, Glorot's and PyTorch's draws
#   small. Adam brings either to scale within steps.
# - Clipping the gradient's norm keeps the first, huge gradients from inflating Adam's running mean square. Here it
#   made the difference between learning and not.
# - Spatial dropout removes whole channels of a sequence, element-wise dropout single entries. Both scale the rest
#   by 1/(1 − rate).
# - Weight and layer normalisation are causal. Batch normalisation in training mixes statistics over all steps,
#   the future included.
# - Learn one batch by heart before a long run, and leave the warm-up time steps out of a sequence loss.
# - The last epoch is not always the best one: over the last five epochs of the adding runs (Adam at a constant
#   learning rate) the validation loss moved by a factor of 3 to 18. Keep the best validation epoch's weights
#   (`--keep-best`), chosen on the validation split, never the test split.
#
# ## References
#
# - He, K., Zhang, X., Ren, S. and Sun, J. (2015). *Delving Deep into Rectifiers*. ICCV: the he_normal initialiser.
# - Glorot, X. and Bengio, Y. (2010). *Understanding the Difficulty of Training Deep Feedforward Neural Networks*.
#   AISTATS: the glorot_uniform initialiser.
# - Pascanu, R., Mikolov, T. and Bengio, Y. (2013). *On the Difficulty of Training Recurrent Neural Networks*. ICML:
#   clipping the gradient's norm.
# - Srivastava, N. et al. (2014). *Dropout: A Simple Way to Prevent Neural Networks from Overfitting*. JMLR: dropout.
# - Tompson, J. et al. (2015). *Efficient Object Localization Using Convolutional Networks*. CVPR: spatial dropout,
#   whole feature maps at once.
# - Salimans, T. and Kingma, D. P. (2016). *Weight Normalization*. NeurIPS: weight normalisation.
# - Ba, J. L., Kiros, J. R. and Hinton, G. E. (2016). *Layer Normalization*. arXiv:1607.06450: layer normalisation.
# - Ioffe, S. and Szegedy, C. (2015). *Batch Normalization*. ICML: batch normalisation and its running averages.
# - Karpathy, A. (2019). *A Recipe for Training Neural Networks*, http://karpathy.github.io/2019/04/25/recipe/:
#   overfitting a single batch as the first check.
#
# ## Exercises
#
# 1. Train section 2's unclipped run again with lr = 2e-4. Does a smaller learning rate do what clipping did?
# 2. Why does spatial dropout leave the mean of each channel of a sequence either 0 or twice its value (rate 0.5),
#    while element-wise dropout leaves it close to its value?
#
# Solutions below (folded in the rendered site).

# %% tags=["hide-cell"]
# Solution 1: a smaller rate makes every step smaller still; it does not undo the inflated running mean square,
# which is what held the unclipped run back. After the same number of steps it is no better
model = pytcn.TCN(**ARCH, seed=0)
optimizer = pytcn.Adam(model.params, lr=2e-4)
rng = np.random.default_rng(0)
for _ in range(TRAIN):
    x, y = adding_problem(32, 200, rng)
    loss, dprediction = pytcn.mse(model.forward(x, training=True), y, model.backend)
    model.backward(dprediction)
    optimizer.step(model.grads)
slow = pytcn.mse(model.forward(x_test), y_test, model.backend)[0]
print(f"no clipping, lr 2e-4: test MSE {slow:.3f} after {TRAIN} steps (clipped at lr 2e-3: {runs[1.0][0]:.3f})")
if not QUICK:
    assert slow > runs[1.0][0]

# Solution 2: spatial dropout multiplies a whole channel by one number, 0 or 1 / (1 - 0.5) = 2; element-wise
# dropout averages 40 independent 0-or-2 factors over the steps
h = np.ones((200, 6, 40))
spatial = pytcn.SpatialDropout1D(0.5).forward(h, training=True, rng=np.random.default_rng(1))[0].mean(axis=2)
elementwise = pytcn.Dropout(0.5).forward(h, training=True, rng=np.random.default_rng(1))[0].mean(axis=2)
assert set(np.unique(spatial)) == {0.0, 2.0} and np.abs(elementwise - 1).mean() < 0.2
