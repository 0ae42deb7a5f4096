"""The CUDA twins of kernels/losses.py: mean-squared error and softmax cross-entropy, masked or not.

Each writes its gradient on the device and returns the loss to the host (the step's one copy back), added up by
``_device_sum`` (``_device.py``) in float64.
"""
import math

from numba import cuda, float64

from .._config import CUDA, CUDA_DEVICE
from ._device import _device_sum, _flat, _scratch, launch


@cuda.jit(**CUDA)
def _mse_kernel(squares, dpred, pred, target):
    """One thread per element: its squared error (for the sum) and its gradient."""
    k = cuda.grid(1)
    if k < pred.size:
        diff = pred[k] - target[k]
        squares[k] = float64(diff) * diff  # squared in float64, as the NumPy twin does
        dpred[k] = 2.0 * diff / pred.size  # d/dpred of diff^2 / size


def mse_cuda(dpred, pred, target):
    squares = _scratch("terms", (pred.size,))
    _mse_kernel[launch(pred.size)](squares, _flat(dpred), _flat(pred), _flat(target))
    return _device_sum(squares) / pred.size


@cuda.jit(**CUDA_DEVICE)
def _row_cross_entropy(dlogits, logits, labels, m, scale):
    """-log softmax(logits[m])[labels[m]]; writes the row dlogits[m] = scale * (softmax - onehot)."""
    C = logits.shape[1]
    peak = logits[m, 0]
    for c in range(1, C):
        peak = max(peak, logits[m, c])  # log-sum-exp is invariant to a shift; this one avoids overflow
    total = 0.0
    for c in range(C):
        total += math.exp(logits[m, c] - peak)
    log_total = math.log(total)
    label = labels[m]
    for c in range(C):
        # forward: loss_m = -logit[label] + log sum_c exp(logit[c]), so d loss_m / d logit[c] = p[c] - [c == label]
        p = math.exp(logits[m, c] - peak - log_total)
        dlogits[m, c] = scale * (p - (1.0 if c == label else 0.0))
    return log_total - (logits[m, label] - peak)


@cuda.jit(**CUDA)
def _softmax_cross_entropy_kernel(losses, dlogits, logits, labels):
    """One thread per row m: -log softmax(logits[m])[labels[m]] into losses[m], and the row of dlogits."""
    M = logits.shape[0]
    m = cuda.grid(1)
    if m < M:
        losses[m] = _row_cross_entropy(dlogits, logits, labels, m, 1.0 / M)


def softmax_cross_entropy_cuda(dlogits, logits, labels):
    M = logits.shape[0]
    losses = _scratch("terms", (M,))
    _softmax_cross_entropy_kernel[launch(M)](losses, dlogits, logits, labels)
    return _device_sum(losses) / M


@cuda.jit(**CUDA)
def _masked_mse_kernel(rows, dpred, pred, target, weights, scale):
    """One thread per row m: w[m] times its sum of squared errors (for the sum) and its row of dpred."""
    M, P = pred.shape
    m = cuda.grid(1)
    if m >= M:
        return
    acc = float64(0.0)
    for p in range(P):
        diff = pred[m, p] - target[m, p]
        acc += float64(diff) * diff
        dpred[m, p] = 2.0 * weights[m] * diff * scale  # d/dpred of w[m] diff^2 / (P W)
    rows[m] = weights[m] * acc


def masked_mse_cuda(dpred, pred, target, weights):
    M, P = pred.shape
    total_weight = _device_sum(weights)  # one number back to the host, as every loss
    rows = _scratch("terms", (M,))
    scale = 1.0 / (P * total_weight)
    _masked_mse_kernel[launch(M)](rows, dpred, pred, target, weights, scale)
    return _device_sum(rows) * scale


@cuda.jit(**CUDA)
def _masked_softmax_cross_entropy_kernel(losses, dlogits, logits, labels, weights, total_weight):
    """One thread per row m, as the unmasked kernel, each row weighted by w[m] / W."""
    m = cuda.grid(1)
    if m < logits.shape[0]:
        losses[m] = weights[m] * _row_cross_entropy(dlogits, logits, labels, m, weights[m] / total_weight)


def masked_softmax_cross_entropy_cuda(dlogits, logits, labels, weights):
    M = logits.shape[0]
    total_weight = _device_sum(weights)
    losses = _scratch("terms", (M,))
    _masked_softmax_cross_entropy_kernel[launch(M)](losses, dlogits, logits, labels, weights, total_weight)
    return _device_sum(losses) / total_weight
