"""Time a model whose arrays come from its arenas (the default) against the same model allocating every array anew
(``model.configure_memory(reuse=False)``), in one process, alternating, on the configurations of benchmarks/speed.py.

    python benchmarks/memory.py                      # every configuration, training step and inference
    python benchmarks/memory.py wide --rounds 5

Each round times --steps training steps (forward, loss, backward, Adam) and --steps inference passes of each
model, after --warmup; the figures are medians over steps, one line per model and round, with the bytes the model
holds between steps (its arenas; nothing for fresh allocation). What it shows: how much of a step the allocator
costs (page faults, alignment; pytcn/runtime/memory.py), with everything else equal.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import speed  # noqa: E402  (the configurations, their data, the timing)


def timed(model, name, steps, warmup):
    """(training step ms, inference ms, page faults per training step) of ``model`` on configuration ``name``."""
    import pytcn

    optimizer = pytcn.Adam(model.params, lr=1e-3)
    forward_and_backward = speed.forward_backward(model, name)
    x, _ = speed.data(name)

    def train_step():
        forward_and_backward()
        optimizer.step(model.grads)

    train_step()  # the first step of a shape fills the arenas
    train_ms, faults = speed.time_training(train_step, steps, warmup)
    return train_ms, speed.time_calls(lambda: model.forward(x), steps, warmup), faults


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", help=f"of {', '.join(speed.CONFIGS)} (default: all)")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    unknown = [c for c in args.configs if c not in speed.CONFIGS]
    if unknown:
        parser.error(f"unknown configuration {unknown[0]!r}; choose from {', '.join(speed.CONFIGS)}")
    print(f"# command: python benchmarks/memory.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"{'config':16s} {'arrays':>7s} {'train ms':>9s} {'infer ms':>9s} {'faults/step':>12s} {'held MiB':>9s}")
    for name in args.configs or list(speed.CONFIGS):
        reused = speed.pytcn_model(name)
        fresh = speed.pytcn_model(name)
        fresh.configure_memory(reuse=False)
        for _ in range(args.rounds):
            for label, model in (("reused", reused), ("fresh", fresh)):
                train_ms, infer_ms, faults = timed(model, name, args.steps, args.warmup)
                held = model.workspace().nbytes / 2 ** 20
                print(f"{name:16s} {label:>7s} {train_ms:9.2f} {infer_ms:9.2f} {faults:12.0f} {held:9.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
