"""Hypothesis strategies for the kernel tests, all in one place, and the shared hypothesis profile.

The convolution's strategy and the sizes it draws are pytcn's public testing kit (``pytcn.testing``), used here as
a user of the kit would use it. Hypothesis draws the sizes and a seed; the arrays are then made by
``np.random.Generator`` from that seed. This keeps the examples small and well-conditioned (standard normal values,
no denormals or overflow that would only test the tolerance), while sizes still shrink to the smallest failing case.
Every array drawn here is C-contiguous: the kernels assume it, and the public layer of pytcn converts or rejects
anything else before calling them.

Glossary (as everywhere in pytcn): N batch, T time steps, C_in/C_out channels, K kernel size, d dilation.
"""
from dataclasses import dataclass

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

# the convolution's cases, and the sizes and values every strategy here draws, come from the public kit
from pytcn.testing import (  # noqa: F401 (re-exported for the tests)
    FLOAT_DTYPES,
    ConvCase,
    batch_sizes,
    channels,
    conv_cases,
    dilations,
    dtypes,
    kernel_sizes,
    lengths,
    normal,
    seeds,
)

# deadline=None: the first example of each kernel and dtype pays Numba's compile time (1-2 s cold).
# max_examples=40: enough to hit the edge cases below many times over, small enough that the suite stays fast.
settings.register_profile("pytcn", max_examples=40, deadline=None)
settings.load_profile("pytcn")

# ----------------------------------------------------------------------------------------------------------------
# Streaming


@dataclass(frozen=True)
class StepProblem:
    """One streaming step (kernels/stream.py): history (N, L, C_in) with L = (K-1)*d, x: (N, C_in), W, b, step t."""

    history: np.ndarray
    x: np.ndarray
    W: np.ndarray
    b: np.ndarray
    d: int
    t: int
    relu: bool

    @property
    def dtype(self):
        return self.x.dtype


@st.composite
def step_problems(draw, dtype=dtypes):
    """A streaming step. K >= 2 (a ring buffer of at least one step); N up to 4, so that the parallel loop over the
    samples has more samples than the two threads; t from the start to past three turns of the ring, so that taps
    wrap around the ring's end in every way."""
    dtype = draw(dtype)
    N, C_in, C_out = draw(st.integers(1, 4)), draw(channels), draw(channels)
    K, d = draw(st.integers(2, 5)), draw(st.integers(1, 6))
    L = (K - 1) * d
    t = draw(st.integers(0, 3 * L + 2))
    rng = np.random.default_rng(draw(seeds))
    return StepProblem(history=normal(rng, (N, L, C_in), dtype), x=normal(rng, (N, C_in), dtype),
                       W=normal(rng, (C_out, C_in, K), dtype), b=normal(rng, (C_out,), dtype), d=d, t=t,
                       relu=draw(st.booleans()))


# ----------------------------------------------------------------------------------------------------------------
# The head's mean over each sequence's steps (kernels/arrays.py: mean_steps, spread_steps)


@dataclass(frozen=True)
class MeanStepsProblem:
    """x: (N, C, T); lengths: (N,) int64 in [1, T], the steps of each sequence (the rest is padding); dout: (N, C)."""

    x: np.ndarray
    lengths: np.ndarray
    dout: np.ndarray

    @property
    def dtype(self):
        return self.x.dtype


@st.composite
def mean_steps_problems(draw, dtype=dtypes):
    """Each length 1 (a sequence of one step), T (no padding) or any in between, drawn for each sequence alone, so
    that a batch mixes them."""
    dtype = draw(dtype)
    N, C, T = draw(batch_sizes), draw(channels), draw(lengths)
    sequence_lengths = draw(st.lists(st.one_of(st.just(1), st.just(T), st.integers(1, T)), min_size=N, max_size=N))
    rng = np.random.default_rng(draw(seeds))
    return MeanStepsProblem(x=normal(rng, (N, C, T), dtype), lengths=np.array(sequence_lengths, np.int64),
                            dout=normal(rng, (N, C), dtype))


# ----------------------------------------------------------------------------------------------------------------
# ReLU, linear layer, losses, Adam


@dataclass(frozen=True)
class ReluProblem:
    """x, dy: (N, C, T); y = max(x, 0), the saved output the backward reads. A fifth of x is exactly 0."""

    x: np.ndarray
    y: np.ndarray
    dy: np.ndarray

    @property
    def dtype(self):
        return self.x.dtype


@st.composite
def relu_problems(draw, dtype=dtypes):
    dtype = draw(dtype)
    shape = (draw(batch_sizes), draw(channels), draw(lengths))
    rng = np.random.default_rng(draw(seeds))
    x = normal(rng, shape, dtype)
    x[rng.random(shape) < 0.2] = 0  # the kink: both torch and pytcn take the derivative at 0 as 0
    return ReluProblem(x=x, y=np.maximum(x, 0), dy=normal(rng, shape, dtype))


@dataclass(frozen=True)
class LinearProblem:
    """x: (M, F), W: (O, F), b: (O,), dy: (M, O); M = N * T rows, as the model flattens sequences and steps."""

    x: np.ndarray
    W: np.ndarray
    b: np.ndarray
    dy: np.ndarray

    @property
    def dtype(self):
        return self.x.dtype


@st.composite
def linear_problems(draw, dtype=dtypes):
    dtype = draw(dtype)
    M = draw(batch_sizes) * draw(lengths)
    F, O = draw(channels), draw(channels)
    rng = np.random.default_rng(draw(seeds))
    return LinearProblem(x=normal(rng, (M, F), dtype), W=normal(rng, (O, F), dtype), b=normal(rng, (O,), dtype),
                         dy=normal(rng, (M, O), dtype))


@dataclass(frozen=True)
class MSEProblem:
    """pred, target: (M, P)."""

    pred: np.ndarray
    target: np.ndarray

    @property
    def dtype(self):
        return self.pred.dtype


@st.composite
def mse_problems(draw, dtype=dtypes):
    dtype = draw(dtype)
    shape = (draw(batch_sizes) * draw(lengths), draw(channels))
    rng = np.random.default_rng(draw(seeds))
    return MSEProblem(pred=normal(rng, shape, dtype), target=normal(rng, shape, dtype))


@dataclass(frozen=True)
class CrossEntropyProblem:
    """logits: (M, C), labels: (M,) int64 in [0, C)."""

    logits: np.ndarray
    labels: np.ndarray

    @property
    def dtype(self):
        return self.logits.dtype


@st.composite
def cross_entropy_problems(draw, dtype=dtypes):
    dtype = draw(dtype)
    M, C = draw(batch_sizes) * draw(lengths), draw(channels)
    # a scale of 30 makes exp overflow without the max-shift, and makes the softmax nearly one-hot
    scale = draw(st.sampled_from([1.0, 30.0]))
    rng = np.random.default_rng(draw(seeds))
    logits = np.ascontiguousarray((scale * rng.standard_normal((M, C))).astype(dtype))
    return CrossEntropyProblem(logits=logits, labels=rng.integers(0, C, M, dtype=np.int64))


@st.composite
def loss_weights(draw, M, dtype):
    """Row weights of a masked loss: a 0/1 mask keeping at least one row, or positive weights."""
    rng = np.random.default_rng(draw(seeds))
    if draw(st.booleans()):
        weights = (rng.random(M) < 0.6).astype(dtype)
        weights[draw(st.integers(0, M - 1))] = 1
        return weights
    return rng.uniform(0.1, 2.0, M).astype(dtype)


@dataclass(frozen=True)
class NormProblem:
    """x, dy: (N, C, T); gamma, beta: (C,); eps. ``shift`` moves x away from zero mean (the statistics must not rely
    on it), and a fifth of the examples have a channel or step that is constant (variance 0: only eps keeps rstd
    finite)."""

    x: np.ndarray
    dy: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    eps: float
    batch_statistics: bool

    @property
    def dtype(self):
        return self.x.dtype


@st.composite
def norm_problems(draw, dtype=dtypes):
    dtype = draw(dtype)
    N, C, T = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(seeds))
    x = normal(rng, (N, C, T), dtype) * dtype.type(draw(st.sampled_from([1.0, 3.0]))) + \
        dtype.type(draw(st.sampled_from([0.0, 5.0])))
    if draw(st.integers(0, 4)) == 0:
        x[:, 0, :] = dtype.type(2.0)  # a constant channel
    return NormProblem(x=np.ascontiguousarray(x), dy=normal(rng, (N, C, T), dtype),
                       gamma=normal(rng, (C,), dtype), beta=normal(rng, (C,), dtype),
                       eps=draw(st.sampled_from([1e-5, 1e-3])), batch_statistics=draw(st.booleans()))


@dataclass(frozen=True)
class AdamProblem:
    """param, m, v, grad: one shape and dtype (v > 0, as after any earlier step); grad_scale (clipping's factor, 1
    half the time) a scalar of that dtype; the hyperparameters as Python numbers, always of the same type (floats,
    and an int step) so that Numba compiles one signature per dtype."""

    param: np.ndarray
    m: np.ndarray
    v: np.ndarray
    grad: np.ndarray
    grad_scale: np.floating
    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    step: int

    @property
    def dtype(self):
        return self.param.dtype


@st.composite
def adam_problems(draw, weight_decay, dtype=dtypes):
    """``weight_decay``: a strategy of floats (``st.just(0.0)`` or a positive range)."""
    dtype = draw(dtype)
    shape = (draw(channels), draw(channels), draw(kernel_sizes))
    rng = np.random.default_rng(draw(seeds))
    return AdamProblem(
        param=normal(rng, shape, dtype), m=normal(rng, shape, dtype),
        v=np.ascontiguousarray(rng.uniform(0.01, 2.0, shape).astype(dtype)), grad=normal(rng, shape, dtype),
        grad_scale=dtype.type(draw(st.sampled_from([1.0, 0.3, 1e-3]))), lr=draw(st.floats(1e-4, 0.1)),
        beta1=draw(st.floats(0.0, 0.99)), beta2=draw(st.floats(0.9, 0.9999)),
        eps=draw(st.sampled_from([1e-8, 1e-6])), weight_decay=float(draw(weight_decay)), step=draw(st.integers(1, 10)))


weight_decays = st.floats(1e-4, 0.1)


# ----------------------------------------------------------------------------------------------------------------
# Dropout


@dataclass(frozen=True)
class DropoutProblem:
    """x: (N, C, T), no entry zero (so that a dropped entry, y = 0, is told from a kept one); dy: x's shape; rate in
    [0, 0.9]; seed: of the generator the layer draws its mask from (not the one that made x)."""

    x: np.ndarray
    dy: np.ndarray
    rate: float
    seed: int

    @property
    def dtype(self):
        return self.x.dtype


@st.composite
def dropout_problems(draw, dtype=dtypes, lengths=lengths):
    dtype = draw(dtype)
    shape = (draw(batch_sizes), draw(channels), draw(lengths))
    rng = np.random.default_rng(draw(seeds))
    x = rng.standard_normal(shape)
    x = np.ascontiguousarray((np.sign(x) * (0.5 + np.abs(x))).astype(dtype))  # |x| >= 0.5
    rate = draw(st.one_of(st.sampled_from([0.1, 0.3, 0.5, 0.75]), st.floats(0.0, 0.9)))
    return DropoutProblem(x=x, dy=normal(rng, shape, dtype), rate=rate, seed=draw(seeds))


# ----------------------------------------------------------------------------------------------------------------
# The recurrent layers (kernels/gru.py, kernels/lstm.py)


@dataclass(frozen=True)
class RecurrentProblem:
    """One GRU or LSTM layer, batch first: x (N, T, C_in); W_ih (G, C_in), W_hh (G, H), b_ih, b_hh (G,), with G = 3H
    for a GRU (gates r, z, n) and 4H for an LSTM (i, f, g, o); h0 (N, H), and c0 (N, H) for an LSTM (None for a
    GRU); dh (N, T, H), the upstream gradient of every step's state; chunks, the fast kernels' split of the batch (0:
    one chunk per Numba thread)."""

    cell: str
    x: np.ndarray
    W_ih: np.ndarray
    W_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    h0: np.ndarray
    c0: object
    dh: np.ndarray
    chunks: int

    @property
    def dtype(self):
        return self.x.dtype

    @property
    def N(self):
        return self.x.shape[0]

    @property
    def T(self):
        return self.x.shape[1]

    @property
    def H(self):
        return self.h0.shape[1]


#: the batch of a recurrent problem: the fast kernels advance four sequences at a time, so N from 1 to 13 gives
#: fewer than four, one full group, several groups, and a last group of 1, 2 or 3 rows after full ones
recurrent_batch_sizes = st.integers(1, 13)
#: chunks of the fast kernels: 0 (one per thread), one, two, three (the sum over chunks past its second term), and
#: more than there are groups (the kernel then makes one chunk per group)
recurrent_chunks = st.one_of(st.sampled_from([0, 1, 2, 3]), st.integers(4, 16))


@st.composite
def recurrent_problems(draw, cell, dtype=dtypes, N=recurrent_batch_sizes, chunks=recurrent_chunks):
    """A GRU or LSTM layer's kernels' arguments (``cell``: "gru" or "lstm"). T from 1 to 6, C_in 1 to 4, H 1 to 9
    (H up to 9: a gate's block of rows is then longer than the four rows the fast kernels advance together). The
    weights and biases are 0.5 * standard normal, the initial state uniform in (-1, 1) as a tanh leaves it, so that
    the gates' pre-activations are of order one: neither saturated (where every derivative is 0) nor all near 0."""
    dtype = draw(dtype)
    N, T, C_in, H = draw(N), draw(st.integers(1, 6)), draw(st.integers(1, 4)), draw(st.integers(1, 9))
    G = (3 if cell == "gru" else 4) * H
    rng = np.random.default_rng(draw(seeds))
    half = dtype.type(0.5)
    return RecurrentProblem(
        cell=cell, x=normal(rng, (N, T, C_in), dtype), W_ih=normal(rng, (G, C_in), dtype) * half,
        W_hh=normal(rng, (G, H), dtype) * half, b_ih=normal(rng, (G,), dtype) * half,
        b_hh=normal(rng, (G,), dtype) * half, h0=rng.uniform(-1, 1, (N, H)).astype(dtype),
        c0=normal(rng, (N, H), dtype) if cell == "lstm" else None, dh=normal(rng, (N, T, H), dtype),
        chunks=draw(chunks))
