"""A kit for testing convolution kernels: hypothesis strategies and assertions, as pytcn tests its own.

For anyone writing a causal dilated convolution of their own (a faster loop, a GPU kernel, a port to another
language through a wrapper): draw problems of every shape that matters, and check the kernel against a reference,
for causality, and its backward passes for being adjoints of the forward. Needs hypothesis (``pip install
hypothesis``). The functions under test take and return NumPy arrays, in pytcn's layout:

    forward(x, W, b, d) -> y                 x: (N, C_in, T), W: (C_out, C_in, K), b: (C_out,), y: (N, C_out, T)
    backward_input(dy, W, d) -> dx           y[n, o, t] = b[o] + sum_{i, j} W[o, i, j] * x[n, i, t - (K-1-j)*d]
    backward_weight(dy, x, d, K) -> dW

A kernel that writes into its first argument instead (as pytcn's do: ``kernel(y, x, W, b, d)``) is adapted with
``returning``. Example, a plain loop checked, then a bug planted in it and caught:

    from pytcn import testing

    def my_conv(x, W, b, d):
        N, C_in, T = x.shape
        C_out, _, K = W.shape
        y = np.zeros((N, C_out, T)) + b[None, :, None]
        for n, o, i, j, t in itertools.product(range(N), range(C_out), range(C_in), range(K), range(T)):
            if t - (K - 1 - j) * d >= 0:
                y[n, o, t] += W[o, i, j] * x[n, i, t - (K - 1 - j) * d]
        return y

    testing.assert_matches_reference(my_conv)   # against testing.reference_forward, on drawn cases
    testing.assert_causal(my_conv)

Every assertion runs hypothesis over its ``cases`` (``conv_cases()`` by default) and, on a failure, raises an
AssertionError that names the case (shapes, dilation, dtype, seed) and where it failed (the first mismatching
indices, or the step that saw the future); hypothesis shrinks the case to the smallest it can find first. What the
function under test returns is checked before it is compared: None, an array of the wrong shape (a transposed one
included), non-numbers, NaN or infinity anywhere fail as such, with the case and the place, never as a comparison that
a NaN would pass. The kit's own arguments are checked before any case is drawn: a wrong one (a non-callable, a
tolerance that is NaN, a size strategy drawing 0) is a TypeError or ValueError that names it and the value given.
``pytcn``'s own kernel tests (tests/test_kernels.py) use this kit.
"""
from dataclasses import dataclass

import numpy as np

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover (hypothesis is in the test extra)
    raise ImportError("pytcn.testing needs hypothesis, which is not installed: pip install hypothesis "
                      "(or pip install 'pytcn[test]')") from None

from . import kernels
from .nn.gradcheck import gradcheck

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
#: relative and absolute tolerance by dtype: float32 sums of a few hundred terms lose a few ulps per term
TOLERANCE = {np.dtype(np.float32): (2e-4, 2e-5), np.dtype(np.float64): (1e-10, 1e-12)}

#: |<forward(u), dy> - <u, backward(dy)>| allowed, relative to the sum of the absolute values of the terms
ADJOINT_TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}

dtypes = st.sampled_from(FLOAT_DTYPES)
seeds = st.integers(0, 2**32 - 1)
batch_sizes = st.integers(1, 3)  # N
#: batch sizes past 16, where pytcn's weight-gradient kernel starts putting several samples in one chunk
large_batch_sizes = st.integers(1, 40)
lengths = st.integers(1, 40)  # T
channels = st.integers(1, 5)  # C_in, C_out; 5 > 4, pytcn's block of rows, so every leftover branch is reached
kernel_sizes = st.integers(1, 5)  # K
dilations = st.integers(1, 12)  # d: with K up to 5, (K-1)*d often exceeds T, so many taps only read the padding
contiguous = st.just("C")
#: every layout an array can come in: contiguous, Fortran-ordered, a strided view
LAYOUTS = ("C", "F", "strided")
all_layouts = st.sampled_from(LAYOUTS)

#: the most entries an array the kit makes may have (2**26, 512 MiB in float64), the input padded by (K-1)*d zeros in
#: the references included: far past any case a property test draws, and refused with the sizes named rather than
#: left to run out of memory (a dilation of 10**12 would ask the references for terabytes of padding)
MAX_ENTRIES = 2**26

#: the axes of each input of a convolution, in the kit's layout
AXES = {"x": ("N", "C_in", "T"), "W": ("C_out", "C_in", "K"), "b": ("C_out",), "dy": ("N", "C_out", "T")}


# ----------------------------------------------------------------------------------------------------------------
# checks of the kit's arguments: a TypeError or ValueError naming the argument and the value given


def _describe(value):
    """A value as a message names it: an array by its shape and dtype, anything else by its shortened repr and type."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    try:
        text = repr(value)
    except Exception:  # a repr that fails must not hide the message it was asked for
        text = "?"
    return f"{text if len(text) <= 60 else text[:57] + '...'} ({type(value).__name__})"


def _callable(name, value):
    if not callable(value):
        raise TypeError(f"{name}: expected a callable, got {_describe(value)}")
    return value


def _integer(name, value, low, high=None):
    """``value`` as an int, if it is an integer (not a bool) from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {_describe(value)}")
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"{name}: expected an integer {allowed}, got {value}")
    return int(value)


def _positive(name, value, below=None):
    """``value`` as a float, if it is a finite real number > 0 (and < ``below``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {_describe(value)}")
    if not (0 < value < (np.inf if below is None else below)):  # False for NaN
        allowed = "a finite number > 0" if below is None else f"a number > 0 and < {below}"
        raise ValueError(f"{name}: expected {allowed}, got {value!r}")
    return float(value)


def _strategy(name, value):
    if not isinstance(value, st.SearchStrategy):
        raise TypeError(f"{name}: expected a hypothesis strategy (such as st.just(...) or st.integers(...)), got "
                        f"{_describe(value)}")
    return value


def _float_dtype(name, value):
    if value is None:  # np.dtype(None) is float64: refused here rather than read as a choice
        raise TypeError(f"{name}: expected float32 or float64, got None")
    try:
        dtype = np.dtype(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected float32 or float64, got {_describe(value)}") from None
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected float32 or float64, got {dtype}")
    return dtype


def _conv_arrays(where="", **arrays):
    """Checks the arrays given (of x, W, b, dy) for being float32 or float64 NumPy arrays in the kit's layout, every
    size >= 1 and the sizes they share agreeing; returns the sizes by name (N, C_in, ...)."""
    sizes = {}  # axis -> (size, the array it was read from)
    for name, a in arrays.items():
        axes, label = AXES[name], where + name
        shown = f"({', '.join(axes)}{',' if len(axes) == 1 else ''})"
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{label}: expected a NumPy array {shown}, got {_describe(a)}")
        if a.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{label}: expected an array of float32 or float64, got one of {a.dtype}")
        if a.ndim != len(axes):
            raise ValueError(f"{label}: expected an array {shown}, got one of shape {a.shape}")
        for axis, size in zip(axes, a.shape):
            if size < 1:
                raise ValueError(f"{label}: shape {a.shape} has {axis} = {size}; every size must be >= 1")
            seen, other = sizes.setdefault(axis, (size, label))
            if seen != size:
                raise ValueError(f"{label}: shape {a.shape} has {axis} = {size}, but {other} has {axis} = {seen}")
    return {axis: size for axis, (size, _) in sizes.items()}


def _padded_entries(N, C_in, T, K, d):
    """Refuses a problem whose input, padded by (K-1)*d zeros as the references pad it, exceeds MAX_ENTRIES."""
    entries = N * C_in * (T + (K - 1) * d)
    if entries > MAX_ENTRIES:
        raise ValueError(f"d: {d} with K = {K} pads the input (N={N}, C_in={C_in}, T={T}) to {entries:.3g} "
                         f"entries, more than the {MAX_ENTRIES} (MAX_ENTRIES) the kit allocates")


def _cases(cases, default):
    return default if cases is None else _strategy("cases", cases)


def _max_examples(value):
    return _integer("max_examples", value, 1)


def _drawn_case(case):
    if not isinstance(case, ConvCase):
        raise TypeError(f"cases: drew {_describe(case)}, expected a ConvCase (draw them with testing.conv_cases())")
    return case


def _name(fn, default):
    return getattr(fn, "__name__", default)


# ----------------------------------------------------------------------------------------------------------------
# cases


def normal(rng, shape, dtype):
    """Standard normal values of ``dtype`` (float32 or float64), C-contiguous; ``rng``: a ``np.random.Generator``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a np.random.Generator, got {_describe(rng)}")
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)  # as NumPy takes it
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"shape: expected a tuple of sizes, got {_describe(shape)}")
    shape = tuple(_integer(f"shape[{k}]", size, 0) for k, size in enumerate(shape))
    if np.prod(shape, dtype=float) > MAX_ENTRIES:
        raise ValueError(f"shape: {shape} has more than the {MAX_ENTRIES} (MAX_ENTRIES) entries the kit allocates")
    return np.ascontiguousarray(rng.standard_normal(shape).astype(_float_dtype("dtype", dtype)))


def _laid_out(a, layout):
    """``a``'s values as a C-contiguous array, a Fortran-ordered copy, or a view with a gap between elements."""
    if layout == "C":
        return a
    if layout == "F":
        return np.asfortranarray(a)
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    return wide[..., ::2]  # every other element of a larger array: strided, not contiguous


@dataclass(frozen=True)
class ConvCase:
    """One convolution problem: x (N, C_in, T), W (C_out, C_in, K), b (C_out,), an upstream gradient dy
    (N, C_out, T), dilation d, and the seed the arrays came from. Checked when made: NumPy arrays of one dtype,
    float32 or float64, of these shapes (every size >= 1), finite; d an integer >= 1, seed one >= 0."""

    x: np.ndarray
    W: np.ndarray
    b: np.ndarray
    dy: np.ndarray
    d: int
    seed: int = 0

    def __post_init__(self):
        _conv_arrays("ConvCase ", x=self.x, W=self.W, b=self.b, dy=self.dy)
        if len({a.dtype for a in (self.x, self.W, self.b, self.dy)}) > 1:
            raise TypeError(f"ConvCase: x, W, b and dy must share one dtype, got {self.x.dtype}, {self.W.dtype}, "
                            f"{self.b.dtype} and {self.dy.dtype}")
        for name in ("x", "W", "b", "dy"):  # a NaN drawn in would fail every check, blaming the function under test
            a = getattr(self, name)
            if not np.isfinite(a).all():
                raise ValueError(f"ConvCase {name}: {int((~np.isfinite(a)).sum())} of {a.size} entries are NaN or "
                                 f"infinite")
        _integer("ConvCase d", self.d, 1)
        _integer("ConvCase seed", self.seed, 0)

    @property
    def dtype(self):
        return self.x.dtype

    @property
    def N(self):
        return self.x.shape[0]

    @property
    def C_in(self):
        return self.x.shape[1]

    @property
    def T(self):
        return self.x.shape[2]

    @property
    def C_out(self):
        return self.W.shape[0]

    @property
    def K(self):
        return self.W.shape[2]

    @property
    def receptive_field(self):
        return (self.K - 1) * self.d + 1

    def __str__(self):
        layout = "" if all(a.flags.c_contiguous for a in (self.x, self.W, self.b, self.dy)) else ", non-contiguous"
        return (f"case N={self.N} C_in={self.C_in} C_out={self.C_out} T={self.T} K={self.K} d={self.d} "
                f"{self.dtype}{layout} (seed {self.seed})")


def conv_cases(dtype=dtypes, N=batch_sizes, T=lengths, C_in=channels, C_out=channels, K=kernel_sizes, d=dilations,
               layouts=contiguous):
    """Convolution problems: every size can be pinned (``N=st.just(1)``) or widened (``N=large_batch_sizes``).
    Values are standard normal, made by NumPy from a drawn seed, so sizes shrink while values stay well
    conditioned. ``layouts``: of each array, "C" (contiguous, the default), "F" (Fortran order) or "strided" (a view
    of every other element); ``layouts=all_layouts`` draws all three. Every argument is a hypothesis strategy; what
    it draws is checked as it is drawn (sizes integers >= 1, dtype float32 or float64, arrays of at most MAX_ENTRIES
    entries), a wrong draw failing with the argument's name."""
    strategies = dict(dtype=dtype, N=N, T=T, C_in=C_in, C_out=C_out, K=K, d=d, layouts=layouts)
    for name, value in strategies.items():
        _strategy(name, value)
    return _conv_cases(**strategies)


@st.composite
def _conv_cases(draw, dtype, N, T, C_in, C_out, K, d, layouts):
    dtype = _float_dtype("dtype (drawn by conv_cases)", draw(dtype))
    sizes = {name: _integer(f"{name} (drawn by conv_cases)", draw(size), 1)
             for name, size in dict(N=N, T=T, C_in=C_in, C_out=C_out, K=K, d=d).items()}
    N, T, C_in, C_out, K, d = sizes.values()
    for name, shape in dict(x=(N, C_in, T), W=(C_out, C_in, K), dy=(N, C_out, T)).items():
        if np.prod(shape, dtype=float) > MAX_ENTRIES:
            raise ValueError(f"conv_cases drew N={N} C_in={C_in} C_out={C_out} T={T} K={K}: {name} {shape} would have "
                             f"more than the {MAX_ENTRIES} (MAX_ENTRIES) entries the kit allocates")
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    arrays = [normal(rng, (N, C_in, T), dtype), normal(rng, (C_out, C_in, K), dtype), normal(rng, (C_out,), dtype),
              normal(rng, (N, C_out, T), dtype)]
    laid_out = []
    for a in arrays:
        layout = draw(layouts)
        if not isinstance(layout, str) or layout not in LAYOUTS:
            raise ValueError(f"layouts (drawn by conv_cases): expected 'C', 'F' or 'strided', got {_describe(layout)}")
        laid_out.append(_laid_out(a, layout))
    x, W, b, dy = laid_out
    return ConvCase(x=x, W=W, b=b, dy=dy, d=d, seed=seed)


# ----------------------------------------------------------------------------------------------------------------
# references: pytcn's NumPy twins (kernels/conv.py), returning their result


def reference_forward(x, W, b, d):
    """y = conv(x): pytcn's NumPy twin (explicit padding, one matrix product per tap).
    x: (N, C_in, T), W: (C_out, C_in, K), b: (C_out,) -> y: (N, C_out, T)."""
    sizes = _conv_arrays(x=x, W=W, b=b)
    _padded_entries(sizes["N"], sizes["C_in"], sizes["T"], sizes["K"], _integer("d", d, 1))
    y = np.empty((x.shape[0], W.shape[0], x.shape[2]), np.result_type(x, W))
    kernels.conv_forward_numpy(y, np.ascontiguousarray(x), np.ascontiguousarray(W), np.ascontiguousarray(b), d)
    return y


def reference_backward_input(dy, W, d):
    """dx, the gradient of <conv(x), dy> in x. dy: (N, C_out, T), W: (C_out, C_in, K) -> dx: (N, C_in, T)."""
    sizes = _conv_arrays(dy=dy, W=W)
    _padded_entries(sizes["N"], sizes["C_in"], sizes["T"], sizes["K"], _integer("d", d, 1))
    dx = np.empty((dy.shape[0], W.shape[1], dy.shape[2]), np.result_type(dy, W))
    kernels.conv_backward_input_numpy(dx, np.ascontiguousarray(dy), np.ascontiguousarray(W), d)
    return dx


def reference_backward_weight(dy, x, d, K):
    """dW, the gradient of <conv(x), dy> in W. dy: (N, C_out, T), x: (N, C_in, T) -> dW: (C_out, C_in, K)."""
    sizes = _conv_arrays(dy=dy, x=x)
    _padded_entries(sizes["N"], sizes["C_in"], sizes["T"], _integer("K", K, 1), _integer("d", d, 1))
    dW = np.empty((dy.shape[1], x.shape[1], K), np.result_type(dy, x))
    kernels.conv_backward_weight_numpy(dW, np.ascontiguousarray(dy), np.ascontiguousarray(x), d)
    return dW


def returning(kernel, output_shape):
    """A kernel that writes its output into its first argument (``kernel(out, *inputs)``, as pytcn's do), made to
    return it: ``output_shape(*inputs)`` gives the shape; the output starts as NaN, so that an element the kernel
    forgets to write fails every assertion (as NaN, at its indices)."""
    _callable("kernel", kernel)
    _callable("output_shape", output_shape)

    def call(*inputs):
        shape = output_shape(*inputs)
        if not isinstance(shape, (tuple, list)):
            raise TypeError(f"output_shape: returned {_describe(shape)}, expected a tuple of sizes")
        shape = tuple(_integer(f"output_shape: returned {tuple(shape)}, its size {k}", n, 0)
                      for k, n in enumerate(shape))
        if np.prod(shape, dtype=float) > MAX_ENTRIES:
            raise ValueError(f"output_shape: returned {shape}, more than the {MAX_ENTRIES} (MAX_ENTRIES) entries the "
                             f"kit allocates")
        dtypes = [a.dtype for a in inputs if isinstance(a, np.ndarray)]
        if not any(dtype in FLOAT_DTYPES for dtype in dtypes):
            raise TypeError(f"returning({_name(kernel, 'kernel')}): its inputs hold no float32 or float64 array (of "
                            f"{', '.join(map(str, dtypes)) or 'no array at all'}); the output starts as NaN, which "
                            f"needs a float dtype")
        out = np.full(shape, np.nan, np.result_type(*dtypes))
        kernel(out, *inputs)
        return out

    call.__name__ = _name(kernel, "kernel")
    return call


def forward_shape(x, W, b, d):
    """(N, C_out, T), the shape of y."""
    sizes = _conv_arrays(x=x, W=W, b=b)
    _integer("d", d, 1)  # unused here, but checked: the kernel given these inputs by returning() will read it
    return (sizes["N"], sizes["C_out"], sizes["T"])


def backward_input_shape(dy, W, d):
    """(N, C_in, T), the shape of dx."""
    sizes = _conv_arrays(dy=dy, W=W)
    _integer("d", d, 1)
    return (sizes["N"], sizes["C_in"], sizes["T"])


def backward_weight_shape(dy, x, d, K):
    """(C_out, C_in, K), the shape of dW."""
    sizes = _conv_arrays(dy=dy, x=x)
    _integer("d", d, 1)
    return (sizes["C_out"], sizes["C_in"], _integer("K", K, 1))


# ----------------------------------------------------------------------------------------------------------------
# assertions


def _numbers(name, value):
    """``value`` as an array of real numbers (bool, integer or float), or a TypeError naming ``name``."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError):  # a ragged list, say
        a = None
    if a is None or a.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected an array of real numbers, got {_describe(value)}")
    return a


def assert_close(actual, expected, dtype=None, what="arrays"):
    """Fails with the first mismatches and their indices when ``actual`` and ``expected`` differ beyond the tolerance
    of ``dtype`` (default: the dtype of ``expected``): TOLERANCE's for float32 and float64. Integer and boolean
    dtypes are compared exactly (they carry no roundoff); other dtypes (float16, complex) have no tolerance here and
    are refused with a TypeError. A NaN or an infinity in either array fails, with its indices: a NaN is unequal to
    everything, and an infinity in ``expected`` would make the absolute tolerance (scaled by its largest entry)
    infinite."""
    actual, expected = _numbers("actual", actual), _numbers("expected", expected)
    if dtype is None:
        dtype, whose = expected.dtype, " (the dtype of expected)"
    else:
        try:
            dtype, whose = np.dtype(dtype), ""
        except (TypeError, ValueError):
            raise TypeError(f"dtype: expected a NumPy dtype, got {_describe(dtype)}") from None
    if dtype.kind in "biu":
        rtol = atol = 0.0
    elif dtype in TOLERANCE:
        rtol, atol = TOLERANCE[dtype]
    else:
        raise TypeError(f"dtype: no tolerance for {dtype}{whose}: TOLERANCE has float32 and float64, and integer and "
                        f"boolean dtypes compare exactly")
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape}, expected {expected.shape}")
    _finite(f"{what} (actual)", actual)
    _finite(f"{what} (expected)", expected)
    if rtol == atol == 0.0:
        bad, tolerance = actual != expected, "exactly"
    else:
        scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
        with np.errstate(over="ignore"):  # a difference past the largest float is inf: not close, as it should be
            bad = ~np.isclose(actual, expected, rtol=rtol, atol=atol * scale)
        tolerance = f"rtol={rtol}, atol={atol}*{scale:.3g}"
    if bad.any():
        idx = np.argwhere(bad)[:5]
        lines = [f"  at {tuple(int(i) for i in k)}: {actual[tuple(k)]!r}, expected {expected[tuple(k)]!r}"
                 for k in idx]
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} entries differ ({tolerance})\n" +
                             "\n".join(lines))


def _finite(what, a):
    """``a`` as an array, after failing with the first non-finite entries and their indices: a comparison with NaN is
    False, so an assertion that compares must see every NaN or infinity first, or it passes the worst result."""
    a = np.asarray(a)
    bad = ~np.isfinite(a) if a.dtype.kind in "fc" else np.zeros(a.shape, bool)
    if bad.any():
        idx = np.argwhere(bad)[:5]
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} entries are NaN or infinite\n" + "\n".join(
            f"  at {tuple(int(i) for i in k)}: {a[tuple(k)]!r}" for k in idx))
    return a


def _returned(what, value, shape=None, axes=None):
    """What a function under test returned, as an array, after failing (an AssertionError: the function is what is
    wrong) on None, on what is not an array of real numbers, on a shape other than ``shape`` (named by ``axes``) and
    on NaN or infinity anywhere."""
    if value is None:
        raise AssertionError(f"{what}: returned None, expected an array" +
                             ("" if shape is None else f" of shape {tuple(shape)}, {axes}"))
    try:
        a = np.asarray(value)
    except (TypeError, ValueError):
        a = None
    if a is None or a.dtype.kind not in "iuf":
        raise AssertionError(f"{what}: returned {_describe(value)}, expected an array of real numbers")
    if shape is not None and a.shape != tuple(shape):
        transposed = " (the same sizes in another order: its axes transposed?)" if sorted(a.shape) == sorted(
            shape) else ""
        raise AssertionError(f"{what}: returned shape {a.shape}, expected {tuple(shape)}, {axes}{transposed}")
    return _finite(what, a)


def _forward_args(case):
    return (case.x, case.W, case.b, case.d)


def _run(check, cases, max_examples):
    """Runs ``check(case)`` over ``cases`` with hypothesis (no deadline: a first call may compile), raising the first
    failure it finds, shrunk (not a group of several)."""
    given(case=cases)(settings(max_examples=max_examples, deadline=None, database=None,
                               report_multiple_bugs=False)(check))()


def assert_matches_reference(fn, reference=reference_forward, cases=None, args=_forward_args, max_examples=60):
    """``fn(*args(case))`` equals ``reference(*args(case))`` on every drawn case, to the tolerance of the case's dtype.
    By default both are convolutions ``(x, W, b, d) -> y``; for another op give ``args``, e.g.
    ``args=lambda c: (c.dy, c.W, c.d)`` and ``reference=reference_backward_input``. Fails, naming the case, when fn
    returns None, an array of another shape than the reference's, NaN or infinity, or writes into its input."""
    _callable("fn", fn)
    _callable("reference", reference)
    _callable("args", args)
    cases = _cases(cases, conv_cases())
    max_examples = _max_examples(max_examples)
    name, reference_name = _name(fn, "fn"), _name(reference, "reference")

    def check(case):
        _drawn_case(case)
        inputs = args(case)
        if not isinstance(inputs, (tuple, list)):
            raise TypeError(f"args: returned {_describe(inputs)} for {case}, expected a tuple of fn's arguments")
        copies = [a.copy() if isinstance(a, np.ndarray) else a for a in inputs]
        try:
            expected = reference(*copies)
        except (TypeError, ValueError) as error:  # say which arguments, and whose: the reference may be pytcn's
            kind = TypeError if isinstance(error, TypeError) else ValueError
            raise kind(f"reference: {reference_name} refused the arguments args gave it for {case}: {error}") from error
        expected = _returned(f"{reference_name} (the reference) on {case}", expected)
        actual = _returned(f"{name} on {case}", fn(*inputs), expected.shape, "the reference's shape")
        for k, (a, b) in enumerate(zip(copies, inputs)):
            if isinstance(a, np.ndarray) and not np.array_equal(a, b, equal_nan=True):
                raise AssertionError(f"{name} on {case}: wrote into its input {k}")
        assert_close(actual, expected, case.dtype, what=f"{name} on {case}")

    _run(check, cases, max_examples)


def assert_causal(fn, cases=None, max_examples=60):
    """The output at step t never depends on the input after t: for every step s, changing the input from step s on
    leaves the output before s exactly as it was, and changes the output at s. ``fn(x, W, b, d) -> y``, y of shape
    (N, C_out, T): another shape, None, NaN or infinity fails as such, naming the case."""
    _callable("fn", fn)
    cases = _cases(cases, conv_cases(T=st.integers(2, 40)))
    max_examples = _max_examples(max_examples)
    name = _name(fn, "fn")

    def check(case):
        _drawn_case(case)
        shape = (case.N, case.C_out, case.T)
        y = _returned(f"{name} on {case}", fn(case.x, case.W, case.b, case.d), shape, "(N, C_out, T)")
        rng = np.random.default_rng(case.seed)
        for s in range(1, case.T):
            x = case.x.copy()
            x[:, :, s:] = rng.standard_normal(x[:, :, s:].shape) * 10
            y2 = _returned(f"{name} on {case}, its input changed from step {s} on", fn(x, case.W, case.b, case.d),
                           shape, "(N, C_out, T)")
            moved = np.argwhere(y2[:, :, :s] != y[:, :, :s])
            if moved.size:
                n, o, t = moved[0]
                raise AssertionError(f"{name} on {case}: not causal: changing the input from step {s} on changed the "
                                     f"output at step {t} (sample {n}, channel {o})")
            # ... and the change shows at step s itself (tap K-1 reads the current step): the outputs compared above
            # are aligned with the inputs, not shifted later in time
            if np.array_equal(y2[:, :, s], y[:, :, s]):
                raise AssertionError(f"{name} on {case}: the output at step {s} ignored the input at step {s} (an "
                                     f"output shifted in time?)")

    _run(check, cases, max_examples)


def assert_adjoint(forward, backward, wrt="x", cases=None, max_examples=60):
    """The backward pass is the adjoint of the forward's linear part: <forward(u), dy> = <u, backward(dy)>
    for the convolution without bias (linear in x for ``wrt="x"``, in W for ``wrt="W"``). ``forward(x, W, b, d)``;
    ``backward(dy, W, d) -> dx`` for x, ``backward(dy, x, d, K) -> dW`` for W. What this proves: the backward is the
    exact transpose of the forward, for any upstream gradient, without finite differences. The cases are float64 by
    default, where the two sides agree to 1e-10 of the sum of their terms' absolute values (1e-5 in float32). An
    output of the wrong shape, None, NaN or infinity, or inner products that overflow, fail naming the case."""
    _callable("forward", forward)
    _callable("backward", backward)
    if not isinstance(wrt, str) or wrt not in ("x", "W"):
        raise ValueError(f"wrt: expected 'x' or 'W', got {_describe(wrt)}")
    cases = _cases(cases, conv_cases(dtype=st.just(np.dtype(np.float64))))
    max_examples = _max_examples(max_examples)
    forward_name, name = f"{_name(forward, 'forward')} (the forward)", _name(backward, "backward")

    def check(case):
        _drawn_case(case)
        zero = np.zeros_like(case.b)
        y_shape = (case.N, case.C_out, case.T)
        y = _returned(f"{forward_name} on {case}", forward(case.x, case.W, zero, case.d), y_shape, "(N, C_out, T)")
        lhs = float(np.vdot(y, case.dy))
        if wrt == "x":
            dx = _returned(f"{name} on {case}", backward(case.dy, case.W, case.d), case.x.shape, "(N, C_in, T)")
            rhs = float(np.vdot(case.x, dx))
        else:
            dW = _returned(f"{name} on {case}", backward(case.dy, case.x, case.d, case.K), case.W.shape,
                           "(C_out, C_in, K)")
            rhs = float(np.vdot(case.W, dW))
        # the sum of the absolute values of the terms both sides add (an inner product may cancel to about 0)
        y_abs = _returned(f"{forward_name} on {case}, given |x| and |W|",
                          forward(np.abs(case.x), np.abs(case.W), zero, case.d), y_shape, "(N, C_out, T)")
        scale = float(np.vdot(y_abs, np.abs(case.dy)))
        if not all(np.isfinite([lhs, rhs, scale])):  # an infinite scale would let any difference through
            raise AssertionError(f"{name} on {case}: the inner products overflowed: <forward({wrt}), dy> = {lhs!r}, "
                                 f"<{wrt}, backward(dy)> = {rhs!r}, the sum of their terms' absolute values "
                                 f"{scale!r}")
        if not abs(lhs - rhs) <= ADJOINT_TOLERANCE[case.dtype] * max(scale, 1e-300):
            raise AssertionError(f"{name} on {case}: not the adjoint of the forward in {wrt}: <forward({wrt}), dy> = "
                                 f"{lhs!r} but <{wrt}, backward(dy)> = {rhs!r}")

    _run(check, cases, max_examples)


def _module_output(result):
    """y from what a module's forward returns, read as gradcheck reads it: a layer's (y, cache), a block's
    ((out, branch), cache), or a model's y."""
    if isinstance(result, tuple):
        result = result[0]
        return result[0] if isinstance(result, tuple) else result
    return result


def assert_gradcheck(module, x=None, max_relative_error=1e-6, seed=0, **options):
    """A layer's, block's or model's backward agrees with central differences (``pytcn.gradcheck``, float64, a random
    upstream gradient): worst relative error below ``max_relative_error`` (a number in (0, 1)). ``x``: the input, by
    default a small standard normal (N=2, T=7) with the module's input channels. ``options`` go to gradcheck: dy, a
    float64 array of the output's shape; forward, a callable; h, a step > 0; check_input, a bool. A gradient with NaN
    or infinity (or a forward with them near x) fails, naming the array.

    Randomise the biases of a freshly built model first (they start at 0): a ReLU whose input is then exactly 0 sits
    on its kink, where a central difference measures half a slope and the backward (as PyTorch's) takes none, so a
    correct backward fails there. pytcn's own gradient tests draw every parameter at random for this reason."""
    if not all(callable(getattr(module, attr, None)) for attr in ("forward", "backward")) or not callable(
            getattr(getattr(module, "params", None), "items", None)):
        raise TypeError(f"module: expected a pytcn layer, block or model (with forward, backward and params), got "
                        f"{_describe(module)}")
    max_relative_error = _positive("max_relative_error", max_relative_error, below=1)
    seed = _integer("seed", seed, 0)
    if "h" in options:
        _positive("h", options["h"])
    if "forward" in options:
        _callable("forward", options["forward"])
    if "check_input" in options and not isinstance(options["check_input"], (bool, np.bool_)):
        raise TypeError(f"check_input: expected True or False, got {_describe(options['check_input'])}")
    read_only = [name for name, p in module.params.items()
                 if isinstance(p, np.ndarray) and not p.flags.writeable]
    if read_only:
        raise ValueError(f"module: params[{read_only[0]!r}] is read-only; the check perturbs every parameter in place")
    if x is None:
        rng = np.random.default_rng(seed)
        if hasattr(module, "blocks"):  # a model: (N, T, C_in)
            x = rng.standard_normal((2, 7, module.input_channels))
        elif hasattr(module, "in_features"):  # a linear layer: (M, F)
            x = rng.standard_normal((5, module.in_features))
        else:  # a layer or block in the kernels' layout: (N, C_in, T)
            channels = getattr(module, "in_channels", None) or getattr(getattr(module, "conv1", None), "in_channels",
                                                                       None)
            if channels is None:
                raise TypeError(f"module: {type(module).__name__} says no input channels (no input_channels, "
                                f"in_features, in_channels or conv1.in_channels): give x")
            x = rng.standard_normal((2, channels, 7))
    elif isinstance(x, np.ndarray) and x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError(f"x: {int((~np.isfinite(x)).sum())} of {x.size} entries are NaN or infinite")
    dy = options.get("dy")
    if dy is not None:
        if not isinstance(dy, np.ndarray) or dy.dtype != np.float64:
            raise TypeError(f"dy: expected a float64 NumPy array, got {_describe(dy)}")
        if not np.isfinite(dy).all():
            raise ValueError(f"dy: {int((~np.isfinite(dy)).sum())} of {dy.size} entries are NaN or infinite")
        if isinstance(x, np.ndarray):  # else gradcheck refuses x, by name
            y = np.asarray(_module_output(options.get("forward", module.forward)(x)))
            if dy.shape != y.shape:
                raise ValueError(f"dy: expected the output's shape {y.shape}, got {dy.shape}")
    result = gradcheck(module, x, seed=seed, **options)
    not_finite = [name for name, error in result.errors.items() if not np.isfinite(error)]
    if not_finite:  # gradcheck's worst error skips a NaN (NaN > worst is False): a NaN gradient would pass
        raise AssertionError(f"gradient check of {type(module).__name__} failed: the relative error of "
                             f"{', '.join(not_finite)} is NaN or infinite (NaN or infinity in the backward's gradient, "
                             f"or in the forward near x); errors: " +
                             ", ".join(f"{name}: {error:.2e}" for name, error in result.errors.items()))
    if not result.max_rel_error < max_relative_error:
        raise AssertionError(f"gradient check of {type(module).__name__} failed: {result}")
    return result
