"""What this machine does at best: its FP32 multiply-add rate and its memory bandwidth, measured, not looked up.

    python benchmarks/peak.py              # on every core
    python benchmarks/peak.py --threads 1

The FP32 rate is the higher of two measurements on the same threads:
- **sgemm**: NumPy's float32 matrix product of two 2048 x 2048 matrices (OpenBLAS, or whatever BLAS NumPy was built
  with), the best of ten, counting 2 x 2048^3 FLOPs;
- **FMA loop**: a Numba loop whose every element runs four independent chains of 16 fused multiply-adds in
  registers (LLVM vectorises it over the elements: one vector of a row per lane group, no memory traffic in the chain),
  the best of ten, counting 2 x 64 FLOPs per element.
A BLAS can run older vector code than the core has (OpenBLAS chooses its kernels by CPU name, and on some VMs it is
told to use Haswell's), and the FMA loop cannot exceed the core's issue rate, so the higher of the two is the
attainable peak that benchmarks/speed.py and benchmarks/profile_ops.py report fractions of.

The memory bandwidth is a STREAM-style triad, a[i] = b[i] + s * c[i], over three float32 arrays of 64 MiB each
(far larger than any cache), parallel over the threads, counting 12 bytes per element (the write-allocate read of
a is not counted, as STREAM does not): the best of ten.

Each measurement runs in worker processes whose thread pools are all set to --threads before they start
(OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, NUMBA_NUM_THREADS), and the best of three processes is kept (``measured``,
which benchmarks/speed.py and benchmarks/profile_ops.py call).
"""
import argparse
import json
import os
import sys
import time

SGEMM_SIZE = 2048
FMA_CHAIN = 16  # dependent multiply-adds per chain; four chains per element
TRIAD_BYTES = 64 * 2 ** 20  # per array


def _best_seconds(fn, repeats=10):
    fn()  # warm: compile, fault the pages in, start the thread pools
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def sgemm_gflops():
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((SGEMM_SIZE, SGEMM_SIZE), dtype=np.float32)
    b = rng.standard_normal((SGEMM_SIZE, SGEMM_SIZE), dtype=np.float32)
    c = np.empty_like(a)
    return 2 * SGEMM_SIZE ** 3 / _best_seconds(lambda: np.matmul(a, b, out=c)) / 1e9


def _kernels():
    """The two Numba loops, compiled on first use (this module is a benchmark: no cache, no import-time cost)."""
    import numpy as np
    from numba import njit, prange

    # 'contract' only: fused multiply-adds, but no reassociation, which would let LLVM fold the chain of constants
    # into fewer operations and count FLOPs it never did
    @njit(parallel=True, fastmath={"contract"})
    def fma_chains(rows, repeats, c, d):
        for p in prange(rows.shape[0]):
            row = rows[p]
            for _ in range(repeats):
                for k in range(row.size):  # vectorised over k
                    a = row[k]
                    b = a + np.float32(1)
                    e = a + np.float32(2)
                    f = a + np.float32(3)
                    for _ in range(FMA_CHAIN):  # four independent chains hide the latency of each multiply-add
                        a = a * c + d
                        b = b * c + d
                        e = e * c + d
                        f = f * c + d
                    row[k] = a + b + e + f

    @njit(parallel=True)
    def triad(a, b, c, s):
        for i in prange(a.size):
            a[i] = b[i] + s * c[i]

    return fma_chains, triad


def fma_gflops(threads, elements=1024, repeats=200):
    import numpy as np

    fma_chains, _ = _kernels()
    rows = np.ones((16 * threads, elements), np.float32)  # 16 rows a thread: a slow thread delays one row
    c, d = np.float32(0.999), np.float32(1e-3)
    seconds = _best_seconds(lambda: fma_chains(rows, repeats, c, d))
    return 2 * 4 * FMA_CHAIN * rows.size * repeats / seconds / 1e9


def triad_gbytes():
    import numpy as np

    _, triad = _kernels()
    n = TRIAD_BYTES // 4
    a, b, c = np.zeros(n, np.float32), np.ones(n, np.float32), np.ones(n, np.float32)
    return 12 * n / _best_seconds(lambda: triad(a, b, c, np.float32(0.5))) / 1e9


def measure(threads):
    """{'sgemm_gflops', 'fma_gflops', 'peak_gflops', 'triad_gbytes', 'threads'} on ``threads`` threads. The thread
    counts of NumPy's BLAS and of Numba must have been set before they were imported (see the module's docstring)."""
    import numba

    # Numba's loops first: OpenBLAS's threads spin for a while after each product (measured: the FMA loop timed
    # right after the sgemm ran at half its rate, one of its two threads sharing a core with a spinning one)
    fma, triad = fma_gflops(numba.get_num_threads()), triad_gbytes()
    sgemm = sgemm_gflops()
    return dict(sgemm_gflops=sgemm, fma_gflops=fma, peak_gflops=max(sgemm, fma), triad_gbytes=triad, threads=threads)


def thread_env(threads, env=None):
    """``env`` (default: this process's) with every thread pool of a worker set to ``threads``."""
    env = dict(os.environ if env is None else env)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[name] = str(threads)
    return env


def measured(threads, processes=3):
    """The highest of each measurement over ``processes`` worker processes, each with every thread pool at
    ``threads`` (the pools read their sizes when they start). Several processes, because on the 2-vCPU VMs pytcn is
    measured on, one process in three or four ran Numba's two threads at the rate of one from start to end."""
    import subprocess

    runs = []
    for _ in range(processes):
        cmd = [sys.executable, os.path.abspath(__file__), "--threads", str(threads), "--worker"]
        out = subprocess.run(cmd, capture_output=True, text=True, env=thread_env(threads), check=False)
        if out.returncode != 0:
            raise RuntimeError(f"benchmarks/peak.py worker failed:\n{out.stderr}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = {key: max(run[key] for run in runs) for key in runs[0]}
    best["processes"] = processes
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--processes", type=int, default=3, help="worker processes; the best of each is reported")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of the sentence")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("threads", "processes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.worker:
        print(json.dumps(measure(args.threads)))
        return 0
    result = measured(args.threads, args.processes)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.threads} thread{'s' * (args.threads != 1)}, best of {args.processes} processes: sgemm "
              f"{result['sgemm_gflops']:.0f} GFLOP/s, FMA loop {result['fma_gflops']:.0f} GFLOP/s, so the FP32 peak "
              f"is {result['peak_gflops']:.0f} GFLOP/s; triad {result['triad_gbytes']:.1f} GB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
