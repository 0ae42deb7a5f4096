"""Streaming inference against recomputing the receptive field at every step, on the CLI's three default models.

    python benchmarks/streaming.py                        # every task, batch 1 and 64
    python benchmarks/streaming.py adding --batch 1 --steps 500
    python benchmarks/streaming.py --json benchmarks/streaming_results.jsonl

For each task (`pytcn train TASK`'s default architecture, float32, backend cpu, untrained weights: the work does not
depend on the values) and each batch size N, two ways to get the output at a new step of N live sequences:

- stream: ``model.step(x_t, state)``, one ring buffer per convolution (pytcn.streaming): O(layers * C^2 * K) per step;
- recompute: ``model.forward(window)`` on the last R input steps (R the receptive field), reading the last output:
  the same output, at R times the work.

- onnxruntime (when installed; --no-onnx leaves it out): the streaming graph of ``pytcn.export.to_onnx(model,
  streaming=True)`` run one step at a time in an onnxruntime session (CPU, as many intra-op threads as Numba's), each
  convolution's history fed back from the previous step's outputs, as a deployed stream runs it.

All are timed over --steps consecutive output steps (after --warmup, which also compiles) and reported as output
steps per second (one output step = the N sequences' outputs at one time step) and as the median time of one, with
the FLOPs of one (2 x multiply-adds of every convolution, downsample and the head; recompute counts its whole window).
The outputs are checked to agree before timing. Times depend on the machine: compare them as ratios, measured back
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


def onnx_stream(model, x, R, t0, steps, warmup):
    """The onnxruntime session of model's streaming graph: its output after x[:, :R + 1] (to check), then the times
    of ``steps`` single steps from t0 on (after ``warmup``), each feeding the previous step's histories back."""
    import onnxruntime

    import pytcn.export

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = numba.get_num_threads()
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(pytcn.export.to_onnx(model, streaming=True).SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()][1:]  # the histories after the step, "<input>.next"
    zeros = pytcn.export.stream_inputs(model, x.shape[0])
    y, *after = session.run(None, {"x": x[:, :R + 1], **zeros})
    first = y[:, -1]
    state = {name[:-len(".next")]: h for name, h in zip(names, after)}  # past step R, as a live stream is
    for k in range(R + 1, t0 + warmup):
        _, *after = session.run(None, {"x": x[:, k:k + 1], **state})
        state = {name[:-len(".next")]: h for name, h in zip(names, after)}
    counter = iter(range(t0 + warmup, t0 + warmup + steps))

    def one_step():
        nonlocal state
        _, *after = session.run(None, {"x": x[:, (t := next(counter)):t + 1], **state})
        state = {name[:-len(".next")]: h for name, h in zip(names, after)}

    return first, time_calls(one_step, steps)


def measure(task, batch, steps, warmup, recompute_steps, with_onnx):
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

    onnx_s = None
    if with_onnx:
        first, onnx_times = onnx_stream(model, x, R, R, steps, warmup)
        np.testing.assert_allclose(first, streamed[:, -1], rtol=1e-4, atol=1e-4)
        onnx_s = statistics.median(onnx_times)

    stream_s, recompute_s = statistics.median(stream_times), statistics.median(recompute_times)
    return dict(task=task, batch=batch, receptive_field=R, layers=2 * len(model.blocks),
                onnx_steps_per_s=None if onnx_s is None else 1 / onnx_s,
                onnx_ms=None if onnx_s is None else 1e3 * onnx_s,
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
    parser.add_argument("--no-onnx", action="store_true", help="leave onnxruntime out even if it is installed")
    args = parser.parse_args(argv)
    import importlib.util

    with_onnx = not args.no_onnx and importlib.util.find_spec("onnxruntime") is not None
    if with_onnx:
        import onnxruntime

        print(f"# onnxruntime {onnxruntime.__version__}, {numba.get_num_threads()} intra-op threads")
    else:
        print("# onnxruntime " + ("left out (--no-onnx)" if args.no_onnx else "not installed: its column is empty"))
    unknown = [t for t in args.tasks if t not in TASKS]
    if unknown:
        parser.error(f"unknown task {unknown[0]!r}: choose from {', '.join(TASKS)}")
    print("| task | N | R | layers | stream steps/s | recompute steps/s | speedup | onnxruntime stream steps/s | "
          "stream FLOPs/step | recompute FLOPs/step |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for task in args.tasks or TASKS:
        for batch in args.batch:
            r = measure(task, batch, args.steps, args.warmup, args.recompute_steps, with_onnx)
            onnx = "" if r["onnx_steps_per_s"] is None else f"{r['onnx_steps_per_s']:.0f}"
            print(f"| {task} | {batch} | {r['receptive_field']} | {r['layers']} | {r['stream_steps_per_s']:.0f} | "
                  f"{r['recompute_steps_per_s']:.1f} | {r['speedup']:.0f}x | {onnx} | {r['stream_flops']:.3g} | "
                  f"{r['recompute_flops']:.3g} |", flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    sys.exit(main())
