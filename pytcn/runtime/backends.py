"""Which kernels a model runs on, and where its arrays live. A backend is chosen per model
(``TCN(..., backend="cpu")``), never globally.

- ``"cpu"``: the Numba CPU kernels, the default.
- ``"numpy"``: the NumPy references the kernels are tested against: slow, but every line can be stepped through
  in a debugger, which is what a tutorial wants.
- ``"cuda"``: the numba-cuda kernels of ``kernels/cuda/`` (``pip install -e '.[cuda]'``), the convolutions tiled;
  ``cuda_backend(kernels="reference")`` is the same backend on the one-thread-per-output reference convolutions.
  Parameters, gradients, Adam's moments and every activation live on the GPU; a batch goes there once per step, and
  the loss (and, with gradient clipping, the gradient norm) comes back once per step.

A backend bundles the kernels (``kernels.TWINS``), the plumbing between them (``kernels.arrays.PLUMBING``: transposes,
sums, dropout masks, weight normalisation) and its ways with arrays. An array reaches a backend in one of three ways,
each for one purpose: ``array`` (check a caller's array, and copy it to the backend's memory: a new array), ``load``
(copy a NumPy array into an array of the backend, in place: parameters, masks) and, during a model's pass,
``Passes.on_backend`` (pytcn/runtime/passes.py: into a buffer of the current arena). ``to_host`` brings one back.
"""
import contextlib
import contextvars
import importlib
import importlib.util

import numpy as np

from .. import kernels
from . import validate

_trusted = contextvars.ContextVar("pytcn_trusted", default=False)  # per thread: inside a model's pass


@contextlib.contextmanager
def trusted():
    """Within it (a model's pass, pytcn/runtime/passes.py), ``Backend.input`` takes arrays as they are."""
    token = _trusted.set(True)
    try:
        yield
    finally:
        _trusted.reset(token)


class BackendUnavailableError(RuntimeError):
    """The backend asked for cannot run here (numba-cuda or a GPU is missing); the message says which and what to do."""


class Backend:
    """A backend's kernels and its four ways with arrays.

    Every op of the kernels' tables (``kernels.TWINS`` and ``kernels.arrays.PLUMBING``: the table is where the names
    are written, once) is an attribute: ``backend.conv_forward(y, x, W, b, d)``. Besides them:

    empty       (shape, dtype) -> an uninitialised array of this backend
    to_device   a C-contiguous NumPy array -> an array of this backend (itself on the host)
    to_host     an array of this backend -> a NumPy copy
    is_array    whether a value is an array of this backend
    """

    def __init__(self, name, on_device, *, empty, to_device, to_host, is_array, **ops):
        expected = set(kernels.TWINS) | set(kernels.PLUMBING)
        if set(ops) != expected:
            raise ValueError(f"backend {name!r}: ops missing {sorted(expected - set(ops))}, unknown "
                             f"{sorted(set(ops) - expected)}")
        self.name = name
        self.on_device = on_device  # arrays are device arrays (numba-cuda), not NumPy arrays
        self.empty, self.to_device, self.to_host, self.is_array = empty, to_device, to_host, is_array
        self.ops = dict(ops)
        self.__dict__.update(ops)

    def __repr__(self):
        return f"Backend({self.name!r})"

    def replace(self, **changes):
        """A copy of this backend with some ops or ways with arrays replaced (for tests that count calls)."""
        ways = dict(empty=self.empty, to_device=self.to_device, to_host=self.to_host, is_array=self.is_array)
        return Backend(self.name, self.on_device, **(ways | self.ops | changes))

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
                                f"not converted: {validate.dtype_advice(x.dtype, dtype)})")
            validate.shape_of(name, x, ndim, shape)
            if not x.is_c_contiguous():
                raise ValueError(f"{name} must be a C-contiguous device array, got strides {x.strides} for shape "
                                 f"{x.shape}")
            return x
        return self.to_device(validate.float_array(name, x, ndim, dtype, shape))

    def input(self, name, x, ndim, dtype, shape=None):
        """A layer's input: checked and moved as ``array`` does it (``ndim`` None: any; ``dtype`` None: x's own
        floating dtype); or, during a model's pass (``trusted``), x as it is. The model checked the pass's arrays at
        its boundary (pytcn/runtime/passes.py), and its layers hand each other arrays they made: so each array is
        checked once, and a layer used on its own still checks what it is given."""
        if _trusted.get():
            return x
        if ndim is None:
            ndim = len(getattr(x, "shape", ()))
        if dtype is None:
            dtype = validate.kernel_dtype(x)
        return self.array(name, x, ndim, dtype, shape)

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


def _cuda_backend(which="tiled"):
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
    from ..kernels import cuda as cuda_kernels

    # the tiled convolutions of kernels/cuda/tiled.py, or in their place the references (see cuda_backend)
    twins = cuda_kernels.CUDA_TWINS | (cuda_kernels.CUDA_REFERENCES if which == "reference" else {})
    ops = {op: twins[op] for op in [*kernels.TWINS, *kernels.PLUMBING]}
    return Backend("cuda", True, **ops, empty=cuda_kernels.device_array, to_device=cuda_kernels.to_device,
                   to_host=cuda_kernels.to_host, is_array=is_device_array)


#: what a 'cuda' backend can run its convolutions (and the head's weight gradient) on: see cuda_backend
CUDA_KERNELS = ("tiled", "reference")


def cuda_backend(kernels="tiled"):
    """The backend 'cuda' with its convolutions, and the head's weight and bias gradients, on ``kernels``:

    - ``"tiled"``: the fast kernels of kernels/cuda/tiled.py, in tiles of shared memory. What ``get_backend("cuda")``
      gives, and what a GPU should run.
    - ``"reference"``: the one-thread-per-output kernels of kernels/cuda/conv.py and linear.py (``CUDA_REFERENCES``),
      each the formula with every operand read from global memory: slower on a GPU. In numba-cuda's simulator, which
      runs each CUDA thread as a Python thread, they ran a small model's training step 6 to 10 times faster than the
      tiled ones (whose staging costs the simulator Python operations and saves it nothing): the tests choose them
      there (tests/helpers.py, cuda_backend_for_tests).

    Every other op is the same either way, and so is the name, 'cuda', which a model's configuration and checkpoints
    record. Pass the backend as a model's, a layer's or an optimizer's ``backend=``. Raises BackendUnavailableError
    as get_backend('cuda') does."""
    return _cuda_backend(validate.one_of("kernels", kernels, CUDA_KERNELS))


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


def backend_for(arrays, backend=None):
    """The one rule for a backend not named: ``backend`` when it is given; else the backend of a model's arrays (a
    Packed dict knows it); else 'cuda' when any of ``arrays`` (a dict, a list or one array) is a device array, and
    'numpy' for NumPy arrays, so that NumPy arrays meet NumPy code (a model's arrays, and the training loop, name
    their backend). Losses, optimizers and the gradient norm all ask here."""
    if backend is not None:
        return get_backend(backend)
    if isinstance(arrays, Packed):
        return arrays.backend
    values = arrays.values() if isinstance(arrays, dict) else arrays if isinstance(arrays, (list, tuple)) else [arrays]
    return get_backend("cuda" if any(is_device_array(a) for a in values) else "numpy")


def to_numpy(a):
    """A NumPy array of ``a``, which may be a device array (a model's output on backend 'cuda'): copied to the host."""
    return a.copy_to_host() if is_device_array(a) else np.asarray(a)



def recurrent_kernels(backend, cell):
    """The forward and backward kernels of a GRU or LSTM layer (``cell``) on ``backend``: {"forward": ..., "backward":
    ...} from ``kernels.RECURRENT``. They exist for the host backends only: 'cuda' raises BackendUnavailableError."""
    be = get_backend(backend)
    if be.on_device:
        raise BackendUnavailableError(
            f"backend {be.name!r}: the {cell.upper()} has no CUDA kernels (pytcn's recurrent networks are baselines "
            f"for the TCN, on the CPU); use backend='cpu', or 'numpy' for the reference kernels")
    which = 1 if be.name == "cpu" else 0
    return {stage: kernels.RECURRENT[f"{cell}_{stage}"][which] for stage in ("forward", "backward")}
