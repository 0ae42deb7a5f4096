"""Which per-window normalisation TCNForecaster uses by default: its three choices on Airline (144 months), horizon
12, every other parameter at its default, one Numba thread, beside the seasonal naive forecast (m = 12).

    python benchmarks/forecaster_normalize.py WHEEL [--windows 24 36] [--seeds 0 1 2 3 4]

WHEEL: aeon-1.6.0-py3-none-any.whl (pip download aeon==1.6.0 --no-deps -d DIR), whose Airline.csv is read from the
zip (aeon is never installed). Two tests per window and choice: fit on the first 132 months and score predict()
on the last 12 (MAE); fit on the first 108 and score backtest() from every origin 108..132 (the mean of 25 MAEs).
The table in TCNForecaster's docstring came from this computation (about 20 s a fit on one core).
"""
import argparse
import io
import zipfile

import numba
import numpy as np

from pytcn.estimators.forecaster import NORMALIZE, TCNForecaster, backtest


def airline(wheel):
    with zipfile.ZipFile(wheel) as z:
        text = z.read("aeon/datasets/data/Airline/Airline.csv").decode()
    return np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, usecols=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel")
    parser.add_argument("--windows", type=int, nargs="+", default=[24, 36])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    numba.set_num_threads(1)
    y = airline(args.wheel)
    origins = range(108, 133)
    print(f"seasonal naive: holdout MAE {np.abs(y[120:132] - y[132:]).mean():.2f}, rolling mean MAE "
          f"{np.mean([np.abs(y[o:o + 12] - y[o - 12:o]).mean() for o in origins]):.2f}")
    for window in args.windows:
        for kind in NORMALIZE:
            holdout, rolling = [], []
            for seed in args.seeds:
                f = TCNForecaster(window, 12, normalize=kind, random_state=seed).fit(y[:132])
                holdout.append(np.abs(f.predict() - y[132:]).mean())
                f = TCNForecaster(window, 12, normalize=kind, random_state=seed).fit(y[:108])
                rolling.append(backtest(f, y, 108)["mean_mae"])
            print(f"window {window}, normalize={kind!r}: holdout MAE {np.mean(holdout):.1f} +- {np.std(holdout):.1f}, "
                  f"rolling mean MAE {np.mean(rolling):.1f} +- {np.std(rolling):.1f} ({len(args.seeds)} seeds)",
                  flush=True)


if __name__ == "__main__":
    main()
