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
indices, or the step that saw the future); hypothesis shrinks the case to the smallest it can find first.
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
all_layouts = st.sampled_from(["C", "F", "strided"])


def normal(rng, shape, dtype):
    """Standard normal values of ``dtype``, C-contiguous."""
    return np.ascontiguousarray(rng.standard_normal(shape).astype(dtype))


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
    (N, C_out, T), dilation d, and the seed the arrays came from."""

    x: np.ndarray
    W: np.ndarray
    b: np.ndarray
    dy: np.ndarray
    d: int
    seed: int = 0

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


@st.composite
def conv_cases(draw, dtype=dtypes, N=batch_sizes, T=lengths, C_in=channels, C_out=channels, K=kernel_sizes,
               d=dilations, layouts=contiguous):
    """Convolution problems: every size can be pinned (``N=st.just(1)``) or widened (``N=large_batch_sizes``).
    Values are standard normal, made by NumPy from a drawn seed, so sizes shrink while values stay well
    conditioned. ``layouts``: of each array, "C" (contiguous, the default), "F" (Fortran order) or "strided" (a view
    of every other element); ``layouts=all_layouts`` draws all three."""
    dtype = draw(dtype)
    N, T, C_in, C_out, K, d = draw(N), draw(T), draw(C_in), draw(C_out), draw(K), draw(d)
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    arrays = [normal(rng, (N, C_in, T), dtype), normal(rng, (C_out, C_in, K), dtype), normal(rng, (C_out,), dtype),
              normal(rng, (N, C_out, T), dtype)]
    x, W, b, dy = (_laid_out(a, draw(layouts)) for a in arrays)
    return ConvCase(x=x, W=W, b=b, dy=dy, d=d, seed=seed)


# ----------------------------------------------------------------------------------------------------------------
# references: pytcn's NumPy twins (kernels/conv.py), returning their result


def reference_forward(x, W, b, d):
    """y = conv(x): pytcn's NumPy twin (explicit padding, one matrix product per tap)."""
    y = np.empty((x.shape[0], W.shape[0], x.shape[2]), np.result_type(x, W))
    kernels.conv_forward_numpy(y, np.ascontiguousarray(x), np.ascontiguousarray(W), np.ascontiguousarray(b), d)
    return y


def reference_backward_input(dy, W, d):
    dx = np.empty((dy.shape[0], W.shape[1], dy.shape[2]), np.result_type(dy, W))
    kernels.conv_backward_input_numpy(dx, np.ascontiguousarray(dy), np.ascontiguousarray(W), d)
    return dx


def reference_backward_weight(dy, x, d, K):
    dW = np.empty((dy.shape[1], x.shape[1], K), np.result_type(dy, x))
    kernels.conv_backward_weight_numpy(dW, np.ascontiguousarray(dy), np.ascontiguousarray(x), d)
    return dW


def returning(kernel, output_shape):
    """A kernel that writes its output into its first argument (``kernel(out, *inputs)``, as pytcn's do), made to
    return it: ``output_shape(*inputs)`` gives the shape; the output starts as NaN, so that an element the kernel
    forgets to write fails every comparison."""
    def call(*inputs):
        arrays = [a for a in inputs if isinstance(a, np.ndarray)]
        out = np.full(output_shape(*inputs), np.nan, np.result_type(*arrays))
        kernel(out, *inputs)
        return out

    call.__name__ = getattr(kernel, "__name__", "kernel")
    return call


def forward_shape(x, W, b, d):
    return (x.shape[0], W.shape[0], x.shape[2])


def backward_input_shape(dy, W, d):
    return (dy.shape[0], W.shape[1], dy.shape[2])


def backward_weight_shape(dy, x, d, K):
    return (dy.shape[1], x.shape[1], K)


# ----------------------------------------------------------------------------------------------------------------
# assertions


def assert_close(actual, expected, dtype=None, what="arrays"):
    """Fails with the first mismatches and their indices when ``actual`` and ``expected`` differ beyond the tolerance
    of ``dtype`` (default: the dtype of ``expected``)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape}, expected {expected.shape}")
    rtol, atol = TOLERANCE[np.dtype(dtype or expected.dtype)]
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    bad = ~np.isclose(actual, expected, rtol=rtol, atol=atol * scale)  # NaN is close to nothing, NaN included
    if bad.any():
        idx = np.argwhere(bad)[:5]
        lines = [f"  at {tuple(int(i) for i in k)}: {actual[tuple(k)]!r}, expected {expected[tuple(k)]!r}"
                 for k in idx]
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} entries differ (rtol={rtol}, "
                             f"atol={atol}*{scale:.3g})\n" + "\n".join(lines))


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


def _forward_args(case):
    return (case.x, case.W, case.b, case.d)


def _run(check, cases, max_examples):
    """Runs ``check(case)`` over ``cases`` with hypothesis (no deadline: a first call may compile)."""
    given(case=cases)(settings(max_examples=max_examples, deadline=None, database=None)(check))()


def assert_matches_reference(fn, reference=reference_forward, cases=None, args=_forward_args, max_examples=60):
    """``fn(*args(case))`` equals ``reference(*args(case))`` on every drawn case, to the tolerance of the case's dtype.
    By default both are convolutions ``(x, W, b, d) -> y``; for another op give ``args``, e.g.
    ``args=lambda c: (c.dy, c.W, c.d)`` and ``reference=reference_backward_input``."""
    cases = conv_cases() if cases is None else cases

    def check(case):
        inputs = args(case)
        copies = [a.copy() if isinstance(a, np.ndarray) else a for a in inputs]
        expected = reference(*copies)
        actual = fn(*inputs)
        for k, (a, b) in enumerate(zip(copies, inputs)):
            if isinstance(a, np.ndarray) and not np.array_equal(a, b, equal_nan=True):
                raise AssertionError(f"{getattr(fn, '__name__', 'fn')} on {case}: wrote into its input {k}")
        assert_close(actual, expected, case.dtype, what=f"{getattr(fn, '__name__', 'fn')} on {case}")

    _run(check, cases, max_examples)


def assert_causal(fn, cases=None, max_examples=60):
    """The output at step t never depends on the input after t: for every step s, changing the input from step s on
    leaves the output before s exactly as it was, and changes the output at s. ``fn(x, W, b, d) -> y``."""
    cases = conv_cases(T=st.integers(2, 40)) if cases is None else cases

    def check(case):
        name = getattr(fn, "__name__", "fn")
        y = _finite(f"{name} on {case}", fn(case.x, case.W, case.b, case.d))
        rng = np.random.default_rng(case.seed)
        for s in range(1, case.T):
            x = case.x.copy()
            x[:, :, s:] = rng.standard_normal(x[:, :, s:].shape) * 10
            y2 = _finite(f"{name} on {case}, its input changed from step {s} on", fn(x, case.W, case.b, case.d))
            moved = np.argwhere(y2[:, :, :s] != y[:, :, :s])
            if moved.size:
                n, o, t = moved[0]
                raise AssertionError(f"{getattr(fn, '__name__', 'fn')} on {case}: not causal: changing the input "
                                     f"from step {s} on changed the output at step {t} (sample {n}, channel {o})")
            # ... and the change shows at step s itself (tap K-1 reads the current step): the outputs compared above
            # are aligned with the inputs, not shifted later in time
            if np.array_equal(y2[:, :, s], y[:, :, s]):
                raise AssertionError(f"{getattr(fn, '__name__', 'fn')} on {case}: the output at step {s} ignored the "
                                     f"input at step {s} (an output shifted in time?)")

    _run(check, cases, max_examples)


def assert_adjoint(forward, backward, wrt="x", cases=None, max_examples=60):
    """The backward pass is the adjoint of the forward's linear part: <forward(u), dy> = <u, backward(dy)>
    for the convolution without bias (linear in x for ``wrt="x"``, in W for ``wrt="W"``). ``forward(x, W, b, d)``;
    ``backward(dy, W, d) -> dx`` for x, ``backward(dy, x, d, K) -> dW`` for W. What this proves: the backward is the
    exact transpose of the forward, for any upstream gradient, without finite differences. The cases are float64 by
    default, where the two sides agree to 1e-10 of the sum of their terms' absolute values (1e-5 in float32)."""
    if wrt not in ("x", "W"):
        raise ValueError(f"wrt must be 'x' or 'W', got {wrt!r}")
    cases = conv_cases(dtype=st.just(np.dtype(np.float64))) if cases is None else cases

    def check(case):
        zero = np.zeros_like(case.b)
        name = getattr(backward, "__name__", "backward")
        y = _finite(f"{getattr(forward, '__name__', 'forward')} (the forward) on {case}",
                    forward(case.x, case.W, zero, case.d))
        lhs = float(np.vdot(y, case.dy))
        if wrt == "x":
            rhs = float(np.vdot(case.x, _finite(f"{name} on {case}", backward(case.dy, case.W, case.d))))
        else:
            rhs = float(np.vdot(case.W, _finite(f"{name} on {case}", backward(case.dy, case.x, case.d, case.K))))
        # the sum of the absolute values of the terms both sides add (an inner product may cancel to about 0)
        scale = float(np.vdot(forward(np.abs(case.x), np.abs(case.W), zero, case.d), np.abs(case.dy)))
        if not abs(lhs - rhs) <= ADJOINT_TOLERANCE[case.dtype] * max(scale, 1e-300):  # False for NaN: fails
            raise AssertionError(f"{getattr(backward, '__name__', 'backward')} on {case}: not the adjoint of the "
                                 f"forward in {wrt}: <forward({wrt}), dy> = {lhs!r} but <{wrt}, backward(dy)> = "
                                 f"{rhs!r}")

    _run(check, cases, max_examples)


def assert_gradcheck(module, x=None, max_relative_error=1e-6, seed=0, **options):
    """A layer's, block's or model's backward agrees with central differences (``pytcn.gradcheck``, float64, a random
    upstream gradient): worst relative error below ``max_relative_error``. ``x``: the input, by default a small
    standard normal (N=2, T=7) with the module's input channels."""
    if x is None:
        rng = np.random.default_rng(seed)
        if hasattr(module, "blocks"):  # a model: (N, T, C_in)
            x = rng.standard_normal((2, 7, module.input_channels))
        elif hasattr(module, "in_features"):  # a linear layer: (M, F)
            x = rng.standard_normal((5, module.in_features))
        else:  # a layer or block in the kernels' layout: (N, C_in, T)
            channels = getattr(module, "in_channels", None) or module.conv1.in_channels
            x = rng.standard_normal((2, channels, 7))
    result = gradcheck(module, x, seed=seed, **options)
    if not result.max_rel_error < max_relative_error:
        raise AssertionError(f"gradient check of {type(module).__name__} failed: {result}")
    return result
