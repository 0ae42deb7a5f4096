"""Layer and batch normalisation, forward and backward, in the kernels' layout x: (N, C, T).

Both normalise x to zero mean and unit variance, then scale and shift each channel c by gamma[c] and beta[c]:

    xhat = (x - mean) * rstd,   rstd = 1 / sqrt(var + eps),   y = gamma[c] * xhat + beta[c]

They differ in what the mean and the (biased) variance are taken over:

- **layer norm**: over the C channels of one step of one sequence, a mean and rstd per (n, t): (N, T). As
  torch.nn.LayerNorm(C) on (N, T, C) and keras's LayerNormalization (which keras-tcn uses) compute it.
- **batch norm**: over the N*T steps of the batch, per channel c: (C,). In training from the batch; at inference
  from running averages the layer keeps (pytcn.layers.BatchNorm1d), so there the op is a fixed affine map per
  channel. As torch.nn.BatchNorm1d.

The backward passes, with dxhat = dy * gamma and the sums over the normalised group (C channels, or M = N*T steps):

    dgamma[c] = sum over (n, t) of dy * xhat,   dbeta[c] = sum over (n, t) of dy
    dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))         (statistics of x: layer norm, batch norm
                                                                           in training)
    dx = rstd * dxhat                                                      (fixed statistics: batch norm at
                                                                           inference)

The first comes from differentiating through the mean and the variance too: x moves xhat directly, and through the
mean (every element of the group equally) and through the variance (along xhat).
"""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL

# --------------------------------------------------------------------------------------------------------------
# NumPy references


def layer_norm_forward_numpy(y, mean, rstd, x, gamma, beta, eps):
    """Normalises each (n, t) over the channels. Writes y (N, C, T), mean and rstd (N, T)."""
    mu = x.mean(axis=1)  # N, T
    var = ((x - mu[:, None, :]) ** 2).mean(axis=1)  # N, T, biased
    mean[...] = mu
    rstd[...] = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu[:, None, :]) * rstd[:, None, :]
    y[...] = gamma[None, :, None] * xhat + beta[None, :, None]


def layer_norm_backward_numpy(dx, dgamma, dbeta, dy, x, mean, rstd, gamma):
    """Writes dx (N, C, T), dgamma and dbeta (C,)."""
    xhat = (x - mean[:, None, :]) * rstd[:, None, :]
    dgamma[...] = (dy * xhat).sum(axis=(0, 2))  # forward: y = gamma * xhat + beta
    dbeta[...] = dy.sum(axis=(0, 2))
    dxhat = dy * gamma[None, :, None]
    # through xhat = (x - mean) * rstd, with mean and var over the channels of each (n, t)
    dx[...] = rstd[:, None, :] * (dxhat - dxhat.mean(axis=1, keepdims=True)
                                  - xhat * (dxhat * xhat).mean(axis=1, keepdims=True))


def batch_norm_statistics_numpy(mean, var, x):
    """The mean and the biased variance of each channel over the batch and the steps. Writes mean, var (C,)."""
    mean[...] = x.mean(axis=(0, 2))
    var[...] = ((x - mean[None, :, None]) ** 2).mean(axis=(0, 2))


def batch_norm_forward_numpy(y, x, mean, var, gamma, beta, eps):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta per channel, with the given statistics (C,). Writes y."""
    rstd = 1.0 / np.sqrt(var + eps)
    y[...] = (gamma * rstd)[None, :, None] * (x - mean[None, :, None]) + beta[None, :, None]


def batch_norm_backward_numpy(dx, dgamma, dbeta, dy, x, mean, var, gamma, eps, batch_statistics):
    """Writes dx (N, C, T), dgamma, dbeta (C,). ``batch_statistics``: whether mean and var were computed from this x
    (training), so that dx also flows through them; else they were fixed (inference)."""
    rstd = 1.0 / np.sqrt(var + eps)  # C
    xhat = (x - mean[None, :, None]) * rstd[None, :, None]
    dgamma[...] = (dy * xhat).sum(axis=(0, 2))
    dbeta[...] = dy.sum(axis=(0, 2))
    dxhat = dy * gamma[None, :, None]
    if batch_statistics:
        dx[...] = rstd[None, :, None] * (dxhat - dxhat.mean(axis=(0, 2), keepdims=True)
                                         - xhat * (dxhat * xhat).mean(axis=(0, 2), keepdims=True))
    else:
        dx[...] = rstd[None, :, None] * dxhat


# --------------------------------------------------------------------------------------------------------------
# Numba: layer norm in parallel over the sequences (each thread its own (n, t) statistics and rows of dx, and its own
# partial dgamma and dbeta, summed after the loop); batch norm in parallel over the channels (each channel's
# statistics, and its slice of every array, belong to one thread).


def _layer_norm_forward(y, mean, rstd, x, gamma, beta, eps):
    N, C, T = x.shape
    for n in prange(N):
        for t in range(T):
            acc = 0.0
            for c in range(C):
                acc += x[n, c, t]
            mu = acc / C
            acc = 0.0
            for c in range(C):
                acc += (x[n, c, t] - mu) * (x[n, c, t] - mu)
            r = 1.0 / np.sqrt(acc / C + eps)
            mean[n, t] = mu
            rstd[n, t] = r
            for c in range(C):
                y[n, c, t] = gamma[c] * ((x[n, c, t] - mu) * r) + beta[c]


def _layer_norm_backward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma):
    N, C, T = x.shape
    partial_gamma = np.zeros((N, C), np.float64)  # one row per sequence: each thread writes its own
    partial_beta = np.zeros((N, C), np.float64)
    for n in prange(N):
        for t in range(T):
            mu, r = mean[n, t], rstd[n, t]
            mean_dxhat = 0.0
            mean_dxhat_xhat = 0.0
            for c in range(C):
                xhat = (x[n, c, t] - mu) * r
                dxhat = dy[n, c, t] * gamma[c]  # forward: y = gamma * xhat + beta
                mean_dxhat += dxhat
                mean_dxhat_xhat += dxhat * xhat
                partial_gamma[n, c] += dy[n, c, t] * xhat
                partial_beta[n, c] += dy[n, c, t]
            mean_dxhat /= C
            mean_dxhat_xhat /= C
            for c in range(C):
                xhat = (x[n, c, t] - mu) * r
                # through the channels' mean (every element equally) and variance (along xhat)
                dx[n, c, t] = r * (dy[n, c, t] * gamma[c] - mean_dxhat - xhat * mean_dxhat_xhat)
    for c in range(C):
        g = 0.0
        b = 0.0
        for n in range(N):
            g += partial_gamma[n, c]
            b += partial_beta[n, c]
        dgamma[c] = g
        dbeta[c] = b


def _batch_norm_statistics(mean, var, x):
    N, C, T = x.shape
    M = N * T
    for c in prange(C):
        acc = 0.0
        for n in range(N):
            for t in range(T):
                acc += x[n, c, t]
        mu = acc / M
        acc = 0.0
        for n in range(N):
            for t in range(T):
                acc += (x[n, c, t] - mu) * (x[n, c, t] - mu)
        mean[c] = mu
        var[c] = acc / M


def _batch_norm_forward(y, x, mean, var, gamma, beta, eps):
    N, C, T = x.shape
    for c in prange(C):
        scale = gamma[c] / np.sqrt(var[c] + eps)
        for n in range(N):
            for t in range(T):
                y[n, c, t] = scale * (x[n, c, t] - mean[c]) + beta[c]


def _batch_norm_backward(dx, dgamma, dbeta, dy, x, mean, var, gamma, eps, batch_statistics):
    N, C, T = x.shape
    M = N * T
    for c in prange(C):
        r = 1.0 / np.sqrt(var[c] + eps)
        sum_dy = 0.0
        sum_dy_xhat = 0.0
        for n in range(N):
            for t in range(T):
                sum_dy += dy[n, c, t]
                sum_dy_xhat += dy[n, c, t] * (x[n, c, t] - mean[c]) * r
        dgamma[c] = sum_dy_xhat  # forward: y = gamma * xhat + beta
        dbeta[c] = sum_dy
        # dxhat - mean(dxhat) = gamma * (dy - mean(dy)): the mean is subtracted before the scaling, so that a channel
        # of one element (M = 1) gets exactly 0, as the reference does, rather than the rounding error of a product
        # that fast-math contracted into a fused multiply-add
        mean_dy = sum_dy / M if batch_statistics else 0.0
        mean_dxhat_xhat = gamma[c] * sum_dy_xhat / M if batch_statistics else 0.0
        for n in range(N):
            for t in range(T):
                xhat = (x[n, c, t] - mean[c]) * r
                dx[n, c, t] = r * (gamma[c] * (dy[n, c, t] - mean_dy) - xhat * mean_dxhat_xhat)


layer_norm_forward_numba = njit(**PARALLEL)(_layer_norm_forward)
layer_norm_backward_numba = njit(**PARALLEL)(_layer_norm_backward)
batch_norm_statistics_numba = njit(**PARALLEL)(_batch_norm_statistics)
batch_norm_forward_numba = njit(**PARALLEL)(_batch_norm_forward)
batch_norm_backward_numba = njit(**PARALLEL)(_batch_norm_backward)
