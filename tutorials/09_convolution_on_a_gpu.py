# %% [markdown]
# # The causal convolution on a GPU
#
# Tutorial 02 took the causal dilated convolution from its formula to the NumPy twin and the Numba CPU kernel.
# This one reads its CUDA kernel (CUDA: NVIDIA's way of programming its GPUs; `kernels/cuda/conv.py`, written with
# numba-cuda) beside the formula, runs it, then
# reads the tiled kernel a GPU runs for speed (`kernels/cuda/tiled.py`), and trains a model with `backend="cuda"`. The
# CUDA twin of every CPU kernel is in the file of `kernels/cuda/` named like the CPU one. It needs numba-cuda
# (`pip install -e '.[test]'` or `'.[cuda]'`). Without an NVIDIA GPU it runs in numba-cuda's simulator, which
# executes every CUDA thread as a Python thread: slow, so the sizes here are tiny, but the arithmetic is the GPU's.
# Its sizes are already small, so `PYTCN_QUICK` only sends the figure to a temporary folder.

# %%
import os

if not os.path.exists("/dev/nvidiactl"):  # no NVIDIA driver here: use the simulator (set before Numba is imported)
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import importlib.util
import inspect

import matplotlib.pyplot as plt
import numpy as np

if importlib.util.find_spec("numba_cuda") is None:
    raise ModuleNotFoundError("this tutorial needs numba-cuda: pip install -e '.[test]' (or '.[cuda]' with a GPU)")

import pytcn
from pytcn import kernels
from pytcn.course import figure_path, repository_path
from pytcn.kernels import cuda as cuda_kernels

simulated = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
print("running on", "numba-cuda's simulator" if simulated else "the GPU")

# %% [markdown]
# ## 1. One thread per output element
#
# The CPU kernel walks over rows of `y` with loops that the compiler vectorises. A GPU runs thousands of threads
# at once, so its kernel is written for *one* output element: thread `k` computes flat element `k` of
# `y: (N, C_out, T)`, the sum over input channels and taps of the formula
#
#     y[n, o, t] = b[o] + sum_{i, j} W[o, i, j] * x[n, i, t - (K-1-j)*d]      (x = 0 before t = 0)
#
# Here is the kernel's source, the loop body of the formula with the thread's index in place of the outer loops:

# %%
print(inspect.getsource(cuda_kernels.conv._conv_forward_kernel.py_func))

# %% [markdown]
# Consecutive threads take consecutive `t`, so the 32 threads of a warp (the group of 32 threads a GPU runs in lock
# step, one instruction for all) read neighbouring elements of `x`. That takes a few memory transactions (fetches of one
# aligned 128-byte line of GPU memory each: one or two for 32 float32 elements, two or three for 32 float64 ones, which
# fill 256 bytes, more where they cross into the next row of `x`) instead of 32. `launch` gives enough blocks of
# `CUDA_THREADS` threads to cover the output (a thread block, a group of threads launched together that can share fast
# on-chip memory, has nothing to do with a residual block):

# %%
print(inspect.getsource(cuda_kernels.launch))
N, C_in, C_out, T, K, d = 2, 3, 4, 10, 3, 2
blocks, threads = cuda_kernels.launch(N * C_out * T)
print("y has", N * C_out * T, "elements: launch gives (blocks, threads per block) =", (blocks, threads))
assert blocks * threads >= N * C_out * T > (blocks - 1) * threads  # every element a thread, no block idle

# %% [markdown]
# The figure draws this for a small output with blocks of 16 threads (pytcn launches blocks of `CUDA_THREADS`):
# on the left, every element of y (one row per sequence and channel) coloured by the block whose thread computes
# it; on the right, the elements of x that 8 consecutive threads read for one tap: 8 neighbouring addresses, one
# read for the whole group.

# %%
def thread_of(n, o, t, C_out, T):
    """The flat index k of y[n, o, t], the thread that computes it (the kernel's k = (n * C_out + o) * T + t)."""
    return (n * C_out + o) * T + t


draw_N, draw_C, draw_T, draw_threads = 2, 3, 24, 16
owner = np.array([[thread_of(n, o, t, draw_C, draw_T) // draw_threads for t in range(draw_T)]
                  for n in range(draw_N) for o in range(draw_C)])
ks = np.arange(8) + thread_of(0, 1, 8, draw_C, draw_T)  # 8 consecutive threads: y[0, 1, 8..15]
j, dil, i = 1, 2, 0  # tap j of a K = 3 kernel, dilation 2, input channel 0: x[n, i, t - (K-1-j) * d]
reads = [(k // draw_T // draw_C, i, k % draw_T - (3 - 1 - j) * dil) for k in ks]
addresses = [(n * 1 + i) * draw_T + t for n, i, t in reads]  # x's flat index, one input channel here
assert np.all(np.diff(addresses) == 1)  # consecutive threads, consecutive addresses

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 2.8), gridspec_kw=dict(width_ratios=(2, 1.2)))
left.imshow(owner, cmap="tab10", aspect="auto")
for r in range(owner.shape[0]):
    for t in range(draw_T):
        left.text(t, r, owner[r, t], ha="center", va="center", fontsize=6)
left.set_yticks(range(draw_N * draw_C), [f"n={n}, o={o}" for n in range(draw_N) for o in range(draw_C)], fontsize=7)
left.set_xlabel("t")
left.set_title(f"y: the block (of {draw_threads} threads) that computes each element", fontsize=9)
strip = np.zeros((1, draw_T))
strip[0, [t for _, _, t in reads]] = 1
right.imshow(strip, cmap="Greys", aspect="auto", vmin=0, vmax=1.5)
right.set_yticks([])
right.set_xlabel("t of x[0, 0, t]")
right.set_title(f"x read by threads {ks[0]}..{ks[-1]} at tap j = {j} (d = {dil})", fontsize=9)
fig.tight_layout()
fig.savefig(figure_path("09_threads.png"), dpi=100)

# %% [markdown]
# ## 2. Run it, and compare with the NumPy twin
#
# The device is the GPU and its memory, the host the CPU and its RAM. Arrays go to the device with `to_device`; the
# kernel writes `y` there; `copy_to_host` brings it back.
# `conv_forward_reference` launches the kernel above; it has the NumPy twin's signature (outputs first), so the
# comparison is one line.

# %%
rng = np.random.default_rng(0)
x = rng.standard_normal((N, C_in, T))
W = rng.standard_normal((C_out, C_in, K))
b = rng.standard_normal(C_out)

y = np.empty((N, C_out, T))
kernels.conv_forward_numpy(y, x, W, b, d)

dev_y = cuda_kernels.device_array((N, C_out, T), np.float64)
cuda_kernels.conv_forward_reference(dev_y, cuda_kernels.to_device(x), cuda_kernels.to_device(W),
                                    cuda_kernels.to_device(b), d)
print("CUDA vs NumPy twin, largest difference:", np.abs(dev_y.copy_to_host() - y).max())
assert np.allclose(dev_y.copy_to_host(), y, rtol=1e-12, atol=1e-12)

# %% [markdown]
# ## 3. The weight gradient: one thread per weight
#
# `dW[o, i, j] = sum_{n, t} dy[n, o, t] x[n, i, t - (K-1-j)*d]` is a sum over every sequence and step, so the thread
# of `dW[o, i, j]` loops over all of them, adding in float64 and always in the same order: a GPU run gives the same
# bits every time.

# %%
dy = rng.standard_normal((N, C_out, T))
dW = np.empty_like(W)
kernels.conv_backward_weight_numpy(dW, dy, x, d)
dev_dW = cuda_kernels.device_array(W.shape, np.float64)
cuda_kernels.conv_backward_weight_reference(dev_dW, cuda_kernels.to_device(dy), cuda_kernels.to_device(x), d)
print("weight gradient, CUDA vs NumPy twin:", np.abs(dev_dW.copy_to_host() - dW).max())
assert np.allclose(dev_dW.copy_to_host(), dW, rtol=1e-12, atol=1e-12)
dev_again = cuda_kernels.device_array(W.shape, np.float64)
cuda_kernels.conv_backward_weight_reference(dev_again, cuda_kernels.to_device(dy), cuda_kernels.to_device(x), d)
assert np.array_equal(dev_again.copy_to_host(), dev_dW.copy_to_host())  # the same bits again

# %% [markdown]
# ## 4. Tiles in shared memory: the kernels a GPU runs
#
# The kernels above are clear, and slow. The thread of `y[n, o, t]` reads `C_in * K` inputs and as many weights from
# global memory (the GPU's large main memory, which every thread sees and which is slow to reach), and its neighbours
# along `o` read the same inputs again; the thread of `dW[o, i, j]` adds all `N * T` terms alone, while a small TCN has
# only a few thousand weights to give threads to. pytcn keeps them as the reference (`CUDA_REFERENCES`, the oracle of
# the tests on a GPU) and runs faster kernels beside them, in `kernels/cuda/tiled.py` (`CUDA_TWINS`, what a model with
# `backend="cuda"` runs):
#
# - **The forward and the input gradient** are, for each tap `j`, a matrix product: `W[:, :, j]` times the input
#   shifted by `(K-1-j)*d`. A block of 256 threads computes a tile of 32 channels by 64 steps. Together its threads
#   copy 16 input channels of the shifted window, and the weights they meet, into *shared memory* (on the chip,
#   shared by the block), wait for each other (`cuda.syncthreads()`), and each adds its 2 x 4 outputs from there,
#   keeping them in registers. The bias and the ReLU are applied to the registers before the one write.
# - **The weight gradient** is one matrix product whose inner sum runs over all `(n, t)`. It is cut into chunks,
#   one block per (tile of weights, chunk); a second kernel adds the chunks' partial sums, always in chunk order.
# - **The bias gradient** is one block per channel: each thread adds every 256th term, then the 256 sums meet in a
#   tree in shared memory (added in pairs, halving their number at each round).
#
# Here is the tiled kernel of the forward and the input gradient (a function of the tile sizes builds it: shared
# arrays need sizes known when the kernel compiles; `gemm`, general matrix-matrix multiply, is the usual name of a
# matrix product kernel):

# %%
print(inspect.getsource(cuda_kernels.tiled._tap_gemm_kernel))

# %% [markdown]
# How many reads of global memory does a tile save? For each tap and input channel, the reference kernel reads one
# input and one weight per output. A tile reads `T_TILE` inputs and `P_TILE` weights and makes `P_TILE * T_TILE`
# outputs' worth of multiply-adds from them:

# %%
tiles = cuda_kernels.tiled.CONV_TILES
P_TILE, T_TILE = tiles.ROWS * tiles.PER_ROW, tiles.COLS * tiles.PER_COL
reads_per_output = (P_TILE + T_TILE) / (P_TILE * T_TILE)
print(f"tiles of {P_TILE} x {T_TILE}: {reads_per_output:.3f} reads per output and tap-channel, against 2: "
      f"{2 / reads_per_output:.0f} times fewer")
assert round(2 / reads_per_output) == 43
assert (P_TILE, T_TILE, tiles.ROWS * tiles.COLS, tiles.PER_ROW, tiles.PER_COL, tiles.DEPTH) == (32, 64, 256, 2, 4, 16)

# %% [markdown]
# The tiled kernels compute what the NumPy twins compute, with the tile sizes a GPU runs and with small ones: tiles
# of 4 x 9 outputs, 6 threads, channels staged 5 at a time, so that even these small shapes cover several tiles, a
# partial last tile, and a staging whose elements do not divide among the threads (the simulator's speed is Python's,
# whatever the tiles). The weight gradient is also cut into chunks of 7 terms, and gives the same bits every run.

# %%
small = cuda_kernels.tiled.Tiles(ROWS=2, COLS=3, PER_ROW=2, PER_COL=3, DEPTH=5)
x6 = rng.standard_normal((N, 6, T))
W6 = rng.standard_normal((C_out, 6, K))
y6 = np.empty((N, C_out, T))
kernels.conv_relu_forward_numpy(y6, x6, W6, b, d)
dW6 = np.empty_like(W6)
kernels.conv_backward_weight_numpy(dW6, dy, x6, d)
for name, tile_sizes in [("the GPU's", cuda_kernels.tiled.CONV_TILES), ("small", small)]:
    dev_y6 = cuda_kernels.device_array(y6.shape, np.float64)
    cuda_kernels.conv_relu_forward_cuda(dev_y6, cuda_kernels.to_device(x6), cuda_kernels.to_device(W6),
                                        cuda_kernels.to_device(b), d, tiles=tile_sizes)
    print(f"tiled forward with {name} tiles, vs NumPy twin:", np.abs(dev_y6.copy_to_host() - y6).max())
    assert np.allclose(dev_y6.copy_to_host(), y6, rtol=1e-12, atol=1e-12)
runs = []
for _ in range(2):
    dev_dW6 = cuda_kernels.device_array(W6.shape, np.float64)
    cuda_kernels.conv_backward_weight_cuda(dev_dW6, cuda_kernels.to_device(dy), cuda_kernels.to_device(x6), d,
                                           tiles=small, chunk=7)
    runs.append(dev_dW6.copy_to_host())
print(f"weight gradient in {-(-N * T // 7)} chunks, vs NumPy twin:", np.abs(runs[0] - dW6).max())
assert np.allclose(runs[0], dW6, rtol=1e-12, atol=1e-12)
assert np.array_equal(runs[0], runs[1])  # the same bits every run

# %% [markdown]
# ## 5. A model on the GPU
#
# `backend="cuda"` puts the parameters, their gradients, Adam's moments (its m and v) and every activation (a layer's
# output, kept for the backward pass) on the device. The
# same seed draws the same initial weights on every backend, so the two models below start equal, and after a few
# training steps they still agree to rounding.
#
# Which convolutions the model runs is an argument of its backend, never a setting read behind it. The name
# `backend="cuda"` gives the tiled kernels of section 4, what a GPU should run; `pytcn.cuda_backend(kernels=...)` makes
# the same backend, also called "cuda", on the kernels asked for. This tutorial asks for the tiled ones on a GPU and for
# the references of sections 1-3 in the simulator, which runs them faster: its cost is Python's, per operation, and
# a tiled kernel's staging costs it operations and saves it nothing.

# %%
from pytcn.tasks.adding import adding_problem  # noqa: E402

kernel_choice = "reference" if simulated else "tiled"
print(f"the model on 'cuda' runs the {kernel_choice} convolutions")
arch = dict(input_channels=2, outputs=1, nb_filters=4, kernel_size=2, dilations=[1, 2], dtype=np.float64, seed=0)
models = {"cpu": pytcn.TCN(**arch, backend="cpu"),
          "cuda": pytcn.TCN(**arch, backend=pytcn.cuda_backend(kernels=kernel_choice))}
optimizers = {backend: pytcn.Adam(model.params, lr=1e-2) for backend, model in models.items()}
for step in range(3):
    x_batch, y_batch = adding_problem(4, 12, np.random.default_rng(step))
    for backend, model in models.items():
        loss, dprediction = pytcn.mse(model.forward(x_batch, training=True), y_batch)
        model.backward(dprediction)
        optimizers[backend].step(model.grads)
        print(f"training step {step}, {backend:4s}: loss {loss:.10f}")
cpu_weights, cuda_weights = models["cpu"].state_dict(), models["cuda"].state_dict()
difference = max(np.abs(cpu_weights[k] - cuda_weights[k]).max() for k in cpu_weights)
print("largest weight difference after 3 training steps:", difference)
assert difference < 1e-10

# %% [markdown]
# ## 6. How fast, on a real GPU?
#
# Not measured yet. The tiled kernels were written and checked on machines without a GPU (here, in the simulator,
# whose speed says nothing about a GPU's); `bash benchmarks/run_on_gpu.sh` times them beside PyTorch on a GPU, and
# `benchmarks/gpu_results.md` holds what it measured. This cell reads that file, and fails once it has figures, so
# that this section shows them instead of this sentence.

# %%
with open(repository_path("benchmarks", "gpu_results.md")) as f:
    gpu_results = f.read()
measured = "**Not measured yet.**" not in gpu_results
print("the CUDA backend's speed on a GPU:", "in benchmarks/gpu_results.md" if measured else "not measured yet")
assert not measured, "benchmarks/gpu_results.md has figures now: show them in this section"

# %% [markdown]
# ## Summary
#
# A reference CUDA kernel is the formula's loop body, run by one thread per output element; its twin in NumPy is the
# oracle, as on the CPU. The tiled kernels beside it compute the same from shared memory. `tests/test_kernels.py` runs
# every kernel property test (a test checked on many randomly drawn problems) on the CUDA kernels too,
# `tests/test_cuda.py` checks the tiled kernels with small and full tiles, and whole models against the CPU. `python
# benchmarks/gpu.py` times a training step on a real GPU.
#
# - One thread per output element, consecutive threads on consecutive steps: the reads of a warp are neighbours.
# - A tile's threads stage what they share in shared memory: 43 times fewer reads of global memory per output.
# - The weight gradient is split over blocks and chunks, and added in a fixed order: the same bits every run.
# - The CUDA kernels agree with the NumPy twins to roundoff, and a model trains the same on either backend.
# - Which kernels a model runs is an argument: `backend="cuda"` runs the tiled ones, `pytcn.cuda_backend(kernels=
#   "reference")` the formulas.
#
# ## References
#
# - Numba's CUDA target, https://numba.readthedocs.io/en/stable/cuda/index.html (now the numba-cuda package): the
#   kernels' language: threads, blocks, shared memory.
# - NVIDIA, *CUDA C++ Programming Guide*, https://docs.nvidia.com/cuda/cuda-c-programming-guide/: coalesced global
#   memory accesses and shared memory.
#
# ## Exercises
#
# 1. How many blocks does `launch` give for a batch of 64 sequences of 1000 steps through a layer of 32 channels?
# 2. Why would the weight gradient, summed by many threads adding into one number at once (atomic additions), not
#    give the same bits on every run? Show it with three float32 numbers.
# 3. How many blocks does the tiled forward kernel launch for blog's first layer (32 sequences, 20 channels, 600
#    steps) with `CONV_TILES`?
#
# Solutions below (folded in the rendered site).

# %% tags=["hide-cell"]
# Solution 1: 64 * 32 * 1000 = 2,048,000 elements, one thread each, in blocks of CUDA_THREADS
blocks, threads = cuda_kernels.launch(64 * 32 * 1000)
assert blocks == -(-2_048_000 // threads)
print(f"{blocks} blocks of {threads} threads")

# Solution 2: atomics add in whatever order the threads arrive, and floating-point addition is not associative
big, minus_big, one = np.float32(1e8), np.float32(-1e8), np.float32(1.0)
assert (big + minus_big) + one != big + (minus_big + one)  # 1.0 against 0.0

# Solution 3: one block per tile of 32 channels x 64 steps, per sequence: 1 x 10 x 32
tiles = cuda_kernels.tiled.CONV_TILES
tile_rows, tile_steps = tiles.ROWS * tiles.PER_ROW, tiles.COLS * tiles.PER_COL
n_blocks = -(-20 // tile_rows) * -(-600 // tile_steps) * 32
assert n_blocks == 320
print(f"{n_blocks} blocks of {tiles.ROWS * tiles.COLS} threads")
