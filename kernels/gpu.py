"""CUDA twins of every kernel, written with numba-cuda, to be read beside the CPU loops they mirror.

Import this module only where numba-cuda is installed (``pip install -e '.[cuda]'``); ``pytcn.runtime.backends`` does
so when a model asks for ``backend="cuda"``, and says what is missing otherwise. Without a GPU, setting
``NUMBA_ENABLE_CUDASIM=1`` before Numba is imported runs every kernel here in numba-cuda's simulator (one Python
thread per CUDA thread: slow, but exact, and how the test suite checks these kernels on machines with no GPU).

Every ``<op>_cuda`` function has the signature and the semantics of ``<op>_numpy`` (``kernels/conv.py``,
``kernels/arrays.py`` and the rest), with device arrays in place of NumPy arrays (scalars stay Python numbers). It
computes the launch configuration with ``launch`` and starts one or more ``@cuda.jit`` kernels; kernel launches are
asynchronous, so a sequence of them runs back to back on the GPU with no host round-trip. Only the losses and
``sum_squares`` return a number to the host, and so wait for the GPU.

Three patterns:

- **One thread per output element.** Thread k computes flat element k of the output: ``cuda.grid(1)`` is its index,
  ``launch`` gives enough blocks of ``CUDA_THREADS`` threads to cover the output, and threads past the end return at
  once. Threads next to each other take elements next to each other in memory, so the 32 loads of a warp fall in one
  or two memory transactions (coalesced). The element-wise ops, the norms and the losses work this way, and so do
  the *reference* convolution and linear kernels (``CUDA_REFERENCES``): ``_conv_forward_kernel`` is the formula of
  the convolution, one output per thread, every operand read from global memory. They are kept as the clearest
  statement of each formula, and as the oracle of the fast kernels on a GPU (tests/test_cuda.py).
- **Tiles in shared memory** (the fast convolutions, ``CUDA_TWINS``). A block of 256 threads computes a tile of
  outputs: its threads copy the inputs the tile needs into shared memory together, wait for each other, and each
  computes several outputs from there, keeping them in registers. The forward convolution and its input gradient
  are one matrix product per tap; the weight gradient is one matrix product whose long inner sum over (n, t) is
  split into chunks, one block per (tile, chunk), whose partial sums a second kernel adds in chunk order; the bias
  gradient is one block per channel, its threads' sums meeting in a tree. ``_tap_gemm_kernel`` and the functions
  after it explain the tile sizes.
- **A sum over a whole array** (a loss, the gradient norm) in two launches: each of P threads adds every P-th
  element into its partial sum (P = size / ``CUDA_SUM_CHUNK``), then a single thread adds the P partial sums.

Every sum is added in the same order on every run (no atomics), so training on the GPU is reproducible bit for bit.
Float32 models add in float32 where the CPU kernels do (the convolutions and their gradients within a chunk), in
float64 where they do (the losses, the norms' statistics; the weight gradient's chunks are added in float64). The
temporary arrays of the partial sums are made once per shape and reused (``_scratch``).

Kernels read no module globals (Numba would freeze their values into the cached code): sizes come in as arguments,
except the tile sizes of the fast kernels, which size shared arrays and so must be constants: each fast kernel is
built by a function of its Tiles, cached, whose constants they are.
"""
import functools
import math
import threading
from typing import NamedTuple

import numba
import numpy as np
from numba import cuda, float64

from ._config import CUDA, CUDA_DEVICE, CUDA_TARGET_BLOCKS, CUDA_THREADS
from ._config import CUDA_SUM_CHUNK as SUM_CHUNK


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


# --------------------------------------------------------------------------------------------------------------
# Convolution: y[n, o, t] = b[o] + sum_{i, j} W[o, i, j] * x[n, i, t - (K-1-j)*d]   (x = 0 before t = 0)


@cuda.jit(**CUDA)
def _conv_forward_kernel(y, x, W, b, d, relu):
    """One thread per y[n, o, t]: its sum over input channels and taps. Consecutive threads take consecutive t, so
    a warp reads 32 consecutive x[n, i, t - shift] at once."""
    N, C_out, T = y.shape
    C_in = x.shape[1]
    K = W.shape[2]
    k = cuda.grid(1)
    if k >= N * C_out * T:
        return
    n = k // (C_out * T)
    o = k // T % C_out
    t = k % T
    acc = b[o]
    for i in range(C_in):
        for j in range(K):
            s = t - (K - 1 - j) * d
            if s >= 0:  # causal: taps before the start read the zero padding, and add nothing
                acc += W[o, i, j] * x[n, i, s]
    # the ReLU as on the CPU: a NaN fails the test and passes through
    y[n, o, t] = 0.0 if relu and acc <= 0 else acc


def conv_forward_reference(y, x, W, b, d):
    _conv_forward_kernel[launch(y.size)](y, x, W, b, d, False)


def conv_relu_forward_reference(y, x, W, b, d):
    _conv_forward_kernel[launch(y.size)](y, x, W, b, d, True)


@cuda.jit(**CUDA)
def _conv_backward_input_kernel(dx, dy, W, d, zero):
    """One thread per dx[n, i, s]: the forward sent x[n, i, s] into y[n, o, s + (K-1-j)*d] with weight W[o, i, j]
    for every o and j, so dx[n, i, s] gathers dy from those outputs (those that exist: t < T)."""
    N, C_in, T = dx.shape
    C_out = dy.shape[1]
    K = W.shape[2]
    k = cuda.grid(1)
    if k >= N * C_in * T:
        return
    n = k // (C_in * T)
    i = k // T % C_in
    s = k % T
    acc = zero  # 0 of the arrays' dtype (a float literal would make the sum float64, slow on most GPUs)
    for o in range(C_out):
        for j in range(K):
            t = s + (K - 1 - j) * d
            if t < T:
                # forward: y[n, o, t] += W[o, i, j] * x[n, i, t - (K-1-j)*d], so dx[n, i, s] += W[o, i, j] * dy[n, o, t]
                acc += W[o, i, j] * dy[n, o, t]
    dx[n, i, s] = acc


def conv_backward_input_reference(dx, dy, W, d):
    _conv_backward_input_kernel[launch(dx.size)](dx, dy, W, d, dx.dtype.type(0))


@cuda.jit(**CUDA)
def _conv_backward_weight_kernel(dW, dy, x, d):
    """One thread per dW[o, i, j]: its sum over every (n, t) of dy[n, o, t] * x[n, i, t - (K-1-j)*d], in float64.
    A sum of N*T terms in one thread is long, but there are C_out*C_in*K threads, each reading rows that the
    neighbouring threads (the other taps j of the same i) read too, so most loads come from cache."""
    C_out, C_in, K = dW.shape
    N, _, T = x.shape
    k = cuda.grid(1)
    if k >= C_out * C_in * K:
        return
    o = k // (C_in * K)
    i = k // K % C_in
    j = k % K
    shift = (K - 1 - j) * d
    acc = 0.0
    for n in range(N):
        for t in range(shift, T):  # earlier t read the zero padding
            # forward: y[n, o, t] += W[o, i, j] * x[n, i, t - shift], so dW[o, i, j] += dy[n, o, t] * x[n, i, t - shift]
            acc += dy[n, o, t] * x[n, i, t - shift]
    dW[o, i, j] = acc


def conv_backward_weight_reference(dW, dy, x, d):
    _conv_backward_weight_kernel[launch(dW.size)](dW, dy, x, d)


@cuda.jit(**CUDA)
def _conv_backward_bias_kernel(db, dy):
    """One thread per db[o] = sum over (n, t) of dy[n, o, t], in float64."""
    N, C_out, T = dy.shape
    o = cuda.grid(1)
    if o >= C_out:
        return
    acc = 0.0
    for n in range(N):
        for t in range(T):
            acc += dy[n, o, t]  # forward: y[n, o, t] = b[o] + ..., so db[o] sums dy over n and t
    db[o] = acc


def conv_backward_bias_reference(db, dy):
    _conv_backward_bias_kernel[launch(db.size)](db, dy)


# --------------------------------------------------------------------------------------------------------------
# The fast convolution kernels. The kernels above are the formulas, one thread per output; these compute the same
# outputs in blocks of threads that share what they read through shared memory (on-chip, about 100 times faster to
# read than global memory), and keep several outputs each in registers. Each is built by a function of its tile
# sizes: shared and local arrays must have sizes known when the kernel compiles. The sizes pytcn runs are the
# Tiles below; the tests also build small ones, which reach every leftover branch on the simulator's small shapes.


class Tiles(NamedTuple):
    """A block of ROWS x COLS threads computes a tile of (ROWS * PER_ROW) x (COLS * PER_COL) outputs, each thread
    PER_ROW x PER_COL of them, (ROWS * k + its row, COLS * k + its column): the threads of a warp (32 neighbouring
    columns of threads, one or two rows) read neighbouring elements of shared memory, with no bank conflicts. DEPTH is
    how much of the sum one staging covers: input channels in the convolutions, terms of the (n, t) sum in the weight
    gradient."""
    ROWS: int
    COLS: int
    PER_ROW: int
    PER_COL: int
    DEPTH: int


# 256 threads; tiles of 32 channels x 64 steps (2 x 4 outputs per thread: 8 multiply-adds for 6 shared-memory reads)
# staging 16 input channels at a time: (16 x 32 + 16 x 64) elements, 6 KiB of shared memory in float32 (12 in float64),
# so that several blocks fit on one multiprocessor. The short channel counts of a small TCN (10-30) fill one tile
# row; its long sequences give the blocks: 320 for blog (N 32, T 600), 16,384 for wide at N 256.
CONV_TILES = Tiles(ROWS=16, COLS=16, PER_ROW=2, PER_COL=4, DEPTH=16)
# 256 threads; tiles of 32 output channels x 32 (input channel, tap) columns, 2 x 2 per thread, the (n, t) sum staged
# 32 terms at a time: (2 x 32 x 33) elements, 8.3 KiB in float32
WEIGHT_TILES = Tiles(ROWS=16, COLS=16, PER_ROW=2, PER_COL=2, DEPTH=32)
BIAS_THREADS = 256  # one block of them per bias entry; a power of 2, for the tree
# The weight gradient's sum over (n, t) is split into chunks when its tiles alone would leave the GPU idle: enough
# chunks for about CUDA_TARGET_BLOCKS blocks, each chunk at least MIN_CHUNK_STAGES stagings long.
MIN_CHUNK_STAGES = 8


@functools.cache
def _tap_gemm_kernel(tiles):
    """The forward convolution, and its input gradient, as K matrix products, one per tap: for tap j,

        forward:        y[n, :, t] += W[:, :, j] @ x[n, :, t - (K-1-j)*d]     (out y, inp x, P = C_out, Q = C_in)
        input gradient: dx[n, :, s] += W[:, :, j].T @ dy[n, :, s + (K-1-j)*d]  (out dx, inp dy, P = C_in, Q = C_out)

    A block computes a tile of out[n, p0:p0 + P_TILE, t0:t0 + T_TILE]. For each tap and each DEPTH input channels
    (q0, ...), its threads copy the weights of that tap and the shifted input window into shared memory together,
    wait for each other (syncthreads), and each adds its outputs' products from there. An input element is read from
    global memory once per tile and used by P_TILE outputs; a weight by T_TILE.

    Each tap stages its own window, rather than one window with a (K-1)*d halo shared by the taps: shared arrays need
    a size fixed at compilation, and a TCN's halo reaches thousands of steps at the dilations it uses, where the
    taps' windows do not overlap at all. At small dilations the windows overlap, and the repeated reads come from
    the cache.

    Float32 models add in float32, as the CPU kernels do; the order is tap by tap, not the reference's."""
    ROWS, COLS, PER_P, PER_T, DEPTH = tiles
    P_TILE, T_TILE, THREADS = ROWS * PER_P, COLS * PER_T, ROWS * COLS

    @cuda.jit(**CUDA)
    def tap_gemm(out, inp, W, b, d, transposed, relu, zero):
        N, P, T = out.shape
        Q = inp.shape[1]
        K = W.shape[2]
        n = cuda.blockIdx.z
        p0 = cuda.blockIdx.y * P_TILE
        t0 = cuda.blockIdx.x * T_TILE
        row = cuda.threadIdx.y
        col = cuda.threadIdx.x
        me = row * COLS + col
        weights = cuda.shared.array((DEPTH, P_TILE), out.dtype)  # weights[q, p]: from input q0 + q to output p0 + p
        window = cuda.shared.array((DEPTH, T_TILE), out.dtype)  # window[q, t]: input q0 + q, read by step t0 + t
        acc = cuda.local.array((PER_P, PER_T), out.dtype)
        for a in range(PER_P):
            for c in range(PER_T):
                acc[a, c] = zero
        for j in range(K):
            shift = (K - 1 - j) * d
            offset = shift if transposed else -shift  # dx reads later steps of dy; y reads earlier steps of x
            for q0 in range(0, Q, DEPTH):
                # staging: thread `me` copies elements me, me + THREADS, ... of each tile (neighbouring threads,
                # neighbouring steps of one input row: coalesced)
                for e in range(me, DEPTH * P_TILE, THREADS):
                    q = q0 + e // P_TILE
                    p = p0 + e % P_TILE
                    w = zero
                    if q < Q and p < P:  # past the last channel: zeros, which add nothing
                        w = W[q, p, j] if transposed else W[p, q, j]
                    weights[e // P_TILE, e % P_TILE] = w
                for e in range(me, DEPTH * T_TILE, THREADS):
                    q = q0 + e // T_TILE
                    s = t0 + e % T_TILE + offset
                    v = zero
                    if q < Q and 0 <= s < T:  # before the start (causal zeros) or past the end (no output there)
                        v = inp[n, q, s]
                    window[e // T_TILE, e % T_TILE] = v
                cuda.syncthreads()  # the tiles are complete
                for q in range(DEPTH):
                    for a in range(PER_P):
                        w = weights[q, row + a * ROWS]
                        for c in range(PER_T):
                            acc[a, c] += w * window[q, col + c * COLS]
                cuda.syncthreads()  # every thread is done with the tiles before the next staging overwrites them
        for a in range(PER_P):
            p = p0 + row + a * ROWS
            for c in range(PER_T):
                t = t0 + col + c * COLS
                if p < P and t < T:
                    v = acc[a, c]
                    if not transposed:
                        v += b[p]
                    out[n, p, t] = zero if relu and v <= 0 else v  # a NaN fails the test and passes through

    return tap_gemm


def _tap_gemm(out, inp, W, b, d, transposed, relu, tiles):
    tiles = tiles or CONV_TILES
    N, P, T = out.shape
    P_TILE, T_TILE = tiles.ROWS * tiles.PER_ROW, tiles.COLS * tiles.PER_COL
    blocks = (math.ceil(T / T_TILE), math.ceil(P / P_TILE), N)
    _tap_gemm_kernel(tiles)[blocks, (tiles.COLS, tiles.ROWS)](out, inp, W, b, d, transposed, relu,
                                                               out.dtype.type(0))


def conv_forward_cuda(y, x, W, b, d, tiles=None):
    _tap_gemm(y, x, W, b, d, False, False, tiles)


def conv_relu_forward_cuda(y, x, W, b, d, tiles=None):
    _tap_gemm(y, x, W, b, d, False, True, tiles)  # the bias and the ReLU applied to the registers, before the store


def conv_backward_input_cuda(dx, dy, W, d, tiles=None):
    _tap_gemm(dx, dy, W, _flat(W), d, True, False, tiles)  # no bias: any array stands in, unread


@functools.cache
def _weight_gradient_kernel(tiles):
    """The weight gradient as one matrix product: with columns c = i*K + j (an input channel and a tap),

        dW[o, c] = sum over r = (n, t) of dy[n, o, t] * x[n, i, t - (K-1-j)*d]

    a (C_out x N*T) by (N*T x C_in*K) product, whose inner dimension is long (N*T: 262,144 for wide at N 256) and
    whose outer ones are short (C_out 10-128, C_in*K 20-1000). A block computes a tile of O_TILE x C_TILE entries
    over one chunk of the r range: it stages DEPTH terms of dy's rows and of the shifted x rows in shared memory,
    each thread adds its 2 x 2 entries, and so on to the end of its chunk. It writes its tile's sums into
    partial[chunk]; with one chunk, partial is dW itself.

    Each chunk's sum is added in the arrays' dtype, as on the CPU; the chunks' sums (when there are several) are added
    by ``_chunk_sum_kernel`` in float64, in chunk order. No atomics: the same inputs give the same bits every run."""
    ROWS, COLS, PER_O, PER_C, DEPTH = tiles
    O_TILE, C_TILE, THREADS = ROWS * PER_O, COLS * PER_C, ROWS * COLS
    PADDED = DEPTH + 1  # the shapes of shared and local arrays must be constants of the closure, not expressions

    @cuda.jit(**CUDA)
    def weight_gradient(partial, dy, x, d, chunk, zero):
        N, C_out, T = dy.shape
        C_in = x.shape[1]
        columns = partial.shape[2]
        K = columns // C_in
        c0 = cuda.blockIdx.x * C_TILE
        o0 = cuda.blockIdx.y * O_TILE
        r_start = cuda.blockIdx.z * chunk
        r_end = min(r_start + chunk, N * T)
        row = cuda.threadIdx.y
        col = cuda.threadIdx.x
        me = row * COLS + col
        # one column of padding: thread (row, col) reads row col of x_terms, so the 16 rows a warp reads at once must
        # lie in 16 different banks of shared memory (banks are 4 bytes wide, 32 of them)
        dy_terms = cuda.shared.array((O_TILE, PADDED), dy.dtype)
        x_terms = cuda.shared.array((C_TILE, PADDED), dy.dtype)
        acc = cuda.local.array((PER_O, PER_C), dy.dtype)
        for a in range(PER_O):
            for c in range(PER_C):
                acc[a, c] = zero
        for r0 in range(r_start, r_end, DEPTH):
            for e in range(me, O_TILE * DEPTH, THREADS):
                o = o0 + e // DEPTH
                r = r0 + e % DEPTH
                g = zero
                if o < C_out and r < r_end:
                    g = dy[r // T, o, r % T]
                dy_terms[e // DEPTH, e % DEPTH] = g
            for e in range(me, C_TILE * DEPTH, THREADS):
                c = c0 + e // DEPTH
                r = r0 + e % DEPTH
                v = zero
                if c < columns and r < r_end:
                    s = r % T - (K - 1 - c % K) * d
                    if s >= 0:  # earlier steps read the causal zeros
                        v = x[r // T, c // K, s]
                x_terms[e // DEPTH, e % DEPTH] = v
            cuda.syncthreads()
            for k in range(DEPTH):
                for a in range(PER_O):
                    g = dy_terms[row + a * ROWS, k]
                    for c in range(PER_C):
                        acc[a, c] += g * x_terms[col + c * COLS, k]
            cuda.syncthreads()
        for a in range(PER_O):
            o = o0 + row + a * ROWS
            for c in range(PER_C):
                column = c0 + col + c * COLS
                if o < C_out and column < columns:
                    partial[cuda.blockIdx.z, o, column] = acc[a, c]

    return weight_gradient


@cuda.jit(**CUDA)
def _chunk_sum_kernel(out, partial):
    """One thread per entry e: out[e] = the sum over chunks p of partial[p, e], in float64, in the order of p."""
    e = cuda.grid(1)
    if e >= out.size:
        return
    acc = 0.0
    for p in range(partial.shape[0]):
        acc += partial[p, e]
    out[e] = acc


def weight_gradient_chunk(terms, tiles_per_chunk, depth):
    """The length of the chunks the weight gradient's sum of ``terms`` terms is split into, when each chunk has
    ``tiles_per_chunk`` tiles (blocks) of DEPTH ``depth``: the most chunks up to about CUDA_TARGET_BLOCKS blocks,
    each at least MIN_CHUNK_STAGES stagings long. A function of the shapes only, so the same on every run."""
    stages = math.ceil(terms / depth)
    chunks = max(1, min(math.ceil(CUDA_TARGET_BLOCKS / tiles_per_chunk), stages // MIN_CHUNK_STAGES))
    return math.ceil(stages / chunks) * depth


def conv_backward_weight_cuda(dW, dy, x, d, tiles=None, chunk=None):
    tiles = tiles or WEIGHT_TILES
    if chunk is not None and not (isinstance(chunk, int) and chunk >= 1):
        raise ValueError(f"chunk must be a positive number of (n, t) terms, or None, got {chunk!r}")
    C_out, C_in, K = dW.shape
    N, _, T = x.shape
    O_TILE, C_TILE = tiles.ROWS * tiles.PER_ROW, tiles.COLS * tiles.PER_COL
    tiles_per_chunk = math.ceil(C_in * K / C_TILE) * math.ceil(C_out / O_TILE)
    chunk = chunk or weight_gradient_chunk(N * T, tiles_per_chunk, tiles.DEPTH)
    chunks = math.ceil(N * T / chunk)
    partial = dW.reshape(1, C_out, C_in * K) if chunks == 1 else _scratch("weight gradient", (chunks, C_out, C_in * K))
    blocks = (math.ceil(C_in * K / C_TILE), math.ceil(C_out / O_TILE), chunks)
    _weight_gradient_kernel(tiles)[blocks, (tiles.COLS, tiles.ROWS)](partial, dy, x, d, chunk, dW.dtype.type(0))
    if chunks > 1:
        _chunk_sum_kernel[launch(dW.size)](_flat(dW), partial.reshape(chunks, dW.size))


@functools.cache
def _bias_gradient_kernel(threads):
    """One block of ``threads`` threads per db[o] = sum over (n, t) of dy[n, o, t]: thread k adds terms k,
    k + threads, ... (a warp reads 32 neighbouring steps at once), then the threads' sums meet in shared memory in
    a tree: at each level the first half adds the second half's, log2(threads) levels, always in the same order.
    Added in the arrays' dtype, as on the CPU."""

    @cuda.jit(**CUDA)
    def bias_gradient(db, dy, zero):
        N, C_out, T = dy.shape
        o = cuda.blockIdx.x
        me = cuda.threadIdx.x
        acc = zero
        for r in range(me, N * T, threads):
            acc += dy[r // T, o, r % T]
        sums = cuda.shared.array(threads, dy.dtype)
        sums[me] = acc
        cuda.syncthreads()
        width = threads // 2
        while width > 0:
            if me < width:
                sums[me] += sums[me + width]
            cuda.syncthreads()
            width //= 2
        if me == 0:
            db[o] = sums[0]

    return bias_gradient


def conv_backward_bias_cuda(db, dy, threads=None):
    threads = BIAS_THREADS if threads is None else threads
    if not (isinstance(threads, int) and 1 <= threads <= 1024 and threads & (threads - 1) == 0):
        # the tree halves the threads at each level: with 3, the third thread's sum would be dropped, silently
        raise ValueError(f"threads must be a power of 2 from 1 to 1024, got {threads!r}")
    _bias_gradient_kernel(threads)[db.size, threads](db, dy, db.dtype.type(0))


# --------------------------------------------------------------------------------------------------------------
# ReLU, on flattened arrays


@cuda.jit(**CUDA)
def _relu_forward_kernel(y, x):
    k = cuda.grid(1)
    if k < x.size:
        v = x[k]
        y[k] = 0.0 if v <= 0 else v  # a NaN fails the test and passes through, as in np.maximum


@cuda.jit(**CUDA)
def _add_relu_forward_kernel(y, a, b):
    k = cuda.grid(1)
    if k < a.size:
        v = a[k] + b[k]
        y[k] = 0.0 if v <= 0 else v


@cuda.jit(**CUDA)
def _relu_backward_kernel(dx, dy, y):
    k = cuda.grid(1)
    if k < dy.size:
        dx[k] = dy[k] if y[k] > 0 else 0.0  # forward: y = max(x, 0): the gradient passes where the unit was active


@cuda.jit(**CUDA)
def _scale_elements_kernel(y, x, mask):
    """One thread per element: y = x * mask (element-wise dropout, kernels/dropout.py)."""
    k = cuda.grid(1)
    if k < y.size:
        y[k] = x[k] * mask[k]


def scale_elements_cuda(y, x, mask):
    _scale_elements_kernel[launch(y.size)](_flat(y), _flat(x), _flat(mask))


def relu_forward_cuda(y, x):
    _relu_forward_kernel[launch(x.size)](_flat(y), _flat(x))


def add_relu_forward_cuda(y, a, b):
    _add_relu_forward_kernel[launch(a.size)](_flat(y), _flat(a), _flat(b))


def relu_backward_cuda(dx, dy, y):
    _relu_backward_kernel[launch(dy.size)](_flat(dx), _flat(dy), _flat(y))


@cuda.jit(**CUDA)
def _conv_step_kernel(y, history, x, W, b, d, t, relu):
    """One thread per y[n, o] of one streaming step (kernels/stream.py): the sum over channels and taps, each tap
    reading the input of step t - (K-1-j)*d from its slot of the ring buffer, tap K-1 reading x itself."""
    N, C_out = y.shape
    C_in, K = W.shape[1], W.shape[2]
    L = history.shape[1]
    k = cuda.grid(1)
    if k >= N * C_out:
        return
    n = k // C_out
    o = k % C_out
    acc = b[o]
    for j in range(K):
        age = (K - 1 - j) * d
        slot = (t - age) % L
        for i in range(C_in):
            acc += W[o, i, j] * (x[n, i] if age == 0 else history[n, slot, i])
    y[n, o] = 0.0 if relu and acc <= 0 else acc


@cuda.jit(**CUDA)
def _ring_write_kernel(history, x, slot):
    """One thread per x[n, i]: into the ring buffer's slot."""
    N, C_in = x.shape
    k = cuda.grid(1)
    if k >= N * C_in:
        return
    history[k // C_in, slot, k % C_in] = x[k // C_in, k % C_in]


def conv_step_cuda(y, history, x, W, b, d, t, relu):
    # two launches: every thread of the first reads the slot that the second overwrites (step t - L, tap 0)
    _conv_step_kernel[launch(y.size)](y, history, x, W, b, d, t, relu)
    _ring_write_kernel[launch(x.size)](history, x, t % history.shape[1])


# --------------------------------------------------------------------------------------------------------------
# Linear: y[m, o] = b[o] + sum_f W[o, f] * x[m, f]


@cuda.jit(**CUDA)
def _linear_forward_kernel(y, x, W, b):
    """One thread per y[m, o]."""
    M, O = y.shape
    F = x.shape[1]
    k = cuda.grid(1)
    if k >= M * O:
        return
    m = k // O
    o = k % O
    acc = b[o]
    for f in range(F):
        acc += W[o, f] * x[m, f]
    y[m, o] = acc


@cuda.jit(**CUDA)
def _linear_backward_input_kernel(dx, dy, W, zero):
    """One thread per dx[m, f] = sum_o dy[m, o] * W[o, f]."""
    M, F = dx.shape
    O = W.shape[0]
    k = cuda.grid(1)
    if k >= M * F:
        return
    m = k // F
    f = k % F
    acc = zero
    for o in range(O):
        acc += dy[m, o] * W[o, f]  # forward: y[m, o] += W[o, f] * x[m, f], so dx[m, f] += dy[m, o] * W[o, f]
    dx[m, f] = acc


@cuda.jit(**CUDA)
def _linear_backward_params_kernel(dW, db, dy, x):
    """One thread per dW[o, f] = sum_m dy[m, o] * x[m, f] (in float64); the threads of f = 0 also write db[o]."""
    M, F = x.shape
    O = dW.shape[0]
    k = cuda.grid(1)
    if k >= O * F:
        return
    o = k // F
    f = k % F
    acc = 0.0
    bias = 0.0
    for m in range(M):
        # forward: y[m, o] = b[o] + W[o, f] * x[m, f] + ..., so dW[o, f] += dy[m, o] * x[m, f] and db[o] += dy[m, o]
        acc += dy[m, o] * x[m, f]
        bias += dy[m, o]
    dW[o, f] = acc
    if f == 0:
        db[o] = bias


def linear_forward_cuda(y, x, W, b):
    _linear_forward_kernel[launch(y.size)](y, x, W, b)


def linear_backward_reference(dx, dW, db, dy, x, W):
    _linear_backward_input_kernel[launch(dx.size)](dx, dy, W, dx.dtype.type(0))
    _linear_backward_params_kernel[launch(dW.size)](dW, db, dy, x)


def linear_backward_cuda(dx, dW, db, dy, x, W, tiles=None, threads=None):
    """dx as the reference does (each of its M*F entries sums only O terms); dW and db, sums over the M rows, by the
    fast weight- and bias-gradient kernels (with their ``tiles`` and ``threads``), the rows taken as the steps of a
    length-1 sequence: dy as (M, O, 1), x as (M, F, 1), one tap."""
    M, O = dy.shape
    _linear_backward_input_kernel[launch(dx.size)](dx, dy, W, dx.dtype.type(0))
    conv_backward_weight_cuda(dW.reshape(O, x.shape[1], 1), dy.reshape(M, O, 1), x.reshape(M, x.shape[1], 1), 1,
                              tiles=tiles)
    conv_backward_bias_cuda(db, dy.reshape(M, O, 1), threads=threads)


# --------------------------------------------------------------------------------------------------------------
# Losses: each writes its gradient on the device and returns the loss to the host (the step's one copy back)


@cuda.jit(**CUDA)
def _mse_kernel(squares, dpred, pred, target):
    """One thread per element: its squared error (for the sum) and its gradient."""
    k = cuda.grid(1)
    if k < pred.size:
        diff = pred[k] - target[k]
        squares[k] = float64(diff) * diff  # squared in float64, as the NumPy twin does
        dpred[k] = 2.0 * diff / pred.size  # d/dpred of diff^2 / size


def mse_cuda(dpred, pred, target):
    squares = _scratch("terms", (pred.size,))
    _mse_kernel[launch(pred.size)](squares, _flat(dpred), _flat(pred), _flat(target))
    return _device_sum(squares) / pred.size


@cuda.jit(**CUDA_DEVICE)
def _row_cross_entropy(dlogits, logits, labels, m, scale):
    """-log softmax(logits[m])[labels[m]]; writes the row dlogits[m] = scale * (softmax - onehot)."""
    C = logits.shape[1]
    peak = logits[m, 0]
    for c in range(1, C):
        peak = max(peak, logits[m, c])  # log-sum-exp is invariant to a shift; this one avoids overflow
    total = 0.0
    for c in range(C):
        total += math.exp(logits[m, c] - peak)
    log_total = math.log(total)
    label = labels[m]
    for c in range(C):
        # forward: loss_m = -logit[label] + log sum_c exp(logit[c]), so d loss_m / d logit[c] = p[c] - [c == label]
        p = math.exp(logits[m, c] - peak - log_total)
        dlogits[m, c] = scale * (p - (1.0 if c == label else 0.0))
    return log_total - (logits[m, label] - peak)


@cuda.jit(**CUDA)
def _softmax_cross_entropy_kernel(losses, dlogits, logits, labels):
    """One thread per row m: -log softmax(logits[m])[labels[m]] into losses[m], and the row of dlogits."""
    M = logits.shape[0]
    m = cuda.grid(1)
    if m < M:
        losses[m] = _row_cross_entropy(dlogits, logits, labels, m, 1.0 / M)


def softmax_cross_entropy_cuda(dlogits, logits, labels):
    M = logits.shape[0]
    losses = _scratch("terms", (M,))
    _softmax_cross_entropy_kernel[launch(M)](losses, dlogits, logits, labels)
    return _device_sum(losses) / M


@cuda.jit(**CUDA)
def _masked_mse_kernel(rows, dpred, pred, target, weights, scale):
    """One thread per row m: w[m] times its sum of squared errors (for the sum) and its row of dpred."""
    M, P = pred.shape
    m = cuda.grid(1)
    if m >= M:
        return
    acc = float64(0.0)
    for p in range(P):
        diff = pred[m, p] - target[m, p]
        acc += float64(diff) * diff
        dpred[m, p] = 2.0 * weights[m] * diff * scale  # d/dpred of w[m] diff^2 / (P W)
    rows[m] = weights[m] * acc


def masked_mse_cuda(dpred, pred, target, weights):
    M, P = pred.shape
    total_weight = _device_sum(weights)  # one number back to the host, as every loss
    rows = _scratch("terms", (M,))
    scale = 1.0 / (P * total_weight)
    _masked_mse_kernel[launch(M)](rows, dpred, pred, target, weights, scale)
    return _device_sum(rows) * scale


@cuda.jit(**CUDA)
def _masked_softmax_cross_entropy_kernel(losses, dlogits, logits, labels, weights, total_weight):
    """One thread per row m, as the unmasked kernel, each row weighted by w[m] / W."""
    m = cuda.grid(1)
    if m < logits.shape[0]:
        losses[m] = weights[m] * _row_cross_entropy(dlogits, logits, labels, m, weights[m] / total_weight)


def masked_softmax_cross_entropy_cuda(dlogits, logits, labels, weights):
    M = logits.shape[0]
    total_weight = _device_sum(weights)
    losses = _scratch("terms", (M,))
    _masked_softmax_cross_entropy_kernel[launch(M)](losses, dlogits, logits, labels, weights, total_weight)
    return _device_sum(losses) / total_weight


# --------------------------------------------------------------------------------------------------------------
# Layer and batch normalisation (kernels/norm.py): xhat = (x - mean) * rstd, y = gamma[c] * xhat + beta[c]


@cuda.jit(**CUDA)
def _layer_norm_forward_kernel(y, mean, rstd, x, gamma, beta, eps):
    """One thread per (n, t): the statistics of its C channels, then its column of y."""
    N, C, T = x.shape
    k = cuda.grid(1)
    if k >= N * T:
        return
    n = k // T
    t = k % T
    acc = 0.0
    for c in range(C):
        acc += x[n, c, t]
    mu = acc / C
    acc = 0.0
    for c in range(C):
        acc += (x[n, c, t] - mu) * (x[n, c, t] - mu)
    r = 1.0 / math.sqrt(acc / C + eps)
    mean[n, t] = mu
    rstd[n, t] = r
    for c in range(C):
        y[n, c, t] = gamma[c] * ((x[n, c, t] - mu) * r) + beta[c]


def layer_norm_forward_cuda(y, mean, rstd, x, gamma, beta, eps):
    _layer_norm_forward_kernel[launch(mean.size)](y, mean, rstd, x, gamma, beta, eps)


@cuda.jit(**CUDA)
def _layer_norm_backward_input_kernel(dx, dy, x, mean, rstd, gamma):
    """One thread per (n, t): its column of dx, through the mean and variance of its C channels."""
    N, C, T = x.shape
    k = cuda.grid(1)
    if k >= N * T:
        return
    n = k // T
    t = k % T
    mu = mean[n, t]
    r = rstd[n, t]
    mean_dxhat = 0.0
    mean_dxhat_xhat = 0.0
    for c in range(C):
        dxhat = dy[n, c, t] * gamma[c]
        mean_dxhat += dxhat
        mean_dxhat_xhat += dxhat * (x[n, c, t] - mu) * r
    mean_dxhat /= C
    mean_dxhat_xhat /= C
    for c in range(C):
        xhat = (x[n, c, t] - mu) * r
        dx[n, c, t] = r * (dy[n, c, t] * gamma[c] - mean_dxhat - xhat * mean_dxhat_xhat)


@cuda.jit(**CUDA)
def _layer_norm_backward_params_kernel(dgamma, dbeta, dy, x, mean, rstd):
    """One thread per channel c: dgamma[c] = sum dy * xhat, dbeta[c] = sum dy over (n, t), in float64."""
    N, C, T = x.shape
    c = cuda.grid(1)
    if c >= C:
        return
    g = float64(0.0)
    b = float64(0.0)
    for n in range(N):
        for t in range(T):
            g += dy[n, c, t] * ((x[n, c, t] - mean[n, t]) * rstd[n, t])
            b += dy[n, c, t]
    dgamma[c] = g
    dbeta[c] = b


def layer_norm_backward_cuda(dx, dgamma, dbeta, dy, x, mean, rstd, gamma):
    _layer_norm_backward_input_kernel[launch(mean.size)](dx, dy, x, mean, rstd, gamma)
    _layer_norm_backward_params_kernel[launch(gamma.size)](dgamma, dbeta, dy, x, mean, rstd)


@cuda.jit(**CUDA)
def _batch_norm_statistics_kernel(mean, var, x):
    """One thread per channel: its mean and biased variance over (n, t)."""
    N, C, T = x.shape
    c = cuda.grid(1)
    if c >= C:
        return
    acc = float64(0.0)
    for n in range(N):
        for t in range(T):
            acc += x[n, c, t]
    mu = acc / (N * T)
    acc = float64(0.0)
    for n in range(N):
        for t in range(T):
            acc += (x[n, c, t] - mu) * (x[n, c, t] - mu)
    mean[c] = mu
    var[c] = acc / (N * T)


def batch_norm_statistics_cuda(mean, var, x):
    _batch_norm_statistics_kernel[launch(mean.size)](mean, var, x)


@cuda.jit(**CUDA)
def _batch_norm_forward_kernel(y, x, mean, var, gamma, beta, eps):
    N, C, T = x.shape
    k = cuda.grid(1)
    if k >= N * C * T:
        return
    n = k // (C * T)
    c = k // T % C
    t = k % T
    y[n, c, t] = gamma[c] / math.sqrt(var[c] + eps) * (x[n, c, t] - mean[c]) + beta[c]


def batch_norm_forward_cuda(y, x, mean, var, gamma, beta, eps):
    _batch_norm_forward_kernel[launch(y.size)](y, x, mean, var, gamma, beta, eps)


@cuda.jit(**CUDA)
def _batch_norm_backward_params_kernel(dgamma, dbeta, rstd, dy, x, mean, var, eps):
    """One thread per channel c: rstd[c], dgamma[c] = sum dy * xhat and dbeta[c] = sum dy over (n, t)."""
    N, C, T = x.shape
    c = cuda.grid(1)
    if c >= C:
        return
    r = 1.0 / math.sqrt(var[c] + eps)
    rstd[c] = r
    g = float64(0.0)
    b = float64(0.0)
    for n in range(N):
        for t in range(T):
            g += dy[n, c, t] * ((x[n, c, t] - mean[c]) * r)
            b += dy[n, c, t]
    dgamma[c] = g
    dbeta[c] = b


@cuda.jit(**CUDA)
def _batch_norm_backward_input_kernel(dx, dy, x, mean, rstd, gamma, dgamma, dbeta, batch_statistics):
    """One thread per element, from the channel sums dgamma = sum dy xhat and dbeta = sum dy already made."""
    N, C, T = x.shape
    k = cuda.grid(1)
    if k >= N * C * T:
        return
    n = k // (C * T)
    c = k // T % C
    t = k % T
    xhat = (x[n, c, t] - mean[c]) * rstd[c]
    mean_dxhat = gamma[c] * dbeta[c] / (N * T) if batch_statistics else 0.0
    mean_dxhat_xhat = gamma[c] * dgamma[c] / (N * T) if batch_statistics else 0.0
    dx[n, c, t] = rstd[c] * (dy[n, c, t] * gamma[c] - mean_dxhat - xhat * mean_dxhat_xhat)


def batch_norm_backward_cuda(dx, dgamma, dbeta, dy, x, mean, var, gamma, eps, batch_statistics):
    rstd = cuda.device_array(var.shape, var.dtype)
    _batch_norm_backward_params_kernel[launch(gamma.size)](dgamma, dbeta, rstd, dy, x, mean, var, eps)
    _batch_norm_backward_input_kernel[launch(dx.size)](dx, dy, x, mean, rstd, gamma, dgamma, dbeta,
                                                       batch_statistics)


# --------------------------------------------------------------------------------------------------------------
# Optimizers, on flattened arrays


@cuda.jit(**CUDA)
def _adam_update_kernel(param, m, v, grad, grad_scale, beta1, beta2, eps, weight_decay, step_size,
                        bias_correction2_sqrt):
    k = cuda.grid(1)
    if k >= param.size:
        return
    g = grad[k] * grad_scale + weight_decay * param[k]
    m[k] = beta1 * m[k] + (1 - beta1) * g
    v[k] = beta2 * v[k] + (1 - beta2) * g * g
    param[k] -= step_size * m[k] / (math.sqrt(v[k]) / bias_correction2_sqrt + eps)


def adam_update_cuda(param, m, v, grad, grad_scale, lr, beta1, beta2, eps, weight_decay, step):
    step_size = lr / (1 - beta1 ** step)  # the bias corrections, once per array rather than once per element
    bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
    _adam_update_kernel[launch(param.size)](_flat(param), _flat(m), _flat(v), _flat(grad), grad_scale, beta1, beta2,
                                            eps, weight_decay, step_size, bias_correction2_sqrt)


@cuda.jit(**CUDA)
def _sgd_update_kernel(param, grad, lr):
    k = cuda.grid(1)
    if k < param.size:
        param[k] -= lr * grad[k]


def sgd_update_cuda(param, grad, lr):
    _sgd_update_kernel[launch(param.size)](_flat(param), _flat(grad), param.dtype.type(lr))


# --------------------------------------------------------------------------------------------------------------
# Plumbing (kernels/arrays.py): what NumPy does between the layers on the CPU


@cuda.jit(**CUDA)
def _fill_kernel(out, value):
    k = cuda.grid(1)
    if k < out.size:
        out[k] = value


def fill_cuda(out, value):
    _fill_kernel[launch(out.size)](_flat(out), value)


@cuda.jit(**CUDA)
def _copy_kernel(out, x):
    k = cuda.grid(1)
    if k < out.size:
        out[k] = x[k]


def copy_cuda(out, x):
    _copy_kernel[launch(out.size)](_flat(out), _flat(x))


@cuda.jit(**CUDA)
def _add_kernel(out, a, b):
    k = cuda.grid(1)
    if k < out.size:
        out[k] = a[k] + b[k]


def add_cuda(out, a, b):
    _add_kernel[launch(out.size)](_flat(out), _flat(a), _flat(b))


@cuda.jit(**CUDA)
def _scale_kernel(out, x, s):
    k = cuda.grid(1)
    if k < out.size:
        out[k] = x[k] * s


def scale_cuda(out, x, s):
    _scale_kernel[launch(out.size)](_flat(out), _flat(x), x.dtype.type(s))


def sum_squares_cuda(arrays):
    """The partial sums of every array go into one array, so that the total comes back in one copy."""
    chunks = [math.ceil(a.size / SUM_CHUNK) for a in arrays]
    partial = _scratch("partial sums", (sum(chunks),))
    offset = 0
    for a, n in zip(arrays, chunks):
        _partial_sums_kernel[launch(n)](partial[offset:offset + n], _flat(a), True)
        offset += n
    return _total(partial)


@cuda.jit(**CUDA)
def _transpose_kernel(out, x):
    """One thread per out[a, c, b] = x[a, b, c]. Writes are coalesced; reads stride by C (small in a TCN)."""
    A, C, B = out.shape
    k = cuda.grid(1)
    if k >= A * C * B:
        return
    a = k // (C * B)
    c = k // B % C
    b = k % B
    out[a, c, b] = x[a, b, c]


def transpose_cuda(out, x):
    _transpose_kernel[launch(out.size)](out, x)


@cuda.jit(**CUDA)
def _take_steps_kernel(out, x, steps):
    N, C = out.shape
    k = cuda.grid(1)
    if k < N * C:
        out[k // C, k % C] = x[k // C, k % C, steps[k // C]]


def take_steps_cuda(out, x, steps):
    _take_steps_kernel[launch(out.size)](out, x, steps)


@cuda.jit(**CUDA)
def _scatter_steps_kernel(dx, dout, steps):
    N, C, T = dx.shape
    k = cuda.grid(1)
    if k >= N * C * T:
        return
    n = k // (C * T)
    c = k // T % C
    t = k % T
    # forward: out[n, c] = x[n, c, steps[n]], so only that step of x receives a gradient
    dx[n, c, t] = dout[n, c] if t == steps[n] else 0.0


def scatter_steps_cuda(dx, dout, steps):
    _scatter_steps_kernel[launch(dx.size)](dx, dout, steps)


@cuda.jit(**CUDA)
def _window_kernel(out, x, start):
    N, C, T_out = out.shape
    T_x = x.shape[2]
    k = cuda.grid(1)
    if k >= N * C * T_out:
        return
    n = k // (C * T_out)
    c = k // T_out % C
    t = k % T_out
    s = start + t
    out[n, c, t] = x[n, c, s] if 0 <= s < T_x else 0.0


def window_cuda(out, x, start):
    _window_kernel[launch(out.size)](out, x, start)


@cuda.jit(**CUDA)
def _scale_channels_kernel(y, x, mask):
    N, C, T = y.shape
    k = cuda.grid(1)
    if k < N * C * T:
        y[k // (C * T), k // T % C, k % T] = x[k // (C * T), k // T % C, k % T] * mask[k // (C * T), k // T % C]


def scale_channels_cuda(y, x, mask):
    _scale_channels_kernel[launch(y.size)](y, x, mask)


@cuda.jit(**CUDA)
def _weight_norm_kernel(W, g, v):
    """One thread per output channel o: ||v[o]||, then the row W[o] = g[o] v[o] / ||v[o]|| (C_in*K entries)."""
    C_out, C_in, K = v.shape
    o = cuda.grid(1)
    if o >= C_out:
        return
    sq = 0.0
    for i in range(C_in):
        for j in range(K):
            sq += v[o, i, j] * v[o, i, j]
    norm = math.sqrt(sq)
    for i in range(C_in):
        for j in range(K):
            W[o, i, j] = g[o, 0, 0] * v[o, i, j] / norm


def weight_norm_cuda(W, g, v):
    _weight_norm_kernel[launch(v.shape[0])](W, g, v)


@cuda.jit(**CUDA)
def _weight_norm_backward_kernel(dg, dv, dW, g, v):
    """One thread per output channel o. Forward: W[o] = g[o] u, u = v[o] / ||v[o]||. So dg[o] = <dW[o], u>, and
    dv[o] = (g[o] / ||v[o]||) (dW[o] - u dg[o]) (the part of dW along u is what g already takes)."""
    C_out, C_in, K = v.shape
    o = cuda.grid(1)
    if o >= C_out:
        return
    sq = 0.0
    dot = 0.0
    for i in range(C_in):
        for j in range(K):
            sq += v[o, i, j] * v[o, i, j]
            dot += dW[o, i, j] * v[o, i, j]
    norm = math.sqrt(sq)
    dg_o = dot / norm
    dg[o, 0, 0] = dg_o
    for i in range(C_in):
        for j in range(K):
            dv[o, i, j] = (g[o, 0, 0] / norm) * (dW[o, i, j] - v[o, i, j] * (dg_o / norm))


def weight_norm_backward_cuda(dg, dv, dW, g, v):
    _weight_norm_backward_kernel[launch(v.shape[0])](dg, dv, dW, g, v)


#: op name -> CUDA twin, for every op of kernels.TWINS and kernels.arrays.PLUMBING
CUDA_TWINS = {name[:-len("_cuda")]: fn for name, fn in sorted(globals().items()) if name.endswith("_cuda")}
#: op name -> its one-thread-per-output CUDA kernel, beside the fast one of CUDA_TWINS: the formula, and the oracle
#: of the fast kernels on a GPU (tests/test_cuda.py)
CUDA_REFERENCES = {name[:-len("_reference")]: fn for name, fn in sorted(globals().items())
                   if name.endswith("_reference")}


def model_kernels():
    """op -> the CUDA twin a model runs (pytcn.runtime.backends): the fast kernels on a GPU. In numba-cuda's simulator,
    the reference kernels instead. The simulator runs one Python thread per CUDA thread, so its cost is Python's per
    operation; a tiled kernel spends operations on staging and on the unused rows of partial tiles to save memory
    traffic a simulator does not have, and ran a tiny model's training step 6 to 10 times slower there (6.3 and 11 s
    with two tile sizes, against 1.1 s). The fast kernels are tested in the simulator op by op, and in a model
    (tests/test_cuda.py)."""
    return CUDA_TWINS | CUDA_REFERENCES if numba.config.ENABLE_CUDASIM else CUDA_TWINS
