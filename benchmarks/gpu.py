"""Time pytcn's CUDA backend beside PyTorch on the same GPU, and beside pytcn's own CPU backend on the same machine.

    python benchmarks/gpu.py                                  # every configuration, 3 rounds
    python benchmarks/gpu.py wide@256 seq_mnist --rounds 5    # some of them
    python benchmarks/gpu.py --json benchmarks/gpu_results.jsonl
    python benchmarks/gpu.py --tiny --kernels reference --rounds 1  # shrunk sizes: checks this script in the simulator

The configurations are the five of benchmarks/speed.py and, with the batch raised to 256, seq_mnist@256,
copy_memory@256 and wide@256. Each measurement runs in a fresh worker process, and the workers alternate within a
round: pytcn on the GPU, PyTorch in strict float32, PyTorch with its defaults, pytcn on the CPU. A worker times
--steps steps after --warmup and reports the median: a training step (forward, loss, backward, Adam), then an
inference pass. A GPU step is timed to the end of its last kernel (numba's cuda.synchronize, torch.cuda.synchronize),
so the time is the step's real duration, not the time to queue it. The last four columns count what one pytcn
training step asks of the GPU: kernel launches, device allocations, copies to the device, round trips to the host
(counted in a separate worker, see worker_pytcn_launches; the counts are the same on a GPU and in the simulator).
The input batch is put on the GPU once, before timing; pytcn's losses take their targets from the host, so those
(N or N*T numbers) are copied at every step.

PyTorch gets the same architecture and weights as in speed.py (locuslab/TCN's layout through state_dict). Its
defaults let cuDNN run float32 convolutions on TF32 tensor cores (torch.backends.cudnn.allow_tf32); strict float32
turns that off, and TF32 matmuls too. The ratios are PyTorch's median over pytcn's: above 1, pytcn is faster.
GFLOP/s count a training step as 3 forward passes (speed.forward_flops); %peak is against --peak-gflops, by default
67,000 (nominal FP32 without tensor cores) on an H200 and unknown elsewhere. "cpu/cuda" is pytcn's CPU step time
over its GPU step time: how many times faster the GPU backend is.

Needs numba-cuda and an NVIDIA GPU (pip install -e '.[cuda]'); PyTorch with CUDA for the PyTorch columns (without it,
pytcn alone). --tiny shrinks every configuration (batch 2, 24 steps, 4 channels, dilations 1 and 2) so that the
whole script runs in numba-cuda's simulator (NUMBA_ENABLE_CUDASIM=1) and PyTorch on the CPU: a check that the
script works before GPU time is spent on it, not a measurement.

--kernels chooses the convolutions pytcn's CUDA backend runs (pytcn.cuda_backend): the tiled ones, what a GPU should
run and the default; or the one-thread-per-output references, which the simulator runs several times faster (its cost
is Python's per operation, and tiling only adds operations there): for a --tiny check.
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import speed  # noqa: E402  (the configurations, their data, FLOP counts and workers)

BIG_BATCH = 256
VARIANTS = ("seq_mnist", "copy_memory", "wide")  # also timed at N = BIG_BATCH
WORKERS = ("pytcn-cuda", "torch-fp32", "torch-default", "pytcn-cpu", "pytcn-launches")
H200_FP32_PEAK_GFLOPS = 67_000
COUNTED = ("launches", "allocations", "to_device", "to_host")  # per training step, see worker_pytcn_launches


def register_configurations(tiny):
    """Adds the N 256 variants to speed.CONFIGS (and with ``tiny``, shrinks every configuration in place)."""
    for name in VARIANTS:
        c_in, T, N, F, K, dilations, head, classes = speed.CONFIGS[name]
        speed.CONFIGS[f"{name}@{BIG_BATCH}"] = (c_in, T, BIG_BATCH, F, K, dilations, head, classes)
    if tiny:
        for name, (c_in, _, _, _, K, _, head, classes) in list(speed.CONFIGS.items()):
            speed.CONFIGS[name] = (c_in, 24, 2, 4, min(K, 3), [1, 2], head, classes)
    return list(speed.CONFIGS)


def worker_pytcn_cuda(name, steps, warmup, kernels):
    from numba import cuda

    import pytcn
    from pytcn.kernels import cuda as cuda_kernels

    t0 = time.perf_counter()
    model = speed.pytcn_model(name, pytcn.cuda_backend(kernels=kernels))
    optimizer = pytcn.Adam(model.params, lr=1e-3)
    x_host, y = speed.data(name)
    x = cuda_kernels.to_device(x_host)  # on the GPU once, as PyTorch's batch is
    loss_fn = pytcn.mse if speed.CONFIGS[name][7] == 1 else pytcn.cross_entropy

    def train_step():
        _, dpred = loss_fn(model.forward(x, training=True), y)  # the loss comes back to the host: a sync
        model.backward(dpred)
        optimizer.step(model.grads)
        cuda.synchronize()

    def infer():
        model.forward(x)
        cuda.synchronize()

    train_step()
    first = time.perf_counter() - t0
    return dict(first_s=first, train_ms=speed.time_calls(train_step, steps, warmup),
                infer_ms=speed.time_calls(infer, steps, warmup))


def _counting(fn, counts, key):
    """``fn``, counting its calls in ``counts[key]``."""
    def counted(*args, **kwargs):
        counts[key] += 1
        return fn(*args, **kwargs)

    return counted


def worker_pytcn_launches(name, kernels):
    """What one training step asks of the GPU, counted through numba-cuda at the configuration's full size: kernel
    launches (every ``kernel[blocks, threads]``, which pytcn launches at once; also by kernel), device allocations
    (``cuda.device_array``; a cuMemAlloc each, outside the model's arenas), copies to the device, and copies to the
    host (a number or an array copied back, which waits for the GPU). The kernels are counted, not run: which ones
    a step launches depends on the shapes only (the weight gradient's chunks included), so the count is exact in the
    simulator too, in seconds."""
    import collections

    from numba import cuda

    import pytcn
    from pytcn.kernels import cuda as cuda_kernels

    counts, by_kernel = collections.Counter(), collections.Counter()

    @cuda.jit
    def probe(a):  # a kernel, to find numba-cuda's class of kernels (the simulator has its own)
        pass

    def count_launch(kernel, configuration):
        counts["launches"] += 1
        by_kernel[getattr(kernel, "py_func", getattr(kernel, "fn", None)).__name__] += 1
        return lambda *args: None

    kernel_class, array_class = type(probe), type(cuda.device_array(1))
    kernel_class.__getitem__ = count_launch
    array_class.copy_to_host = _counting(array_class.copy_to_host, counts, "to_host")
    cuda.device_array = _counting(cuda.device_array, counts, "allocations")
    cuda.to_device = _counting(cuda.to_device, counts, "to_device")
    model = speed.pytcn_model(name, pytcn.cuda_backend(kernels=kernels))  # the kernels the timed workers run
    optimizer = pytcn.Adam(model.params, lr=1e-3)
    x_host, y = speed.data(name)
    x = cuda_kernels.to_device(x_host)
    loss_fn = pytcn.mse if speed.CONFIGS[name][-1] == 1 else pytcn.cross_entropy
    for _ in range(2):  # the first step sets up the arenas and Adam's moments; the second is the one counted
        counts.clear()
        by_kernel.clear()
        _, dpred = loss_fn(model.forward(x, training=True), y)
        model.backward(dpred)
        optimizer.step(model.grads)
    return dict(counts, by_kernel=dict(by_kernel.most_common()))


def worker(kind, name, steps, warmup, threads, tiny, kernels):
    if kind == "pytcn-launches":
        return worker_pytcn_launches(name, kernels)
    if kind == "pytcn-cuda":
        return worker_pytcn_cuda(name, steps, warmup, kernels)
    if kind == "pytcn-cpu":
        return speed.worker_pytcn(name, steps, warmup)
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: only with --tiny, to check the script
    if device == "cpu" and not tiny:
        sys.exit(f"PyTorch {torch.__version__} has no CUDA here: its columns would time the CPU (use --no-torch)")
    result = speed.worker_torch(name, steps, warmup, threads, device=device,
                                tf32=False if kind == "torch-fp32" else None)
    result["device"] = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    result["tf32_convolutions"] = bool(torch.backends.cudnn.allow_tf32)
    return result


def run_worker(kind, name, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, name, "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--threads", str(args.threads), "--kernels", args.kernels] + \
        (["--tiny"] if args.tiny else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=False,
                         env=dict(os.environ, NUMBA_NUM_THREADS=str(args.threads)))
    if out.returncode != 0:
        raise RuntimeError(f"{kind} worker for {name} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def result_row(name, med, gpu, peak, tiny):
    """The JSON row and the printed line of configuration ``name`` from the workers' medians ``med``."""
    ours = med["pytcn-cuda"]
    gflops = 3 * speed.forward_flops(name) / ours["train_ms"] / 1e6
    row = dict(config=name, gpu=gpu, tiny=tiny, peak_gflops=peak, cuda_train_ms=ours["train_ms"],
               cuda_infer_ms=ours["infer_ms"], cuda_first_s=ours["first_s"], cuda_train_gflops=gflops)
    cells = [f"{name:18s} {ours['train_ms']:9.2f} {gflops:9.1f} " + (f"{100 * gflops / peak:6.1f}" if peak else
                                                                     f"{'-':>6s}")]
    for kind, key, width in (("torch-fp32", "train_ms", 9), ("torch-default", "train_ms", 10), (None, None, 9),
                             ("torch-fp32", "infer_ms", 9), ("pytcn-cpu", "train_ms", 9)):
        if kind is None:  # pytcn's own inference time
            cells.append(f"{ours['infer_ms']:9.2f}")
        elif kind not in med:
            cells += [f"{'-':>{width}s}", f"{'-':>6s}"] if kind != "pytcn-cpu" else [f"{'-':>9s}", f"{'-':>8s}"]
        elif kind == "pytcn-cpu":  # how many times faster the GPU is than pytcn's CPU backend
            row.update(cpu_train_ms=med[kind][key], cpu_over_cuda=med[kind][key] / ours[key])
            cells += [f"{med[kind][key]:9.2f}", f"{row['cpu_over_cuda']:8.2f}"]
        else:  # PyTorch's time, and the ratio PyTorch / pytcn
            row[f"{kind}_{key}"] = med[kind][key]
            row[f"{kind}_{key}_ratio"] = med[kind][key] / ours[key]
            cells += [f"{med[kind][key]:{width}.2f}", f"{row[f'{kind}_{key}_ratio']:6.2f}"]
    cells.append(f"{ours['first_s']:8.2f}")
    if "torch-default" in med:  # in the JSON only: PyTorch's default (TF32) inference
        row["torch-default_infer_ms"] = med["torch-default"]["infer_ms"]
        row["torch-default_infer_ms_ratio"] = med["torch-default"]["infer_ms"] / ours["infer_ms"]
    return row, " ".join(cells)


def device_name():
    from numba import cuda

    name = getattr(cuda.get_current_device(), "name", "numba-cuda simulator")  # the simulator's device has no name
    return name.decode() if isinstance(name, bytes) else str(name)


def main(argv=None):
    from pytcn.runtime.backends import CUDA_KERNELS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", help="configurations (default: all, see above)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per worker (median)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the workers per configuration")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (pytcn cpu, PyTorch)")
    parser.add_argument("--peak-gflops", type=float, help="the GPU's FP32 peak (default: 67000 on an H200)")
    parser.add_argument("--no-cpu", action="store_true", help="skip pytcn's CPU backend")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even where it is installed")
    parser.add_argument("--tiny", action="store_true", help="shrunk sizes, to check the script in the simulator")
    parser.add_argument("--kernels", choices=CUDA_KERNELS, default="tiled",
                        help="the convolutions of pytcn's CUDA backend (default: tiled; reference: for a --tiny check)")
    parser.add_argument("--json", help="append one JSON line per configuration to this file")
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = register_configurations(args.tiny)
    unknown = [c for c in args.configs if c not in names]
    if unknown:
        parser.error(f"unknown configuration {unknown[0]!r}; choose from {', '.join(names)}")

    if args.worker:
        (name,) = args.configs
        print(json.dumps(worker(args.worker, name, args.steps, args.warmup, args.threads, args.tiny, args.kernels)))
        return 0

    import numba

    import pytcn

    try:
        pytcn.get_backend("cuda")
    except pytcn.BackendUnavailableError as e:
        print(f"gpu.py: {e}", file=sys.stderr)  # what is missing, and how to install it
        return 2
    gpu = device_name()
    peak = args.peak_gflops or (H200_FP32_PEAK_GFLOPS if "H200" in gpu else None)
    with_torch = not args.no_torch and importlib.util.find_spec("torch") is not None
    kinds = ["pytcn-cuda"] + (["torch-fp32", "torch-default"] if with_torch else []) + ([] if args.no_cpu else
                                                                                          ["pytcn-cpu"])
    print(f"# GPU {gpu}; FP32 peak {'%.0f GFLOP/s (nominal)' % peak if peak else 'unknown'}; CPU "
          f"{speed.cpu_info()[0]}, {args.threads} threads; numba {numba.__version__}, numpy {speed.np.__version__}; "
          f"{'with PyTorch' if with_torch else 'PyTorch not installed'}; pytcn's {args.kernels} convolutions"
          f"{'; TINY sizes: not a measurement' if args.tiny else ''}")
    print(f"# command: python benchmarks/gpu.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"{'config':18s} {'cuda ms':>9s} {'GFLOP/s':>9s} {'%peak':>6s} {'fp32 ms':>9s} {'ratio':>6s} "
          f"{'default ms':>10s} {'ratio':>6s} {'infer ms':>9s} {'fp32 inf':>9s} {'ratio':>6s} {'cpu ms':>9s} "
          f"{'cpu/cuda':>8s} {'first s':>8s} " + " ".join(f"{key:>9s}" for key in COUNTED))
    for name in args.configs or names:
        runs = {kind: [] for kind in kinds}
        for _ in range(args.rounds):
            for kind in kinds:
                runs[kind].append(run_worker(kind, name, args))
        med = {kind: {key: statistics.median(r[key] for r in rs) for key in ("train_ms", "infer_ms", "first_s")}
               for kind, rs in runs.items()}
        row, line = result_row(name, med, gpu, peak, args.tiny)
        row["kernels"] = args.kernels
        launches = run_worker("pytcn-launches", name, args)
        row.update({f"step_{key}": value for key, value in launches.items()})
        print(line + " " + " ".join(f"{launches.get(key, 0):>9d}" for key in COUNTED), flush=True)
        if with_torch:
            row["torch_version"] = runs["torch-fp32"][0]["version"]
            row["torch_device"] = runs["torch-fp32"][0]["device"]
            row["torch-fp32_tf32_convolutions"] = runs["torch-fp32"][0]["tf32_convolutions"]
            row["torch-default_tf32_convolutions"] = runs["torch-default"][0]["tf32_convolutions"]
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
