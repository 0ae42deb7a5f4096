"""Weight initializers, under keras's names and with keras's definitions.

fan_in and fan_out of a convolution weight (C_out, C_in, K) are C_in * K and C_out * K; of a linear weight
(O, F) they are F and O. Biases always start at zero.

- ``he_normal`` (keras-tcn's default): normal with std sqrt(2 / fan_in), truncated at two standard deviations
  (keras rescales the std by 1 / 0.8796 so that the truncated draw keeps that variance).
- ``he_uniform``: uniform in +-sqrt(6 / fan_in).
- ``glorot_normal``: truncated normal with std sqrt(2 / (fan_in + fan_out)), rescaled as above.
- ``glorot_uniform``: uniform in +-sqrt(6 / (fan_in + fan_out)).
- ``normal``: normal with std 0.01, what locuslab/TCN's TemporalBlock.init_weights draws.
- ``torch_default``: uniform in +-1/sqrt(fan_in), what torch.nn.Conv1d and torch.nn.Linear draw when they are made
  (kaiming_uniform_ with a = sqrt(5); keras's VarianceScaling(1/3, "fan_in", "uniform")). With weight normalisation,
  locuslab/TCN's convolutions keep this draw: its init_weights sets the weight that weight_norm recomputes from g and
  v at the next forward, so its normal(0, 0.01) never reaches them (its author says as much in locuslab/TCN#1).
"""
import numpy as np

from ..runtime import validate

# std of a standard normal truncated to [-2, 2]; keras divides by it so the truncated draw has the wanted std
_TRUNCATED_STD = 0.87962566103423978

INITIALIZERS = ("he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "normal", "torch_default")


def _fans(shape):
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _truncated_normal(rng, shape, std):
    z = rng.standard_normal(shape)
    outside = np.abs(z) > 2
    while outside.any():  # redraw only the values beyond two std, as keras's TruncatedNormal does
        z[outside] = rng.standard_normal(outside.sum())
        outside = np.abs(z) > 2
    return z * (std / _TRUNCATED_STD)


def initialize(name, shape, rng, dtype):
    """A new array of ``shape`` drawn by the initializer called ``name`` from ``rng``."""
    validate.one_of("kernel_initializer", name, INITIALIZERS)
    fan_in, fan_out = _fans(shape)
    if name == "he_normal":
        w = _truncated_normal(rng, shape, np.sqrt(2.0 / fan_in))
    elif name == "he_uniform":
        limit = np.sqrt(6.0 / fan_in)
        w = rng.uniform(-limit, limit, shape)
    elif name == "glorot_normal":
        w = _truncated_normal(rng, shape, np.sqrt(2.0 / (fan_in + fan_out)))
    elif name == "glorot_uniform":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-limit, limit, shape)
    elif name == "torch_default":
        limit = 1.0 / np.sqrt(fan_in)
        w = rng.uniform(-limit, limit, shape)
    else:
        w = 0.01 * rng.standard_normal(shape)
    return w.astype(dtype)
