"""The adding-problem generator: shapes, ranges, markers, targets, seeding."""
import numpy as np
import pytest

from pytcn.tasks.adding import BASELINE_MSE, adding_problem


@pytest.mark.parametrize("one_per_half", [False, True])
def test_adding_problem_marks_two_distinct_steps_and_sums_their_values(one_per_half):
    x, y = adding_problem(500, 13, np.random.default_rng(0), one_per_half=one_per_half)
    assert x.shape == (500, 13, 2) and y.shape == (500, 1)
    values, markers = x[:, :, 0], x[:, :, 1]
    assert values.min() >= 0 and values.max() < 1
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert np.all(markers.sum(axis=1) == 2)
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=1), rtol=1e-6)
    if one_per_half:
        assert np.all(markers[:, :6].sum(axis=1) == 1) and np.all(markers[:, 6:].sum(axis=1) == 1)


def test_adding_problem_draws_marker_positions_uniformly_over_all_steps():
    x, _ = adding_problem(20000, 5, np.random.default_rng(1))
    frequency = x[:, :, 1].mean(axis=0)  # each step is marked with probability 2/5
    np.testing.assert_allclose(frequency, 0.4, atol=0.02)


def test_adding_problem_is_reproducible_from_its_seed():
    a = adding_problem(8, 20, np.random.default_rng(3))
    b = adding_problem(8, 20, np.random.default_rng(3))
    c = adding_problem(8, 20, np.random.default_rng(4))
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_predicting_one_scores_the_baseline_mse():
    _, y = adding_problem(200000, 10, np.random.default_rng(2))
    assert abs(np.mean((y - 1.0) ** 2) - BASELINE_MSE) < 0.003


@pytest.mark.parametrize("n, T", [(0, 10), (4, 1)])
def test_adding_problem_rejects_sizes_it_cannot_fill(n, T):
    with pytest.raises(ValueError, match=f"{'n' if n == 0 else 'T'} must be >= "):
        adding_problem(n, T, np.random.default_rng(0))


from pytcn.tasks.copy_memory import baseline_loss, copy_memory  # noqa: E402


def test_copy_memory_layout_symbols_blanks_delimiters():
    T = 7
    x, y = copy_memory(50, T, np.random.default_rng(0))
    assert x.shape == (50, T + 20, 1) and y.shape == (50, T + 20) and y.dtype == np.int64
    symbols = x[:, :10, 0]
    assert symbols.min() >= 1 and symbols.max() <= 8
    assert np.all(x[:, 10:10 + T - 1, 0] == 0)  # T - 1 blanks
    assert np.all(x[:, 10 + T - 1:, 0] == 9)  # eleven delimiters
    assert (x[:, :, 0] == 9).sum(axis=1).tolist() == [11] * 50
    assert np.all(y[:, :T + 10] == 0)  # blanks while waiting
    np.testing.assert_array_equal(y[:, -10:], symbols.astype(np.int64))  # then the symbols, in order


def test_copy_memory_draws_every_symbol_and_is_reproducible():
    x, _ = copy_memory(400, 5, np.random.default_rng(1))
    assert set(np.unique(x[:, :10, 0]).tolist()) == set(range(1, 9))
    a = copy_memory(4, 9, np.random.default_rng(2))
    b = copy_memory(4, 9, np.random.default_rng(2))
    assert all(np.array_equal(p, q) for p, q in zip(a, b))


def test_copy_memory_baseline_is_the_loss_of_blanks_then_uniform_guesses():
    T = 30
    _, y = copy_memory(3, T, np.random.default_rng(3))
    p = np.zeros((T + 20, 10))
    p[:T + 10, 0] = 1.0  # certain blanks
    p[T + 10:, 1:9] = 1.0 / 8  # uniform over the symbols
    with np.errstate(divide="ignore"):
        loss = -np.mean(np.log(p[np.arange(T + 20), y]))
    assert abs(loss - baseline_loss(T)) < 1e-12
    assert abs(baseline_loss(T) - 10 * np.log(8) / 50) < 1e-15
