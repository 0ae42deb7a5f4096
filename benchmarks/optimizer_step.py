"""Time the optimizer's share of a training step: Adam with gradient clipping (max_grad_norm 1.0, as `pytcn train`
clips), beside the whole step, on the configurations of benchmarks/speed.py.

    python benchmarks/optimizer_step.py blog locuslab_adding wide

To compare two commits, run it in a checkout of each, back to back (PYTHONPATH=<checkout> selects which pytcn).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import speed  # noqa: E402  (the configurations and their data)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", help=f"of {', '.join(speed.CONFIGS)} (default: all)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps (median)")
    args = parser.parse_args(argv)

    import pytcn

    print(f"# pytcn from {os.path.dirname(pytcn.__file__)}; command: python benchmarks/optimizer_step.py "
          f"{' '.join(argv if argv is not None else sys.argv[1:])}")
    for name in args.configs or list(speed.CONFIGS):
        model = speed.pytcn_model(name)
        optimizer = pytcn.Adam(model.params, lr=1e-3, max_grad_norm=1.0)
        forward_backward = speed.forward_backward(model, name)

        forward_backward()
        optimizer.step(model.grads)  # compiles
        steps, optimizer_steps = [], []
        for _ in range(args.steps):
            t0 = time.perf_counter()
            forward_backward()
            t1 = time.perf_counter()
            optimizer.step(model.grads)
            t2 = time.perf_counter()
            steps.append(t2 - t0)
            optimizer_steps.append(t2 - t1)
        print(f"{name:16s} {len(model.params)} arrays, {model.count_params()} parameters: training step "
              f"{1e3 * statistics.median(steps):.2f} ms, of which Adam with clipping "
              f"{1e3 * statistics.median(optimizer_steps):.3f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
