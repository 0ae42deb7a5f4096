"""A model's buffer pool: the arrays of one pass, kept and handed out again in the next, so that a training step
allocates no activations and no gradients once the first step of its shape has run.

Why a pool and not one fixed workspace per layer: a layer's forward output lives until the backward pass, but the
gradients of the backward pass live only until the layer below has used them. Fixed workspaces would keep every
gradient buffer of every layer alive at once (measured on the "wide" benchmark model: 1.9x the memory). The pool
instead takes buffers back as soon as the code that made them says they are dead (``release``), and hands a dead
buffer out again for the next request of the same size and dtype, in the shape asked for. It then holds about what
fresh allocation held at its peak: between 5% less and 2% more on the test suite's models of one width
(tests/test_pool.py), 33% more on one whose blocks have widths 3, 4, 4 and 5, where a buffer freed by one block
cannot serve a block of another width.

How a model uses it (pytcn.model.TCN):

- ``forward`` starts with ``release_all``: what the previous pass saved for its backward is dead once a new pass
  begins. A pass whose input shape differs from the previous one's then also calls ``clear``, which drops the free
  buffers: they were made for the other shape (the last, shorter batch of an epoch; an evaluation batch).
- during the model's own passes (and only then), every layer takes its outputs, saved arrays and temporaries from
  ``empty``; a layer called on its own allocates afresh;
- the backward pass ``release``s each gradient as soon as the layer below has read it, and the forward pass what
  no backward needs (a dropout's output once the next layer has read it, the sum of the skip connections);
- what the model hands to its caller (the prediction of forward, the input gradient of backward) leaves the pool
  (``detach``): the caller may keep it as long as it likes, and the pool never reuses it.

A buffer is handed out again only after ``release``. Released too early, a buffer would be overwritten while
still read: ``poison=True`` fills every released buffer with NaN, so that any such read turns the result into NaN.
The test suite runs models that way (tests/test_pool.py).
"""
import numpy as np

from . import _validate


LINE = 64  # bytes in a cache line, and in an AVX-512 vector
PAGE = 4096  # bytes
STAGGER = 17 * LINE  # bytes: whole cache lines, 17 coprime to the 64 lines of a page (64 distinct offsets)
PADDED_FROM = 64 * PAGE  # bytes: smaller host buffers are allocated plainly (a page of padding would be 1.6% or more)


class BufferPool:
    """Buffers of one backend, each either in use or free. A buffer is a flat array; it is handed out as a view of
    the shape asked for, so that one buffer serves every shape of its size: (N, C, T) and its transpose (N, T, C),
    say, or (N * T, F) and (N, F, T)."""

    def __init__(self, backend, poison=False):
        self.backend = backend
        self.poison = poison  # fill released buffers with NaN (for tests)
        self._free = {}  # (size, dtype) -> flat buffers free to hand out
        self._in_use = {}  # id(view handed out) -> (view, its flat buffer); holding the view keeps its id unique
        self.allocations = 0  # buffers allocated so far (one per ``empty`` that found no free buffer)
        self.owner = None  # the model whose passes use the pool (TCN.use_pool): one model, or two would collide

    def empty(self, shape, dtype):
        """An uninitialised buffer of this shape and dtype: a free one if the pool has it, else a new allocation."""
        shape, dtype = tuple(int(s) for s in shape), np.dtype(dtype)
        free = self._free.get((int(np.prod(shape)), dtype))
        if free:
            flat = free.pop()
        else:
            flat = self._allocate(int(np.prod(shape)), dtype)
            self.allocations += 1
        a = flat.reshape(shape)
        self._in_use[id(a)] = (a, flat)
        return a

    def zeros(self, shape, dtype):
        a = self.empty(shape, dtype)
        self.backend.fill(a, 0)
        return a

    def array(self, name, x, ndim, dtype, shape=None):
        """``x`` validated as ``Backend.array`` does it. A NumPy array on a device backend is copied into a buffer
        of the pool rather than into a new device allocation."""
        be = self.backend
        if not be.on_device or be.is_array(x):
            return be.array(name, x, ndim, dtype, shape)
        host = _validate.float_array(name, x, ndim, dtype, shape)
        dev = self.empty(host.shape, host.dtype)
        be.load(dev, host)
        return dev

    def release(self, *arrays):
        """Gives buffers back: each may be handed out again by the next ``empty`` of its shape and dtype. An
        array that is not a buffer in use (a view, the caller's own array, a buffer already released, None) is
        ignored."""
        for a in arrays:
            if a is not None and self._in_use.get(id(a), (None,))[0] is a:
                self._give_back(self._in_use.pop(id(a))[1])

    def release_all(self, keep=None):
        """Gives back every buffer in use, except ``keep``."""
        in_use, self._in_use = self._in_use, {}
        for a, flat in in_use.values():
            if a is keep:
                self._in_use[id(a)] = (a, flat)
            else:
                self._give_back(flat)

    def detach(self, a):
        """Takes a buffer in use out of the pool for good: it becomes an ordinary array of its holder."""
        if a is None or self._in_use.get(id(a), (None,))[0] is not a:
            raise ValueError(f"detach: the array ({getattr(a, 'shape', None)}, {getattr(a, 'dtype', None)}) is not a "
                             f"buffer of this pool in use")
        del self._in_use[id(a)]

    def clear(self):
        """Drops every free buffer (they are freed once nothing else holds them); buffers in use stay in use."""
        self._free = {}

    @property
    def nbytes(self):
        """Bytes held by the pool, in use and free, the padding of host buffers included."""
        buffers = [*(flat for _, flat in self._in_use.values()), *(a for free in self._free.values() for a in free)]
        return sum(a.base.nbytes if isinstance(a, np.ndarray) and a.base is not None
                   else a.size * a.dtype.itemsize for a in buffers)

    def _allocate(self, n, dtype):
        """A flat buffer of n elements."""
        itemsize = dtype.itemsize
        if self.backend.on_device or n * itemsize < PADDED_FROM:
            return self.backend.empty((n,), dtype)
        # On the host, the k-th buffer starts (k * STAGGER) % PAGE bytes into a page, so on a cache line:
        # - on a cache line: NumPy's allocator only promises 16 bytes, and a 64-byte AVX-512 load or store that
        #   straddles two lines costs both (measured: inference about 10% faster on blog and 25% on wide than with the
        #   allocator's own addresses; benchmarks/speed_results.md);
        # - staggered: the allocator maps large buffers at the same offset within a page. When a row of T steps
        #   is a multiple of 4 KiB too (T = 1024 in float32), a convolution then loads x[n, i, t] from the page
        #   offset where it has just stored y[n, o, t], and the core stalls on the false dependency ("4K
        #   aliasing"): 12% slower inference on wide.
        raw = np.empty(n + PAGE // itemsize, dtype)
        start = (self.allocations * STAGGER - raw.ctypes.data) % PAGE  # bytes; NumPy aligns raw to 16 at least
        return raw[start // itemsize:start // itemsize + n]

    def _give_back(self, a):
        if self.poison:
            self.backend.fill(a, np.nan)
        self._free.setdefault((a.size, np.dtype(a.dtype)), []).append(a)


class FreshAllocation(BufferPool):
    """The plain allocation a pool replaces, behind the pool's interface: every request is a new array from the
    backend, which the pool does not hold: it is freed when nothing else holds it, as before pools. For
    comparisons: the tests check a pooled model against a model using this, and benchmarks/pool.py times the two."""

    def empty(self, shape, dtype):
        self.allocations += 1
        return self.backend.empty(tuple(int(s) for s in shape), np.dtype(dtype))

    def release(self, *arrays):
        pass

    def release_all(self, keep=None):
        pass

    def detach(self, a):
        pass
