"""Where a training step and an inference pass of speed.py's configurations spend their time, kernel by kernel,
against the machine's measured FP32 peak and memory bandwidth (benchmarks/peak.py).

    python benchmarks/profile_ops.py                 # wide and blog
    python benchmarks/profile_ops.py seq_mnist --steps 20

Each configuration runs in a worker process of its own (every thread pool at --threads). The worker builds speed.py's
model and Adam on a copy of the "cpu" backend whose every kernel is wrapped in a timer (``Backend.replace``), runs
--warmup steps, then times --steps training steps and as many inference passes: each kernel's wall time is summed
over the timed calls, and "Python and NumPy between the kernels" is the step's wall time less the kernels' sum
(argument checks, the buffer pool, the layers' bookkeeping, and the timers' own ~0.1 us a call). Every figure is per
step (the mean over the timed steps).

GFLOP/s: 2 x multiply-adds of a convolution (N x T x C_out x C_in x K, whichever of its three passes) or of the head,
"% peak" of the measured FP32 peak. GB/s: the bytes of the kernel's array arguments (each read or written once, a
lower bound on its traffic), "% triad" of the measured triad bandwidth: the kernels whose arithmetic is light are
bound by memory, and this says how close they come to it.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peak  # noqa: E402
import speed  # noqa: E402


def conv_flops(name, args):
    """2 x multiply-adds of one call of kernel ``name`` with arguments ``args``, or 0 for a kernel counted in bytes."""
    if name in ("conv_forward", "conv_relu_forward"):  # (y, x, W, b, d)
        y, W = args[0], args[2]
        return 2 * y.size * W.shape[1] * W.shape[2]
    if name in ("conv_backward_input", "conv_backward_input_add"):  # (dx, dy, W, d[, addend])
        dy, W = args[1], args[2]
        return 2 * dy.size * W.shape[1] * W.shape[2]
    if name == "conv_backward_weight":  # (dW, dy, x, d)
        dW, dy = args[0], args[1]
        return 2 * dy.size * dW.shape[1] * dW.shape[2]
    if name == "linear_forward":  # (y, x, W, b): y = x W.T + b
        y, W = args[0], args[2]
        return 2 * y.size * W.shape[1]
    if name == "linear_backward":  # (dx, dW, db, dy, x, W): dx = dy W and dW = dy.T x
        dy, W = args[3], args[5]
        return 4 * dy.size * W.shape[1]
    return 0


def timed_backend(current):
    """The cpu backend with every kernel timed into ``current()[name] = [seconds, calls, flops, bytes]``."""
    from pytcn.runtime.backends import get_backend

    cpu = get_backend("cpu")

    def timed(name, fn):
        def call(*args):
            t0 = time.perf_counter()
            out = fn(*args)
            seconds = time.perf_counter() - t0
            entry = current()[name]
            entry[0] += seconds
            entry[1] += 1
            entry[2] += conv_flops(name, args)
            entry[3] += sum(a.nbytes for a in args if isinstance(a, np.ndarray))
            return out
        return call

    return cpu.replace(**{name: timed(name, fn) for name, fn in cpu.ops.items()})


def worker(name, steps, warmup):
    import pytcn

    def new_table():
        return defaultdict(lambda: [0.0, 0, 0, 0])

    train, infer = new_table(), new_table()
    tables = {"now": new_table()}  # the table the timers add into (building the model calls kernels too)
    backend = timed_backend(lambda: tables["now"])
    model = speed.pytcn_model(name, backend=backend)
    optimizer = pytcn.Adam(model.params, lr=1e-3, backend=backend)
    run = speed.forward_backward(model, name)
    x, _ = speed.data(name)

    def train_step():
        run()
        optimizer.step(model.grads)

    def timed_steps(fn, table):
        tables["now"] = new_table()  # the warm-up calls go to a table thrown away
        for _ in range(warmup):
            fn()
        tables["now"] = table
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        return (time.perf_counter() - t0) / steps

    train_s = timed_steps(train_step, train)
    infer_s = timed_steps(lambda: model.forward(x), infer)
    def per_step(table):
        return {k: [v[0] / steps, v[1] / steps, v[2] / steps, v[3] / steps] for k, v in table.items()}

    return dict(train_s=train_s, infer_s=infer_s, train=per_step(train), infer=per_step(infer))


def table(rows, total_s, peak_gflops, triad_gbytes):
    lines = ["| kernel | calls | ms | share | GFLOP/s | % peak | GB/s | % triad |", "|---|---|---|---|---|---|---|---|"]
    kernel_s = 0.0
    for name, (seconds, calls, flops, nbytes) in sorted(rows.items(), key=lambda kv: -kv[1][0]):
        kernel_s += seconds
        if seconds < 0.0005 * total_s:
            continue  # under 0.05% of the step: left out of the table, counted in the sum
        gflops = flops / seconds / 1e9 if flops else None
        gbytes = nbytes / seconds / 1e9
        lines.append(f"| {name} | {calls:.0f} | {1e3 * seconds:.2f} | {100 * seconds / total_s:.1f}% | "
                     + (f"{gflops:.0f} | {100 * gflops / peak_gflops:.0f}% | " if gflops else "| | ")
                     + f"{gbytes:.1f} | {100 * gbytes / triad_gbytes:.0f}% |")
    other = total_s - kernel_s
    lines.append(f"| Python and NumPy between the kernels | | {1e3 * other:.2f} | {100 * other / total_s:.1f}% "
                 f"| | | | |")
    lines.append(f"| **the whole {'step' if 'adam_update' in rows else 'pass'}** | | **{1e3 * total_s:.2f}** | 100% | "
                 f"| | | |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", default=["wide", "blog"], help=f"of {', '.join(speed.CONFIGS)}")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, least in (("steps", 1), ("warmup", 0), ("threads", 1)):
        if getattr(args, name) < least:
            parser.error(f"--{name} must be at least {least}, got {getattr(args, name)}")
    unknown = [c for c in args.configs if c not in speed.CONFIGS]
    if unknown:
        parser.error(f"unknown configuration {unknown[0]!r}; choose from {', '.join(speed.CONFIGS)}")
    if args.worker:
        print(json.dumps(worker(args.configs[0], args.steps, args.warmup)))
        return 0

    measured = peak.measured(args.threads)
    cpu, mhz, _ = speed.cpu_info()
    import llvmlite.binding as llvm

    print(f"{cpu} ({llvm.get_host_cpu_name()}), {args.threads} threads: FP32 peak {measured['peak_gflops']:.0f} "
          f"GFLOP/s (sgemm {measured['sgemm_gflops']:.0f}, FMA loop {measured['fma_gflops']:.0f}), triad "
          f"{measured['triad_gbytes']:.1f} GB/s (benchmarks/peak.py)")
    print(f"command: python benchmarks/profile_ops.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    for name in args.configs:
        cmd = [sys.executable, os.path.abspath(__file__), name, "--worker", "--steps", str(args.steps), "--warmup",
               str(args.warmup), "--threads", str(args.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=peak.thread_env(args.threads), check=False)
        if out.returncode != 0:
            raise RuntimeError(f"the worker for {name} failed:\n{out.stderr}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        fwd = speed.forward_flops(name)
        for kind, total_s, flops in (("training step", result["train_s"], 3 * fwd),
                                     ("inference pass", result["infer_s"], fwd)):
            rate = flops / total_s / 1e9
            print(f"\n{name}, {kind}: {1e3 * total_s:.2f} ms, {rate:.0f} GFLOP/s overall, "
                  f"{100 * rate / measured['peak_gflops']:.0f}% of the peak\n")
            rows = result["train" if kind == "training step" else "infer"]
            print(table(rows, total_s, measured["peak_gflops"], measured["triad_gbytes"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
