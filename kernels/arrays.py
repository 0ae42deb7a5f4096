"""The plumbing between layers: the array operations a model does besides its kernels, as NumPy references.

On the CPU these are NumPy one-liners, already as fast as a loop would be, and the CPU backends run them as they are.
They are kernels at all because on a GPU every array lives on the device, where NumPy cannot reach it: there each
one has a CUDA twin (``kernels/cuda/arrays.py``), tested against the function here.

Same conventions as every kernel: outputs first, then inputs; arrays C-contiguous.

    fill(out, value)                          out[...] = value
    copy(out, x)                              out[...] = x                             (into the model's gradients)
    add(out, a, b)                            out = a + b                              (out may be a: a += b)
    scale(out, x, s)                          out = s * x                              (gradient clipping)
    sum_squares(arrays) -> float              sum of a^2 over a list of arrays, float64   (the gradient norm)
    transpose(out, x)                         out[a, c, b] = x[a, b, c]               (N, T, C) <-> (N, C, T)
    take_steps(out, x, steps)                 out[n, c] = x[n, c, steps[n]]            the head reading one step per
                                                                                       sequence (the last, mostly)
    scatter_steps(dx, dout, steps)            dx[n, c, t] = dout[n, c] if t = steps[n] else 0   ... and its backward
    mean_steps(out, x, lengths)               out[n, c] = (1 / L_n) sum_{t < L_n} x[n, c, t], L_n = lengths[n]
                                                                                       the head reading the mean over
                                                                                       each sequence's own steps
    spread_steps(dx, dout, lengths)           dx[n, c, t] = dout[n, c] / L_n if t < L_n else 0   ... and its backward
    window(out, x, start)                     out[n, c, k] = x[n, c, start + k], 0 outside x   (padding='same')
    scale_channels(y, x, mask)                y[n, c, t] = x[n, c, t] * mask[n, c]     spatial dropout, both ways
    weight_norm(W, g, v)                      W[o] = g[o] v[o] / ||v[o]||              W: (C_out, C_in, K)
    weight_norm_backward(dg, dv, dW, g, v)    dg, dv from dW, g, v                     g: (C_out, 1, 1)
    sgd_update(param, grad, lr)               param -= lr * grad
"""
import numpy as np


def fill_numpy(out, value):
    """out[...] = value."""
    out[...] = value


def copy_numpy(out, x):
    """out[...] = x (same shape)."""
    out[...] = x


def add_numpy(out, a, b):
    """out = a + b, elementwise (out may be a itself)."""
    np.add(a, b, out=out)


def scale_numpy(out, x, s):
    """out = s * x, elementwise, s a Python float."""
    out[...] = x * x.dtype.type(s)


def sum_squares_numpy(arrays):
    """Returns the sum of the squared entries of every array in the list ``arrays``, as a Python float accumulated
    in float64 (the squared global norm of a model's gradients)."""
    # squared and summed by NumPy's own loops, never np.dot: above a few thousand elements np.dot hands the work to
    # multi-threaded OpenBLAS, whose threads then spin on the cores that the next Numba kernels need (2x slower
    # steps on 2 cores, measured: a blog step went from 18 to 40 ms)
    return sum(float(np.square(a.reshape(-1), dtype=np.float64).sum()) for a in arrays)


def transpose_numpy(out, x):
    """out[a, c, b] = x[a, b, c]: x (A, B, C) -> out (A, C, B)."""
    out[...] = x.transpose(0, 2, 1)


def take_steps_numpy(out, x, steps):
    """out[n, c] = x[n, c, steps[n]]: x (N, C, T), steps (N,) int64 in [0, T) -> out (N, C)."""
    out[...] = x[np.arange(x.shape[0]), :, steps]


def scatter_steps_numpy(dx, dout, steps):
    """The backward of take_steps: dx (N, C, T) is zero except at step steps[n] of sequence n, where it is dout[n]."""
    dx[...] = 0
    dx[np.arange(dx.shape[0]), :, steps] = dout  # forward: out[n, c] = x[n, c, steps[n]]: only that step is read


def mean_steps_numpy(out, x, lengths):
    """out[n, c] = (1 / L_n) * sum_{t < L_n} x[n, c, t], L_n = lengths[n]: x (N, C, T), lengths (N,) int64 in [1, T]
    -> out (N, C). The mean over each sequence's own steps, its first L_n.

    A sum whose ``where`` leaves each sequence's padding out: the steps after L_n are never read, so that a NaN or an
    infinity there (whatever a padded batch holds) cannot reach the mean, as 0 * NaN would through a mask product.
    """
    T = x.shape[2]
    own = np.arange(T) < lengths[:, None]  # N, T: True at the steps of the sequence itself
    out[...] = x.sum(axis=2, where=own[:, None, :]) / lengths[:, None]  # N, C


def spread_steps_numpy(dx, dout, lengths):
    """The backward of mean_steps: dx (N, C, T) is dout[n, c] / L_n at the first L_n steps of sequence n, 0 after
    them; dout (N, C), lengths (N,) int64 in [1, T]."""
    T = dx.shape[2]
    own = np.arange(T) < lengths[:, None]  # N, T
    # forward: out[n, c] = (1 / L_n) sum_{t < L_n} x[n, c, t]: each of those steps gets 1 / L_n of dout, the rest none
    np.multiply((dout / lengths[:, None]).astype(dx.dtype)[:, :, None], own[:, None, :], out=dx)


def window_numpy(out, x, start):
    """out[n, c, k] = x[n, c, start + k] where 0 <= start + k < T_x, else 0: x (N, C, T_x) -> out (N, C, T_out).

    With start = 0 and T_out > T_x it pads x with zeros on the right; with start > 0 it drops x's first steps; with
    start < 0 it puts zeros before x. Each of these is the adjoint of another: window(start) and window(-start).
    """
    T_x, T_out = x.shape[2], out.shape[2]
    out[...] = 0
    lo, hi = max(0, -start), min(T_out, T_x - start)  # the k that read inside x
    if lo < hi:
        out[:, :, lo:hi] = x[:, :, start + lo:start + hi]


def scale_channels_numpy(y, x, mask):
    """y[n, c, t] = x[n, c, t] * mask[n, c]: x, y (N, C, T), mask (N, C)."""
    np.multiply(x, mask[:, :, None], out=y)


def weight_norm_numpy(W, g, v):
    """W[o] = g[o] * v[o] / ||v[o]||, ||v[o]|| = sqrt(sum_{i, j} v[o, i, j]^2).
    W, v: (C_out, C_in, K), g: (C_out, 1, 1)."""
    norm = np.sqrt((v * v).sum(axis=(1, 2), keepdims=True))  # C_out, 1, 1
    W[...] = g * v / norm


def weight_norm_backward_numpy(dg, dv, dW, g, v):
    """From dW (the gradient of the effective weight), the gradients of g and v. Writes dg (C_out, 1, 1), dv."""
    norm = np.sqrt((v * v).sum(axis=(1, 2), keepdims=True))  # C_out, 1, 1
    # forward: W = g * u with u = v / ||v||, so dg = <dW, u> per output channel
    dg[...] = (dW * v).sum(axis=(1, 2), keepdims=True) / norm
    # and du = g dW; through u = v / ||v||: dv = (du - u <u, du>) / ||v|| = (g / ||v||) (dW - u dg)
    dv[...] = (g / norm) * (dW - v * (dg / norm))


def sgd_update_numpy(param, grad, lr):
    """param -= lr * grad, in place."""
    param -= param.dtype.type(lr) * grad


#: op name -> NumPy function; the CPU backends run these, the CUDA backend their twins in kernels/cuda/arrays.py
PLUMBING = {
    "fill": fill_numpy,
    "copy": copy_numpy,
    "add": add_numpy,
    "scale": scale_numpy,
    "sum_squares": sum_squares_numpy,
    "transpose": transpose_numpy,
    "take_steps": take_steps_numpy,
    "scatter_steps": scatter_steps_numpy,
    "mean_steps": mean_steps_numpy,
    "spread_steps": spread_steps_numpy,
    "window": window_numpy,
    "scale_channels": scale_channels_numpy,
    "weight_norm": weight_norm_numpy,
    "weight_norm_backward": weight_norm_backward_numpy,
    "sgd_update": sgd_update_numpy,
}
