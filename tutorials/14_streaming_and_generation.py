# %% [markdown]
# # Streaming and generation
#
# Trained on whole sequences, a TCN is often deployed on a live one: a sensor that delivers one reading at a time, a
# model that must answer after each. Running the full forward pass over the last R steps at every new step repeats
# almost all of its work. This tutorial runs the model one step at a time with ring buffers (`model.stream`,
# `model.step`), checks that it gives exactly the full pass's outputs, counts what a stream step (one call of
# `model.step`) costs against recomputing, compares the memory it keeps with a recurrent network's, and ends with a
# small autoregressive generation: a TCN that continues a signal by feeding its own predictions back in.
#
# Set `PYTCN_QUICK=1` to run it in a few seconds (a short training; the test suite does). The full run takes about
# three seconds on 2 idle cores (a 2-vCPU AMD EPYC VM).

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import pytcn
from pytcn.course import QUICK, figure_path
from pytcn.nn.streaming import stream_flops

# %% [markdown]
# ## 1. One step at a time, exactly
#
# A causal convolution's output at step t reads its input at t, t − d, …, t − (K − 1)d. So to produce step t it
# needs its current input and the last (K − 1)·d inputs before it, no more. `model.stream(N)` makes a state
# holding, for every convolution, a ring buffer of those (K − 1)·d inputs for each of N sequences, all zeros: the
# causal padding, which is exactly the start of a sequence. `model.step(x_t, state)` computes one step of every
# layer from the buffers, writes the new inputs over the oldest ones, and returns the output at t.

# %%
model = pytcn.TCN(input_channels=1, outputs=1, nb_filters=16, kernel_size=3, dilations=[1, 2, 4, 8, 16],
                  return_sequences=True, seed=0)
R = model.receptive_field
x = np.random.default_rng(0).standard_normal((2, 300, 1)).astype(np.float32)
full = model.forward(x)  # (2, 300, 1): every step at once

state = model.stream(2)
for name, buffer in state.items():
    if name not in ("step", "batch_size"):
        print(f"{name:22s} keeps {buffer.shape[1]:2d} steps of {buffer.shape[2]:2d} channels")
streamed = np.stack([model.step(x[:, t], state)[0] for t in range(x.shape[1])], axis=1)
difference = float(np.abs(streamed - full).max())
print(f"R = {R}; the largest difference between streamed and full outputs over 300 steps: {difference:.1e}")
assert difference < 1e-5  # float32: the same sums, added in another order

# %% [markdown]
# ## 2. What a stream step costs
#
# Recomputing runs the full pass over the last R steps to get one output. Streaming does one column of that work,
# each convolution once at one step. For one sequence, in floating-point operations (a multiply-add counts two):

# %%
per_step = stream_flops(model)
recompute = R * per_step  # the same column of work at each of the R steps of the window
print(f"streaming: {per_step:,} FLOPs per stream step; recomputing the last R = {R} steps: {recompute:,} FLOPs, "
      f"{R} times as many")
window, one = x[:1, -R:], model.stream(1)
timings = {}
for name, call in (("step", lambda: model.step(x[:1, -1], one)), ("recompute", lambda: model.forward(window))):
    call()  # the first call compiles
    start = time.perf_counter()
    for _ in range(200):
        call()
    timings[name] = (time.perf_counter() - start) / 200
print(f"measured here, one sequence: {1e6 * timings['step']:.0f} µs per stream step, "
      f"{1e6 * timings['recompute']:.0f} µs per recomputed window "
      f"({timings['recompute'] / timings['step']:.1f} times as long)")

# %% [markdown]
# The measured ratio is much smaller than the FLOP ratio. At one sequence and 16 channels a step does very little
# arithmetic, and its time is mostly Python calling one small kernel per layer. `benchmarks/streaming_results.md`
# has the measurements at larger sizes and batches, where the FLOPs dominate. The FLOP count is the part that does
# not depend on the machine: a step's work is that of one column, whatever R is.
#
# ## 3. The memory it keeps
#
# The ring buffers are the price. Each block keeps (K − 1)·d inputs (d its dilation) for each of its two convolutions,
# so the state grows with R. A recurrent network keeps its hidden state (and an LSTM its cell): H numbers for a GRU of H
# hidden units, 2H for an LSTM, whatever the span it has learned to remember.

# %%
def kept(m):
    return sum(a.size for name, a in m.stream(1).items() if name not in ("step", "batch_size"))


for dilations in ([1, 2, 4, 8], [1, 2, 4, 8, 16, 32], [1, 2, 4, 8, 16, 32, 64, 128]):
    tcn = pytcn.TCN(input_channels=1, outputs=1, nb_filters=16, kernel_size=3, dilations=dilations)
    # (K - 1) d inputs per convolution: the first reads the input's 1 channel, every other 16
    expected = 2 * 1 + 2 * 16 + sum(2 * 2 * d * 16 for d in dilations[1:])
    assert kept(tcn) == expected
    print(f"TCN, R = {tcn.receptive_field:4d}: keeps {kept(tcn):6,d} numbers per sequence")
gru = pytcn.GRU(input_channels=1, outputs=1, hidden_size=64)
print(f"GRU, 64 units: keeps {kept(gru)} numbers per sequence, whatever it remembers")
assert kept(gru) == 64

# %% [markdown]
# ## 4. Generation: a model that continues a signal
#
# Train a TCN to predict the next value of a signal from its past: the input is the signal up to step t, the
# target the value at t + 1, at every step (`return_sequences=True`). The signal is a sum of two sine waves, of
# periods 20 and 7, with a random phase in every training window. Then generate: warm the stream up on 64 true
# steps, and from there feed each prediction back in as the next input, for 150 steps.

# %%
def signal(start, length):
    t = np.arange(length)[None, :] + start[:, None]
    return np.sin(2 * np.pi * t / 20) + 0.5 * np.sin(2 * np.pi * t / 7)


rng = np.random.default_rng(1)
predictor = pytcn.TCN(input_channels=1, outputs=1, nb_filters=16, kernel_size=3, dilations=[1, 2, 4, 8],
                      return_sequences=True, seed=1)
optimizer = pytcn.Adam(predictor.params, lr=2e-3)
STEPS = 50 if QUICK else 1500
for _ in range(STEPS):
    waves = signal(rng.uniform(0, 140, 32), 65).astype(np.float32)[:, :, None]  # 65 steps: inputs 0..63, targets 1..64
    loss, dy = pytcn.mse(predictor.forward(waves[:, :-1], training=True), waves[:, 1:], predictor.backend)
    predictor.backward(dy)
    optimizer.step(predictor.grads)
print(f"after {STEPS} training steps: MSE of the next value {loss:.2e} (the signal's variance is 0.625)")

WARM, GENERATE = 64, 150
truth = signal(np.array([3.0]), WARM + GENERATE)[0]
state = predictor.stream(1)
for t in range(WARM):  # the true past, one step at a time
    y, state = predictor.step(truth[None, t:t + 1].astype(np.float32), state)
generated = []
for _ in range(GENERATE):  # from here on the model reads its own predictions
    generated.append(float(y[0, 0]))
    y, state = predictor.step(y, state)
generated = np.array(generated)
errors = np.abs(generated - truth[WARM:])
error, late = np.sqrt(np.mean(errors[:50] ** 2)), np.sqrt(np.mean(errors[-50:] ** 2))
print(f"generated {GENERATE} steps; RMS error over the first 50: {error:.3f}, over the last 50: {late:.3f} (the "
      f"signal's RMS is 0.79)")
if not QUICK:  # what the full run shows
    assert loss < 0.01 and error < 0.1 and 1 < late / error < 2

fig, ax = plt.subplots(figsize=(10, 3.5))
ax.plot(np.arange(WARM + GENERATE), truth, color="grey", lw=1, label="the signal")
ax.plot(np.arange(WARM, WARM + GENERATE), generated, color="C1", label="generated: each prediction fed back in")
ax.axvline(WARM - 0.5, color="C0", ls="--", lw=1, label=f"the model reads the true signal up to here ({WARM} steps)")
ax.set_xlabel("step")
ax.set_title(f"A TCN continuing a signal it was trained to predict one step ahead (R = {predictor.receptive_field})")
ax.legend(loc="lower left", fontsize=8)
fig.tight_layout()
fig.savefig(figure_path("14_generation.png"), dpi=100)
plt.show()

# %% [markdown]
# The generated curve follows the signal for all 150 steps, over twenty periods of the faster wave. Each step
# reads the model's own earlier outputs, so an error made once is read again by later steps. Here the errors grow
# slowly: the RMS error over the last 50 generated steps is about one and a half times that over the first 50.
# Generating from a TCN is exactly this loop. WaveNet, whose dilated causal convolutions the TCN takes up, generated
# audio this way, one sample at a time, with a sampling step where this model has a regression.
#
# ## Summary
#
# - `model.stream(N)` holds a ring buffer of the last (K − 1)·d inputs of every convolution; `model.step` computes
#   one step from them and gives exactly the full forward pass's output.
# - A stream step costs one column of the forward pass: R times fewer FLOPs than recomputing the receptive field. At
#   small sizes the Python between the kernels, not the FLOPs, sets its time.
# - The state grows with R, about 2(K − 1)·C·Σd numbers per sequence. A GRU of H units keeps H, an LSTM 2H.
# - Fed its own outputs, a next-step predictor generates: a few lines of `step`.
#
# ## References
#
# - van den Oord, A. et al. (2016). *WaveNet: A Generative Model for Raw Audio*. arXiv:1609.03499: autoregressive
#   generation from dilated causal convolutions, one sample at a time.
# - Paine, T. L. et al. (2016). *Fast Wavenet Generation Algorithm*. arXiv:1611.09482: caching each layer's past
#   activations in queues so that a generated step costs one column of work, the ring buffers of section 1.
# - Bai, S., Kolter, J. Z. and Koltun, V. (2018). *An Empirical Evaluation of Generic Convolutional and Recurrent
#   Networks for Sequence Modeling*. arXiv:1803.01271: memory at inference as a cost of TCNs against recurrent
#   networks (its section 3.5).
#
# ## Exercises
#
# 1. Stream a chunk instead of one step: `model.step` also takes x of shape (N, T_chunk, channels). Check that
#    three chunks of 100 steps give the outputs of section 1.
# 2. Start one of the two sequences of section 1 afresh at step 150 with `model.reset_stream(state, [1])`. Which
#    full forward pass do its outputs from then on equal?
#
# Solutions below (folded in the rendered site).

# %% tags=["hide-cell"]
# Solution 1: chunks are steps taken together; the ring buffers carry over between them
state = model.stream(2)
chunks = np.concatenate([model.step(x[:, k:k + 100], state)[0] for k in (0, 100, 200)], axis=1)
assert np.abs(chunks - full).max() < 1e-5

# Solution 2: a reset zeroes the sequence's buffers, which is the start of a sequence: from step 150 on its outputs
# are those of the full pass over x[1, 150:] alone
state = model.stream(2)
for t in range(150):
    model.step(x[:, t], state)
model.reset_stream(state, [1])
rest = np.stack([model.step(x[:, t], state)[0] for t in range(150, 300)], axis=1)
assert np.abs(rest[1] - model.forward(x[1:, 150:])[0]).max() < 1e-5
assert np.abs(rest[0] - full[0, 150:]).max() < 1e-5  # the other sequence goes on undisturbed
