"""Test-session setup that must happen before Numba is imported.

Without a GPU, the CUDA tests (tests/test_cuda.py) run the kernels of kernels/cuda/ in numba-cuda's simulator, which
Numba only enables when NUMBA_ENABLE_CUDASIM=1 is set before it is first imported; so it is set here, unless the
machine has an NVIDIA driver (/dev/nvidiactl), where the same tests run on the GPU at full size. Setting the
variable yourself (0 or 1) overrides this choice.
"""
import importlib.util
import os
import sys
import threading
import traceback
from types import CodeType

import numpy as np
import pytest

if "NUMBA_ENABLE_CUDASIM" not in os.environ and not os.path.exists("/dev/nvidiactl"):
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"


# What a real numba-cuda DeviceNDArray offers. The simulator's stand-in hands every other attribute, and arithmetic, to
# the NumPy array inside it, so NumPy code reaching a device array would pass here and fail on a GPU.
DEVICE_ARRAY_API = {"shape", "strides", "ndim", "size", "dtype", "nbytes", "itemsize", "alloc_size", "copy_to_host",
                    "copy_to_device", "reshape", "ravel", "view", "T", "transpose", "split", "is_c_contiguous",
                    "is_f_contiguous", "flags", "bind", "stream", "gpu_data", "__cuda_array_interface__",
                    "_numba_type_", "device_ctypes_pointer", "getitem", "setitem", "__len__"}
ARITHMETIC = ["__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__", "__mod__", "__pow__", "__iadd__",
              "__isub__", "__imul__", "__itruediv__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
              "__array__", "__array_ufunc__", "__array_function__"]


class BlockBarrier:
    """The syncthreads of one simulated block: every thread waiting at it goes on once all the threads still running
    wait there (a thread that has returned no longer counts), as numba-cuda's simulator decides. The simulator finds
    that moment with a loop on its main thread that checks every thread again and again, holding the GIL the threads
    need to get there (the tests shortened Python's switch interval to 50 us during launches to hand it over
    sooner, and the switching then cost as much again in the kernel). Here the last thread to arrive wakes the
    others: the fast-kernel tests of tests/test_cuda.py took 40 s instead of 99. A thread that fails wakes the others
    too, which then stop, as the simulator stops them."""

    def __init__(self, threads):
        self.condition = threading.Condition()
        self.running = threads
        self.waiting = 0
        self.passed = 0  # how many times the block has met
        self.failed = None  # the first thread that raised

    def wait(self):
        with self.condition:
            if self.failed is None:
                meeting = self.passed
                self.waiting += 1
                self._let_go_if_all_wait()
                while self.passed == meeting and self.failed is None:
                    self.condition.wait()
            if self.failed is not None:
                raise RuntimeError("stopped at syncthreads: another thread of the block failed")

    def leave(self, thread, failed):
        with self.condition:
            self.running -= 1
            if failed and self.failed is None:
                self.failed = thread
                self.condition.notify_all()
            self._let_go_if_all_wait()

    def _let_go_if_all_wait(self):
        if self.waiting and self.waiting == self.running:
            self.waiting = 0
            self.passed += 1
            self.condition.notify_all()


def run_side_by_side(manager, grid_point, *args):
    """numba-cuda's BlockManager.run for a kernel whose threads meet at barriers: one simulator thread (BlockThread,
    which syncthreads_count, _and and _or also go through) per CUDA thread of the block, meeting at a BlockBarrier;
    the first exception raised in a thread is raised here, after every thread has stopped."""
    from numba.cuda.simulator.kernel import BlockThread

    barrier = BlockBarrier(int(np.prod(manager._block_dim)))
    threads = []
    for block_point in np.ndindex(*manager._block_dim):
        def body():
            done = False
            try:
                manager._f(*args)
                done = True
            finally:
                barrier.leave(threading.current_thread(), failed=not done)
        thread = BlockThread(body, manager, grid_point, block_point, manager._debug)
        thread.syncthreads = barrier.wait
        threads.append(thread)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if barrier.failed is not None:
        error, trace = barrier.failed.exception
        raise error.with_traceback(trace)


@pytest.fixture(autouse=True, scope="session")
def simulator_as_strict_as_a_gpu():
    """In the CUDA simulator, make device arrays refuse what real ones refuse (NumPy attributes, arithmetic, NumPy
    functions) and make kernel launches refuse NumPy arrays (on a GPU, an implicit copy in and back each launch); and
    run the threads of a kernel that never meets at a barrier one after another, without a Python thread each."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" or importlib.util.find_spec("numba_cuda") is None:
        yield
        return
    from numba.cuda.simulator import kernel as simulated_kernel
    from numba.cuda.simulator.cudadrv import devicearray as simulated

    fake = simulated.FakeCUDAArray
    original_getattr, original_call = fake.__getattr__, simulated_kernel.FakeCUDAKernel.__call__

    def from_simulator():  # the simulator's own code may use its NumPy insides
        return "numba_cuda" in sys._getframe(2).f_code.co_filename

    def getattr_of_a_real_device_array(self, name):
        if name not in DEVICE_ARRAY_API and not from_simulator():
            raise AttributeError(f"a device array has no {name!r} on a GPU (the simulator would have delegated it "
                                 f"to NumPy)")
        return original_getattr(self, name)

    def refused(name):
        original = getattr(fake, name, None)

        def method(self, *args, **kwargs):
            if original is None or not from_simulator():
                raise TypeError(f"{name} on a device array: NumPy arithmetic does not work on a GPU's arrays")
            return original(self, *args, **kwargs)
        return method

    def launch_with_device_arrays(self, *args):
        for k, a in enumerate(args):
            if isinstance(a, np.ndarray):
                raise TypeError(f"kernel {self.fn.__name__}: argument {k} is a NumPy array; on a GPU that is a "
                                f"hidden copy to the device and back at every launch")
        return original_call(self, *args)

    # The simulator makes a block's shared array on the first thread's call (it checks its dict, then creates): two
    # threads preempted between the two make two arrays, and each stages into its own. With the short switch interval
    # the tests once set, that happened in CI (uninitialised values in a tiled kernel's output, FlakyFailure); under a
    # lock it can't.
    shared_lock = threading.Lock()

    def shared_array_made_once(self, shape, dtype, alignment=None):
        if alignment is not None or shape == 0:
            return original_shared_array(self, shape, dtype, alignment)
        caller = traceback.extract_stack(sys._getframe(1), limit=1)[0][0:2]  # the simulator's key: the call's line
        with shared_lock:
            if caller not in self._allocations:
                self._allocations[caller] = np.empty(shape, numpy_support.as_dtype(dtype)
                                                     if isinstance(dtype, types.Type) else dtype)
            return self._allocations[caller]

    from numba.core import types
    from numba.cuda.simulator.kernelapi import Dim3, FakeCUDAShared
    from numba.np import numpy_support

    original_shared_array = FakeCUDAShared.array

    # The simulator starts one Python thread per CUDA thread of a block, and starting them is most of what a launch
    # costs: 30-40 ms for a block of 128 threads (CUDA_THREADS) that writes a handful of outputs, which is what the
    # one-thread-per-output kernels launch at the tests' small shapes, thousands of times. A kernel that never waits
    # at a barrier and shares no memory between its threads computes the same whatever order its threads run in (on
    # a GPU they run in any order), so its threads are run here one after another on the calling thread, each with
    # its own threadIdx and blockIdx: the same launch shape, the same blocks and threads, the same guards, without a
    # Python thread each. Kernels that meet at a syncthreads or stage into shared memory (the tiled ones) still run
    # one thread each, side by side, meeting at BlockBarrier (above) instead of the simulator's polling loop.
    cooperating = {}

    def cooperates(fn):
        """Whether kernel ``fn``, or a device function it calls, waits at a barrier (syncthreads, a warp's sync or
        shuffle) or uses shared memory: whether its threads must run side by side."""
        if fn not in cooperating:
            cooperating[fn] = False  # a device function calling itself ends here
            names = set()
            codes = [fn.__code__]
            while codes:
                code = codes.pop()
                names |= set(code.co_names)
                codes += [c for c in code.co_consts if isinstance(c, CodeType)]
            called = [fn.__globals__.get(name) for name in names] + [contents(cell) for cell in fn.__closure__ or ()]
            cooperating[fn] = any("sync" in name or "shfl" in name or name == "shared" for name in names) or any(
                cooperates(f.fn) for f in called if isinstance(f, simulated_kernel.FakeCUDAKernel))
        return cooperating[fn]

    def contents(cell):
        try:
            return cell.cell_contents
        except ValueError:  # a cell not yet set
            return None

    def block_run(self, grid_point, *args):
        if cooperates(self._f):
            return run_side_by_side(self, grid_point, *args)
        me = threading.current_thread()

        def no_barrier(*_):
            raise RuntimeError(f"kernel {self._f.__name__} reached a barrier that tests/conftest.py did not see in "
                               f"its code, and is running its threads one after another: add the name it calls to "
                               f"cooperates()")
        me.blockIdx = Dim3(*grid_point)
        me.syncthreads = me.syncthreads_count = me.syncthreads_and = me.syncthreads_or = no_barrier
        try:
            for block_point in np.ndindex(*self._block_dim):
                me.threadIdx = Dim3(*block_point)
                x, y, z = block_point
                me.thread_id = x + self._block_dim[0] * (y + self._block_dim[1] * z)  # as the simulator numbers it
                self._f(*args)
        finally:
            for name in ("blockIdx", "threadIdx", "thread_id", "syncthreads", "syncthreads_count", "syncthreads_and",
                         "syncthreads_or"):
                me.__dict__.pop(name, None)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FakeCUDAShared, "array", shared_array_made_once)
        mp.setattr(fake, "__getattr__", getattr_of_a_real_device_array)
        for name in ARITHMETIC:
            mp.setattr(fake, name, refused(name), raising=False)
        mp.setattr(simulated_kernel.FakeCUDAKernel, "__call__", launch_with_device_arrays)
        mp.setattr(simulated_kernel.BlockManager, "run", block_run)
        yield


@pytest.fixture
def cuda_by_name_for_tests(monkeypatch):
    """For a test that can only name backend 'cuda' (a run's configuration, the CLI, the README's example): during the
    test the name stands for tests.helpers.cuda_backend_for_tests(), the reference kernels in the simulator, which
    get_backend finds in backends.BACKENDS before it would make the tiled one."""
    from pytcn.runtime import backends
    from tests.helpers import cuda_backend_for_tests

    monkeypatch.setitem(backends.BACKENDS, "cuda", cuda_backend_for_tests())
