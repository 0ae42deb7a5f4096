"""Losses: each returns (loss as a float, gradient of the loss with respect to the prediction).

``backend`` names the kernels that compute the loss: 'numpy' (the NumPy twins), 'cpu' (the Numba kernels) or 'cuda'
(a prediction on the GPU; targets and labels, NumPy arrays, are copied there, and only the loss, one number, comes
back). By default it follows the prediction as every default backend does (``pytcn.runtime.backends.backend_for``):
'cuda' for a device array, else 'numpy'; the training loop passes its model's backend (``pytcn.mse(pred, y,
backend=model.backend)``).
"""
import numpy as np

from ..runtime import validate
from ..runtime.backends import backend_for, is_device_array, to_numpy


def mse(pred, target, backend=None, mask=None):
    """Mean-squared error over every element: mean((pred - target)^2), and its gradient 2 (pred - target) / size.

    pred: any shape, e.g. (N, outputs) or (N, T, outputs); target: the same shape. ``mask``: weights of the
    positions pred.shape[:-1] (e.g. (N, T), or anything that broadcasts to it), >= 0, 0 for a position that must not
    count (see ``length_mask`` and ``warmup_mask``); the loss is then the weighted mean over the positions kept.
    """
    be = backend_for(pred, backend)
    pred = _as_prediction("pred", pred, be)
    target = be.array("target", target, len(pred.shape), pred.dtype, shape=pred.shape)
    dpred = be.empty(pred.shape, pred.dtype)
    if mask is None:
        return be.mse(dpred, pred, target), dpred
    shape = tuple(pred.shape)
    rows = _mask_weights(mask, shape, pred.dtype, be)  # M = the positions, each a row of shape[-1] outputs
    M, P = rows.shape[0], shape[-1]
    loss = be.masked_mse(dpred.reshape(M, P), pred.reshape(M, P), target.reshape(M, P), rows)
    return loss, dpred


def cross_entropy(logits, labels, backend=None, mask=None):
    """Softmax cross-entropy with integer labels, averaged over every labelled position, and its gradient.

    One label per sequence: logits (N, C), labels (N,). One label per time step: logits (N, T, C), labels (N, T),
    averaged over all N*T steps as torch.nn.CrossEntropyLoss does. ``mask``: weights of the positions (labels'
    shape, or anything that broadcasts to it), >= 0; the loss is then the weighted mean over the positions kept.
    """
    be = backend_for(logits, backend)
    logits = _as_prediction("logits", logits, be)
    if len(logits.shape) not in (2, 3):
        raise ValueError(f"logits must be (N, C) or (N, T, C), got shape {logits.shape}")
    shape = tuple(logits.shape)  # a tuple on every backend (the CUDA simulator's shapes index no negatives)
    C = shape[-1]
    labels = validate.labels_array("labels", labels, shape[:-1], C)
    flat = logits.reshape(logits.size // C, C)  # M, C
    dflat = be.empty(flat.shape, flat.dtype)
    if mask is None:
        loss = be.softmax_cross_entropy(dflat, flat, be.to_device(labels.reshape(-1)))
    else:
        rows = _mask_weights(mask, shape, flat.dtype, be)
        loss = be.masked_softmax_cross_entropy(dflat, flat, be.to_device(labels.reshape(-1)), rows)
    return loss, dflat.reshape(*shape)


def length_mask(lengths, T):
    """(N, T) booleans, True at the steps t < lengths[n] of sequence n: the padding after each sequence masked out
    of a loss over every step (``mse(..., mask=length_mask(lengths, T))``)."""
    T = validate.integer("T", T, 1)
    lengths = np.asarray(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be one length per sequence (a 1-D array), got shape {lengths.shape}")
    lengths = validate.lengths("lengths", lengths, lengths.shape[0], T)
    return np.arange(T)[None, :] < lengths[:, None]


def warmup_mask(T, receptive_field):
    """(T,) booleans, False at the first receptive_field - 1 steps: an output there reads zero padding in place of
    inputs before the start (it sees fewer than R steps), so a sequence-to-sequence loss may leave it out. Broadcasts
    over the batch: ``cross_entropy(logits, labels, mask=warmup_mask(T, model.receptive_field))``."""
    T = validate.integer("T", T, 1)
    R = validate.integer("receptive_field", receptive_field, 1)
    if R > T:
        raise ValueError(f"receptive_field {R} leaves no step of a sequence of T = {T} out of its warm-up: a loss "
                         f"masked so would count nothing")
    return np.arange(T) >= R - 1


def _mask_weights(mask, shape, dtype, be):
    """The mask as weights (M,) of ``dtype`` on the backend, M the positions of ``shape`` (all axes but the last)."""
    if len(shape) < 2:
        raise ValueError(f"mask needs positions to weight: a prediction of shape {shape} has none (it is one row)")
    positions = shape[:-1]
    a = np.asarray(to_numpy(mask) if is_device_array(mask) else mask)
    if a.dtype.kind not in "buif":
        raise TypeError(f"mask must hold booleans or real weights, got {a.dtype}")
    try:
        a = np.broadcast_to(a, positions)
    except ValueError:
        raise ValueError(f"mask must have the shape of the positions {positions} (or broadcast to it), got shape "
                         f"{a.shape}") from None
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)) or (a < 0).any():
        raise ValueError("mask must hold finite weights >= 0")
    if not (a > 0).any():
        raise ValueError("mask keeps no position: a loss over nothing is undefined")
    return be.to_device(np.ascontiguousarray(a.reshape(-1), dtype=dtype))


def accuracy(logits, labels):
    """The fraction of positions whose largest logit is the label's (logits may be a device array)."""
    return float(np.mean(np.argmax(to_numpy(logits), axis=-1) == labels))



def _as_prediction(name, a, be):
    if not (isinstance(a, np.ndarray) or be.is_array(a)):
        raise TypeError(f"{name} must be a NumPy array{' or a device array' if be.on_device else ''}, got "
                        f"{type(a).__name__}")
    if len(a.shape) == 0:
        raise ValueError(f"{name} must have at least one dimension, got shape {a.shape}")
    return be.array(name, a, len(a.shape), validate.kernel_dtype(a))
