"""Which kernels a model runs on. A backend is chosen per model (``TCN(..., backend="cpu")``), never globally.

- ``"cpu"``: the Numba CPU kernels, the default.
- ``"numpy"``: the NumPy references the kernels are tested against: slow, but every line can be stepped through
  in a debugger, which is what a tutorial wants.
"""
from dataclasses import dataclass
from typing import Callable

import kernels

from . import _validate


@dataclass(frozen=True)
class Backend:
    name: str
    conv_forward: Callable
    conv_relu_forward: Callable
    conv_backward_input: Callable
    conv_backward_weight: Callable
    conv_backward_bias: Callable
    relu_forward: Callable
    relu_backward: Callable
    add_relu_forward: Callable
    linear_forward: Callable
    linear_backward: Callable
    mse: Callable
    softmax_cross_entropy: Callable
    adam_update: Callable


def _from_twins(name, which):
    return Backend(name, **{op: pair[which] for op, pair in kernels.TWINS.items()})


BACKENDS = {"cpu": _from_twins("cpu", 1), "numpy": _from_twins("numpy", 0)}


def get_backend(backend):
    """The Backend called ``backend`` (a name, or a Backend passed through)."""
    if isinstance(backend, Backend):
        return backend
    return BACKENDS[_validate.one_of("backend", backend, tuple(BACKENDS))]
