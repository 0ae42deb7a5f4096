"""Build it yourself: the pieces of a TCN, each a stub for you to fill in, each checked as pytcn checks its own.

Copy this file (or edit it in place), replace each `raise NotImplementedError` with your code, and run it:

    python tutorials/build/exercises.py                  # checks every piece, in order
    python tutorials/build/exercises.py adam_step        # checks one piece

A piece passes when it agrees with pytcn's NumPy reference on shapes drawn by hypothesis (the convolutions), or
with finite differences to a relative error below 1e-6 in float64 (the backward passes), or with pytcn's Adam (the
optimizer). A failure names the case and where the numbers differ, with a hint. Tutorial 11 walks through the
track; tutorials/build/solutions.py has one way to write each piece (try first).

Plain NumPy is enough everywhere: loops are fine (the checks use small arrays), slices per tap are faster. Layout as
pytcn's: x (N, C_in, T), W (C_out, C_in, K), b (C_out,), y (N, C_out, T). The convolution is causal and dilated:

    y[n, o, t] = b[o] + sum over i and j of W[o, i, j] * x[n, i, t - (K-1-j)*d]      (x before step 0 is 0)

Which tutorial explains each piece: the convolution, 02; its backward passes, 04 (and 05 for a fast kernel); the
residual block, 04; Adam, 06; weight normalisation, 04 (section 4); dropout, 15.
"""
import sys

import numpy as np  # noqa: F401 (for your code)

from pytcn.exercises import block_forward, relu, weight_norm_forward  # noqa: F401 (the given forward passes)

# 1. The causal dilated convolution ------------------------------------------------------------------------------

def conv_forward(x, W, b, d):
    """y = the causal dilated convolution of x (see the top of the file). x: (N, C_in, T), W: (C_out, C_in, K),
    b: (C_out,), d >= 1 -> y: (N, C_out, T), in x's dtype. Do not write into x."""
    raise NotImplementedError


def conv_backward_input(dy, W, d):
    """dx = d<y, dy>/dx for y = conv_forward(x, W, b, d). dy: (N, C_out, T) -> dx: (N, C_in, T)."""
    raise NotImplementedError


def conv_backward_weight(dy, x, d, K):
    """dW = d<y, dy>/dW. dy: (N, C_out, T), x: (N, C_in, T), K taps -> dW: (C_out, C_in, K)."""
    raise NotImplementedError


# 2. The residual block's backward ----------------------------------------------------------------------------------

def block_backward(dy, cache):
    """The gradients of the residual block of ``pytcn.exercises.block_forward`` (read its docstring: the steps, and
    what ``cache`` holds). dy: (N, C_out, T) -> (dx, grads), grads a dict with the gradient of every entry of
    cache["params"], under the same names. Use your three convolution functions above."""
    raise NotImplementedError


# 3. Weight normalisation's backward -------------------------------------------------------------------------------

def weight_norm_backward(dW, v, g):
    """The gradients of W = weight_norm_forward(v, g) = g * v / ||v|| (the norm per output channel, over its
    C_in * K entries), given dW = d<loss>/dW. v: (C_out, C_in, K), the direction (PyTorch's weight_v; not Adam's v
    below), g: (C_out, 1, 1), the length -> (dv, dg) of their shapes."""
    raise NotImplementedError


# 4. Adam ------------------------------------------------------------------------------------------------------------

def adam_step(param, dparam, m, v, step, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step (Kingma & Ba 2015, as torch.optim.Adam does it): returns the new (param, m, v), given dparam, the
    gradient of param. m and v are Adam's running means of dparam and dparam² (Kingma and Ba's names; not
    weight normalisation's v above), both starting at zeros; ``step`` counts training steps from 1."""
    raise NotImplementedError


# 5. Spatial dropout -------------------------------------------------------------------------------------------------

def spatial_dropout_forward(x, rate, rng):
    """Spatial dropout in training (keras's SpatialDropout1D): each channel of each sequence dropped whole with
    probability ``rate``, the others scaled by 1 / (1 - rate). x: (N, C, T), rng: a numpy.random.Generator -> (y,
    mask), mask of shape (N, C)."""
    raise NotImplementedError


def spatial_dropout_backward(dy, mask):
    """dx for y = spatial_dropout_forward(x, ...) with this mask."""
    raise NotImplementedError


if __name__ == "__main__":
    from pytcn.exercises import main

    sys.exit(main([__file__, *sys.argv[1:]]))
