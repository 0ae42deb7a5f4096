"""Losses with their gradients: mean-squared error, and softmax cross-entropy with integer labels.

Each returns the loss (a Python float) and writes the gradient of that loss with respect to the prediction.

    MSE:            pred, target: (M, P)    loss = (1 / (M P)) sum (pred - target)^2
                                            dpred = 2 (pred - target) / (M P)
    cross-entropy:  logits: (M, C)          p = softmax(logits[m]),  loss = -(1 / M) sum_m log p[m, labels[m]]
                    labels: (M,) in [0, C)  dlogits[m] = (p[m] - onehot(labels[m])) / M

One label per sequence is M = N; one label per time step is M = N * T (the caller flattens), averaged over all
steps as torch.nn.CrossEntropyLoss averages over (N, T).

The masked variants weight each row m by w[m] >= 0 (a loss mask: 0 for a step that must not count, such as the
padding after a shorter sequence or the first R-1 steps a TCN sees only in part) and average over the weights:

    masked MSE:            loss = sum_m w[m] sum_p (pred - target)^2 / (P W),   W = sum_m w[m] > 0
                           dpred[m, p] = 2 w[m] (pred - target)[m, p] / (P W)
    masked cross-entropy:  loss = -sum_m w[m] log p[m, labels[m]] / W,   dlogits[m] = w[m] (p[m] - onehot) / W

With every weight 1 they are the plain losses above.
"""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL, SERIAL_INLINED


def mse_numpy(dpred, pred, target):
    """Returns mean((pred - target)^2); writes dpred = 2 (pred - target) / pred.size."""
    diff = pred - target
    dpred[...] = 2.0 * diff / diff.size
    return float(np.mean(diff.astype(np.float64) ** 2))


def softmax_cross_entropy_numpy(dlogits, logits, labels):
    """Returns mean_m -log softmax(logits[m])[labels[m]]; writes dlogits = (softmax - onehot) / M."""
    M, C = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True)  # log-sum-exp is shift-invariant; this shift avoids overflow
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # M, C
    onehot = np.zeros_like(logits)
    onehot[np.arange(M), labels] = 1.0
    dlogits[...] = (np.exp(logp) - onehot) / M
    return float(-np.mean(logp[np.arange(M), labels].astype(np.float64)))


def masked_mse_numpy(dpred, pred, target, weights):
    """Returns sum_m w[m] mean_p (pred - target)^2 / sum w; writes dpred. pred, target: (M, P), weights: (M,)."""
    P = pred.shape[1]
    total_weight = float(weights.astype(np.float64).sum())
    diff = pred - target
    dpred[...] = 2.0 * diff * weights[:, None] / (P * total_weight)
    return float((weights.astype(np.float64) * (diff.astype(np.float64) ** 2).sum(axis=1)).sum() / (P * total_weight))


def masked_softmax_cross_entropy_numpy(dlogits, logits, labels, weights):
    """Returns sum_m w[m] (-log softmax(logits[m])[labels[m]]) / sum w; writes dlogits."""
    M, C = logits.shape
    total_weight = float(weights.astype(np.float64).sum())
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # M, C
    onehot = np.zeros_like(logits)
    onehot[np.arange(M), labels] = 1.0
    dlogits[...] = (np.exp(logp) - onehot) * weights[:, None] / total_weight
    return float(-(weights.astype(np.float64) * logp[np.arange(M), labels]).sum() / total_weight)


def _mse(dpred, pred, target):
    pf = pred.reshape(-1)
    tf = target.reshape(-1)
    gf = dpred.reshape(-1)
    size = pf.size
    total = 0.0
    for k in prange(size):  # prange reduces `total` with one partial sum per thread
        diff = pf[k] - tf[k]
        total += diff * diff
        gf[k] = 2.0 * diff / size  # d/dpred of diff^2 / size
    return total / size


def _row_cross_entropy(drow, row, label, scale):
    """-log softmax(row)[label] for one row of logits; writes drow = scale * (softmax(row) - onehot(label))."""
    C = row.shape[0]
    peak = row[0]
    for c in range(1, C):
        peak = max(peak, row[c])  # log-sum-exp is invariant to a shift; this one avoids overflow
    total = 0.0
    for c in range(C):
        total += np.exp(row[c] - peak)
    log_total = np.log(total)
    for c in range(C):
        # forward: loss = -logit[label] + log sum_c exp(logit[c]), so d loss / d logit[c] = p[c] - [c == label]
        p = np.exp(row[c] - peak - log_total)
        drow[c] = scale * (p - (1.0 if c == label else 0.0))
    return log_total - (row[label] - peak)  # -log p[label] = log sum exp - (logit[label] - peak)


row_cross_entropy = njit(**SERIAL_INLINED)(_row_cross_entropy)


def _softmax_cross_entropy(dlogits, logits, labels):
    M = logits.shape[0]
    losses = np.empty(M, np.float64)  # one slot per row: each thread writes its own, summed after the loop
    for m in prange(M):
        losses[m] = row_cross_entropy(dlogits[m], logits[m], labels[m], 1.0 / M)  # the mean over the M rows
    return losses.sum() / M


def _masked_mse(dpred, pred, target, weights):
    M, P = pred.shape
    total_weight = 0.0
    for m in range(M):
        total_weight += weights[m]
    scale = 1.0 / (P * total_weight)
    rows = np.empty(M, np.float64)  # one slot per row: each thread writes its own, summed after the loop
    for m in prange(M):
        acc = 0.0
        for p in range(P):
            diff = pred[m, p] - target[m, p]
            acc += diff * diff
            dpred[m, p] = 2.0 * weights[m] * diff * scale  # d/dpred of w[m] diff^2 / (P W)
        rows[m] = weights[m] * acc
    return rows.sum() * scale


def _masked_softmax_cross_entropy(dlogits, logits, labels, weights):
    M = logits.shape[0]
    total_weight = 0.0
    for m in range(M):
        total_weight += weights[m]
    losses = np.empty(M, np.float64)
    for m in prange(M):
        # forward: loss = sum_m w[m] loss_m / W, so row m's gradient is scaled by w[m] / W
        losses[m] = weights[m] * row_cross_entropy(dlogits[m], logits[m], labels[m], weights[m] / total_weight)
    return losses.sum() / total_weight


mse_numba = njit(**PARALLEL)(_mse)
masked_mse_numba = njit(**PARALLEL)(_masked_mse)
masked_softmax_cross_entropy_numba = njit(**PARALLEL)(_masked_softmax_cross_entropy)
softmax_cross_entropy_numba = njit(**PARALLEL)(_softmax_cross_entropy)
