"""The recurrent baselines: the GRU and LSTM kernels (kernels/gru.py, kernels/lstm.py, kernels/rowblocks.py), their
layer and the models GRU and LSTM (pytcn/nn/recurrent.py).

- Every op of ``kernels.RECURRENT``: the fast kernel and the naive loop each equal the NumPy reference, on float32
  and float64, over sizes that reach every path of the fast kernel (fewer than four sequences, a group of four,
  several groups, a last group of 1-3 rows, one chunk, several, more chunks asked than there are groups), with a
  random initial state and upstream gradient; every element of every output is written (they start as NaN) and no
  input is written. One thread and two agree, and so do one chunk and two.
- The NumPy reference's backward (dh0 and dc0 included) against central differences of its forward: the twin that
  the kernels are compared with is itself right.
- The layer (both cells, with and without an initial state) and the models (one and two layers, the head at the last
  step, at each sequence's own last step, or at every step) against central differences, on 'cpu' and 'numpy', in
  float64 with a random upstream gradient; the worst relative error must stay below 1e-6.
- The model: 'numpy' and 'cpu' agree; streaming (one step at a time and in chunks) gives what forward gives at every
  step; reset_stream starts sequences afresh; save and pytcn.load_model, state_dict and load_state_dict round-trip,
  and a state_dict with a wrong name or shape is refused naming it.
- Against PyTorch (where it is installed): weights moved either way give torch's outputs and gradients.
- Wrong arguments are refused with their name (a layer's h0 and c0, a stream's state and reset_stream's samples
  included); backend='cuda' is refused saying there are no CUDA kernels.
- Initialisation: PyTorch's range, and the LSTM's forget_bias.
"""
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pytcn
from pytcn import kernels
from pytcn.kernels import rowblocks
from pytcn.nn.gradcheck import numerical_gradient, relative_error
from pytcn.nn.recurrent import GRU, LSTM, RecurrentLayer
from tests.helpers import assert_close, one_numba_thread, randomize  # noqa: F401 (one_numba_thread: autouse fixture)
from tests.strategies import FLOAT_DTYPES, normal, recurrent_problems, seeds
from tests.test_gradients import THRESHOLD, H, assert_gradcheck
from tests.test_kernels import numba_threads, unwritten
from tests.test_streaming import full_outputs, splits, streamed_outputs

MODELS = {"gru": GRU, "lstm": LSTM}
OPS = sorted(kernels.RECURRENT)
WHICH = {"numpy": 0, "fast": 1, "naive": 2}  # the places in kernels.RECURRENT's tuples


def cell_of(op):
    return op.split("_")[0]


# ----------------------------------------------------------------------------------------------------------------
# The kernels' arguments, outputs first as the kernels take them


def forward_args(p):
    """({name: fresh output}, inputs) of p's forward op."""
    N, T, H, dtype = p.N, p.T, p.H, p.dtype
    outputs = {"h": unwritten((N, T, H), dtype)}
    if p.cell == "lstm":
        outputs["c"] = unwritten((N, T, H), dtype)
    outputs["gates"] = unwritten((N, T, 4 * H), dtype)  # a GRU's r, z, n, W_hn h + b_hn; an LSTM's i, f, g, o
    inputs = (p.x, p.W_ih, p.W_hh, p.b_ih, p.b_hh, p.h0) + ((p.c0,) if p.cell == "lstm" else ())
    return outputs, inputs


def reference_forward(p):
    """The NumPy reference's forward outputs: the cache every backward kernel is given."""
    outputs, inputs = forward_args(p)
    kernels.RECURRENT[f"{p.cell}_forward"][0](*outputs.values(), *inputs)
    return outputs


def backward_args(p):
    """({name: fresh output}, inputs) of p's backward op, its cache made by the NumPy reference's forward."""
    cache = reference_forward(p)
    outputs = {"dx": unwritten(p.x.shape, p.dtype), "dW_ih": unwritten(p.W_ih.shape, p.dtype),
               "dW_hh": unwritten(p.W_hh.shape, p.dtype), "db_ih": unwritten(p.b_ih.shape, p.dtype),
               "db_hh": unwritten(p.b_hh.shape, p.dtype), "dh0": unwritten(p.h0.shape, p.dtype)}
    if p.cell == "gru":
        return outputs, (p.dh, p.x, p.W_ih, p.W_hh, cache["h"], cache["gates"], p.h0)
    outputs["dc0"] = unwritten(p.c0.shape, p.dtype)
    return outputs, (p.dh, p.x, p.W_ih, p.W_hh, cache["h"], cache["c"], cache["gates"], p.h0, p.c0)


ARGS = {"forward": forward_args, "backward": backward_args}


def run(op, which, p, chunks=None):
    """The outputs of ``op``'s kernel ``which`` ("numpy", "fast" or "naive") on problem p, the fast kernel with
    ``chunks`` (default: the problem's); fails if the kernel wrote one of its inputs."""
    outputs, inputs = ARGS[op.split("_")[1]](p)
    before = [a.copy() for a in inputs]
    fn = kernels.RECURRENT[op][WHICH[which]]
    fn(*outputs.values(), *inputs, *((p.chunks if chunks is None else chunks,) if which == "fast" else ()))
    for k, (after, was) in enumerate(zip(inputs, before)):
        assert np.array_equal(after, was), f"{op} ({which}) wrote its input number {k}"
    return outputs


def describe(p, chunks=None):
    return (f"N={p.N} T={p.T} C_in={p.x.shape[2]} H={p.H} {p.dtype} "
            f"chunks={p.chunks if chunks is None else chunks}")


# ----------------------------------------------------------------------------------------------------------------
# Kernels


def test_every_recurrent_op_is_tested_here():
    assert set(OPS) == {"gru_forward", "gru_backward", "lstm_forward", "lstm_backward"}, \
        f"kernels.RECURRENT has {OPS}: add a case here for every op"


@pytest.mark.parametrize("which", ["fast", "naive"])
@pytest.mark.parametrize("op", OPS)
@given(data=st.data())
def test_recurrent_kernel_equals_numpy_reference(op, which, data):
    p = data.draw(recurrent_problems(cell_of(op)))
    expected = run(op, "numpy", p)
    actual = run(op, which, p)
    for name in expected:
        assert_close(actual[name], expected[name], dtype=p.dtype, what=f"{op} ({which}, {describe(p)}): {name}")


@pytest.mark.parametrize("op", OPS)
@settings(max_examples=25)
@given(data=st.data())
def test_fast_kernel_gives_the_same_result_on_one_and_two_threads(op, data):
    p = data.draw(recurrent_problems(cell_of(op), chunks=st.sampled_from([0, 2, 3])))
    with numba_threads(1):
        one = run(op, "fast", p)
    with numba_threads(2):  # Numba refuses where NUMBA_NUM_THREADS < 2 (tests/test_kernels.py says so too)
        two = run(op, "fast", p)
    for name in one:
        if p.chunks == 0:
            # one chunk per thread: the weight gradients are then sums of one and of two partial sums
            assert_close(two[name], one[name], dtype=p.dtype, what=f"{op} ({describe(p)}): {name}, 2 threads vs 1")
        else:
            # the same chunks whatever the threads, each summed in a fixed order: bitwise equal
            assert np.array_equal(two[name], one[name]), f"{op} ({describe(p)}): {name} differs on 2 threads"


@pytest.mark.parametrize("op", OPS)
@settings(max_examples=25)
@given(data=st.data())
def test_fast_kernel_gives_the_same_result_in_one_chunk_and_in_two(op, data):
    p = data.draw(recurrent_problems(cell_of(op), N=st.integers(5, 13)))  # two groups of four or more
    one, two = run(op, "fast", p, chunks=1), run(op, "fast", p, chunks=2)
    for name in one:
        assert_close(two[name], one[name], dtype=p.dtype, what=f"{op} ({describe(p, 2)}): {name}, 2 chunks vs 1")


def _ulps(actual, exact, dtype):
    """|actual - exact| in units in the last place of ``dtype`` at ``exact`` (a float64 or longdouble array)."""
    spacing = np.spacing(np.abs(exact).astype(dtype)).astype(np.longdouble)
    return np.abs(actual.astype(np.longdouble) - exact) / spacing


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_kernel_sigmoid_and_tanh_written_out_are_within_2_5_ulp(name, dtype):
    """kernels/rowblocks.py's sigmoid and tanh in vectorisable arithmetic (the kernels' in float32; in float64 the
    kernels call the C library's, but the written-out functions are exact enough there too), against the
    C library's in extended precision: within 2.5 ulp up to |x| = 80 (the bound kernels/rowblocks.py states), and
    past it, where e^-|x| is held at e^-86, within 5e-38 (so sigmoid(-inf) is 4.5e-38); 1 at +inf, tanh -1 at
    -inf; NaN at NaN."""
    from numba import njit

    fn = {"sigmoid": rowblocks._sigmoid_fast, "tanh": rowblocks._tanh_fast}[name]
    real = np.dtype(dtype).type

    @njit
    def apply(out, x):
        for k in range(x.shape[0]):
            out[k] = fn(x[k], real)

    magnitudes = np.concatenate([[0.0], np.geomspace(1e-12, 80, 4001), np.linspace(80, 200, 121)])
    x = np.concatenate([magnitudes, -magnitudes]).astype(dtype)
    out = np.empty_like(x)
    apply(out, x)
    xl = x.astype(np.longdouble)
    exact = 1 / (1 + np.exp(-xl)) if name == "sigmoid" else np.tanh(xl)
    near = np.abs(x) <= 80
    ulps = _ulps(out[near], exact[near], dtype)
    worst = int(np.argmax(ulps))
    assert ulps.max() <= 2.5, f"{name} ({np.dtype(dtype)}) at x = {x[near][worst]!r}: {ulps.max():.2f} ulp"
    assert np.abs(out[~near] - exact[~near]).max() < 5e-38
    special = np.array([np.inf, -np.inf, np.nan], dtype)
    got = np.empty_like(special)
    apply(got, special)
    expected = np.array([1.0, 0.0, np.nan] if name == "sigmoid" else [1.0, -1.0, np.nan], dtype)
    assert np.allclose(got, expected, rtol=0, atol=5e-38, equal_nan=True), f"{name} at inf, -inf, nan: {got}"


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@settings(max_examples=8)
@given(data=st.data())
def test_numpy_reference_backward_matches_finite_differences_of_its_forward(cell, data):
    # the reference every kernel is compared with, checked on its own: d<h, dh>/dz for every input z, the initial
    # state and cell included (which the layer and the models do not expose)
    p = data.draw(recurrent_problems(cell, dtype=st.just(np.dtype(np.float64)), N=st.integers(1, 3)))
    grads = run(f"{cell}_backward", "numpy", p)

    def objective():
        return float(np.sum(reference_forward(p)["h"] * p.dh))

    worst, where = -1.0, ""
    names = {"x": "dx", "W_ih": "dW_ih", "W_hh": "dW_hh", "b_ih": "db_ih", "b_hh": "db_hh", "h0": "dh0", "c0": "dc0"}
    for name, grad in names.items():
        z = getattr(p, name)
        if z is None:  # a GRU has no cell
            continue
        err = relative_error(grads[grad], numerical_gradient(objective, z, H))
        err[~np.isfinite(err)] = np.inf  # a NaN gradient is the worst error there is
        k = int(np.argmax(err))
        if err.flat[k] > worst:
            worst, where = float(err.flat[k]), f"{grad}{tuple(int(i) for i in np.unravel_index(k, err.shape))}"
    assert worst < THRESHOLD, f"{cell}_backward_numpy ({describe(p)}): worst relative error {worst:.3e} at {where} " \
                              f"(h = {H})"


# ----------------------------------------------------------------------------------------------------------------
# The layer and the models against finite differences (float64, a random upstream gradient, h = tests/
# test_gradients.py's H; pytcn.gradcheck reports the worst parameter and index)


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize("initial_state", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_layer_gradients_match_finite_differences(cell, initial_state, backend):
    rng = np.random.default_rng(10 + initial_state)
    layer = RecurrentLayer(cell, 2, 3, rng=rng, dtype=np.float64, backend=backend)
    x = rng.standard_normal((5, 4, 2))  # 5 sequences: a group of four and one more on 'cpu'
    h0 = rng.uniform(-1, 1, (5, 3)) if initial_state else None
    c0 = rng.standard_normal((5, 3)) if initial_state and cell == "lstm" else None
    result = assert_gradcheck(layer, x, forward=lambda z: layer.forward(z, h0=h0, c0=c0))
    assert set(result.errors) == {"weight_ih", "weight_hh", "bias_ih", "bias_hh", "input"}, str(result)


HEADS = ["last_step", "lengths", "every_step"]


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_model_gradients_match_finite_differences(cell, num_layers, head, backend):
    rng = np.random.default_rng(20 + num_layers)
    model = MODELS[cell](input_channels=2, outputs=2, hidden_size=3, num_layers=num_layers,
                         return_sequences=head == "every_step", dtype=np.float64, seed=1, backend=backend)
    randomize(model.params, rng)
    x = rng.standard_normal((5, 4, 2))
    lengths = np.array([4, 1, 3, 2, 4]) if head == "lengths" else None
    result = assert_gradcheck(model, x, forward=lambda z: model.forward(z, lengths=lengths))
    assert set(result.errors) == set(model.params) | {"input"}, str(result)
    if lengths is not None:  # the padding after a sequence's own last step reaches nothing
        model.forward(x, lengths=lengths)
        dx = model.backward(rng.standard_normal((5, 2)))
        padding = np.arange(4)[None, :] >= lengths[:, None]
        assert np.all(dx[padding] == 0), "the gradient reaches steps after a sequence's own last step"


# ----------------------------------------------------------------------------------------------------------------
# The model


def model_and_input(cell, backend="cpu", dtype=np.float64, **overrides):
    config = dict(input_channels=2, outputs=2, hidden_size=5, num_layers=2, dtype=dtype, seed=3,
                  backend=backend) | overrides
    model = MODELS[cell](**config)
    randomize(model.params, np.random.default_rng(4))
    x = normal(np.random.default_rng(5), (6, 7, 2), dtype)  # 6 sequences: a group of four and one of two on 'cpu'
    return model, x


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_numpy_and_cpu_models_agree(cell, return_sequences, dtype):
    results = {}
    for backend in ("numpy", "cpu"):
        model, x = model_and_input(cell, backend, dtype, return_sequences=return_sequences)
        y = model.forward(x)
        dy = normal(np.random.default_rng(6), y.shape, dtype)
        dx = model.backward(dy)
        results[backend] = {"y": y, "dx": dx} | {name: np.array(g) for name, g in model.grads.items()}
    for name, expected in results["numpy"].items():
        assert_close(results["cpu"][name], expected, dtype=dtype, what=f"{cell}: {name} on 'cpu' vs 'numpy'")


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
@settings(max_examples=10)
@given(dtype=st.sampled_from(FLOAT_DTYPES), N=st.integers(1, 6), T=st.integers(1, 8), seed=seeds, data=st.data())
def test_stepping_equals_the_full_forward_at_every_step(cell, return_sequences, backend, dtype, N, T, seed, data):
    model = MODELS[cell](input_channels=2, outputs=2, hidden_size=3, num_layers=2, return_sequences=return_sequences,
                         dtype=dtype, seed=0, backend=backend)
    rng = np.random.default_rng(seed)
    randomize(model.params, rng)
    x = normal(rng, (N, T, 2), dtype)
    pieces = data.draw(splits(T))
    streamed, _ = streamed_outputs(model, x, pieces)
    assert_close(streamed, full_outputs(model, x), what=f"{cell} stepped in pieces {pieces}")


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_resetting_some_sequences_starts_them_afresh_and_leaves_the_others(cell):
    model, x = model_and_input(cell, return_sequences=True)
    state = model.stream(6)
    model.step(x[:, :4], state)
    model.reset_stream(state, samples=[1, 4])
    y, state = model.step(x[:, 4:], state)
    full = model.forward(x)
    fresh = model.forward(np.ascontiguousarray(x[:, 4:]))
    for n in range(6):
        expected = fresh[n] if n in (1, 4) else full[n, 4:]
        assert_close(y[n], expected, what=f"sequence {n} after resetting 1 and 4")
    model.reset_stream(state)
    for key, value in state.items():
        assert not np.any(value), f"state[{key!r}] is not zero after resetting every sequence"


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_saved_model_loads_back_with_its_architecture_and_weights(cell, tmp_path):
    model, x = model_and_input(cell, num_layers=2, return_sequences=True, **({"forget_bias": 2.0} if cell == "lstm"
                                                                             else {}))
    model.save(tmp_path / "model.npz")
    loaded = pytcn.load_model(tmp_path / "model.npz")
    assert type(loaded) is type(model)
    assert loaded.config == model.config
    for name, p in model.state_dict().items():
        assert np.array_equal(loaded.state_dict()[name], p), f"{name} changed on its way through a file"
    assert np.array_equal(loaded.forward(x), model.forward(x))
    on_numpy = pytcn.load_model(tmp_path / "model.npz", backend="numpy")
    assert on_numpy.backend.name == "numpy"
    assert_close(on_numpy.forward(x), model.forward(x), what="loaded on 'numpy' vs saved from 'cpu'")


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_state_dict_loads_into_another_model_and_is_a_copy(cell):
    model, x = model_and_input(cell)
    arguments = {name: value for name, value in model.config.items() if name != "architecture"}
    other = MODELS[cell](**(arguments | {"seed": 99}))
    before = other.forward(x)
    state = model.state_dict()
    assert list(state) == [f"rnn.{kind}_l{k}" for k in range(2) for kind in ("weight_ih", "weight_hh", "bias_ih",
                                                                            "bias_hh")] + ["linear.weight",
                                                                                           "linear.bias"]
    other.load_state_dict(state)
    assert not np.array_equal(before, other.forward(x)), "a model of another seed gave the same output"
    assert np.array_equal(other.forward(x), model.forward(x))
    state["rnn.weight_hh_l1"][...] += 1  # a copy: changing it changes neither model
    assert np.array_equal(other.forward(x), model.forward(x))


@pytest.mark.parametrize("change, message", [
    (lambda s: s | {"rnn.weight_ih_l2": s.pop("rnn.weight_ih_l1")}, r"missing \['rnn.weight_ih_l1'\], unexpected "
                                                                     r"\['rnn.weight_ih_l2'\]"),
    (lambda s: s | {"rnn.weight_hh_l0": np.zeros((15, 4))}, r"rnn.weight_hh_l0.*\(15, 4\).*\(15, 5\)"),
    (lambda s: s | {"linear.bias": np.zeros(3)}, r"linear.bias.*\(3,\).*\(2,\)"),
    (lambda s: s | {"extra": np.zeros(1)}, r"unexpected \['extra'\]"),
])
def test_a_state_dict_with_a_wrong_name_or_shape_is_refused_naming_it(change, message):
    model, x = model_and_input("gru")
    before = model.forward(x)
    with pytest.raises(ValueError, match=message):
        model.load_state_dict(change(model.state_dict()))
    assert np.array_equal(model.forward(x), before), "a refused state_dict changed the model"


# ----------------------------------------------------------------------------------------------------------------
# Against PyTorch. Its non-torch counterparts: the finite-difference checks above (the gradients) and the NumPy
# reference (kernels/gru.py, kernels/lstm.py, the equations of torch.nn.GRU and LSTM), so these tests only add that
# the parameter names, layouts and gate orders are PyTorch's


def torch_network(torch, cell, input_channels, hidden_size, num_layers, outputs, return_sequences):
    """The PyTorch module whose state_dict is a pytcn GRU's or LSTM's: ``rnn`` and ``linear``, float64."""

    class Network(torch.nn.Module):
        def __init__(self):
            super().__init__()
            rnn = torch.nn.GRU if cell == "gru" else torch.nn.LSTM
            self.rnn = rnn(input_channels, hidden_size, num_layers, batch_first=True)
            self.linear = torch.nn.Linear(hidden_size, outputs)

        def forward(self, x, lengths=None):
            h, _ = self.rnn(x)
            if return_sequences:
                return self.linear(h)
            steps = torch.full((x.shape[0],), x.shape[1] - 1) if lengths is None else torch.as_tensor(lengths) - 1
            return self.linear(h[torch.arange(x.shape[0]), steps])

    return Network().double()


def assert_same_as_torch(model, network, torch, x, lengths, what):
    """y, dx and every parameter's gradient of ``model`` (pytcn) and ``network`` (torch, the same weights), for a
    random upstream gradient."""
    xt = torch.tensor(x, requires_grad=True)
    yt = network(xt, lengths)
    dy = np.random.default_rng(7).standard_normal(tuple(yt.shape))
    (yt * torch.tensor(dy)).sum().backward()
    y = model.forward(x, lengths=lengths)
    assert_close(y, yt.detach().numpy(), what=f"{what}: y")
    assert_close(model.backward(dy), xt.grad.numpy(), what=f"{what}: dx")
    torch_grads = {name: p.grad.numpy() for name, p in network.named_parameters()}
    assert set(torch_grads) == set(model.grads), f"{what}: parameters {sorted(torch_grads)} vs {sorted(model.grads)}"
    for name, g in torch_grads.items():
        assert_close(model.grads[name], g, what=f"{what}: the gradient of {name}")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed: the comparison with torch.nn.GRU and LSTM "
                                               "is skipped (pip install torch)")


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_torch_weights_give_torch_s_outputs_and_gradients(torch, cell, num_layers, head):
    torch.manual_seed(0)
    network = torch_network(torch, cell, 2, 5, num_layers, 3, head == "every_step")
    model = MODELS[cell](input_channels=2, outputs=3, hidden_size=5, num_layers=num_layers,
                         return_sequences=head == "every_step", dtype=np.float64, seed=1)
    model.load_state_dict({name: p.detach().numpy() for name, p in network.state_dict().items()})
    x = np.random.default_rng(8).standard_normal((6, 4, 2))
    lengths = np.array([4, 1, 3, 2, 4, 3]) if head == "lengths" else None
    assert_same_as_torch(model, network, torch, x, lengths, f"{cell}, {num_layers} layers, {head}, torch -> pytcn")


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_pytcn_weights_give_torch_the_same_outputs_and_gradients(torch, cell):
    model, x = model_and_input(cell)  # weights of pytcn's making: PyTorch's range, then randomize()'s
    network = torch_network(torch, cell, 2, 5, 2, 2, False)
    network.load_state_dict({name: torch.from_numpy(p) for name, p in model.state_dict().items()})
    assert_same_as_torch(model, network, torch, x, None, f"{cell}, pytcn -> torch")


# ----------------------------------------------------------------------------------------------------------------
# Wrong arguments


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_backend_cuda_is_refused_saying_there_are_no_cuda_kernels(cell):
    for make in (lambda: MODELS[cell](input_channels=2, backend="cuda"),
                 lambda: RecurrentLayer(cell, 2, 3, backend="cuda")):
        with pytest.raises(pytcn.BackendUnavailableError, match="CUDA") as info:
            make()
        try:
            pytcn.get_backend("cuda")
        except pytcn.BackendUnavailableError:
            continue  # no CUDA here at all (no numba-cuda, or no GPU and no simulator): that is what it said
        # a 'cuda' backend exists (a GPU, or numba-cuda's simulator as in this suite): the refusal is the network's
        assert f"{cell.upper()} has no CUDA kernels" in str(info.value)


GOOD = dict(input_channels=2, outputs=2, hidden_size=3, dtype=np.float64, seed=0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("name, value, error", [
    ("hidden_size", 0, ValueError),
    ("hidden_size", -1, ValueError),
    ("hidden_size", 2.5, TypeError),
    ("hidden_size", "8", TypeError),
    ("hidden_size", True, TypeError),
    ("num_layers", 0, ValueError),
    ("input_channels", 0, ValueError),
    ("outputs", 0, ValueError),
    ("return_sequences", "yes", TypeError),
    ("seed", -1, ValueError),
])
def test_a_wrong_constructor_argument_is_refused_by_name(cell, name, value, error):
    with pytest.raises(error, match=rf"^{name}\b.*{re.escape(repr(value))}"):
        MODELS[cell](**(GOOD | {name: value}))


@pytest.mark.parametrize("value, error", [("x", TypeError), (True, TypeError), (float("nan"), ValueError),
                                          (float("inf"), ValueError)])
def test_a_wrong_forget_bias_is_refused_by_name(value, error):
    with pytest.raises(error, match=r"^forget_bias\b"):
        LSTM(**GOOD, forget_bias=value)


X = np.zeros((4, 3, 2))


def wrong_dy(model, shape_if_last_step, shape_if_every_step):
    model.forward(X)
    return model.backward(np.zeros(shape_if_every_step if model.return_sequences else shape_if_last_step))


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("call, name", [
    pytest.param(lambda m: m.forward(np.zeros((4, 3, 3))), "x", id="x-channels"),
    pytest.param(lambda m: m.forward(np.zeros((4, 3))), "x", id="x-2d"),
    pytest.param(lambda m: m.forward(np.zeros((4, 3, 2, 1))), "x", id="x-4d"),
    pytest.param(lambda m: m.forward(np.zeros((4, 0, 2))), "x", id="x-no-steps"),
    pytest.param(lambda m: m.forward(X, lengths=[3, 0, 1, 2]), "lengths", id="lengths-0"),
    pytest.param(lambda m: m.forward(X, lengths=[3, 4, 1, 2]), "lengths", id="lengths-past-T"),
    pytest.param(lambda m: m.forward(X, lengths=[3, 1, 2]), "lengths", id="lengths-of-3-sequences"),
    pytest.param(lambda m: m.forward(X, lengths=[3, 1.5, 1, 2]), "lengths", id="lengths-not-integers"),
    pytest.param(lambda m: wrong_dy(m, (4, 3), (4, 3, 3)), "dy", id="dy-outputs"),
    pytest.param(lambda m: wrong_dy(m, (3, 2), (4, 2)), "dy", id="dy-shape"),
    pytest.param(lambda m: m.step(np.zeros((4, 3)), m.stream(4)), "x", id="step-x-channels"),
    pytest.param(lambda m: m.step(np.zeros((4, 2)), m.stream(3)), "x", id="step-x-batch"),
    pytest.param(lambda m: m.stream(0), "batch_size", id="stream-batch-size-0"),
])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_wrong_input_is_refused_by_name(cell, call, name, return_sequences):
    # with return_sequences, lengths are refused whatever they are (the message names lengths too)
    model = MODELS[cell](**(GOOD | {"return_sequences": return_sequences}))
    with pytest.raises((ValueError, TypeError), match=rf"^{name}\b"):
        call(model)


@pytest.mark.parametrize("call, name", [
    pytest.param(lambda m, s: m.step(np.zeros((4, 2)), {"h": s["h"]}), "state", id="state-without-its-cell"),
    pytest.param(lambda m, s: m.step(np.zeros((4, 2)), {k: np.zeros((1, 4, 4)) for k in s}), "state",
                 id="state-hidden-size"),
    pytest.param(lambda m, s: m.step(np.zeros((4, 2)), s | {"c": np.zeros((1, 5, 3))}), "state",
                 id="state-batch-of-the-cell"),
    pytest.param(lambda m, s: m.stream(state=s | {"h": np.zeros((1, 4, 4))}), "state", id="stream-state-hidden-size"),
    pytest.param(lambda m, s: m.stream(state={"a": 1}), "state", id="stream-state-not-a-state"),
    pytest.param(lambda m, s: m.reset_stream(s, samples=[5]), "samples", id="samples-past-the-batch"),
    pytest.param(lambda m, s: m.stream(5, state=s), "batch_size", id="stream-batch-size-not-the-state-s"),
    pytest.param(lambda m, s: m.stream(10 ** 18), "batch_size", id="stream-batch-size-past-addressable"),
    pytest.param(lambda m, s: m.stream(state=s | {"h": [[[0.0] * 4] * 4, [[0.0] * 4]]}), "state",
                 id="stream-state-ragged-lists"),
    pytest.param(lambda m, s: m.step([[0.0, 0.0], [0.0]], s), "x", id="step-x-ragged-lists"),
])
def test_a_wrong_stream_state_is_refused_by_name(call, name):
    model = LSTM(**GOOD)
    with pytest.raises((ValueError, TypeError), match=rf"^{name}\b"):
        call(model, model.stream(4))


LAYER_MISTAKES = [
    pytest.param(cell, call, name, id=f"{cell}-{what}")
    for cell in ("gru", "lstm")
    for call, name, what in [
        (lambda layer: layer.forward(np.zeros((4, 3, 3))), "x", "x"),
        (lambda layer: layer.backward(np.zeros((4, 3, 4)), layer.forward(X)[1]), "dh", "dh"),
        (lambda layer: layer.forward(X, h0=np.zeros((4, 4))), "h0", "h0-hidden-size"),
        (lambda layer: layer.forward(X, h0=np.zeros((5, 3))), "h0", "h0-batch"),
        (lambda layer: layer.forward(X, h0=np.zeros((4, 3), np.float32)), "h0",
         "h0-float32-for-a-float64-layer"),
        (lambda layer: layer.forward(X, h0=[[0.0, 0.0]] * 4), "h0", "h0-a-list-of-the-wrong-width"),
        *([(lambda layer: layer.forward(X, h0=np.zeros((4, 3)), c0=np.zeros((4, 4))), "c0", "c0-hidden-size")]
          if cell == "lstm" else []),
    ]
]


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize("cell, call, name", LAYER_MISTAKES)
def test_the_layer_refuses_a_wrong_input_by_name(cell, call, name, backend):
    layer = RecurrentLayer(cell, 2, 3, dtype=np.float64, backend=backend)
    with pytest.raises((ValueError, TypeError), match=rf"^{name}\b"):
        call(layer)


# ----------------------------------------------------------------------------------------------------------------
# Initialisation


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_initial_weights_and_biases_are_uniform_in_pytorch_s_range(cell):
    # torch.nn.GRU and LSTM draw every weight and bias from U(-1/sqrt(H), 1/sqrt(H)); here H = 16, 1/sqrt(H) = 0.25
    model = MODELS[cell](input_channels=3, outputs=2, hidden_size=16, num_layers=2, seed=0)
    bound = 0.25
    for name, p in model.state_dict().items():
        if not name.startswith("rnn."):
            continue
        assert np.all(np.abs(p) <= bound), f"{name}: {np.max(np.abs(p))} is outside +-1/sqrt(H) = {bound}"
        # and spread over the range, not packed near 0 (a smaller bound) nor equal (a constant)
        assert p.min() < -0.8 * bound and p.max() > 0.8 * bound, f"{name} spans [{p.min()}, {p.max()}] of +-{bound}"


@pytest.mark.parametrize("forget_bias", [1.0, -2, 0.0])
def test_forget_bias_sets_the_forget_gate_s_input_bias_and_zeroes_its_recurrent_one(forget_bias):
    H = 4
    model = LSTM(input_channels=2, hidden_size=H, num_layers=2, forget_bias=forget_bias, seed=0)
    plain = LSTM(input_channels=2, hidden_size=H, num_layers=2, seed=0)
    assert model.config["forget_bias"] == forget_bias
    state, plain_state = model.state_dict(), plain.state_dict()
    for k in range(2):
        b_ih, b_hh = state[f"rnn.bias_ih_l{k}"], state[f"rnn.bias_hh_l{k}"]
        assert np.all(b_ih[H:2 * H] == forget_bias), f"layer {k}: bias_ih's forget rows are {b_ih[H:2 * H]}"
        assert np.all(b_hh[H:2 * H] == 0), f"layer {k}: bias_hh's forget rows are {b_hh[H:2 * H]}"
        for name, b in ((f"rnn.bias_ih_l{k}", b_ih), (f"rnn.bias_hh_l{k}", b_hh)):  # the other gates as PyTorch's
            others = np.r_[0:H, 2 * H:4 * H]
            assert np.array_equal(b[others], plain_state[name][others]), f"{name}: the forget bias moved other rows"
    for name in state:
        if "bias" not in name:
            assert np.array_equal(state[name], plain_state[name]), f"{name}: the forget bias changed a weight"
    plain_forget = plain_state["rnn.bias_ih_l0"][H:2 * H]
    assert np.all(np.abs(plain_forget) <= 0.5) and np.any(plain_forget != 0), \
        "without forget_bias the forget rows should keep PyTorch's initial values"


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_config_rebuilds_the_same_model_as_a_tcn_s_does(cell):
    extra = {"forget_bias": 1.5} if cell == "lstm" else {}
    model = MODELS[cell](input_channels=2, outputs=3, hidden_size=5, num_layers=2, seed=7, **extra)
    again = type(model)(**model.config)
    assert again.config == model.config
    for name, p in model.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[name], p, err_msg=name)
    other = "lstm" if cell == "gru" else "gru"
    with pytest.raises(ValueError, match=f"^architecture must be '{cell}'.*got '{other}'"):
        type(model)(**(model.config | {"architecture": other}))


@pytest.mark.parametrize("key", ["h", "c"])
@pytest.mark.parametrize("kind", ["read-only", "not C-contiguous"])
def test_a_state_the_step_cannot_write_is_refused_before_anything_moves(key, kind):
    # the step writes h and c layer by layer: a state it could write only in part must be refused before the first
    model = LSTM(input_channels=2, outputs=1, hidden_size=4, num_layers=2, seed=0)
    state = model.stream(3)
    model.step(np.ones((3, 2)), state)  # a state that is not all zeros, so that a half-done step would show
    if kind == "read-only":
        state[key] = np.broadcast_to(state[key].copy(), state[key].shape)
    else:
        state[key] = np.asfortranarray(state[key])
    before = {k: a.copy() for k, a in state.items()}
    with pytest.raises(ValueError, match=rf"^state\['{key}'\] is {kind}\b.*, but the stream writes into it"):
        model.step(np.ones((3, 2)), state)
    for k, a in state.items():
        np.testing.assert_array_equal(a, before[k], err_msg=f"state[{k!r}] moved in a refused step")
    with pytest.raises(ValueError, match=rf"^state\['{key}'\] is {kind}"):
        model.reset_stream(state)
    again = model.stream(state=state)  # the way out the message gives
    y, _ = model.step(np.ones((3, 2)), again)
    assert np.all(np.isfinite(y))


def test_a_step_of_one_dimension_is_refused_saying_what_a_step_is():
    model = GRU(input_channels=2, hidden_size=3)
    with pytest.raises(ValueError, match=r"^x must be one step \(N, 2\) or a chunk \(N, T, 2\), got shape \(2,\)"):
        model.step(np.zeros(2), model.stream(1))
