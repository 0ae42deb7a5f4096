"""Every backward pass against central finite differences, in float64.

Each check draws a random upstream gradient dy (pytcn.gradcheck's default, never ones) and compares the input
gradient and every parameter gradient with central differences of step h = 1e-5 (below); the worst relative error
must stay below 1e-6.

Before every check all parameters, biases included, are set to random values. Initialised biases are exactly 0,
and a zero input (a channel that dropout removed, the causal padding) then puts a ReLU's pre-activation exactly on
its kink, where a central difference measures 1/2 of a slope the backward pass takes as 0 or 1.

The step is h = 1e-5 (gradcheck's default) rather than 1e-6: through a four-block model the roundoff of <y, dy>
divided by 2h reaches 1e-6 relative on entries a thousand times smaller than an array's largest (measured: 2.1e-06
with h = 1e-6, 1.1e-07 with h = 1e-5, 1.1e-04 with h = 1e-7, on the same model). Without weight normalisation a model is
piecewise linear in each single parameter, so a larger step adds no truncation error until it crosses a ReLU kink
(h = 3e-5 already crosses one somewhere in the grid below); weight normalisation adds an O(h^2) error, about 1e-10.

Finite differences call the kernels thousands of times on tiny arrays, where a parallel region costs more than the
work (and up to milliseconds when other processes share the cores), so this module runs Numba on one thread. Whether
one and several threads agree is the kernels' tests' business.
"""
import itertools

import numpy as np
import pytest

import pytcn
from pytcn.nn.gradcheck import numerical_gradient, relative_error

from .helpers import one_numba_thread, randomize  # noqa: F401 (one_numba_thread: autouse fixture)

H = 1e-5  # the finite-difference step of every check here (see the module docstring)
THRESHOLD = 1e-6  # the largest relative error accepted




def assert_gradcheck(module, x, **kwargs):
    result = pytcn.gradcheck(module, x, h=H, **kwargs)
    assert result.max_rel_error < THRESHOLD, str(result)
    return result


class BlockProbe:
    """A residual block seen as one layer with one output, ``a * out + b * branch``, so that gradcheck covers the
    skip output as well as the main one; its params are the block's. ``dropout_seed`` draws the same dropout masks
    on every call (training mode); None runs in inference mode."""

    def __init__(self, block, a=1.0, b=0.0, dropout_seed=None):
        self.block, self.a, self.b, self.dropout_seed = block, a, b, dropout_seed
        self.params = block.params

    def forward(self, x):
        if self.dropout_seed is None:
            (out, branch), cache = self.block.forward(x)
        else:
            (out, branch), cache = self.block.forward(x, training=True, rng=np.random.default_rng(self.dropout_seed))
        return self.a * out + self.b * branch, cache

    def backward(self, dy, cache):
        # forward: y = a * out + b * branch, so out receives a * dy and the skip output b * dy
        return self.block.backward(self.a * dy, cache, dbranch=self.b * dy)


# ----------------------------------------------------------------------------------------------------------------
# layers


CONV_CASES = [
    # (K, d, T): ordinary, dilated, a 1x1, and reaches d*(K-1) >= T where some taps only ever read padding
    (1, 1, 5),
    (2, 1, 5),
    (3, 2, 6),
    (2, 5, 5),
    (3, 4, 5),
    (4, 3, 4),
]


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("use_weight_norm", [False, True], ids=["plain", "weight_norm"])
@pytest.mark.parametrize("K,d,T", CONV_CASES)
def test_causal_conv_gradients_match_finite_differences(K, d, T, use_weight_norm, activation):
    rng = np.random.default_rng(100 + 10 * K + d)
    conv = pytcn.CausalConv1D(2, 3, K, d, activation=activation, use_weight_norm=use_weight_norm, rng=rng,
                              dtype=np.float64)
    randomize(conv.params, rng)
    expected = {"weight_g", "weight_v", "bias"} if use_weight_norm else {"weight", "bias"}
    result = assert_gradcheck(conv, rng.standard_normal((2, 2, T)))
    assert set(result.errors) == expected | {"input"}, str(result)


def test_relu_of_a_sum_passes_its_gradient_to_both_terms():
    rng = np.random.default_rng(4)
    relu = pytcn.ReLU()
    a, b, dy = rng.standard_normal((3, 2, 3, 5))
    y, cache = relu.forward(a, b)
    np.testing.assert_array_equal(y, np.maximum(a + b, 0))
    dx, grads = relu.backward(dy, cache)
    np.testing.assert_array_equal(dx, np.where(a + b > 0, dy, 0))
    assert grads == {}


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_relu_gradient_matches_finite_differences(backend):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5))
    assert np.min(np.abs(x)) > 10 * H, "an input this close to the kink would make the check meaningless"
    assert_gradcheck(pytcn.ReLU(backend), x)


def test_spatial_dropout_gradient_matches_finite_differences_with_a_fixed_mask():
    rng = np.random.default_rng(2)
    layer = pytcn.SpatialDropout1D(0.5)
    x = rng.standard_normal((2, 3, 4))

    def forward(z):
        return layer.forward(z, training=True, rng=np.random.default_rng(7))

    y, _ = forward(x)
    dropped = np.all(y == 0, axis=2)  # N, C
    assert dropped.any() and not dropped.all(), "the mask of seed 7 should drop some channels and keep others"
    assert_gradcheck(layer, x, forward=forward)


def test_elementwise_dropout_gradient_matches_finite_differences_with_a_fixed_mask():
    rng = np.random.default_rng(2)
    layer = pytcn.layers.Dropout(0.5)
    x = rng.standard_normal((2, 3, 4))

    def forward(z):
        return layer.forward(z, training=True, rng=np.random.default_rng(7))

    y, _ = forward(x)
    dropped = y == 0
    assert dropped.any() and not dropped.all(), "the mask of seed 7 should drop some elements and keep others"
    assert not np.all(dropped, axis=2).any() or not np.all(~dropped, axis=2).all(), "element-wise, not by channel"
    assert_gradcheck(layer, x, forward=forward)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_model_with_elementwise_dropout_gradients_match_finite_differences(return_sequences, backend):
    rng = np.random.default_rng(12)
    model = pytcn.TCN(input_channels=2, outputs=2, nb_filters=3, kernel_size=2, dilations=[1, 2], dropout_rate=0.3,
                      dropout_type="elementwise", return_sequences=return_sequences, dtype=np.float64, seed=0,
                      backend=backend)
    randomize(model.params, rng)
    x = rng.standard_normal((2, 7, 2))

    def forward(z):
        return model.forward(z, training=True, rng=np.random.default_rng(3))

    assert not np.allclose(forward(x), model.forward(x)), "the fixed masks should drop something"
    result = assert_gradcheck(model, x, forward=forward)
    assert set(result.errors) == set(model.params) | {"input"}, str(result)


def test_linear_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    layer = pytcn.Linear(3, 2, rng=rng, dtype=np.float64)
    randomize(layer.params, rng)
    result = assert_gradcheck(layer, rng.standard_normal((4, 3)))
    assert set(result.errors) == {"weight", "bias", "input"}


# ----------------------------------------------------------------------------------------------------------------
# the residual block


def test_residual_block_exposes_its_parameters_to_gradcheck():
    """A block is documented as a gradcheck module like any layer; its ``params`` must then hold its convolutions'
    arrays, and its backward a gradient of each, or pytcn.gradcheck(block, x) checks the input gradient alone and
    reports success."""
    rng = np.random.default_rng(0)
    block = pytcn.ResidualBlock(2, 3, 2, 1, rng=rng, dtype=np.float64)
    expected = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "downsample.weight", "downsample.bias"]
    assert sorted(block.params) == sorted(expected), f"ResidualBlock.params has {sorted(block.params)}"
    (out, _), cache = block.forward(rng.standard_normal((2, 2, 5)))
    _, grads = block.backward(np.ones_like(out), cache)
    assert sorted(grads) == sorted(expected), f"ResidualBlock.backward gave gradients of {sorted(grads)}"


BLOCK_OUTPUTS = [(1.0, 0.0), (0.0, 1.0), (1.0, 2.0)]  # out alone, the skip (branch) alone, both


@pytest.mark.parametrize("a,b", BLOCK_OUTPUTS, ids=["out", "branch", "out+2branch"])
@pytest.mark.parametrize("c_in", [2, 3], ids=["downsample", "identity_residual"])
@pytest.mark.parametrize("use_weight_norm", [False, True], ids=["plain", "weight_norm"])
@pytest.mark.parametrize("dropout_seed", [None, 5], ids=["inference", "dropout"])
def test_residual_block_gradients_match_finite_differences(a, b, c_in, use_weight_norm, dropout_seed):
    rng = np.random.default_rng(4)
    block = pytcn.ResidualBlock(c_in, 3, 2, 2, dropout_rate=0.3 if dropout_seed else 0.0,
                                use_weight_norm=use_weight_norm, rng=rng, dtype=np.float64)
    assert (block.downsample is not None) == (c_in != 3)
    probe = BlockProbe(block, a, b, dropout_seed)
    randomize(probe.params, rng)
    result = assert_gradcheck(probe, rng.standard_normal((2, c_in, 6)))
    expected = set(block.params) | {"input"}
    assert set(result.errors) == expected, str(result)


def test_residual_block_input_gradient_passes_gradcheck_on_the_block_itself():
    """gradcheck given the block itself (no probe) reads its first output, ``out``."""
    rng = np.random.default_rng(6)
    block = pytcn.ResidualBlock(2, 3, 3, 1, rng=rng, dtype=np.float64)
    randomize(BlockProbe(block).params, rng)
    x = rng.standard_normal((2, 2, 5))
    result = assert_gradcheck(block, x)
    assert "input" in result.errors


# ----------------------------------------------------------------------------------------------------------------
# the whole model


MODEL_GRID = list(itertools.product(
    [False, True],  # return_sequences
    [False, True],  # use_weight_norm
    [1, 2],  # nb_stacks
    [2, 3],  # input_channels (nb_filters is 3: 2 puts a downsample in block 0)
    [False, True],  # use_skip_connections
    [0.0, 0.3],  # dropout_rate
))


def _model_id(case):
    seq, wn, stacks, c_in, skip, rate = case
    return (f"{'seq' if seq else 'last'}-{'wn' if wn else 'plain'}-stacks{stacks}-in{c_in}-"
            f"{'skip' if skip else 'noskip'}-drop{rate}")


def make_model(rng, return_sequences=False, use_weight_norm=False, nb_stacks=1, input_channels=2,
               use_skip_connections=True, dropout_rate=0.0, backend="cpu", outputs=2, pooling="last", padding="causal"):
    model = pytcn.TCN(input_channels=input_channels, outputs=outputs, nb_filters=3, kernel_size=2,
                      dilations=[1, 2], nb_stacks=nb_stacks, use_skip_connections=use_skip_connections,
                      dropout_rate=dropout_rate, return_sequences=return_sequences,
                      use_weight_norm=use_weight_norm, dtype=np.float64, seed=0, backend=backend, pooling=pooling,
                      padding=padding)
    randomize(model.params, rng)
    return model


@pytest.mark.parametrize("case", MODEL_GRID, ids=_model_id)
def test_model_gradients_match_finite_differences(case):
    return_sequences, use_weight_norm, nb_stacks, input_channels, skip, rate = case
    rng = np.random.default_rng(MODEL_GRID.index(case))
    model = make_model(rng, return_sequences, use_weight_norm, nb_stacks, input_channels, skip, rate)
    x = rng.standard_normal((2, 7, input_channels))
    forward = None
    if rate > 0:
        def forward(z):
            return model.forward(z, training=True, rng=np.random.default_rng(3))

        assert not np.allclose(forward(x), model.forward(x)), "the fixed masks should drop something"
    result = assert_gradcheck(model, x, forward=forward)
    assert set(result.errors) == set(model.params) | {"input"}, str(result)
    assert ("tcn.network.0.downsample.weight" in result.errors) == (input_channels != 3)


@pytest.mark.parametrize("return_sequences", [False, True])
def test_model_gradients_match_finite_differences_on_the_numpy_backend(return_sequences):
    rng = np.random.default_rng(11)
    model = make_model(rng, return_sequences=return_sequences, use_weight_norm=True, nb_stacks=2,
                       dropout_rate=0.3, backend="numpy")
    assert model.backend.name == "numpy"
    assert_gradcheck(model, rng.standard_normal((2, 6, 2)),
                     forward=lambda z: model.forward(z, training=True, rng=np.random.default_rng(3)))


# pooling='mean': the head reads the mean of the features over each sequence's steps. Over all T steps; over each
# sequence's own (a full one, one of a single step, one in between); and with padding='same', over all T
MEAN_POOLING_CASES = [("causal", None), ("causal", [7, 1, 4]), ("same", None)]


@pytest.mark.parametrize("padding, lengths", MEAN_POOLING_CASES, ids=["every_step", "lengths", "same_padding"])
@pytest.mark.parametrize("skip", [False, True], ids=["noskip", "skip"])
@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_model_with_mean_pooling_gradients_match_finite_differences(padding, lengths, skip, backend):
    # the mean divides the gradients by T, so some entries sit near the floor of the relative error, where roundoff
    # is what the module's docstring says (seed 10 here: 1.01e-6 on an entry 700 times below its array's largest,
    # whose differences at h = 1e-4 and 1e-6 agree with the backward pass to 6e-8); seeds 0 to 7 of the causal cases
    # stay below 3.3e-7
    rng = np.random.default_rng(MEAN_POOLING_CASES.index((padding, lengths)) + 3 * skip)
    model = make_model(rng, use_weight_norm=True, nb_stacks=2, use_skip_connections=skip, backend=backend,
                       pooling="mean", padding=padding)
    x = rng.standard_normal((3, 7, 2))
    result = assert_gradcheck(model, x, forward=lambda z: model.forward(z, lengths=lengths))
    assert set(result.errors) == set(model.params) | {"input"}, str(result)


# ----------------------------------------------------------------------------------------------------------------
# losses, and a model with its loss


def assert_matches_numerical(analytic, f, z, what):
    numeric = numerical_gradient(f, z, H)
    err = relative_error(analytic, numeric)
    k = np.unravel_index(int(np.argmax(err)), err.shape)
    assert err[k] < THRESHOLD, f"{what}: worst relative error {err[k]:.3e} at {k}"


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize("shape", [(3, 2), (2, 4, 3)])
def test_mse_gradient_matches_finite_differences(shape, backend):
    rng = np.random.default_rng(20)
    pred = rng.standard_normal(shape)
    target = rng.standard_normal(shape)
    _, dpred = pytcn.mse(pred, target, backend=backend)
    assert_matches_numerical(dpred, lambda: pytcn.mse(pred, target, backend=backend)[0], pred, "mse dpred")


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize("shape", [(3, 4), (2, 5, 3)], ids=["per_sequence", "per_step"])
def test_cross_entropy_gradient_matches_finite_differences(shape, backend):
    rng = np.random.default_rng(21)
    logits = 2.0 * rng.standard_normal(shape)
    labels = rng.integers(0, shape[-1], shape[:-1])
    _, dlogits = pytcn.cross_entropy(logits, labels, backend=backend)
    assert dlogits.shape == logits.shape
    assert_matches_numerical(dlogits, lambda: pytcn.cross_entropy(logits, labels, backend=backend)[0], logits,
                             "cross_entropy dlogits")


@pytest.mark.parametrize("loss_name,return_sequences", [("mse", False), ("mse", True), ("cross_entropy", False),
                                                         ("cross_entropy", True)])
def test_loss_gradient_reaches_every_parameter_through_the_model(loss_name, return_sequences):
    rng = np.random.default_rng(30)
    # one stack: with two, the roundoff of the (mean) loss over 2h comes within 2x of the threshold on the smallest
    # entries; the grid above checks two stacks through gradcheck
    model = make_model(rng, return_sequences=return_sequences, use_weight_norm=True, nb_stacks=1, outputs=3,
                       dropout_rate=0.3)
    x = rng.standard_normal((2, 6, 2))
    out_shape = (2, 6, 3) if return_sequences else (2, 3)
    if loss_name == "mse":
        target = rng.standard_normal(out_shape)

        def loss(y):
            return pytcn.mse(y, target)
    else:
        labels = rng.integers(0, 3, out_shape[:-1])

        def loss(y):
            return pytcn.cross_entropy(y, labels)

    def forward():
        return model.forward(x, training=True, rng=np.random.default_rng(3))

    _, dy = loss(forward())
    dx = model.backward(dy)
    analytic = {name: g.copy() for name, g in model.grads.items()}
    for name, p in model.params.items():
        assert_matches_numerical(analytic[name], lambda: loss(forward())[0], p, f"d{loss_name}/d{name}")
    assert_matches_numerical(dx, lambda: loss(forward())[0], x, f"d{loss_name}/dx")


# ----------------------------------------------------------------------------------------------------------------
# the check itself


class ConvWithWrongWeightGradient(pytcn.CausalConv1D):
    """A convolution whose backward overstates the weight gradient by 1 %."""

    def backward(self, dy, cache):
        dx, grads = super().backward(dy, cache)
        grads["weight"] *= 1.01
        return dx, grads


class ConvWithWrongInputGradient(pytcn.CausalConv1D):
    """A convolution whose backward drops the input gradient of the last time step."""

    def backward(self, dy, cache):
        dx, grads = super().backward(dy, cache)
        dx[:, :, -1] = 0.0
        return dx, grads


def test_gradcheck_catches_a_wrong_parameter_gradient():
    rng = np.random.default_rng(40)
    conv = ConvWithWrongWeightGradient(2, 3, 2, 1, rng=rng, dtype=np.float64)
    randomize(conv.params, rng)
    result = pytcn.gradcheck(conv, rng.standard_normal((2, 2, 5)), h=H)
    assert result.max_rel_error > 1e-3, str(result)
    assert result.worst.startswith("weight("), str(result)
    assert result.errors["bias"] < THRESHOLD and result.errors["input"] < THRESHOLD, str(result)


def test_gradcheck_catches_a_wrong_input_gradient():
    rng = np.random.default_rng(41)
    conv = ConvWithWrongInputGradient(2, 3, 2, 1, rng=rng, dtype=np.float64)
    randomize(conv.params, rng)
    result = pytcn.gradcheck(conv, rng.standard_normal((2, 2, 5)), h=H)
    assert result.max_rel_error > 1e-3, str(result)
    assert result.worst.startswith("input("), str(result)
    assert result.worst.endswith(", 4)"), str(result)  # the last time step, index T - 1
