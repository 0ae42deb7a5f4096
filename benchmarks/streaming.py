"""Streaming inference against recomputing the receptive field at every step, on the CLI's three default models.

    python benchmarks/streaming.py                        # every task, batch 1 and 64
    python benchmarks/streaming.py adding --batch 1 --steps 500
    python benchmarks/streaming.py --json benchmarks/streaming_results.jsonl

For each task (`pytcn train TASK`'s default architecture, float32, backend cpu, untrained weights: the work does not
depend on the values) and each batch size N, two ways to get the output at a new step of N live sequences:

- stream: ``model.step(x_t, state)``, one ring buffer per convolution (pytcn.streaming): O(layers * C^2 * K) per step;
- recompute: ``model.forward(window)`` on the last R input steps (R the receptive field), reading the last output:
  the same output, at R times the work.

Both are timed over --steps consecutive output steps (after --warmup, which also compiles) and reported as output
steps per second (one output step = the N sequences' outputs at one time step) and as the median time of one, with
the FLOPs of one (2 x multiply-adds of every convolution, downsample and the head; recompute counts its whole window).
The two outputs are checked to agree before timing. Times depend on the machine: compare them as ratios, measured back
to back on one machine. The results of a run are appended to --json as one line per (task, batch).
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numba
import numpy as np

import pytcn
from pytcn.nn.streaming import stream_flops
from pytcn.training import build_model
from pytcn.training.config import TASKS, make_config


def window_flops(model, batch, R):
    """FLOPs of one forward pass over a window of R steps (the head read at the last step or at every step)."""
    per_step_convs = stream_flops(model, 1) - 2 * model.linear.in_features * model.linear.out_features
    head_rows = R if model.return_sequences else 1
    return batch * (R * per_step_convs + head_rows * 2 * model.linear.in_features * model.linear.out_features)


def time_calls(fn, count):
    times = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def measure(task, batch, steps, warmup, recompute_steps):
    model = build_model(make_config(task, seed=0))
    R = model.receptive_field
    rng = np.random.default_rng(0)
    T = warmup + steps + R
    x = rng.standard_normal((batch, T, model.input_channels)).astype(np.float32)

    # the agreement of the two ways, at one step past the receptive field
    state = model.stream(batch)
    streamed, _ = model.step(x[:, :R + 1], state)
    window = model.forward(x[:, 1:R + 1])
    last = window[:, -1] if model.return_sequences else window
    np.testing.assert_allclose(streamed[:, -1], last, rtol=1e-4, atol=1e-4)

    state = model.stream(batch)
    model.step(x[:, :R], state)  # a stream already past its start, as a live one is
    t0 = R
    for k in range(warmup):
        model.step(x[:, t0 + k], state)
    t0 += warmup
    counter = iter(range(t0, t0 + steps))
    stream_times = time_calls(lambda: model.step(x[:, next(counter)], state), steps)

    for k in range(min(warmup, 3)):
        model.forward(x[:, k:k + R])
    counter = iter(range(recompute_steps))
    recompute_times = time_calls(lambda: model.forward(x[:, (t := next(counter)):t + R]), recompute_steps)

    stream_s, recompute_s = statistics.median(stream_times), statistics.median(recompute_times)
    return dict(task=task, batch=batch, receptive_field=R, layers=2 * len(model.blocks),
                stream_steps_per_s=1 / stream_s, recompute_steps_per_s=1 / recompute_s,
                stream_ms=1e3 * stream_s, recompute_ms=1e3 * recompute_s, speedup=recompute_s / stream_s,
                stream_flops=stream_flops(model, batch), recompute_flops=window_flops(model, batch, R),
                steps=steps, recompute_steps=recompute_steps, threads=numba.get_num_threads(),
                machine=f"{platform.machine()} {os.cpu_count()} cpus", pytcn=pytcn.__version__)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tasks", nargs="*", help=f"tasks to time (default: all of {', '.join(TASKS)})")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64], help="batch sizes (default: 1 64)")
    parser.add_argument("--steps", type=int, default=300, help="streaming steps timed (default: 300)")
    parser.add_argument("--recompute-steps", type=int, default=20, help="recomputed steps timed (default: 20)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first (default: 20)")
    parser.add_argument("--json", help="append the results to this file, one JSON line per (task, batch)")
    args = parser.parse_args(argv)
    unknown = [t for t in args.tasks if t not in TASKS]
    if unknown:
        parser.error(f"unknown task {unknown[0]!r}: choose from {', '.join(TASKS)}")
    print("| task | N | R | layers | stream steps/s | recompute steps/s | speedup | stream FLOPs/step | "
          "recompute FLOPs/step |")
    print("|---|---|---|---|---|---|---|---|---|")
    for task in args.tasks or TASKS:
        for batch in args.batch:
            r = measure(task, batch, args.steps, args.warmup, args.recompute_steps)
            print(f"| {task} | {batch} | {r['receptive_field']} | {r['layers']} | {r['stream_steps_per_s']:.0f} | "
                  f"{r['recompute_steps_per_s']:.1f} | {r['speedup']:.0f}x | {r['stream_flops']:.3g} | "
                  f"{r['recompute_flops']:.3g} |", flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    sys.exit(main())
