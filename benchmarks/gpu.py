"""Time one training step on the GPU (backend 'cuda') against the CPU (backend 'cpu'), in one run.

    python benchmarks/gpu.py                         # the three configurations of the GPU issue
    python benchmarks/gpu.py blog --steps 50

Configurations are those of benchmarks/speed.py; by default blog (the core issue's adding configuration),
seq_mnist and wide. Each backend trains the same model (same seed, so the same weights) on the same batch:
forward, loss, backward, Adam. A GPU step is timed to the end of its last kernel (cuda.synchronize), so the median
is the step's real duration, not the time to queue it. The first step (compilation) is reported separately.
Needs numba-cuda and a GPU: pip install -e '.[cuda]'.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import speed  # noqa: E402  (the configurations, their data and FLOP counts)

DEFAULT = ["blog", "seq_mnist", "wide"]


def time_backend(name, backend, steps, warmup):
    """(first step s, median step ms) of configuration ``name`` on ``backend``."""
    import pytcn

    model = speed.pytcn_model(name, backend)
    optimizer = pytcn.Adam(model.params, lr=1e-3)
    forward_and_backward = speed.forward_backward(model, name)
    if backend == "cuda":
        from numba import cuda

        sync = cuda.synchronize
    else:
        def sync():
            pass

    def step():
        forward_and_backward()
        optimizer.step(model.grads)
        sync()

    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    return first, speed.time_calls(step, steps, warmup)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", help=f"of {', '.join(speed.CONFIGS)} (default: {', '.join(DEFAULT)})")
    parser.add_argument("--steps", type=int, default=20, help="timed steps (median)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", help="append one JSON line per configuration to this file")
    args = parser.parse_args(argv)
    unknown = [c for c in args.configs if c not in speed.CONFIGS]
    if unknown:
        parser.error(f"unknown configuration {unknown[0]!r}; choose from {', '.join(speed.CONFIGS)}")

    import numba
    from numba import cuda

    import pytcn

    try:
        pytcn.get_backend("cuda")
    except pytcn.BackendUnavailableError as e:
        print(f"gpu.py: {e}", file=sys.stderr)  # what is missing, and how to install it
        return 2
    gpu = getattr(cuda.get_current_device(), "name", "numba-cuda simulator")  # the simulator's device has no name
    gpu = gpu.decode() if isinstance(gpu, bytes) else str(gpu)
    cpu = speed.cpu_info()[0]
    print(f"# GPU {gpu}; CPU {cpu}, {numba.get_num_threads()} Numba threads; numba {numba.__version__}")
    print(f"# command: python benchmarks/gpu.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"{'config':16s} {'cpu ms':>9s} {'cuda ms':>9s} {'speedup':>8s} {'cuda GFLOP/s':>13s} {'cuda first s':>13s}")
    for name in args.configs or DEFAULT:
        _, cpu_ms = time_backend(name, "cpu", args.steps, args.warmup)
        first, cuda_ms = time_backend(name, "cuda", args.steps, args.warmup)
        gflops = 3 * speed.forward_flops(name) / cuda_ms / 1e6
        print(f"{name:16s} {cpu_ms:9.2f} {cuda_ms:9.2f} {cpu_ms / cuda_ms:8.2f} {gflops:13.1f} {first:13.2f}",
              flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(dict(config=name, gpu=gpu, cpu=cpu, threads=numba.get_num_threads(),
                                        cpu_train_ms=cpu_ms, cuda_train_ms=cuda_ms, cuda_first_s=first)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
