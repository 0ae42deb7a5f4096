"""The adding-problem generator: shapes, ranges, markers, targets, seeding."""
import numpy as np
import pytest

from tasks.adding import BASELINE_MSE, adding_problem


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
