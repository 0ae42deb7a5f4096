# %% [markdown]
# # Build it yourself
#
# The other tutorials take pytcn's code apart; this one hands you the pieces to write. `tutorials/build/exercises.py`
# holds seven pieces to write (eight stub functions: dropout's forward and backward are one piece), each a docstring and
# `raise NotImplementedError`: the causal dilated convolution's forward and its two backward passes, the residual
# block's backward, weight normalisation's backward, Adam, and spatial dropout. You replace each stub with your code and
# run the file; a checker built on `pytcn.testing` (the kit pytcn tests its own kernels with) and `pytcn.gradcheck` says
# which pieces pass, and for those that do not, the case where they failed, the first numbers that differ, and a hint.
# `tutorials/build/solutions.py` has one way to write each piece, and the test suite checks it with the same checks.
#
#     python tutorials/build/exercises.py                  # every piece, in order
#     python tutorials/build/exercises.py adam_step        # one piece
#
# A good order: the three convolutions after tutorial 02 (which explains the convolution), the block's backward
# after 04 (which derives it), Adam after 06, and weight normalisation and dropout last. This tutorial shows the
# loop: a stub, a first attempt with a classic bug, the checker's message, the fix.
#
# It runs in about ten seconds (the checks draw small problems); `PYTCN_QUICK=1`, the test suite's reduced mode,
# changes nothing here.

# %%
import inspect
import types

import matplotlib.pyplot as plt
import numpy as np

from pytcn import exercises, gradcheck
from pytcn.course import figure_path, repository_path

STUBS = repository_path("tutorials", "build", "exercises.py")
SOLUTIONS = repository_path("tutorials", "build", "solutions.py")

stubs = exercises.load(STUBS)
for piece in exercises.PIECES:  # each piece, the functions you write for it, and what they take and return
    for name in exercises.FUNCTIONS.get(piece, (piece,)):
        print(f"{piece:21s} {name}{inspect.signature(getattr(stubs, name))}")
assert len(exercises.PIECES) == 7 and sum(len(exercises.FUNCTIONS.get(p, (p,))) for p in exercises.PIECES) == 8

# %% [markdown]
# ## 1. A stub, checked
#
# Checked as it comes, every piece is "not written"; the block's backward waits for the three convolutions it
# calls, so that a wrong convolution is reported as itself and not as a wrong block.

# %%
results = exercises.check(STUBS)
for result in results:
    print(result)
statuses = {r.piece: r.status for r in results}
assert statuses.pop("block_backward") == "waiting" and set(statuses.values()) == {"not written"}

# %% [markdown]
# ## 2. A first attempt, and the checker's answer
#
# The convolution straight from its formula, y[n, o, t] = b[o] + Σ_i Σ_j W[o, i, j] · x[n, i, t − (K−1−j)·d],
# with five loops. It looks right, and on most steps it is. The checker draws problems with hypothesis (sizes,
# dilations, float32 and float64, random values), compares each with pytcn's NumPy reference, and when one fails,
# shrinks it to the smallest problem that still fails before reporting it.

# %%
def conv_loops(x, W, b, d):
    N, C_in, T = x.shape
    C_out, _, K = W.shape
    y = np.zeros((N, C_out, T), x.dtype)
    for n in range(N):
        for o in range(C_out):
            for t in range(T):
                total = b[o]
                for i in range(C_in):
                    for j in range(K):
                        total += W[o, i, j] * x[n, i, t - (K - 1 - j) * d]
                y[n, o, t] = total
    return y


first = exercises.check(types.SimpleNamespace(conv_forward=conv_loops), ["conv_forward"])[0]
print(first)
assert first.status == "failed" and "T=1 K=2" in str(first)  # hypothesis shrinks to the smallest failing case

# %% [markdown]
# The smallest failing problem has T = 1 and K = 2: one step, two taps. Tap 0 should read step 0 − 1 = −1, before
# the sequence starts, where the causal padding is zero. But `x[n, i, -1]` is NumPy's *last* step, so the loop
# reads the end of the sequence: the future. Nothing crashes, and on long sequences only the first (K−1)·d steps
# are wrong, which is why a check on one hand-picked example can miss it. The fix is the padding the formula
# assumes: skip the taps that reach before step 0.

# %%
def conv_loops_fixed(x, W, b, d):
    N, C_in, T = x.shape
    C_out, _, K = W.shape
    y = np.zeros((N, C_out, T), x.dtype)
    for n in range(N):
        for o in range(C_out):
            for t in range(T):
                total = b[o]
                for i in range(C_in):
                    for j in range(K):
                        t_in = t - (K - 1 - j) * d
                        if t_in >= 0:  # before step 0 the input is 0: nothing to add
                            total += W[o, i, j] * x[n, i, t_in]
                y[n, o, t] = total
    return y


fixed = exercises.check(types.SimpleNamespace(conv_forward=conv_loops_fixed), ["conv_forward"])[0]
print(fixed)
assert fixed.status == "passed"

# %% [markdown]
# ## 3. What the checker drew
#
# Why trust a pass? Because of what the problems cover. Below, every problem the convolution's check gave to
# `conv_loops_fixed`: its length T against its receptive field R = (K−1)·d + 1. Above the diagonal, R > T: the
# oldest tap reads nothing but padding, the case the bug above got wrong. The drawn sizes are small on purpose
# (a bug shows on small problems as well as on large ones, and small ones are fast and readable), and they reach
# both sides of the diagonal, both dtypes, one channel and several.

# %%
drawn = []


def conv_recorded(x, W, b, d):
    drawn.append((x.shape[2], (W.shape[2] - 1) * d + 1, x.dtype == np.float32))
    return conv_loops_fixed(x, W, b, d)


assert exercises.check(types.SimpleNamespace(conv_forward=conv_recorded), ["conv_forward"])[0].status == "passed"
cases = np.array(sorted(set(drawn)), dtype=float)  # distinct (T, R, float32?) problems
above = int(np.sum(cases[:, 1] > cases[:, 0]))
print(f"{len(cases)} distinct (T, R, dtype) problems; R > T in {above}, R <= T in {len(cases) - above}; "
      f"float32 in {int(cases[:, 2].sum())}")
assert 0 < above < len(cases) and 0 < cases[:, 2].sum() < len(cases)

fig, ax = plt.subplots(figsize=(5.5, 4))
for is32, marker, label in ((0, "o", "float64"), (1, "x", "float32")):
    chosen = cases[cases[:, 2] == is32]
    ax.scatter(chosen[:, 0], chosen[:, 1], marker=marker, label=label, alpha=0.7)
top = cases[:, :2].max() + 2
ax.plot([0, top], [0, top], color="grey", lw=0.8, ls="--")
ax.text(2, top * 0.9, "R > T: the oldest tap reads only padding", fontsize=8)
ax.set_xlabel("sequence length T")
ax.set_ylabel("receptive field R = (K-1)d + 1")
ax.set_title("The problems the convolution's check drew")
ax.legend(loc="lower right")
fig.tight_layout()
fig.savefig(figure_path("11_drawn_problems.png"), dpi=100)
plt.show()

# %% [markdown]
# ## 4. The other pieces, and the solutions
#
# The backward passes are checked two ways. The convolution's two backwards against the reference on drawn
# problems, and as adjoints: ⟨conv(x), dy⟩ = ⟨x, backward(dy)⟩ for every x and dy, which holds only for the exact
# transpose. The block's backward, weight normalisation's and dropout's against central finite differences of the
# forward, in float64, to a relative error below 1e-6 (tutorial 04 explains the check). Adam against pytcn's own
# update, step by step for 20 steps. The solutions pass them all:

# %%
for result in exercises.check(SOLUTIONS):
    print(result)
    assert result.status == "passed"

# %% [markdown]
# ## Summary
#
# - `tutorials/build/exercises.py` has a stub for each piece of a TCN; `python tutorials/build/exercises.py` checks
#   your versions and says, for each failure, the smallest problem it found, the first numbers that differ, and
#   where to look.
# - The checks are pytcn's own: hypothesis-drawn problems against the NumPy reference, adjoint identities, and
#   finite differences in float64.
# - The classic bug of a hand-written causal convolution, a negative index that wraps around to the end of the
#   sequence, passes a glance and fails the checker on a one-step problem.
#
# ## References
#
# - Stanford CS231n, *Convolutional Neural Networks for Visual Recognition*, its assignments and notes
#   (https://cs231n.github.io/): the model of this track, layers written as forward/backward pairs by the student
#   into stubs and checked against numerical gradients.
# - Karpathy, A. (2016). *Yes you should understand backprop*, https://karpathy.medium.com/yes-you-should-understand-backprop-e2f06eab496b:
#   the case for writing the backward passes yourself.
# - MacIver, D. R., Hatfield-Dodds, Z. et al. (2019). *Hypothesis: A new approach to property-based testing*. Journal
#   of Open Source Software 4(43), 1891: the library that draws and shrinks the problems.
#
# ## Exercises
#
# 1. Write `conv_backward_input` with loops, the way `conv_loops_fixed` is written, and check it with
#    `exercises.check(types.SimpleNamespace(conv_backward_input=...), ["conv_backward_input"])`. (Each x[n, i, t_in]
#    was read by the outputs at t_in + (K−1−j)·d.)
# 2. Plant a bug in the solutions' block backward: pass `dy` instead of `dz` to the residual path. Which of the
#    gradient check's arrays shows it, and why only that one?
#
# Solutions below (folded in the rendered site).

# %% tags=["hide-cell"]
# Solution 1: the forward's loops, with the roles of x and y exchanged
def conv_backward_input_loops(dy, W, d):
    N, C_out, T = dy.shape
    _, C_in, K = W.shape
    dx = np.zeros((N, C_in, T), dy.dtype)
    for n in range(N):
        for i in range(C_in):
            for t_in in range(T):
                for o in range(C_out):
                    for j in range(K):
                        t = t_in + (K - 1 - j) * d
                        if t < T:  # x[n, i, t_in] was read by y[n, o, t]
                            dx[n, i, t_in] += W[o, i, j] * dy[n, o, t]
    return dx


solved = exercises.check(types.SimpleNamespace(conv_backward_input=conv_backward_input_loops),
                         ["conv_backward_input"])[0]
print(solved)
assert solved.status == "passed"

# Solution 2: only the input's gradient is wrong. dy and dz differ where z <= 0 (the last ReLU was off); the
# parameters' gradients all come through dz * (z2 > 0) and are unchanged, and the residual path (x itself, without
# a downsample) adds its share to dx alone
solutions = exercises.load(SOLUTIONS)
rng = np.random.default_rng(0)
params = {"conv1.weight": rng.standard_normal((3, 3, 2)), "conv1.bias": rng.standard_normal(3),
          "conv2.weight": rng.standard_normal((3, 3, 2)), "conv2.bias": rng.standard_normal(3)}


class Block:
    """What pytcn.gradcheck checks: params, forward(x) -> (y, cache) and backward(dy, cache) -> (dx, grads)."""

    def __init__(self, params, backward):
        self.params, self.backward = params, backward

    def forward(self, x):
        return exercises.block_forward(x, self.params, 1)


def block_backward_planted(dy, cache):
    dx, grads = solutions.block_backward(dy, cache)
    dz = dy * (cache["z"] > 0)
    return dx - dz + dy, grads  # the residual's share taken from dy, not dz


check = gradcheck(Block(params, block_backward_planted), rng.standard_normal((2, 3, 8)))
print(check)
assert check.errors["input"] > 1e-3 and max(error for name, error in check.errors.items() if name != "input") < 1e-6
