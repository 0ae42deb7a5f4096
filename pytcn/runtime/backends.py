"""Which kernels a model runs on, and where its arrays live. A backend is chosen per model
(``TCN(..., backend="cpu")``), never globally.

- ``"cpu"``: the Numba CPU kernels, the default.
- ``"numpy"``: the NumPy references the kernels are tested against: slow, but every line can be stepped through
  in a debugger, which is what a tutorial wants.
- ``"cuda"``: the numba-cuda kernels of ``kernels/gpu.py`` (``pip install -e '.[cuda]'``). Parameters, gradients,
  Adam's moments and every activation live on the GPU; a batch goes there once per step, and the loss (and, with
  gradient clipping, the gradient norm) comes back once per step.

A backend bundles the kernels (``kernels.TWINS``), the plumbing between them (``kernels.arrays.PLUMBING``: transposes,
sums, dropout masks, weight normalisation) and four ways to handle its arrays: ``empty``, ``zeros``, ``array``
(validate, and move to the backend's memory) and ``to_host`` (a NumPy copy).
"""
import importlib
import importlib.util
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import kernels
from . import validate


class BackendUnavailableError(RuntimeError):
    """The backend asked for cannot run here (numba-cuda or a GPU is missing); the message says which and what to do."""


@dataclass(frozen=True)
class Backend:
    name: str
    on_device: bool  # arrays are device arrays (numba-cuda), not NumPy arrays
    # the kernels (kernels.TWINS)
    conv_forward: Callable
    conv_relu_forward: Callable
    conv_backward_input: Callable
    conv_backward_weight: Callable
    conv_backward_bias: Callable
    conv_step: Callable
    relu_forward: Callable
    relu_backward: Callable
    add_relu_forward: Callable
    scale_elements: Callable
    linear_forward: Callable
    linear_backward: Callable
    mse: Callable
    softmax_cross_entropy: Callable
    masked_mse: Callable
    masked_softmax_cross_entropy: Callable
    adam_update: Callable
    layer_norm_forward: Callable
    layer_norm_backward: Callable
    batch_norm_statistics: Callable
    batch_norm_forward: Callable
    batch_norm_backward: Callable
    # the plumbing (kernels.arrays.PLUMBING)
    add: Callable
    copy: Callable
    fill: Callable
    take_steps: Callable
    scale: Callable
    scale_channels: Callable
    scatter_steps: Callable
    sgd_update: Callable
    sum_squares: Callable
    transpose: Callable
    weight_norm: Callable
    weight_norm_backward: Callable
    window: Callable
    # memory
    empty: Callable  # (shape, dtype) -> an uninitialised array of this backend
    to_device: Callable  # a C-contiguous NumPy array -> an array of this backend (itself on the host)
    to_host: Callable  # an array of this backend -> a NumPy copy
    is_array: Callable  # whether a value is an array of this backend

    def zeros(self, shape, dtype):
        a = self.empty(shape, dtype)
        self.fill(a, 0)
        return a

    def array(self, name, x, ndim, dtype, shape=None):
        """``x`` validated as ``validate.float_array`` does, in this backend's memory.

        A NumPy array is checked (and converted to ``dtype`` where needed), then copied to the device on a device
        backend. An array already on the device is checked, never converted: its dtype must be ``dtype``.
        """
        if self.on_device and self.is_array(x):
            if x.dtype != dtype:
                raise TypeError(f"{name} is a device array of {x.dtype}; it must be {dtype} (arrays on the GPU are "
                                f"not converted: convert it on the host, or build the model with dtype={x.dtype})")
            validate.shape_of(name, x, ndim, shape)
            if not x.is_c_contiguous():
                raise ValueError(f"{name} must be a C-contiguous device array, got strides {x.strides} for shape "
                                 f"{x.shape}")
            return x
        return self.to_device(validate.float_array(name, x, ndim, dtype, shape))

    def load(self, dst, src):
        """Copies the NumPy array ``src`` into ``dst`` (an array of this backend of the same shape), in place."""
        if self.on_device:
            dst.copy_to_device(np.ascontiguousarray(src, dtype=dst.dtype))
        else:
            dst[...] = src


def is_device_array(a):
    """Whether ``a`` is a numba-cuda device array (the simulator's stand-in included)."""
    return hasattr(a, "copy_to_host") and hasattr(a, "shape")


def _host_backend(name, which):
    ops = {op: pair[which] for op, pair in kernels.TWINS.items()}
    return Backend(name, False, **ops, **kernels.PLUMBING, empty=np.empty, to_device=np.ascontiguousarray,
                   to_host=np.array, is_array=lambda a: isinstance(a, np.ndarray))


def _numba_cuda_array_support():
    """Loads numba-cuda's NumPy array support, which its first kernel compilation loads anyway: here, so that a numpy
    too new for it (0.30.4 refers to np.row_stack, which numpy 2.5 removed) is said at once, and plainly."""
    importlib.import_module("numba.cuda.np.arrayobj")


def _cuda_backend():
    if importlib.util.find_spec("numba_cuda") is None:
        raise BackendUnavailableError(
            "backend 'cuda' needs the numba-cuda package, which is not installed: pip install 'numba-cuda[cu12]' "
            "(or, in a pytcn checkout, pip install -e '.[cuda]')")
    import numba
    from numba import cuda

    if not numba.config.ENABLE_CUDASIM:  # the simulator compiles nothing, and runs with any numpy
        try:
            _numba_cuda_array_support()
        except AttributeError as e:  # numba-cuda 0.30.4 with numpy 2.5: "module 'numpy' has no attribute 'row_stack'"
            from importlib.metadata import version

            raise BackendUnavailableError(
                f"backend 'cuda': numba-cuda {version('numba-cuda')} does not work with numpy {np.__version__} ({e}); "
                f"install a numpy it supports, e.g. pip install 'numpy<2.5', or a newer numba-cuda") from e
    if not cuda.is_available():
        raise BackendUnavailableError(
            "backend 'cuda' found numba-cuda but no usable NVIDIA GPU (no GPU, or no driver: nvidia-smi should list "
            "one); set NUMBA_ENABLE_CUDASIM=1 to run the CUDA kernels in numba-cuda's simulator instead (slow)")
    from ..kernels import gpu

    twins = gpu.model_kernels()  # on a GPU, the fast ones; in the simulator, the one-thread-per-output references
    ops = {op: twins[op] for op in [*kernels.TWINS, *kernels.PLUMBING]}
    return Backend("cuda", True, **ops, empty=gpu.device_array, to_device=gpu.to_device, to_host=gpu.to_host,
                   is_array=is_device_array)


BACKENDS = {"cpu": _host_backend("cpu", 1), "numpy": _host_backend("numpy", 0)}
NAMES = ("cpu", "numpy", "cuda")


def get_backend(backend):
    """The Backend called ``backend`` (a name, or a Backend passed through). Raises BackendUnavailableError, with
    what is missing and how to install it, when 'cuda' cannot run here."""
    if isinstance(backend, Backend):
        return backend
    name = validate.one_of("backend", backend, NAMES)
    if name not in BACKENDS:
        BACKENDS[name] = _cuda_backend()
    return BACKENDS[name]


class Packed(dict):
    """name -> array, each a view of its slice of one flat array ``flat``, in order (see ``pack``), of ``backend``."""

    def __init__(self, views, flat, backend):
        super().__init__(views)
        self.flat = flat
        self.backend = backend


def _views(backend, flat, shapes):
    views, offset = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        views[name] = flat[offset:offset + size].reshape(shape)
        offset += size
    return Packed(views, flat, backend)


def pack(backend, arrays):
    """The arrays of ``arrays`` (name -> array of ``backend``, one dtype) copied, in order, into one flat buffer of
    the backend: returns a Packed dict of views of it under the same names. Whatever updates every array of a model
    (an optimizer, the gradient norm) can then make one pass over ``flat`` instead of one per array."""
    be = get_backend(backend)
    host = {name: be.to_host(a) for name, a in arrays.items()}
    flat = be.to_device(np.concatenate([a.reshape(-1) for a in host.values()]))
    return _views(be, flat, {name: a.shape for name, a in host.items()})


def packed_zeros(backend, like):
    """Zeros packed as ``like`` (a Packed dict) is: the same names, shapes and dtype, in one flat buffer."""
    be = get_backend(backend)
    return _views(be, be.zeros(like.flat.shape, like.flat.dtype), {name: tuple(a.shape) for name, a in like.items()})


def infer_backend(*arrays):
    """'cuda' when any of ``arrays`` is a numba-cuda device array, else 'cpu'. (A model's ``params`` and ``grads``
    know their backend: see ``backend_of``.)"""
    return "cuda" if any(is_device_array(a) for a in arrays) else "cpu"


def backend_of(arrays, default):
    """The backend of a dict of arrays: its own when it is a model's (Packed), else ``default``."""
    return arrays.backend if isinstance(arrays, Packed) else get_backend(default)


def to_numpy(a):
    """A NumPy array of ``a``, which may be a device array (a model's output on backend 'cuda'): copied to the host."""
    return a.copy_to_host() if is_device_array(a) else np.asarray(a)

