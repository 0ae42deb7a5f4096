# %% [markdown]
# # Sequential Fashion-MNIST
#
# A 28 × 28 image read one pixel at a time, row after row: a sequence of 784 steps with one input channel, and one
# label, read by the head from the last step. The network sees the garment only through the pixels its receptive
# field spans, and must carry what it saw at the top rows to the end of the sequence. This tutorial trains a small
# TCN on it, draws its learning curve and its confusion matrix, and opens it up: what each residual block outputs
# along the 784 steps.
#
# The data is Fashion-MNIST (Zalando's ten garments, in the format of MNIST, 70,000 28 × 28 greyscale handwritten
# digits). pytcn finds it without internet where
# Debian's `dataset-fashion-mnist` package is installed (`apt-get install dataset-fashion-mnist`), or after
# `pytcn download fashion-mnist`; `sequential_mnist` says where it looked when it finds neither.
#
# Set `PYTCN_QUICK=1` to run it in seconds (a few hundred images; the test suite does). The full run trains on 16,000
# images for 3 epochs (an epoch is one pass over the training images), about 40 s on 2 cores.
#
# ## 1. Images as sequences

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import pytcn
from pytcn.course import QUICK, figure_path
from pytcn.tasks.mnist import sequential_mnist

CLASSES = ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")

splits = sequential_mnist("fashion-mnist", n_val=2000)  # normalised with the training pixels' mean and std
N_TRAIN, N_TEST = (512, 256) if QUICK else (16000, 2000)
EPOCHS = 1 if QUICK else 3
x_train, y_train = (a[:N_TRAIN] for a in splits["train"])  # the training split is shuffled: a random subset
x_val, y_val = (a[:500] for a in splits["val"])
x_test, y_test = (a[:N_TEST] for a in splits["test"])
print("x_train", x_train.shape, x_train.dtype, "y_train", y_train.shape, "classes", np.bincount(y_train, minlength=10))
# step t of a sequence is pixel (t // 28, t % 28): folding the sequence back gives the image
assert x_train.shape[1:] == (784, 1)

# %% [markdown]
# ## 2. The model
#
# Kernel size 7 and dilations 1 … 64 (seven blocks, one stack): R = 1 + 2 · 6 · 127 = 1525 steps, more than the
# 784 of a sequence, so the last step, where the head reads, sees every pixel. Without it the head would be blind
# to the top rows: with dilations 1 … 32, R = 757 and the first 27 pixels (all of the top row but its last pixel)
# are out of reach, which costs little here since they are mostly background. The classes come from a
# cross-entropy on the head's ten outputs.

# %%
model = pytcn.TCN(input_channels=1, outputs=10, nb_filters=16, kernel_size=7, dilations=[1, 2, 4, 8, 16, 32, 64],
                  kernel_initializer="glorot_uniform", seed=0)
model.summary()
assert model.receptive_field == 1525 >= 784
optimizer = pytcn.Adam(model.params, lr=2e-3, max_grad_norm=1.0)

# %% [markdown]
# ## 3. Training, with its learning curve
#
# Batches of 32, Adam at lr 2e-3, the gradient clipped to norm 1; every 50 training steps the accuracy on 500 validation
# images (set aside from the training images, never trained on).
# The head reads the sum of the blocks' branches (skip connections, keras-tcn's default) at the last step.

# %%
def accuracy(model, x, y, batch=250):
    predicted = np.concatenate([model.forward(x[i:i + batch]).argmax(-1) for i in range(0, len(x), batch)])
    return float((predicted == y).mean()), predicted


CURVE_EVERY = 4 if QUICK else 50
rng = np.random.default_rng(0)
curve = []  # (training step, training loss averaged since the last point, validation accuracy)
step, since, start = 0, [], time.perf_counter()
for epoch in range(EPOCHS):
    order = rng.permutation(N_TRAIN)
    for i in range(0, N_TRAIN - 31, 32):
        batch = order[i:i + 32]
        loss, dlogits = pytcn.cross_entropy(model.forward(x_train[batch], training=True), y_train[batch])
        model.backward(dlogits)
        optimizer.step(model.grads)
        step += 1
        since.append(loss)
        if step % CURVE_EVERY == 0:
            curve.append((step, np.mean(since), accuracy(model, x_val, y_val)[0]))
            since = []
            print(f"epoch {epoch + 1} training step {step:4d}: training loss {curve[-1][1]:.3f}, validation accuracy "
                  f"{curve[-1][2]:.3f}")
print(f"{step} training steps in {time.perf_counter() - start:.0f} s")
test_accuracy, predicted = accuracy(model, x_test, y_test)
print(f"test accuracy on {N_TEST} images: {test_accuracy:.3f} (guessing: 0.1)")
if not QUICK:  # what the full run reaches (a small model, a quarter of the data, 3 epochs)
    assert test_accuracy > 0.7

steps, losses, val_accuracies = zip(*curve) if curve else ((), (), ())
fig, ax = plt.subplots(figsize=(6.5, 3.2))
ax.plot(steps, val_accuracies, "o-", label="validation accuracy")
ax.plot(steps, losses, "s--", label="training loss (cross-entropy)")
ax.axhline(0.1, color="grey", ls=":", lw=1, label="guessing")
ax.set_xlabel("training step (batches of 32)")
ax.set_title("Sequential Fashion-MNIST: the learning curve")
ax.legend()
fig.tight_layout()
fig.savefig(figure_path("08_learning_curve.png"), dpi=100)

# %% [markdown]
# ## 4. Which garments it mixes up
#
# The confusion matrix counts, for every true class (a row), what the model answered (the columns); the diagonal
# is what it got right. Each row sums to the number of test images of that class.

# %%
confusion = np.zeros((10, 10), np.int64)
np.add.at(confusion, (y_test, predicted), 1)
assert (confusion.sum(1) == np.bincount(y_test, minlength=10)).all()
assert np.trace(confusion) == round(test_accuracy * N_TEST)
off = confusion - np.diag(np.diag(confusion))
pairs = sorted(((off[i, j] + off[j, i], i, j) for i in range(10) for j in range(i + 1, 10)), reverse=True)
for count, i, j in pairs[:3]:
    print(f"{CLASSES[i]} <-> {CLASSES[j]}: {count} mistakes")
UPPER_BODY = {0, 2, 4, 6}  # T-shirt/top, pullover, coat, shirt: alike in outline
if not QUICK:
    assert {pairs[0][1], pairs[0][2]} <= UPPER_BODY, pairs[0]

fig, ax = plt.subplots(figsize=(6, 5.2))
image = ax.imshow(confusion, cmap="Blues")
for i in range(10):
    for j in range(10):
        ax.text(j, i, confusion[i, j], ha="center", va="center", fontsize=7,
                color="white" if confusion[i, j] > confusion.max() / 2 else "black")
ax.set_xticks(range(10), CLASSES, rotation=60, ha="right", fontsize=8)
ax.set_yticks(range(10), CLASSES, fontsize=8)
ax.set_xlabel("predicted")
ax.set_ylabel("true")
ax.set_title(f"Confusion matrix, {N_TEST} test images (accuracy {test_accuracy:.2f})")
fig.colorbar(image, ax=ax, shrink=0.8)
fig.tight_layout()
fig.savefig(figure_path("08_confusion.png"), dpi=100)

# %% [markdown]
# The garments worn on the upper body (T-shirt/top, pullover, coat, shirt) share an outline, and most mistakes are
# among them; trousers, bags and footwear are told apart from everything else.
#
# ## 5. Inside: each block's output along the sequence
#
# `model.forward` transposes the input to the kernels' layout, (N, C, T), and runs the blocks one after another;
# here we do the same by hand and keep every block's output, (1, 16, 784) each. The heatmap shows, for one test
# image, the mean over the 16 channels of each block's output at each step: one row per block. Block b's output
# at step t depends on the pixels t − R_b + 1 … t, where R_b = 1 + 2 · 6 · (2^(b+1) − 1) grows from 13 steps (half a
# row) at block 0 to 1525 at block 6 (blocks are numbered from 0, as in `model.summary()` and the state dict).

# %%
sample = int(np.flatnonzero(y_test == 9)[0])  # an ankle boot
h = np.ascontiguousarray(x_test[sample:sample + 1].transpose(0, 2, 1))  # (1, 1, 784): N, C, T
outputs, branches = [], []
for block in model.blocks:
    (h, branch), _cache = block.forward(h)  # inference: no dropout
    outputs.append(np.asarray(h).copy())
    branches.append(np.asarray(branch).copy())
means = np.stack([o[0].mean(0) for o in outputs])  # (7 blocks, 784 steps)
# each block's row scaled to [0, 1]: the blocks' outputs differ in size, and one colour scale would hide the small
scaled = (means - means.min(1, keepdims=True)) / np.ptp(means, axis=1, keepdims=True)
pixels = x_test[sample, :, 0]
garment = np.flatnonzero(pixels > pixels.min() + 0.1)  # the steps that are not background
before, after = slice(0, garment[0]), slice(garment[-1] + 1, 784)
follows = [np.corrcoef(row, pixels)[0, 1] for row in scaled]
for block in range(7):
    print(f"block {block}: correlation with the pixels {follows[block]:.2f}; mean before the garment (steps < "
          f"{garment[0]}) {scaled[block, before].mean():.2f}, after it (steps > {garment[-1]}) "
          f"{scaled[block, after].mean():.2f}")
reaches = [1 + 2 * 6 * (2 ** (block + 1) - 1) for block in range(7)]
print("each block's reach:", reaches)
# with skip connections (keras-tcn's default) the head reads the sum of every block's branch at the last step:
# the logits again
logits = model.forward(x_test[sample:sample + 1])
head = sum(branch[0, :, -1] for branch in branches) @ model.params["linear.weight"].T + model.params["linear.bias"]
assert np.allclose(head, logits[0], rtol=1e-4, atol=1e-4)

fig = plt.figure(figsize=(11, 4.2))
grid = fig.add_gridspec(2, 2, width_ratios=(1, 5), height_ratios=(1, 1))
ax = fig.add_subplot(grid[:, 0])
ax.imshow(x_test[sample, :, 0].reshape(28, 28), cmap="gray_r")
ax.set_title(f"test image {sample}: {CLASSES[9]}", fontsize=9)
ax.axis("off")
ax = fig.add_subplot(grid[0, 1])
ax.plot(x_test[sample, :, 0], lw=0.6, color="black")
ax.set_xlim(0, 783)
ax.set_ylabel("pixel")
ax.set_title("the input sequence (28 rows of 28 pixels, one after another)", fontsize=9)
ax = fig.add_subplot(grid[1, 1])
image = ax.imshow(scaled, aspect="auto", cmap="magma", interpolation="nearest")
ax.set_yticks(range(7), [f"block {b} (R {r})" for b, r in enumerate(reaches)], fontsize=7)
ax.set_xlabel("step t")
fig.colorbar(image, ax=fig.axes[-1], label="mean over channels,\nscaled per block", pad=0.01)
fig.tight_layout()
fig.savefig(figure_path("08_block_activations.png"), dpi=100)
if not QUICK:  # what the trained model shows (in the reduced run the model has hardly trained)
    assert follows[0] > 0.8 and follows[6] < follows[0] - 0.3 and np.all(np.diff(follows) < 0.05)  # falls with depth
    assert abs(scaled[0, after].mean() - scaled[0, before].mean()) < 0.05
    assert scaled[6, after].mean() > scaled[6, before].mean() + 0.3

# %% [markdown]
# In the full run, block 0, whose reach is 13 pixels, follows the pixels (a correlation of 0.88 with them): a stripe for
# each row of the image that crosses the garment, and its background level again once the garment has passed. The
# correlation falls with depth, not steadily (0.56 to 0.60 over blocks 3 to 5), to 0.39 at block 6. The deep blocks do
# something else: after the last pixel of the garment (step 615 here) block 6 stays lit (0.73 of its range on average,
# against 0.19 before the garment), while block 0 is back at its background level. They carry what they saw forward,
# through 168 steps of background, to the last step, where the head reads.
#
# ## Summary
#
# - Sequential (Fashion-)MNIST is classification of a 784-step sequence from its last step, so the receptive field
#   must span the sequence for the head to see every pixel.
# - A small TCN (16 filters, seven blocks) trained for well under a minute on a quarter of the data gets most garments
#   right; its mistakes are among the garments that share an outline.
# - The blocks' outputs can be read one by one: the early ones are local filters of the pixels, the late ones carry
#   what the image held to the end of the sequence.
#
# ## References
#
# - Xiao, H., Rasul, K. and Vollgraf, R. (2017). *Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine
#   Learning Algorithms*. arXiv:1708.07747: the data.
# - Le, Q. V., Jaitly, N. and Hinton, G. E. (2015). *A Simple Way to Initialize Recurrent Networks of Rectified Linear
#   Units*. arXiv:1504.00941: sequential and permuted MNIST: images read one pixel per step.
# - Bai, S., Kolter, J. Z. and Koltun, V. (2018). *An Empirical Evaluation of Generic Convolutional and Recurrent
#   Networks for Sequence Modeling*. arXiv:1803.01271: sequential and permuted MNIST as benchmarks for TCNs.
# - Glorot, X. and Bengio, Y. (2010). *Understanding the difficulty of training deep feedforward neural networks*.
#   AISTATS: the glorot_uniform initialiser of the model above.
#
# ## Exercises
#
# 1. `pytcn.tasks.mnist.sequential_mnist(..., permute=True)` shuffles the pixel order (the same shuffle for every
#    image). The head still sees every pixel (R ≥ 784). What do the first blocks lose? Train the same model on the
#    permuted images for one epoch and compare with the first epoch above.
# 2. Which block's reach first covers a full row of the image (28 steps)? And two rows?
#
# Solutions below (folded in the rendered site).

# %% tags=["hide-cell"]
# Solution 1: neighbouring steps are no longer neighbouring pixels, so the short reach of the first blocks spans
# pixels from all over the image: the local filters (edges, the stripes of block 0) have nothing local to filter,
# and only blocks whose reach covers most of the sequence can bring the parts of a garment together
permuted = sequential_mnist("fashion-mnist", n_val=2000, permute=True)
assert np.allclose(np.sort(permuted["test"][0][0, :, 0]), np.sort(splits["test"][0][0, :, 0]))  # same pixels
shuffled = pytcn.TCN(**model.config)  # the same architecture and seed, freshly initialised
shuffled_optimizer = pytcn.Adam(shuffled.params, lr=2e-3, max_grad_norm=1.0)
xp, yp = (a[:N_TRAIN] for a in permuted["train"])
order = np.random.default_rng(0).permutation(N_TRAIN)
for i in range(0, N_TRAIN - 31, 32):
    batch = order[i:i + 32]
    _, dlogits = pytcn.cross_entropy(shuffled.forward(xp[batch], training=True), yp[batch])
    shuffled.backward(dlogits)
    shuffled_optimizer.step(shuffled.grads)
permuted_accuracy = accuracy(shuffled, *(a[:500] for a in permuted["val"]))[0]
first_epoch = [acc for step, _, acc in curve if step <= N_TRAIN // 32][-1]
print(f"after one epoch: validation accuracy {permuted_accuracy:.3f} permuted, {first_epoch:.3f} in pixel order")

# Solution 2: R_b = 1 + 12 (2^(b+1) - 1): 13, 37, 85, ... so block 1 (37 steps) is the first to span a row and
# block 2 (85) the first to span two (56 steps)
assert [b for b, r in enumerate(reaches) if r >= 28][0] == 1
assert [b for b, r in enumerate(reaches) if r >= 56][0] == 2
