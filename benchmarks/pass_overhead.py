"""What a pass costs besides its arithmetic: the training step and the inference pass of a tiny model (2 sequences
of 16 steps, 4 filters, 4 blocks), where Python's work per layer (checks, the runtime around a pass, dispatch to the
kernels) is most of the time. Medians of 2,000 calls after 50 warm-up calls.

    python benchmarks/pass_overhead.py                        # this checkout
    PYTHONPATH=/tmp/before python benchmarks/pass_overhead.py # another one (git worktree add /tmp/before COMMIT,
                                                              # with its pytcn/kernels and pytcn/tasks symlinked)

Run both alternately a few times on an idle machine: the figures are stable to a few microseconds there, where the
large configurations of speed.py vary by 10% between rounds on a 2-vCPU VM.
"""
import statistics
import time

import numpy as np

import pytcn


def median_us(fn, calls=2000, warmup=50):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e6 * statistics.median(times)


def main():
    model = pytcn.TCN(input_channels=2, outputs=1, nb_filters=4, kernel_size=3, dilations=[1, 2, 4, 8],
                      use_skip_connections=False, seed=0)
    optimizer = pytcn.Adam(model.params, lr=1e-3)
    x = np.random.default_rng(0).standard_normal((2, 16, 2)).astype(np.float32)
    y = np.zeros((2, 1), np.float32)

    def training_step():
        _, dy = pytcn.mse(model.forward(x, training=True), y, model.backend)
        model.backward(dy)
        optimizer.step(model.grads)

    print(f"{pytcn.__file__}: training step {median_us(training_step):.0f} us, "
          f"inference {median_us(lambda: model.forward(x)):.0f} us")


if __name__ == "__main__":
    main()
