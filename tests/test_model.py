"""The TCN as a whole: its receptive field measured, its causality, its PyTorch-style parameters, and its forward
pass against an independent NumPy implementation written here from the formulas."""
import itertools
import re

import numpy as np
import pytest

import pytcn

from .helpers import assert_close, one_numba_thread, randomize  # noqa: F401 (one_numba_thread: autouse fixture)


def make_positive(params, rng):
    """Every weight and bias positive, weights scaled by their fan-in. With a positive input every pre-activation is
    then positive, no ReLU is ever inactive, and an output depends on an input step exactly when a path of taps
    joins them: the reach of the architecture, free of any dead unit."""
    for p in params.values():
        fan_in = int(np.prod(p.shape[1:])) if p.ndim > 1 else 1
        p[...] = rng.uniform(0.5, 1.0, p.shape) / fan_in


def small_model(**overrides):
    config = dict(input_channels=2, outputs=2, nb_filters=3, kernel_size=3, nb_stacks=2, dilations=[1, 2],
                  dtype=np.float64, seed=0)
    config.update(overrides)
    return pytcn.TCN(**config)


# ----------------------------------------------------------------------------------------------------------------
# receptive field


def test_receptive_field_worked_example():
    # K = 6, dilations 1..32: 1 + 2 * 5 * (1 + 2 + 4 + 8 + 16 + 32) = 631
    assert pytcn.receptive_field(6, [1, 2, 4, 8, 16, 32]) == 631
    assert pytcn.receptive_field(6, [1, 2, 4, 8, 16, 32], nb_stacks=2) == 1261
    model = pytcn.TCN(input_channels=1, kernel_size=6, dilations=[1, 2, 4, 8, 16, 32], nb_filters=2, seed=0)
    assert model.receptive_field == 631


RF_GRID = list(itertools.product([1, 2, 3, 4], [[1], [1, 2], [1, 2, 4], [2, 3]], [1, 2], [False, True]))


@pytest.mark.parametrize("K,dilations,nb_stacks,skip", RF_GRID,
                         ids=[f"K{K}-d{'_'.join(map(str, d))}-s{s}-{'skip' if k else 'noskip'}"
                              for K, d, s, k in RF_GRID])
def test_measured_receptive_field_equals_the_formula(K, dilations, nb_stacks, skip):
    R = 1 + 2 * (K - 1) * nb_stacks * sum(dilations)
    assert pytcn.receptive_field(K, dilations, nb_stacks) == R
    model = pytcn.TCN(input_channels=2, outputs=1, nb_filters=3, kernel_size=K, dilations=dilations,
                      nb_stacks=nb_stacks, use_skip_connections=skip, dtype=np.float64, seed=0)
    assert model.receptive_field == R
    T = R + 3  # longer than the reach, so that the steps it cannot see exist
    rng = np.random.default_rng(K * 100 + nb_stacks * 10 + len(dilations))
    make_positive(model.params, rng)
    x = rng.uniform(0.5, 1.0, (2, T, 2))

    # 1. by the gradient of the last output: nonzero exactly on the steps that reach it
    y = model.forward(x)
    dx = model.backward(np.ones_like(y))
    reached = np.flatnonzero(np.any(dx != 0, axis=(0, 2)))
    assert reached.min() == T - R, f"the last output is reached from step {reached.min()}, expected {T - R}"
    # and these steps are the sums of one tap offset per convolution; dilations such as [2, 3] leave holes
    offsets = {0}
    for d in dilations * nb_stacks:
        for _conv in range(2):
            offsets = {o + j * d for o in offsets for j in range(K)}
    assert list(reached) == sorted(T - 1 - o for o in offsets), f"steps reached: {list(reached)}"

    # 2. by perturbing one input step: the earliest step in reach moves the last output, the step before it not
    for t, moves in [(T - R, True), (T - R - 1, False)]:
        x2 = x.copy()
        x2[:, t] += 10.0
        changed = not np.array_equal(model.forward(x2), y)
        assert changed == moves, f"perturbing step {t} of {T} {'did not move' if moves else 'moved'} the output"

    # 3. with signed random weights (some units dead) the reach can only shrink, never grow
    randomize(model.params, rng)
    for _ in range(3):
        model.forward(rng.standard_normal((2, T, 2)))
        dx = model.backward(rng.standard_normal((2, 1)))
        assert np.all(dx[:, :T - R] == 0), "an input step outside the receptive field reached the output"


# ----------------------------------------------------------------------------------------------------------------
# causality


@pytest.mark.parametrize("skip", [False, True], ids=["noskip", "skip"])
@pytest.mark.parametrize("training", [False, True], ids=["inference", "dropout"])
def test_model_is_causal(skip, training):
    rng = np.random.default_rng(5)
    model = small_model(return_sequences=True, use_skip_connections=skip, dropout_rate=0.3 if training else 0.0)
    randomize(model.params, rng)
    T = 10
    x = rng.standard_normal((2, T, 2))

    def forward(z):
        return model.forward(z, training=training, rng=np.random.default_rng(8))

    y = forward(x)
    for t in range(T):
        x2 = x.copy()
        x2[:, t] += 5.0 * rng.standard_normal((2, 2))
        y2 = forward(x2)
        assert np.array_equal(y2[:, :t], y[:, :t]), f"changing x[:, {t}] changed an output before step {t}"
        assert not np.array_equal(y2[:, t:], y[:, t:]), f"changing x[:, {t}] changed no output at all"


# ----------------------------------------------------------------------------------------------------------------
# state_dict


def expected_state_dict_shapes(use_weight_norm, outputs=2):
    """locuslab/TCN's names for nb_stacks=2, dilations [1, 2] (four blocks), input_channels 2, nb_filters 3,
    kernel_size 3, written out by hand."""
    conv = (lambda b, c, i: {f"tcn.network.{b}.{c}.weight_g": (3, 1, 1), f"tcn.network.{b}.{c}.weight_v": (3, i, 3),
                             f"tcn.network.{b}.{c}.bias": (3,)}) if use_weight_norm else \
        (lambda b, c, i: {f"tcn.network.{b}.{c}.weight": (3, i, 3), f"tcn.network.{b}.{c}.bias": (3,)})
    shapes = {}
    shapes.update(conv(0, "conv1", 2))
    shapes.update(conv(0, "conv2", 3))
    shapes["tcn.network.0.downsample.weight"] = (3, 2, 1)  # never weight-normalised, as in locuslab/TCN
    shapes["tcn.network.0.downsample.bias"] = (3,)
    for b in (1, 2, 3):
        shapes.update(conv(b, "conv1", 3))
        shapes.update(conv(b, "conv2", 3))
    shapes["linear.weight"] = (outputs, 3)
    shapes["linear.bias"] = (outputs,)
    return shapes


def test_state_dict_names_and_shapes_are_locuslab_tcn_s():
    sd = small_model().state_dict()
    expected = [
        ("tcn.network.0.conv1.weight", (3, 2, 3)), ("tcn.network.0.conv1.bias", (3,)),
        ("tcn.network.0.conv2.weight", (3, 3, 3)), ("tcn.network.0.conv2.bias", (3,)),
        ("tcn.network.0.downsample.weight", (3, 2, 1)), ("tcn.network.0.downsample.bias", (3,)),
        ("tcn.network.1.conv1.weight", (3, 3, 3)), ("tcn.network.1.conv1.bias", (3,)),
        ("tcn.network.1.conv2.weight", (3, 3, 3)), ("tcn.network.1.conv2.bias", (3,)),
        ("tcn.network.2.conv1.weight", (3, 3, 3)), ("tcn.network.2.conv1.bias", (3,)),
        ("tcn.network.2.conv2.weight", (3, 3, 3)), ("tcn.network.2.conv2.bias", (3,)),
        ("tcn.network.3.conv1.weight", (3, 3, 3)), ("tcn.network.3.conv1.bias", (3,)),
        ("tcn.network.3.conv2.weight", (3, 3, 3)), ("tcn.network.3.conv2.bias", (3,)),
        ("linear.weight", (2, 3)), ("linear.bias", (2,)),
    ]
    assert [(name, a.shape) for name, a in sd.items()] == expected
    assert {name: a.shape for name, a in sd.items()} == expected_state_dict_shapes(False)
    assert all(a.dtype == np.float64 for a in sd.values())


def test_state_dict_names_and_shapes_with_weight_norm():
    sd = small_model(use_weight_norm=True).state_dict()
    assert {name: a.shape for name, a in sd.items()} == expected_state_dict_shapes(True)
    assert "tcn.network.0.conv1.weight" not in sd


def test_state_dict_is_a_copy():
    model = small_model()
    sd = model.state_dict()
    sd["linear.bias"] += 1.0
    assert not np.array_equal(model.params["linear.bias"], sd["linear.bias"])


@pytest.mark.parametrize("use_weight_norm", [False, True], ids=["plain", "weight_norm"])
def test_state_dict_round_trip_gives_the_same_forward(use_weight_norm):
    rng = np.random.default_rng(9)
    source = small_model(use_weight_norm=use_weight_norm, seed=1)
    randomize(source.params, rng)
    target = small_model(use_weight_norm=use_weight_norm, seed=2)
    x = rng.standard_normal((2, 8, 2))
    assert not np.array_equal(target.forward(x), source.forward(x))
    before = {name: p for name, p in target.params.items()}
    target.load_state_dict(source.state_dict())
    assert np.array_equal(target.forward(x), source.forward(x))
    # loaded in place: an optimizer built on the old arrays keeps updating the live parameters
    assert all(target.params[name] is p for name, p in before.items())


def _corrupt(kind, sd):
    if kind == "missing":
        del sd["tcn.network.1.conv2.bias"]
        return ValueError, "tcn.network.1.conv2.bias"
    if kind == "extra":
        sd["tcn.network.7.conv1.weight"] = np.zeros((3, 3, 3))
        return ValueError, "tcn.network.7.conv1.weight"
    if kind == "misshapen":
        sd["tcn.network.2.conv1.weight"] = np.zeros((3, 3, 2))
        return ValueError, "tcn.network.2.conv1.weight"
    if kind == "wrong_dtype":
        sd["linear.weight"] = sd["linear.weight"].astype(np.float32)
        return TypeError, "linear.weight"
    if kind == "not_an_array":
        sd["tcn.network.0.downsample.bias"] = [0.0, 0.0, 0.0]
        return TypeError, "tcn.network.0.downsample.bias"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing", "extra", "misshapen", "wrong_dtype", "not_an_array"])
def test_load_state_dict_rejects_a_bad_entry_and_names_it(kind):
    rng = np.random.default_rng(10)
    source = small_model(seed=1)
    randomize(source.params, rng)
    model = small_model(seed=2)
    before = model.state_dict()
    sd = source.state_dict()
    error, key = _corrupt(kind, sd)
    with pytest.raises(error, match=re.escape(key)):
        model.load_state_dict(sd)
    # nothing was half-loaded
    for name, p in model.params.items():
        assert np.array_equal(p, before[name]), f"{name} changed although the load was rejected"


# ----------------------------------------------------------------------------------------------------------------
# the forward pass against a NumPy implementation written from the formulas
#
# Layout (N, T, C) throughout, one matrix product per (time step, tap): a different route from the kernels
# (channels-first, row-sliced loops) and from kernels' NumPy twins (padding and an einsum per tap).


def ref_conv(x, W, b, d):
    """y[:, t] = b + sum_j x[:, t - (K-1-j) d] @ W[:, :, j].T, with x = 0 before t = 0. x: (N, T, C_in)."""
    N, T, _ = x.shape
    K = W.shape[2]
    y = np.empty((N, T, W.shape[0]))
    for t in range(T):
        y[:, t] = b
        for j in range(K):
            s = t - (K - 1 - j) * d
            if s >= 0:
                y[:, t] += x[:, s] @ W[:, :, j].T
    return y


def ref_weight(sd, prefix):
    if prefix + "weight" in sd:
        return sd[prefix + "weight"]
    g, v = sd[prefix + "weight_g"], sd[prefix + "weight_v"]
    return g * v / np.sqrt((v ** 2).sum(axis=(1, 2), keepdims=True))  # W[o] = g[o] v[o] / ||v[o]||


def ref_forward(sd, dilations, nb_stacks, use_skip_connections, return_sequences, x, pooling="last"):
    relu = lambda a: np.maximum(a, 0.0)  # noqa: E731
    h, skip_sum = x, 0.0
    for b in range(nb_stacks * len(dilations)):
        d = dilations[b % len(dilations)]
        p = f"tcn.network.{b}."
        h1 = relu(ref_conv(h, ref_weight(sd, p + "conv1."), sd[p + "conv1.bias"], d))
        h2 = relu(ref_conv(h1, ref_weight(sd, p + "conv2."), sd[p + "conv2.bias"], d))
        residual = h
        if p + "downsample.weight" in sd:
            residual = ref_conv(h, sd[p + "downsample.weight"], sd[p + "downsample.bias"], 1)
        h = relu(h2 + residual)
        if use_skip_connections:
            skip_sum = skip_sum + h2
    features = skip_sum if use_skip_connections else h  # N, T, F
    if not return_sequences:
        features = features.mean(axis=1) if pooling == "mean" else features[:, -1]  # N, F
    return features @ sd["linear.weight"].T + sd["linear.bias"]


FORWARD_GRID = [dict(use_skip_connections=skip, use_weight_norm=wn, return_sequences=seq)
                for skip, wn, seq in itertools.product([False, True], repeat=3)]
FORWARD_GRID.append(dict(use_skip_connections=False, use_weight_norm=True, return_sequences=True,
                         nb_filters=[3, 4]))  # widths 2 -> 3 -> 4 -> 3 -> 4: a downsample in every block
FORWARD_GRID += [dict(use_skip_connections=skip, use_weight_norm=True, return_sequences=False, pooling="mean")
                 for skip in (False, True)]  # the head reads the mean of the features over the steps


@pytest.mark.parametrize("overrides", FORWARD_GRID, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_forward_matches_an_independent_numpy_implementation(overrides):
    rng = np.random.default_rng(12)
    model = small_model(**overrides)
    randomize(model.params, rng)
    x = rng.standard_normal((2, 9, 2))
    sd = model.state_dict()
    expected = ref_forward(sd, model.dilations, model.nb_stacks, model.use_skip_connections,
                           model.return_sequences, x, model.pooling)
    assert_close(model.forward(x), expected, what="TCN.forward vs the NumPy reference")
    if overrides.get("nb_filters") == [3, 4]:
        assert sorted(k for k in sd if "downsample.weight" in k) == [
            f"tcn.network.{b}.downsample.weight" for b in (0, 1, 2, 3)]


@pytest.mark.parametrize("return_sequences", [False, True])
def test_float32_model_agrees_with_float64_on_the_same_weights(return_sequences):
    rng = np.random.default_rng(13)
    model64 = small_model(return_sequences=return_sequences, use_weight_norm=True)
    randomize(model64.params, rng)
    model32 = small_model(return_sequences=return_sequences, use_weight_norm=True, dtype=np.float32)
    model32.load_state_dict({name: a.astype(np.float32) for name, a in model64.state_dict().items()})
    x = rng.standard_normal((2, 9, 2))
    y64 = model64.forward(x)
    y32 = model32.forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    assert_close(y32, y64, dtype=np.float32, what="float32 vs float64 forward")
    dy = rng.standard_normal(y64.shape)
    dx64 = model64.backward(dy)
    dx32 = model32.backward(dy.astype(np.float32))
    assert_close(dx32, dx64, dtype=np.float32, what="float32 vs float64 dx")
    for name in model64.grads:
        assert_close(model32.grads[name], model64.grads[name], dtype=np.float32, what=f"float32 vs float64 d{name}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_numpy_and_cpu_backends_agree(dtype, return_sequences):
    rng = np.random.default_rng(14)
    models = {backend: small_model(return_sequences=return_sequences, use_weight_norm=True, dropout_rate=0.3,
                                   dtype=dtype, backend=backend) for backend in ("numpy", "cpu")}
    randomize(models["cpu"].params, rng)
    models["numpy"].load_state_dict(models["cpu"].state_dict())
    x = rng.standard_normal((2, 9, 2)).astype(dtype)
    y = {b: m.forward(x, training=True, rng=np.random.default_rng(4)) for b, m in models.items()}
    assert_close(y["cpu"], y["numpy"], what="forward, cpu vs numpy")
    dy = rng.standard_normal(y["cpu"].shape).astype(dtype)
    dx = {b: m.backward(dy) for b, m in models.items()}
    assert_close(dx["cpu"], dx["numpy"], what="dx, cpu vs numpy")
    for name in models["cpu"].grads:
        assert_close(models["cpu"].grads[name], models["numpy"].grads[name], what=f"d{name}, cpu vs numpy")


# ----------------------------------------------------------------------------------------------------------------
# backend="numpy" is NumPy all the way


@pytest.fixture
def numba_calls(monkeypatch):
    """The names of the Numba kernels called from Python while the test runs."""
    from numba.core.registry import CPUDispatcher

    calls = []
    original = CPUDispatcher.__call__

    def spy(self, *args, **kwargs):
        calls.append(self.py_func.__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CPUDispatcher, "__call__", spy)
    return calls


def training_steps(backend, tmp_path):
    """Everything a learner does with a model: steps with both losses, Adam with clipping, SGD, gradcheck, a
    Trainer's run with its evaluation, saving and loading."""
    rng = np.random.default_rng(15)
    for outputs, loss in ((1, lambda y: pytcn.mse(y, rng.standard_normal(y.shape))),
                          (3, lambda y: pytcn.cross_entropy(y, rng.integers(0, 3, y.shape[:-1])))):
        model = small_model(outputs=outputs, dropout_rate=0.2, use_weight_norm=True, backend=backend)
        for optimizer in (pytcn.Adam(model.params, max_grad_norm=0.5), pytcn.SGD(model.params, max_grad_norm=0.5)):
            _, dy = loss(model.forward(rng.standard_normal((2, 9, 2)), training=True))
            model.backward(dy)
            optimizer.step(model.grads)
    pytcn.gradcheck(small_model(backend=backend), rng.standard_normal((2, 5, 2)))
    from pytcn.training import Trainer
    from pytcn.training.config import make_config

    config = make_config("adding", length=6, train_size=8, val_size=4, test_size=4, epochs=1, batch_size=4,
                         nb_filters=3, dilations=[1, 2], backend=backend)
    Trainer(config, tmp_path, progress=False, log=lambda *a: None).run()
    model.save(tmp_path / "model.npz")
    pytcn.load_model(tmp_path / "model.npz").forward(rng.standard_normal((2, 9, 2)))


def test_a_numpy_model_runs_no_numba_kernel(numba_calls, tmp_path):
    training_steps("numpy", tmp_path)
    assert numba_calls == [], f"Numba kernels ran on backend 'numpy': {sorted(set(numba_calls))}"


def test_a_cpu_model_runs_numba_kernels(numba_calls, tmp_path):
    # the spy above does see the kernels when they run (else the test above could not fail)
    training_steps("cpu", tmp_path)
    assert {"_conv_relu_forward", "_conv_backward_weight", "_adam_update", "_mse"} <= set(numba_calls)


def test_summary_counts_every_block_as_worked_out_by_hand():
    model = pytcn.TCN(input_channels=2, outputs=1, nb_filters=3, kernel_size=2, dilations=[1, 2], nb_stacks=2,
                      use_weight_norm=True, seed=0)
    lines = []
    model.summary(print_fn=lines.append)
    rows = {cells[0]: cells for cells in (re.split(r"\s{2,}", line.strip()) for line in lines[3:-1])}
    # block 0: conv1 W 3*2*2 + b 3 + g 3 = 18, conv2 W 3*3*2 + b 3 + g 3 = 24, downsample (2 -> 3) 3*2 + 3 = 9
    # blocks 1-3: two convolutions 3 -> 3 of 24 each, no downsample; the head: W 1*3 + b 1 = 4
    # receptive field after each block: 1 + 2 (K-1) * (the dilations so far: 1, 3, 4, 6) = 3, 7, 9, 13
    assert rows["0"] == ["0", "0", "1", "(N, T, 2)", "(N, T, 3)", "51", "3"], lines
    assert rows["1"] == ["1", "0", "2", "(N, T, 3)", "(N, T, 3)", "48", "7"], lines
    assert rows["2"] == ["2", "1", "1", "(N, T, 3)", "(N, T, 3)", "48", "9"], lines
    assert rows["3"] == ["3", "1", "2", "(N, T, 3)", "(N, T, 3)", "48", "13"], lines
    assert rows["head"] == ["head", "(N, 3)", "(N, 1)", "4"], lines
    assert lines[-1] == "total: 199 parameters, receptive field 13 steps"


def test_summary_of_per_block_widths_and_a_head_at_every_step():
    model = pytcn.TCN(input_channels=1, outputs=10, nb_filters=[4, 5], kernel_size=3, dilations=[1, 2],
                      use_skip_connections=False, return_sequences=True, seed=0)
    lines = []
    model.summary(print_fn=lines.append)
    rows = {cells[0]: cells for cells in (re.split(r"\s{2,}", line.strip()) for line in lines[3:-1])}
    # block 0 (1 -> 4): conv1 4*1*3 + 4 = 16, conv2 4*4*3 + 4 = 52, downsample 4*1 + 4 = 8: 76
    # block 1 (4 -> 5): conv1 5*4*3 + 5 = 65, conv2 5*5*3 + 5 = 80, downsample 5*4 + 5 = 25: 170; head 5*10 + 10
    assert rows["0"][3:] == ["(N, T, 1)", "(N, T, 4)", "76", "5"]
    assert rows["1"][3:] == ["(N, T, 4)", "(N, T, 5)", "170", "13"]
    assert rows["head"] == ["head", "(N, T, 5)", "(N, T, 10)", "60"]
    assert lines[-1] == "total: 306 parameters, receptive field 13 steps"


@pytest.mark.parametrize("overrides, reads", [
    (dict(), "at the last step"),
    (dict(padding="same"), "at the middle step (T // 2)"),
    (dict(return_sequences=True), "at every step"),
    (dict(pooling="mean"), "averaged over the steps (each sequence's own, given lengths)"),
    (dict(pooling="mean", padding="same"), "averaged over the steps"),
])
def test_summary_says_which_steps_the_head_reads(overrides, reads):
    lines = []
    pytcn.TCN(input_channels=1, nb_filters=2, kernel_size=2, dilations=[1], seed=0, **overrides).summary(
        print_fn=lines.append)
    assert lines[0].endswith(f"the head reads the sum of every block's branch (skip connections) {reads}"), lines[0]


@pytest.mark.parametrize("d", [2**31, 2**63, 2**70])
def test_a_dilation_past_int32_is_refused_by_name_and_the_largest_runs(d):
    # 2**70 was accepted, and forward failed inside the layer (Numba cannot type an int past int64)
    with pytest.raises(ValueError, match=rf"^dilations must all be <= 2147483647 \(2\*\*31 - 1\), got \[1, {d}\]"):
        pytcn.TCN(input_channels=1, dilations=[1, d])
    # the largest: every tap but the last reads before the start, the zeros of the causal padding, so the model is
    # the one of kernel size 1 made of the last taps
    big = pytcn.TCN(input_channels=2, nb_filters=3, kernel_size=3, dilations=[2**31 - 1], seed=0)
    assert big.receptive_field == 1 + 2 * 2 * (2**31 - 1)
    pointwise = pytcn.TCN(input_channels=2, nb_filters=3, kernel_size=1, dilations=[1], seed=0)
    pointwise.load_state_dict({name: p[:, :, -1:] if name.endswith(("conv1.weight", "conv2.weight")) else p
                               for name, p in big.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 5, 2)).astype(np.float32)
    assert_close(big.forward(x), pointwise.forward(x))
