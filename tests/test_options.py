"""The architecture options beyond the causal TCN: padding='same', padded batches of different lengths, loss masks.

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
    cuda_simulated,
    needs_numba_cuda,
    one_numba_thread,
    randomize,
)
from tests.strategies import FLOAT_DTYPES, normal, seeds
from tests.test_gradients import assert_gradcheck

BACKENDS = ["numpy", "cpu", pytest.param("cuda", marks=needs_numba_cuda)]
backends = pytest.mark.parametrize("backend", BACKENDS)


def same_conv_bruteforce(x, W, b, d):
    """keras's padding='same': P_left = (K-1)d // 2 zeros before, the rest after; term by term, in float64."""
    N, C_in, T = x.shape
    C_out, _, K = W.shape
    left = (K - 1) * d // 2
    y = np.zeros((N, C_out, T))
    for n in range(N):
        for o in range(C_out):
            for t in range(T):
                total = float(b[o])
                for i in range(C_in):
                    for j in range(K):
                        s = t - left + j * d
                        if 0 <= s < T:
                            total += float(W[o, i, j]) * float(x[n, i, s])
                y[n, o, t] = total
    return y


@backends
@given(N=st.integers(1, 3), C_in=st.integers(1, 4), C_out=st.integers(1, 4), K=st.integers(1, 5),
       d=st.integers(1, 6), T=st.integers(1, 20), dtype=st.sampled_from(FLOAT_DTYPES), seed=seeds)
def test_same_padding_centres_the_taps(backend, N, C_in, C_out, K, d, T, dtype, seed):
    rng = np.random.default_rng(seed)
    layer = pytcn.CausalConv1D(C_in, C_out, K, d, padding="same", dtype=dtype, backend=backend)
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
    layer = pytcn.CausalConv1D(2, 3, K, d, activation=activation, use_weight_norm=use_weight_norm, padding="same",
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
    cpu, gpu = pytcn.TCN(**kw), pytcn.TCN(**kw, backend="cuda")
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
                      seed=0, backend=backend)
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
    from pytcn.config import ConfigError, make_config

    with pytest.raises(ConfigError, match="would leave no step to learn from: the receptive field is 435"):
        make_config("copy-memory", mask_warmup=True)
    with pytest.raises(ConfigError, match="is for a loss over every step"):
        make_config("adding", mask_warmup=True)
    config = make_config("copy-memory", mask_warmup=True, kernel_size=2, dilations=[1, 2, 4])
    from pytcn.training import Trainer

    trainer = Trainer(config | dict(train_size=8, val_size=8, test_size=8), tmp_path / "run", progress=False)
    assert trainer.mask.tolist() == [False] * 14 + [True] * 106  # R = 15: the first 14 of 120 steps left out
