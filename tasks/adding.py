"""The adding problem (Hochreiter & Schmidhuber 1997; the version of Bai, Kolter & Koltun 2018).

Each sequence has T steps and two channels:

    x[:, :, 0]   values, uniform in [0, 1)
    x[:, :, 1]   markers: 1 at exactly two distinct steps, 0 elsewhere
    y            the sum of the two marked values, in [0, 2)

The marked steps are drawn uniformly among all T steps, as locuslab/TCN and keras-tcn draw them; with
``one_per_half=True`` one falls in each half of the sequence, as in the original formulation. A model that always
predicts 1 scores an MSE of 1/6 (about 0.167): the sum of two uniforms has variance 2/12.
"""
import numpy as np

#: the mean-squared error of always predicting 1
BASELINE_MSE = 1.0 / 6.0


def adding_problem(n, T, rng, one_per_half=False, dtype=np.float32):
    """n sequences of length T: x (n, T, 2), y (n, 1). ``rng`` is a np.random.Generator."""
    if T < 2:
        raise ValueError(f"T must be >= 2 (two distinct marked steps), got {T!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    x = np.zeros((n, T, 2), dtype)
    x[:, :, 0] = rng.random((n, T))
    if one_per_half:
        half = T // 2
        first = rng.integers(0, half, n)
        second = rng.integers(half, T, n)
    else:
        # two distinct steps, uniformly: the first anywhere, the second among the other T - 1
        first = rng.integers(0, T, n)
        second = rng.integers(0, T - 1, n)
        second += second >= first
    rows = np.arange(n)
    x[rows, first, 1] = 1.0
    x[rows, second, 1] = 1.0
    y = (x[rows, first, 0] + x[rows, second, 0]).reshape(n, 1)
    return x, y
