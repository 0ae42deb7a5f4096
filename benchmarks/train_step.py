"""Time one training step (forward, loss, backward, Adam) and one inference forward pass of pytcn.

    python benchmarks/train_step.py                 # every configuration
    python benchmarks/train_step.py blog --steps 30 # one configuration

Reports, per configuration: the first call (compilation included, or loaded from Numba's cache), then the median
over --steps calls after --warmup calls, the achieved GFLOP/s (2 x multiply-adds of the convolutions and the head;
a training step counts the backward as twice the forward) and the Python-side peak of allocated memory.
A measurement, not a test: nothing here asserts on time.
"""
import argparse
import json
import os
import platform
import sys
import time
import tracemalloc

import numpy as np

import pytcn

# name: (input channels, T, batch, nb_filters, kernel_size, dilations, head, loss)
CONFIGS = {
    "blog": (2, 600, 32, 20, 6, [1, 2, 4, 8, 16, 32], "last", "mse"),
    "locuslab_adding": (2, 600, 32, 30, 7, [2 ** i for i in range(8)], "last", "mse"),
    "seq_mnist": (1, 784, 64, 25, 7, [2 ** i for i in range(8)], "last", "ce"),
    "copy_memory": (1, 1020, 32, 10, 8, [2 ** i for i in range(8)], "every", "ce"),
    "wide": (1, 1024, 16, 128, 3, [2 ** i for i in range(9)], "last", "ce"),
}


def forward_flops(model, N, T):
    """2 x multiply-adds of every convolution and of the head, for one forward pass."""
    total = 0
    for block in model.blocks:
        for conv in (block.conv1, block.conv2, block.downsample):
            if conv is not None:
                total += 2 * N * T * conv.out_channels * conv.in_channels * conv.kernel_size
    rows = N * T if model.return_sequences else N
    return total + 2 * rows * model.linear.in_features * model.linear.out_features


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def bench(name, steps, warmup, dtype):
    c_in, T, N, filters, K, dilations, head, loss_name = CONFIGS[name]
    classes = 1 if loss_name == "mse" else 10
    model = pytcn.TCN(input_channels=c_in, outputs=classes, nb_filters=filters, kernel_size=K, dilations=dilations,
                      use_skip_connections=False, return_sequences=(head == "every"), dtype=dtype, seed=0)
    optimizer = pytcn.Adam(model.params, lr=1e-3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, T, c_in)).astype(dtype)
    if loss_name == "mse":
        target = rng.standard_normal((N, 1)).astype(dtype)
    else:
        target = rng.integers(0, classes, (N, T) if head == "every" else (N,))

    def train_step():
        pred = model.forward(x, training=True)
        if loss_name == "mse":
            loss, dpred = pytcn.mse(pred, target)
        else:
            loss, dpred = pytcn.cross_entropy(pred, target)
        model.backward(dpred)
        optimizer.step(model.grads)
        return loss

    t0 = time.perf_counter()
    train_step()
    first = time.perf_counter() - t0
    for _ in range(warmup):
        train_step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        train_step()
        times.append(time.perf_counter() - t0)
    infer = []
    for _ in range(steps):
        t0 = time.perf_counter()
        model.forward(x)
        infer.append(time.perf_counter() - t0)
    tracemalloc.start()
    train_step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    fwd = forward_flops(model, N, T)
    train_ms, infer_ms = 1e3 * np.median(times), 1e3 * np.median(infer)
    return dict(config=name, first_call_s=round(first, 3), train_ms=round(train_ms, 2),
                train_gflops=round(3 * fwd / train_ms / 1e6, 1), infer_ms=round(infer_ms, 2),
                infer_gflops=round(fwd / infer_ms / 1e6, 1), peak_mib=round(peak / 2 ** 20, 1),
                params=model.count_params())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", help=f"configurations to time, of {', '.join(CONFIGS)} (default: all)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--json", help="append the results as JSON lines to this file")
    args = parser.parse_args(argv)
    unknown = [c for c in args.configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration {unknown[0]!r}; choose from {', '.join(CONFIGS)}")
    args.configs = args.configs or list(CONFIGS)
    import numba
    print(f"# {cpu_name()}, {os.cpu_count()} CPUs, numba {numba.__version__} with {numba.get_num_threads()} "
          f"threads, numpy {np.__version__}, {args.dtype}")
    print(f"# command: python {' '.join(sys.argv)}")
    print(f"{'config':16s} {'first s':>8s} {'train ms':>9s} {'GFLOP/s':>8s} {'infer ms':>9s} {'GFLOP/s':>8s} "
          f"{'peak MiB':>9s} {'params':>8s}")
    for name in args.configs:
        r = bench(name, args.steps, args.warmup, np.dtype(args.dtype))
        print(f"{name:16s} {r['first_call_s']:8.2f} {r['train_ms']:9.2f} {r['train_gflops']:8.1f} "
              f"{r['infer_ms']:9.2f} {r['infer_gflops']:8.1f} {r['peak_mib']:9.1f} {r['params']:8d}", flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(dict(r, cpu=cpu_name(), dtype=args.dtype)) + "\n")


if __name__ == "__main__":
    main()
