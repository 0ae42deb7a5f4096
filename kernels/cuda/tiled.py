"""The fast CUDA twins of kernels/conv.py: the convolution, its input, weight and bias gradients in tiles of shared
memory (``CUDA_TWINS``, what a model runs on a GPU).

The kernels of ``conv.py`` are the formulas, one thread per output; these compute the same outputs in blocks of threads
that share what they read through shared memory (on-chip, about 100 times faster to read than global memory), and keep
several outputs each in registers. Each is built by a function of its tile sizes: shared and local arrays must have
sizes known when the kernel compiles. The sizes pytcn runs are the Tiles below; the tests also build small ones, which
reach every leftover branch on the simulator's small shapes. ``linear.py`` runs the head's weight and bias gradients
through the kernels here.

Layout as in kernels/conv.py, channels before time: x (N, C_in, T), W (C_out, C_in, K), b (C_out,), y (N, C_out, T).
"""
import functools
import math
from typing import NamedTuple

from numba import cuda

from .._config import CUDA, CUDA_TARGET_BLOCKS
from ._device import _flat, _scratch, launch
from .arrays import add_cuda


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


def conv_backward_input_add_cuda(dx, dy, W, d, addend):
    """dx = addend + conv_backward_input_cuda's dx, as two launches. The CPU kernel starts its sums from the addend to
    save a pass over memory (kernels/conv.py); here the same fusion waits until the CUDA backend's speed has been
    measured on a GPU."""
    conv_backward_input_cuda(dx, dy, W, d)
    add_cuda(dx, dx, addend)


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
