"""The architecture options beyond the causal TCN: padding='same', padded batches of different lengths, the mean over
the steps (pooling='mean'), loss masks, layer and batch normalisation.

Each is checked against an independent computation written here from its formula (never the code under test), on
every backend ('numpy', 'cpu' and 'cuda', the last in numba-cuda's simulator without a GPU), and its backward
against finite differences (float64, relative error < 1e-6).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pytcn
from tests.helpers import (  # noqa: F401 (one_numba_thread: autouse fixture)
    assert_close,
    cuda_backend_for_tests,
    cuda_simulated,
    model_backend,
    needs_numba_cuda,
    one_numba_thread,
    randomize,
)
from tests.strategies import FLOAT_DTYPES, normal, seeds
from tests.test_gradients import assert_gradcheck
from tests.test_kernels import conv_forward_bruteforce

BACKENDS = ["numpy", "cpu", pytest.param("cuda", marks=needs_numba_cuda)]
backends = pytest.mark.parametrize("backend", BACKENDS)


def same_conv_bruteforce(x, W, b, d):
    """keras's padding='same': P_left = (K-1)d // 2 zeros before, the rest after; term by term, in float64."""
    return conv_forward_bruteforce(x, W, b, d, first=-((W.shape[2] - 1) * d // 2))


@backends
@given(N=st.integers(1, 3), C_in=st.integers(1, 4), C_out=st.integers(1, 4), K=st.integers(1, 5),
       d=st.integers(1, 6), T=st.integers(1, 20), dtype=st.sampled_from(FLOAT_DTYPES), seed=seeds)
def test_same_padding_centres_the_taps(backend, N, C_in, C_out, K, d, T, dtype, seed):
    rng = np.random.default_rng(seed)
    layer = pytcn.Conv1D(C_in, C_out, K, d, padding="same", dtype=dtype, backend=model_backend(backend))
    W, b, x = normal(rng, (C_out, C_in, K), dtype), normal(rng, (C_out,), dtype), normal(rng, (N, C_in, T), dtype)
    layer.backend.load(layer.params["weight"], W)
    layer.backend.load(layer.params["bias"], b)
    y, _ = layer.forward(x)
    assert_close(pytcn.to_numpy(y), same_conv_bruteforce(x, W, b, d), dtype=dtype, what=f"K={K}, d={d}, T={T}")


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("use_weight_norm", [False, True])
@pytest.mark.parametrize("K, d", [(2, 1), (3, 2), (4, 1), (3, 5)])  # odd and even spans; a span past the sequence
def test_same_padding_layer_gradients_match_finite_differences(activation, use_weight_norm, K, d):
    rng = np.random.default_rng(K * 10 + d)
    layer = pytcn.Conv1D(2, 3, K, d, activation=activation, use_weight_norm=use_weight_norm, padding="same",
                               dtype=np.float64, rng=rng)
    randomize(layer.params, rng)
    assert_gradcheck(layer, rng.standard_normal((2, 2, 7)))


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_same_padding_model_gradients_match_finite_differences(return_sequences, backend):
    rng = np.random.default_rng(3)
    model = pytcn.TCN(input_channels=2, outputs=2, nb_filters=3, kernel_size=3, dilations=[1, 2], nb_stacks=2,
                      padding="same", use_weight_norm=True, return_sequences=return_sequences, dtype=np.float64,
                      seed=0, backend=backend)
    randomize(model.params, rng)
    result = assert_gradcheck(model, rng.standard_normal((2, 9, 2)))
    assert set(result.errors) == set(model.params) | {"input"}


def test_same_padding_model_sees_both_ways_and_its_head_reads_the_middle_step():
    model = pytcn.TCN(input_channels=1, outputs=1, nb_filters=2, kernel_size=3, dilations=[1], padding="same",
                      use_skip_connections=False, return_sequences=True, dtype=np.float64, seed=0)
    for p in model.params.values():  # positive weights and inputs: no ReLU is ever off, every path reaches
        p[...] = np.random.default_rng(0).uniform(0.5, 1.0, p.shape)
    x = np.random.default_rng(1).uniform(0.5, 1.0, (1, 9, 1))
    y = model.forward(x)
    x2 = x.copy()
    x2[:, 6] += 1.0  # two convolutions of K 3, d 1 reach 2 steps each way: steps 4..8 move, 0..3 do not
    moved = np.flatnonzero(np.any(model.forward(x2) != y, axis=(0, 2)))
    assert list(moved) == [4, 5, 6, 7, 8]
    last = pytcn.TCN(**(model.config | {"return_sequences": False}))
    last.load_state_dict(model.state_dict())
    assert_close(last.forward(x), y[:, 9 // 2], what="the head of a 'same' model reads step T // 2, as keras-tcn's")


@needs_numba_cuda
def test_same_padding_on_cuda_equals_cpu():
    kw = dict(input_channels=2, outputs=2, nb_filters=3, kernel_size=3, dilations=[1, 2], padding="same",
              return_sequences=True, dtype=np.float64, seed=0)
    cpu, gpu = pytcn.TCN(**kw), pytcn.TCN(**kw, backend=cuda_backend_for_tests())
    randomize(cpu.params, np.random.default_rng(0))
    gpu.load_state_dict(cpu.state_dict())
    x = np.random.default_rng(1).standard_normal((2, 7, 2))
    assert_close(pytcn.to_numpy(gpu.forward(x)), cpu.forward(x))
    dy = np.random.default_rng(2).standard_normal((2, 7, 2))
    assert_close(pytcn.to_numpy(gpu.backward(dy)), cpu.backward(dy))
    for name in cpu.params:
        assert_close(pytcn.to_numpy(gpu.grads[name]), cpu.grads[name], what=name)


def test_streaming_refuses_same_padding():
    model = pytcn.TCN(input_channels=1, nb_filters=2, kernel_size=2, dilations=[1], padding="same", seed=0)
    with pytest.raises(ValueError, match="padding='same' cannot stream"):
        model.stream(2)


# ----------------------------------------------------------------------------------------------------------------
# padded batches: the head reads each sequence's own last step


@backends
def test_a_padded_batch_gives_each_sequence_its_own_output(backend):
    model = pytcn.TCN(input_channels=2, outputs=3, nb_filters=3, kernel_size=2, dilations=[1, 2], dtype=np.float64,
                      seed=0, backend=model_backend(backend))
    rng = np.random.default_rng(4)
    lengths = [5, 9, 1]
    batch = rng.standard_normal((3, 9, 2))
    batch[0, 5:] = 100.0  # padding, whatever its values
    batch[2, 1:] = -7.0
    y = pytcn.to_numpy(model.forward(batch, lengths=lengths))
    for n, length in enumerate(lengths):
        alone = pytcn.to_numpy(model.forward(batch[n:n + 1, :length]))
        assert_close(y[n:n + 1], alone, what=f"sequence {n} of length {length}")


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_a_padded_batch_gradients_match_finite_differences(backend):
    rng = np.random.default_rng(5)
    model = pytcn.TCN(input_channels=2, outputs=2, nb_filters=3, kernel_size=2, dilations=[1, 2], dtype=np.float64,
                      seed=0, backend=backend)
    randomize(model.params, rng)
    x = rng.standard_normal((3, 6, 2))
    result = assert_gradcheck(model, x, forward=lambda z: model.forward(z, lengths=[6, 2, 4]))
    assert set(result.errors) == set(model.params) | {"input"}
    model.forward(x, lengths=[6, 2, 4])
    dx = model.backward(np.ones((3, 2)))
    assert not dx[1, 2:].any() and not dx[2, 4:].any(), "the padding after a sequence gets no gradient"


@pytest.mark.parametrize("lengths, error, message", [
    ([3, 0], ValueError, "lengths must be in [1, 6] (the padded length), got a length 0"),
    ([3, 7], ValueError, "got a length 7"),
    ([3], ValueError, "lengths must hold one length per sequence (2)"),
    ([3.0, 2.0], TypeError, "lengths must be integers"),
])
def test_bad_lengths_are_named(lengths, error, message):
    model = pytcn.TCN(input_channels=1, nb_filters=2, kernel_size=2, dilations=[1], seed=0)
    with pytest.raises(error) as info:
        model.forward(np.zeros((2, 6, 1)), lengths=lengths)
    assert message in str(info.value)


def test_lengths_are_refused_where_the_head_reads_every_step_or_the_future():
    x = np.zeros((2, 6, 1))
    with pytest.raises(ValueError, match="mask the padding out of the loss instead"):
        pytcn.TCN(input_channels=1, nb_filters=2, kernel_size=2, dilations=[1], return_sequences=True,
                  seed=0).forward(x, lengths=[3, 6])
    with pytest.raises(ValueError, match="lengths cannot be used with padding='same'"):
        pytcn.TCN(input_channels=1, nb_filters=2, kernel_size=2, dilations=[1], padding="same",
                  seed=0).forward(x, lengths=[3, 6])


# ----------------------------------------------------------------------------------------------------------------
# pooling='mean': the head reads the mean of the features over each sequence's steps (its own, given lengths)


def mean_model_and_every_step_twin(backend, **overrides):
    """A pooling='mean' model with random weights (float64), and its twin with return_sequences=True and the same
    weights, whose output is the head at every step."""
    config = dict(input_channels=2, outputs=3, nb_filters=3, kernel_size=2, dilations=[1, 2], dtype=np.float64,
                  seed=0) | overrides
    weights = pytcn.TCN(**config, pooling="mean")  # randomised on the host, then loaded on the backend
    randomize(weights.params, np.random.default_rng(5))
    mean = pytcn.TCN(**config, pooling="mean", backend=model_backend(backend))
    every_step = pytcn.TCN(**config, return_sequences=True, backend=model_backend(backend))
    for model in (mean, every_step):
        model.load_state_dict(weights.state_dict())
    return mean, every_step


@backends
@pytest.mark.parametrize("padding, lengths", [("causal", None), ("causal", [9, 1, 5]), ("same", None)],
                         ids=["every_step", "lengths", "same_padding"])
def test_mean_pooling_is_the_head_of_the_mean_of_the_features(backend, padding, lengths):
    # The head is affine, W f + b: at the mean of the features over a sequence's steps its value is the mean of its
    # values at those steps, which the twin outputs one by one. Over all T steps, or each sequence's own (a full one,
    # one of a single step, one in between); with padding='same' over all T too
    mean, every_step = mean_model_and_every_step_twin(backend, padding=padding)
    x = np.random.default_rng(6).standard_normal((3, 9, 2))
    y = pytcn.to_numpy(mean.forward(x, lengths=lengths))
    heads = pytcn.to_numpy(every_step.forward(x))  # N, T, outputs
    own = [9, 9, 9] if lengths is None else lengths
    expected = np.stack([heads[n, :length].mean(axis=0) for n, length in enumerate(own)])
    assert_close(y, expected, what=f"the mean pooled by the model against the mean of the head's steps, {own}")


@backends
def test_with_lengths_the_mean_of_a_sequence_does_not_depend_on_its_padding(backend):
    mean, _ = mean_model_and_every_step_twin(backend)
    lengths = [5, 9, 1]
    x = np.random.default_rng(7).standard_normal((3, 9, 2))
    y = pytcn.to_numpy(mean.forward(x, lengths=lengths))
    for value in (100.0, np.nan):  # whatever the padding holds, even NaN
        padded = x.copy()
        padded[0, 5:] = value
        padded[2, 1:] = value
        assert_close(pytcn.to_numpy(mean.forward(padded, lengths=lengths)), y, what=f"padding {value}")
        dx = pytcn.to_numpy(mean.backward(np.ones((3, 3))))
        assert not dx[0, 5:].any() and not dx[2, 1:].any(), "the padding after a sequence gets no gradient"
    for n, length in enumerate(lengths):
        alone = pytcn.to_numpy(mean.forward(x[n:n + 1, :length]))
        assert_close(y[n:n + 1], alone, what=f"sequence {n} of length {length}, and alone")


@needs_numba_cuda
@pytest.mark.parametrize("lengths", [None, [6, 2, 4]], ids=["every_step", "lengths"])
def test_mean_pooling_on_cuda_equals_cpu(lengths):
    cpu, _ = mean_model_and_every_step_twin("cpu", use_weight_norm=True)
    gpu, _ = mean_model_and_every_step_twin("cuda", use_weight_norm=True)
    x = np.random.default_rng(8).standard_normal((3, 6, 2))
    assert_close(pytcn.to_numpy(gpu.forward(x, lengths=lengths)), cpu.forward(x, lengths=lengths))
    dy = np.random.default_rng(9).standard_normal((3, 3))
    assert_close(pytcn.to_numpy(gpu.backward(dy)), cpu.backward(dy))
    for name in cpu.params:
        assert_close(pytcn.to_numpy(gpu.grads[name]), cpu.grads[name], what=name)


# ----------------------------------------------------------------------------------------------------------------
# loss masks


LOSSES = ["mse", "cross_entropy"]


def loss_call(name, pred, rng, backend, mask=None):
    if name == "mse":
        target = rng.standard_normal(pred.shape)
        return lambda p, m=mask: pytcn.mse(p, target, backend, mask=m), target
    labels = rng.integers(0, pred.shape[-1], pred.shape[:-1])
    return lambda p, m=mask: pytcn.cross_entropy(p, labels, backend, mask=m), labels


@backends
@pytest.mark.parametrize("loss", LOSSES)
@given(N=st.integers(1, 3), T=st.integers(1, 8), C=st.integers(1, 4), seed=seeds)
def test_a_masked_loss_is_the_loss_of_the_positions_kept(backend, loss, N, T, C, seed):
    rng = np.random.default_rng(seed)
    pred = rng.standard_normal((N, T, C))
    mask = rng.random((N, T)) < 0.6
    mask[rng.integers(N), rng.integers(T)] = True
    call, target = loss_call(loss, pred, rng, backend)
    value, grad = call(pred, mask)
    kept = pytcn.mse(pred[mask], target[mask], "numpy") if loss == "mse" else \
        pytcn.cross_entropy(pred[mask], target[mask], "numpy")
    assert_close(np.float64(value), np.float64(kept[0]), what="the masked loss")
    grad = pytcn.to_numpy(grad)
    assert not grad[~mask].any(), "a masked position got a gradient"
    assert_close(grad[mask], kept[1], what="the gradient at the positions kept")
    ones, ones_grad = call(pred, np.ones((N, T)))
    plain, plain_grad = call(pred, None)
    assert_close(np.float64(ones), np.float64(plain), what="a mask of ones")
    assert_close(pytcn.to_numpy(ones_grad), pytcn.to_numpy(plain_grad), what="the gradient with a mask of ones")


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_a_weighted_loss_gradient_matches_finite_differences(loss, backend):
    rng = np.random.default_rng(8)
    pred = rng.standard_normal((3, 4, 3))
    weights = rng.uniform(0.0, 2.0, (3, 4))
    call, _ = loss_call(loss, pred, rng, backend)
    _, grad = call(pred, weights)
    numeric = np.zeros_like(pred)
    h = 1e-6
    for k in np.ndindex(pred.shape):
        plus, minus = pred.copy(), pred.copy()
        plus[k] += h
        minus[k] -= h
        numeric[k] = (call(plus, weights)[0] - call(minus, weights)[0]) / (2 * h)
    error = np.abs(grad - numeric) / np.maximum(np.maximum(np.abs(grad), np.abs(numeric)), 1e-3 * np.abs(numeric).max())
    assert error.max() < 1e-6, f"worst relative error {error.max():.2e}"


def test_length_and_warmup_masks():
    assert pytcn.losses.length_mask([2, 4], 4).tolist() == [[True, True, False, False], [True, True, True, True]]
    assert pytcn.losses.warmup_mask(5, 3).tolist() == [False, False, True, True, True]  # R - 1 = 2 steps out


def test_a_padded_batch_of_sequences_trains_on_each_sequence_alone():
    # return_sequences: every step is output; the length mask keeps each sequence's own steps, whose outputs a causal
    # TCN computes from that sequence alone. The loss of the padded batch is the loss over all the real steps.
    model = pytcn.TCN(input_channels=1, outputs=3, nb_filters=3, kernel_size=2, dilations=[1, 2],
                      return_sequences=True, dtype=np.float64, seed=0)
    rng = np.random.default_rng(9)
    lengths = [6, 3]
    x = rng.standard_normal((2, 6, 1))
    x[1, 3:] = 50.0  # padding
    labels = rng.integers(0, 3, (2, 6))
    loss, _ = pytcn.cross_entropy(model.forward(x), labels, mask=pytcn.losses.length_mask(lengths, 6))
    logits = np.concatenate([model.forward(x[n:n + 1, :length])[0] for n, length in enumerate(lengths)])
    expected, _ = pytcn.cross_entropy(logits, np.concatenate([labels[n, :length] for n, length in enumerate(lengths)]))
    assert_close(np.float64(loss), np.float64(expected))


@pytest.mark.parametrize("mask, error, message", [
    (np.zeros((2, 3)), ValueError, "mask keeps no position"),
    (-np.ones((2, 3)), ValueError, "finite weights >= 0"),
    (np.ones((3, 2)), ValueError, "mask must have the shape of the positions (2, 3)"),
    (np.array([["a"] * 3] * 2), TypeError, "mask must hold booleans or real weights"),
])
def test_bad_masks_are_named(mask, error, message):
    with pytest.raises(error) as info:
        pytcn.mse(np.zeros((2, 3, 1)), np.zeros((2, 3, 1)), mask=mask)
    assert message in str(info.value)


def test_mask_warmup_is_checked_where_it_cannot_work(tmp_path):
    from pytcn.training.config import ConfigError, make_config

    with pytest.raises(ConfigError, match="would leave no step to learn from: the receptive field is 435"):
        make_config("copy-memory", mask_warmup=True)
    with pytest.raises(ConfigError, match="is for a loss over every step"):
        make_config("adding", mask_warmup=True)
    config = make_config("copy-memory", mask_warmup=True, kernel_size=2, dilations=[1, 2, 4])
    from pytcn.training import Trainer

    trainer = Trainer(config | dict(train_size=8, val_size=8, test_size=8), tmp_path / "run", progress=False)
    assert trainer.mask.tolist() == [False] * 14 + [True] * 106  # R = 15: the first 14 of 120 steps left out


# ----------------------------------------------------------------------------------------------------------------
# layer and batch normalisation


def normalised(x, axes, eps):
    """(x - mean) / sqrt(var + eps) over ``axes``, in float64: the formula, for comparison."""
    x = x.astype(np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True) + eps)


@backends
@given(N=st.integers(1, 3), C=st.integers(1, 5), T=st.integers(2, 9), dtype=st.sampled_from(FLOAT_DTYPES), seed=seeds)
def test_layer_and_batch_norm_compute_their_formulas(backend, N, C, T, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (3 * rng.standard_normal((N, C, T)) + 2).astype(dtype)
    weight, bias = normal(rng, (C,), dtype), normal(rng, (C,), dtype)
    for layer, axes in [(pytcn.layers.LayerNorm(C, dtype=dtype, backend=model_backend(backend)), 1),
                        (pytcn.layers.BatchNorm1d(C, dtype=dtype, backend=model_backend(backend)), (0, 2))]:
        layer.backend.load(layer.params["weight"], weight)
        layer.backend.load(layer.params["bias"], bias)
        y, _ = layer.forward(x, training=True)
        expected = weight[None, :, None] * normalised(x, axes, 1e-5) + bias[None, :, None]
        assert_close(pytcn.to_numpy(y), expected, dtype=dtype, what=type(layer).__name__)


@backends
def test_batch_norm_keeps_running_statistics_as_pytorch_and_uses_them_at_inference(backend):
    rng = np.random.default_rng(1)
    layer = pytcn.layers.BatchNorm1d(3, dtype=np.float64, backend=model_backend(backend))
    batches = [2 + 3 * rng.standard_normal((4, 3, 5)) for _ in range(2)]
    mean, var = np.zeros(3), np.ones(3)
    for x in batches:  # running = 0.9 running + 0.1 statistic, the variance unbiased (M = 20 values per channel)
        layer.forward(x, training=True)
        mean = 0.9 * mean + 0.1 * x.mean(axis=(0, 2))
        var = 0.9 * var + 0.1 * x.var(axis=(0, 2), ddof=1)
    assert_close(pytcn.to_numpy(layer.buffers["running_mean"]), mean)
    assert_close(pytcn.to_numpy(layer.buffers["running_var"]), var)
    assert int(layer.buffers["num_batches_tracked"]) == 2
    x = rng.standard_normal((2, 3, 4))
    y, _ = layer.forward(x)  # inference: the running statistics, not the batch's
    assert_close(pytcn.to_numpy(y), (x - mean[None, :, None]) / np.sqrt(var[None, :, None] + 1e-5))


@pytest.mark.parametrize("layer, training", [("LayerNorm", False), ("BatchNorm1d", True), ("BatchNorm1d", False)])
@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_normalisation_gradients_match_finite_differences(layer, training, backend):
    rng = np.random.default_rng(2)
    norm = getattr(pytcn.layers, layer)(3, dtype=np.float64, backend=backend)
    randomize(norm.params, rng)
    if layer == "BatchNorm1d":  # running statistics away from (0, 1)
        norm.forward(2 + 3 * rng.standard_normal((4, 3, 6)), training=True)
    x = 1 + 2 * rng.standard_normal((2, 3, 6))
    assert_gradcheck(norm, x, dy=rng.standard_normal(x.shape), forward=lambda z: norm.forward(z, training=training))


def norm_model(norm, backend="cpu", **overrides):
    config = dict(input_channels=2, outputs=2, nb_filters=3, kernel_size=2, dilations=[1, 2], dtype=np.float64,
                  seed=0, backend=backend, **{f"use_{norm}_norm": True}) | overrides
    model = pytcn.TCN(**config)
    randomize(model.params, np.random.default_rng(4))
    return model


@pytest.mark.parametrize("norm", ["layer", "batch"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_model_with_normalisation_gradients_match_finite_differences(norm, return_sequences, skip, backend):
    # Two blocks (the downsample, both skip paths), weights and input from one seed. A central difference is not
    # exact here in every configuration: layer norm over 3 channels projects the gradient onto what is left after
    # removing the mean and the xhat direction, one dimension per step, and some entries come out 1e-5 of the
    # loss's scale, where float64 roundoff at h = 1e-5 is a few 1e-6 of them (seen with 4 blocks, or seeds 7 of 8:
    # errors of 1e-6 to 9e-6 that fall to 1e-8 at h = 1e-4 while the analytic gradient stays put); and a ReLU input
    # within h of 0 breaks it outright. Where PyTorch and pytorch-tcn are installed, tests/test_interop.py compares
    # these gradients with PyTorch's autograd for any weights.
    model = norm_model(norm, backend, return_sequences=return_sequences, use_skip_connections=skip)
    rng = np.random.default_rng(0)
    randomize(model.params, rng)
    x = rng.standard_normal((3, 6, 2))
    training = norm == "batch"  # batch norm from the batch's statistics; its inference is a fixed affine map

    def forward(z):
        return model.forward(z, training=training)

    result = pytcn.gradcheck(model, x, forward=forward)
    # a bias added just before batch norm is taken out again with the mean: its gradient is exactly zero, and a
    # relative error between two roundoffs means nothing; every other array must pass
    before_norm = {name for name in model.params if training and name.endswith(("conv1.bias", "conv2.bias"))}
    for name, error in result.errors.items():
        if name not in before_norm:
            assert error < 1e-6, f"{name}: {result}"
    y = forward(x)
    model.backward(rng.standard_normal(y.shape))
    for name in before_norm:
        assert np.abs(model.grads[name]).max() < 1e-12, f"{name}: the gradient of a bias before batch norm"


@pytest.mark.parametrize("norm", ["layer", "batch"])
@pytest.mark.parametrize("c_in", [2, 3], ids=["downsample", "identity_residual"])
def test_block_with_normalisation_gradients_match_finite_differences(norm, c_in):
    from tests.test_gradients import BlockProbe

    rng = np.random.default_rng(6)
    block = pytcn.ResidualBlock(c_in, 3, 2, 2, dtype=np.float64, rng=rng, **{f"use_{norm}_norm": True})
    probe = BlockProbe(block, 1.0, 2.0, dropout_seed=5 if norm == "batch" else None)  # batch norm in training
    randomize(probe.params, rng)
    result = pytcn.gradcheck(probe, rng.standard_normal((3, c_in, 6)))
    for name, error in result.errors.items():
        if not (norm == "batch" and name.endswith(("conv1.bias", "conv2.bias"))):
            assert error < 1e-6, f"{name}: {result}"


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_streaming_a_normalised_model_equals_its_forward(norm):
    model = norm_model(norm, return_sequences=True)
    if norm == "batch":
        model.forward(2 + np.random.default_rng(6).standard_normal((4, 9, 2)), training=True)
    x = np.random.default_rng(7).standard_normal((2, 9, 2))
    y, _ = model.step(x, model.stream(2))
    assert_close(y, model.forward(x))


@needs_numba_cuda
@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_normalised_models_on_cuda_follow_the_cpu(norm):
    cpu, gpu = norm_model(norm), norm_model(norm, backend=cuda_backend_for_tests())
    gpu.load_state_dict(cpu.state_dict())
    x = np.random.default_rng(8).standard_normal((2, 6, 2))
    for training in (True, False):  # batch norm: a training pass moves the running statistics, then they are used
        assert_close(pytcn.to_numpy(gpu.forward(x, training=training)), cpu.forward(x, training=training))
        dy = np.random.default_rng(9).standard_normal((2, 2))
        assert_close(pytcn.to_numpy(gpu.backward(dy)), cpu.backward(dy))
        for name in cpu.params:
            assert_close(pytcn.to_numpy(gpu.grads[name]), cpu.grads[name], what=name)
    for name, value in cpu.state_dict().items():  # the running statistics too, and the count of batches
        if value.dtype.kind == "i":
            np.testing.assert_array_equal(gpu.state_dict()[name], value, err_msg=name)
        else:
            assert_close(gpu.state_dict()[name], value, what=name)


def test_one_normalisation_at_most():
    with pytest.raises(ValueError, match="one normalisation at most"):
        pytcn.TCN(input_channels=1, use_layer_norm=True, use_batch_norm=True)
    with pytest.raises(ValueError, match="one normalisation at most"):
        pytcn.TCN(input_channels=1, use_weight_norm=True, use_batch_norm=True)


def test_batch_norm_buffers_are_in_the_state_dict_under_pytorch_s_names_and_load_back(tmp_path):
    model = norm_model("batch")
    model.forward(np.random.default_rng(10).standard_normal((3, 6, 2)), training=True)
    state = model.state_dict()
    assert state["tcn.network.1.norm2.num_batches_tracked"].dtype == np.int64
    assert state["tcn.network.1.norm2.running_var"].shape == (3,)
    model.save(tmp_path / "bn.npz")
    again = pytcn.load_model(tmp_path / "bn.npz")
    for name, value in state.items():
        np.testing.assert_array_equal(again.state_dict()[name], value, err_msg=name)
    assert not set(model.buffers) & set(model.params), "a buffer is never a parameter (no optimizer updates it)"


@pytest.mark.parametrize("shape, fan_in", [((24, 24, 8), 192), ((10, 130), 130)])
def test_torch_default_initializer_is_uniform_in_one_over_root_fan_in(shape, fan_in):
    # torch.nn.Conv1d's and Linear's reset_parameters: kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), +...)
    from pytcn.nn.initializers import initialize

    w = initialize("torch_default", shape, np.random.default_rng(0), np.float64)
    bound = 1 / np.sqrt(fan_in)
    assert np.all(np.abs(w) <= bound) and w.min() < -0.95 * bound and w.max() > 0.95 * bound
    # a uniform's standard deviation is its bound / sqrt(3)
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound / np.sqrt(3)


@pytest.mark.parametrize("padding", ["causal", "same"])
@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_conv_backward_adds_a_gradient_from_another_path_into_dx(padding, backend):
    # add=: the gradient reaching x by another path (a residual block's skip), summed into dx: inside the input
    # gradient's kernel with causal padding, by an add after it with 'same'
    rng = np.random.default_rng(3)
    layer = pytcn.Conv1D(2, 3, 3, 2, activation="relu", padding=padding, dtype=np.float64, rng=rng, backend=backend)
    x, dy, other = rng.standard_normal((2, 2, 9)), rng.standard_normal((2, 3, 9)), rng.standard_normal((2, 2, 9))
    _, cache = layer.forward(x)
    dx, grads = layer.backward(dy, cache)
    dx, grads = pytcn.to_numpy(dx).copy(), {name: pytcn.to_numpy(g).copy() for name, g in grads.items()}
    dx_with, grads_with = layer.backward(dy, cache, add=other)
    np.testing.assert_allclose(pytcn.to_numpy(dx_with), dx + other, rtol=1e-12, atol=1e-12)
    for name, g in grads.items():  # the parameters' gradients do not see it
        np.testing.assert_array_equal(pytcn.to_numpy(grads_with[name]), g)
    with pytest.raises(ValueError, match="add"):
        layer.backward(dy, cache, add=other[:, :, :5])
