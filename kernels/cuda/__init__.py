"""CUDA twins of every kernel, written with numba-cuda, to be read beside the CPU loops they mirror: one file here per
file of ``kernels/``, named like it (``kernels/cuda/norm.py`` twins ``kernels/norm.py``), the tiled convolutions a GPU
runs in ``tiled.py`` beside the one-thread-per-output ones of ``conv.py``, and what every file shares (launch sizes,
device arrays, the sums of whole arrays) in ``_device.py``.

Import this package only where numba-cuda is installed (``pip install -e '.[cuda]'``); ``pytcn.runtime.backends`` does
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
  the *reference* convolution and linear kernels (``CUDA_REFERENCES``, in ``conv.py`` and ``linear.py``):
  ``conv._conv_forward_kernel`` is the formula of the convolution, one output per thread, every operand read from
  global memory. They are kept as the clearest statement of each formula, and as the oracle of the fast kernels on a
  GPU (tests/test_cuda.py).
- **Tiles in shared memory** (the fast convolutions of ``tiled.py``, in ``CUDA_TWINS``). A block of 256 threads
  computes a tile of outputs: its threads copy the inputs the tile needs into shared memory together, wait for each
  other, and each computes several outputs from there, keeping them in registers. The forward convolution and its
  input gradient are one matrix product per tap; the weight gradient is one matrix product whose long inner sum over
  (n, t) is split into chunks, one block per (tile, chunk), whose partial sums a second kernel adds in chunk order;
  the bias gradient is one block per channel, its threads' sums meeting in a tree. ``tiled._tap_gemm_kernel`` and
  the functions after it explain the tile sizes.
- **A sum over a whole array** (a loss, the gradient norm; ``_device.py``) in two launches: each of P threads adds
  every P-th element into its partial sum (P = size / ``CUDA_SUM_CHUNK``), then a single thread adds the P partial
  sums.

Every sum is added in the same order on every run (no atomics), so training on the GPU is reproducible bit for bit.
Float32 models add in float32 where the CPU kernels do (the convolutions and their gradients within a chunk), in
float64 where they do (the losses, the norms' statistics; the weight gradient's chunks are added in float64). The
temporary arrays of the partial sums are made once per shape and reused (``_scratch``).

Kernels read no module globals (Numba would freeze their values into the cached code): sizes come in as arguments,
except the tile sizes of the fast kernels, which size shared arrays and so must be constants: each fast kernel is
built by a function of its Tiles, cached, whose constants they are.

Nothing here chooses which kernels a model runs: ``pytcn.runtime.backends.cuda_backend`` takes the choice as an
argument (the tiled kernels of ``CUDA_TWINS``, or the references of ``CUDA_REFERENCES`` in their place).
"""
from ._device import device_array, launch, to_device, to_host  # noqa: F401 (device arrays, for pytcn.runtime.backends)
from .adam import adam_update_cuda
from .arrays import (
    add_cuda,
    copy_cuda,
    fill_cuda,
    mean_steps_cuda,
    scale_channels_cuda,
    scale_cuda,
    scatter_steps_cuda,
    sgd_update_cuda,
    spread_steps_cuda,
    sum_squares_cuda,
    take_steps_cuda,
    transpose_cuda,
    weight_norm_backward_cuda,
    weight_norm_cuda,
    window_cuda,
)
from .conv import (
    conv_backward_bias_reference,
    conv_backward_input_add_reference,
    conv_backward_input_reference,
    conv_backward_weight_reference,
    conv_forward_reference,
    conv_relu_forward_reference,
)
from .dropout import scale_elements_cuda
from .linear import linear_backward_cuda, linear_backward_reference, linear_forward_cuda
from .losses import masked_mse_cuda, masked_softmax_cross_entropy_cuda, mse_cuda, softmax_cross_entropy_cuda
from .norm import (
    batch_norm_backward_cuda,
    batch_norm_forward_cuda,
    batch_norm_statistics_cuda,
    layer_norm_backward_cuda,
    layer_norm_forward_cuda,
)
from .relu import (
    add_relu_forward_cuda,
    relu_backward_cuda,
    relu_bias_backward_cuda,
    relu_bias_backward_reference,
    relu_forward_cuda,
)
from .rmsprop import rmsprop_update_cuda
from .stream import conv_step_cuda
from .tiled import (
    conv_backward_bias_cuda,
    conv_backward_input_add_cuda,
    conv_backward_input_cuda,
    conv_backward_weight_cuda,
    conv_forward_cuda,
    conv_relu_forward_cuda,
)

#: op name -> CUDA twin, for every op of kernels.TWINS and kernels.arrays.PLUMBING (in their order)
CUDA_TWINS = {
    # kernels.TWINS
    "conv_forward": conv_forward_cuda,
    "conv_relu_forward": conv_relu_forward_cuda,
    "conv_backward_input": conv_backward_input_cuda,
    "conv_backward_input_add": conv_backward_input_add_cuda,
    "conv_backward_weight": conv_backward_weight_cuda,
    "conv_backward_bias": conv_backward_bias_cuda,
    "conv_step": conv_step_cuda,
    "relu_forward": relu_forward_cuda,
    "scale_elements": scale_elements_cuda,
    "relu_backward": relu_backward_cuda,
    "relu_bias_backward": relu_bias_backward_cuda,
    "add_relu_forward": add_relu_forward_cuda,
    "linear_forward": linear_forward_cuda,
    "linear_backward": linear_backward_cuda,
    "mse": mse_cuda,
    "softmax_cross_entropy": softmax_cross_entropy_cuda,
    "masked_mse": masked_mse_cuda,
    "masked_softmax_cross_entropy": masked_softmax_cross_entropy_cuda,
    "adam_update": adam_update_cuda,
    "rmsprop_update": rmsprop_update_cuda,
    "layer_norm_forward": layer_norm_forward_cuda,
    "layer_norm_backward": layer_norm_backward_cuda,
    "batch_norm_statistics": batch_norm_statistics_cuda,
    "batch_norm_forward": batch_norm_forward_cuda,
    "batch_norm_backward": batch_norm_backward_cuda,
    # kernels.arrays.PLUMBING
    "fill": fill_cuda,
    "copy": copy_cuda,
    "add": add_cuda,
    "scale": scale_cuda,
    "sum_squares": sum_squares_cuda,
    "transpose": transpose_cuda,
    "take_steps": take_steps_cuda,
    "scatter_steps": scatter_steps_cuda,
    "mean_steps": mean_steps_cuda,
    "spread_steps": spread_steps_cuda,
    "window": window_cuda,
    "scale_channels": scale_channels_cuda,
    "weight_norm": weight_norm_cuda,
    "weight_norm_backward": weight_norm_backward_cuda,
    "sgd_update": sgd_update_cuda,
}

#: op name -> its one-thread-per-output CUDA kernel, beside the fast one of CUDA_TWINS: the formula, and the oracle
#: of the fast kernels on a GPU (tests/test_cuda.py)
CUDA_REFERENCES = {
    "conv_forward": conv_forward_reference,
    "conv_relu_forward": conv_relu_forward_reference,
    "conv_backward_input": conv_backward_input_reference,
    "conv_backward_input_add": conv_backward_input_add_reference,
    "conv_backward_weight": conv_backward_weight_reference,
    "conv_backward_bias": conv_backward_bias_reference,
    "relu_bias_backward": relu_bias_backward_reference,
    "linear_backward": linear_backward_reference,
}
