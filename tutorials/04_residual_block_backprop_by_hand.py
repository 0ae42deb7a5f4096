# %% [markdown]
# # The residual block, and backprop by hand
#
# A TCN is a stack of residual blocks. This tutorial writes one block's forward pass as six lines, derives the backward
# pass line by line, runs it by hand with the NumPy twins of the kernels, and checks it two ways: against
# `pytcn.ResidualBlock.backward`, and against finite differences, with the relative errors read against the rule of
# thumb of CS231n (Stanford's course on convolutional networks, whose notes teach this check). Then it does the same for
# weight normalisation.
#
# ## 1. The forward pass
#
# With x: (N, C_in, T) and the convolution `conv` of `kernels/conv.py` (causal, dilated):
#
#     z1 = conv(x; W1, b1)              h1 = max(z1, 0)
#     z2 = conv(h1; W2, b2)             branch = max(z2, 0)
#     z_out = branch + residual(x)      out = max(z_out, 0)
#
# where residual(x) = x, or a 1x1 convolution when C_in != C_out.
#
# (dropout is left out here. In training it zeroes each channel with probability `rate` and scales the others by
# 1/(1 − rate), a multiplication by a fixed mask, whose backward multiplies by the same mask; at inference it is the
# identity. Tutorial 15 compares its two kinds.)

# %%
import matplotlib.pyplot as plt
import numpy as np

import pytcn
from pytcn import kernels
from pytcn.course import figure_path
from pytcn.nn.gradcheck import numerical_gradient, relative_error

rng = np.random.default_rng(0)
N, C_in, C_out, T, K, d = 2, 2, 3, 9, 3, 2
block = pytcn.ResidualBlock(C_in, C_out, K, d, dtype=np.float64, rng=rng)
for p in block.params.values():  # every weight and bias away from zero, so no unit sits on a ReLU's kink
    p[...] = 0.5 * rng.standard_normal(p.shape)
x = rng.standard_normal((N, C_in, T))
W1, b1 = block.params["conv1.weight"], block.params["conv1.bias"]
W2, b2 = block.params["conv2.weight"], block.params["conv2.bias"]
Wr, br = block.params["downsample.weight"], block.params["downsample.bias"]  # C_in != C_out: a 1x1 convolution


def conv(x, W, b, d):
    y = np.empty((x.shape[0], W.shape[0], x.shape[2]))
    kernels.conv_forward_numpy(y, x, W, b, d)
    return y


z1 = conv(x, W1, b1, d)
h1 = np.maximum(z1, 0)
z2 = conv(h1, W2, b2, d)
branch = np.maximum(z2, 0)
z_out = branch + conv(x, Wr, br, 1)
out = np.maximum(z_out, 0)
(out_block, branch_block), cache = block.forward(x)  # cache: what the forward keeps for the backward
print("forward by hand vs the block:", np.abs(out - out_block).max(), np.abs(branch - branch_block).max())
assert np.allclose(out, out_block, rtol=0, atol=1e-12) and np.allclose(branch, branch_block, rtol=0, atol=1e-12)

# %% [markdown]
# The same block as a picture, drawn from the block object itself (`pytcn.plot.block_diagram`): the branch down the
# left, the residual path on the right (here a 1x1 convolution, since C_in = 2 differs from C_out = 3), their sum
# and its ReLU at the bottom. The branch's output also leaves the block before the sum: with skip connections
# (keras-tcn's default) the head reads the sum of every block's branch (tutorial 08 reads them one by one). The
# dropouts have rate 0 here, the identity.

# %%
from pytcn.plot import block_diagram, block_stages  # noqa: E402

stages, residual_path = block_stages(block)
assert [stage.split(":")[0] for stage in stages] == ["conv1", "ReLU", "dropout1", "conv2", "ReLU", "dropout2"]
assert residual_path[0].startswith("downsample")  # C_in != C_out: the six lines above, with Wr and br
fig, ax = plt.subplots(figsize=(9, 5.5))
drawn = block_diagram(block, figure_path("04_block.png"), ax=ax)
assert drawn is fig  # it drew into our axes, and returns their figure

# %% [markdown]
# ## 2. The backward pass, one line per forward line
#
# Given dout = dL/dout (and, with skip connections, dL/dbranch from the skip output), go back up the lines above.
# Each backward line differentiates the forward line quoted beside it:
#
#     out = max(z_out, 0)               dz_out = dout * (z_out > 0)
#     z_out = branch + residual(x)      dbranch_total = dz_out + dbranch;   dresidual = dz_out
#     branch = max(z2, 0)               dz2 = dbranch_total * (z2 > 0)
#     z2 = conv(h1; W2, b2)             dh1 = conv_backward_input(dz2, W2);  dW2 = conv_backward_weight(dz2, h1);
#                                       db2 = sum of dz2 over (n, t)
#     h1 = max(z1, 0)                   dz1 = dh1 * (z1 > 0)
#     z1 = conv(x; W1, b1)              dx = conv_backward_input(dz1, W1) + residual's input gradient;  dW1, db1 alike
#
# The two paths out of x (the branch and the residual) add their gradients: that is what a residual connection
# does for the backward pass, and why a deep TCN's gradient does not vanish through it.

# %%
dout = rng.standard_normal(out.shape)
dbranch = rng.standard_normal(out.shape)  # the skip output's gradient


def conv_backward(dz, x_in, W):
    dx_in, dW, db = np.empty_like(x_in), np.empty_like(W), np.empty(W.shape[0])
    kernels.conv_backward_input_numpy(dx_in, dz, W, d if W.shape[2] > 1 else 1)
    kernels.conv_backward_weight_numpy(dW, dz, x_in, d if W.shape[2] > 1 else 1)
    kernels.conv_backward_bias_numpy(db, dz)
    return dx_in, dW, db


dz_out = dout * (z_out > 0)
dz2 = (dz_out + dbranch) * (z2 > 0)
dh1, dW2, db2 = conv_backward(dz2, h1, W2)
dz1 = dh1 * (z1 > 0)
dx, dW1, db1 = conv_backward(dz1, x, W1)
dx_residual, dWr, dbr = conv_backward(dz_out, x, Wr)
dx = dx + dx_residual
by_hand = {"conv1.weight": dW1, "conv1.bias": db1, "conv2.weight": dW2, "conv2.bias": db2,
           "downsample.weight": dWr, "downsample.bias": dbr}

dx_block, grads = block.backward(dout, cache, dbranch=dbranch)
for name, dp in by_hand.items():
    print(f"{name:18s} by hand vs the block: {np.abs(dp - grads[name]).max():.1e}")
    assert np.allclose(dp, grads[name], rtol=0, atol=1e-12)
print(f"{'input':18s} by hand vs the block: {np.abs(dx - dx_block).max():.1e}")
assert np.allclose(dx, dx_block, rtol=0, atol=1e-12)

# %% [markdown]
# ## 3. Against finite differences
#
# The by-hand backward and the block's agree, but both could share a wrong derivation. Central differences don't:
# perturb one number by ±h, rerun the forward pass, and the change of L = Σ out·dout + Σ branch·dbranch over 2h
# approximates its derivative. The relative error `|a − n| / max(|a|, |n|)` (pytcn floors the denominator at a
# thousandth of the largest |n|, so that entries near zero do not divide by nothing) reads, after CS231n: above 1e-2 the
# gradient is probably wrong; between 1e-2 and 1e-4, uneasy; below 1e-4, fine where a ReLU's kink is near; below 1e-7,
# right. In float64 and away from kinks pytcn asks for below 1e-6 everywhere.

# %%


def loss():
    (o, br_out), _ = block.forward(x)
    return float(np.sum(o * dout) + np.sum(br_out * dbranch))


errors = {name: relative_error(grads[name], numerical_gradient(loss, block.params[name])).max() for name in grads}
errors["input"] = relative_error(dx_block, numerical_gradient(loss, x)).max()
for name, e in errors.items():
    verdict = "right" if e < 1e-7 else "fine" if e < 1e-4 else "uneasy" if e < 1e-2 else "probably wrong"
    print(f"{name:18s} worst relative error {e:.1e}  ({verdict})")
assert max(errors.values()) < 1e-6

fig, ax = plt.subplots(figsize=(7, 3.2))
ax.barh(list(errors), list(errors.values()), color="#1f77b4")
for threshold, label in [(1e-2, "probably wrong"), (1e-4, "uneasy"), (1e-7, "right")]:
    ax.axvline(threshold, color="grey", ls="--", lw=0.8)
    ax.text(threshold, len(errors) - 0.4, label, fontsize=8, ha="right", rotation=90, va="top")
ax.set_xscale("log")
ax.set_xlabel("worst relative error against central differences (h = 1e-5, float64)")
ax.set_title("The residual block's backward pass, array by array")
fig.tight_layout()
fig.savefig(figure_path("04_gradient_check.png"), dpi=100)

# %% [markdown]
# ## 4. Weight normalisation's backward
#
# With `use_weight_norm`, a convolution's weight is made from a direction v and a length g per output channel:
#
#     W[o] = g[o] · v[o] / ‖v[o]‖
#
# Given dW (from `conv_backward_weight`), write u = v/‖v‖ so that W = g·u. Then dg[o] = ⟨dW[o], u[o]⟩, and
# du = g·dW. Through u = v/‖v‖, only the part of du across u survives: dv = (du − u⟨u, du⟩)/‖v‖, which is
# (g/‖v‖)·(dW − u·dg). The part of dW along v is what g already takes; the rest turns v.

# %%
g = np.abs(rng.standard_normal((C_out, 1, 1))) + 0.5
v = rng.standard_normal((C_out, C_in, K))
dW = rng.standard_normal(v.shape)
norm = np.sqrt((v ** 2).sum(axis=(1, 2), keepdims=True))
u = v / norm
dg_by_hand = (dW * u).sum(axis=(1, 2), keepdims=True)
dv_by_hand = (g / norm) * (dW - u * dg_by_hand)
dg, dv = np.empty_like(g), np.empty_like(v)
kernels.PLUMBING["weight_norm_backward"](dg, dv, dW, g, v)
print("weight norm by hand vs kernels/arrays.py:", np.abs(dg - dg_by_hand).max(), np.abs(dv - dv_by_hand).max())


def weight_norm_loss():
    return float(np.sum(g * v / np.sqrt((v ** 2).sum(axis=(1, 2), keepdims=True)) * dW))


print("dg: relative error", relative_error(dg, numerical_gradient(weight_norm_loss, g)).max())
print("dv: relative error", relative_error(dv, numerical_gradient(weight_norm_loss, v)).max())
assert relative_error(dv, numerical_gradient(weight_norm_loss, v)).max() < 1e-6
assert np.allclose(dv, dv_by_hand) and np.allclose(dg, dg_by_hand)
# dv is orthogonal to v: the length of v never changes the weight, so it gets no gradient
print("<dv[o], v[o]> per channel:", (dv * v).sum(axis=(1, 2)))
assert np.allclose((dv * v).sum(axis=(1, 2)), 0, atol=1e-12)

# %% [markdown]
# ## Summary
#
# - A residual block is six forward lines; its backward is six lines read upward, each the derivative of the
#   forward line beside it, and the two paths out of x add their gradients.
# - The convolution's backward passes are convolutions too (`conv_backward_input` runs the same sum anti-causally,
#   `conv_backward_weight` correlates the input with the gradient).
# - Two checks that share nothing: the by-hand pass against the block, both against finite differences, read with
#   CS231n's thresholds; pytcn's tests do this for every layer, block and model (`tests/test_gradients.py`).
# - Weight normalisation's dv is orthogonal to v: g takes the part of dW along v, v only turns.
#
# ## References
#
# - He, K., Zhang, X., Ren, S. and Sun, J. (2016). *Deep Residual Learning for Image Recognition*. CVPR;
#   arXiv:1512.03385: residual connections.
# - Bai, S., Kolter, J. Z. and Koltun, V. (2018). *An Empirical Evaluation of Generic Convolutional and Recurrent
#   Networks for Sequence Modeling*. arXiv:1803.01271: the TCN's residual block: two causal convolutions, a 1x1
#   convolution on the residual path when the widths differ.
# - Salimans, T. and Kingma, D. P. (2016). *Weight Normalization*. NeurIPS; arXiv:1602.07868: W = g · v / ‖v‖ and its
#   gradients (section 4).
# - CS231n, *Neural Networks Part 3: Learning and Evaluation*, https://cs231n.github.io/neural-networks-3/: gradient
#   checks: central differences, the relative error and its thresholds.
#
# ## Exercises
#
# 1. Without skip connections the branch's gradient is only `dz_out`. Set `dbranch` to zeros and check that the
#    block's `dx` is what section 2 computes with `dbranch = 0`.
# 2. Make C_in equal C_out (no downsample): where does `dx_residual` go? Check that `dx = conv's dx + dz_out`.
# 3. Move one pre-activation of z1 to within 1e-6 of zero and rerun section 3: which verdict does the relative
#    error get, and why?
#
# Solutions below (folded in the rendered site).

# %% tags=["hide-cell"]
# Solution 1: with dbranch = 0 the branch carries dz_out alone
_, cache0 = block.forward(x)
dx0, _ = block.backward(dout, cache0, dbranch=np.zeros_like(dout))
dh1_0, _, _ = conv_backward(dz_out * (z2 > 0), h1, W2)
dx_0, _, _ = conv_backward(dh1_0 * (z1 > 0), x, W1)
assert np.allclose(dx0, dx_0 + dx_residual)

# Solution 2: an identity residual passes dz_out straight to dx: dx = (the convolutions' dx) + dz_out
same = pytcn.ResidualBlock(C_out, C_out, K, d, dtype=np.float64, rng=rng)
x3 = rng.standard_normal((N, C_out, T))
V1, c1 = same.params["conv1.weight"], same.params["conv1.bias"]
V2, c2 = same.params["conv2.weight"], same.params["conv2.bias"]
y1 = conv(x3, V1, c1, d)
y2 = conv(np.maximum(y1, 0), V2, c2, d)
dz_out3 = dout * (np.maximum(y2, 0) + x3 > 0)
dh, _, _ = conv_backward(dz_out3 * (y2 > 0), np.maximum(y1, 0), V2)
dx_convs, _, _ = conv_backward(dh * (y1 > 0), x3, V1)
(_, _), c3 = same.forward(x3)
dx3, _ = same.backward(dout, c3)
assert np.allclose(dx3, dx_convs + dz_out3)

# Solution 3: a pre-activation within h = 1e-5 of the kink makes the two sides of the difference straddle it: one
# side of the ReLU passes the change, the other does not, and the central difference mixes the two slopes. The
# worst relative error then leaves "right" for "probably wrong", though the backward is right: gradient checks keep
# inputs away from kinks. How far it goes depends on which pre-activation, and on which side of 0 it sits:
kinked = []
for n, o, t in [(0, 0, 4), (1, 2, 7), (0, 1, 8), (1, 0, 5), (0, 2, 6)]:
    near = pytcn.ResidualBlock(C_in, C_out, K, d, dtype=np.float64, rng=rng)
    for name, value in block.params.items():
        near.params[name][...] = value
    z = conv(x, near.params["conv1.weight"], near.params["conv1.bias"], d)
    near.params["conv1.bias"][o] -= z[n, o, t] - 5e-7  # z1[n, o, t] = 5e-7 now; the rest of channel o moves alike


    def loss_near(near=near):
        (o_, br_), _ = near.forward(x)
        return float(np.sum(o_ * dout) + np.sum(br_ * dbranch))

    (_, _), cache_near = near.forward(x)
    dx_near, grads_near = near.backward(dout, cache_near, dbranch=dbranch)
    kinked.append(max(relative_error(grads_near["conv1.weight"],
                                     numerical_gradient(loss_near, near.params["conv1.weight"])).max(),
                      relative_error(dx_near, numerical_gradient(loss_near, x)).max()))
print("worst relative error with one pre-activation of z1 at 5e-7:", ", ".join(f"{e:.1e}" for e in kinked))
assert min(kinked) > 1e-2  # "probably wrong", every time: the kink, not the derivation
print("solutions 1, 2 and 3 check out")
