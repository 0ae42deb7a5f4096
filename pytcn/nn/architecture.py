"""The rules of a TCN's architecture, each written once: its receptive field, and what makes a set of keras-tcn
arguments a valid network. The model (pytcn/nn/model.py), the residual block, a training configuration
(pytcn/training/config.py), the study's experiments and the dilation diagram all ask here.

A rule between arguments is written as a function that returns what is wrong, (argument, problem), or None: the
model raises it as a ValueError ("nb_filters must be ..."), a training configuration as a ConfigError naming its
field, which the command line turns into its option's name. A check of one argument raises a TypeError or ValueError
whose message starts with the argument's name and gives its value.
"""
import numbers
from collections.abc import Sequence

import numpy as np

from ..runtime import validate

NORMALISATIONS = ("use_weight_norm", "use_layer_norm", "use_batch_norm")
# The largest dilation: 2**31 - 1 steps. The kernels compute tap offsets (K-1-j)*d and ring-buffer slots in int64, which
# stays exact for any K below 2**32; a larger Python int does not even type in Numba. No sequence or ring buffer of
# (K-1)*d steps that fits in memory reaches further back.
MAX_DILATION = 2**31 - 1
# The widest size (channels, outputs, kernel size): the same int32 bound, checked before any array is made, so that a
# huge width is named rather than met as NumPy's "array is too big" (a width that fits can still exhaust memory:
# that is a MemoryError, which the CLI says in one line).
MAX_SIZE = 2**31 - 1
# The most residual blocks (nb_stacks x len(dilations)): each is Python objects and arrays built one by one, so a
# count in the billions would run for minutes before failing; 10,000 blocks is 20,000 convolutions, hundreds of times
# deeper than any TCN published.
MAX_BLOCKS = 10_000


def receptive_field(kernel_size, dilations, nb_stacks=1):
    """The span R of input steps that one output step reads: 1 + 2 (K-1) * nb_stacks * sum(dilations).

    Each residual block holds two convolutions of kernel size K and dilation d; each looks (K-1)*d steps further
    back, and the residual and skip paths add no reach of their own. Worked example, K = 6, dilations 1..32
    (sum 63), one stack: R = 1 + 2 * 5 * 63 = 631 steps. The often-quoted approximation 2^(D-1) * K * s
    (D levels of dilation, s stacks) gives 2^5 * 6 * 1 = 192 for the same network. For dilations 1, 2, ..., 2^(D-1)
    it falls short by about 4(K-1)/K (3.3 here), the product of three factors: it counts one convolution per block
    where there are two (2), the largest dilation 2^(D-1) where the sum 2^D - 1 belongs (about 2), and K gaps where a
    kernel of size K spans K-1 ((K-1)/K).

    R is a span, not a count: with dilations > 1 an output reads only some of the R steps (with dilations [2] and
    K = 3, one block reads 5 of its 9), through the taps that ``pytcn.plot.reach`` lists.
    """
    K = validate.integer("kernel_size", kernel_size, 1)
    stacks = validate.integer("nb_stacks", nb_stacks, 1)
    return 1 + 2 * (K - 1) * stacks * sum(check_dilations("dilations", dilations))


def check_dilations(name, dilations):
    """``dilations`` as a list of ints, each in [1, MAX_DILATION]: an ordered, non-empty sequence (a set or a dict has
    a length too, but no order the blocks could follow)."""
    ordered = isinstance(dilations, Sequence) or (isinstance(dilations, np.ndarray) and dilations.ndim == 1)
    if isinstance(dilations, (str, bytes)) or not ordered:
        raise TypeError(f"{name} must be a list of positive integers, got {dilations!r}")
    if len(dilations) == 0:
        raise ValueError(f"{name} must not be empty, got {dilations!r}")
    for d in dilations:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral):
            raise TypeError(f"{name} must be a list of positive integers, got {dilations!r} (with {d!r})")
        if d < 1:
            raise ValueError(f"{name} must all be >= 1, got {dilations!r} (with {d!r})")
        if d > MAX_DILATION:
            raise ValueError(f"{name} must all be <= {MAX_DILATION} (2**31 - 1), got {dilations!r} (with {d!r})")
    return [int(d) for d in dilations]


def raise_problem(problem):
    """Raises the (argument, problem) of a rule as the ValueError "argument problem"; nothing for None."""
    if problem is not None:
        raise ValueError(" ".join(problem))


def nb_filters_problem(nb_filters, levels, use_skip_connections):
    """What is wrong with ``nb_filters`` (an int, or a list of ints >= 1: those are checked by the caller) for
    ``levels`` dilation levels: a list needs one width per level, and skip connections, which sum the blocks'
    outputs, one width for all."""
    if not isinstance(nb_filters, (list, tuple)):
        return None
    if len(nb_filters) != levels:
        return "nb_filters", f"must be an int or a list with one entry per dilation ({levels}), got {nb_filters!r}"
    if use_skip_connections and len(set(nb_filters)) > 1:
        return "nb_filters", (f"must be one width for all blocks when use_skip_connections is on (their outputs are "
                              f"summed), got {nb_filters!r}")
    return None


def normalisation_problem(use_weight_norm, use_layer_norm, use_batch_norm):
    """What is wrong with the three normalisation flags (bools): at most one may be on, as in keras-tcn."""
    on = [name for name, value in zip(NORMALISATIONS, (use_weight_norm, use_layer_norm, use_batch_norm)) if value]
    if len(on) > 1:
        return on[1], f"cannot be on with {on[0]}: one normalisation at most (as in keras-tcn)"
    return None


def check_nb_filters(nb_filters, levels, use_skip_connections):
    """``nb_filters`` checked (``nb_filters_problem``) and returned as an int or a list of ints."""
    if isinstance(nb_filters, (list, tuple)):
        nb_filters = [validate.integer("nb_filters", f, 1, MAX_SIZE) for f in nb_filters]
    else:
        nb_filters = validate.integer("nb_filters", nb_filters, 1, MAX_SIZE)
    raise_problem(nb_filters_problem(nb_filters, levels, use_skip_connections))
    return nb_filters


def blocks_problem(nb_stacks, levels):
    """What is wrong with ``nb_stacks`` stacks of ``levels`` dilations (their count, ``MAX_BLOCKS`` at most), as
    (argument, problem), or None."""
    if nb_stacks * levels > MAX_BLOCKS:
        return ("nb_stacks", f"x len(dilations) must be <= {MAX_BLOCKS} residual blocks, got {nb_stacks} x {levels} = "
                             f"{nb_stacks * levels}")
    return None


def check_normalisation(use_weight_norm, use_layer_norm, use_batch_norm):
    """The three normalisation flags as bools, at most one on (``normalisation_problem``)."""
    flags = tuple(validate.boolean(name, value) for name, value in
                  zip(NORMALISATIONS, (use_weight_norm, use_layer_norm, use_batch_norm)))
    raise_problem(normalisation_problem(*flags))
    return flags
