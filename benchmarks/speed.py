"""Time pytcn's training step and inference pass on the standard TCN configurations and the recurrent baselines
(GRU, LSTM), beside PyTorch's when installed.

    python benchmarks/speed.py                       # every configuration, 3 rounds
    python benchmarks/speed.py blog wide --rounds 5  # some of them
    python benchmarks/speed.py recurrent             # the GRU and LSTM baselines only (or: tcn, the TCNs only)
    python benchmarks/speed.py --cold                # also time compilation with an empty Numba cache
    python benchmarks/speed.py --baseline ../before  # also another checkout of pytcn (a commit before a change)

Each measurement runs in a fresh worker process: pytcn and PyTorch never share a process (their thread pools spin
after each call and steal each other's cores: measured, either side slows down), and the workers alternate
pytcn, PyTorch, pytcn, PyTorch... on the same machine. A worker times --steps training steps (forward, loss,
backward, Adam) after --warmup steps and reports their median, then the same for inference forward passes. The
result of a configuration is the median over rounds; the ratio is PyTorch's median over pytcn's. With --baseline,
a third worker runs the pytcn of another checkout (``git worktree add ../before COMMIT``) in the same alternation,
so that a change is measured against the commit before it side by side, with the ratios of both to PyTorch.

GFLOP/s count 2 x multiply-adds of the convolutions and the head (of a recurrent network: of its input and recurrent
projections, 2 x G x (C_in + H) per row and time step, G = 3H or 4H, and of the head); a training step counts 3 x the
forward (the backward as twice the forward). The count is nominal, the products a framework computes on an input
padded with (K - 1) x d zeros; pytcn's kernels skip those with the padding (on wide 5.9% of them, so its "%peak" in
work actually done is that much lower: benchmarks/speed_results.md). "%peak" is a fraction of the machine's FP32 peak
as benchmarks/peak.py measures it before the first configuration, on the same thread count, in processes of its own
(the higher of NumPy's sgemm and a register-bound Numba multiply-add loop; --peak-gflops overrides it). The header
line names the CPU, its LLVM core name and both measurements. PyTorch gets the same architecture (locuslab/TCN's, no
skip connections; for the recurrent configurations torch.nn.GRU or torch.nn.LSTM with batch_first=True and an
nn.Linear head, as pytcn.GRU and pytcn.LSTM are), the same weights through state_dict, and torch.set_num_threads
equal to pytcn's Numba thread count.
PyTorch is never required: without it, pytcn alone, and the header line says PyTorch was not found.
"RSS MiB" is the worker's peak resident memory; "faults" the minor page faults per pytcn training step (memory
handed back to the OS and touched anew), which a step that reuses its buffers does not take.
"""
import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

# name: (input channels, T, batch, nb_filters, kernel_size, dilations, head, classes)
CONFIGS = {
    "blog": (2, 600, 32, 20, 6, [2 ** i for i in range(6)], "last", 1),
    "locuslab_adding": (2, 600, 32, 30, 7, [2 ** i for i in range(8)], "last", 1),
    "seq_mnist": (1, 784, 64, 25, 7, [2 ** i for i in range(8)], "last", 10),
    "copy_memory": (1, 1020, 32, 10, 8, [2 ** i for i in range(8)], "every", 10),
    "wide": (1, 1024, 16, 128, 3, [2 ** i for i in range(9)], "last", 10),
}
# The recurrent baselines (pytcn.GRU, pytcn.LSTM), one layer, at the sizes of the TCN paper's (Bai et al. 2018) on
# three of the tasks above: name: (cell, input channels, T, batch, hidden units H, head, classes)
RECURRENT_CONFIGS = {
    "seq_mnist_lstm": ("lstm", 1, 784, 64, 130, "last", 10),
    "seq_mnist_gru": ("gru", 1, 784, 64, 150, "last", 10),
    "adding_lstm": ("lstm", 2, 600, 32, 130, "last", 1),
    "adding_gru": ("gru", 2, 600, 32, 150, "last", 1),
    "copy_memory_lstm": ("lstm", 1, 1020, 32, 50, "every", 10),
    "copy_memory_gru": ("gru", 1, 1020, 32, 70, "every", 10),
}
ALL_CONFIGS = list(CONFIGS) + list(RECURRENT_CONFIGS)
# names that select several configurations on the command line
GROUPS = {"tcn": list(CONFIGS), "recurrent": list(RECURRENT_CONFIGS)}


def task(name):
    """(input channels, T, batch, head, classes) of configuration ``name``, a TCN's or a recurrent network's."""
    if name in RECURRENT_CONFIGS:
        _, c_in, T, N, _, head, classes = RECURRENT_CONFIGS[name]
    else:
        c_in, T, N, _, _, _, head, classes = CONFIGS[name]
    return c_in, T, N, head, classes


def forward_flops(name):
    """2 x multiply-adds of every convolution (and downsample) and of the head, for one forward pass; of a recurrent
    network, of its projections at every step (x_t @ W_ih.T and h_prev @ W_hh.T) and of the head."""
    if name in RECURRENT_CONFIGS:
        cell, c_in, T, N, H, head, classes = RECURRENT_CONFIGS[name]
        G = (3 if cell == "gru" else 4) * H
        rows = N * T if head == "every" else N
        return 2 * N * T * G * (c_in + H) + 2 * rows * H * classes
    c_in, T, N, F, K, dilations, head, classes = CONFIGS[name]
    total, c = 0, c_in
    for _ in dilations:
        total += 2 * N * T * F * K * (c + F)  # conv1 (c -> F) and conv2 (F -> F)
        if c != F:
            total += 2 * N * T * F * c  # the 1x1 downsample
        c = F
    rows = N * T if head == "every" else N
    return total + 2 * rows * F * classes


def data(name, dtype=np.float32):
    c_in, T, N, head, classes = task(name)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, T, c_in)).astype(dtype)
    if classes == 1:
        y = rng.standard_normal((N, 1)).astype(dtype)
    else:
        y = rng.integers(0, classes, (N, T) if head == "every" else (N,))
    return x, y


def pytcn_model(name, backend="cpu"):
    import pytcn

    if name in RECURRENT_CONFIGS:
        from pytcn.nn.recurrent import GRU, LSTM

        cell, c_in, T, N, H, head, classes = RECURRENT_CONFIGS[name]
        model = GRU if cell == "gru" else LSTM
        return model(input_channels=c_in, outputs=classes, hidden_size=H, return_sequences=(head == "every"), seed=0,
                     backend=backend)
    c_in, T, N, F, K, dilations, head, classes = CONFIGS[name]
    return pytcn.TCN(input_channels=c_in, outputs=classes, nb_filters=F, kernel_size=K, dilations=dilations,
                     use_skip_connections=False, return_sequences=(head == "every"), seed=0, backend=backend)


def forward_backward(model, name):
    """A function of no arguments that runs forward, loss and backward on configuration ``name``'s batch."""
    import pytcn

    x, y = data(name)
    loss_fn = pytcn.mse if task(name)[4] == 1 else pytcn.cross_entropy

    def run():
        _, dpred = loss_fn(model.forward(x, training=True), y, model.backend)
        model.backward(dpred)

    return run


def time_training(train_step, steps, warmup):
    """(median ms, minor page faults per call) of ``train_step``. A page fault is memory a step gave back to the
    OS and touched again; a step that reuses its buffers takes none."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    ms = time_calls(train_step, steps, warmup)
    return ms, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / (steps + warmup)


def time_calls(fn, steps, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def worker_pytcn(name, steps, warmup):
    import numba

    import pytcn

    t0 = time.perf_counter()
    model = pytcn_model(name)
    optimizer = pytcn.Adam(model.params, lr=1e-3)
    forward_and_backward = forward_backward(model, name)
    x, _ = data(name)

    def train_step():
        forward_and_backward()
        optimizer.step(model.grads)

    train_step()
    first = time.perf_counter() - t0
    train_ms, faults = time_training(train_step, steps, warmup)
    adam_ms = time_calls(lambda: optimizer.step(model.grads), steps, warmup)  # the optimizer's share of a step
    infer_ms = time_calls(lambda: model.forward(x), steps, warmup)
    return dict(first_s=first, train_ms=train_ms, adam_ms=adam_ms, infer_ms=infer_ms, train_faults=faults,
                threads=numba.get_num_threads())


def torch_tcn(name):
    """PyTorch's module of TCN configuration ``name``: locuslab/TCN's architecture without skip connections, whose
    state_dict names are pytcn.TCN's."""
    import torch
    import torch.nn.functional as F_

    c_in, T, N, F, K, dilations, head, classes = CONFIGS[name]

    class Block(torch.nn.Module):
        def __init__(self, n_in, n_out, d):
            super().__init__()
            self.pad = (K - 1) * d
            self.conv1 = torch.nn.Conv1d(n_in, n_out, K, dilation=d)
            self.conv2 = torch.nn.Conv1d(n_out, n_out, K, dilation=d)
            self.downsample = torch.nn.Conv1d(n_in, n_out, 1) if n_in != n_out else None

        def forward(self, x):
            h = torch.relu(self.conv1(F_.pad(x, (self.pad, 0))))
            h = torch.relu(self.conv2(F_.pad(h, (self.pad, 0))))
            return torch.relu(h + (x if self.downsample is None else self.downsample(x)))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tcn = torch.nn.Module()
            self.tcn.network = torch.nn.Sequential(
                *[Block(c_in if b == 0 else F, F, d) for b, d in enumerate(dilations)])
            self.linear = torch.nn.Linear(F, classes)

        def forward(self, x):  # x: (N, T, C), as pytcn's
            h = self.tcn.network(x.transpose(1, 2))
            return self.linear(h.transpose(1, 2)) if head == "every" else self.linear(h[:, :, -1])

    return Net


def torch_recurrent_net(name):
    """PyTorch's module of recurrent configuration ``name``: torch.nn.GRU or torch.nn.LSTM (batch first) and a
    linear head reading the last step or every step, whose state_dict names are pytcn.GRU's and pytcn.LSTM's."""
    import torch

    cell, c_in, T, N, H, head, classes = RECURRENT_CONFIGS[name]
    rnn = torch.nn.GRU if cell == "gru" else torch.nn.LSTM

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn(c_in, H, batch_first=True)
            self.linear = torch.nn.Linear(H, classes)

        def forward(self, x):  # x: (N, T, C), as pytcn's
            h, _ = self.rnn(x)  # N, T, H: the state after every step
            return self.linear(h) if head == "every" else self.linear(h[:, -1])

    return Net


def worker_torch(name, steps, warmup, threads, device="cpu", tf32=None):
    """PyTorch's training step and inference pass on ``device`` ('cpu' or 'cuda'). ``tf32``: None leaves PyTorch's
    defaults; False is strict float32 (cuDNN's convolutions and the matmuls without TF32), True allows TF32."""
    import torch
    import torch.nn.functional as F_

    torch.set_num_threads(threads)
    if tf32 is not None:
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)  # a GPU step ends when its kernels end
    classes = task(name)[4]
    Net = torch_recurrent_net(name) if name in RECURRENT_CONFIGS else torch_tcn(name)

    t0 = time.perf_counter()
    net = Net()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in pytcn_model(name).state_dict().items()})
    net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    x_np, y_np = data(name)
    x, y = torch.from_numpy(x_np).to(device), torch.from_numpy(y_np).to(device)

    def loss_fn(pred):
        if classes == 1:
            return F_.mse_loss(pred, y)
        return F_.cross_entropy(pred.reshape(-1, classes), y.reshape(-1))

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(x)).backward()
        optimizer.step()
        sync()

    def infer():
        with torch.no_grad():
            net(x)
        sync()

    train_step()
    first = time.perf_counter() - t0
    train_ms = time_calls(train_step, steps, warmup)
    infer_ms = time_calls(infer, steps, warmup)
    return dict(first_s=first, train_ms=train_ms, infer_ms=infer_ms, threads=torch.get_num_threads(),
                version=torch.__version__)


def run_worker(kind, name, args, env=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, name, "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} worker for {name} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _commit(path):
    out = subprocess.run(["git", "-C", path, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def cpu_info():
    name, mhz, flags = "unknown", None, ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and name == "unknown":
                    name = value.strip()
                elif key == "cpu MHz" and mhz is None:
                    mhz = float(value)
                elif key == "flags" and not flags:
                    flags = value
    except OSError:
        name = platform.processor() or name
    return name, mhz, flags.split()


def measured_peak(threads):
    """benchmarks/peak.py's measurements on ``threads`` threads (the best of three worker processes)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import peak

    return peak.measured(threads)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", help=f"of {', '.join(ALL_CONFIGS)} (default: all), or a group: "
                        f"{', '.join(f'{g} ({len(names)})' for g, names in GROUPS.items())}")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per worker (median)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="alternating pytcn/PyTorch workers per configuration")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both (default: all cores)")
    parser.add_argument("--peak-gflops", type=float, help="the machine's FP32 peak (default: measured by "
                        "benchmarks/peak.py)")
    parser.add_argument("--cold", action="store_true", help="also time a first call with an empty Numba cache")
    parser.add_argument("--no-torch", action="store_true", help="time pytcn alone even if PyTorch is installed")
    parser.add_argument("--json", help="append one JSON line per configuration to this file")
    parser.add_argument("--baseline", help="another checkout of pytcn to time in the same alternation")
    parser.add_argument("--worker", choices=["pytcn", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, least in (("steps", 1), ("warmup", 0), ("rounds", 1), ("threads", 1)):
        if getattr(args, name) < least:
            parser.error(f"--{name} must be at least {least}, got {getattr(args, name)}")
    if args.peak_gflops is not None and not args.peak_gflops > 0:
        parser.error(f"--peak-gflops must be a positive number of GFLOP/s, got {args.peak_gflops}")
    unknown = [c for c in args.configs if c not in ALL_CONFIGS and c not in GROUPS]
    if unknown:
        parser.error(f"unknown configuration {unknown[0]!r}; choose from {', '.join(ALL_CONFIGS)}, or a group "
                     f"({', '.join(GROUPS)})")
    args.configs = [c for name in args.configs for c in GROUPS.get(name, [name])]

    if args.worker:
        os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
        (name,) = args.configs
        if args.worker == "pytcn":
            result = worker_pytcn(name, args.steps, args.warmup)
        else:
            result = worker_torch(name, args.steps, args.warmup, args.threads)
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return 0

    with_torch = not args.no_torch and importlib.util.find_spec("torch") is not None
    torch_note = ("with PyTorch" if with_torch else "without PyTorch (--no-torch): pytcn alone" if args.no_torch
                  else "PyTorch not installed: pytcn alone")
    measured = None if args.peak_gflops else measured_peak(args.threads)
    peak = args.peak_gflops or measured["peak_gflops"]
    cpu, mhz, _ = cpu_info()
    import llvmlite.binding as llvm
    import numba

    how = ("given by --peak-gflops" if args.peak_gflops else
           f"measured: sgemm {measured['sgemm_gflops']:.0f}, FMA loop {measured['fma_gflops']:.0f}; "
           f"triad {measured['triad_gbytes']:.1f} GB/s")
    print(f"# {cpu} ({llvm.get_host_cpu_name()}) at {mhz} MHz nominal, {os.cpu_count()} CPUs, {args.threads} "
          f"threads; numba {numba.__version__}, numpy {np.__version__}; FP32 peak {peak:.0f} GFLOP/s ({how}); "
          f"{torch_note}")
    print(f"# command: python benchmarks/speed.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    head = (f"{'config':16s} {'train ms':>9s} {'GFLOP/s':>8s} {'%peak':>6s} {'Adam ms':>8s} {'infer ms':>9s} "
            f"{'GFLOP/s':>8s} {'RSS MiB':>8s} {'faults':>7s} {'first s':>8s}")
    if with_torch:
        head += f" {'torch train':>11s} {'ratio':>6s} {'torch infer':>11s} {'ratio':>6s} {'torch RSS':>9s}"
    if args.baseline:
        head += f" | baseline {'train ms':>9s} {'infer ms':>9s} {'RSS MiB':>8s}"
        head += f" {'ratio':>6s} {'ratio':>6s}" if with_torch else ""
    if args.cold:
        head += f" {'cold s':>7s}"
    print(head)
    env = dict(os.environ, NUMBA_NUM_THREADS=str(args.threads))
    if args.baseline:
        base_env = dict(env, PYTHONPATH=os.path.abspath(args.baseline))  # its pytcn before the installed one
        print(f"# baseline: {os.path.abspath(args.baseline)} at {_commit(args.baseline)}; this checkout at "
              f"{_commit(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))}")
    for name in args.configs or ALL_CONFIGS:
        ours, theirs, base = [], [], []
        for _ in range(args.rounds):
            ours.append(run_worker("pytcn", name, args, env))
            if with_torch:
                theirs.append(run_worker("torch", name, args, env))
            if args.baseline:
                base.append(run_worker("pytcn", name, args, base_env))
        med = {k: statistics.median(r[k] for r in ours)
               for k in ("train_ms", "adam_ms", "infer_ms", "first_s", "peak_rss_mib", "train_faults")}
        fwd = forward_flops(name)
        train_gf, infer_gf = 3 * fwd / med["train_ms"] / 1e6, fwd / med["infer_ms"] / 1e6
        row = dict(config=name, cpu=cpu, core=llvm.get_host_cpu_name(), threads=args.threads,
                   **{f"pytcn_{k}": v for k, v in med.items()},
                   train_gflops=train_gf, infer_gflops=infer_gf, peak_gflops=peak,
                   peak_measured=measured)
        line = (f"{name:16s} {med['train_ms']:9.2f} {train_gf:8.1f} {100 * train_gf / peak:6.1f} "
                f"{med['adam_ms']:8.3f} "
                f"{med['infer_ms']:9.2f} {infer_gf:8.1f} {med['peak_rss_mib']:8.0f} {med['train_faults']:7.0f} "
                f"{med['first_s']:8.2f}")
        if with_torch:
            tmed = {k: statistics.median(r[k] for r in theirs) for k in ("train_ms", "infer_ms", "peak_rss_mib")}
            row.update({f"torch_{k}": v for k, v in tmed.items()}, torch_version=theirs[0]["version"],
                       train_ratio=tmed["train_ms"] / med["train_ms"], infer_ratio=tmed["infer_ms"] / med["infer_ms"])
            line += (f" {tmed['train_ms']:11.2f} {row['train_ratio']:6.2f} {tmed['infer_ms']:11.2f} "
                     f"{row['infer_ratio']:6.2f} {tmed['peak_rss_mib']:9.0f}")
        if args.baseline:
            bmed = {k: statistics.median(r[k] for r in base) for k in ("train_ms", "infer_ms", "peak_rss_mib")}
            row.update({f"baseline_{k}": v for k, v in bmed.items()}, baseline_commit=_commit(args.baseline))
            line += f" | baseline {bmed['train_ms']:9.2f} {bmed['infer_ms']:9.2f} {bmed['peak_rss_mib']:8.0f}"
            if with_torch:
                row.update(baseline_train_ratio=tmed["train_ms"] / bmed["train_ms"],
                           baseline_infer_ratio=tmed["infer_ms"] / bmed["infer_ms"])
                line += f" {row['baseline_train_ratio']:6.2f} {row['baseline_infer_ratio']:6.2f}"
        if args.cold:
            with tempfile.TemporaryDirectory() as cache:
                cold = run_worker("pytcn", name, argparse.Namespace(steps=1, warmup=0, threads=args.threads),
                                  dict(env, NUMBA_CACHE_DIR=cache))
            row["cold_first_s"] = cold["first_s"]
            line += f" {cold['first_s']:7.2f}"
        print(line, flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
