"""The CUDA backend: kernels/cuda/ and a model with backend="cuda".

The kernels of kernels.TWINS are checked on 'cuda' by tests/test_kernels.py, with every other backend. Here:

- the table of CUDA twins covers every op, with the NumPy twin's signature, each twin in the file of kernels/cuda/
  named like its CPU twin's;
- the plumbing ops (kernels/arrays.py) equal their NumPy references;
- a model on 'cuda' computes what the same model on 'cpu' computes (forward, input gradient, every parameter
  gradient, Adam steps with clipping and dropout), over a grid of architectures. The CPU model's gradients are
  checked against finite differences in tests/test_gradients.py; agreement to float64 roundoff carries that check
  over to the GPU.
- a training step moves data between host and device only as documented: the batch in, the loss (and the gradient
  norm, with clipping) out;
- training, resuming and the CLI work on 'cuda'; asking for 'cuda' where it cannot run says why in one line.

Without a GPU every test runs in numba-cuda's simulator (tests/conftest.py), on small shapes; on a GPU the shapes
are full size. The models here run on tests.helpers.cuda_backend_for_tests(): the tiled kernels on a GPU, the
reference kernels in the simulator, where the tiled ones are checked op by op and in one model.
"""
import functools
import importlib.util
import inspect
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pytcn
from pytcn import kernels
from pytcn.runtime import backends
from tests.helpers import (
    NUMBA_CUDA,
    ON_CI,
    assert_close,
    cuda_backend_for_tests,
    cuda_kernels,
    cuda_simulated,
    cuda_twins,
    needs_numba_cuda,
    on_device,
    randomize,
    small_tiles,
)
from tests.strategies import FLOAT_DTYPES, conv_cases, normal, seeds

pytestmark = needs_numba_cuda

# shapes: small in the simulator (every CUDA thread runs as Python), full size on a GPU
SIZES = dict(N=2, T=12, C=3, K=2) if cuda_simulated() else dict(N=16, T=300, C=24, K=5)
examples = settings(max_examples=10 if cuda_simulated() else 40)


def test_every_op_has_a_cuda_twin_with_the_signature_of_its_numpy_twin():
    references = {op: pair[0] for op, pair in kernels.TWINS.items()} | kernels.PLUMBING
    twins = cuda_kernels().CUDA_TWINS
    assert set(twins) == set(references), f"ops without a CUDA twin: {set(references) - set(twins)}, " \
                                          f"CUDA twins of no op: {set(twins) - set(references)}"
    for op, fn in twins.items():
        assert fn.__name__ == f"{op}_cuda"
        # a fast kernel may add arguments with defaults after them (its tile sizes), as the CPU kernels do
        assert required_parameters(fn) == list(inspect.signature(references[op]).parameters), op


def required_parameters(fn):
    return [name for name, p in inspect.signature(fn).parameters.items() if p.default is p.empty]


def test_every_cuda_twin_sits_in_the_file_named_like_its_cpu_twin_s():
    # a reader finds the CUDA twin of an op of kernels/norm.py in kernels/cuda/norm.py; the fast convolutions have a
    # file of their own, tiled.py, beside the formulas in kernels/cuda/conv.py
    cuda = cuda_kernels()
    cpu = {op: pair[0] for op, pair in kernels.TWINS.items()} | kernels.PLUMBING
    for table, renamed in ((cuda.CUDA_TWINS, {"conv": "tiled"}), (cuda.CUDA_REFERENCES, {})):
        for op, fn in table.items():
            home = cpu[op].__module__.rsplit(".", 1)[1]
            assert fn.__module__ == f"{cuda.__name__}.{renamed.get(home, home)}", \
                f"{fn.__name__} is in {fn.__module__}, its CPU twin in {cpu[op].__module__}"
    cpu_files = {path.stem for path in Path(kernels.__file__).parent.glob("*.py")}
    cuda_files = {path.stem for path in Path(cuda.__file__).parent.glob("*.py")}
    assert cuda_files - {"__init__", "_device", "tiled"} <= cpu_files, "a file of kernels/cuda/ twins no CPU file"


# ----------------------------------------------------------------------------------------------------------------
# The plumbing ops against their NumPy references


@st.composite
def plumbing_calls(draw, op):
    """(dtype, outputs, inputs) of a call of plumbing op ``op``, with arrays of shapes drawn around (N, C, T)."""
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    N, C, T = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 40))
    K = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(seeds))
    x = normal(rng, (N, C, T), dtype)
    out = np.full((N, C, T), np.nan, dtype)  # an element a kernel forgets to write stays NaN
    v = normal(rng, (C, N, K), dtype)
    g = np.abs(normal(rng, (C, 1, 1), dtype)) + 0.5
    # each sequence's length: 1, T (no padding) or between; the steps after it hold NaN, which the mean never reads
    sequence_lengths = np.array(draw(st.lists(st.one_of(st.just(1), st.just(T), st.integers(1, T)), min_size=N,
                                              max_size=N)), np.int64)
    padded = x.copy()
    for n, length in enumerate(sequence_lengths):
        padded[n, :, length:] = np.nan
    calls = {
        "fill": ([out], [draw(st.sampled_from([0.0, 1.5]))]),
        "copy": ([out], [x]),
        "add": ([out], [x, normal(rng, x.shape, dtype)]),
        "scale": ([out], [x, draw(st.floats(-2, 2))]),
        "sum_squares": ([], [[x, v, g]]),
        "transpose": ([np.full((N, T, C), np.nan, dtype)], [x]),
        "take_steps": ([np.full((N, C), np.nan, dtype)], [x, rng.integers(0, T, N)]),
        "scatter_steps": ([out], [normal(rng, (N, C), dtype), rng.integers(0, T, N)]),
        "mean_steps": ([np.full((N, C), np.nan, dtype)], [padded, sequence_lengths]),
        "spread_steps": ([out], [normal(rng, (N, C), dtype), sequence_lengths]),
        "window": ([np.full((N, C, draw(st.integers(1, 40))), np.nan, dtype)], [x, draw(st.integers(-45, 45))]),
        "scale_channels": ([out], [x, (rng.random((N, C)) > 0.3).astype(dtype) / dtype.type(0.7)]),
        "weight_norm": ([np.full(v.shape, np.nan, dtype)], [g, v]),
        "weight_norm_backward": ([np.full(g.shape, np.nan, dtype), np.full(v.shape, np.nan, dtype)],
                                 [normal(rng, v.shape, dtype), g, v]),
        "sgd_update": ([x.copy()], [normal(rng, x.shape, dtype), draw(st.floats(1e-4, 0.5))]),
    }
    outputs, inputs = calls[op]
    return dtype, outputs, inputs


@pytest.mark.parametrize("op", sorted(kernels.PLUMBING))
@examples
@given(data=st.data())
def test_cuda_plumbing_equals_numpy_reference(op, data):
    dtype, outputs, inputs = data.draw(plumbing_calls(op))
    expected = [a.copy() for a in outputs]
    inputs_before = [a.copy() if isinstance(a, np.ndarray) else a for a in inputs]
    expected_result = kernels.PLUMBING[op](*expected, *inputs)
    result = on_device(cuda_twins()[op])(*outputs, *inputs)
    for k, (a, e) in enumerate(zip(outputs, expected)):
        assert_close(a, e, dtype=dtype, what=f"{op}: output {k}")
    if expected_result is not None:
        assert_close(np.float64(result), np.float64(expected_result), dtype=dtype, what=f"{op}: result")
    for a, b in zip(inputs, inputs_before):
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b, equal_nan=True), f"{op} wrote an input"  # NaN: the padding mean_steps skips


# ----------------------------------------------------------------------------------------------------------------
# The fast convolution kernels (tiled, with shared memory) against the NumPy twins and the one-thread-per-output
# reference kernels they stand beside. tests/test_kernels.py checks them with the tile sizes pytcn runs, on the
# simulator's small shapes, where one tile covers everything; the tests here also build small tiles, so that small
# shapes still reach every branch: several tiles and a partial last tile along each axis, a staging loop whose
# elements do not divide among the threads, the sum over input channels in several stagings with a partial last one,
# the weight gradient's sum in several chunks (and in one), and the bias's tree of any depth.

# the tiles a GPU runs, and small ones (tests/helpers.py)
SMALL_TILES = small_tiles() if NUMBA_CUDA else None
conv_tiles = st.sampled_from([SMALL_TILES, cuda_kernels().tiled.CONV_TILES] if NUMBA_CUDA else [None])
weight_tiles = st.sampled_from([SMALL_TILES, cuda_kernels().tiled.WEIGHT_TILES] if NUMBA_CUDA else [None])
bias_threads = st.sampled_from([1, 2, 4, 8, 256])
# channels past two tiles and two stagings, lengths past three tiles of 9 steps
tiled_cases = conv_cases(N=st.integers(1, 2), T=st.integers(1, 30), C_in=st.integers(1, 11),
                         C_out=st.integers(1, 11), K=st.integers(1, 4), d=st.integers(1, 6))
tiled_examples = settings(max_examples=25 if cuda_simulated() else 60)


def assert_fast_equals_twin(twin, fast, shape, dtype, inputs, what):
    """fast(out, *inputs) on the device (out starting as NaN) equals twin(out, *inputs) on the host."""
    out = np.full(shape, np.nan, dtype)
    expected = out.copy()
    twin(expected, *inputs)
    on_device(fast)(out, *inputs)
    assert_close(out, expected, dtype=dtype, what=what)


@pytest.mark.parametrize("op", ["conv_forward", "conv_relu_forward"])
@tiled_examples
@given(case=tiled_cases, tiles=conv_tiles)
def test_fast_forward_equals_numpy_twin(op, case, tiles):
    assert_fast_equals_twin(kernels.TWINS[op][0], functools.partial(cuda_kernels().CUDA_TWINS[op], tiles=tiles),
                            (case.N, case.C_out, case.T), case.dtype, (case.x, case.W, case.b, case.d), f"{op}, {case}")


@tiled_examples
@given(case=tiled_cases, tiles=conv_tiles)
def test_fast_backward_input_equals_numpy_twin(case, tiles):
    assert_fast_equals_twin(kernels.conv_backward_input_numpy,
                            functools.partial(cuda_kernels().tiled.conv_backward_input_cuda, tiles=tiles), case.x.shape,
                            case.dtype, (case.dy, case.W, case.d), f"conv_backward_input, {case}")


@tiled_examples
@given(case=tiled_cases, tiles=weight_tiles, chunk=st.one_of(st.none(), st.integers(1, 40)))
def test_fast_backward_weight_equals_numpy_twin_in_one_chunk_or_several(case, tiles, chunk):
    # chunk None: as many chunks as the shapes ask for, which at these sizes is one, written straight into dW. In
    # the simulator, a block of the tiles a GPU runs (256 threads) takes a tenth of a second: few chunks there.
    if tiles.ROWS * tiles.COLS > 32 and chunk is not None and cuda_simulated():
        chunk = max(chunk, math.ceil(case.N * case.T / 3))
    assert_fast_equals_twin(kernels.conv_backward_weight_numpy,
                            functools.partial(cuda_kernels().tiled.conv_backward_weight_cuda, chunk=chunk, tiles=tiles),
                            case.W.shape, case.dtype, (case.dy, case.x, case.d),
                            f"conv_backward_weight (chunks of {chunk}), {case}")


@tiled_examples
@given(case=tiled_cases, threads=bias_threads)
def test_fast_backward_bias_equals_numpy_twin_for_any_tree(case, threads):
    assert_fast_equals_twin(kernels.conv_backward_bias_numpy,
                            functools.partial(cuda_kernels().tiled.conv_backward_bias_cuda, threads=threads),
                            case.b.shape, case.dtype, (case.dy,), f"conv_backward_bias ({threads} threads), {case}")


@given(terms=st.integers(1, 10**7), tiles_per_chunk=st.integers(1, 2000), depth=st.integers(1, 64))
def test_weight_gradient_chunks_cover_the_sum_and_fill_the_gpu(terms, tiles_per_chunk, depth):
    tiled = cuda_kernels().tiled
    chunk = tiled.weight_gradient_chunk(terms, tiles_per_chunk, depth)
    chunks = math.ceil(terms / chunk)
    assert chunk % depth == 0, "a chunk is whole stagings"
    assert (chunks - 1) * chunk < terms <= chunks * chunk, "no chunk is empty, and they cover the sum"
    assert chunks == 1 or chunk >= tiled.MIN_CHUNK_STAGES * depth, "a chunk is long enough to be worth a block"
    target = kernels._config.CUDA_TARGET_BLOCKS
    assert chunks <= max(1, math.ceil(target / tiles_per_chunk)), "no more blocks than the target asks for"
    if terms >= 4 * depth * tiled.MIN_CHUNK_STAGES * target and tiles_per_chunk == 1:
        assert chunks >= target // 2, "a long sum in one tile is split over the GPU"


@pytest.mark.parametrize("threads", [0, 3, 2048, 2.0])
def test_a_bias_tree_of_a_bad_size_is_refused_by_name(threads):
    with pytest.raises(ValueError, match=f"threads must be a power of 2 from 1 to 1024, got {threads!r}"):
        on_device(functools.partial(cuda_kernels().tiled.conv_backward_bias_cuda, threads=threads))(
            np.zeros(2, np.float32), np.zeros((1, 2, 3), np.float32))


@pytest.mark.parametrize("chunk", [0, -5, 2.5])
def test_a_weight_gradient_chunk_of_a_bad_length_is_refused_by_name(chunk):
    with pytest.raises(ValueError, match=f"chunk must be a positive number of .*, got {chunk!r}"):
        on_device(functools.partial(cuda_kernels().tiled.conv_backward_weight_cuda, chunk=chunk))(
            np.zeros((2, 1, 2), np.float32), np.zeros((1, 2, 3), np.float32), np.zeros((1, 1, 3), np.float32), 1)


FAST_OPS = ["conv_forward", "conv_relu_forward", "conv_backward_input", "conv_backward_input_add",
            "conv_backward_weight", "conv_backward_bias", "relu_bias_backward", "linear_backward"]


def test_every_fast_kernel_keeps_its_reference_kernel():
    cuda = cuda_kernels()
    assert sorted(cuda.CUDA_REFERENCES) == sorted(FAST_OPS)
    for op, reference in cuda.CUDA_REFERENCES.items():
        assert reference.__name__ == f"{op}_reference"
        assert list(inspect.signature(reference).parameters) == required_parameters(cuda.CUDA_TWINS[op]), op


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_fast_kernels_equal_the_reference_kernels_on_the_device(dtype):
    # the GPU's own oracle: at full size on a GPU (many tiles, several chunks), small in the simulator
    cuda = cuda_kernels()
    N, T, C, K = SIZES["N"], SIZES["T"], SIZES["C"], SIZES["K"]
    rng = np.random.default_rng(9)
    x, dy = normal(rng, (N, C + 1, T), dtype), normal(rng, (N, C, T), dtype)
    W, b = normal(rng, (C, C + 1, K), dtype), normal(rng, (C,), dtype)
    conv_calls = {"conv_forward": ((N, C, T), (x, W, b, 3)), "conv_relu_forward": ((N, C, T), (x, W, b, 3)),
                  "conv_backward_input": ((N, C + 1, T), (dy, W, 3)), "conv_backward_weight": (W.shape, (dy, x, 3)),
                  "conv_backward_input_add": ((N, C + 1, T), (dy, W, 3, x)), "conv_backward_bias": (b.shape, (dy,))}
    for op, (shape, inputs) in conv_calls.items():
        fast, reference = np.full(shape, np.nan, dtype), np.full(shape, np.nan, dtype)
        on_device(cuda.CUDA_TWINS[op])(fast, *inputs)
        on_device(cuda.CUDA_REFERENCES[op])(reference, *inputs)
        assert_close(fast, reference, dtype=dtype, what=op)
    y = np.maximum(normal(rng, dy.shape, dtype), 0)
    results = []
    for fn in (cuda.CUDA_TWINS["relu_bias_backward"], cuda.CUDA_REFERENCES["relu_bias_backward"]):
        outputs = [np.full(dy.shape, np.nan, dtype), np.full(b.shape, np.nan, dtype)]
        on_device(fn)(*outputs, dy, y)
        results.append(outputs)
    for name, fast, reference in zip(["dz", "db"], *results):
        assert_close(fast, reference, dtype=dtype, what=f"relu_bias_backward {name}")
    rows, features = normal(rng, (N * T, C), dtype), normal(rng, (N * T, 4), dtype)
    head = normal(rng, (4, C), dtype)
    results = []
    for fn in (cuda.CUDA_TWINS["linear_backward"], cuda.CUDA_REFERENCES["linear_backward"]):
        outputs = [np.full(rows.shape, np.nan, dtype), np.full(head.shape, np.nan, dtype), np.full(4, np.nan, dtype)]
        on_device(fn)(*outputs, features, rows, head)
        results.append(outputs)
    for name, fast, reference in zip(["dx", "dW", "db"], *results):
        assert_close(fast, reference, dtype=dtype, what=f"linear_backward {name}")


def test_fast_weight_gradient_is_the_same_bits_every_run():
    # the sums are split over blocks and chunks, but added in a fixed order: an atomicAdd anywhere would make the
    # order, and the last bits, change from run to run on a GPU (the simulator runs threads one by one, so the
    # source is checked too)
    tiled = cuda_kernels().tiled
    rng = np.random.default_rng(10)
    dy, x = normal(rng, (SIZES["N"], SIZES["C"], SIZES["T"]), np.float32), normal(rng, (SIZES["N"], 5, SIZES["T"]),
                                                                                    np.float32)
    runs = []
    for _ in range(3):
        dW, db = np.empty((SIZES["C"], 5, 3), np.float32), np.empty(SIZES["C"], np.float32)
        on_device(functools.partial(tiled.conv_backward_weight_cuda, chunk=7))(dW, dy, x, 2)
        on_device(tiled.conv_backward_bias_cuda)(db, dy)
        runs.append((dW, db))
    for dW, db in runs[1:]:
        assert np.array_equal(dW, runs[0][0]) and np.array_equal(db, runs[0][1])
    for path in sorted(Path(tiled.__file__).parent.glob("*.py")):
        assert "cuda.atomic" not in path.read_text(), f"kernels/cuda/{path.name} must add in a fixed order: no atomics"


# ----------------------------------------------------------------------------------------------------------------
# A model on 'cuda' against the same model on 'cpu'


def pair_of_models(dtype=np.float64, gpu_backend=None, **arch):
    """The same architecture and weights on 'cpu' and on 'cuda' (``gpu_backend``, by default cuda_backend_for_tests();
    weights randomised, biases included)."""
    kw = dict(input_channels=2, outputs=3, nb_filters=SIZES["C"], kernel_size=SIZES["K"], dilations=[1, 2, 4],
              dtype=dtype, seed=0)
    kw.update(arch)
    cpu = pytcn.TCN(**kw, backend="cpu")
    randomize(cpu.params, np.random.default_rng(1))
    gpu = pytcn.TCN(**kw, backend=gpu_backend or cuda_backend_for_tests())
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu


ARCHITECTURES = [dict(return_sequences=rs, use_skip_connections=skip, use_weight_norm=wn, nb_stacks=stacks)
                 for rs in (False, True) for skip in (False, True) for wn in (False, True) for stacks in (1, 2)]


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda a: "-".join(f"{k}={int(v)}" for k, v in a.items()))
def test_cuda_model_computes_what_the_cpu_model_computes(arch):
    cpu, gpu = pair_of_models(**arch)
    x = np.random.default_rng(2).standard_normal((SIZES["N"], SIZES["T"], 2))
    y = cpu.forward(x)
    y_gpu = gpu.forward(x)
    assert backends.get_backend("cuda").is_array(y_gpu), "forward on 'cuda' should return a device array"
    assert_close(pytcn.to_numpy(y_gpu), y, what="forward")
    dy = np.random.default_rng(3).standard_normal(y.shape)
    assert_close(pytcn.to_numpy(gpu.backward(dy)), cpu.backward(dy), what="input gradient")
    for name in cpu.params:
        assert_close(pytcn.to_numpy(gpu.grads[name]), cpu.grads[name], what=f"gradient of {name}")


def fast_kernels_backend():
    """The 'cuda' backend with the fast convolutions, as on a GPU (where the other tests' models run them too). In the
    simulator, with small tiles: a block of 256 threads, the size a GPU runs, takes it a tenth of a second."""
    tiled, twins = backends.cuda_backend(kernels="tiled"), cuda_twins()
    ops = {op: twins[op] for op in [*kernels.TWINS, *kernels.PLUMBING]}
    return backends.Backend("cuda", True, **ops, empty=tiled.empty, to_device=tiled.to_device, to_host=tiled.to_host,
                            is_array=tiled.is_array)


def test_cuda_backend_runs_the_kernels_it_is_asked_for_under_the_name_cuda():
    cuda = cuda_kernels()
    tiled, reference = backends.cuda_backend(), backends.cuda_backend(kernels="reference")
    assert tiled.name == reference.name == "cuda"  # a model's configuration and checkpoints say 'cuda' either way
    for op in FAST_OPS:
        assert getattr(tiled, op) is cuda.CUDA_TWINS[op] and getattr(reference, op) is cuda.CUDA_REFERENCES[op], op
    for op in set(cuda.CUDA_TWINS) - set(FAST_OPS):
        assert getattr(tiled, op) is getattr(reference, op) is cuda.CUDA_TWINS[op], op
    # by name, on a GPU or in the simulator: the tiled kernels
    assert backends.get_backend("cuda").conv_forward is cuda.CUDA_TWINS["conv_forward"]
    with pytest.raises(ValueError, match="kernels must be one of 'tiled', 'reference'; got 'naive'"):
        backends.cuda_backend(kernels="naive")


def test_a_model_on_the_fast_kernels_trains_as_on_the_cpu():
    # every option that changes which convolutions run, or how: skip connections, two stacks (a downsample),
    # weight normalisation, a head on every step (its weight gradient a sum over N*T rows)
    cpu, gpu = pair_of_models(**ARCHITECTURES[-1], gpu_backend=fast_kernels_backend())
    x = np.random.default_rng(11).standard_normal((SIZES["N"], SIZES["T"], 2))
    for m in (cpu, gpu):
        y = m.forward(x, training=True)
        m.backward(np.ones(y.shape) / y.size)
        pytcn.Adam(m.params, lr=1e-2, max_grad_norm=0.5).step(m.grads)
    assert_close(pytcn.to_numpy(gpu.forward(x)), cpu.forward(x), what="forward after a step")
    for name, p in cpu.state_dict().items():
        assert_close(gpu.state_dict()[name], p, what=name)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_cuda_training_steps_follow_the_cpu_ones(dtype, loss):
    # dropout on (the masks are drawn on the host from the same generator; spatial with one loss, element-wise with
    # the other), weight norm on, clipping on, 3 steps
    cpu, gpu = pair_of_models(dtype=dtype, dropout_rate=0.3, use_weight_norm=True, return_sequences=loss != "mse",
                              seed=5, dropout_type="spatial" if loss == "mse" else "elementwise")
    optimizers = {m: pytcn.Adam(m.params, lr=1e-2, max_grad_norm=0.5, weight_decay=1e-3) for m in (cpu, gpu)}
    assert optimizers[gpu].backend.name == "cuda", "Adam should take the backend of device arrays"
    data = np.random.default_rng(4)
    for step in range(3):
        x = data.standard_normal((SIZES["N"], SIZES["T"], 2))
        labels = data.integers(0, 3, (SIZES["N"], SIZES["T"]))
        losses = {}
        for m in (cpu, gpu):
            pred = m.forward(x, training=True)
            if loss == "mse":
                losses[m], dpred = pytcn.mse(pred, np.ones(pred.shape, dtype))
            else:
                losses[m], dpred = pytcn.cross_entropy(pred, labels)
            m.backward(dpred)
            optimizers[m].step(m.grads)
        assert_close(np.float64(losses[gpu]), np.float64(losses[cpu]), dtype=dtype, what=f"loss at step {step}")
    cpu_state, gpu_state = cpu.state_dict(), gpu.state_dict()
    for name in cpu_state:
        assert_close(gpu_state[name], cpu_state[name], dtype=dtype, what=f"{name} after 3 steps")
    for key in ("m", "v"):
        for name, a in optimizers[cpu].state_dict()[key].items():
            assert_close(optimizers[gpu].state_dict()[key][name], a, dtype=dtype, what=f"Adam {key} of {name}")


def test_sgd_on_cuda_follows_sgd_on_cpu():
    cpu, gpu = pair_of_models()
    x = np.random.default_rng(6).standard_normal((SIZES["N"], SIZES["T"], 2))
    for m in (cpu, gpu):
        _, dpred = pytcn.mse(m.forward(x), np.zeros((SIZES["N"], 3)))
        m.backward(dpred)
        pytcn.SGD(m.params, lr=0.1, max_grad_norm=0.2).step(m.grads)
    for name, p in cpu.state_dict().items():
        assert_close(gpu.state_dict()[name], p, what=name)


def test_a_seed_gives_the_same_initial_model_on_every_backend():
    kw = dict(input_channels=1, nb_filters=4, kernel_size=3, dilations=[1, 2], use_weight_norm=True, seed=11)
    expected = pytcn.TCN(**kw).state_dict()
    for name, p in pytcn.TCN(**kw, backend="cuda").state_dict().items():
        assert np.array_equal(p, expected[name]), name


# ----------------------------------------------------------------------------------------------------------------
# What crosses between host and device


class Transfers:
    """Counts host-to-device copies (numba.cuda.to_device, which kernels/cuda/ calls for every new device array made
    from a host one, and copy_to_device of the device array type, which Backend.load calls to fill an existing one)
    and device-to-host copies (copy_to_host)."""

    def __init__(self, monkeypatch):
        from numba import cuda

        self.to_device = self.to_host = 0
        self._inside_to_device = False  # cuda.to_device may call copy_to_device itself: one copy, counted once
        device_array_type = type(cuda_kernels().device_array(1, np.float32))
        original_to_device = cuda.to_device
        original_copy_to_device = device_array_type.copy_to_device
        original_to_host = device_array_type.copy_to_host

        def to_device(*args, **kwargs):
            self.to_device += 1
            self._inside_to_device = True
            try:
                return original_to_device(*args, **kwargs)
            finally:
                self._inside_to_device = False

        def copy_to_device(array, *args, **kwargs):
            self.to_device += not self._inside_to_device
            return original_copy_to_device(array, *args, **kwargs)

        def copy_to_host(array, *args, **kwargs):
            self.to_host += 1
            return original_to_host(array, *args, **kwargs)

        monkeypatch.setattr(cuda, "to_device", to_device)
        monkeypatch.setattr(device_array_type, "copy_to_device", copy_to_device)
        monkeypatch.setattr(device_array_type, "copy_to_host", copy_to_host)


@pytest.mark.parametrize("dropout_rate, pooling", [(0.0, "last"), (0.2, "last"), (0.0, "mean")])
def test_a_training_step_copies_the_batch_in_and_the_loss_and_norm_out(monkeypatch, dropout_rate, pooling):
    _, gpu = pair_of_models(dtype=np.float32, use_weight_norm=True, use_skip_connections=True,
                            dropout_rate=dropout_rate, pooling=pooling)
    optimizer = pytcn.Adam(gpu.params, max_grad_norm=1.0)
    x = np.random.default_rng(7).standard_normal((SIZES["N"], SIZES["T"], 2)).astype(np.float32)
    target = np.zeros((SIZES["N"], 3), np.float32)
    gpu.forward(x)  # the first pass of a batch shape also copies in the steps (or lengths) the head reads, once
    transfers = Transfers(monkeypatch)
    pred = gpu.forward(x, training=True)
    loss, dpred = pytcn.mse(pred, target)
    gpu.backward(dpred)
    optimizer.step(gpu.grads)
    # in: the batch and the target, and with dropout each layer's mask (drawn on the host); out: the loss, and the
    # gradient norm for clipping. Nothing else, per layer or otherwise.
    masks = 2 * len(gpu.blocks) if dropout_rate else 0
    assert (transfers.to_device, transfers.to_host) == (2 + masks, 2), \
        f"{transfers.to_device} copies to the device and {transfers.to_host} back in one step"


@pytest.mark.skipif(not cuda_simulated(), reason="checks the simulator's strictness (tests/conftest.py)")
def test_the_simulator_refuses_what_a_gpu_refuses():
    # tests/conftest.py makes the simulator's device arrays as strict as real ones; without it, NumPy code reaching
    # a device array would pass every test here and fail on a GPU
    cuda = cuda_kernels()
    a = cuda.to_device(np.ones(3, np.float32))
    with pytest.raises(AttributeError, match="'sum'"):
        a.sum()
    with pytest.raises(TypeError, match="NumPy arithmetic"):
        a * 2
    with pytest.raises(TypeError, match="is a NumPy array"):
        cuda.arrays.fill_cuda(np.ones(3, np.float32), 0.0)


# Two kernels written for the test below, as source: numba-cuda's simulator swaps the module-level name ``cuda`` of a
# kernel's module for its own, and this file does not import numba.cuda at its top (it runs without numba-cuda)
SIMULATOR_KERNELS = """
def where_am_i(grid, threads, blocks, lanes):
    k = cuda.grid(1)
    grid[k], threads[k], blocks[k], lanes[k] = k, cuda.threadIdx.x, cuda.blockIdx.x, cuda.laneid


def next_thread_s(out):
    staged = cuda.shared.array(8, int64)
    me = cuda.threadIdx.x
    staged[me] = 10 * me
    cuda.syncthreads()  # every thread of the block has staged before any reads its neighbour's
    out[cuda.grid(1)] = staged[(me + 1) % 8]


def one_thread_fails(out):
    me = cuda.threadIdx.x
    if me == 3:
        out[100] = 1  # past the end
    cuda.syncthreads()
    out[me] = me
"""


@pytest.mark.skipif(not cuda_simulated(), reason="checks how tests/conftest.py runs the simulator's threads")
def test_the_simulator_runs_a_kernel_without_barriers_thread_by_thread_and_one_with_barriers_side_by_side():
    # tests/conftest.py runs the threads of a kernel that never waits at a barrier one after another, each with its
    # own indices, and those of a kernel that does (the tiled ones) side by side, meeting at its BlockBarrier
    import numba
    from numba import cuda

    namespace = {"cuda": cuda, "int64": numba.int64}
    exec(SIMULATOR_KERNELS, namespace)
    arrays = [cuda.to_device(np.full(24, -1, np.int64)) for _ in range(4)]
    cuda.jit(namespace["where_am_i"])[3, 8](*arrays)
    grid, threads, blocks, lanes = (a.copy_to_host() for a in arrays)
    np.testing.assert_array_equal(grid, np.arange(24))
    np.testing.assert_array_equal(threads, np.tile(np.arange(8), 3))
    np.testing.assert_array_equal(blocks, np.repeat(np.arange(3), 8))
    np.testing.assert_array_equal(lanes, np.tile(np.arange(8), 3))
    out = cuda.to_device(np.full(16, -1, np.int64))
    cuda.jit(namespace["next_thread_s"])[2, 8](out)
    np.testing.assert_array_equal(out.copy_to_host(), np.tile(10 * ((np.arange(8) + 1) % 8), 2))
    # a thread that fails stops the block's others at their barrier, and its error is the launch's
    with pytest.raises(IndexError, match=r"tid=\[3, 0, 0\] ctaid=\[0, 0, 0\]"):
        cuda.jit(namespace["one_thread_fails"])[1, 8](out)


def test_gradcheck_refuses_a_cuda_module_and_says_what_to_do():
    model = pytcn.TCN(input_channels=1, nb_filters=2, kernel_size=2, dilations=[1], dtype=np.float64,
                      backend="cuda")
    with pytest.raises(TypeError, match="gradcheck needs a module on a host backend"):
        pytcn.gradcheck(model, np.zeros((1, 3, 1)))


# ----------------------------------------------------------------------------------------------------------------
# Training, resume and the CLI on 'cuda'


def tiny_config(tmp_path, backend):
    from pytcn.training import default_config

    config = default_config("adding")
    config.update(length=SIZES["T"], nb_filters=SIZES["C"], kernel_size=SIZES["K"], dilations=[1, 2], epochs=2,
                  batch_size=8, train_size=16, val_size=8, test_size=8, backend=backend, dropout_rate=0.2)
    return config


@pytest.mark.usefixtures("cuda_by_name_for_tests")  # a run's configuration names its backend
def test_training_on_cuda_resumes_bit_for_bit_and_follows_the_cpu(tmp_path):
    from pytcn.training import Trainer

    straight = Trainer(tiny_config(tmp_path, "cuda"), tmp_path / "straight", progress=False, log=lambda *a: None)
    straight.run()
    first = Trainer(dict(tiny_config(tmp_path, "cuda"), epochs=1), tmp_path / "split", progress=False,
                    log=lambda *a: None)
    first.run()
    resumed = Trainer.resume(tmp_path / "split", progress=False, log=lambda *a: None, epochs=2)
    resumed.run()
    on_cpu = Trainer(tiny_config(tmp_path, "cpu"), tmp_path / "cpu", progress=False, log=lambda *a: None)
    on_cpu.run()
    for name, p in straight.model.state_dict().items():
        # the CUDA kernels add in a fixed order: stopping and resuming changes no bit
        assert np.array_equal(resumed.model.state_dict()[name], p), f"{name} differs after a resume"
        assert_close(p, on_cpu.model.state_dict()[name], what=f"{name}, cuda vs cpu after 2 epochs")


@pytest.mark.usefixtures("cuda_by_name_for_tests")
def test_cli_trains_and_evaluates_on_cuda(tmp_path, capsys):
    from pytcn.cli import main

    out = tmp_path / "run"
    args = ["train", "adding", "--backend", "cuda", "--length", str(SIZES["T"]), "--nb-filters", "3",
            "--kernel-size", "2", "--dilations", "1,2", "--epochs", "1", "--train-size", "16", "--val-size", "8",
            "--test-size", "8", "--batch-size", "8", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    assert "test MSE" in capsys.readouterr().out
    assert main(["evaluate", str(out / "checkpoint.npz")]) == 0
    assert main(["evaluate", str(out / "checkpoint.npz"), "--backend", "cpu"]) == 0
    assert main(["info", str(out / "checkpoint.npz")]) == 0


# ----------------------------------------------------------------------------------------------------------------
# Errors


def test_device_arrays_of_the_wrong_dtype_or_shape_are_refused_by_name():
    cuda = cuda_kernels()
    model = pytcn.TCN(input_channels=2, nb_filters=3, kernel_size=2, dilations=[1], backend="cuda")
    with pytest.raises(TypeError, match="x is a device array of float64; it must be float32"):
        model.forward(cuda.to_device(np.zeros((1, 4, 2))))
    with pytest.raises(ValueError, match=r"x must have shape \(\*, \*, 2\), got \(1, 4, 3\)"):
        model.forward(cuda.to_device(np.zeros((1, 4, 3), np.float32)))
    with pytest.raises(TypeError, match="params\\['w'\\] must be a device array"):
        pytcn.Adam({"w": np.zeros(3, np.float32)}, backend="cuda")


def test_cuda_without_numba_cuda_says_what_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "numba_cuda"
                        else real_find_spec(name, *a))
    monkeypatch.delitem(backends.BACKENDS, "cuda", raising=False)
    with pytest.raises(backends.BackendUnavailableError, match=r"needs the numba-cuda package.*pip install"):
        pytcn.TCN(input_channels=1, backend="cuda")


def test_cuda_without_a_gpu_says_so_in_one_line(monkeypatch, tmp_path, capsys):
    from numba import cuda

    from pytcn.cli import main

    monkeypatch.setattr(cuda, "is_available", lambda: False)
    monkeypatch.delitem(backends.BACKENDS, "cuda", raising=False)
    with pytest.raises(backends.BackendUnavailableError, match="no usable NVIDIA GPU"):
        backends.get_backend("cuda")
    code = main(["train", "adding", "--backend", "cuda", "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("pytcn: error: backend 'cuda' found numba-cuda but no usable NVIDIA GPU")
    assert err.count("\n") == 1, err


def test_cuda_with_a_numpy_too_new_for_numba_cuda_says_what_to_install():
    # numpy 2.5 removed np.row_stack, which numba-cuda 0.30.4's array support refers to: without the simulator (and
    # with or without a GPU), asking for the backend must say so and what to install, not fail inside Numba later
    script = ("import numpy; del numpy.row_stack\n"
              "import pytcn\n"
              "try:\n    pytcn.get_backend('cuda')\n"
              "except pytcn.BackendUnavailableError as e:\n    print(e)\n")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(r"does not work with numpy .*row_stack.*numpy<2.5", out.stdout), out.stdout


@pytest.mark.parametrize("simulated", [True, False])
def test_numpy_is_checked_only_where_numba_cuda_compiles(monkeypatch, simulated):
    import numba

    def numpy_2_5():
        raise AttributeError("module 'numpy' has no attribute 'row_stack'")

    # the check reads numba's flag at the time the backend is made: both ways here, on a GPU or in the simulator
    monkeypatch.setattr(numba.config, "ENABLE_CUDASIM", simulated)
    monkeypatch.setattr(backends, "_numba_cuda_array_support", numpy_2_5)
    monkeypatch.delitem(backends.BACKENDS, "cuda", raising=False)
    if simulated:  # the simulator compiles nothing, and runs with any numpy
        assert backends.get_backend("cuda").name == "cuda"
    else:  # the check comes before the GPU's: it says the same with or without a GPU
        with pytest.raises(backends.BackendUnavailableError, match=r"does not work with numpy .*numpy<2.5"):
            backends.get_backend("cuda")


def test_gradient_norm_of_device_gradients_equals_the_cpu_one():
    cpu, gpu = pair_of_models()
    x = np.random.default_rng(8).standard_normal((SIZES["N"], SIZES["T"], 2))
    for m in (cpu, gpu):
        m.backward(np.ones(m.forward(x).shape))
    expected = pytcn.optim.global_grad_norm(cpu.grads)
    assert_close(np.float64(pytcn.optim.global_grad_norm(gpu.grads)), np.float64(expected))  # backend inferred
    assert_close(np.float64(pytcn.optim.clip_factor(gpu.grads, 0.1)),
                 np.float64(pytcn.optim.clip_factor(cpu.grads, 0.1)))


# ----------------------------------------------------------------------------------------------------------------
# Compiled for a GPU. The simulator runs kernels as Python: it accepts code that numba-cuda's compiler refuses (a
# shared array whose shape is an expression, not a constant, passed there and failed here). With NVIDIA's compiler
# libraries (pip packages nvidia-nvvm and nvidia-cuda-nvrtc, in the test extra), numba-cuda compiles to PTX without
# a GPU or a driver.

COMPILE_FAST_KERNELS = """
import numba, numpy as np
from numba import cuda, types
from pytcn.kernels.cuda import arrays, tiled

def signature(*args):
    return tuple(types.Array(numba.from_dtype(a.dtype), a.ndim, "C") if isinstance(a, np.ndarray)
                 else numba.typeof(a) for a in args)

def compile(kernel, *args):
    ptx, _ = cuda.compile_ptx(kernel.py_func, signature(*args), cc=(9, 0))  # an H100 or H200
    return ptx

for dtype in (np.float32, np.float64):
    zero = dtype(0)
    y, x = np.zeros((2, 3, 5), dtype), np.zeros((2, 4, 5), dtype)
    W, b = np.zeros((3, 4, 2), dtype), np.zeros(3, dtype)
    ptx = compile(tiled._tap_gemm_kernel(tiled.CONV_TILES), y, x, W, b, 2, True, True, zero)
    # the 8 sums of a thread stay in registers: a local array indexed by a non-constant would be spilled to memory
    assert "__local_depot" not in ptx, "tap_gemm: the accumulators are in local memory"
    assert ptx.count("fma.rn.f" + ("32" if dtype == np.float32 else "64")) >= 8
    for partial in (np.zeros((1, 3, 8), dtype), np.zeros((4, 3, 8))):
        ptx = compile(tiled._weight_gradient_kernel(tiled.WEIGHT_TILES), partial, y, x, 2, 64, zero)
        assert "__local_depot" not in ptx, "weight_gradient: the accumulators are in local memory"
    compile(tiled._bias_gradient_kernel(tiled.BIAS_THREADS), b, y, zero)
    compile(tiled._chunk_sum_kernel, b, np.zeros((4, 3)))
    # the head's mean over each sequence's steps, whose sum starts from x's dtype and divides by an int64 length
    lengths = np.ones(2, np.int64)
    compile(arrays._mean_steps_kernel, np.zeros((2, 3), dtype), y, lengths)
    compile(arrays._spread_steps_kernel, y, np.zeros((2, 3), dtype), lengths)
print("compiled")
"""


def nvidia_compiler_libraries():
    """Whether the wheels of NVIDIA's NVVM and NVRTC libraries are installed (numba-cuda finds them there)."""
    spec = importlib.util.find_spec("nvidia")
    roots = [Path(p) for p in (spec.submodule_search_locations if spec else [])]
    return all(any(root.glob(f"*/lib/{lib}.so*") for root in roots) for lib in ("libnvvm", "libnvrtc"))


@pytest.mark.skipif(not nvidia_compiler_libraries() and not ON_CI,
                    reason="needs NVIDIA's compiler libraries: pip install nvidia-nvvm nvidia-cuda-nvrtc (in the test "
                           "extra)")
def test_fast_kernels_compile_for_a_gpu():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", COMPILE_FAST_KERNELS], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0 and "compiled" in out.stdout, out.stderr[-3000:]
