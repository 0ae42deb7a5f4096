"""Where the arrays of a model's passes come from: the one place in pytcn that decides about memory.

Layers ask for arrays with ``empty(backend, shape, dtype)``. A layer used on its own gets a new array, as ``np.empty``
would give it (a large one aligned for the vector units, below), so its code can be stepped through as plain NumPy.
During a model's pass, its runtime (pytcn/runtime/passes.py) makes one of its arenas *current* (``with arena.use():``)
and the same call hands out a buffer of that arena instead, one that the previous pass of the same shape allocated and
is done with. A training step then allocates nothing but what it gives back to its caller (the prediction, the input
gradient), takes no page faults, and works on buffers aligned for the vector units (1.15-1.3x faster steps,
benchmarks/speed_results.md).

An arena hands out its buffers one by one and takes them all back at once, when it is reset: nothing is given back
one array at a time, so no line of a layer is about memory. How long an array lives is decided by the arena it
came from (``Workspace``):

- ``forward``: the activations every layer saves for its backward pass (its cache). Reset at each forward, so a
  pass's caches are valid until the next forward.
- ``backward``: the few gradients that live through a whole backward pass (the gradient of the features, which
  every block of a model with skip connections reads). Reset at each backward.
- ``scratch``: everything else of the backward pass. The head and then each block, from the last to the first,
  compute their input gradient, their parameter gradients and their temporaries there; once a block is done (its
  parameter gradients copied into the model's), the model resets the arena keeping only the block's input gradient,
  which the block below reads. So a backward pass holds one block's temporaries at a time, not every block's, and
  the next block works in the buffers the last one has just left, still in cache.

Streaming (pytcn.streaming) has two more: ``stream_step``, one step's temporaries, reset at each step; and
``stream``, what a call of ``step`` with a chunk of steps holds through the chunk (its input and outputs, time-major).

A model keeps one workspace per thread (pytcn/runtime/passes.py), so that a forward in one thread never overwrites the
caches of another thread's pass. With ``poison=True`` every buffer is filled with NaN when its arena is reset: a result
that read an array after its arena was reset (a bug in the rules above) turns into NaN, which the tests look for.
"""
import contextvars
import ctypes
import math
from contextlib import contextmanager

import numpy as np

LINE = 64  # bytes in a cache line, and in an AVX-512 vector
PAGE = 4096  # bytes
STAGGER = 17 * LINE  # bytes: whole cache lines, 17 coprime to the 64 lines of a page (64 distinct offsets)
PADDED_FROM = 64 * PAGE  # bytes: smaller host buffers are allocated plainly (a page of padding would be 1.6% or more)

_current = contextvars.ContextVar("pytcn_arena", default=None)  # per thread: a thread's passes never see another's


def empty(backend, shape, dtype):
    """An uninitialised array of ``backend``: the current arena's next buffer during a model's pass, else a new one."""
    arena = _current.get()
    if arena is None:
        shape, dtype = tuple(map(int, shape)), np.dtype(dtype)
        return allocate(backend, math.prod(shape), dtype).reshape(shape)
    if arena.backend is not backend:
        raise RuntimeError(f"an array of backend {backend.name!r} was asked for while an arena of backend "
                           f"{arena.backend.name!r} is current: a layer of one model inside the pass of another")
    return arena.empty(shape, dtype)


def zeros(backend, shape, dtype):
    a = empty(backend, shape, dtype)
    backend.fill(a, 0)
    return a


@contextmanager
def afresh():
    """Within it, ``empty`` gives new arrays whatever arena is current: for what a model hands to its caller."""
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)


class Arena:
    """Buffers of one backend, handed out one by one and taken back all at once.

    ``empty`` hands out a free buffer of the size and dtype asked for, or allocates one when none is free; ``reset``
    takes back every buffer handed out since the last reset. A pass that makes the same requests as the pass before
    (the same batch shape) so finds every buffer it needs free, and allocates nothing. A buffer is handed out as a view
    of the shape asked for, so one buffer serves (N, C, T) in one pass and its transpose (N, T, C) in another.
    ``clear`` drops every buffer: the model calls it when the batch shape changes (the last, shorter batch of an
    epoch, an evaluation batch), rather than keep buffers for both shapes.
    """

    def __init__(self, backend, poison=False):
        self.backend = backend
        self.poison = poison
        self.free = {}  # (size, dtype) -> flat buffers free to hand out
        self.handed_out = []  # (array handed out, its flat buffer) since the last reset
        self.allocations = 0  # buffers allocated so far

    def empty(self, shape, dtype):
        # math.prod, not np.prod: this runs about a hundred times a training step, and NumPy's reduction costs ten
        # times as much for a tuple of three ints (half a millisecond a step on the copy_memory benchmark)
        shape, dtype = tuple(map(int, shape)), np.dtype(dtype)
        size = math.prod(shape)
        free = self.free.get((size, dtype))
        flat = free.pop() if free else self._allocate(size, dtype)  # the last one taken back: the likeliest in cache
        array = flat.reshape(shape)
        self.handed_out.append((array, flat))
        return array

    def reset(self, keep=None):
        """Takes back every buffer handed out since the last reset: their arrays are dead. ``keep`` (an array this
        arena handed out, itself) stays handed out until the next reset."""
        kept = [(a, flat) for a, flat in self.handed_out if a is keep]
        if keep is not None and not kept:
            raise RuntimeError("reset(keep=...) was given an array this arena did not hand out since its last reset")
        for a, flat in self.handed_out:
            if a is keep:
                continue
            if self.poison:
                self.backend.fill(flat, np.nan)
            self.free.setdefault((flat.size, np.dtype(flat.dtype)), []).append(flat)
        self.handed_out = kept

    def clear(self):
        """Drops every buffer (each is freed once nothing else holds it)."""
        self.free, self.handed_out = {}, []

    @contextmanager
    def use(self, reset=True):
        """Makes this arena the current one of this thread (``empty`` hands out its buffers), reset first."""
        if reset:
            self.reset()
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    @property
    def nbytes(self):
        """Bytes held, the padding of host buffers included."""
        buffers = [*(flat for _, flat in self.handed_out), *(a for free in self.free.values() for a in free)]
        return sum(a.base.nbytes if isinstance(a, np.ndarray) and a.base is not None else a.size * a.dtype.itemsize
                   for a in buffers)

    def _allocate(self, n, dtype):
        self.allocations += 1
        return allocate(self.backend, n, dtype)


def allocate(backend, n, dtype):
    """A new flat array of n elements of ``backend``; on the host, a large one starts on a cache line at a staggered
    offset within its page."""
    itemsize = dtype.itemsize
    if backend.on_device or n * itemsize < PADDED_FROM:
        return backend.empty((n,), dtype)
    # On the host, the k-th large buffer starts (k * STAGGER) % PAGE bytes into a page, so on a cache line:
    # - on a cache line: NumPy's allocator only promises 16 bytes, and a 64-byte AVX-512 load or store that
    #   straddles two lines costs both (measured: inference about 10% faster on blog and 25% on wide than with
    #   the allocator's own addresses; benchmarks/speed_results.md);
    # - staggered: the allocator maps large buffers at the same offset within a page. When a row of T steps is a
    #   multiple of 4 KiB too (T = 1024 in float32), a convolution then loads x[n, i, t] from the page offset
    #   where it has just stored y[n, o, t], and the core stalls on the false dependency ("4K aliasing"): 12%
    #   slower inference on wide.
    raw = np.empty(n + PAGE // itemsize, dtype)
    start = (_staggered() - raw.ctypes.data) % PAGE  # bytes; NumPy aligns raw to 16 at least
    return raw[start // itemsize:start // itemsize + n]


_stagger_count = 0


def _staggered():
    """The page offset of the next large host buffer: successive buffers, of every arena, at different offsets."""
    global _stagger_count
    _stagger_count += 1
    return _stagger_count * STAGGER % PAGE


_glibc_tuned = False


def keep_freed_memory():
    """Asks glibc's malloc (Linux) to keep the memory of freed large arrays for the next ones, once per process.

    What a training step hands to its caller (the prediction, the gradient a loss returns, the input gradient) is a
    new array every step, and the caller frees last step's. glibc gives such memory back to the OS (unmapping it,
    or trimming the top of its heap) and the next step takes a page fault on every 4 KiB it touches again: 670
    faults and 1.1 ms of an 18 ms step on the copy_memory benchmark. With large arrays served from the heap (up to
    32 MiB; M_MMAP_THRESHOLD) and free memory kept at its top (up to 256 MiB; M_TRIM_THRESHOLD), the memory of last
    step's arrays serves the next step's: no faults. The price is that up to 256 MiB of freed memory stays with the
    process. Elsewhere than glibc (macOS, musl) this does nothing.
    """
    global _glibc_tuned
    if _glibc_tuned:
        return
    _glibc_tuned = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # malloc.h
    mallopt(M_MMAP_THRESHOLD, 32 << 20)
    mallopt(M_TRIM_THRESHOLD, 256 << 20)


class Workspace:
    """The arenas of one model in one thread (see the module docstring), and the caches of its last forward."""

    def __init__(self, backend, poison=False):
        if not backend.on_device:
            keep_freed_memory()
        self.forward = Arena(backend, poison)
        self.backward = Arena(backend, poison)
        self.scratch = Arena(backend, poison)
        self.stream = Arena(backend, poison)
        self.stream_step = Arena(backend, poison)
        self.last_pass = None  # what the model's forward saved for its backward
        self.pending = None  # ... and what the forward in progress saves, which becomes last_pass when it ends
        self.shape = None  # (N, T) of the passes the buffers were made for
        self.constants = {}  # arrays the same at every pass of this shape (the steps a head reads), on the backend

    def new_pass(self, shape):
        """Forgets the last pass; drops every buffer when the batch shape (N, T) changes."""
        self.last_pass = None
        if shape != self.shape:
            for arena in self.arenas:
                arena.clear()
            self.shape = shape
            self.constants = {}

    @property
    def arenas(self):
        return (self.forward, self.backward, self.scratch, self.stream, self.stream_step)

    @property
    def nbytes(self):
        return sum(arena.nbytes for arena in self.arenas)

    @property
    def allocations(self):
        return sum(arena.allocations for arena in self.arenas)
