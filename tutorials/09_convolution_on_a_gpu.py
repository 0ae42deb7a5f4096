# %% [markdown]
# # The causal convolution on a GPU
#
# Tutorial 02 took the causal dilated convolution from its formula to the NumPy twin and the Numba CPU kernel.
# This one reads its CUDA kernel (`kernels/gpu.py`, written with numba-cuda) beside the formula, runs it, and trains
# a model with `backend="cuda"`. It needs numba-cuda (`pip install -e '.[test]'` or `'.[cuda]'`). Without an NVIDIA
# GPU it runs in numba-cuda's simulator, which executes every CUDA thread as a Python thread: slow, so the sizes
# here are tiny, but the arithmetic is the GPU's.

# %%
import os

if not os.path.exists("/dev/nvidiactl"):  # no NVIDIA driver here: use the simulator (set before Numba is imported)
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import importlib.util
import inspect
import sys

import numpy as np

if importlib.util.find_spec("numba_cuda") is None:
    sys.exit("this tutorial needs numba-cuda: pip install -e '.[test]' (or '.[cuda]' on a machine with a GPU)")

import pytcn
from pytcn import kernels
from pytcn.kernels import gpu

print("running on", "numba-cuda's simulator" if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" else "the GPU")

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
print(inspect.getsource(gpu._conv_forward_kernel.py_func))

# %% [markdown]
# Consecutive threads take consecutive `t`, so the 32 threads of a warp read 32 neighbouring elements of `x`: one
# memory transaction instead of 32. `launch` gives enough blocks of `CUDA_THREADS` threads to cover the output:

# %%
print(inspect.getsource(gpu.launch))
N, C_in, C_out, T, K, d = 2, 3, 4, 10, 3, 2
print("y has", N * C_out * T, "elements: launch gives (blocks, threads per block) =", gpu.launch(N * C_out * T))

# %% [markdown]
# ## 2. Run it, and compare with the NumPy twin
#
# Arrays go to the device with `to_device`; the kernel writes `y` there; `copy_to_host` brings it back. The CUDA
# twin has the NumPy twin's signature (outputs first), so the comparison is one line.

# %%
rng = np.random.default_rng(0)
x = rng.standard_normal((N, C_in, T))
W = rng.standard_normal((C_out, C_in, K))
b = rng.standard_normal(C_out)

y = np.empty((N, C_out, T))
kernels.conv_forward_numpy(y, x, W, b, d)

dev_y = gpu.device_array((N, C_out, T), np.float64)
gpu.conv_forward_cuda(dev_y, gpu.to_device(x), gpu.to_device(W), gpu.to_device(b), d)
print("CUDA vs NumPy twin, largest difference:", np.abs(dev_y.copy_to_host() - y).max())

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
dev_dW = gpu.device_array(W.shape, np.float64)
gpu.conv_backward_weight_cuda(dev_dW, gpu.to_device(dy), gpu.to_device(x), d)
print("weight gradient, CUDA vs NumPy twin:", np.abs(dev_dW.copy_to_host() - dW).max())

# %% [markdown]
# ## 4. A model on the GPU
#
# `backend="cuda"` puts the parameters, their gradients, Adam's moments and every activation on the device. The
# same seed draws the same initial weights on every backend, so the two models below start equal, and after a few
# training steps they still agree to rounding.

# %%
from pytcn.tasks.adding import adding_problem  # noqa: E402

arch = dict(input_channels=2, outputs=1, nb_filters=4, kernel_size=2, dilations=[1, 2], dtype=np.float64, seed=0)
models = {backend: pytcn.TCN(**arch, backend=backend) for backend in ("cpu", "cuda")}
optimizers = {backend: pytcn.Adam(model.params, lr=1e-2) for backend, model in models.items()}
for step in range(3):
    x_batch, y_batch = adding_problem(4, 12, np.random.default_rng(step))
    for backend, model in models.items():
        loss, dprediction = pytcn.mse(model.forward(x_batch, training=True), y_batch)
        model.backward(dprediction)
        optimizers[backend].step(model.grads)
        print(f"step {step}, {backend:4s}: loss {loss:.10f}")
cpu_weights, cuda_weights = models["cpu"].state_dict(), models["cuda"].state_dict()
difference = max(np.abs(cpu_weights[k] - cuda_weights[k]).max() for k in cpu_weights)
print("largest weight difference after 3 steps:", difference)

# %% [markdown]
# ## Summary
#
# A CUDA kernel here is the formula's loop body, run by one thread per output element; its twin in NumPy is the
# oracle, as on the CPU. `tests/test_kernels.py` runs every kernel property test on the CUDA kernels too, and
# `tests/test_cuda.py` checks whole models against the CPU. `python benchmarks/gpu.py` times a step on a real GPU.
