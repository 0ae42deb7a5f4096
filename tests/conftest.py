"""Test-session setup that must happen before Numba is imported.

Without a GPU, the CUDA tests (tests/test_cuda.py) run the kernels of kernels/gpu.py in numba-cuda's simulator, which
Numba only enables when NUMBA_ENABLE_CUDASIM=1 is set before it is first imported; so it is set here, unless the
machine has an NVIDIA driver (/dev/nvidiactl), where the same tests run on the GPU at full size. Setting the
variable yourself (0 or 1) overrides this choice.
"""
import os

if "NUMBA_ENABLE_CUDASIM" not in os.environ and not os.path.exists("/dev/nvidiactl"):
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
