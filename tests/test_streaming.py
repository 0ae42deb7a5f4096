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
import io

import numpy as np
import pytest
from hypothesis import given, settings
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
        config["nb_stacks"] = 1  # one Python thread per CUDA thread: keep it small
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


def test_kernel_size_one_keeps_no_history_and_streams_any_batch():
    model, x = model_and_input(kernel_size=1, use_weight_norm=True)
    state = model.stream(3)
    assert set(state) == {"step"}
    y, _ = model.step(x, state)
    assert_close(y, model.forward(x))


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
])
def test_mistakes_are_named(call, message):
    model, _ = model_and_input()
    state = model.stream(3)
    with pytest.raises((TypeError, ValueError)) as info:
        call(model, state)
    assert message in str(info.value)


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
