"""Losses: each returns (loss as a float, gradient of the loss with respect to the prediction).

``backend`` names the kernels that compute the loss: 'numpy' (the NumPy twins), 'cpu' (the Numba kernels) or 'cuda'
(a prediction on the GPU; targets and labels, NumPy arrays, are copied there, and only the loss, one number, comes
back). By default it follows the prediction: 'cuda' for a device array, else 'numpy', so that NumPy arrays meet NumPy
code; the training loop passes its model's backend (``pytcn.mse(pred, y, backend=model.backend)``).
"""
import numpy as np

from . import _validate
from .backends import get_backend, is_device_array, to_numpy


def mse(pred, target, backend=None):
    """Mean-squared error over every element: mean((pred - target)^2), and its gradient 2 (pred - target) / size.

    pred: any shape, e.g. (N, outputs) or (N, T, outputs); target: the same shape.
    """
    be = _backend(pred, backend)
    pred = _as_prediction("pred", pred, be)
    target = be.array("target", target, len(pred.shape), pred.dtype, shape=pred.shape)
    dpred = be.empty(pred.shape, pred.dtype)
    return be.mse(dpred, pred, target), dpred


def cross_entropy(logits, labels, backend=None):
    """Softmax cross-entropy with integer labels, averaged over every labelled position, and its gradient.

    One label per sequence: logits (N, C), labels (N,). One label per time step: logits (N, T, C), labels (N, T),
    averaged over all N*T steps as torch.nn.CrossEntropyLoss does.
    """
    be = _backend(logits, backend)
    logits = _as_prediction("logits", logits, be)
    if len(logits.shape) not in (2, 3):
        raise ValueError(f"logits must be (N, C) or (N, T, C), got shape {logits.shape}")
    shape = tuple(logits.shape)  # a tuple on every backend (the CUDA simulator's shapes index no negatives)
    C = shape[-1]
    labels = _validate.labels_array("labels", labels, shape[:-1], C)
    flat = logits.reshape(logits.size // C, C)  # M, C
    dflat = be.empty(flat.shape, flat.dtype)
    loss = be.softmax_cross_entropy(dflat, flat, be.to_device(labels.reshape(-1)))
    return loss, dflat.reshape(*shape)


def accuracy(logits, labels):
    """The fraction of positions whose largest logit is the label's (logits may be a device array)."""
    return float(np.mean(np.argmax(to_numpy(logits), axis=-1) == labels))


def _backend(pred, backend):
    if backend is None:
        return get_backend("cuda" if is_device_array(pred) else "numpy")
    return get_backend(backend)


def _as_prediction(name, a, be):
    if not (isinstance(a, np.ndarray) or be.is_array(a)):
        raise TypeError(f"{name} must be a NumPy array{' or a device array' if be.on_device else ''}, got "
                        f"{type(a).__name__}")
    if len(a.shape) == 0:
        raise ValueError(f"{name} must have at least one dimension, got shape {a.shape}")
    return be.array(name, a, len(a.shape), _validate.kernel_dtype(a))
