"""The copy-memory task (Hochreiter & Schmidhuber 1997; the layout of Bai, Kolter & Koltun 2018).

A sequence of T + 20 steps, one input channel holding a symbol:

    input   s1 … s10 | 0 0 … 0 (T-1 blanks) | 9 9 … 9 (eleven delimiters)
    target  0 0 … 0 (T + 10 blanks)                        | s1 … s10

The ten symbols are drawn uniformly from 1..8. The network must output blank (class 0) while it waits, and, once
the delimiters start, recall the ten symbols in order, T + 10 steps after it saw them. The loss is cross-entropy
over every step (10 classes); the accuracy that matters is over the last ten steps.

A network that outputs blank with certainty during the wait and a uniform guess over 1..8 during the recall has
a loss of 10 ln(8) / (T + 20) averaged over all steps: the baseline it must beat.
"""
import numpy as np

N_SYMBOLS = 10  # how many symbols are copied
N_CLASSES = 10  # 0 blank, 1..8 symbols, 9 delimiter
N_VALUES = 8  # the values a symbol takes: 1..8
DELIMITER = 9


def sequence_length(T):
    """The steps of one sequence with a blank stretch T: the symbols, T - 1 blanks, N_SYMBOLS + 1 delimiters."""
    return T + 2 * N_SYMBOLS


def recalled(a):
    """The recall stretch of per-step arrays ``a`` (n, T + 20, ...): its last N_SYMBOLS steps."""
    return a[:, -N_SYMBOLS:]


def baseline_loss(T, mask=None):
    """Cross-entropy of the memoryless strategy (certain blanks, then a uniform guess over the N_VALUES symbols),
    averaged over every step, or over the steps ``mask`` keeps ((T + 20,) booleans): ln(8) at each recalled step,
    0 elsewhere."""
    if mask is None:
        return N_SYMBOLS * np.log(N_VALUES) / sequence_length(T)
    kept = np.asarray(mask, bool)
    return float(kept[-N_SYMBOLS:].sum() * np.log(N_VALUES) / kept.sum())


def copy_memory(n, T, rng, dtype=np.float32):
    """n sequences: x (n, T + 20, 1) symbols as floats, y (n, T + 20) int64 class labels."""
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    length = sequence_length(T)
    symbols = rng.integers(1, N_VALUES + 1, (n, N_SYMBOLS))  # 1..8
    x = np.zeros((n, length, 1), dtype)
    x[:, :N_SYMBOLS, 0] = symbols
    x[:, N_SYMBOLS + T - 1:, 0] = DELIMITER  # the last N_SYMBOLS + 1 steps
    y = np.zeros((n, length), np.int64)
    y[:, -N_SYMBOLS:] = symbols
    return x, y
