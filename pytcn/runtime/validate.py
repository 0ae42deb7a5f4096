"""Checks at the public boundary. Each raises a TypeError or ValueError that names the argument and its value,
so that nothing invalid reaches a kernel (where it would surface as a Numba typing error or an IndexError)."""
import numbers
import os

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def as_dtype(name, dtype):
    """The float dtype called ``dtype``; only float32 and float64 are supported."""
    if dtype is None:  # np.dtype(None) is float64: a silent default, so None is refused rather than converted
        raise TypeError(f"{name} must be float32 or float64, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dt}")
    return dt


def integer(name, value, minimum=None, maximum=None):
    """An int (not a bool, not a float that happens to be whole), at least ``minimum`` and at most ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")
    return int(value)


def real(name, value, low=None, high=None, low_open=False, high_open=False):
    """A finite real number in the interval given (open or closed at either end)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a finite real number, got {value!r} of type {type(value).__name__}")
    if not np.isfinite(value):  # the right type with a wrong value: a ValueError
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        left = "(" if low_open else "["
        right = ")" if high_open or high is None else "]"  # inf itself is refused above
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value!r}")
    return float(value)


def boolean(name, value):
    """True or False (a NumPy bool too); anything else is refused, since bool("False") is True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} of type {type(value).__name__}")
    return bool(value)


def generator(name, rng):
    """A np.random.Generator (None is left to the caller)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{name} must be a np.random.Generator, got {rng!r} of type {type(rng).__name__}")
    return rng


def array(name, value):
    """``value`` (an array, or nested lists of numbers) as a NumPy array; nested lists of unequal lengths are refused
    by name, where np.asarray's own error ("inhomogeneous shape") would name no argument."""
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{name} must be an array (or nested lists of equal lengths), got a "
                         f"{type(value).__name__} that NumPy cannot make one of: {e}") from None


def float_array(name, x, ndim, dtype, shape=None):
    """``x`` as a C-contiguous array of ``dtype`` with ``ndim`` dimensions.

    Any real floating input is converted to ``dtype`` (a copy only when needed); integer, boolean, complex and
    object arrays are rejected rather than converted, because they are almost always a mistake (labels passed as
    inputs, say). ``shape`` may fix some dimensions: None entries are free.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must have a real floating dtype (float32 or float64), got {x.dtype}")
    shape_of(name, x, ndim, shape)
    return np.ascontiguousarray(x, dtype=dtype)


def shape_of(name, x, ndim, shape=None):
    """Checks that array ``x`` (NumPy or device) has ``ndim`` dimensions, matches ``shape`` where it is not None,
    and is not empty."""
    got_shape = tuple(x.shape)
    if len(got_shape) != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {got_shape}")
    if shape is not None:
        for axis, (want, got) in enumerate(zip(shape, got_shape)):
            if want is not None and want != got:
                raise ValueError(f"{name} must have shape {_shape_str(shape)}, got {got_shape} (axis {axis})")
    if any(s == 0 for s in got_shape):
        raise ValueError(f"{name} must not be empty, got shape {got_shape}")


def dtype_advice(given, needed):
    """How to mend an array of dtype ``given`` where ``needed`` is wanted: a model can be built in float32 or
    float64 only, so it is advised only for those."""
    if np.dtype(given) in FLOAT_DTYPES:
        return f"convert with .astype({np.dtype(needed).name}), or build the model with dtype={np.dtype(given).name}"
    return f"convert with .astype({np.dtype(needed).name}); a model is float32 or float64"


def matching_arrays(label, given, targets):
    """Checks that mapping ``given`` holds a NumPy array of the same shape and dtype for every name of ``targets``
    (name -> array, NumPy or device) and nothing else; ``label`` names the mapping in the messages."""
    if not hasattr(given, "keys"):
        raise TypeError(f"{label} must be a mapping of names to arrays, got {type(given).__name__}")
    missing = [name for name in targets if name not in given]
    extra = [name for name in given if name not in targets]
    if missing or extra:
        raise ValueError(f"{label} does not match: missing {missing}, unexpected {extra}")
    for name, target in targets.items():
        value = given[name]
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{label}[{name!r}] must be a NumPy array, got {type(value).__name__}")
        if value.shape != tuple(target.shape):
            raise ValueError(f"{label}[{name!r}] has shape {value.shape}, this model needs {tuple(target.shape)}")
        if value.dtype != target.dtype:
            raise TypeError(f"{label}[{name!r}] has dtype {value.dtype}, this model needs {target.dtype} "
                            f"({dtype_advice(value.dtype, target.dtype)})")


def lengths(name, value, N, T):
    """``value`` as N int64 sequence lengths, each in [1, T]."""
    a = np.asarray(value)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, one length per sequence, got {value!r}")
    if a.shape != (N,):
        raise ValueError(f"{name} must hold one length per sequence ({N}), got shape {a.shape}")
    if a.min() < 1 or a.max() > T:
        bad = a[(a < 1) | (a > T)][0]
        raise ValueError(f"{name} must be in [1, {T}] (the padded length), got a length {bad}")
    return a.astype(np.int64)


def kernel_dtype(x):
    """The dtype the kernels will run ``x`` in: its own when float32 or float64, else float64 (float16, say)."""
    dtype = getattr(x, "dtype", None)
    return dtype if dtype in FLOAT_DTYPES else np.dtype(np.float64)


def labels_array(name, labels, shape, n_classes):
    """Integer class labels of the given shape, each in [0, n_classes)."""
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of integer labels, got {type(labels).__name__}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{name} must have an integer dtype, got {labels.dtype}")
    if labels.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)].flat[0]
        raise ValueError(f"{name} must be in [0, {n_classes}), got a label {bad}")
    return np.ascontiguousarray(labels, dtype=np.int64)


def file_path(name, value):
    """``value`` as a str path: a str, bytes or an os.PathLike, not empty, without a NUL byte (no file system takes
    one)."""
    if not isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(f"{name}: expected a str or an os.PathLike, got {value!r} ({type(value).__name__})")
    path = os.fsdecode(value)  # bytes, as os.open takes them, decoded as the file system encodes names
    if not path:
        raise ValueError(f"{name}: expected the name of a file, got ''")
    if "\0" in path:
        raise ValueError(f"{name}: a path cannot hold a NUL byte, got {path!r}")
    return path


def one_of(name, value, allowed):
    """``value`` if it equals one of ``allowed``. Compared entry by entry with types checked first, so that an
    array or an unhashable value is reported as not allowed rather than failing inside ``==``."""
    if not any(isinstance(value, type(a)) and value == a for a in allowed):
        raise ValueError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}")
    return value


def _shape_str(shape):
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
