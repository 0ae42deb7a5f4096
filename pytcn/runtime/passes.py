"""Everything around a model's passes that is not arithmetic, in one place, so that the model's ``forward`` and
``backward`` read as the chain rule (pytcn/nn/model.py):

    x = model.passes.checked("x", x, 3, shape)      # x checked, once, at the public boundary
    with model.passes.forward(x) as x:              # one pass at a time; this thread's arenas reset; x copied
        ... the layers, one after the other ...     # into an arena's buffer on a device backend
        model.passes.keep(caches)                   # what the backward pass will read

    with model.passes.backward(dy) as (dy, caches): # dy checked against the last forward's output
        ...

- **Checks.** An array is checked once, here, at the model's public boundary (shape, dtype); within the pass the
  layers take what they are given (``Backend.input`` under ``trusted``). A layer called on its own checks its input.
- **One pass at a time.** A lock: two threads' passes would write the same gradients.
- **Per-thread memory.** Each thread has its own ``Workspace`` (pytcn/runtime/memory.py): its arenas, and the caches
  of its last forward, so a forward in one thread never disturbs a backward in another.
- **Arenas.** Which arena the arrays of each stage come from, and when it is reset (pytcn/runtime/memory.py explains
  the three of a training step and the two of streaming). With ``reuse=False`` every array is allocated anew.
- **Device copies.** On a device backend, a NumPy input is copied into a buffer of the current arena (once per pass),
  not into a new device allocation.
"""
import contextlib
import threading

from . import validate
from .backends import trusted
from .memory import Workspace, empty


class Passes:
    """The runtime of one model's passes: see the module's docstring."""

    def __init__(self, backend, dtype, reuse=True, poison=False):
        self.backend = backend
        self.dtype = dtype
        self.configure(reuse, poison)
        self.lock = threading.Lock()

    def configure(self, reuse=True, poison=False):
        """``reuse=True``: arrays from arenas that hand the same buffers out again at every pass, one set per thread.
        ``reuse=False``: every array anew. ``poison=True``: buffers filled with NaN whenever their arena is reset."""
        self.reuse = validate.boolean("reuse", reuse)
        self.poison = validate.boolean("poison", poison)
        self._threads = threading.local()  # each thread's Workspace, made at its first pass

    def workspace(self):
        """This thread's Workspace: its arenas and the caches of its last forward."""
        ws = getattr(self._threads, "workspace", None)
        if ws is None:
            ws = self._threads.workspace = Workspace(self.backend, self.poison)
        return ws

    # -------------------------------------------------------------------------------------------------------------
    # arrays at the boundary

    def checked(self, name, a, ndim, shape):
        """``a`` checked: on the host, converted to the model's dtype and made contiguous; a device array of a device
        backend is checked, never converted (pytcn/runtime/backends.py, ``Backend.array``)."""
        if self.backend.on_device and self.backend.is_array(a):
            return self.backend.array(name, a, ndim, self.dtype, shape)
        return validate.float_array(name, a, ndim, self.dtype, shape)

    def on_backend(self, a):
        """A checked array in the backend's memory: on a device backend, a NumPy array is copied into a buffer of the
        current arena rather than into a new device allocation."""
        if not self.backend.on_device or self.backend.is_array(a):
            return a
        dev = empty(self.backend, a.shape, a.dtype)
        self.backend.load(dev, a)
        return dev

    def arena(self, arena, reset=True):
        """The arena to allocate from, reset first unless told not to; or, without reuse, none: every array anew."""
        return arena.use(reset) if self.reuse else contextlib.nullcontext()

    # -------------------------------------------------------------------------------------------------------------
    # a training step: forward, then backward

    @contextlib.contextmanager
    def forward(self, x):
        """Around a forward pass of ``x`` (checked): yields x on the backend, in an arena's buffer. The arena of
        activations is reset first: the caches of this thread's previous pass die here."""
        with self.lock:
            ws = self.workspace()
            ws.new_pass(tuple(x.shape[:2]))
            with self.arena(ws.forward), trusted():
                yield self.on_backend(x)
            ws.last_pass, ws.pending = ws.pending, None

    def keep(self, caches, output_shape):
        """What this forward leaves for the backward pass: its caches and the shape of its output."""
        self.workspace().pending = (caches, tuple(output_shape))

    def device_constant(self, key, make):
        """During a pass: an array that is the same at every pass of this batch shape (the steps a head reads), on the
        backend: made by ``make()`` on the host at the first pass of the shape, then kept in this thread's workspace
        (which forgets it when the shape changes)."""
        ws = self.workspace()
        if key not in ws.constants:
            ws.constants[key] = self.backend.to_device(make())
        return ws.constants[key]

    @contextlib.contextmanager
    def backward(self, dy):
        """Around a backward pass: yields (dy on the backend, the caches of this thread's last forward). Its head's
        temporaries come from the scratch arena, reset first."""
        with self.lock:
            ws = self.workspace()
            if ws.last_pass is None:
                raise RuntimeError("backward called before forward (in this thread): there is no pass to go back "
                                   "through")
            caches, y_shape = ws.last_pass
            dy = self.checked("dy", dy, len(y_shape), y_shape)
            with self.arena(ws.scratch), trusted():
                yield self.on_backend(dy), caches

    def whole_backward(self):
        """The arena of the arrays that live through the whole backward pass (the features' gradient, which every
        block of a model with skip connections reads), reset first."""
        return self.arena(self.workspace().backward)

    def block_backward(self, keep):
        """The arena of one block's backward pass: the scratch arena, reset keeping only ``keep`` (the input gradient
        of the block above, which this block reads: the block above is done), or nothing kept (None)."""
        ws = self.workspace()
        if self.reuse:
            ws.scratch.reset(keep=keep)
        return self.arena(ws.scratch, reset=False)

    # -------------------------------------------------------------------------------------------------------------
    # streaming (pytcn/nn/streaming.py)

    @contextlib.contextmanager
    def stream(self, x):
        """Around a call of ``step``: yields x (checked) on the backend, in a buffer of the arena that lives through
        the call."""
        with self.lock:
            with self.arena(self.workspace().stream), trusted():
                yield self.on_backend(x)

    def stream_step(self):
        """The arena of one stream step's temporaries: the same buffers again at the next step."""
        return self.arena(self.workspace().stream_step)
