"""The estimators' inputs, checked and turned into what the model eats.

A collection of series arrives in aeon's layout and leaves as a list of (T_i, C) float arrays (the model's
(time, channels) layout) with their lengths:

    X (n_cases, n_timepoints)                2-D: univariate, one series per row
    X (n_cases, n_channels, n_timepoints)    3-D: every series of one length
    [x_0 (C, T_0), x_1 (C, T_1), ...]        a list of 2-D arrays: lengths may differ

Batches are padded with zeros at the end to their longest member and go to ``TCN.forward`` with ``lengths``; with
causal padding and the mean-pooling head, each output reads its own sequence's steps only, so the padding never
counts.
"""
import numbers

import numpy as np

NORMALIZE = ("channel", "series", None)


def is_collection(X):
    """True for a list or tuple of 2-D arrays (unequal lengths allowed); False for anything array-like else."""
    return isinstance(X, (list, tuple)) and len(X) > 0 and all(
        isinstance(x, np.ndarray) and x.ndim == 2 for x in X)


def check_collection(name, X, n_channels=None):
    """A list of 2-D (C, T_i) arrays checked: real numbers, finite, one number of channels (``n_channels`` if
    given), at least one step each. Returns a list of (T_i, C) float64 arrays."""
    series = []
    for i, x in enumerate(X):
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{name}[{i}] must hold real numbers, got dtype {x.dtype}")
        x = np.asarray(x, dtype=np.float64)
        C, T = x.shape
        if C == 0 or T == 0:
            raise ValueError(f"{name}[{i}] must have at least one channel and one step, got shape {x.shape}")
        want = series[0].shape[1] if series else n_channels
        if want is not None and C != want:
            raise ValueError(f"{name}[{i}] has {C} channels, expected {want} (every series of a collection has the "
                             f"same channels, those the estimator was fitted on)")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name}[{i}] contains NaN or infinity")
        series.append(np.ascontiguousarray(x.T))
    return series


def array_to_series(X):
    """A checked 2-D (n, T) or 3-D (n, C, T) float array -> list of (T, C) arrays (views)."""
    if X.ndim == 2:
        X = X[:, None, :]
    if X.ndim != 3:
        raise ValueError(f"X must be 2-D (n_cases, n_timepoints), 3-D (n_cases, n_channels, n_timepoints) or a list "
                         f"of 2-D (n_channels, n_timepoints) arrays, got an array of shape {X.shape}")
    return list(np.ascontiguousarray(np.transpose(X, (0, 2, 1))))


def padded(series, idx, dtype):
    """The batch ``idx`` of ``series`` as (x (N, T_max, C) zero-padded at the end, lengths (N,) int64), or lengths
    None when every member has T_max steps (the model then needs none)."""
    members = [series[i] for i in idx]
    lengths = np.array([len(s) for s in members], dtype=np.int64)
    T = int(lengths.max())
    x = np.zeros((len(members), T, members[0].shape[1]), dtype=dtype)
    for n, s in enumerate(members):
        x[n, :len(s)] = s
    return x, (None if np.all(lengths == T) else lengths)


class Normaliser:
    """Standardises series: ``kind`` 'channel' (each channel by its mean and std over every training case and real
    step, fitted once), 'series' (each series and channel by its own mean and std over its steps: Fawaz et al.'s
    z-normalisation, nothing fitted) or None (unchanged). A standard deviation of 0 becomes 1."""

    def __init__(self, kind, mean=None, scale=None):
        if kind not in NORMALIZE:
            raise ValueError(f"normalize must be one of {NORMALIZE}, got {kind!r}")
        self.kind, self.mean, self.scale = kind, mean, scale

    def fit(self, series):
        if self.kind == "channel":
            steps = np.concatenate(series, axis=0)  # every real step of every case: sum(T_i), C
            self.mean = steps.mean(axis=0)
            self.scale = _nonzero(steps.std(axis=0))
        return self

    def transform(self, series):
        if self.kind == "channel":
            return [(s - self.mean) / self.scale for s in series]
        if self.kind == "series":
            return [(s - s.mean(axis=0)) / _nonzero(s.std(axis=0)) for s in series]
        return series


def _nonzero(std):
    return np.where(std > 0, std, 1.0)


def auto_dilations(kernel_size, nb_stacks, T, receptive_field):
    """[1, 2, ..., 2^(D-1)] with the smallest D whose receptive field covers T steps."""
    dilations = [1]
    while receptive_field(kernel_size, dilations, nb_stacks) < T:
        dilations.append(2 * dilations[-1])
    return dilations


def auto_batch_size(n):
    """FCN's rule, int(min(n / 10, 16)) (Fawaz et al., classifiers/fcn.py), clipped at 1 for n < 10."""
    return max(1, min(16, n // 10))


def is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def to_json(value):
    """``value`` with NumPy arrays and scalars made plain Python, for a file's JSON meta."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def params_to_json(estimator):
    """``estimator.get_params()`` for a file's JSON meta; a parameter JSON cannot hold (a NumPy RandomState as
    random_state) is refused by name, rather than saved as something else or failing inside json."""
    import json

    params = to_json(estimator.get_params())
    for name, value in params.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}={value!r} cannot be saved (a saved estimator records its parameters as "
                             f"numbers and text): set_params({name}=...) to a value that can, e.g. an int "
                             f"random_state, before save") from None
    return params


def from_json(name, value):
    """A fitted attribute read back from JSON: the normalisation's statistics as float64 arrays."""
    return np.array(value, dtype=np.float64) if name in ("mean_", "scale_") and value is not None else value
