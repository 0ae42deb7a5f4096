"""Inverted dropout (pytcn/nn/layers.py: SpatialDropout1D, a mask entry per (n, c) shared over t, and Dropout, one
per element), on every backend, in float32 and float64:

- a kept entry is x / (1 - rate), a dropped one exactly 0; spatial dropout drops whole channels, Dropout single
  entries;
- so the mean of many masked outputs is the input, within its standard error;
- the backward pass multiplies by the same mask, the forward's (from the cache), and one generator state gives one
  mask on every backend.

A copy of pytcn whose kept entries were scaled by 1 / (1 + rate) passed every other test but the site's and the CUDA
ones; tests/plant_bugs.py plants that bug and runs this file on it.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pytcn

from .helpers import assert_close, needs_numba_cuda, one_numba_thread  # noqa: F401 (fixture)
from .strategies import dropout_problems

BACKENDS = ["numpy", "cpu", pytest.param("cuda", marks=needs_numba_cuda)]
LAYERS = [pytcn.SpatialDropout1D, pytcn.Dropout]
DTYPES = [np.float32, np.float64]

backends = pytest.mark.parametrize("backend", BACKENDS)
layers = pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.__name__)
dtypes = pytest.mark.parametrize("dtype", DTYPES, ids=lambda dtype: np.dtype(dtype).name)


#: examples drawn for the CUDA backend in the simulator, where every thread of a launch runs as Python: a quarter of
#: the profile's 40, on sequences of at most 8 steps (one block a launch)
SIMULATOR_EXAMPLES = 10


def for_drawn_problems(backend, dtype, check):
    """Runs ``check(problem)`` on drawn dropout problems of ``dtype`` (hypothesis: the failing one shrunk and
    printed)."""
    cuda = backend == "cuda"
    drawn = dropout_problems(dtype=st.just(np.dtype(dtype)), **({"lengths": st.integers(1, 8)} if cuda else {}))
    examples = SIMULATOR_EXAMPLES if cuda else settings.default.max_examples
    settings(max_examples=examples)(given(drawn)(check))()


def forward(layer, backend, x, rate, seed, training=True):
    """(y as a NumPy array, the cache, the layer): ``layer``(rate) on ``backend``, its mask drawn from seed."""
    dropout = layer(rate, backend=backend)
    y, cache = dropout.forward(x, training=training, rng=np.random.default_rng(seed))
    return np.array(pytcn.to_numpy(y)), cache, dropout


@backends
@layers
@dtypes
def test_a_kept_entry_is_x_over_one_minus_rate_and_a_dropped_one_zero(backend, layer, dtype):
    def check(p):
        y, _, _ = forward(layer, backend, p.x, p.rate, p.seed)
        dropped = y == 0  # x has no zero, and a kept entry is x times 1 / (1 - rate) >= 1
        # 1 / (1 - rate) rounded to the dtype once (the mask is stored in x's dtype): within the dtype's tolerance
        expected = np.where(dropped, 0.0, p.x.astype(np.float64) / (1.0 - p.rate))
        assert_close(y, expected, dtype=dtype, what=f"{layer.__name__}(rate={p.rate}) of x")
        if layer is pytcn.SpatialDropout1D:  # a channel of a sequence is dropped whole, or kept whole
            split = dropped.any(axis=2) & ~dropped.all(axis=2)
            assert not split.any(), f"(n, c) partly dropped: {np.argwhere(split)[:5].tolist()}"

    for_drawn_problems(backend, dtype, check)


@backends
@layers
@dtypes
@pytest.mark.parametrize("rate", [0.5, 0.75])
def test_with_an_exact_scale_a_kept_entry_is_exactly_x_over_one_minus_rate(backend, layer, dtype, rate):
    # 1 - rate and 1 / (1 - rate) (2, 4) are exact in binary: the kept entries are then x / (1 - rate) to the bit
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 4, 5)) + 10.0).astype(dtype)  # no zero
    y, _, _ = forward(layer, backend, x, rate, seed=11)
    kept = y != 0
    assert 0 < kept.sum() < kept.size, "with these seeds some entries are kept and some dropped"
    np.testing.assert_array_equal(y[kept], x[kept] / dtype(1.0 - rate))
    assert y.dtype == np.dtype(dtype)


@backends
def test_spatial_dropout_drops_whole_channels_and_dropout_single_entries(backend):
    x = np.ones((6, 4, 8))
    y_spatial, _, _ = forward(pytcn.SpatialDropout1D, backend, x, 0.5, seed=2)
    y_elementwise, _, _ = forward(pytcn.Dropout, backend, x, 0.5, seed=2)
    for name, y in [("SpatialDropout1D", y_spatial), ("Dropout", y_elementwise)]:
        dropped = y == 0
        assert dropped.any() and not dropped.all(), f"{name}: nothing or everything dropped"
    # every (n, c) all dropped or all kept; element-wise, some (n, c) both (24 rows of 8 entries at rate 0.5)
    assert ((y_spatial == 0).all(axis=2) | (y_spatial != 0).all(axis=2)).all()
    assert ((y_elementwise == 0).any(axis=2) & (y_elementwise != 0).any(axis=2)).any()


DRAWS = 400


@backends
@layers
@dtypes
@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_the_mean_of_many_masked_outputs_is_the_input_within_its_standard_error(backend, layer, dtype, rate):
    # DRAWS samples of one sequence x0 (C = 2, T = 3) in one batch: each sample gets its own mask, so every entry
    # of x0 is masked DRAWS times independently
    rng = np.random.default_rng(7)
    x0 = rng.standard_normal((2, 3)) + np.array([[3.0], [-3.0]])  # no zero
    x = np.ascontiguousarray(np.broadcast_to(x0, (DRAWS, 2, 3)), dtype=dtype)
    x0 = x[0].astype(np.float64)
    y, _, _ = forward(layer, backend, x, rate, seed=8)
    mean = y.astype(np.float64).mean(axis=0)
    # a mask entry is 0 with probability rate, else s = 1 / (1 - rate): its mean is 1 and its variance
    # s^2 (1 - rate) - 1 = rate / (1 - rate), so the mean of DRAWS outputs has standard error
    # |x| sqrt(rate / (1 - rate) / DRAWS) (0.017|x| at rate 0.1, 0.05|x| at rate 0.5). Bound: 4 standard errors,
    # which a correct layer exceeds with probability 6e-5 per entry (normal approximation; the seeds are fixed);
    # scaling by 1 / (1 + rate) instead moves the mean by 2 rate / (1 + rate) |x|: 11 and 13 standard errors.
    se = np.abs(x0) * np.sqrt(rate / (1.0 - rate) / DRAWS)
    off = np.abs(mean - x0) > 4 * se
    assert not off.any(), (f"mean of {DRAWS} outputs {mean[off]} for x {x0[off]}: more than 4 standard errors "
                           f"{4 * se[off]} away")
    # each mask entry is dropped with probability rate (DRAWS * 2 of them for spatial dropout, DRAWS * 6 element-wise)
    dropped = (y == 0)[:, :, 0] if layer is pytcn.SpatialDropout1D else y == 0
    se_fraction = np.sqrt(rate * (1.0 - rate) / dropped.size)
    assert abs(dropped.mean() - rate) <= 4 * se_fraction, f"dropped {dropped.mean():.3f} of the entries, rate {rate}"


@backends
@layers
@dtypes
def test_backward_multiplies_by_the_forward_s_mask(backend, layer, dtype):
    def check(p):
        # on x = 1 the output is the mask itself
        mask, cache, dropout = forward(layer, backend, np.ones_like(p.x), p.rate, p.seed)
        # another forward in between, with another mask: the backward goes by its cache alone
        forward(layer, backend, p.x, p.rate, p.seed + 1)
        dx, grads = dropout.backward(p.dy, cache)
        assert grads == {}
        # forward: y = x * mask, so dx = dy * mask; one product per entry, as the forward's: equal to the bit
        np.testing.assert_array_equal(pytcn.to_numpy(dx), p.dy * mask)
        # the mask is the generator's: x times it, to the bit, and on every backend the same
        y, _, _ = forward(layer, backend, p.x, p.rate, p.seed)
        np.testing.assert_array_equal(y, p.x * mask)
        reference, _, _ = forward(layer, "numpy", np.ones_like(p.x), p.rate, p.seed)
        np.testing.assert_array_equal(mask, reference)

    for_drawn_problems(backend, dtype, check)


@backends
@layers
@dtypes
def test_at_inference_and_at_rate_0_dropout_is_the_identity(backend, layer, dtype):
    x = np.random.default_rng(4).standard_normal((2, 3, 5)).astype(dtype)
    dy = np.random.default_rng(5).standard_normal((2, 3, 5)).astype(dtype)
    for rate, training in [(0.5, False), (0.0, True)]:
        y, cache, dropout = forward(layer, backend, x, rate, seed=6, training=training)
        np.testing.assert_array_equal(y, x)
        np.testing.assert_array_equal(pytcn.to_numpy(dropout.backward(dy, cache)[0]), dy)


@pytest.mark.parametrize("dropout_type, layer", [("spatial", pytcn.SpatialDropout1D), ("elementwise", pytcn.Dropout)])
def test_the_model_s_dropout_rate_and_type_choose_these_layers(dropout_type, layer):
    model = pytcn.TCN(input_channels=2, outputs=1, nb_filters=3, kernel_size=2, dilations=[1, 2], nb_stacks=2,
                      dropout_rate=0.3, dropout_type=dropout_type, seed=0)
    assert len(model.blocks) == 4
    dropouts = [d for block in model.blocks for d in (block.dropout1, block.dropout2)]
    assert all(type(d) is layer and d.rate == 0.3 for d in dropouts), [(type(d), d.rate) for d in dropouts]
