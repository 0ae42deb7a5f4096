"""One way to write each piece of tutorials/build/exercises.py: plain NumPy, one slice per tap, the way pytcn's own
NumPy twins are written (kernels/conv.py). The test suite checks this file with the same checks as yours:

    python tutorials/build/solutions.py
"""
import sys

import numpy as np

from pytcn.exercises import relu, weight_norm_forward  # noqa: F401 (the given forward passes)

# 1. The causal dilated convolution: tap j reads the input shifted (K-1-j)*d steps into the past ----------------

def conv_forward(x, W, b, d):
    N, _, T = x.shape
    C_out, _, K = W.shape
    y = np.zeros((N, C_out, T), np.result_type(x, W)) + b[None, :, None]
    for j in range(K):
        shift = (K - 1 - j) * d
        if shift < T:  # a tap that reaches further back than T steps only ever reads the padding
            # y[:, :, t] += W[:, :, j] @ x[:, :, t - shift] for t >= shift
            y[:, :, shift:] += np.einsum("oi,nit->not", W[:, :, j], x[:, :, :T - shift])
    return y


def conv_backward_input(dy, W, d):
    N, _, T = dy.shape
    _, C_in, K = W.shape
    dx = np.zeros((N, C_in, T), np.result_type(dy, W))
    for j in range(K):
        shift = (K - 1 - j) * d
        if shift < T:  # x[:, :, t] was read by y[:, :, t + shift]: the same slices, the weights transposed
            dx[:, :, :T - shift] += np.einsum("oi,not->nit", W[:, :, j], dy[:, :, shift:])
    return dx


def conv_backward_weight(dy, x, d, K):
    _, C_out, T = dy.shape
    dW = np.zeros((C_out, x.shape[1], K), np.result_type(dy, x))
    for j in range(K):
        shift = (K - 1 - j) * d
        if shift < T:
            dW[:, :, j] = np.einsum("not,nit->oi", dy[:, :, shift:], x[:, :, :T - shift])
    return dW


# 2. The residual block's backward: block_forward's steps in reverse -----------------------------------------------

def block_backward(dy, cache):
    p, d = cache["params"], cache["d"]
    dz = dy * (cache["z"] > 0)  # y = relu(z)
    dz2 = dz * (cache["z2"] > 0)  # z = h2 + r, h2 = relu(z2): the branch's share of dz
    grads = {"conv2.weight": conv_backward_weight(dz2, cache["h1"], d, p["conv2.weight"].shape[2]),
             "conv2.bias": dz2.sum(axis=(0, 2))}
    dz1 = conv_backward_input(dz2, p["conv2.weight"], d) * (cache["z1"] > 0)
    grads["conv1.weight"] = conv_backward_weight(dz1, cache["x"], d, p["conv1.weight"].shape[2])
    grads["conv1.bias"] = dz1.sum(axis=(0, 2))
    dx = conv_backward_input(dz1, p["conv1.weight"], d)
    if "downsample.weight" in p:  # r = conv(x, downsample): the residual path's share of dz
        grads["downsample.weight"] = conv_backward_weight(dz, cache["x"], 1, 1)
        grads["downsample.bias"] = dz.sum(axis=(0, 2))
        dx += conv_backward_input(dz, p["downsample.weight"], 1)
    else:  # r = x
        dx += dz
    return dx, grads


# 3. Weight normalisation's backward ------------------------------------------------------------------------------

def weight_norm_backward(dW, v, g):
    norm = np.sqrt(np.sum(v * v, axis=(1, 2), keepdims=True))
    dg = np.sum(dW * v, axis=(1, 2), keepdims=True) / norm
    dv = (g / norm) * (dW - dg * v / norm)  # the part of dW along v only rescales W: it is g's
    return dv, dg


# 4. Adam --------------------------------------------------------------------------------------------------------

def adam_step(param, dparam, m, v, step, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * dparam
    v = beta2 * v + (1 - beta2) * dparam * dparam
    m_hat = m / (1 - beta1 ** step)  # the averages start at 0: undo their pull towards it
    v_hat = v / (1 - beta2 ** step)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


# 5. Spatial dropout ---------------------------------------------------------------------------------------------

def spatial_dropout_forward(x, rate, rng):
    keep = rng.random(x.shape[:2]) >= rate
    mask = keep / (1 - rate)  # inverted dropout: the expected output is x, so inference needs no scaling
    return x * mask[:, :, None], mask


def spatial_dropout_backward(dy, mask):
    return dy * mask[:, :, None]


if __name__ == "__main__":
    from pytcn.exercises import main

    sys.exit(main([__file__, *sys.argv[1:]]))
