"""TCNClassifier and TCNForecaster with their defaults on real data that ships inside aeon's wheel, beside published
accuracies and a seasonal-naive forecast (issue #26, "benchmarks/own_data.py").

Classification: UCR/UEA problems bundled with aeon 1.6.0, the default TCNClassifier (one setting for every dataset,
only random_state changes), per dataset and seed the fit time, predict time, test accuracy and epochs run; the mean
and standard deviation over seeds beside FCN, ResNet and 1-NN DTW as published (PUBLISHED below, a source per
column); the mean difference to ResNet over the datasets. Forecasting: the Airline series (Box-Jenkins series G,
144 months), TCNForecaster with its defaults trained on all but the last 12 months, MAE / RMSE / MAPE on those 12
beside the seasonal naive forecast (m = 12) and statsmodels' ETS when statsmodels is installed.

aeon is a benchmark-only source of data, never imported: it pins an older numba than pytcn's, so its files are read
straight from the wheel (a zip), which you get without installing it:

    pip download aeon==1.6.0 --no-deps -d DIR
    python benchmarks/own_data.py DIR/aeon-1.6.0-py3-none-any.whl [--seeds 0 1 2] [--datasets GunPoint ...]
                                  [--threads N] [--out results.json] [--no-forecast]

It prints the machine (CPU model from /proc/cpuinfo, CPUs, Numba threads) and the versions first, one line per fit
as it ends (with the load average before and after it), then Markdown tables for benchmarks/own_data_results.md.
The issue's budget is two minutes of training per dataset on 2 cores; run it on a machine nothing else is using:
Numba's OpenMP threads spin while they wait for each other, and with another process busy on one of two cores a
fit with two Numba threads took 40 times as long as with one (benchmarks/own_data_results.md).

Developer flag, not shown by --help: ``--max-epochs N`` overrides max_epochs of both estimators, for a smoke test of
the script (``--seeds 0 --datasets GunPoint --max-epochs 2``). Numbers made with it are not the benchmark, and the
script says so in its output and in the JSON.
"""
import argparse
import json
import math
import os
import platform
import sys
import time
import zipfile

import numpy as np

# Published test accuracies in %, on each dataset's default train/test split, copied from
# docs/design/estimators-research.md §2 (which names the files and how each mean was computed). A column has one
# source; a dataset a column lacks is absent from it.
PUBLISHED = {
    "FCN '18": dict(
        source="Fawaz et al. 2019, hfawaz/dl-4-tsc results/results-ucr-128.csv (UCR 2018 archive), mean of 5 runs",
        values={"ArrowHead": 84.3, "GunPoint": 100.0, "ItalyPowerDemand": 96.3, "OSULeaf": 97.9, "ACSF1": 89.8,
                "PickupGestureWiimoteZ": 74.4}),
    "ResNet '18": dict(
        source="Fawaz et al. 2019, hfawaz/dl-4-tsc results/results-ucr-128.csv (UCR 2018 archive), mean of 5 runs",
        values={"ArrowHead": 83.8, "GunPoint": 99.1, "ItalyPowerDemand": 96.2, "OSULeaf": 98.0, "ACSF1": 91.6,
                "PickupGestureWiimoteZ": 70.4}),
    "1NN-DTW full window": dict(
        source="UCR 2018 archive DataSummary.csv, column 'DTW (w=100)' (unconstrained DTW), 1 - error; equals "
               "resample 0 of tsml-eval results/classification/Univariate/1NN-DTW_accuracy.csv",
        values={"ArrowHead": 70.3, "GunPoint": 90.7, "ItalyPowerDemand": 95.0, "OSULeaf": 59.1, "ACSF1": 64.0,
                "PickupGestureWiimoteZ": 66.0}),
    "1NN-DTW learned window": dict(
        source="UCR 2018 archive DataSummary.csv, column 'DTW (learned_w)' (window learned by leave-one-out on the "
               "training set), 1 - error",
        values={"ArrowHead": 80.0, "GunPoint": 91.3, "ItalyPowerDemand": 95.5, "OSULeaf": 61.2, "ACSF1": 62.0,
                "PickupGestureWiimoteZ": 66.0}),
    "ResNet UEA": dict(
        source="Ruiz et al. 2021 (multivariate bake-off), tsml-eval results/classification/Multivariate/"
               "ResNet_accuracy.csv, resample 0 (the default split), one run",
        values={"BasicMotions": 100.0}),
    "1NN-DTW-D UEA": dict(
        source="Ruiz et al. 2021, tsml-eval results/classification/Multivariate/1NN-DTW-D_accuracy.csv, resample 0",
        values={"BasicMotions": 97.5}),
    "FCN MTS": dict(
        source="Fawaz et al. 2019, hfawaz/dl-4-tsc results/results-mts-avg-std.csv, mean of 10 runs, on Baydogan's "
               "MTS archive version resampled to the longest length (not the unequal-length file benchmarked here)",
        values={"JapaneseVowels": 99.3}),
    "ResNet MTS": dict(
        source="Fawaz et al. 2019, hfawaz/dl-4-tsc results/results-mts-avg-std.csv, mean of 10 runs, on Baydogan's "
               "MTS archive version resampled to the longest length (not the unequal-length file benchmarked here)",
        values={"JapaneseVowels": 99.2}),
}
#: where each dataset's ResNet number comes from, in this order: the first column that has the dataset
RESNET_COLUMNS = ("ResNet '18", "ResNet UEA", "ResNet MTS")
#: datasets whose ResNet number was measured on another version of the data than the file read here
OTHER_VERSION = {"JapaneseVowels": "ResNet on Baydogan's resampled equal-length version",
                 "PickupGestureWiimoteZ": "Fawaz read the UCR 2018 .tsv, probably its equal-length 'adjusted' "
                                          "version (research doc, 'Not verified')"}

# The default list: every classification problem in the wheel with a published ResNet number, cheapest first. One
# default fit of each was timed (benchmarks/own_data_results.md, "Timing of one fit"): OSULeaf and ACSF1 are over
# the budget, and stay, marked so. --datasets takes any problem in the wheel's aeon/datasets/data/.
DATASETS = ("ItalyPowerDemand", "ArrowHead", "GunPoint", "BasicMotions", "JapaneseVowels", "PickupGestureWiimoteZ",
            "OSULeaf", "ACSF1")
BUDGET_S = 120.0  # the target: at most two minutes of training per dataset on 2 cores
HORIZON = 12  # Airline: forecast the last year, monthly
WINDOW = 36  # TCNForecaster's window on Airline: three seasons, the value its docstring measured the default with


# ---------------------------------------------------------------------------------------------------------------
# data, read from the wheel


def read_ts(text):
    """(X: list of (C, T_i) float64 arrays, y: labels as str) of a .ts file's text: header lines '@...' up to
    '@data', then one case a line, channels separated by ':', values by ',', '?' a missing value, the label last."""
    X, y, data = [], [], False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not data:
            data = line.lower() == "@data"
            continue
        *channels, label = line.split(":")
        X.append(np.array([[math.nan if v == "?" else float(v) for v in c.split(",")] for c in channels]))
        y.append(label.strip())
    return X, np.array(y)


def load_classification(wheel, name, split):
    """(X, y) of aeon/datasets/data/NAME/NAME_SPLIT.ts in the wheel: X (n_cases, n_channels, n_timepoints) when
    every case has one length, else the list of (n_channels, n_timepoints_i) arrays (aeon's layouts)."""
    with zipfile.ZipFile(wheel) as z:
        X, y = read_ts(z.read(f"aeon/datasets/data/{name}/{name}_{split}.ts").decode())
    return (np.stack(X) if len({x.shape for x in X}) == 1 else X), y


def load_airline(wheel):
    """The 144 monthly totals of international airline passengers, 1949-01 to 1960-12 (thousands), float64."""
    with zipfile.ZipFile(wheel) as z:
        lines = z.read("aeon/datasets/data/Airline/Airline.csv").decode().split()
    assert lines[0] == "Date,Passengers", lines[0]
    return np.array([float(line.split(",")[1]) for line in lines[1:]])


# ---------------------------------------------------------------------------------------------------------------
# the machine


def machine_cpus():
    """The logical CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def machine():
    """CPU model, logical CPUs this process may run on, Numba's threads, and the versions that matter."""
    import numba
    import sklearn

    import pytcn

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return dict(cpu=model, cpus=machine_cpus(), numba_threads=numba.get_num_threads(), python=platform.python_version(),
                numpy=np.__version__, numba=numba.__version__, sklearn=sklearn.__version__, pytcn=pytcn.__version__,
                date=time.strftime("%Y-%m-%d"))


# ---------------------------------------------------------------------------------------------------------------
# classification


def resnet_reference(name):
    """(column, accuracy in %) of the dataset's published ResNet number, or (None, None)."""
    for column in RESNET_COLUMNS:
        if name in PUBLISHED[column]["values"]:
            return column, PUBLISHED[column]["values"][name]
    return None, None


def fit_classifier(wheel, name, seeds, max_epochs=None, log=print):
    """One record per seed: the default TCNClassifier fitted on NAME's training split, scored on its test split."""
    from pytcn.estimators import TCNClassifier

    (X_train, y_train), (X_test, y_test) = (load_classification(wheel, name, s) for s in ("TRAIN", "TEST"))
    records = []
    for seed in seeds:
        clf = TCNClassifier(random_state=seed)
        if max_epochs is not None:
            clf.set_params(max_epochs=max_epochs)
        load = os.getloadavg()[0]  # the cores may be shared: a load above their number inflates the wall times
        t0, cpu0 = time.perf_counter(), time.process_time()
        clf.fit(X_train, y_train)
        t1, cpu1 = time.perf_counter(), time.process_time()
        accuracy = float(np.mean(clf.predict(X_test) == y_test))
        t2 = time.perf_counter()
        record = dict(dataset=name, seed=seed, accuracy=accuracy, fit_s=t1 - t0, fit_cpu_s=cpu1 - cpu0,
                      predict_s=t2 - t1, load_before=load, load_after=os.getloadavg()[0],
                      epochs=int(clf.n_iter_), best_epoch=int(clf.best_epoch_), monitor=clf.monitor_,
                      dilations=[int(d) for d in clf.dilations_], n_train=len(y_train), n_test=len(y_test))
        log(f"{name} seed {seed}: accuracy {accuracy:.3f}, fit {record['fit_s']:.1f} s (CPU {record['fit_cpu_s']:.1f} "
            f"s, load {load:.1f} -> {record['load_after']:.1f}), predict {record['predict_s']:.2f} s, "
            f"{record['epochs']} epochs (best {record['best_epoch']}, monitoring {record['monitor']}), dilations "
            f"{record['dilations']}", flush=True)
        records.append(record)
    return records


def summarise(records):
    """Per dataset: mean and standard deviation (ddof=0) of accuracy and fit time over seeds, epochs, the ResNet
    reference and the difference to it in points; and the mean difference over datasets (all, and only those
    whose ResNet number is on the same data as here)."""
    rows = []
    for name in dict.fromkeys(r["dataset"] for r in records):
        mine = [r for r in records if r["dataset"] == name]
        acc = np.array([r["accuracy"] for r in mine]) * 100
        fit = np.array([r["fit_s"] for r in mine])
        column, resnet = resnet_reference(name)
        rows.append(dict(dataset=name, seeds=len(mine), accuracy_mean=float(acc.mean()), accuracy_std=float(acc.std()),
                         fit_s_mean=float(fit.mean()), fit_s_max=float(fit.max()),
                         predict_s_mean=float(np.mean([r["predict_s"] for r in mine])),
                         epochs_mean=float(np.mean([r["epochs"] for r in mine])), resnet_column=column,
                         resnet=resnet, minus_resnet=None if resnet is None else float(acc.mean() - resnet),
                         over_budget=bool(fit.max() > BUDGET_S), other_version=name in OTHER_VERSION))
    with_resnet = [r for r in rows if r["resnet"] is not None]
    same = [r for r in with_resnet if not r["other_version"]]
    mean = lambda rs: float(np.mean([r["minus_resnet"] for r in rs])) if rs else None  # noqa: E731
    return dict(rows=rows, loads=[r["load_before"] for r in records], cpus=machine_cpus(),
                minus_resnet_all=mean(with_resnet),
                minus_resnet_same_data=mean(same),
                datasets_all=[r["dataset"] for r in with_resnet], datasets_same_data=[r["dataset"] for r in same])


def classification_markdown(summary):
    columns = ["FCN '18", "ResNet '18", "1NN-DTW full window", "ResNet UEA", "1NN-DTW-D UEA", "FCN MTS", "ResNet MTS"]
    present = [c for c in columns if any(r["dataset"] in PUBLISHED[c]["values"] for r in summary["rows"])]
    lines = ["| dataset | TCNClassifier accuracy % (mean ± std) | fit s (mean / max) | predict s | epochs | "
             + " | ".join(present) + " | minus ResNet |",
             "|---" * (6 + len(present)) + "|"]
    for r in summary["rows"]:
        published = [f"{PUBLISHED[c]['values'][r['dataset']]:.1f}" if r["dataset"] in PUBLISHED[c]["values"] else "–"
                     for c in present]
        diff = "–" if r["minus_resnet"] is None else f"{r['minus_resnet']:+.1f}" + ("*" if r["other_version"] else "")
        budget = " **over 120 s**" if r["over_budget"] else ""
        seeds = f"{r['seeds']} seed" + "s" * (r["seeds"] > 1)
        lines.append(f"| {r['dataset']} | {r['accuracy_mean']:.1f} ± {r['accuracy_std']:.1f} ({seeds}) | "
                     f"{r['fit_s_mean']:.0f} / {r['fit_s_max']:.0f}{budget} | {r['predict_s_mean']:.2f} | "
                     f"{r['epochs_mean']:.0f} | " + " | ".join(published) + f" | {diff} |")
    fmt = lambda v: "–" if v is None else f"{v:+.2f} points"  # noqa: E731
    lines.append("")
    busy = max(summary["loads"]) > summary["cpus"]
    lines.append(f"Load average (1 min) when a fit started: {min(summary['loads']):.1f} to {max(summary['loads']):.1f} "
                 f"on {summary['cpus']} CPUs" + (": **other work shared the CPUs, the wall times are inflated** "
                                                  "(Numba's OpenMP threads spin while they wait for each other)."
                                                  if busy else "."))
    lines.append(f"Mean difference to ResNet: {fmt(summary['minus_resnet_all'])} over "
                 f"{', '.join(summary['datasets_all']) or 'no dataset'}; {fmt(summary['minus_resnet_same_data'])} "
                 f"over those whose ResNet number is on the same data ({', '.join(summary['datasets_same_data'])}).")
    for name, why in OTHER_VERSION.items():
        if any(r["dataset"] == name for r in summary["rows"]):
            lines.append(f"\\* {name}: {why}.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# forecasting


def errors(y_true, y_pred):
    """MAE, RMSE and MAPE (%) of a forecast."""
    e = np.asarray(y_pred, dtype=np.float64).ravel() - y_true
    return dict(mae=float(np.mean(np.abs(e))), rmse=float(np.sqrt(np.mean(e ** 2))),
                mape=float(100 * np.mean(np.abs(e) / np.abs(y_true))))


def seasonal_naive(train, horizon, m=12):
    """The last observed season repeated: y_hat[T + h] = y[T + h - m * ceil(h / m)], h = 1..horizon."""
    return np.array([train[len(train) - m + (h % m)] for h in range(horizon)])


def ets(train, horizon):
    """(forecast, description) of statsmodels' Holt-Winters exponential smoothing with additive trend and
    multiplicative seasonality (m = 12), the textbook model for this series; (None, reason) without statsmodels."""
    try:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing
    except ImportError as e:
        return None, f"statsmodels is not installed ({e}); pip install statsmodels to add ETS"
    fit = ExponentialSmoothing(train, trend="add", seasonal="mul", seasonal_periods=12).fit()
    return fit.forecast(horizon), "statsmodels ExponentialSmoothing(trend='add', seasonal='mul', seasonal_periods=12)"


def forecast_airline(wheel, seeds, max_epochs=None, log=print):
    """Airline: every method trained on the first 132 months and scored on the last 12."""
    y = load_airline(wheel)
    train, test = y[:-HORIZON], y[-HORIZON:]
    out = dict(series="Airline", n_train=len(train), horizon=HORIZON, methods={})
    out["methods"]["seasonal naive (m=12)"] = dict(**errors(test, seasonal_naive(train, HORIZON)))
    forecast, about = ets(train, HORIZON)
    if forecast is None:
        log(f"ETS skipped: {about}")
        out["ets_skipped"] = about
    else:
        name = "ETS (Holt-Winters: additive trend, multiplicative season)"
        out["methods"][name] = dict(**errors(test, forecast), model=about)
    try:
        from pytcn.estimators import TCNForecaster
    except ImportError:
        try:
            from pytcn.estimators.forecaster import TCNForecaster
        except ImportError as e:
            log(f"TCNForecaster skipped: it cannot be imported ({e})")
            out["tcn_skipped"] = str(e)
            return out
    runs = []
    for seed in seeds:
        model = TCNForecaster(WINDOW, HORIZON, random_state=seed)
        if max_epochs is not None:
            model.set_params(max_epochs=max_epochs)
        t0 = time.perf_counter()
        model.fit(train)
        t1 = time.perf_counter()
        forecast = np.asarray(model.predict(), dtype=np.float64).ravel()
        run = dict(seed=seed, fit_s=t1 - t0, **errors(test, forecast), forecast=forecast.tolist())
        log(f"Airline TCNForecaster(window={WINDOW}, horizon={HORIZON}) seed {seed}: MAE {run['mae']:.2f}, RMSE "
            f"{run['rmse']:.2f}, MAPE {run['mape']:.2f} %, fit {run['fit_s']:.1f} s", flush=True)
        runs.append(run)
    out["methods"][f"TCNForecaster(window={WINDOW}, horizon={HORIZON})"] = dict(
        runs=runs, **{f"{k}_{stat}": float(f([r[k] for r in runs])) for k in ("mae", "rmse", "mape", "fit_s")
                      for stat, f in (("mean", np.mean), ("std", np.std))})
    return out


def forecasting_markdown(result):
    lines = ["| method | MAE | RMSE | MAPE % | fit s |", "|---|---|---|---|---|"]
    for method, m in result["methods"].items():
        if "runs" in m:
            seeds = f"{len(m['runs'])} seed" + "s" * (len(m["runs"]) > 1)
            lines.append(f"| {method}, {seeds} (mean ± std) | {m['mae_mean']:.2f} ± {m['mae_std']:.2f} "
                         f"| {m['rmse_mean']:.2f} ± {m['rmse_std']:.2f} | {m['mape_mean']:.2f} ± {m['mape_std']:.2f} "
                         f"| {m['fit_s_mean']:.1f} |")
        else:
            lines.append(f"| {method} | {m['mae']:.2f} | {m['rmse']:.2f} | {m['mape']:.2f} | – |")
    for key, what in (("ets_skipped", "ETS"), ("tcn_skipped", "TCNForecaster")):
        if key in result:
            lines.append(f"\n{what} not run: {result[key]}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", help="aeon-1.6.0-py3-none-any.whl (pip download aeon==1.6.0 --no-deps -d DIR)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="random_state of each fit (0 1 2)")
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS),
                        help=f"classification problems in the wheel's aeon/datasets/data/ ({' '.join(DATASETS)}); "
                             f"none: forecasting only")
    parser.add_argument("--threads", type=int,
                        help="Numba threads for every fit (numba.set_num_threads); default: Numba's, one a CPU")
    parser.add_argument("--out", help="write every record, the summary and the machine to this JSON file")
    parser.add_argument("--no-forecast", action="store_true", help="skip the Airline forecasting part")
    parser.add_argument("--max-epochs", type=int, help=argparse.SUPPRESS)  # developer smoke tests: see the docstring
    args = parser.parse_args(argv)
    if not zipfile.is_zipfile(args.wheel):
        parser.error(f"{args.wheel} is not a wheel (a zip); pip download aeon==1.6.0 --no-deps -d DIR gets it")

    if args.threads is not None:
        import numba

        numba.set_num_threads(args.threads)  # this thread's count, the one every fit below runs with
    info = machine()
    print(f"machine: {info['cpu']}, {info['cpus']} CPUs, {info['numba_threads']} Numba threads; python "
          f"{info['python']}, numpy {info['numpy']}, numba {info['numba']}, scikit-learn {info['sklearn']}, pytcn "
          f"{info['pytcn']}; {info['date']}")
    print("command: python " + " ".join(sys.argv))
    if args.max_epochs is not None:
        print(f"NOT THE BENCHMARK: --max-epochs {args.max_epochs} overrides the estimators' default max_epochs")

    records = []
    for name in args.datasets:
        records += fit_classifier(args.wheel, name, args.seeds, args.max_epochs)
    summary = summarise(records)
    if records:
        print()
        print(classification_markdown(summary))
    forecast = None
    if not args.no_forecast:
        print()
        forecast = forecast_airline(args.wheel, args.seeds, args.max_epochs)
        print(forecasting_markdown(forecast))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(machine=info, argv=sys.argv, max_epochs_override=args.max_epochs, published=PUBLISHED,
                           classification=records, summary=summary, forecasting=forecast), f, indent=1)
        print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
