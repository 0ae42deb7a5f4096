"""Streaming (pytcn.streaming): stepping through a sequence gives what the full forward pass gives, at every step.

- For any architecture (kernel size, dilations, stacks, skip connections or not, weight, layer or batch norm,
  per-block widths, return_sequences or not, either dropout) and any split of a sequence into chunks and single
  steps, the outputs of ``step`` equal ``forward``'s at every step, on 'numpy', 'cpu' and 'cuda' (on a GPU, or in
  numba-cuda's simulator).
- The convolution's step kernel, run along a sequence, is the full convolution (kernels/stream.py against
  kernels/conv.py, two kernels with no code in common).
- A state is plain arrays: a copy continues as the original does, a state saved to a file and restored continues
  too, and resetting some sequences starts them afresh while the others go on.
- Wrong input says what is wrong in one line.
"""
import dataclasses
import functools
import io
import numbers
import re
import warnings

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import pytcn
from pytcn import kernels
from tests.helpers import (  # noqa: F401 (one_numba_thread: autouse fixture)
    assert_close,
    cuda_simulated,
    cuda_twins,
    model_backend,
    needs_numba_cuda,
    on_device,
    one_numba_thread,
    randomize,
)
from tests.strategies import FLOAT_DTYPES, normal, seeds

BACKENDS = ["numpy", "cpu", pytest.param("cuda", marks=needs_numba_cuda)]
backends = pytest.mark.parametrize("backend", BACKENDS)


@st.composite
def architectures(draw):
    """The constructor arguments of a small TCN: every option streaming must carry."""
    dilations = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    skip = draw(st.booleans())
    widths = draw(st.lists(st.integers(1, 4), min_size=len(dilations), max_size=len(dilations)))
    norm = draw(st.sampled_from([None, "weight", "layer", "batch"]))
    return dict(input_channels=draw(st.integers(1, 3)), outputs=draw(st.integers(1, 3)),
                nb_filters=widths[0] if skip or draw(st.booleans()) else widths,
                kernel_size=draw(st.integers(1, 4)), dilations=dilations, nb_stacks=draw(st.integers(1, 2)),
                use_skip_connections=skip, return_sequences=draw(st.booleans()),
                dropout_rate=draw(st.sampled_from([0.0, 0.3])), dropout_type=draw(st.sampled_from(["spatial",
                                                                                                   "elementwise"])),
                **({f"use_{norm}_norm": True} if norm else {}))


@st.composite
def splits(draw, T):
    """Cut points of a sequence of T steps: each piece is stepped as one step (length 1, 2-D input) or a chunk."""
    cuts = sorted(draw(st.sets(st.integers(1, T - 1), max_size=4))) if T > 1 else []
    bounds = [0, *cuts, T]
    return [(a, b, b - a == 1 and draw(st.booleans())) for a, b in zip(bounds[:-1], bounds[1:])]


def full_outputs(model, x):
    """What forward gives at every step: (N, T, outputs). Without return_sequences the head reads the last step,
    so step t's output is that of the sequence cut after step t."""
    if model.return_sequences:
        return pytcn.to_numpy(model.forward(x))
    return np.stack([pytcn.to_numpy(model.forward(x[:, :t + 1])) for t in range(x.shape[1])], axis=1)


def streamed_outputs(model, x, pieces, state=None):
    state = model.stream(x.shape[0]) if state is None else state
    ys = []
    for a, b, as_step in pieces:
        if as_step:
            y, state = model.step(x[:, a], state)
            ys.append(pytcn.to_numpy(y)[:, None])
        else:
            y, state = model.step(x[:, a:b], state)
            ys.append(pytcn.to_numpy(y))
    return np.concatenate(ys, axis=1), state


@backends
@settings(max_examples=8 if cuda_simulated() else 30)
@given(config=architectures(), dtype=st.sampled_from(FLOAT_DTYPES), N=st.integers(1, 3), T=st.integers(1, 14),
       seed=seeds, data=st.data())
def test_stepping_equals_the_full_forward_at_every_step(backend, config, dtype, N, T, seed, data):
    if backend == "cuda" and not config["return_sequences"]:
        T = min(T, 6)  # one forward per step in the simulator: keep it short
    model = pytcn.TCN(**config, dtype=dtype, seed=0, backend=model_backend(backend))
    rng = np.random.default_rng(seed)
    params = model.state_dict()
    randomize({name: params[name] for name in model.params}, rng)
    model.load_state_dict(params)
    if config.get("use_batch_norm"):  # running statistics away from (0, 1), as after training
        model.forward(2 + 3 * rng.standard_normal((3, 8, config["input_channels"])).astype(dtype), training=True)
    x = normal(rng, (N, T, config["input_channels"]), dtype)
    pieces = data.draw(splits(T))
    streamed, state = streamed_outputs(model, x, pieces)
    assert_close(streamed, full_outputs(model, x), what=f"stepped in pieces {pieces}")
    assert int(state["step"]) == T


@pytest.mark.parametrize("backend", ["numpy", "numba", pytest.param("cuda", marks=needs_numba_cuda)])
@given(N=st.integers(1, 4), C_in=st.integers(1, 4), C_out=st.integers(1, 4), K=st.integers(2, 4),
       d=st.integers(1, 5), T=st.integers(1, 30), relu=st.booleans(), seed=seeds)
def test_step_kernel_along_a_sequence_is_the_full_convolution(backend, N, C_in, C_out, K, d, T, relu, seed):
    step = on_device(cuda_twins()["conv_step"]) if backend == "cuda" else kernels.TWINS["conv_step"][backend == "numba"]
    rng = np.random.default_rng(seed)
    x = normal(rng, (N, C_in, T), np.float64)
    W, b = normal(rng, (C_out, C_in, K), np.float64), normal(rng, (C_out,), np.float64)
    expected = np.empty((N, C_out, T))
    (kernels.conv_relu_forward_numpy if relu else kernels.conv_forward_numpy)(expected, x, W, b, d)
    history = np.zeros((N, (K - 1) * d, C_in))
    for t in range(T):
        y = np.full((N, C_out), np.nan)
        step(y, history, np.ascontiguousarray(x[:, :, t]), W, b, d, t, relu)
        assert_close(y, expected[:, :, t], what=f"step {t}")


def model_and_input(backend="cpu", **overrides):
    config = dict(input_channels=2, outputs=2, nb_filters=3, kernel_size=3, dilations=[1, 2], nb_stacks=2,
                  return_sequences=True, dtype=np.float64, seed=3, backend=model_backend(backend)) | overrides
    if backend == "cuda" and cuda_simulated():
        config["nb_stacks"] = 1  # every CUDA thread runs as Python: keep it small
    model = pytcn.TCN(**config)
    x = np.random.default_rng(1).standard_normal((3, 13 if backend == "cuda" else 20, 2))
    return model, x


@backends
def test_a_copied_state_continues_as_the_original(backend):
    model, x = model_and_input(backend)
    state = model.stream(3)
    model.step(x[:, :8], state)
    kept = model.stream(state=state)
    assert int(kept["step"]) == 8
    rest, _ = model.step(x[:, 8:], state)  # the original goes on; the copy must not move with it
    again, _ = model.step(x[:, 8:], kept)
    assert_close(pytcn.to_numpy(again), pytcn.to_numpy(rest))
    assert_close(pytcn.to_numpy(again), pytcn.to_numpy(model.forward(x))[:, 8:])


@backends
def test_a_state_saved_to_a_file_and_restored_continues(backend):
    model, x = model_and_input(backend)
    state = model.stream(3)
    model.step(x[:, :11], state)
    buffer = io.BytesIO()
    np.savez(buffer, **{name: pytcn.to_numpy(a) for name, a in state.items()})
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as saved:
        restored = model.stream(state=dict(saved))
    y, _ = model.step(x[:, 11:], restored)
    assert_close(pytcn.to_numpy(y), pytcn.to_numpy(model.forward(x))[:, 11:])


@backends
def test_resetting_some_sequences_starts_them_afresh_and_leaves_the_others(backend):
    model, x = model_and_input(backend)
    state = model.stream(3)
    model.step(x[:, :9], state)
    model.reset_stream(state, samples=[0, 2])
    fresh = np.random.default_rng(2).standard_normal((3, x.shape[1] - 9, 2))
    mixed = x[:, 9:].copy()
    mixed[[0, 2]] = fresh[[0, 2]]
    y = pytcn.to_numpy(model.step(mixed, state)[0])
    assert_close(y[[0, 2]], pytcn.to_numpy(model.forward(fresh))[[0, 2]], what="the sequences started afresh")
    assert_close(y[1], pytcn.to_numpy(model.forward(x))[1, 9:], what="the sequence that went on")
    model.reset_stream(state)
    assert int(state["step"]) == 0


def test_kernel_size_one_keeps_no_history_but_its_batch_size():
    model, x = model_and_input(kernel_size=1, use_weight_norm=True)
    state = model.stream(3)
    assert set(state) == {"step", "batch_size"} and int(state["batch_size"]) == 3
    y, _ = model.step(x, state)
    assert_close(y, model.forward(x))
    # no ring buffer says how many sequences there are: the state does, so another batch is refused
    with pytest.raises(ValueError, match=r"^x must have shape \(3, 2\), got \(5, 2\)"):
        model.step(np.zeros((5, 2)), state)
    with pytest.raises(ValueError, match=r"^samples must be a list of indices into the batch of 3 sequences, got "
                                         r"\[99\]"):
        model.reset_stream(state, samples=[99])
    with pytest.raises(ValueError, match="batch_size is 4, but the state given holds 3"):
        model.stream(4, state=state)
    kept = model.stream(state={name: np.asarray(a) for name, a in state.items()})
    assert int(kept["batch_size"]) == 3 and int(kept["step"]) == x.shape[1]


def test_a_state_buffer_given_as_a_nested_list_is_refused_by_name():
    model, x = model_and_input()
    state = model.stream(3)
    listed = state | {"tcn.network.2.conv1": state["tcn.network.2.conv1"].tolist()}
    message = r"^state\['tcn.network.2.conv1'\] must be an array \(NumPy, or of the model's backend 'cpu'\), got list$"
    with pytest.raises(TypeError, match=message):
        model.step(x[:, 0], listed)
    with pytest.raises(TypeError, match=message):
        model.stream(state=listed)
    with pytest.raises(TypeError, match=message):
        model.reset_stream(listed, samples=[0])


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_a_read_only_state_buffer_is_refused_by_name_and_a_read_only_x_just_works(backend):
    model, x = model_and_input(backend)
    state = model.stream(3)
    model.step(x[:, :5], state)
    frozen = {name: a.copy() for name, a in state.items()}
    frozen["tcn.network.1.conv2"].flags.writeable = False
    message = r"^state\['tcn.network.1.conv2'\] is read-only, but the stream writes into it"
    with pytest.raises(ValueError, match=message):  # was a Numba TypingError from inside the ring-buffer kernel
        model.step(x[:, 5], frozen)
    with pytest.raises(ValueError, match=message):
        model.reset_stream(frozen, samples=[1])
    assert int(frozen["step"]) == 5, "a refused step must not advance the state"
    copied = model.stream(state=frozen)  # a copy is only read from it: the way to go on
    assert copied["tcn.network.1.conv2"].flags.writeable
    # the input is only read: a read-only x (and a read-only chunk) gives what a writeable one gives
    x_frozen = x.copy()
    x_frozen.flags.writeable = False
    y_frozen, _ = model.step(x_frozen[:, 5], copied)
    y_chunk, _ = model.step(x_frozen[:, 6:], copied)
    y, _ = model.step(x[:, 5:], state)
    np.testing.assert_array_equal(np.concatenate([y_frozen[:, None], y_chunk], axis=1), y)


def test_resetting_no_sequences_is_a_no_op():
    model, x = model_and_input()
    state = model.stream(3)
    model.step(x[:, :7], state)
    before = {name: np.array(a) for name, a in state.items()}
    for none in ([], (), np.array([], np.int64)):  # as NumPy indexes with an empty list: no row
        assert model.reset_stream(state, samples=none) is state
        for name, a in before.items():
            np.testing.assert_array_equal(state[name], a, err_msg=f"samples={none!r} changed {name}")


def test_a_step_allocates_nothing_but_its_output_after_the_first():
    model, x = model_and_input(use_weight_norm=True)
    state = model.stream(3)
    model.step(x[:, 0], state)
    ws = model.workspace()
    before = ws.stream_step.allocations
    for t in range(1, 6):
        model.step(x[:, t], state)
    assert ws.stream_step.allocations == before


def test_stream_flops_counts_every_multiply_add_by_hand():
    # input 2 -> 3 channels, K 3: block 0 conv1 3*2*3, conv2 3*3*3, downsample 3*2*1; block 1: 3*3*3 twice; head 3*2
    model = pytcn.TCN(input_channels=2, outputs=2, nb_filters=3, kernel_size=3, dilations=[1, 2], seed=0)
    macs = 18 + 27 + 6 + 27 + 27 + 6
    assert pytcn.streaming.stream_flops(model, batch_size=4) == 2 * macs * 4


@pytest.mark.parametrize("call, message", [
    (lambda m, s: m.stream(), "needs batch_size"),
    (lambda m, s: m.stream(0), "batch_size must be"),
    (lambda m, s: m.stream(2, state=s), "batch_size is 2, but the state given holds 3"),
    (lambda m, s: m.step(np.zeros((2, 2)), s), "x must have shape (3, 2)"),
    (lambda m, s: m.step(np.zeros((3, 5)), s), "x must have shape (3, 2)"),
    (lambda m, s: m.step(np.zeros(3), s), "x must be one step (N, input_channels) or a chunk"),
    (lambda m, s: m.step(np.zeros((3, 2), int), s), "x must have a real floating dtype"),
    (lambda m, s: m.step(np.zeros((3, 2)), {"a": 1}), "state must be the dict that model.stream() returned"),
    (lambda m, s: m.step(np.zeros((3, 2)), s | {"step": np.array(-1)}), "state['step'] must be a non-negative"),
    (lambda m, s: m.step(np.zeros((3, 2)), pytcn.TCN(input_channels=2, kernel_size=2, dilations=[1],
                                                     seed=0).stream(3)), "state does not fit this model"),
    (lambda m, s: m.step(np.zeros((3, 2)), s | {"tcn.network.0.conv1": np.zeros((3, 2, 2), np.float32)}),
     "must be float64, the model's dtype"),
    (lambda m, s: m.reset_stream(s, samples=[5]), "samples must be a list of indices into the batch of 3"),
    (lambda m, s: m.reset_stream(s, samples=[[0], [1, 2]]), "samples must be a list of indices into the batch of 3"),
    (lambda m, s: m.reset_stream(s, samples=[True, 2]), "samples must be a list of indices into the batch of 3"),
    (lambda m, s: m.step(np.zeros((3, 2)), s | {"step": np.array(2**63 - 1)}),
     "state['step'] is 9223372036854775807: 1 more steps would count past 2**63 - 1"),
    (lambda m, s: m.step(np.zeros((3, 2)), s | {7: np.zeros(1)}), "unexpected [7]"),
    (lambda m, s: m.step(np.zeros((3, 2)), s | {"tcn.network.0.conv1": np.zeros((3, 2, 4))[:, :, ::2]}),
     "state['tcn.network.0.conv1'] is not C-contiguous"),
    (lambda m, s: m.stream(2**62), "batch_size must be at most"),
])
def test_mistakes_are_named(call, message):
    model, _ = model_and_input()
    state = model.stream(3)
    with pytest.raises((TypeError, ValueError)) as info:
        call(model, state)
    assert message in str(info.value)


def test_a_model_with_mean_pooling_refuses_to_stream_saying_why():
    # its head reads the mean over every step so far, which a stream (the head at each step) does not keep
    model = pytcn.TCN(input_channels=2, nb_filters=3, kernel_size=2, dilations=[1, 2], pooling="mean", seed=0)
    state = pytcn.TCN(**(model.config | {"pooling": "last"})).stream(3)  # a state of the same blocks
    for call in (lambda: model.stream(3), lambda: model.stream(state=state),
                 lambda: model.step(np.zeros((3, 2), np.float32), state), lambda: model.reset_stream(state)):
        with pytest.raises(ValueError, match=r"pooling='mean' cannot stream: .*running mean .* is not implemented"):
            call()


def test_pytcn_stream_writes_what_the_full_forward_gives(tmp_path, capsys):
    from pytcn import cli
    from pytcn.training import build_model
    from pytcn.training.loop import load_run

    run = tmp_path / "run"
    small = ["--length", "12", "--train-size", "32", "--val-size", "16", "--test-size", "16", "--nb-filters", "4",
             "--kernel-size", "3", "--dilations", "1,2", "--batch-size", "16", "--no-progress", "--epochs", "1"]
    assert cli.main(["train", "copy-memory", *small, "--out", str(run)]) == 0
    x = np.random.default_rng(0).standard_normal((2, 15, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    for chunk in ["1", "4"]:
        out = tmp_path / f"y{chunk}.npy"
        assert cli.main(["stream", str(run), str(tmp_path / "x.npy"), "--out", str(out), "--chunk", chunk]) == 0
        assert f"written to {out}" in capsys.readouterr().out
        meta, params, _, _ = load_run(str(run))
        model = build_model(meta["config"])
        model.load_state_dict(params)
        assert_close(np.load(out), model.forward(x), what=f"chunks of {chunk}")
    np.save(tmp_path / "bad.npy", np.zeros((2, 15, 3), np.float32))
    assert cli.main(["stream", str(run), str(tmp_path / "bad.npy"), "--out", str(tmp_path / "o.npy")]) == 2
    assert "expected floating inputs of shape (N, T, 1)" in capsys.readouterr().err
    (tmp_path / "text.npy").write_text("not an array")
    assert cli.main(["stream", str(run), str(tmp_path / "text.npy"), "--out", str(tmp_path / "o.npy")]) == 2
    assert "not a readable .npy file" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------------------
# Every public entry point of streaming fed bad arguments: a correct result, or one TypeError or ValueError naming the
# argument and what was given. Never an AttributeError, an IndexError, a Numba error from inside a kernel, a state
# left half changed, or an argument silently read as something else.

N_FUZZ = 2  # the batch of the states below
INT64_MAX = 2**63 - 1
# the ring buffers of fuzz_model(K=2), written out from the architecture: name -> (L, C_in), L = (K-1)*d
FUZZ_BUFFERS = {"tcn.network.0.conv1": (1, 2), "tcn.network.0.conv2": (1, 3), "tcn.network.1.conv1": (2, 3),
                "tcn.network.1.conv2": (2, 3)}
# one step's multiply-adds, counted by hand: conv1, conv2, downsample of block 0; conv1, conv2 of block 1; the head
FUZZ_FLOPS = {2: 2 * (3 * 2 * 2 + 3 * 3 * 2 + 3 * 2 + 3 * 3 * 2 + 3 * 3 * 2 + 3 * 2),
              1: 2 * (3 * 2 + 3 * 3 + 3 * 2 + 3 * 3 + 3 * 3 + 3 * 2)}
ODD_VALUES = [None, True, False, 0, -1, 1, 2, 2.0, 2.5, float("nan"), float("inf"), 2**31, 2**63, 2**70, -2**70,
              np.int64(2), np.uint64(2**64 - 1), np.float64(2.0), np.bool_(True), "2", b"2", 1j, object(), [], (),
              {}, set(), [[]], [[0.5, 1.5], [2.5]], [[0.5, 1.5], [2.5, 3.5]], {"a": 1}, range(2),
              np.array(2), np.array([1, 0]), np.zeros((2, 2), object), np.array(["a", "b"])]
ODD_DTYPES = [np.float64, np.float32, np.float16, ">f8", np.int64, np.uint8, np.bool_, np.complex128, object, "U2"]


@functools.cache
def fuzz_model(backend, K):
    """A tiny model: 2 input channels, 3 filters, dilations [1, 2]; K = 2 (four ring buffers) or 1 (none)."""
    return pytcn.TCN(input_channels=2, outputs=2, nb_filters=3, kernel_size=K, dilations=[1, 2],
                     return_sequences=True, dtype=np.float64, seed=0, backend=backend)


def fuzz_state(model, steps, seed):
    """A state of N_FUZZ sequences after ``steps`` steps of standard normal input, as plain NumPy arrays."""
    state = model.stream(N_FUZZ)
    if steps:
        model.step(np.random.default_rng(seed).standard_normal((N_FUZZ, steps, 2)), state)
    return {name: np.array(a) for name, a in state.items()}


def is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def said(message, word):
    """Whether ``word`` stands in ``message`` on its own (so "int" is not found in "integer")."""
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", message) is not None


def words_for(value):
    """What a message may say of ``value``: its type, its repr when short, an array's shape and dtype."""
    words = {type(value).__name__}
    if isinstance(value, np.ndarray):
        words |= {str(value.dtype), str(value.shape)}
    if isinstance(value, (numbers.Number, np.generic)):
        words.add(str(value))  # np.uint8(3) is 3
    if len(repr(value)) < 80:
        words.add(repr(value))
    return words


@st.composite
def odd_arrays(draw, shape):
    """Arrays about ``shape``: the shape itself or one axis off, empty, added or dropped; any dtype; normal values,
    NaN, infinity or 1e300; C order, Fortran order, strided, or read-only."""
    shape = list(shape)
    change = draw(st.sampled_from(["none", "none", "off by one", "empty", "axis added", "axis dropped"]))
    axis = draw(st.integers(0, len(shape) - 1))
    if change == "off by one":
        shape[axis] += draw(st.sampled_from([-1, 1]))
    elif change == "empty":
        shape[axis] = 0
    elif change == "axis added":
        shape.insert(axis, draw(st.integers(1, 2)))
    elif change == "axis dropped":
        del shape[axis]
    dtype = np.dtype(draw(st.sampled_from(ODD_DTYPES)))
    rng = np.random.default_rng(draw(seeds))
    values = rng.standard_normal(shape)
    values[rng.random(shape) < 0.3] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e300, 0.0]))
    if dtype.kind in "fc":
        with np.errstate(over="ignore"):  # 1e300 in float16 or float32: infinity, as NumPy casts it
            a = values.astype(dtype)
    elif dtype.kind in "iub":
        a = rng.integers(0, 2, shape).astype(dtype)
    else:
        a = np.full(shape, "a", dtype) if dtype.kind == "U" else values.astype(dtype)
    layout = draw(st.sampled_from(["C", "F", "strided", "read-only"]))
    if layout == "F":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        wide[..., ::2] = a
        a = wide[..., ::2]
    elif layout == "read-only":
        a.flags.writeable = False
    return a


def odd_values(shape):
    return st.one_of(odd_arrays(shape), st.sampled_from(ODD_VALUES), st.lists(st.lists(st.floats(), max_size=3),
                                                                               max_size=3))


@dataclasses.dataclass
class Case:
    """One call of an entry point: ``call()`` runs it; ``valid``, whether it must succeed (else it must be refused);
    ``names``, alternatives of what a refusal must name (each a tuple of words, all said); ``words``, what it may say
    of the value given (one of them); ``check(result)``, that a success is correct; ``state``, the state given (a
    refusal must leave it as it was)."""

    call: object
    valid: bool
    names: list
    words: set
    check: object
    state: object = None


def same_states(after, expected, what):
    assert set(after) == set(expected), f"{what}: names {sorted(after, key=repr)} != {sorted(expected)}"
    for name in expected:
        np.testing.assert_array_equal(pytcn.to_numpy(after[name]) if name not in ("step", "batch_size")
                                      else int(after[name]), np.asarray(expected[name]), err_msg=f"{what}: {name}")


def step_case(model, data, good):
    """model.step(x, state) with an odd x."""
    x = data.draw(odd_values(data.draw(st.sampled_from([(N_FUZZ, 2), (N_FUZZ, 3, 2)]))), label="x")
    state, clean_state = ({name: a.copy() for name, a in good.items()} for _ in range(2))
    valid = isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.ndim in (2, 3) and x.shape[0] == N_FUZZ and \
        x.shape[-1] == 2 and 0 not in x.shape

    def check(result):  # what the same values give, as a clean array of the model's dtype
        y, after = result
        y_clean, after_clean = model.step(np.array(x, np.float64, order="C"), clean_state)
        np.testing.assert_array_equal(pytcn.to_numpy(y), pytcn.to_numpy(y_clean))
        same_states(after, after_clean, "the state after the step")
    return Case(lambda: model.step(x, state), valid, [("x",)], words_for(x), check, state)


def samples_case(model, data, good):
    """model.reset_stream(state, samples) with odd sample indices."""
    samples = data.draw(st.one_of(st.none(), st.lists(st.integers(-2 * N_FUZZ, 2 * N_FUZZ), max_size=4),
                                  st.lists(st.integers(-1, 1), max_size=3).map(tuple),
                                  st.builds(np.array, st.lists(st.integers(0, 1), max_size=3),
                                            st.sampled_from([np.int8, np.uint8, np.int64, np.uint64, np.float64])),
                                  st.lists(st.sampled_from([0, 1, True, 1.0, np.int64(1), 2**63, 2**70, "0", None,
                                                            [0]]), max_size=3),
                                  st.sampled_from(ODD_VALUES)), label="samples")
    state = {name: a.copy() for name, a in good.items()}  # good stays as it was: the expected values
    # valid: a sequence of ints in [-N, N) (an integer array, if an array), as NumPy indexes a batch of N
    if isinstance(samples, np.ndarray):
        entries = list(samples) if samples.ndim == 1 and samples.dtype.kind in "iu" else None
    else:
        entries = list(samples) if isinstance(samples, (list, tuple, range)) else None
    valid = samples is None or entries is not None and all(is_int(n) and -N_FUZZ <= n < N_FUZZ for n in entries)

    def check(result):  # the rows NumPy's indexing picks are zeros, the others as they were
        assert result is state
        rows = np.arange(N_FUZZ) if samples is None else np.arange(N_FUZZ)[np.array(entries, np.int64)]
        for name, a in good.items():
            if name in ("step", "batch_size"):
                assert int(state[name]) == (0 if samples is None and name == "step" else int(a)), name
                continue
            expected = a.copy()
            expected[rows] = 0
            np.testing.assert_array_equal(state[name], expected, err_msg=f"{name} after samples={samples!r}")
    return Case(lambda: model.reset_stream(state, samples=samples), valid, [("samples",)], words_for(samples),
                check, state)


def batch_size_case(model, data, good):
    """model.stream(batch_size) with an odd batch size, with or without a state to copy."""
    with_state = data.draw(st.booleans(), label="with a state")
    batch_size = data.draw(st.one_of(st.integers(-2, 4), st.sampled_from(
        [2**62, 2**63, 2**70, np.int64(2), np.uint8(3), True, 2.0, float("nan"), "2", [2], np.array(2)])),
        label="batch_size")
    buffers = FUZZ_BUFFERS if model.kernel_size == 2 else {}
    if with_state:
        valid = is_int(batch_size) and batch_size == N_FUZZ
    else:  # 2**62 sequences: a state without buffers holds them, ring buffers of them could not be addressed
        valid = is_int(batch_size) and 1 <= batch_size <= (4 if buffers else INT64_MAX)

    def check(state):
        if with_state:
            same_states(state, good, "the copy")
            return
        assert set(state) == {"step", "batch_size", *buffers}
        assert int(state["step"]) == 0 and int(state["batch_size"]) == batch_size
        for name, (L, C) in buffers.items():
            np.testing.assert_array_equal(state[name], np.zeros((batch_size, L, C)), err_msg=name)
    call = (lambda: model.stream(batch_size, state=dict(good))) if with_state else lambda: model.stream(batch_size)
    return Case(call, valid, [("batch_size",)], words_for(batch_size), check)


def stream_flops_case(model, data, good):
    """pytcn.streaming.stream_flops(model, batch_size) with an odd model or batch size."""
    which = data.draw(st.one_of(st.just(model), st.sampled_from(ODD_VALUES)), label="model")
    batch_size = data.draw(st.one_of(st.integers(-1, 3), st.sampled_from([2**70, np.int64(2), True, 2.0, "1"])),
                           label="batch_size")
    bad_model = which is not model
    valid = not bad_model and is_int(batch_size) and batch_size >= 1

    def check(flops):
        assert flops == batch_size * FUZZ_FLOPS[model.kernel_size]
    return Case(lambda: pytcn.streaming.stream_flops(which, batch_size), valid,
                [("model",)] if bad_model else [("batch_size",)], words_for(which if bad_model else batch_size), check)


@st.composite
def odd_states(draw, model, good):
    """A state gone wrong, or odd but good: (state, the entry points it is valid for, what a refusal must name,
    what it may say of the value, the state it means when valid)."""
    every = {"step", "stream", "reset"}
    buffer_names = sorted(name for name in good if name not in ("step", "batch_size"))
    kinds = ["step", "step at its end", "step wrong", "batch_size", "batch_size other", "batch_size wrong",
             "batch_size missing", "extra key", "not a state", "another architecture", "another backend's",
             "a float32 model's"]
    if buffer_names:
        kinds += ["nested list", "read-only", "not contiguous", "NaN", "huge", "float32", "misshapen", "odd value",
                  "missing"]
    kind = draw(st.sampled_from(kinds), label="what is odd")
    state, means = ({name: a.copy() for name, a in good.items()} for _ in range(2))
    name = draw(st.sampled_from(buffer_names), label="buffer") if buffer_names else None
    a = good[name].copy() if name else None
    at = [("state", repr(name))]
    if kind == "nested list":
        state[name] = a.tolist()
        return state, set(), at, {"list"}, None
    if kind == "read-only":
        a.flags.writeable = False
        state[name] = a
        return state, {"stream"}, at, {"read-only"}, means
    if kind == "not contiguous":
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],))
        wide[..., ::2] = a
        state[name] = wide[..., ::2]
        return state, {"stream"}, at, {"C-contiguous"}, means
    if kind in ("NaN", "huge"):
        a[np.random.default_rng(draw(seeds)).random(a.shape) < 0.5] = np.nan if kind == "NaN" else 1e300
        state[name], means[name] = a, a.copy()
        return state, every, at, set(), means
    if kind == "float32":
        state[name] = a.astype(np.float32)
        return state, set(), at, {"float32"}, None
    if kind == "misshapen":
        shape = list(a.shape)
        axis = draw(st.integers(0, 2))
        shape[axis] += draw(st.sampled_from([-1, 1]))
        state[name] = np.zeros(shape)
        return state, set(), at, {str(tuple(shape))}, None
    if kind == "odd value":
        state[name] = value = draw(st.sampled_from(ODD_VALUES))
        return state, set(), at, words_for(value), None
    if kind == "missing":
        del state[name]
        return state, set(), at, {"missing"}, None
    if kind in ("step", "step at its end"):
        k = draw(st.integers(0, 50)) if kind == "step" else INT64_MAX
        form = draw(st.sampled_from([int, np.int64, np.array, np.uint64]))
        state["step"], means["step"] = form(k), np.array(k)
        # at 2**63 - 1 a stream can be copied and reset, but not advanced
        return state, every if kind == "step" else {"stream", "reset"}, [("state", "'step'")], {str(k)}, means
    if kind == "step wrong":
        state["step"] = value = draw(st.sampled_from([-1, 2**63, 2**70, np.uint64(2**64 - 1), 1.0, True, "1", None,
                                                      np.array([1]), [1], [[1], [1, 2]], np.array(-1),
                                                      np.array(1.5)]))
        return state, set(), [("state", "'step'")], words_for(value), None
    if kind == "batch_size":
        state["batch_size"] = draw(st.sampled_from([int, np.int64, np.array, np.uint8]))(N_FUZZ)
        return state, every, [("state", "'batch_size'")], set(), means
    if kind == "batch_size other":
        M = draw(st.sampled_from([1, 3, 5]))
        state["batch_size"], means["batch_size"] = M, np.array(M)
        if buffer_names:  # the buffers hold N_FUZZ sequences
            return state, set(), [("state", "'batch_size'")], {str(M)}, None
        # a state of M sequences of a model that keeps no history: good, but not for a step of N_FUZZ inputs
        return state, {"stream", "reset"}, [("state", "'batch_size'"), ("x",)], {str(M)}, means
    if kind == "batch_size wrong":
        state["batch_size"] = value = draw(st.sampled_from([0, -1, 2**63, 2**70, 2.0, True, "2", None,
                                                            np.array([2])]))
        return state, set(), [("state", "'batch_size'")], words_for(value), None
    if kind == "batch_size missing":
        del state["batch_size"]
        return state, set(), [("state", "'batch_size'")], {"missing"}, None
    if kind == "extra key":
        key = draw(st.sampled_from(["extra", 7, ("a", 1), None, "tcn.network.9.conv1"]))
        state[key] = np.zeros((N_FUZZ, 1, 2))
        return state, set(), [("state", repr(key))], {"unexpected"}, None
    if kind == "not a state":
        value = draw(st.sampled_from(ODD_VALUES + [list(good.values()), tuple(good.items())]))
        return value, set(), [("state",)], words_for(value), None
    if kind == "another architecture":
        other = pytcn.TCN(input_channels=2, outputs=2, nb_filters=3, kernel_size=3, dilations=[1], dtype=np.float64,
                          seed=0, backend=model.backend.name)
        return fuzz_state(other, 1, 0), set(), [("state",)], {"missing", "unexpected"}, None
    if kind == "another backend's":  # a state is plain arrays: one made on either host backend fits the other
        other = fuzz_model("numpy" if model.backend.name == "cpu" else "cpu", model.kernel_size)
        state = fuzz_state(other, 2, draw(seeds))
        return state, every, [("state",)], set(), {name: a.copy() for name, a in state.items()}
    # a float32 model's: its buffers are float32; a model that keeps no history has none to say so
    twin = pytcn.TCN(**(model.config | dict(dtype="float32")))
    state = fuzz_state(twin, 1, 0)
    if buffer_names:
        return state, set(), [("state",)], {"float32"}, None
    return state, every, [("state",)], set(), {name: a.copy() for name, a in state.items()}


def state_case(model, data, good):
    """model.step, model.stream(state=...) or model.reset_stream with an odd state."""
    entry = data.draw(st.sampled_from(["step", "stream", "reset"]), label="entry point")
    state, valid_for, names, words, means = data.draw(odd_states(model, good))
    x = np.random.default_rng(data.draw(seeds)).standard_normal(data.draw(st.sampled_from([(N_FUZZ, 2),
                                                                                           (N_FUZZ, 2, 2)])))
    samples = data.draw(st.sampled_from([None, [0], [-1]]), label="samples")
    run = {"step": lambda s: model.step(x, s), "stream": lambda s: model.stream(state=s),
           "reset": lambda s: model.reset_stream(s, samples=samples)}[entry]

    def check(result):  # what the state it means gives
        expected = run(means)
        if entry == "step":
            np.testing.assert_array_equal(pytcn.to_numpy(result[0]), pytcn.to_numpy(expected[0]))
            same_states(result[1], expected[1], "the state after the step")
        elif entry == "stream":  # a copy: writeable, contiguous, sharing no memory with the state given
            same_states(result, expected, "the copy")
            for name, a in result.items():
                assert a.flags.writeable and a.flags.c_contiguous, name
                assert not np.shares_memory(a, np.asarray(state[name])), name
        else:
            assert result is state
            same_states(result, expected, "the state after the reset")
    return Case(lambda: run(state), entry in valid_for, names, words, check, state)


CASES = [step_case, samples_case, batch_size_case, stream_flops_case, state_case, state_case]


def snapshot(state):
    if not isinstance(state, dict):
        return None
    return {name: (a, np.array(a) if isinstance(a, np.ndarray) else None) for name, a in state.items()}


def assert_unchanged(state, before):
    if before is None:
        return
    assert set(state) == set(before), "a refused call changed the state's names"
    for name, (a, values) in before.items():
        assert state[name] is a, f"a refused call replaced state[{name!r}]"
        if values is not None:
            np.testing.assert_array_equal(a, values, err_msg=f"a refused call wrote into state[{name!r}]")


@pytest.mark.parametrize("K", [2, 1])
@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@settings(max_examples=150)
@given(data=st.data(), steps=st.integers(0, 3), seed=seeds)
def test_every_entry_point_gives_a_correct_result_or_names_the_argument_never_a_crash_or_a_substitution(
        backend, K, data, steps, seed):
    model = fuzz_model(backend, K)
    good = fuzz_state(model, steps, seed)
    make = data.draw(st.sampled_from(CASES), label="entry point")
    case = make(model, data, good)
    before = snapshot(case.state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # inf - inf in a step of 1e300s: NaN, as forward gives it
        try:
            result = case.call()
        except (TypeError, ValueError) as e:
            event(f"{make.__name__}: refused")
            message = str(e)
            assert type(e) in (TypeError, ValueError), f"{type(e).__module__}.{type(e).__name__}: {message}"
            assert not case.valid, f"refused what is valid: {message}"
            assert any(all(said(message, word) for word in alternative) for alternative in case.names), \
                f"the message does not name {' or '.join(' and '.join(a) for a in case.names)}: {message}"
            assert not case.words or any(said(message, word) for word in case.words), \
                f"the message says none of {sorted(case.words)}: {message}"
            assert_unchanged(case.state, before)
            return
        event(f"{make.__name__}: accepted")
        assert case.valid, "accepted what must be refused: it was read as something it is not"
        case.check(result)
