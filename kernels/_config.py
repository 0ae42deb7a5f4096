"""The one place where the Numba options of every kernel are chosen.

Every ``@njit`` in ``kernels/`` takes its options from here (a test checks it), so that a change of policy is made
once and read once.

- ``cache=True``: the compiled machine code is stored next to the source (``__pycache__``), so a second process
  loads it in milliseconds instead of compiling again (1-2 s per kernel cold).
- ``parallel=True`` (only in ``PARALLEL``): ``prange`` loops are split over Numba's thread pool. Kernels that run
  in parallel give every thread its own slice of the output, so no two threads ever add into the same element.
- ``fastmath=FASTMATH``: the float32 reductions of the weight and bias gradients only vectorise when LLVM may
  reassociate sums (without it they ran 10-13x slower on the 2-core VMs pytcn is measured on). The set leaves out
  ``nnan`` and ``ninf`` on purpose: a NaN or an infinity in the data must come out of a kernel as NaN or infinity,
  never be optimised away, so that the training loop can see it.
- ``pipeline_class=NoAliasCompiler`` (only in ``SERIAL_NOALIAS``): the convolution's passes over time are compiled
  with their array arguments declared apart, which spares LLVM a check before every pass (why and what it gained:
  the class's docstring).
"""

from numba.core import compiler

FASTMATH = {"reassoc", "contract", "arcp", "nsz"}

SERIAL = dict(cache=True, fastmath=FASTMATH)
# inline="always": Numba copies the function into its caller before compiling. For the row helpers of the blocked
# forward convolution (kernels/conv.py), called from its parallel loop: 20-25% faster than the same code called as
# a function (measured on the blog and locuslab_adding shapes, 2 threads, against the commit that had it written
# inline). The input-gradient helpers gain nothing from it and are left as calls.
SERIAL_INLINED = dict(SERIAL, inline="always")
PARALLEL = dict(cache=True, fastmath=FASTMATH, parallel=True)


class NoAliasCompiler(compiler.Compiler):
    """Numba's own compiler, with every array argument of the function declared not to overlap any other (LLVM's
    ``noalias``, C's ``restrict``), through the ``pipeline_class`` argument of ``njit``.

    Why: a loop that stores into some rows and loads from others is vectorised by LLVM only after a check, at run
    time, that none of the stored rows overlaps another row of the loop. Rows that are views of the caller's arrays
    give it nothing to prove this from, so the check runs before every pass over time. In the convolution's pass of
    four rows by four (channel, tap) pairs (kernels/conv.py) it is some twenty comparisons of addresses, their
    results spilled to the stack and read back: about 200 instructions before each pass of a thousand steps. With
    the pass compiled on its own with this compiler, LLVM drops the check. Measured on wide's layer (16 x 128 ->
    128 channels, K 3, T 1024, float32), against the pass inlined as before: forward 11.6% faster, input gradient
    5.8%, the same bits (the geometric mean over d = 1 ... 256; 2-vCPU AMD EPYC, 2026-12-07).

    The promise it makes: a function compiled with it is never called with an array that it writes overlapping
    another of its array arguments. Broken, the results are undefined (C's ``restrict`` rules). The kernels that call
    such a function refuse an output that overlaps its input (kernels/conv.py, ``overlap``), and their scratch rows
    never overlap."""

    def __init__(self, typingctx, targetctx, library, args, return_type, flags, locals):
        flags.noalias = True  # the flag Numba sets itself for a parallel loop's body whose arrays it proves apart
        super().__init__(typingctx, targetctx, library, args, return_type, flags, locals)


# SERIAL, for the functions holding the convolution's passes over time, compiled with the promise above and never
# inlined (inlined, the promise would be lost with the function's own arguments)
SERIAL_NOALIAS = dict(SERIAL, pipeline_class=NoAliasCompiler)

# CUDA (kernels/cuda/). One thread per output element, in blocks of CUDA_THREADS: a multiple of the warp size (32)
# large enough to hide memory latency on every GPU since 2016, small enough that the short rows of a small TCN
# still fill many blocks. A sum over a whole array (a loss, the gradient norm) gives each thread about CUDA_SUM_CHUNK
# elements, and then one thread adds the threads' sums. Both are used on the host, to size launches and buffers.
# cache=True keeps the compiled PTX on disk, as for the CPU kernels. No fastmath: CUDA's fast-math replaces
# division and square root by approximations, which Adam's update and the weight normalisation would feel.
CUDA_THREADS = 128
CUDA_SUM_CHUNK = 256
# The fast weight gradient (kernels/cuda/tiled.py) splits its long sum over (n, t) into chunks, each a block of
# threads, until about this many blocks run: an H100 or H200 has 132 multiprocessors, each holding several blocks of
# 256 threads, and a GPU is only busy with a few blocks waiting on each while others compute. More chunks cost a second
# pass over more partial sums. A constant of the shapes, not of the GPU it runs on, so that results are the same bits
# on every GPU.
CUDA_TARGET_BLOCKS = 512
CUDA = dict(cache=True)
CUDA_DEVICE = dict(CUDA, device=True)  # a function a kernel calls on the GPU (a row's loss), not a launch
