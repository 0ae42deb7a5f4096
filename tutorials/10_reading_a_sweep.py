# %% [markdown]
# # Reading a sweep: the post's study, from its results file
#
# The blog post pytcn grew from varies three numbers of a TCN (the kernel size K, written k in the results file and
# below, the dilated levels D, the stacks s) and looks at what changes. `pytcn sweep` reruns its experiments on Dask (a
# Python library that runs tasks in parallel, on one machine or many) and keeps every trial, one training run of one
# architecture, in one SQLite file (a database in a single file); this tutorial reads the file of the run in
# `docs/experiments.md` (`docs/results.sqlite`), draws its figures, and checks the claim the exact receptive field makes
# about copy memory.
#
# The run itself, on a 2-vCPU machine (a few minutes per task, timed in docs/experiments.md):
#
#     pytcn sweep run isolation fixed-rf --task adding --dir runs/study
#     pytcn sweep run isolation fixed-rf --task copy-memory --dir runs/study
#     pytcn sweep run isolation fixed-rf --task mnist --dir runs/study
#     pytcn sweep run copy-length --dir runs/study
#     pytcn sweep plot --dir runs/study

# %%
import os
import shutil
import tempfile

import numpy as np

from pytcn.course import repository_path
from pytcn.study import figures
from pytcn.study.experiments import EXPERIMENTS
from pytcn.study.sweep import Store

# this tutorial trains nothing, so PYTCN_QUICK (the test suite's reduced mode) changes nothing here; the figures it
# draws are those of docs/figures, drawn again into a temporary folder
FIGURES = tempfile.mkdtemp()

# a copy: reading must never change the committed results
results = os.path.join(tempfile.mkdtemp(), "results.sqlite")
shutil.copy(repository_path("docs", "results.sqlite"), results)
store = Store(results)
print("trials by status:", store.counts())
print("experiments:", ", ".join(EXPERIMENTS))

# %% [markdown]
# ## 1. What a trial is
#
# Each row is one trial: a task, an architecture (k, D, s), its exact receptive field R = 1 + 2(k−1)·s·(2^D − 1), the
# post's approximation 2^(D−1)·k·s, its depth and parameter count, and the validation metric it reached. `isolation`
# varies one of k, D, s around a base; `fixed-rf` trades one for another at a roughly constant R (within a factor of
# 1.5). The `group` column says which: the number varied in `isolation` (k, D or s), the pair traded in `fixed-rf`. The
# validation metric is the recall accuracy on copy memory and the MSE on the adding problem.

# %%
rows = [r for r in store.rows(task="copy-memory") if r["experiment"] in ("isolation", "fixed-rf")]
for task in ("adding", "copy-memory", "mnist"):  # fixed-rf: R within a factor of 1.5 in each group of a task
    spans = [r["receptive_field"] for r in store.rows(task=task) if r["experiment"] == "fixed-rf"]
    assert spans and max(spans) < 1.5 * min(spans), (task, spans)
print(" experiment  group   k  D  s      R  approx  params  accuracy")
for r in sorted(rows, key=lambda r: (r["experiment"], r["group"], r["receptive_field"])):
    print(f" {r['experiment']:10s} {r['group']:5s} {r['k']:3d} {r['D']:2d} {r['s']:2d} {r['receptive_field']:6d} "
          f"{r['approximate_receptive_field']:7d} {r['params']:7d}  {r['val_metric']:.3f}")

# %% [markdown]
# ## 2. The claim: copy memory needs the exact receptive field to span the recall
#
# A copy-memory sequence is, as in tutorial 07, ten symbols from 1..8, then T − 1 blanks, then eleven delimiters,
# T + 20 steps in all; the network must repeat the ten symbols at the last ten steps. Symbol i, read at step i, is
# asked for at step T + 10 + i: every recall reaches back T + 10 steps, and an output reads back R − 1 steps, so it
# can recall the symbol only if T + 10 ≤ R − 1, that is R ≥ T + 11. Below that, a network can do no better than
# chance on the recall (1/8); from there on, it can learn it.

# %%
copy_rows = [r for r in store.rows(task="copy-memory") if r["status"] == "done"]
for r in copy_rows:
    T = r["config"]["length"]
    spans = r["receptive_field"] >= T + 11
    learned = r["val_metric"] > 0.9
    assert spans == learned, f"{r['experiment']} k={r['k']} D={r['D']} s={r['s']} T={T}: R={r['receptive_field']}"
print(f"all {len(copy_rows)} copy-memory trials: recall learned (accuracy > 0.9) exactly where R >= T + 11")
missed = [r for r in copy_rows if r["receptive_field"] < r["config"]["length"] + 11]
print("the trials below it:", [(r["k"], r["D"], r["s"], r["receptive_field"], round(r["val_metric"], 3))
                               for r in missed])
assert missed and all(abs(r["val_metric"] - 1 / 8) < 0.02 for r in missed)  # chance on the recall

# %% [markdown]
# By the post's approximation these networks reach 48 (k = 3, D = 5, s = 1) steps, not 125: the post saw the
# network "still perform the task until the sequence length was nearly twice the receptive field". With the exact
# field there is no surprise: the cliff is where R stops covering T + 11.
#
# ## 3. The figures
#
# `pytcn sweep plot` draws them from the results file alone; here the same functions, into this tutorial's folder:
#
# - the triangle: per task, the isolation charts at the corners (one of k, D, s varied) and the fixed receptive
#   field charts on the edges (two traded against each other);
# - the bubbles: depth against parameters, bubble area the receptive field, colour the metric;
# - copy length: the accuracy of one architecture against the sequence length T + 20 (copy memory's T, T − 1 blanks,
#   plus 20), with both receptive fields marked.

# %%
paths = figures.plot_all(store, FIGURES)
for path in paths:
    print("drew", os.path.basename(path), "(as docs/figures has it)")
assert len(paths) == 5

# %% [markdown]
# The copy-length figure, as just drawn:

# %%
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(8, 5))
ax.imshow(matplotlib.image.imread(next(p for p in paths if p.endswith("copy-length.png"))))
ax.axis("off")
fig.tight_layout()

# %% [markdown]
# Reading the copy-length figure: one architecture at growing T. The recall is learned up to the longest T whose
# recall distance, T + 10, is within the R − 1 steps the field reaches back, and at chance from the first T beyond
# it, whatever the training:

# %%
length_rows = sorted((r for r in copy_rows if r["experiment"] == "copy-length"), key=lambda r: r["config"]["length"])
(R_length,) = {r["receptive_field"] for r in length_rows}  # one architecture
assert R_length == 125 and {r["approximate_receptive_field"] for r in length_rows} == {48}  # as section 2 says
last_learned = max(r["config"]["length"] for r in length_rows if r["val_metric"] > 0.9)
first_missed = min(r["config"]["length"] for r in length_rows if r["val_metric"] <= 0.9)
print(f"R = {R_length}: learned up to T = {last_learned} (recall distance {last_learned + 10} <= R - 1 = "
      f"{R_length - 1}), chance from T = {first_missed} (distance {first_missed + 10} > {R_length - 1})")
assert last_learned + 10 <= R_length - 1 < first_missed + 10 and last_learned < first_missed

# %% [markdown]
# The dotted line of the approximation (48) sits far left of the cliff; the dashed exact one (125) sits just before
# it: the axis counts a sequence's T + 20 steps, and the last gap learned, T = R − 11, is a sequence of R + 9 = 134.
#
# ## Summary
#
# - A sweep is a list of trials (pytcn.study.experiments) and one results file (pytcn.study.sweep.Store) that any
#   machine can read and plot.
# - On copy memory the exact receptive field predicts every trial of this run: learned exactly where R ≥ T + 11.
#
# ## References
#
# - Guerdan, L. (2019). *Diving Into Temporal Convolutional Networks*, https://lukeguerdan.com/blog/2019/intro-to-tcns/:
#   the study read here, its experiments and its claims.
# - Rocklin, M. (2015). *Dask: Parallel Computation with Blocked algorithms and Task Scheduling*. Proceedings of the
#   14th Python in Science Conference: the engine that runs the sweeps.
# - Bai, S., Kolter, J. Z. and Koltun, V. (2018). *An Empirical Evaluation of Generic Convolutional and Recurrent
#   Networks for Sequence Modeling*. arXiv:1803.01271: the architectures studied, and the receptive field a task
#   needs.
#
# ## Exercises
#
# 1. On the adding problem (T = 200), which trials have R < T, and what validation MSE did they reach?
# 2. Among the fixed-rf trials of copy memory, do more parameters buy accuracy when R is held constant?
#
# Solutions below (folded in the rendered site).

# %% tags=["hide-cell"]
# Solution 1: the adding trials whose receptive field is shorter than the sequence often cannot see both markers
adding = [r for r in store.rows(task="adding") if r["receptive_field"] < r["config"]["length"]]
print("adding, R < T:", [(r["k"], r["D"], r["s"], r["receptive_field"], round(r["val_metric"], 3)) for r in adding])
others = [r["val_metric"] for r in store.rows(task="adding") if r["receptive_field"] >= r["config"]["length"]]
assert min(r["val_metric"] for r in adding) > np.median(others)

# Solution 2: at a constant R every fixed-rf architecture learns the recall; parameters change little
fixed = [r for r in copy_rows if r["experiment"] == "fixed-rf"]
print("copy memory, fixed-rf, (parameters, accuracy):",
      [(r["params"], round(r["val_metric"], 3)) for r in sorted(fixed, key=lambda r: r["params"])])
assert min(r["val_metric"] for r in fixed) > 0.9
