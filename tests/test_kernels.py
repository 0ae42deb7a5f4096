"""Property tests of the low-level kernels in ``kernels/``.

- Every op in ``kernels.TWINS``: the Numba kernel equals its NumPy twin, and neither writes its inputs.
- The convolution: causal (exactly), its backward passes are its adjoints, it keeps the length of the sequence, it
  handles sequences shorter than its receptive field, K = 1 and dilations past the end; and it agrees with a brute
  force loop over its formula, an oracle that shares no code and no route with either kernel.
- The head's mean over each sequence's steps (``mean_steps``, kernels/arrays.py) and its backward (``spread_steps``)
  against brute-force loops, and adjoint to each other; the mean never reads the padding after a sequence.
- The parallel kernels give the same result on one thread and on two.
- Structure: ``kernels/`` (``kernels/cuda/`` included) imports nothing from ``pytcn``, every ``njit`` and ``cuda.jit``
  takes its options from ``kernels/_config.py``, and the fast-math set there keeps NaN and infinity, which do come out
  of the kernels.

Arrays are drawn by ``tests/strategies.py``; all of them C-contiguous, as the kernels assume.
"""
import ast
import importlib
import inspect
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

import pytcn
from pytcn import kernels, testing
from pytcn.kernels import _config
from tests.helpers import assert_close, cuda_twins, needs_numba_cuda, on_device
from tests.strategies import (
    adam_problems,
    conv_cases,
    cross_entropy_problems,
    linear_problems,
    loss_weights,
    mean_steps_problems,
    mse_problems,
    norm_problems,
    relu_problems,
    step_problems,
    weight_decays,
)

KERNELS_DIR = Path(kernels.__file__).parent
# every property below is checked on the NumPy twins, the Numba kernels and the CUDA kernels (on a GPU, or in
# numba-cuda's simulator, see tests/conftest.py)
BACKENDS = ["numpy", "numba", pytest.param("cuda", marks=needs_numba_cuda)]
backends = pytest.mark.parametrize("backend", BACKENDS)
fast_backends = pytest.mark.parametrize("backend", BACKENDS[1:])


def kernel(op, backend):
    """The kernel of ``op`` on ``backend``, callable with NumPy arrays (a CUDA kernel gets device copies, and its
    arrays are copied back: outputs and inputs, so that a kernel writing an input is seen)."""
    if backend == "cuda":
        return on_device(cuda_twins()[op])
    return kernels.TWINS[op][{"numpy": 0, "numba": 1}[backend]]


def unwritten(shape, dtype):
    """An output buffer filled with NaN: an element a kernel forgets to write shows up in every comparison."""
    return np.full(shape, np.nan, dtype)


# ----------------------------------------------------------------------------------------------------------------
# One case per op: how to draw its problem, and how to lay out its arguments (outputs first, as the kernels do)


@dataclass(frozen=True)
class Case:
    op: str
    problems: SearchStrategy
    args: Callable  # problem -> (outputs: {name: fresh array}, inputs: tuple)
    variant: str = ""

    @property
    def id(self):
        return f"{self.op}-{self.variant}" if self.variant else self.op

    def call(self, fn, problem):
        """Runs ``fn`` on fresh outputs; returns {name: array}, with the returned loss as "loss" where there is one."""
        outputs, inputs = self.args(problem)
        loss = fn(*outputs.values(), *inputs)
        if loss is not None:
            outputs["loss"] = np.float64(loss)
        return outputs


def _conv_forward_args(p):
    return {"y": unwritten((p.N, p.C_out, p.T), p.dtype)}, (p.x, p.W, p.b, p.d)


def _conv_backward_input_args(p):
    return {"dx": unwritten(p.x.shape, p.dtype)}, (p.dy, p.W, p.d)


def _conv_backward_input_add_args(p):
    # the addend: any array of dx's shape; x is one
    return {"dx": unwritten(p.x.shape, p.dtype)}, (p.dy, p.W, p.d, p.x)


def _conv_backward_weight_args(p):
    return {"dW": unwritten(p.W.shape, p.dtype)}, (p.dy, p.x, p.d)


def _conv_backward_bias_args(p):
    return {"db": unwritten(p.b.shape, p.dtype)}, (p.dy,)


def _conv_step_args(p):
    # the history is written in place (x goes into its slot): each call gets its own copy
    outputs = {"y": unwritten((p.x.shape[0], p.W.shape[0]), p.dtype), "history": p.history.copy()}
    return outputs, (p.x, p.W, p.b, p.d, p.t, p.relu)


def _scale_elements_args(p):
    # the mask of element-wise dropout: 0 where dropped, 1 / (1 - rate) where kept (rate 0.3); y's stand-in is dy
    mask = np.where(p.y > 0, p.dtype.type(1 / 0.7), p.dtype.type(0))
    return {"y": unwritten(p.x.shape, p.dtype)}, (p.x, mask)


def _relu_forward_args(p):
    return {"y": unwritten(p.x.shape, p.dtype)}, (p.x,)


def _add_relu_forward_args(p):
    return {"y": unwritten(p.x.shape, p.dtype)}, (p.x, p.dy)


def _relu_backward_args(p):
    return {"dx": unwritten(p.dy.shape, p.dtype)}, (p.dy, p.y)


def _relu_bias_backward_args(p):
    return {"dz": unwritten(p.dy.shape, p.dtype), "db": unwritten(p.dy.shape[1:2], p.dtype)}, (p.dy, p.y)


def _linear_forward_args(p):
    return {"y": unwritten(p.dy.shape, p.dtype)}, (p.x, p.W, p.b)


def _linear_backward_args(p):
    outputs = {"dx": unwritten(p.x.shape, p.dtype), "dW": unwritten(p.W.shape, p.dtype),
               "db": unwritten(p.b.shape, p.dtype)}
    return outputs, (p.dy, p.x, p.W)


def _mse_args(p):
    return {"dpred": unwritten(p.pred.shape, p.dtype)}, (p.pred, p.target)


def _softmax_cross_entropy_args(p):
    return {"dlogits": unwritten(p.logits.shape, p.dtype)}, (p.logits, p.labels)


@dataclass(frozen=True)
class Masked:
    """A loss problem and the weights of its rows."""
    problem: object
    weights: np.ndarray

    @property
    def dtype(self):
        return self.problem.dtype


@st.composite
def masked_mse_problems(draw):
    p = draw(mse_problems())
    return Masked(p, draw(loss_weights(p.pred.shape[0], p.dtype)))


@st.composite
def masked_cross_entropy_problems(draw):
    p = draw(cross_entropy_problems())
    return Masked(p, draw(loss_weights(p.logits.shape[0], p.dtype)))


def _masked_mse_args(masked):
    outputs, inputs = _mse_args(masked.problem)
    return outputs, (*inputs, masked.weights)


def _masked_softmax_cross_entropy_args(masked):
    outputs, inputs = _softmax_cross_entropy_args(masked.problem)
    return outputs, (*inputs, masked.weights)


def _layer_norm_forward_args(p):
    N, C, T = p.x.shape
    outputs = {"y": unwritten(p.x.shape, p.dtype), "mean": unwritten((N, T), p.dtype),
               "rstd": unwritten((N, T), p.dtype)}
    return outputs, (p.x, p.gamma, p.beta, p.eps)


def _layer_norm_backward_args(p):
    N, C, T = p.x.shape
    mean, rstd = np.empty((N, T), p.dtype), np.empty((N, T), p.dtype)
    kernels.layer_norm_forward_numpy(np.empty_like(p.x), mean, rstd, p.x, p.gamma, p.beta, p.eps)  # the cache
    outputs = {"dx": unwritten(p.x.shape, p.dtype), "dgamma": unwritten((C,), p.dtype),
               "dbeta": unwritten((C,), p.dtype)}
    return outputs, (p.dy, p.x, mean, rstd, p.gamma)


def _statistics(p):
    C = p.x.shape[1]
    mean, var = np.empty(C, p.dtype), np.empty(C, p.dtype)
    kernels.batch_norm_statistics_numpy(mean, var, p.x)
    if not p.batch_statistics:  # running statistics: anything plausible, not this batch's
        mean, var = mean + p.dtype.type(0.5), var * p.dtype.type(1.5) + p.dtype.type(0.1)
    return mean, var


def _batch_norm_statistics_args(p):
    C = p.x.shape[1]
    return {"mean": unwritten((C,), p.dtype), "var": unwritten((C,), p.dtype)}, (p.x,)


def _batch_norm_forward_args(p):
    mean, var = _statistics(p)
    return {"y": unwritten(p.x.shape, p.dtype)}, (p.x, mean, var, p.gamma, p.beta, p.eps)


def _batch_norm_backward_args(p):
    C = p.x.shape[1]
    mean, var = _statistics(p)
    outputs = {"dx": unwritten(p.x.shape, p.dtype), "dgamma": unwritten((C,), p.dtype),
               "dbeta": unwritten((C,), p.dtype)}
    return outputs, (p.dy, p.x, mean, var, p.gamma, p.eps, p.batch_statistics)


def _adam_update_args(p):
    # param, m and v are updated in place: each call gets its own copies
    outputs = {"param": p.param.copy(), "m": p.m.copy(), "v": p.v.copy()}
    return outputs, (p.grad, p.grad_scale, p.lr, p.beta1, p.beta2, p.eps, p.weight_decay, p.step)


def _rmsprop_update_args(p):
    # Adam's problems serve: beta2 as RMSprop's alpha (0.9 to 0.9999), beta1 as its momentum (0 to 0.99)
    outputs = {"param": p.param.copy(), "m": p.m.copy(), "v": p.v.copy()}
    return outputs, (p.grad, p.grad_scale, p.lr, p.beta2, p.eps, p.weight_decay, p.beta1)


def _rmsprop_update_without_momentum_args(p):
    outputs, inputs = _rmsprop_update_args(p)
    return outputs, (*inputs[:-1], 0.0)


CASES = [
    Case("conv_forward", conv_cases(), _conv_forward_args),
    Case("conv_relu_forward", conv_cases(), _conv_forward_args),
    Case("conv_backward_input", conv_cases(), _conv_backward_input_args),
    Case("conv_backward_input_add", conv_cases(), _conv_backward_input_add_args),
    Case("conv_backward_weight", conv_cases(), _conv_backward_weight_args),
    Case("conv_backward_bias", conv_cases(), _conv_backward_bias_args),
    Case("conv_step", step_problems(), _conv_step_args),
    Case("relu_forward", relu_problems(), _relu_forward_args),
    Case("scale_elements", relu_problems(), _scale_elements_args),
    Case("add_relu_forward", relu_problems(), _add_relu_forward_args),
    Case("relu_backward", relu_problems(), _relu_backward_args),
    Case("relu_bias_backward", relu_problems(), _relu_bias_backward_args),
    Case("linear_forward", linear_problems(), _linear_forward_args),
    Case("linear_backward", linear_problems(), _linear_backward_args),
    Case("mse", mse_problems(), _mse_args),
    Case("softmax_cross_entropy", cross_entropy_problems(), _softmax_cross_entropy_args),
    Case("masked_mse", masked_mse_problems(), _masked_mse_args),
    Case("masked_softmax_cross_entropy", masked_cross_entropy_problems(), _masked_softmax_cross_entropy_args),
    Case("layer_norm_forward", norm_problems(), _layer_norm_forward_args),
    Case("layer_norm_backward", norm_problems(), _layer_norm_backward_args),
    Case("batch_norm_statistics", norm_problems(), _batch_norm_statistics_args),
    Case("batch_norm_forward", norm_problems(), _batch_norm_forward_args),
    Case("batch_norm_backward", norm_problems(), _batch_norm_backward_args),
    Case("adam_update", adam_problems(weight_decay=st.just(0.0)), _adam_update_args, "no_weight_decay"),
    Case("adam_update", adam_problems(weight_decay=weight_decays), _adam_update_args, "weight_decay"),
    Case("rmsprop_update", adam_problems(weight_decay=st.just(0.0)), _rmsprop_update_without_momentum_args,
         "no_momentum"),
    Case("rmsprop_update", adam_problems(weight_decay=weight_decays), _rmsprop_update_args, "momentum_weight_decay"),
]
cases = pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])


def test_every_kernel_has_a_test_case():
    assert {case.op for case in CASES} == set(kernels.TWINS), "an op of kernels.TWINS has no case here, or vice versa"


def test_every_kernel_in_the_package_is_listed_in_twins():
    listed = {fn for pair in kernels.TWINS.values() for fn in pair} | set(kernels.PLUMBING.values()) | \
        set(kernels.NAIVE.values()) | {fn for trio in kernels.RECURRENT.values() for fn in trio}
    for path in sorted(KERNELS_DIR.glob("*.py")):  # not kernels/cuda/: tests/test_cuda.py checks its tables
        module = importlib.import_module(f"{kernels.__name__}.{path.stem}")
        for name, value in vars(module).items():
            if name.endswith(("_numpy", "_numba", "_naive")) and not name.startswith("_"):
                assert value in listed, f"kernels/{path.name} defines {name}, which no table of kernels lists"


def positional(fn):
    """The names of fn's parameters without a default: the signature twins share."""
    return [name for name, p in inspect.signature(fn).parameters.items() if p.default is inspect.Parameter.empty]


@pytest.mark.parametrize("op", sorted(kernels.TWINS))
def test_twins_are_named_after_their_op_and_share_one_signature(op):
    reference, fast = kernels.TWINS[op]
    assert reference.__name__ == f"{op}_numpy"
    assert isinstance(fast, numba.core.registry.CPUDispatcher), f"{op}: the fast twin is not a Numba kernel"
    assert fast.py_func.__name__ == f"_{op}"
    # a fast kernel may add optional parameters after the shared ones (the weight gradient's chunks, for tests)
    assert list(inspect.signature(reference).parameters) == positional(fast.py_func)


@pytest.mark.parametrize("op", sorted(kernels.NAIVE))
def test_naive_kernels_stand_beside_fast_ones_with_their_signature(op):
    naive = kernels.NAIVE[op]
    assert op in kernels.TWINS, f"{op}: a naive kernel of no op"
    assert isinstance(naive, numba.core.registry.CPUDispatcher) and naive.py_func.__name__ == f"_{op}_naive"
    assert list(inspect.signature(kernels.TWINS[op][0]).parameters) == positional(naive.py_func)
    assert naive.__module__ == kernels.TWINS[op][1].__module__, f"{op}: the naive kernel is not beside the fast one"


NAIVE_CASES = [case for case in CASES if case.op in kernels.NAIVE]


def test_every_naive_kernel_has_a_test_case():
    assert {case.op for case in NAIVE_CASES} == set(kernels.NAIVE)


@pytest.mark.parametrize("case", NAIVE_CASES, ids=[case.id for case in NAIVE_CASES])
@given(data=st.data())
def test_naive_kernel_equals_numpy_twin(case, data):
    problem = data.draw(case.problems)
    expected = case.call(kernels.TWINS[case.op][0], problem)
    actual = case.call(kernels.NAIVE[case.op], problem)
    for name in expected:
        assert_close(actual[name], expected[name], dtype=problem.dtype, what=f"{case.op} (naive): {name}")


@given(problem=conv_cases(N=st.integers(1, 7)), chunks=st.integers(1, 4))
def test_weight_gradient_with_several_samples_per_chunk_equals_numpy_twin(problem, chunks):
    # by default a chunk holds several samples only past 16 samples, or 8 with five output channels or more
    # (kernels/conv.py: CHUNKS, TASKS); here from N = 2 on, with a last chunk that is shorter than the others, or,
    # with more chunks than samples, one sample each
    expected, actual = unwritten(problem.W.shape, problem.dtype), unwritten(problem.W.shape, problem.dtype)
    kernels.conv_backward_weight_numpy(expected, problem.dy, problem.x, problem.d)
    kernels.conv_backward_weight_numba(actual, problem.dy, problem.x, problem.d, chunks)
    assert_close(actual, expected, dtype=problem.dtype, what=f"conv_backward_weight, N = {problem.N}, {chunks} chunks")


@cases
@fast_backends
@given(data=st.data())
def test_fast_kernel_equals_numpy_twin(case, backend, data):
    problem = data.draw(case.problems)
    expected = case.call(kernels.TWINS[case.op][0], problem)
    actual = case.call(kernel(case.op, backend), problem)
    for name in expected:
        assert_close(actual[name], expected[name], dtype=problem.dtype, what=f"{case.op}: {name}")


@cases
@backends
@given(data=st.data())
def test_kernels_leave_their_inputs_unchanged(case, backend, data):
    problem = data.draw(case.problems)
    _, inputs = case.args(problem)
    before = [a.copy() for a in inputs if isinstance(a, np.ndarray)]
    case.call(kernel(case.op, backend), problem)
    after = [a for a in inputs if isinstance(a, np.ndarray)]
    for k, (a, b) in enumerate(zip(after, before)):
        assert np.array_equal(a, b), f"{case.op} ({backend}) wrote its input number {k}"


def test_strategies_draw_c_contiguous_arrays():
    @given(data=st.data())
    def check(case, data):
        outputs, inputs = case.args(data.draw(case.problems))
        for a in [*outputs.values(), *inputs]:
            if isinstance(a, np.ndarray):
                assert a.flags.c_contiguous, f"{case.op}: a non-contiguous array of shape {a.shape}"

    for case in CASES:
        check(case)


# ----------------------------------------------------------------------------------------------------------------
# Convolution


def conv(problem, backend, x=None, b=None):
    """y = conv_forward(x, W, b) with the problem's W and d (and its x and b unless given)."""
    x = problem.x if x is None else x
    b = problem.b if b is None else b
    y = unwritten((x.shape[0], problem.C_out, x.shape[2]), problem.dtype)
    kernel("conv_forward", backend)(y, x, problem.W, b, problem.d)
    return y


def conv_forward_bruteforce(x, W, b, d, first=None):
    """The formula, term by term, in float64 Python scalars: y[n,o,t] = b[o] + sum_{i,j} W[o,i,j] x[n,i,t+first+j*d],
    with x zero outside [0, T). Causal by default, first = -(K-1)*d; keras's padding='same' has first =
    -((K-1)*d // 2)."""
    N, C_in, T = x.shape
    C_out, _, K = W.shape
    first = -(K - 1) * d if first is None else first
    y = np.zeros((N, C_out, T))
    for n in range(N):
        for o in range(C_out):
            for t in range(T):
                total = float(b[o])
                for i in range(C_in):
                    for j in range(K):
                        u = t + first + j * d
                        if 0 <= u < T:  # x is zero before the first step (and, for 'same', after the last)
                            total += float(W[o, i, j]) * float(x[n, i, u])
                y[n, o, t] = total
    return y


def returning(op, backend):
    """The kernel of ``op`` on ``backend`` as the testing kit calls a kernel: inputs in, the output returned."""
    shape = {"conv_forward": testing.forward_shape, "conv_backward_input": testing.backward_input_shape,
             "conv_backward_weight": testing.backward_weight_shape}[op]
    fn = kernel(op, backend)
    if op == "conv_backward_weight":  # the kit passes K; the kernel reads it from dW's shape
        return testing.returning(lambda dW, dy, x, d, K: fn(dW, dy, x, d), shape)
    return testing.returning(fn, shape)


# fewer examples in the simulator (every CUDA thread runs as Python); the kit's own default elsewhere
kit_examples = pytest.mark.parametrize("backend, examples", [("numpy", 40), ("numba", 40), pytest.param(
    "cuda", 10, marks=needs_numba_cuda)], ids=["numpy", "numba", "cuda"])


@kit_examples
def test_conv_is_causal(backend, examples):
    testing.assert_causal(returning("conv_forward", backend), max_examples=examples)


@kit_examples
def test_backward_input_is_adjoint_of_forward(backend, examples):
    testing.assert_adjoint(returning("conv_forward", backend), returning("conv_backward_input", backend), wrt="x",
                           max_examples=examples)


@kit_examples
def test_backward_weight_is_adjoint_of_forward(backend, examples):
    testing.assert_adjoint(returning("conv_forward", backend), returning("conv_backward_weight", backend), wrt="W",
                           max_examples=examples)


def assert_inner_products_equal(lhs, rhs, scale, what):
    """|lhs - rhs| <= 1e-10 * scale, where scale is the sum of the absolute terms (an inner product may cancel to 0)."""
    assert abs(lhs - rhs) <= 1e-10 * max(scale, 1e-300), f"{what}: {lhs!r} != {rhs!r} (terms sum to {scale:.3g})"


@backends
@given(problem=conv_cases(dtype=st.just(np.dtype(np.float64))))
def test_backward_bias_is_adjoint_of_forward(backend, problem):
    db = unwritten(problem.b.shape, problem.dtype)
    kernel("conv_backward_bias", backend)(db, problem.dy)
    assert_close(db, problem.dy.sum(axis=(0, 2)), what="db vs the sum of dy over batch and time")
    bias_part = conv(problem, backend) - conv(problem, backend, b=np.zeros_like(problem.b))  # b[o] at every (n, t)
    assert_inner_products_equal(np.vdot(bias_part, problem.dy), np.vdot(problem.b, db),
                                np.vdot(np.abs(bias_part), np.abs(problem.dy)), "<y(b) - y(0), dy> vs <b, db>")


@backends
@given(problem=conv_cases())
def test_output_has_the_length_of_the_input_and_every_step_is_written(backend, problem):
    # the buffers have the input's length T (even when T is shorter than the receptive field): every one of their
    # steps must be written, none left as the NaN they were filled with
    for op, (outputs, inputs) in [("conv_forward", _conv_forward_args(problem)),
                                  ("conv_relu_forward", _conv_forward_args(problem)),
                                  ("conv_backward_input", _conv_backward_input_args(problem)),
                                  ("conv_backward_weight", _conv_backward_weight_args(problem)),
                                  ("conv_backward_bias", _conv_backward_bias_args(problem))]:
        kernel(op, backend)(*outputs.values(), *inputs)
        for name, out in outputs.items():
            unset = np.argwhere(np.isnan(out))
            assert unset.size == 0, f"{op} ({backend}) left {name} unwritten at {[tuple(k) for k in unset[:5]]}"


@backends
@given(problem=conv_cases(K=st.integers(2, 5)), data=st.data())
def test_sequence_shorter_than_receptive_field_gives_the_start_of_the_long_output(backend, problem, data):
    # the zero padding must behave as zeros before the first step, whatever the length of the sequence
    T_short = data.draw(st.integers(1, min(problem.T, problem.receptive_field - 1)), label="T_short")
    y_short = conv(problem, backend, x=np.ascontiguousarray(problem.x[:, :, :T_short]))
    assert_close(y_short, conv(problem, backend)[:, :, :T_short], what=f"y of the first {T_short} steps")
    assert_close(y_short, conv_forward_bruteforce(problem.x[:, :, :T_short], problem.W, problem.b, problem.d),
                 dtype=problem.dtype, what=f"y of {T_short} steps vs the brute-force loops")


@backends
@given(problem=conv_cases(K=st.just(1)))
def test_kernel_size_one_is_a_pointwise_matmul_for_any_dilation(backend, problem):
    x, W, b = (a.astype(np.float64) for a in (problem.x, problem.W, problem.b))
    expected = np.einsum("oi,nit->not", W[:, :, 0], x) + b[None, :, None]
    assert_close(conv(problem, backend), expected, dtype=problem.dtype, what=f"K = 1, d = {problem.d}")


@st.composite
def conv_cases_with_dilation_past_the_end(draw):
    T = draw(st.integers(1, 12))
    return draw(conv_cases(T=st.just(T), K=st.integers(2, 5), d=st.integers(T, 12)))


@backends
@given(problem=conv_cases_with_dilation_past_the_end())
def test_dilation_past_the_end_leaves_only_the_last_tap(backend, problem):
    # d >= T: every tap j < K-1 reads at least d steps back, which is all padding
    x, W, b = (a.astype(np.float64) for a in (problem.x, problem.W, problem.b))
    expected = np.einsum("oi,nit->not", W[:, :, -1], x) + b[None, :, None]
    assert_close(conv(problem, backend), expected, dtype=problem.dtype, what=f"T = {problem.T}, d = {problem.d}")


@kit_examples
def test_conv_forward_matches_bruteforce_loops(backend, examples):
    testing.assert_matches_reference(returning("conv_forward", backend), conv_forward_bruteforce,
                                     cases=testing.conv_cases(T=st.integers(1, 20)), max_examples=examples)


# Lengths whose rows start at (nearly) the same offset within a 4 KiB page, where the blocked forward and input
# gradient (from zeros or from an addend) sum each block of rows in scratch rows and copy it out, and the weight
# gradient reads its dy rows from scratch rows (kernels/conv.py: _rows_alias): the strategies' short sequences never
# reach them. 1024 and 512 steps fill whole pages (float32, float64), 1020 falls 16 bytes short.
ALIASING = [(1024, np.float32), (1020, np.float32), (512, np.float64)]


@pytest.mark.parametrize("T, dtype", ALIASING, ids=[f"T{T}-{np.dtype(dt).name}" for T, dt in ALIASING])
@pytest.mark.parametrize("op", ["conv_forward", "conv_relu_forward", "conv_backward_input", "conv_backward_input_add",
                                "conv_backward_weight"])
@given(data=st.data())
def test_fast_kernel_equals_numpy_twin_on_rows_that_alias_within_a_page(op, T, dtype, data):
    from pytcn.kernels import conv as conv_kernels

    assert conv_kernels.rows_alias(T, np.dtype(dtype).itemsize), f"T = {T} no longer takes the scratch rows"
    # up to 7 channels: a block of four rows and the leftover ones; dilations up to 400: taps that read the padding
    problem = data.draw(conv_cases(dtype=st.just(dtype), N=st.integers(1, 2), T=st.just(T), d=st.integers(1, 400),
                                   C_in=st.integers(1, 7), C_out=st.integers(1, 7)))
    case = next(c for c in CASES if c.op == op)
    expected = case.call(kernels.TWINS[op][0], problem)
    actual = case.call(kernel(op, "numba"), problem)
    for name in expected:
        assert_close(actual[name], expected[name], dtype=problem.dtype, what=f"{op}, T = {T}: {name}")


@pytest.mark.parametrize("T, itemsize, alias", [
    (1024, 4, True), (1020, 4, True), (512, 8, True), (2048, 4, True),  # whole pages, or 16 bytes short
    (600, 4, False), (784, 4, False), (40, 4, False), (1, 8, False),  # blog's, seq_mnist's, the tests' lengths
])
def test_rows_alias_within_a_page_exactly_where_they_start_near_one_offset(T, itemsize, alias):
    from pytcn.kernels import conv as conv_kernels

    # the definition: two of four consecutive rows at least a page apart, and within ALIAS_BYTES of a whole number of
    # pages apart (addresses closer than a page differ in their last 12 bits)
    apart = [k * T * itemsize for k in range(1, 4)]
    near = any(a > 4096 - conv_kernels.ALIAS_BYTES and min(a % 4096, 4096 - a % 4096) < conv_kernels.ALIAS_BYTES
               for a in apart)
    assert near == alias  # the case is what its comment says
    assert conv_kernels.rows_alias(T, itemsize) == alias


def test_scratch_rows_start_on_cache_lines_and_never_alias():
    from pytcn.kernels import conv as conv_kernels

    for T, dtype in [*ALIASING, (600, np.float32), (1, np.float64)]:
        rows = conv_kernels.scratch_rows(T, np.empty(1, dtype))
        assert rows.shape[0] == conv_kernels.ROWS and rows.shape[1] >= T and rows.dtype == dtype
        starts = [rows[r].ctypes.data for r in range(rows.shape[0])]
        assert all(a % 64 == 0 for a in starts), f"T = {T}: rows start at {[a % 64 for a in starts]} within a line"
        assert not conv_kernels.rows_alias(rows.shape[1], rows.itemsize), f"T = {T}: the scratch rows alias"


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_the_layer_takes_arrays_of_every_layout(backend):
    # the kernels assume C-contiguous arrays; the layer's forward converts whatever it is given
    def layer_forward(x, W, b, d):
        layer = pytcn.CausalConv1D(W.shape[1], W.shape[0], W.shape[2], d, dtype=x.dtype, backend=backend)
        layer.params["weight"][...] = W
        layer.params["bias"][...] = b
        return layer.forward(x)[0]

    testing.assert_matches_reference(layer_forward, cases=testing.conv_cases(layouts=testing.all_layouts))


# ----------------------------------------------------------------------------------------------------------------
# The head's mean over each sequence's steps: mean_steps and its backward spread_steps, NumPy on the CPU backends
# (their CUDA twins are checked against them in tests/test_cuda.py)


def mean_steps_bruteforce(x, lengths):
    """The formula, term by term, in float64 Python scalars: out[n, c] = (1 / L_n) sum_{t < L_n} x[n, c, t]."""
    N, C, _ = x.shape
    out = np.zeros((N, C))
    for n in range(N):
        for c in range(C):
            total = 0.0
            for t in range(int(lengths[n])):
                total += float(x[n, c, t])
            out[n, c] = total / int(lengths[n])
    return out


def spread_steps_bruteforce(dout, lengths, T):
    """Element by element: dx[n, c, t] = dout[n, c] / L_n for t < L_n, else 0."""
    N, C = dout.shape
    dx = np.zeros((N, C, T))
    for n in range(N):
        for c in range(C):
            for t in range(T):
                dx[n, c, t] = float(dout[n, c]) / int(lengths[n]) if t < lengths[n] else 0.0
    return dx


def with_padding(x, lengths, value):
    """A copy of x (N, C, T) whose steps after each sequence's own, t >= lengths[n], hold ``value``."""
    padded = x.copy()
    for n, length in enumerate(lengths):
        padded[n, :, length:] = value
    return padded


@given(problem=mean_steps_problems(), padding=st.sampled_from([np.nan, np.inf, 0.0]))
def test_mean_steps_is_the_mean_over_each_sequence_s_own_steps_whatever_its_padding(problem, padding):
    x, lengths = problem.x, problem.lengths
    out = unwritten(problem.dout.shape, problem.dtype)
    padded = with_padding(x, lengths, padding)
    kernels.PLUMBING["mean_steps"](out, padded, lengths)
    assert_close(out, mean_steps_bruteforce(x, lengths), dtype=problem.dtype,
                 what=f"mean_steps, lengths {lengths.tolist()} of T = {x.shape[2]}, padding {padding}")


@given(problem=mean_steps_problems())
def test_spread_steps_gives_each_own_step_its_share_and_the_padding_zero(problem):
    dx = unwritten(problem.x.shape, problem.dtype)
    kernels.PLUMBING["spread_steps"](dx, problem.dout, problem.lengths)
    assert_close(dx, spread_steps_bruteforce(problem.dout, problem.lengths, problem.x.shape[2]), dtype=problem.dtype,
                 what=f"spread_steps, lengths {problem.lengths.tolist()} of T = {problem.x.shape[2]}")


@given(problem=mean_steps_problems(dtype=st.just(np.dtype(np.float64))))
def test_spread_steps_is_the_adjoint_of_mean_steps(problem):
    # <mean_steps(x), dout> = <x, spread_steps(dout)> for every x and dout: the backward is the forward's transpose
    x, lengths, dout = problem.x, problem.lengths, problem.dout
    out, dx = unwritten(dout.shape, np.float64), unwritten(x.shape, np.float64)
    kernels.PLUMBING["mean_steps"](out, x, lengths)
    kernels.PLUMBING["spread_steps"](dx, dout, lengths)
    lhs, rhs = float(np.sum(out * dout)), float(np.sum(x * dx))
    scale = max(1.0, float(np.sum(np.abs(out * dout))), float(np.sum(np.abs(x * dx))))
    assert abs(lhs - rhs) <= 1e-12 * scale, f"<mean_steps(x), dout> = {lhs!r} != <x, spread_steps(dout)> = {rhs!r}"


# ----------------------------------------------------------------------------------------------------------------
# Threads


@contextmanager
def numba_threads(n):
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def test_two_numba_threads_are_available():
    # without a second thread the test below would compare one thread with itself
    assert numba.config.NUMBA_NUM_THREADS >= 2, \
        f"NUMBA_NUM_THREADS is {numba.config.NUMBA_NUM_THREADS}; run the tests with NUMBA_NUM_THREADS=2 or more"


THREAD_CASES = [(case, "fast") for case in CASES] + [(case, "naive") for case in NAIVE_CASES]


@pytest.mark.parametrize("case,which", THREAD_CASES, ids=[f"{case.id}-{which}" for case, which in THREAD_CASES])
@given(data=st.data())
def test_one_and_two_threads_agree(case, which, data):
    # every kernel is PARALLEL; the reductions (dW, db, linear dW/db, the losses) are the ones that could race
    problem = data.draw(case.problems)
    fast = kernels.TWINS[case.op][1] if which == "fast" else kernels.NAIVE[case.op]
    with numba_threads(1):
        one = case.call(fast, problem)
    with numba_threads(min(2, numba.config.NUMBA_NUM_THREADS)):
        two = case.call(fast, problem)
    for name in one:
        if name == "loss":
            # both losses are sums over threads: mse by prange's reduction, cross-entropy by losses.sum(), which
            # parallel=True also splits over the threads. One partial sum per thread: the rounding may differ.
            assert_close(two[name], one[name], dtype=problem.dtype, what=f"{case.op}: {name}, 2 threads vs 1")
        else:
            # every other output element is computed by one thread in a fixed order: bitwise equal
            assert np.array_equal(two[name], one[name]), f"{case.op}: {name} differs between 1 and 2 threads"


# ----------------------------------------------------------------------------------------------------------------
# Structure of kernels/


def kernel_sources():
    """{path under kernels/ ("conv.py", "cuda/conv.py"): its syntax tree}, for every source file of kernels/ and the
    folders under it."""
    paths = sorted(KERNELS_DIR.rglob("*.py"))
    assert len(paths) >= 2, f"no kernel sources found in {KERNELS_DIR}"
    assert any(path.parent.name == "cuda" for path in paths), f"no CUDA kernel sources found in {KERNELS_DIR}/cuda"
    return {path.relative_to(KERNELS_DIR).as_posix(): ast.parse(path.read_text(), filename=str(path))
            for path in paths}


def depth(name):
    """How many folders below kernels/ the file ``name`` of kernel_sources() is: 0 for "conv.py", 1 for "cuda/conv.py".
    Its relative imports of kernels/ go up this many levels and one more (``from .._config import CUDA``)."""
    return name.count("/")


def test_kernels_import_nothing_from_pytcn():
    for name, tree in kernel_sources().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level <= depth(name) + 1, f"kernels/{name}:{node.lineno} imports from outside kernels/"
                modules = [node.module or ""] if node.level == 0 else []
            else:
                continue
            for module in modules:
                assert module.split(".")[0] != "pytcn", f"kernels/{name}:{node.lineno} imports {module}"


def config_option_names():
    """The names bound to a dict of njit options in kernels/_config.py (SERIAL, PARALLEL)."""
    tree = ast.parse((KERNELS_DIR / "_config.py").read_text())
    names = {target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets
             if isinstance(target, ast.Name) and isinstance(getattr(_config, target.id), dict)}
    assert names, "kernels/_config.py defines no dict of njit options"
    return names


def test_every_njit_takes_its_options_from_config():
    option_names = config_option_names()
    found = {"kernels/": 0, "kernels/cuda/": 0}
    for name, tree in kernel_sources().items():
        from_config = {alias.asname or alias.name for node in ast.walk(tree)
                       if isinstance(node, ast.ImportFrom) and node.level == depth(name) + 1
                       and node.module == "_config" for alias in node.names}
        calls = {id(node.func): node for node in ast.walk(tree) if isinstance(node, ast.Call)}
        for node in ast.walk(tree):
            is_jit = (isinstance(node, ast.Name) and node.id in ("njit", "jit")) or \
                     (isinstance(node, ast.Attribute) and node.attr in ("njit", "jit"))
            if not is_jit:
                continue
            where = f"kernels/{name}:{node.lineno}"
            call = calls.get(id(node))
            assert call is not None, f"{where}: a bare @njit/@jit without options"
            assert not call.args and len(call.keywords) == 1 and call.keywords[0].arg is None, \
                f"{where}: njit must be called as njit(**SERIAL) or njit(**PARALLEL), was {ast.unparse(call)}"
            options = call.keywords[0].value
            assert isinstance(options, ast.Name) and options.id in option_names & from_config, \
                f"{where}: njit options {ast.unparse(options)} do not come from kernels/_config.py"
            found["kernels/cuda/" if name.startswith("cuda/") else "kernels/"] += 1
    for folder, count in found.items():
        assert count >= len(kernels.TWINS), f"found {count} jit calls in {folder} for {len(kernels.TWINS)} kernels"


def test_fastmath_in_config_keeps_nan_and_inf():
    assert isinstance(_config.FASTMATH, (set, frozenset)), f"FASTMATH should be a set of flags: {_config.FASTMATH!r}"
    assert not {"nnan", "ninf", "fast"} & _config.FASTMATH, f"FASTMATH lets LLVM drop NaN/inf: {_config.FASTMATH}"
    for options in (_config.SERIAL, _config.SERIAL_INLINED, _config.SERIAL_NOALIAS, _config.PARALLEL):
        assert options["fastmath"] == _config.FASTMATH


# ----------------------------------------------------------------------------------------------------------------
# The convolution's passes over time are compiled with their arrays declared apart (kernels/_config.py's
# NoAliasCompiler); the kernels that call them refuse an output that overlaps their input

PASSES = [("conv", "add_four_rows"), ("conv", "add_two_rows"), ("conv", "add_one_row"), ("conv", "add_tap_forward"),
          ("conv", "add_tap_backward"), ("relu", "relu_bias_row")]


@pytest.mark.parametrize("module, name", PASSES, ids=[name for _, name in PASSES])
def test_the_passes_over_time_are_compiled_by_the_noalias_compiler(module, name):
    assert getattr(getattr(kernels, module), name)._compiler.pipeline_class is _config.NoAliasCompiler


def data_pointer_attributes(options):
    """{array argument: the LLVM attributes of its data pointer} of _add_one_row compiled afresh with ``options`` (the
    kernels' own machine code may come from the cache, which keeps no LLVM IR to read)."""
    fresh = numba.njit(**dict(options, cache=False))(kernels.conv._add_one_row)
    row = np.zeros(8, np.float32)
    fresh(row, row + 1, row + 2, row + 3, row + 4, (np.float32(1),) * 4, 8)
    assert row.tolist() == [10.0] * 8  # 1 + 2 + 3 + 4
    (ir,) = fresh.inspect_llvm().values()
    header = next(line for line in ir.splitlines() if line.startswith("define") and "_add_one_row" in line)
    # an array argument comes as its struct's fields, %arg.<name>.0 to .6; field 4 is the pointer to its data
    return dict((name, attrs) for attrs, name in re.findall(r"ptr ([^%,]*)%arg\.(\w+)\.4\b", header))


def test_the_noalias_compiler_declares_every_array_argument_apart():
    declared = data_pointer_attributes(_config.SERIAL_NOALIAS)
    assert sorted(declared) == ["a0", "a1", "a2", "a3", "z0"]
    assert all("noalias" in attrs for attrs in declared.values()), declared
    plain = data_pointer_attributes(_config.SERIAL)  # what the compiler changes: Numba's own leaves them undeclared
    assert sorted(plain) == sorted(declared) and not any("noalias" in attrs for attrs in plain.values()), plain



OVERLAPPING = [("conv_forward_numba", "forward"), ("conv_relu_forward_numba", "forward"),
               ("conv_forward_naive", "forward"), ("conv_relu_forward_naive", "forward"),
               ("conv_backward_input_numba", "input"), ("conv_backward_input_add_numba", "input"),
               ("conv_backward_input_naive", "input")]


@pytest.mark.parametrize("name, kind", OVERLAPPING, ids=[name for name, _ in OVERLAPPING])
@pytest.mark.parametrize("T", [20, 1024], ids=["blocked", "staged"])
def test_the_convolution_refuses_an_output_that_overlaps_its_input(name, kind, T):
    rng = np.random.default_rng(0)
    buf = rng.standard_normal((4, 5, T)).astype(np.float32)  # four samples, five channels: C_in = C_out
    W = rng.standard_normal((5, 5, 3)).astype(np.float32)
    kernel = getattr(kernels.conv, name)

    def run(out, inp):
        extra = (rng.standard_normal(5).astype(np.float32), 2) if kind == "forward" else (2,)
        if name.endswith("_add_numba"):
            extra += (np.zeros_like(inp),)
        kernel(out, inp, W, *extra)

    for out, inp in [(buf[:2], buf[:2]), (buf[1:3], buf[:2])]:  # the input itself, and one sample shared
        with pytest.raises(ValueError, match="overlaps"):
            run(out, inp)
    run(buf[2:], buf[:2])  # side by side in one buffer, apart: computed, no error


def test_relu_bias_backward_refuses_a_gradient_that_overlaps_its_inputs():
    buf = np.random.default_rng(0).standard_normal((3, 4, 20)).astype(np.float32)
    db = np.zeros(4, np.float32)
    for dz, dy, y in [(buf[:1], buf[:1], buf[2:]), (buf[1:2], buf[:1], buf[1:2]), (buf[:2], buf[1:], buf[1:])]:
        with pytest.raises(ValueError, match="overlaps"):
            kernels.relu_bias_backward_numba(dz, db, dy, y)
    kernels.relu_bias_backward_numba(buf[2:], db, buf[:1], buf[1:2])  # apart: computed, no error


@pytest.mark.parametrize("T", [16, 33, 40, 100])
def test_relu_bias_backward_sums_in_one_order_wherever_its_output_lies(T):
    # the bias gradient was once summed one element at a time or sixteen at once, as LLVM's run-time check of the rows'
    # addresses chose: with dz a few rows after dy in memory, other bits (kernels/relu.py, _relu_bias_row)
    rng = np.random.default_rng(T)
    dy = rng.standard_normal((1, 1, T)).astype(np.float32)
    y = np.abs(rng.standard_normal((1, 1, T))).astype(np.float32) + 0.5  # every unit active: dz = dy
    buf = np.zeros(2 * T + 200, np.float32)
    buf[:T] = dy.ravel()
    results = set()
    for gap in range(T, T + 200):  # dz from just after dy's row to 200 floats later, never overlapping it
        dz, db = buf[gap:gap + T].reshape(1, 1, T), np.zeros(1, np.float32)
        kernels.relu_bias_backward_numba(dz, db, buf[:T].reshape(1, 1, T), y)
        assert np.array_equal(dz, dy)
        results.add(db.tobytes())
    assert len(results) == 1, f"{len(results)} different bias gradients, by where dz lay"




@pytest.mark.parametrize("op", sorted(kernels.TWINS))
def test_compiled_kernels_carry_the_config_fastmath(op):
    assert kernels.TWINS[op][1].targetoptions["fastmath"] == _config.FASTMATH


# ----------------------------------------------------------------------------------------------------------------
# NaN and infinity reach every output that reads them, and no other


def taps_back(problem):
    """The steps s = (K-1-j) d that the K taps look back."""
    return [(problem.K - 1 - j) * problem.d for j in range(problem.K)]


@st.composite
def conv_cases_with_a_spot(draw):
    """A conv problem and one (n, c, t) position, c below both C_in and C_out."""
    problem = draw(conv_cases())
    n = draw(st.integers(0, problem.N - 1))
    c = draw(st.integers(0, min(problem.C_in, problem.C_out) - 1))
    t = draw(st.integers(0, problem.T - 1))
    return problem, (n, c, t)


@backends
@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@given(problem_spot=conv_cases_with_a_spot())
def test_nan_and_inf_in_conv_input_reach_exactly_the_outputs_that_read_them(backend, special, problem_spot):
    problem, (n, i, t) = problem_spot
    x = problem.x.copy()
    x[n, i, t] = special
    reached = np.zeros((problem.N, problem.C_out, problem.T), bool)
    for s in taps_back(problem):
        if t + s < problem.T:
            reached[n, :, t + s] = True  # y[n, :, t + s] reads x[n, i, t] through the tap s steps back
    y = conv(problem, backend, x=x)
    # a nonzero weight times inf is inf, and only one term of each output is inf: the sum stays inf, not NaN
    check = np.isnan if np.isnan(special) else np.isinf
    assert np.array_equal(check(y), reached), \
        f"{special} at x[{n}, {i}, {t}] reached y at {np.argwhere(check(y)).tolist()}, " \
        f"expected {np.argwhere(reached).tolist()}"


@backends
@given(problem_spot=conv_cases_with_a_spot())
def test_nan_in_dy_reaches_exactly_the_conv_gradients_that_read_it(backend, problem_spot):
    problem, (n, o, t) = problem_spot
    dy = problem.dy.copy()
    dy[n, o, t] = np.nan
    dx_reached = np.zeros(problem.x.shape, bool)
    dW_reached = np.zeros(problem.W.shape, bool)
    for j, s in enumerate(taps_back(problem)):
        if t - s >= 0:
            dx_reached[n, :, t - s] = True  # y[n, o, t] read x[n, :, t - s] through tap j ...
            dW_reached[o, :, j] = True  # ... with weight W[o, :, j]
    db_reached = np.arange(problem.C_out) == o
    dx, dW, db = unwritten(problem.x.shape, problem.dtype), unwritten(problem.W.shape, problem.dtype), \
        unwritten(problem.b.shape, problem.dtype)
    kernel("conv_backward_input", backend)(dx, dy, problem.W, problem.d)
    kernel("conv_backward_weight", backend)(dW, dy, problem.x, problem.d)
    kernel("conv_backward_bias", backend)(db, dy)
    # A tap that reads only padding (s > t) multiplies the NaN by a zero of the padding. The NumPy twin computes that
    # product (its padded window is all zeros there, and 0 * NaN is NaN), the Numba kernel skips it: either is right,
    # so those taps of row o may be NaN. Nothing outside row o may be.
    dW_allowed = np.zeros(problem.W.shape, bool)
    dW_allowed[o] = True
    for name, grad, reached, allowed in [("dx", dx, dx_reached, dx_reached), ("dW", dW, dW_reached, dW_allowed),
                                         ("db", db, db_reached, db_reached)]:
        nan = np.isnan(grad)
        assert not (reached & ~nan).any() and not (nan & ~allowed).any(), \
            f"NaN at dy[{n}, {o}, {t}] reached {name} at {np.argwhere(nan).tolist()}, " \
            f"expected {np.argwhere(reached).tolist()}"


@backends
@given(problem=linear_problems(), data=st.data())
def test_nan_reaches_the_linear_rows_that_read_it(backend, problem, data):
    m = data.draw(st.integers(0, problem.x.shape[0] - 1), label="row")
    x = problem.x.copy()
    x[m, data.draw(st.integers(0, problem.x.shape[1] - 1), label="feature")] = np.nan
    y = unwritten(problem.dy.shape, problem.dtype)
    kernel("linear_forward", backend)(y, x, problem.W, problem.b)
    assert np.array_equal(np.isnan(y).any(axis=1), np.arange(y.shape[0]) == m)
    assert np.isnan(y[m]).all()
    o = data.draw(st.integers(0, problem.dy.shape[1] - 1), label="output")
    dy = problem.dy.copy()
    dy[m, o] = np.nan
    dx, dW, db = unwritten(x.shape, problem.dtype), unwritten(problem.W.shape, problem.dtype), \
        unwritten(problem.b.shape, problem.dtype)
    kernel("linear_backward", backend)(dx, dW, db, dy, problem.x, problem.W)
    assert np.array_equal(np.isnan(dx), np.broadcast_to((np.arange(x.shape[0]) == m)[:, None], dx.shape))
    assert np.array_equal(np.isnan(dW), np.broadcast_to((np.arange(dW.shape[0]) == o)[:, None], dW.shape))
    assert np.array_equal(np.isnan(db), np.arange(db.shape[0]) == o)


@backends
@given(problem=mse_problems(), data=st.data())
def test_nan_prediction_gives_nan_mse_and_nan_gradient_there(backend, problem, data):
    spot = tuple(data.draw(st.integers(0, s - 1)) for s in problem.pred.shape)
    pred = problem.pred.copy()
    pred[spot] = np.nan
    dpred = unwritten(pred.shape, problem.dtype)
    loss = kernel("mse", backend)(dpred, pred, problem.target)
    assert np.isnan(loss), f"mse with a NaN prediction is {loss}"
    assert np.argwhere(np.isnan(dpred)).tolist() == [list(spot)]


@backends
@given(problem=cross_entropy_problems(), data=st.data())
def test_nan_logit_gives_nan_cross_entropy_and_nan_gradient_in_its_row(backend, problem, data):
    m = data.draw(st.integers(0, problem.logits.shape[0] - 1), label="row")
    logits = problem.logits.copy()
    logits[m, data.draw(st.integers(0, problem.logits.shape[1] - 1), label="class")] = np.nan
    dlogits = unwritten(logits.shape, problem.dtype)
    loss = kernel("softmax_cross_entropy", backend)(dlogits, logits, problem.labels)
    assert np.isnan(loss), f"cross-entropy with a NaN logit is {loss}"
    assert np.array_equal(np.isnan(dlogits), np.broadcast_to((np.arange(logits.shape[0]) == m)[:, None], logits.shape))


@backends
@given(problem=relu_problems(), data=st.data())
def test_relu_forward_propagates_nan_and_inf(backend, problem, data):
    # _config: "a NaN or an infinity in the data must come out of a kernel as NaN or infinity"; torch.relu(nan) is nan
    x = problem.x.copy()
    flat = x.reshape(-1)
    spots = data.draw(st.lists(st.integers(0, flat.size - 1), min_size=1, max_size=3, unique=True), label="spots")
    specials = data.draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), min_size=len(spots),
                                  max_size=len(spots)), label="specials")
    flat[spots] = specials
    y = unwritten(x.shape, problem.dtype)
    kernel("relu_forward", backend)(y, x)
    expected = np.where(np.isnan(x), np.nan, np.where(x > 0, x, 0)).astype(problem.dtype)
    wrong = ~((y == expected) | (np.isnan(y) & np.isnan(expected)))
    assert not wrong.any(), \
        f"relu_forward ({backend}): x = {x[wrong].tolist()} gave y = {y[wrong].tolist()} " \
        f"at {np.argwhere(wrong).tolist()}"


@backends
@given(problem=conv_cases())
def test_conv_relu_forward_is_the_relu_of_conv_forward(backend, problem):
    y = conv(problem, backend)
    fused = np.full_like(y, np.nan)
    kernel("conv_relu_forward", backend)(fused, problem.x, problem.W, problem.b, problem.d)
    np.testing.assert_array_equal(fused, np.maximum(y, 0))
