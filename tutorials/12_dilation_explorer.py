# %% [markdown]
# # The dilation explorer: holes, and the rule that avoids them
#
# Tutorial 03 defined the receptive field R = 1 + 2(K − 1)·s·Σd as a span: the oldest input step the last output
# can reach is R − 1 steps back. Whether it reads every step inside that span depends on the dilations. A
# badly chosen list leaves holes: steps that no path of taps reaches, to which the model is blind however it is
# trained. This tutorial finds them, derives the rule that avoids them, finds the widest fields the rule allows, and
# ends with an explorer that draws any kernel size, dilations and stacks in the page (no server needed).
#
# Notation as in tutorial 03: K the kernel size, d a block's dilation, s the number of stacks, D the number of
# blocks per stack; each block has two convolutions of the same K and d.
#
# It runs in a few seconds; `PYTCN_QUICK=1`, the test suite's reduced mode, changes nothing here.

# %%
import itertools

import matplotlib.pyplot as plt
import numpy as np

import pytcn
from pytcn.course import figure_path, repository_path
from pytcn.plot import dilation_diagram, dilation_rule, holes

for K, dilations in ((2, [1, 2, 4, 8]), (2, [5, 10]), (2, [2, 4]), (3, [1, 2, 4]), (2, [1, 4, 2])):
    R = pytcn.receptive_field(K, dilations)
    missing = holes(K, dilations)
    print(f"K = {K}, dilations {str(dilations):13s}: R = {R:2d}, reads {R - len(missing):2d} of its {R} steps; "
          f"holes {len(missing):2d}{' at ' + str(missing[:6])[1:-1] + ', ...' if missing else ''}")
assert holes(2, [1, 2, 4, 8]) == [] and len(holes(2, [5, 10])) == 31 - 7 and len(holes(2, [2, 4])) == 6

# %% [markdown]
# [1, 2, 4, 8] reads all of its 31 steps. [5, 10] spans the same 31 but reads 7 of them, and [2, 4] reads only the
# even ones. [1, 4, 2] has no holes although 4 comes before 2: the order of the blocks does not matter, as the
# next section shows.
#
# ## 1. Where holes come from
#
# One convolution of kernel size K and dilation d reads its input at the offsets 0, d, …, (K − 1)d back. Two in a
# row, as in a block, read 0, d, 2d, …, 2(K − 1)d: every multiple of d up to 2(K − 1)d. Blocks stacked add their
# offsets: the last output reads offset o exactly when o is a sum of one offset from each block. The order of the
# blocks does not change the sums.
#
# Sort the dilations: d_1 ≤ d_2 ≤ … . Suppose the first k − 1 blocks read every offset from 0 to
# M = 2(K − 1)(d_1 + … + d_{k−1}). Adding block k, with offsets 0, d_k, 2d_k, …, gives copies of the range [0, M]
# shifted by multiples of d_k, and the copies touch or overlap exactly when d_k ≤ M + 1. If d_k > M + 1, offset
# M + 1 can be reached by no block: the smaller blocks reach at most M, and any block from k on adds at least
# d_k > M + 1. So:
#
#     no holes  ⇔  sorted, d_1 = 1 and each d_k ≤ 1 + 2(K − 1)·(d_1 + … + d_{k−1})
#
# With s stacks the list is repeated s times before sorting. With K = 1 every convolution reads only the current
# step, so there are no holes whatever the dilations. `pytcn.plot.dilation_rule` applies the rule, and
# `pytcn.plot.holes` finds the holes by following the taps. Do the two agree on every list of one to three
# dilations from 1 to 12, for K = 2, 3 and 4 and one or two stacks?

# %%
checked = broken = 0
for K, stacks, n in itertools.product((2, 3, 4), (1, 2), (1, 2, 3)):
    for dilations in itertools.product(range(1, 13), repeat=n):
        rule = dilation_rule(K, dilations, stacks)
        assert (rule is None) == (holes(K, dilations, stacks) == []), (K, dilations, stacks)
        checked += 1
        broken += rule is not None
print(f"{checked:,} lists checked: the rule and the holes agree on all of them ({broken:,} with holes)")
assert checked == 3 * 2 * (12 + 12 ** 2 + 12 ** 3)
print("dilation_rule(2, [5, 10]) =", dilation_rule(2, [5, 10]), " (5 breaks it: at most 1 is allowed first)")

# %% [markdown]
# ## 2. The widest fields without holes
#
# Doubling, as the paper, keras-tcn and pytcn's defaults do, obeys the rule with room to spare: for K = 2, after
# 1, 2, 4 the rule allows up to 1 + 2·7 = 15, not just 8. Taking each dilation as large as the rule allows gives
# d_k = (2K − 1)^(k−1), that is 1, 3, 9, 27 for K = 2 and 1, 5, 25 for K = 3. The field becomes R = (2K − 1)^D,
# against 1 + 2(K − 1)(2^D − 1) for doubling: 81 steps instead of 31 for four blocks with K = 2, from the same
# parameters.

# %%
for K in (2, 3):
    widest = [(2 * K - 1) ** k for k in range(4)]
    doubling = [2 ** k for k in range(4)]
    for name, dilations in (("doubling", doubling), ("widest", widest)):
        R = pytcn.receptive_field(K, dilations)
        print(f"K = {K}, {name:8s} {str(dilations):16s}: R = {R:3d}, holes {len(holes(K, dilations))}")
    assert holes(K, widest) == [] and pytcn.receptive_field(K, widest) == (2 * K - 1) ** 4
    assert dilation_rule(K, widest[:-1] + [widest[-1] + 1]) is not None  # one more, and a hole opens

# %% [markdown]
# A wider field is not always a better one. Every step is read, but through fewer paths of taps. The number of paths
# reaching offset o is the coefficient of z^o in the product, over the convolutions, of (1 + z^d + … + z^((K−1)d)). A
# step reached along few paths tends to get a weak gradient (the effective receptive field of tutorials 00 and 13; Luo
# et al. 2016), though the residual paths, not counted here, add their own.

# %%
def paths(K, dilations):
    """The number of paths of taps from the last output to each offset back (index 0: the output's own step)."""
    counts = np.ones(1, dtype=np.int64)
    for d in dilations:
        for _conv in range(2):
            one = np.zeros((K - 1) * d + 1, dtype=np.int64)
            one[::d] = 1
            counts = np.convolve(counts, one)
    return counts


for dilations in ([1, 2, 4, 8], [1, 3, 9, 27]):
    counts = paths(2, dilations)
    print(f"K = 2, {str(dilations):13s}: {counts.sum()} paths over {len(counts)} offsets, {counts.mean():.1f} per "
          f"offset on average; {np.sum(counts == 1)} offsets reached by a single path")
    assert counts.sum() == 2 ** 8 and counts.min() >= 1  # 2 taps in each of 8 convolutions, every offset reached
assert np.sum(paths(2, [1, 3, 9, 27]) == 1) == 16 and np.sum(paths(2, [1, 2, 4, 8]) == 1) == 2

# %% [markdown]
# The same 256 paths are spread over 81 steps instead of 31, and 16 steps are reached along a single path
# instead of 2 (the newest and the oldest). Whether the wider field trains as well is a question
# for an experiment (tutorial 10's sweep is the place for it), not for this arithmetic.
#
# ## 3. Three lists drawn
#
# `pytcn.plot.dilation_diagram` draws any architecture: the input at the bottom, a row per convolution, and in
# blue the taps through which the last output (red) reads. The orange band marks the span R on the input.

# %%
fig, axes = plt.subplots(3, 1, figsize=(12, 9.5))
for ax, dilations in zip(axes, ([1, 2, 4, 8], [5, 10], [1, 3, 9, 27])):
    dilation_diagram({"kernel_size": 2, "dilations": dilations}, ax=ax)
fig.tight_layout()
fig.savefig(figure_path("12_three_lists.png"), dpi=90)
plt.show()

# %% [markdown]
# ## 4. The explorer
#
# Type a kernel size, dilations and a number of stacks. The explorer draws which steps the last output reads,
# counts the holes (orange dots on the input row) and says whether the dilations obey the rule. It is a page of
# its own (`tutorials/explorer/dilation_explorer.html`, which opens in any browser from the file, no server) and
# runs below in the rendered tutorial. Its arithmetic is `pytcn.plot`'s written again in JavaScript; the site's
# test checks the two agree. Try [5, 10] and then [1, 3, 9] with K = 2; K = 3 with [1, 2, 4, 8] and two stacks;
# and K = 1.

# %%
explorer = repository_path("tutorials", "explorer", "dilation_explorer.html")
with open(explorer) as f:
    page = f.read()
try:
    from IPython import get_ipython
    from IPython.display import HTML, display
except ImportError:  # IPython comes with Jupyter; a script does without it
    get_ipython = None
if get_ipython is not None and get_ipython() is not None:
    display(HTML(page))  # a notebook and the site show the explorer here
else:
    print(f"run as a script: open {explorer} in a browser to use the explorer")
assert 'id="explorer-summary"' in page

# %% [markdown]
# ## Summary
#
# - R is a span. With two convolutions per block, a block of dilation d reads the multiples of d up to
#   2(K − 1)d, and blocks add their offsets, so holes open where a dilation jumps past what the smaller ones
#   cover.
# - The rule: sorted, the first dilation 1 and each at most 1 + 2(K − 1) times the sum of the smaller ones.
#   It holds exactly where there are no holes (checked above on 11,304 lists; `pytcn.plot.dilation_rule`).
# - Doubling obeys it with room to spare; the widest lists, (2K − 1)^k, read (2K − 1)^D steps with the same
#   parameters, each step through fewer paths.
#
# ## References
#
# - Luo, W., Li, Y., Urtasun, R. and Zemel, R. (2016). *Understanding the Effective Receptive Field in Deep
#   Convolutional Neural Networks*. NeurIPS: the effective field as the gradient over the input, smaller than the
#   theoretical one and growing in training.
# - Yu, F. and Koltun, V. (2016). *Multi-Scale Context Aggregation by Dilated Convolutions*. ICLR: dilated
#   convolutions with exponentially growing dilations that leave no holes.
# - Wang, P. et al. (2018). *Understanding Convolution for Semantic Segmentation*. WACV: the same holes in two
#   dimensions ("gridding"), and a rule for choosing dilations that avoids them (hybrid dilated convolution).
# - van den Oord, A. et al. (2016). *WaveNet: A Generative Model for Raw Audio*. arXiv:1609.03499: dilations doubling
#   per layer, the list the TCN paper and keras-tcn took up.
# - Bai, S., Kolter, J. Z. and Koltun, V. (2018). *An Empirical Evaluation of Generic Convolutional and Recurrent
#   Networks for Sequence Modeling*. arXiv:1803.01271: the TCN's blocks of two convolutions with d = 2^i.
#
# ## Exercises
#
# 1. With K = 3 and three blocks, what is the widest list without holes, and its R? What does the rule allow for a
#    fourth block after [1, 2, 4]?
# 2. keras-tcn's default is K = 3, dilations [1, 2, 4, 8, 16, 32] and one stack. With two stacks, the list sorted
#    is [1, 1, 2, 2, 4, 4, …]. Does it have holes? How large could the last dilation of each stack be?
#
# Solutions below (folded in the rendered site).

# %% tags=["hide-cell"]
# Solution 1: 1, 5, 25 (each 1 + 4 times the sum before it: 1 + 4*1 = 5, 1 + 4*6 = 25), R = 5^3 = 125; after
# [1, 2, 4] the fourth may be up to 1 + 4 * 7 = 29
assert dilation_rule(3, [1, 5, 25]) is None and pytcn.receptive_field(3, [1, 5, 25]) == 125
assert dilation_rule(3, [1, 2, 4, 29]) is None and dilation_rule(3, [1, 2, 4, 30]) == (30, 29)

# Solution 2: no holes. If the last dilation of both stacks is x, the list sorted is [1, 1, 2, 2, ..., 16, 16, x, x]:
# the first x may be up to 1 + 4 * 2 * (1 + 2 + 4 + 8 + 16) = 249, and the second x is then always allowed. The
# second stack could read much farther at the same cost
keras = [1, 2, 4, 8, 16, 32]
assert dilation_rule(3, keras, 2) is None and holes(3, keras, 2) == []
largest = next(x for x in range(32, 1000) if dilation_rule(3, [1, 2, 4, 8, 16, x], 2) is not None) - 1
print(f"with two stacks, the last dilation of each could be up to {largest} before a hole opens")
assert largest == 1 + 4 * 2 * (1 + 2 + 4 + 8 + 16) == 249
