"""The CUDA twins of kernels/norm.py: layer and batch normalisation, in the kernels' layout x (N, C, T).

    xhat = (x - mean) * rstd,   rstd = 1 / sqrt(var + eps),   y = gamma[c] * xhat + beta[c]
"""
import math

from numba import cuda, float64

from .._config import CUDA
from ._device import launch


@cuda.jit(**CUDA)
def _layer_norm_forward_kernel(y, mean, rstd, x, gamma, beta, eps):
    """One thread per (n, t): the statistics of its C channels, then its column of y."""
    N, C, T = x.shape
    k = cuda.grid(1)
    if k >= N * T:
        return
    n = k // T
    t = k % T
    acc = 0.0
    for c in range(C):
        acc += x[n, c, t]
    mu = acc / C
    acc = 0.0
    for c in range(C):
        acc += (x[n, c, t] - mu) * (x[n, c, t] - mu)
    r = 1.0 / math.sqrt(acc / C + eps)
    mean[n, t] = mu
    rstd[n, t] = r
    for c in range(C):
        y[n, c, t] = gamma[c] * ((x[n, c, t] - mu) * r) + beta[c]


def layer_norm_forward_cuda(y, mean, rstd, x, gamma, beta, eps):
    _layer_norm_forward_kernel[launch(mean.size)](y, mean, rstd, x, gamma, beta, eps)


@cuda.jit(**CUDA)
def _layer_norm_backward_input_kernel(dx, dy, x, mean, rstd, gamma):
    """One thread per (n, t): its column of dx, through the mean and variance of its C channels."""
    N, C, T = x.shape
    k = cuda.grid(1)
    if k >= N * T:
        return
    n = k // T
    t = k % T
    mu = mean[n, t]
    r = rstd[n, t]
    mean_dxhat = 0.0
    mean_dxhat_xhat = 0.0
    for c in range(C):
        dxhat = dy[n, c, t] * gamma[c]
        mean_dxhat += dxhat
        mean_dxhat_xhat += dxhat * (x[n, c, t] - mu) * r
    mean_dxhat /= C
    mean_dxhat_xhat /= C
    for c in range(C):
        xhat = (x[n, c, t] - mu) * r
        dx[n, c, t] = r * (dy[n, c, t] * gamma[c] - mean_dxhat - xhat * mean_dxhat_xhat)


@cuda.jit(**CUDA)
def _layer_norm_backward_params_kernel(dgamma, dbeta, dy, x, mean, rstd):
    """One thread per channel c: dgamma[c] = sum dy * xhat, dbeta[c] = sum dy over (n, t), in float64."""
    N, C, T = x.shape
    c = cuda.grid(1)
    if c >= C:
        return
    g = float64(0.0)
    b = float64(0.0)
    for n in range(N):
        for t in range(T):
            g += dy[n, c, t] * ((x[n, c, t] - mean[n, t]) * rstd[n, t])
            b += dy[n, c, t]
    dgamma[c] = g
    dbeta[c] = b


def layer_norm_backward_cuda(dx, dgamma, dbeta, dy, x, mean, rstd, gamma):
    _layer_norm_backward_input_kernel[launch(mean.size)](dx, dy, x, mean, rstd, gamma)
    _layer_norm_backward_params_kernel[launch(gamma.size)](dgamma, dbeta, dy, x, mean, rstd)


@cuda.jit(**CUDA)
def _batch_norm_statistics_kernel(mean, var, x):
    """One thread per channel: its mean and biased variance over (n, t)."""
    N, C, T = x.shape
    c = cuda.grid(1)
    if c >= C:
        return
    acc = float64(0.0)
    for n in range(N):
        for t in range(T):
            acc += x[n, c, t]
    mu = acc / (N * T)
    acc = float64(0.0)
    for n in range(N):
        for t in range(T):
            acc += (x[n, c, t] - mu) * (x[n, c, t] - mu)
    mean[c] = mu
    var[c] = acc / (N * T)


def batch_norm_statistics_cuda(mean, var, x):
    _batch_norm_statistics_kernel[launch(mean.size)](mean, var, x)


@cuda.jit(**CUDA)
def _batch_norm_forward_kernel(y, x, mean, var, gamma, beta, eps):
    N, C, T = x.shape
    k = cuda.grid(1)
    if k >= N * C * T:
        return
    n = k // (C * T)
    c = k // T % C
    t = k % T
    y[n, c, t] = gamma[c] / math.sqrt(var[c] + eps) * (x[n, c, t] - mean[c]) + beta[c]


def batch_norm_forward_cuda(y, x, mean, var, gamma, beta, eps):
    _batch_norm_forward_kernel[launch(y.size)](y, x, mean, var, gamma, beta, eps)


@cuda.jit(**CUDA)
def _batch_norm_backward_params_kernel(dgamma, dbeta, rstd, dy, x, mean, var, eps):
    """One thread per channel c: rstd[c], dgamma[c] = sum dy * xhat and dbeta[c] = sum dy over (n, t)."""
    N, C, T = x.shape
    c = cuda.grid(1)
    if c >= C:
        return
    r = 1.0 / math.sqrt(var[c] + eps)
    rstd[c] = r
    g = float64(0.0)
    b = float64(0.0)
    for n in range(N):
        for t in range(T):
            g += dy[n, c, t] * ((x[n, c, t] - mean[c]) * r)
            b += dy[n, c, t]
    dgamma[c] = g
    dbeta[c] = b


@cuda.jit(**CUDA)
def _batch_norm_backward_input_kernel(dx, dy, x, mean, rstd, gamma, dgamma, dbeta, batch_statistics):
    """One thread per element, from the channel sums dgamma = sum dy xhat and dbeta = sum dy already made."""
    N, C, T = x.shape
    k = cuda.grid(1)
    if k >= N * C * T:
        return
    n = k // (C * T)
    c = k // T % C
    t = k % T
    xhat = (x[n, c, t] - mean[c]) * rstd[c]
    # dxhat - mean(dxhat) = gamma * (dy - mean(dy)), the mean subtracted before the scaling as on the CPU
    # (kernels/norm.py): exactly 0 for a channel of one element
    mean_dy = dbeta[c] / (N * T) if batch_statistics else 0.0
    mean_dxhat_xhat = gamma[c] * dgamma[c] / (N * T) if batch_statistics else 0.0
    dx[n, c, t] = rstd[c] * (gamma[c] * (dy[n, c, t] - mean_dy) - xhat * mean_dxhat_xhat)


def batch_norm_backward_cuda(dx, dgamma, dbeta, dy, x, mean, var, gamma, eps, batch_statistics):
    rstd = cuda.device_array(var.shape, var.dtype)
    _batch_norm_backward_params_kernel[launch(gamma.size)](dgamma, dbeta, rstd, dy, x, mean, var, eps)
    _batch_norm_backward_input_kernel[launch(dx.size)](dx, dy, x, mean, rstd, gamma, dgamma, dbeta,
                                                       batch_statistics)
