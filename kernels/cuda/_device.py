"""What every CUDA file here shares: launch sizes, device arrays, scratch buffers and the sums of whole arrays.

Not the twin of a CPU file: on the CPU, NumPy allocates and sums. ``launch`` gives every one-thread-per-output launch
its shape; ``device_array``, ``to_device`` and ``to_host`` make and move the device arrays a backend works on
(``pytcn.runtime.backends``); ``_scratch`` keeps the temporary arrays of partial sums, made once per shape;
``_device_sum`` and ``_total`` add up a whole array on the device for the losses (``losses.py``) and the gradient norm
(``sum_squares_cuda`` in ``arrays.py``).
"""
import math
import threading

import numpy as np
from numba import cuda, float64

from .._config import CUDA, CUDA_THREADS
from .._config import CUDA_SUM_CHUNK as SUM_CHUNK


def launch(n_outputs, threads=CUDA_THREADS):
    """(blocks, threads per block) covering n_outputs elements with one thread each: every launch's shape comes
    from here."""
    return max(1, math.ceil(n_outputs / threads)), threads


def device_array(shape, dtype):
    """An uninitialised array on the GPU."""
    return cuda.device_array(shape, dtype)


def to_device(a):
    return cuda.to_device(np.ascontiguousarray(a))


def to_host(a):
    return a.copy_to_host()


def _flat(a):
    return a.reshape(a.size)


_scratch_buffers = threading.local()


def _scratch(purpose, shape):
    """A float64 device array of ``shape`` for the partial sums of ``purpose``, made once per (purpose, shape) and per
    thread, then reused: a training step allocates no temporary device memory after its first. Per thread, because
    two threads' kernels may interleave on the GPU; per purpose, because a loss uses several at once."""
    buffers = _scratch_buffers.__dict__.setdefault("buffers", {})
    key = (purpose, shape)
    if key not in buffers:
        buffers[key] = cuda.device_array(shape, np.float64)
    return buffers[key]


# --------------------------------------------------------------------------------------------------------------
# Sums of a whole array (a loss, a gradient norm), in two launches: P threads each add up every P-th element (thread k
# takes k, k + P, k + 2P, ...: at each turn of the loop a warp reads 32 neighbouring elements) into partial[k], then
# one thread adds up the P partial sums. P is about size / CUDA_SUM_CHUNK. In float64, in the same order on every run.


@cuda.jit(**CUDA)
def _partial_sums_kernel(partial, x, squared):
    k = cuda.grid(1)
    if k >= partial.size:
        return
    acc = 0.0
    for q in range(k, x.size, partial.size):
        value = float64(x[q])
        acc += value * value if squared else value
    partial[k] = acc


@cuda.jit(**CUDA)
def _sum_kernel(out, partial):
    if cuda.grid(1) == 0:
        acc = 0.0
        for k in range(partial.size):
            acc += partial[k]
        out[0] = acc


def _total(partial):
    """The sum of the partial sums, copied back to the host as a Python float (this waits for the GPU)."""
    out = _scratch("total", (1,))
    _sum_kernel[1, 1](out, partial)
    return float(out.copy_to_host()[0])


def _device_sum(x):
    """sum(x) of a 1-D device array, as a Python float."""
    partial = _scratch("partial sums", (math.ceil(x.size / SUM_CHUNK),))
    _partial_sums_kernel[launch(partial.size)](partial, x, False)
    return _total(partial)
