"""Losses: each returns (loss as a float, gradient of the loss with respect to the prediction)."""
import numpy as np

from . import _validate
from .backends import get_backend


def mse(pred, target, backend="cpu"):
    """Mean-squared error over every element: mean((pred - target)^2), and its gradient 2 (pred - target) / size.

    pred: any shape, e.g. (N, outputs) or (N, T, outputs); target: the same shape.
    """
    be = get_backend(backend)
    pred = _as_prediction("pred", pred)
    target = _validate.float_array("target", target, pred.ndim, pred.dtype, shape=pred.shape)
    dpred = np.empty_like(pred)
    return be.mse(dpred, pred, target), dpred


def cross_entropy(logits, labels, backend="cpu"):
    """Softmax cross-entropy with integer labels, averaged over every labelled position, and its gradient.

    One label per sequence: logits (N, C), labels (N,). One label per time step: logits (N, T, C), labels (N, T),
    averaged over all N*T steps as torch.nn.CrossEntropyLoss does.
    """
    be = get_backend(backend)
    logits = _as_prediction("logits", logits)
    if logits.ndim not in (2, 3):
        raise ValueError(f"logits must be (N, C) or (N, T, C), got shape {logits.shape}")
    C = logits.shape[-1]
    labels = _validate.labels_array("labels", labels, logits.shape[:-1], C)
    flat = logits.reshape(-1, C)
    dflat = np.empty_like(flat)
    loss = be.softmax_cross_entropy(dflat, flat, labels.reshape(-1))
    return loss, dflat.reshape(logits.shape)


def accuracy(logits, labels):
    """The fraction of positions whose largest logit is the label's."""
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def _as_prediction(name, a):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
    if a.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got shape {a.shape}")
    dtype = a.dtype if a.dtype in _validate.FLOAT_DTYPES else np.float64
    return _validate.float_array(name, a, a.ndim, dtype)
