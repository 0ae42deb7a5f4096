"""The `pytcn` command: a thin layer over the library (pytcn.training, pytcn.estimators, pytcn.study, pytcn.nn,
pytcn.tasks.download).

    pytcn train {adding,copy-memory,mnist} [options]    train a task (defaults per task: pytcn train TASK --help)
    pytcn train TASK --out DIR --resume                 continue the run saved in DIR, with its own settings
    pytcn evaluate CHECKPOINT                           recompute the test metric of a checkpoint (or a run's folder)
    pytcn info CHECKPOINT                               architecture, parameter count, receptive field
    pytcn fit DATA --out RUN [--regression]             a classifier (or regressor) on your .npz or UCR-layout CSV
    pytcn predict RUN DATA --out predictions.csv        its predictions (and accuracy, when DATA has labels)
    pytcn forecast SERIES.csv --column NAME --window W --horizon H --out RUN    the next H steps of a column
    pytcn download {mnist,fashion-mnist}                fetch the IDX files into the per-user cache
    pytcn sweep run EXPERIMENT... [--task TASK...]      the blog post's study on Dask (pytcn.study.sweep)
    pytcn sweep plot                                    its figures, from the results store

A mistake in what the user gave (an option out of range, a missing or damaged file, a NaN loss) ends the command
with one line, ``pytcn: error: ...``, and exit status 2. Anything else is a bug in pytcn: its traceback is shown,
with a line saying so, and the exit status is 70.
"""
import argparse
import errno
import os
import sys
import traceback

from .runtime.archive import CheckpointError
from .training.config import (
    RECURRENT_HIDDEN,
    SHAPES,
    TASKS,
    ConfigError,
    check_config,
    default_config,
    make_config,
    option_name,
)

EXIT_ERROR = 2
EXIT_BUG = 70  # EX_SOFTWARE of sysexits.h: an internal software error

#: config fields a resumed run may change: how long it trains, and where (everything else is the run's own)
RESUMABLE = ("epochs", "backend", "data_dir")


class UsageError(Exception):
    """A mistake in the command line that no other check covers; the message is the whole story."""


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors are one line (with where to find the options) instead of the usage and a
    line, like every other error of the command."""

    def error(self, message):
        self.exit(EXIT_ERROR, f"pytcn: error: {message} (see: {self.prog} --help)\n")


def _dilations(text):
    try:
        values = [int(v) for v in text.replace(" ", "").split(",")]  # '1,,2' is a typo, not 1,2
    except ValueError:
        raise argparse.ArgumentTypeError(f"dilations must be comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"dilations must be positive integers, got {text!r}")
    return values


def _make_folder(folder, make=True):
    """Makes ``folder`` (and those above it) if missing, or with ``make=False`` only checks that it could be made;
    returns what stops it, or None when it is (or can be) a writable folder."""
    from .runtime.files import nearest_existing

    above = nearest_existing(folder)
    if not os.path.isdir(above):
        return f"{above} is a file; a folder is needed there"
    if not make:
        return None if os.access(above, os.W_OK | os.X_OK) else f"the folder {above} is not writable"
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        return f"cannot make the folder {folder} ({e.strerror or e})"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable"
    return None


def out_folder(option, path, make=True):
    """The folder an option names for a command's output, made now, before any work (an existing folder is kept);
    refused at once when it is a file or cannot be made. Every command's --out (and --dir) goes through here or
    ``out_file``, so that all of them behave alike. ``make=False`` checks without making it, for a command that
    makes its folder itself once its inputs are found (a run that cannot start leaves no folder behind)."""
    if not path:
        raise UsageError(f"{option} must name a folder, got ''")
    problem = _make_folder(path, make)
    if problem:
        raise UsageError(f"{option} {path}: {problem}")
    return path


def out_file(option, path, suffixes=None):
    """The file an option names for a command's output: its folder made now, as ``out_folder`` does, and refused at
    once when it names a folder or, with ``suffixes``, ends otherwise."""
    if not path:
        raise UsageError(f"{option} must name a file, got ''")
    if suffixes and os.path.splitext(path)[1].lower() not in suffixes:
        raise UsageError(f"{option} must end in {' or '.join(suffixes)}, got {path!r}")
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a folder; give a file name (e.g. {os.path.join(path, 'out')})")
    problem = _make_folder(os.path.dirname(path) or ".")
    if problem:
        raise UsageError(f"{option} {path}: {problem}")
    return path


def _train_parser(sub, task):
    d = default_config(task)
    p = sub.add_parser(task, help=f"train the {task} task", allow_abbrev=False,
                       description=f"Train a TCN (or, with --model, a GRU or LSTM baseline) on the {task} task. The "
                                   f"TCN's defaults converge on a 2-core CPU. Every "
                                   f"option left out keeps its default; with --resume, the run's own value.")

    def option(group, field, help, **kwargs):
        # default None: an option left out is told apart from one given (--resume refuses changed settings), and
        # the help shows the task's default itself
        default = d[field] if field != "max_grad_norm" else (d[field] or 0)
        shown = ",".join(map(str, default)) if isinstance(default, list) else default
        help = help if default is None else f"{help} (default: {shown})"  # None: the help says what happens
        group.add_argument(option_name(field), dest=field, default=None, help=help, **kwargs)

    def flag(group, field, help):
        group.add_argument(option_name(field), dest=field, action="store_true", default=None, help=help)

    k = p.add_argument_group("which model")
    option(k, "model", "tcn, or a recurrent baseline: gru or lstm (PyTorch's layers; the options below under "
                       "'recurrent model' then apply, and the TCN's do not)", choices=["tcn", "gru", "lstm"])
    option(k, "hidden_size", f"recurrent model: hidden units of every layer (default: {RECURRENT_HIDDEN[task]}, the "
                             f"TCN paper's LSTM for this task)", type=int, metavar="H")
    option(k, "num_layers", "recurrent model: stacked layers (default: 1)", type=int, metavar="L")
    option(k, "forget_bias", "lstm: the forget gate's initial bias (default: PyTorch's initialisation)", type=float,
           metavar="B")
    m = p.add_argument_group("model (keras-tcn's names)")
    option(m, "nb_filters", "channels of every residual block", type=int, metavar="N")
    option(m, "kernel_size", "taps of every convolution", type=int, metavar="K")
    option(m, "nb_stacks", "repeats of the dilation list", type=int, metavar="S")
    option(m, "dilations", "comma-separated, e.g. 1,2,4,8", type=_dilations, metavar="D,D,...")
    flag(m, "use_skip_connections", "sum every block's branch (keras-tcn)")
    option(m, "dropout_rate", "dropout after each ReLU of a block, in [0, 1)", type=float, metavar="RATE")
    option(m, "dropout_type", "spatial (whole channels, keras-tcn) or elementwise (locuslab/TCN)",
           choices=["spatial", "elementwise"])
    flag(m, "use_weight_norm", "weight-normalise the convolutions")
    flag(m, "use_layer_norm", "layer normalisation after each convolution, before its ReLU (keras-tcn)")
    flag(m, "use_batch_norm", "batch normalisation after each convolution, before its ReLU (keras-tcn)")
    option(m, "padding", "causal, or same (non-causal, taps centred; the head reads step T // 2)",
           choices=["causal", "same"])
    if not SHAPES[task][2]:  # a head that reads one row per sequence (copy-memory's reads every step)
        option(m, "pooling", "what the head reads of each sequence: last (its last step) or mean (the mean of the "
                             "features over its steps)", choices=["last", "mean"])
    option(m, "kernel_initializer", "he_normal, he_uniform, glorot_normal, glorot_uniform, normal or torch_default",
           metavar="NAME")
    t = p.add_argument_group("training")
    if task == "copy-memory":
        flag(t, "mask_warmup", "leave the first R-1 steps (R the receptive field) out of the loss")
    if task != "mnist":  # sequential MNIST is 784 steps, always
        option(t, "length", "sequence length T" + (" (the blank stretch; sequences are T + 20 steps)"
                                                   if task == "copy-memory" else ""), type=int, metavar="T")
    option(t, "batch_size", "sequences per training step", type=int, metavar="N")
    option(t, "epochs", "total epochs (with --resume: the run's new total)", type=int, metavar="E")
    option(t, "optimizer", "adam or rmsprop (torch.optim's arithmetic and defaults, but the learning rate)",
           choices=["adam", "rmsprop"])
    option(t, "lr", "the optimizer's learning rate", type=float)
    option(t, "max_grad_norm", "clip the global gradient norm to this (0: no clipping)", type=float, metavar="NORM")
    option(t, "seed", "seeds the data, the weights, the shuffles and dropout; >= 0", type=int)
    option(t, "initial_weights", "start from these weights instead of drawing them: a saved model, a run's "
                                 "checkpoint or folder, or an .npz of arrays under the model's state_dict names "
                                 "(PyTorch's; a locuslab/TCN model's after pytcn.interop.from_locuslab); default: "
                                 "drawn from --seed", metavar="FILE")
    flag(t, "keep_best", "also keep the weights of the epoch with the lowest validation loss, in best.npz (a saved "
                         "model: pytcn.load_model, --initial-weights); the run's summary then gives their test numbers "
                         "beside the last epoch's, and `pytcn evaluate RUN --best` computes them again")
    option(t, "train_size", "training sequences", type=int, metavar="N")
    option(t, "val_size", "validation sequences", type=int, metavar="N")
    option(t, "test_size", "test sequences", type=int, metavar="N")
    option(t, "dtype", "float32 or float64", choices=["float32", "float64"])
    option(t, "backend", "cpu (Numba), numpy (the NumPy references, slow), cuda (a GPU, with numba-cuda); with "
                         "--resume, continues the run on this backend", choices=["cpu", "numpy", "cuda"])
    if task == "mnist":
        option(t, "dataset", "mnist or fashion-mnist", choices=["mnist", "fashion-mnist"])
        option(t, "data_dir", "folder with the four IDX files (default: the first that holds them of "
                              "$PYTCN_DATA_DIR, the per-user cache and Debian's folder)", metavar="DIR")
        flag(t, "permute", "permuted sequential MNIST (one fixed, seeded permutation)")
    r = p.add_argument_group("the run")
    r.add_argument("--out", default=os.path.join("runs", task),
                   help="output folder: checkpoint, metrics, curve (default: %(default)s)")
    r.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--threads", type=int, help=f"Numba threads (default: every core; {_max_threads()} here)")
    p.set_defaults(command="train", task=task)
    return p


def _max_threads():
    import numba

    return numba.config.NUMBA_NUM_THREADS


def build_parser():
    parser = Parser(prog="pytcn", description="Temporal Convolutional Networks from first principles.",
                    allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = sub.add_parser("train", help="train a task: adding, copy-memory or mnist", allow_abbrev=False)
    tasks = train.add_subparsers(dest="task", required=True, metavar="TASK")
    for task in TASKS:
        _train_parser(tasks, task)
    ev = sub.add_parser("evaluate", help="recompute the test metric of a checkpoint", allow_abbrev=False)
    ev.add_argument("checkpoint", help="a checkpoint.npz, or the run's folder")
    ev.add_argument("--data-dir", help="for MNIST: where the IDX files are, if not where training found them")
    ev.add_argument("--backend", choices=["cpu", "numpy", "cuda"], help="default: the one the run trained on")
    ev.add_argument("--best", action="store_true", help="the weights of the run's best validation epoch (best.npz, "
                                                         "kept by a run trained with --keep-best), not its last")
    info = sub.add_parser("info", help="architecture, parameters and receptive field of a checkpoint, block by block",
                          allow_abbrev=False)
    info.add_argument("checkpoint", help="a checkpoint.npz, or the run's folder")
    stream = sub.add_parser("stream", help="run a checkpoint over a file of sequences step by step, as on a live "
                            "signal", allow_abbrev=False)
    stream.add_argument("checkpoint", help="a checkpoint.npz, or the run's folder")
    stream.add_argument("input", help=".npy file of inputs: (N, T, input_channels) sequences, or one (T, "
                        "input_channels)")
    stream.add_argument("--out", required=True, help=".npy file for the outputs, (N, T, outputs): each step's "
                        "output as the stream gave it")
    stream.add_argument("--chunk", type=int, default=1, help="steps per call of model.step (default: %(default)s, "
                        "one step at a time)")
    stream.add_argument("--backend", choices=["cpu", "numpy", "cuda"], help="default: the one the run trained on")
    draw = sub.add_parser("draw", help="the stacked-dilation diagram of an architecture: which input steps one "
                          "output reads", allow_abbrev=False)
    draw.add_argument("source", nargs="?", help="a checkpoint, run folder or saved model to draw (else the options "
                      "below)")
    draw.add_argument("--kernel-size", type=int, default=3, help="K (default: %(default)s)")
    draw.add_argument("--dilations", type=_dilations, default=[1, 2, 4, 8], metavar="D,D,...",
                      help="one stack's dilations (default: 1,2,4,8)")
    draw.add_argument("--nb-stacks", type=int, default=1, help="(default: %(default)s)")
    draw.add_argument("--padding", choices=["causal", "same"], default="causal", help="(default: %(default)s)")
    draw.add_argument("--out", default="dilations.png", help=".png or .svg (default: %(default)s)")
    export = sub.add_parser("export", help="write a trained model as an ONNX graph, for onnxruntime and other "
                            "runtimes", allow_abbrev=False)
    export.add_argument("source", help="a pytcn train run (its folder or checkpoint), a model.save file, or a pytcn "
                        "fit or forecast run (its folder or model.npz)")
    export.add_argument("--format", choices=["onnx"], default="onnx", help="(default: %(default)s, the only one)")
    export.add_argument("--streaming", action="store_true", help="the graph of model.step: a chunk of steps and "
                        "each convolution's history in, the outputs and the histories after the chunk out")
    export.add_argument("--out", required=True, help="the .onnx file to write")
    _own_data_parsers(sub)
    _sweep_parser(sub)
    dl = sub.add_parser("download", help="download MNIST or Fashion-MNIST (sha256-checked, resumable)",
                        allow_abbrev=False)
    dl.add_argument("dataset", choices=["mnist", "fashion-mnist"])
    dl.add_argument("--dir", help="destination (default: the per-user cache, where training looks)")
    dl.add_argument("--base-url", help="mirror to download from (default: the dataset's standard one)")
    return parser


#: option -> (estimator parameter, type, help) of `pytcn fit` and `pytcn forecast`; left out: the estimator's default
ESTIMATOR_OPTIONS = {
    "--max-epochs": ("max_epochs", int, "epochs at most (default: 200); training stops earlier after "
                                        "--n-iter-no-change epochs without a better monitored loss"),
    "--nb-filters": ("nb_filters", int, "channels of every convolution (default: 64)"),
    "--kernel-size": ("kernel_size", int, "taps of every convolution (default: 3)"),
    "--dilations": ("dilations", _dilations, "one stack's dilations, D,D,... (default: 1,2,4,... until the receptive "
                                             "field covers the longest training series)"),
    "--nb-stacks": ("nb_stacks", int, "(default: 1)"),
    "--dropout-rate": ("dropout_rate", float, "(default: 0)"),
    "--lr": ("lr", float, "Adam's learning rate, halved on a plateau (default: 0.001)"),
    "--batch-size": ("batch_size", int, "(default: min(16, cases / 10))"),
    "--early-stopping": ("early_stopping", str, "auto, on or off: hold out --validation-fraction of the cases and "
                                                "monitor their loss (default: auto, on from 1000 cases)"),
    "--validation-fraction": ("validation_fraction", float, "(default: 0.1)"),
    "--n-iter-no-change": ("n_iter_no_change", int, "(default: 30)"),
    "--normalize": ("normalize", str, "channel, series or none (default: channel, with statistics of the training "
                                      "data)"),
    "--seed": ("random_state", int, "initial weights, shuffle and split (default: 0)"),
    "--backend": ("backend", str, "cpu, numpy or cuda (default: cpu)"),
}
#: what `pytcn fit --resume` may change: how long it trains, and where
ESTIMATOR_RESUMABLE = ("max_epochs", "backend")


def _estimator_options(p):
    for option, (param, kind, help) in ESTIMATOR_OPTIONS.items():
        p.add_argument(option, dest=param, type=kind, help=help,
                       metavar=option[2:].upper().replace("-", "_") if kind is not _dilations else "D,D,...")
    p.add_argument("--resume", action="store_true", help="continue the fit saved in --out, with its own settings "
                   "(--max-epochs and --backend may change)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _own_data_parsers(sub):
    fit = sub.add_parser("fit", help="train a classifier or regressor on your own series (.npz with X and y, or a "
                         "CSV in the UCR layout, label first)", allow_abbrev=False)
    fit.add_argument("data", nargs="?", help=".npz with X (n_cases[, n_channels], n_timepoints) and y, or .csv/.tsv "
                     "with one case per row, its label first (left out with --resume)")
    fit.add_argument("--out", required=True, help="the run's folder: checkpoint.npz, metrics.jsonl, curve.png, "
                     "model.npz")
    fit.add_argument("--regression", action="store_true", help="numeric targets: a TCNRegressor (default: labels, "
                     "a TCNClassifier)")
    _estimator_options(fit)
    predict = sub.add_parser("predict", help="predict with a fitted run (or its model.npz) on a file of cases",
                             allow_abbrev=False)
    predict.add_argument("run", help="the folder pytcn fit wrote, or its model.npz")
    predict.add_argument("data", help="cases in the layout fit read (a CSV's first column: their labels, if known)")
    predict.add_argument("--out", required=True, help="CSV of the predictions, one row per case")
    predict.add_argument("--proba", action="store_true", help="a classifier's probabilities too, one column a class")
    predict.add_argument("--no-labels", action="store_true", help="the CSV has no label column: every column is a "
                         "value")
    forecast = sub.add_parser("forecast", help="fit a forecaster on a column of a CSV and forecast the steps after "
                              "its end", allow_abbrev=False)
    forecast.add_argument("series", nargs="?", help="CSV with a header row (left out with --resume)")
    forecast.add_argument("--column", help="the column to forecast")
    forecast.add_argument("--window", type=int, help="past steps each forecast reads")
    forecast.add_argument("--horizon", type=int, help="steps forecast at once")
    forecast.add_argument("--out", required=True, help="the run's folder: as pytcn fit's, and forecast.csv")
    _estimator_options(forecast)


def _sweep_parser(sub):
    from .study.experiments import EXPERIMENTS

    sweep = sub.add_parser("sweep", help="the blog post's architecture study: run its experiments on Dask, plot them",
                           allow_abbrev=False)
    actions = sweep.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run experiments' trials (skipping those done, resuming those cut short)",
                             allow_abbrev=False, description="Run the trials of experiments on Dask. Running the same "
                             "command again skips finished trials and resumes killed ones from their checkpoints.")
    run.add_argument("experiments", nargs="+", choices=EXPERIMENTS, metavar="EXPERIMENT",
                     help=f"one or more of {', '.join(EXPERIMENTS)}")
    run.add_argument("--task", nargs="+", choices=TASKS, dest="tasks", metavar="TASK",
                     help="tasks to run them on (default: every task; copy-length is copy-memory's alone)")
    run.add_argument("--full", action="store_true", help="the post's scale: lr 1e-4, 100 epochs, full sets")
    run.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="overrides",
                     help="change a training setting of every trial, e.g. --set epochs=2 (repeatable)")
    run.add_argument("--seed", type=int, default=0, help="seed of every trial (default: 0)")
    run.add_argument("--dir", default=os.path.join("runs", "sweep"),
                     help="results (results.sqlite) and run folders (default: %(default)s)")
    run.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786 "
                     "(default: a LocalCluster on this machine)")
    run.add_argument("--workers", type=int, help="LocalCluster worker processes (default: cores / --threads)")
    run.add_argument("--threads", type=int, default=1, help="Numba threads per trial (default: 1)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    plot = actions.add_parser("plot", help="draw the figures from a sweep's results", allow_abbrev=False)
    plot.add_argument("--dir", default=os.path.join("runs", "sweep"), help="the sweep's folder (default: %(default)s)")
    plot.add_argument("--out", help="folder for the PNGs (default: DIR/figures)")
    status = actions.add_parser("status", help="trials per experiment, task and status", allow_abbrev=False)
    status.add_argument("--dir", default=os.path.join("runs", "sweep"),
                        help="the sweep's folder (default: %(default)s)")


def _overrides(items):
    import json

    overrides = {}
    for item in items:
        field, sep, text = item.partition("=")
        if not sep or not field:
            raise UsageError(f"--set takes FIELD=VALUE, got {item!r}")
        try:
            overrides[field.strip().replace("-", "_")] = json.loads(text)
        except json.JSONDecodeError:
            overrides[field.strip().replace("-", "_")] = text  # a word: dataset=mnist
    return overrides


def _sweep_option(field, overrides):
    """The option of pytcn sweep run that set a config field: --set FIELD:, or --seed for the seed it gives."""
    return f"--set {field}:" if field in overrides or field != "seed" else "--seed"


def cmd_sweep(args):
    from .study import sweep
    from .study.experiments import expand

    store_path = os.path.join(args.dir, "results.sqlite")
    if args.action == "plot":
        if not os.path.exists(store_path):
            raise UsageError(f"{store_path}: no results there; run `pytcn sweep run ...` first (or give --dir)")
        from .study.figures import plot_all

        out = out_folder("--out", args.out) if args.out else os.path.join(args.dir, "figures")
        paths = plot_all(sweep.Store(store_path), out)
        if not paths:
            raise UsageError(f"{store_path}: no finished trial to draw yet")
        print("\n".join(paths))
        return 0
    if args.action == "status":
        if not os.path.exists(store_path):
            raise UsageError(f"{store_path}: no results there")
        counts = {}
        for row in sweep.Store(store_path).rows():
            key = (row["experiment"], row["task"])
            counts.setdefault(key, {}).setdefault(row["status"], 0)
            counts[key][row["status"]] += 1
        for (experiment, task), by_status in sorted(counts.items()):
            print(f"{experiment:12s} {task:12s} " + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())))
        for row in sweep.Store(store_path).rows(status="failed"):
            print(f"failed: {row['id']}: {row['error']}")
        return 0
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        raise UsageError("pytcn sweep runs on dask.distributed, which is not installed: pip install 'pytcn[sweep]'")
    if args.threads < 1 or (args.workers is not None and args.workers < 1):
        raise UsageError(f"--threads and --workers must be >= 1, got {args.threads} and {args.workers}")
    overrides = _overrides(args.overrides)
    out_folder("--dir", args.dir)
    trials = []
    for experiment in args.experiments:
        tasks = args.tasks or (["copy-memory"] if experiment == "copy-length" else list(TASKS))
        for task in tasks:
            if experiment == "copy-length" and task != "copy-memory":
                raise UsageError(f"experiment copy-length runs on the copy-memory task only, not {task}")
            try:
                trials += expand(experiment, task, "full" if args.full else "reduced", args.seed, overrides)
            except ConfigError as e:
                raise UsageError(f"{_sweep_option(e.field, overrides)} {e.problem}") from None
    for trial in trials:  # every configuration checked before anything runs
        try:
            check_config(trial.config)
        except ConfigError as e:
            raise UsageError(f"{_sweep_option(e.field, overrides)} {e.problem}") from None
    print(f"{len(trials)} trials ({len({t.run_key for t in trials})} distinct runs); results in {store_path}")
    counts = sweep.run(sweep.Store(store_path), trials, args.dir, scheduler=args.scheduler, workers=args.workers,
                       threads=args.threads, progress=not args.no_progress)
    print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    if counts.get("failed"):
        print(f"pytcn: error: {counts['failed']} trials failed (their errors: pytcn sweep status --dir {args.dir}; "
              f"the same command retries them)", file=sys.stderr)
        return EXIT_ERROR
    return 0


def given_fields(args):
    """The configuration fields the command line set explicitly (an option left out is None), as given."""
    fields = {field: value for field, value in vars(args).items()
              if field in default_config(args.task) and field != "task" and value is not None}
    if "max_grad_norm" in fields:
        if fields["max_grad_norm"] == 0:
            fields["max_grad_norm"] = None  # --clip 0: no clipping
    for field in ("initial_weights", "data_dir"):  # recorded as absolute paths: the run's record names the file
        if fields.get(field):  # or the folder wherever it is read (evaluate, --resume from another folder)
            fields[field] = os.path.abspath(fields[field])
    return fields


def config_from_args(args):
    """The configuration of a new run: the task's defaults, with the options given."""
    return make_config(args.task, **given_fields(args))


def _resume(args, progress):
    from .training import Trainer

    given = given_fields(args)
    meta_config = _run_config(args.out)
    if meta_config["task"] != args.task:
        raise UsageError(f"{args.out}: is a {meta_config['task']} run, not {args.task}")
    def typed(field, value):  # as the user typed it: --clip 0 is max_grad_norm None
        return 0 if field == "max_grad_norm" and value is None else value

    changed = [f"{option_name(field)} {typed(field, value)} (the run's: {typed(field, meta_config.get(field))})"
               for field, value in given.items() if field not in RESUMABLE and value != meta_config.get(field)]
    if changed:
        raise UsageError(f"--resume continues the run with its own settings; these options differ from them: "
                         f"{', '.join(changed)}. Leave them out, or start a new run with another --out")
    changes = {field: given[field] for field in RESUMABLE if field in given}
    trainer = Trainer.resume(args.out, progress=progress, **changes)
    print(f"resuming {trainer.checkpoint_path} at epoch {trainer.epoch + 1}, batch {trainer.batch}")
    return trainer


TRAIN_FILES = ("checkpoint.npz", "best.npz", "metrics.jsonl", "curve.png")  # what pytcn train writes in --out
FIT_FILES = ("checkpoint.npz", "model.npz", "metrics.jsonl", "curve.png")  # and pytcn fit, pytcn forecast


def no_folders_where_files_go(out, names):
    """Refuses, before any work, an --out folder that holds a folder where the run will write one of its files."""
    for name in names:
        if os.path.isdir(os.path.join(out, name)):
            raise UsageError(f"--out {out}: holds a folder {name}, where the run writes its file {name}; move it "
                             f"away, or choose another --out")


def _run_config(out):
    from .training import load_run

    return load_run(os.path.join(out, "checkpoint.npz"))[0]["config"]


def cmd_train(args):
    from .training import Trainer, format_summary

    if args.threads is not None:
        import numba

        limit = numba.config.NUMBA_NUM_THREADS
        if not 1 <= args.threads <= limit:
            raise UsageError(f"--threads must be in [1, {limit}] (Numba's threads on this machine), got {args.threads}")
        numba.set_num_threads(args.threads)
    if not args.out:
        raise UsageError("--out must name the run's folder, got ''")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out}: is a file; the run needs a folder")
    progress = not args.no_progress
    no_folders_where_files_go(args.out, TRAIN_FILES)
    if args.resume:
        trainer = _resume(args, progress)
    else:
        config = config_from_args(args)
        if os.path.exists(os.path.join(args.out, "checkpoint.npz")):
            raise UsageError(f"{os.path.join(args.out, 'checkpoint.npz')}: a run is already saved there; continue it "
                             f"with --resume, or choose another --out")
        out_folder("--out", args.out, make=False)  # Trainer makes it once the task's data are found
        trainer = Trainer(config, args.out, progress=progress)
    print(f"{trainer.task.description}: {_model_words(trainer.model)}, "
          f"{len(trainer.task.splits['train'][0])} training sequences")
    summary = trainer.run()
    print(format_summary(summary))
    return 130 if summary["interrupted"] else 0


def _model_words(model):
    """A model's size and reach, in words: its parameters, and a TCN's receptive field."""
    if model.receptive_field is None:  # a recurrent network: every earlier step may reach the output
        return f"{type(model).__name__}, {model.count_params()} parameters"
    return f"{model.count_params()} parameters, receptive field {model.receptive_field}"


def cmd_evaluate(args):
    from .training import Trainer, evaluate, load_run
    from .training.loop import best_epoch

    meta, params, _, _ = load_run(args.checkpoint)
    config = dict(meta["config"])
    if args.data_dir:
        if config.get("task") != "mnist":
            raise UsageError(f"--data-dir is where MNIST's files are; the run in {args.checkpoint} trained on "
                             f"{config.get('task')!r}, which reads none")
        config["data_dir"] = os.path.abspath(args.data_dir)
    if args.backend:
        config["backend"] = args.backend
    folder = args.checkpoint if os.path.isdir(args.checkpoint) else os.path.dirname(os.path.abspath(args.checkpoint))
    trainer = Trainer(config, folder, progress=False, fresh=False)
    if args.best:
        epoch = best_epoch(meta["history"]) if config["keep_best"] else None
        if epoch is None:
            why = "was not trained with --keep-best" if not config["keep_best"] else \
                "has no epoch with a finite validation loss yet"
            raise UsageError(f"--best: the run in {folder} {why}")
        try:  # (it checks that best.npz holds that epoch's weights of this run)
            loss, metric = trainer.evaluate_best(epoch)
        except CheckpointError as e:
            raise UsageError(f"--best: {e}") from None
        when = f"the best validation epoch, {epoch} of {meta['epoch']} ({trainer.best_path})"
    else:
        try:
            trainer.model.load_state_dict(params)
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"{args.checkpoint}: does not fit the architecture in its configuration "
                                  f"({e})") from None
        loss, metric = evaluate(trainer.model, trainer.task, "test", mask=trainer.mask)
        when = f"epoch {meta['epoch']}, step {meta['step']}"
    t = trainer.task
    extra = f" (baseline loss {t.extra['baseline_loss']:.4g})" if t.extra.get("baseline_loss") else ""
    print(f"{t.description}: test {t.metric_name} {metric:.4g} (baseline {t.baseline:.4g}, {t.baseline_name}), "
          f"test loss {loss:.4g}{extra}; {when}")
    return 0


def cmd_info(args):
    from .training import build_model, load_run
    from .training.loop import best_epoch

    meta, params, _, _ = load_run(args.checkpoint)
    c = meta["config"]
    model = build_model(dict(c, backend="cpu"))  # only to count: runs nothing, so needs no GPU
    try:
        model.load_state_dict(params)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{args.checkpoint}: does not fit the architecture in its configuration ({e})") from None
    print(f"checkpoint   {args.checkpoint}")
    print(f"task         {c['task']}" + (f" ({c['dataset']}{', permuted' if c['permute'] else ''})"
                                         if c["task"] == "mnist" else f", T={c['length']}"))
    if c["model"] == "tcn":
        print(f"architecture nb_filters={c['nb_filters']} kernel_size={c['kernel_size']} nb_stacks={c['nb_stacks']} "
              f"dilations={c['dilations']} use_skip_connections={c['use_skip_connections']} "
              f"dropout_rate={c['dropout_rate']} dropout_type={c['dropout_type']} "
              f"use_weight_norm={c['use_weight_norm']} use_layer_norm={c['use_layer_norm']} "
              f"use_batch_norm={c['use_batch_norm']} padding={c['padding']} pooling={c['pooling']} dtype={c['dtype']}")
    else:
        print(f"architecture {c['model'].upper()} hidden_size={c['hidden_size']} num_layers={c['num_layers']}"
              + (f" forget_bias={c['forget_bias']}" if c["model"] == "lstm" else "") + f" dtype={c['dtype']}")
    print(f"trained on   backend {c.get('backend', 'cpu')}")
    print("started from " + (f"{c['initial_weights']} (--initial-weights)" if c.get("initial_weights") else
                             f"weights drawn from seed {c['seed']}"))
    print(f"parameters   {model.count_params()}")
    print("receptive    " + (f"{model.receptive_field} steps" if model.receptive_field is not None else
                              "unbounded (a recurrent network)"))
    print(f"trained      {meta['epoch']} epochs, {meta['step']} steps, {meta.get('elapsed', 0):.0f} s")
    if meta["history"]:
        h = meta["history"][-1]
        print(f"last epoch   validation loss {h['val_loss']:.4g}, validation metric {h['val_metric']:.4g}")
    if c["keep_best"]:
        epoch = best_epoch(meta["history"])
        print("best epoch   " + ("none yet" if epoch is None else
                                  f"{epoch}: validation loss {meta['history'][epoch - 1]['val_loss']:.4g}, validation "
                                  f"metric {meta['history'][epoch - 1]['val_metric']:.4g} (best.npz, --keep-best)"))
    print()
    model.summary()
    return 0


def cmd_stream(args):
    import time

    import numpy as np

    from .runtime.backends import to_numpy
    from .runtime.files import write_atomic
    from .training import build_model, load_run

    if args.chunk < 1:
        raise UsageError(f"--chunk must be >= 1, got {args.chunk}")
    meta, params, _, _ = load_run(args.checkpoint)
    if meta["config"]["padding"] != "causal":
        raise CheckpointError(f"{args.checkpoint}: was trained with padding {meta['config']['padding']!r}; only a "
                              f"causal model can stream (its output at t must not read steps after t)")
    if meta["config"]["pooling"] != "last":
        raise CheckpointError(f"{args.checkpoint}: was trained with pooling {meta['config']['pooling']!r}; a stream "
                              f"outputs the head at each step, and a running mean over the steps is not implemented")
    config = dict(meta["config"], backend=args.backend or meta["config"].get("backend", "cpu"))
    model = build_model(config)
    try:
        model.load_state_dict(params)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{args.checkpoint}: does not fit the architecture in its configuration ({e})") from None
    try:
        x = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise UsageError(f"{args.input}: not a readable .npy file of numbers ({e})") from None
    if not isinstance(x, np.ndarray):  # np.load opens an .npz archive as a mapping of arrays
        x.close()
        raise UsageError(f"{args.input}: is an .npz archive; give one array as an .npy file (np.save)")
    one_sequence = x.ndim == 2
    if one_sequence:
        x = x[None]
    if x.ndim != 3 or x.shape[2] != model.input_channels or not np.issubdtype(x.dtype, np.floating):
        raise UsageError(f"{args.input}: expected floating inputs of shape (N, T, {model.input_channels}) or "
                         f"(T, {model.input_channels}), got {x.dtype} of shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise UsageError(f"{args.input}: holds no {'sequences' if x.shape[0] == 0 else 'steps'} (shape "
                         f"{x.shape if not one_sequence else x.shape[1:]})")
    N, T, _ = x.shape
    out_file("--out", args.out)  # its folder made, or the mistake said, before the input is streamed
    state = model.stream(N)
    y = np.empty((N, T, model.outputs), model.dtype)
    start = time.perf_counter()
    for t in range(0, T, args.chunk):
        y_chunk, state = model.step(x[:, t:t + args.chunk], state)
        y[:, t:t + args.chunk] = to_numpy(y_chunk)
    elapsed = time.perf_counter() - start
    write_atomic(args.out, lambda f: np.save(f, y[0] if one_sequence else y))
    rate = T / max(elapsed, 1e-9)
    print(f"{N} sequence{'s' if N > 1 else ''} of {T} steps streamed in {elapsed:.2f} s ({rate:.0f} steps/s, "
          f"chunks of {args.chunk}); outputs {y.shape if not one_sequence else y.shape[1:]} written to {args.out}")
    return 0


def _estimator_params(args):
    """The estimator's parameters the options set (an option left out: None, the estimator's default)."""
    given = {param: getattr(args, param) for param, _, _ in ESTIMATOR_OPTIONS.values()
             if getattr(args, param) is not None}
    if "early_stopping" in given:
        words = {"auto": "auto", "on": True, "off": False}
        if given["early_stopping"] not in words:
            raise UsageError(f"--early-stopping must be auto, on or off, got {given['early_stopping']!r}")
        given["early_stopping"] = words[given["early_stopping"]]
    if given.get("normalize") == "none":
        given["normalize"] = None
    return given


def _in_option_words(message):
    """An estimator's message about a parameter, naming the command-line option instead (max_epochs ->
    --max-epochs)."""
    for option, (param, _, _) in ESTIMATOR_OPTIONS.items():
        if message.startswith(param + " "):
            return option + message[len(param):]
    return message


def _first_line(error):
    """The first line of an exception's message (scikit-learn's checks add paragraphs of advice after it)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _fit_in_run(est, X, y, run, data_path):
    """est._fit in the run folder; the data's and options' mistakes one line. None when Ctrl-C interrupted it.
    (A forecaster's fit takes the series and its covariates: X is the series, y None.)"""
    from .estimators.runs import FitInputError

    try:
        return est._fit(X, y, run=run)
    except FitInputError as e:
        raise UsageError(f"{data_path}: {_in_option_words(_first_line(e))}") from None


def _open_fit_run(args, kind):
    """(estimator, FitRun, data path) of the run in --out to resume; ``kind``: 'fit' or 'forecast'."""
    from .estimators import ESTIMATORS, data
    from .estimators.datafiles import sha256
    from .estimators.runs import FitRun

    run, fit = FitRun.open(args.out)
    forecaster = fit["class"] == "TCNForecaster"
    if forecaster != (kind == "forecast") or fit["class"] not in ESTIMATORS:
        raise UsageError(f"{args.out}: holds a run of {fit['class']}; resume it with pytcn "
                         f"{'forecast' if forecaster else 'fit'} --resume --out {args.out}")
    given = _estimator_params(args)
    changed = [f"{option} {given[param]} (the run's: {fit['params'].get(param)})"
               for option, (param, _, _) in ESTIMATOR_OPTIONS.items()
               if param in given and param not in ESTIMATOR_RESUMABLE and given[param] != fit["params"].get(param)]
    if changed:
        raise UsageError(f"--resume continues the fit with its own settings; these options differ from them: "
                         f"{', '.join(changed)}. Leave them out, or start a new fit with another --out")
    meta = run.checkpoint[0]
    begun = int(meta["epoch"]) + (int(meta["batch"]) > 0)  # the epochs finished, and one in progress
    if "max_epochs" in given and data.is_integer(given["max_epochs"]) and given["max_epochs"] < begun:
        raise UsageError(f"--max-epochs must be at least the {begun} epochs the fit has begun, got "
                         f"{given['max_epochs']}")
    record = fit.get("data") or {}
    data_path = record.get("path")
    if not isinstance(data_path, str) or not os.path.isfile(data_path):
        raise UsageError(f"{args.out}: its data file {data_path!r} is gone; a fit resumes on the same data")
    if sha256(data_path) != record.get("sha256"):
        raise UsageError(f"{data_path}: has changed since the fit in {args.out} started (its SHA-256 differs); a fit "
                         f"resumes on the same data: start a new fit with another --out")
    params = dict(fit["params"], **{p: given[p] for p in ESTIMATOR_RESUMABLE if p in given},
                  verbose=0 if args.no_progress else 1)
    try:
        est = ESTIMATORS[fit["class"]](**params)
    except TypeError as e:
        raise CheckpointError(f"{run.checkpoint_path}: its estimator's parameters do not load ({e})") from None
    return est, run, data_path


def _new_fit_run(args, data_path, cls):
    from .estimators.datafiles import sha256
    from .estimators.runs import CHECKPOINT, FitRun

    if os.path.exists(os.path.join(args.out, CHECKPOINT)):
        raise UsageError(f"{os.path.join(args.out, CHECKPOINT)}: a fit is already saved there; continue it with "
                         f"--resume, or choose another --out")
    out_folder("--out", args.out, make=False)  # made by the first checkpoint, once the data are read
    params = dict({"random_state": 0}, **_estimator_params(args), verbose=0 if args.no_progress else 1)
    return cls(**params), FitRun(args.out, {"path": os.path.abspath(data_path), "sha256": sha256(data_path)})


def _describe(X):
    if isinstance(X, list):
        lengths = [x.shape[-1] for x in X]
        return f"{len(X)} series of {min(lengths)} to {max(lengths)} steps"
    return f"{len(X)} series of {X.shape[-1]} steps" + (f", {X.shape[1]} channels" if X.ndim == 3 else "")


def cmd_fit(args):
    import numpy as np

    from .estimators import TCNClassifier, TCNRegressor
    from .estimators.datafiles import read_cases

    no_folders_where_files_go(args.out, FIT_FILES)
    if args.resume:
        est, run, data_path = _open_fit_run(args, "fit")
        if args.data is not None and os.path.abspath(args.data) != data_path:
            raise UsageError(f"--resume continues on the run's own data ({data_path}); leave DATA out")
    else:
        if args.data is None:
            raise UsageError("DATA is needed: an .npz with X and y, or a CSV in the UCR layout (label first)")
        data_path = args.data
        X, y = read_cases(data_path, "numbers" if args.regression else "labels")
        est, run = _new_fit_run(args, data_path, TCNRegressor if args.regression else TCNClassifier)
    regression = isinstance(est, TCNRegressor)
    if run.resuming:
        X, y = read_cases(data_path, "numbers" if regression else "labels")
    if not regression and y.dtype.kind == "U":  # a CSV's labels, as text
        numbers = _as_numbers(y)
        if numbers is not None and not np.all(numbers == np.round(numbers)):
            raise UsageError(f"{data_path}: its labels are numbers that are not whole (e.g. "
                             f"{str(y[np.argmax(numbers != np.round(numbers))])!r}): targets to predict, not classes; "
                             f"fit a regressor with --regression")
    print(f"{type(est).__name__} on {data_path}: {_describe(X)}"
          + (f", resuming {run.checkpoint_path}" if run.resuming else ""))
    if _fit_in_run(est, X, y, run, data_path) is None:
        print(f"interrupted: checkpoint written to {run.checkpoint_path}; continue with pytcn fit --resume --out "
              f"{args.out}")
        return 130
    run.finish(est)
    score = est.score(X, y)
    print(f"{est.n_iter_} epochs (best: {est.best_epoch_}, by {est.monitor_.replace('_', ' ')}), training "
          f"{'R^2' if regression else 'accuracy'} {score:.4g}; the model: {os.path.join(args.out, 'model.npz')}")
    return 0


def _as_numbers(labels):
    """Text labels as float64, or None when one of them is not a number."""
    import numpy as np

    try:
        return labels.astype(np.float64)
    except ValueError:
        return None


def cmd_forecast(args):
    import numpy as np

    from .estimators import TCNForecaster
    from .estimators.datafiles import read_column, sha256
    from .estimators.runs import CHECKPOINT, FitRun
    from .runtime.files import write_atomic

    no_folders_where_files_go(args.out, FIT_FILES + ("forecast.csv",))
    if args.resume:
        est, run, data_path = _open_fit_run(args, "forecast")
        for option, given in (("--window", args.window), ("--horizon", args.horizon)):
            own = getattr(est, option[2:])
            if given is not None and given != own:
                raise UsageError(f"--resume continues the fit with its own settings: {option} {given} (the run's: "
                                 f"{own}). Leave it out, or start a new fit with another --out")
        column = run.record.get("column")
        if args.series is not None and os.path.abspath(args.series) != data_path or \
                args.column is not None and args.column != column:
            raise UsageError(f"--resume continues on the run's own series ({data_path}, column {column!r}); leave "
                             f"SERIES and --column out")
        y = read_column(data_path, column)
    else:
        missing = [name for name, value in (("SERIES", args.series), ("--column", args.column),
                                            ("--window", args.window), ("--horizon", args.horizon)) if value is None]
        if missing:
            raise UsageError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} needed: pytcn forecast "
                             f"SERIES.csv --column NAME --window W --horizon H --out RUN")
        data_path, column = args.series, args.column
        y = read_column(data_path, column)
        if os.path.exists(os.path.join(args.out, CHECKPOINT)):
            raise UsageError(f"{os.path.join(args.out, CHECKPOINT)}: a fit is already saved there; continue it with "
                             f"--resume, or choose another --out")
        out_folder("--out", args.out, make=False)
        params = dict({"random_state": 0}, **_estimator_params(args), verbose=0 if args.no_progress else 1)
        if "normalize" in params:
            raise UsageError("--normalize is a classifier's and regressor's option; a forecaster normalises each "
                             "window by its last value")
        est = TCNForecaster(args.window, args.horizon, **params)
        run = FitRun(args.out, {"path": os.path.abspath(data_path), "sha256": sha256(data_path), "column": column})
    print(f"TCNForecaster on {column!r} of {data_path}: {len(y)} steps, window {est.window}, horizon {est.horizon}"
          + (f", resuming {run.checkpoint_path}" if run.resuming else ""))
    if _fit_in_run(est, y, None, run, data_path) is None:
        print(f"interrupted: checkpoint written to {run.checkpoint_path}; continue with pytcn forecast --resume "
              f"--out {args.out}")
        return 130
    run.finish(est)
    forecast = est.predict()
    path = os.path.join(args.out, "forecast.csv")
    rows = [f"step,{column}"] + [f"{len(y) + k + 1},{v:.10g}" for k, v in enumerate(np.asarray(forecast))]
    write_atomic(path, lambda f: f.write("\n".join(rows) + "\n"), "w")
    print(f"{est.regressor_.n_iter_} epochs (best: {est.regressor_.best_epoch_}); the next {est.horizon} steps "
          f"(after step {len(y)}): {', '.join(f'{v:.4g}' for v in forecast)}; written to {path}")
    return 0


def _model_file(path):
    from .estimators.runs import CHECKPOINT, MODEL
    from .runtime.archive import load_checkpoint

    if not os.path.isdir(path):
        return path
    model = os.path.join(path, MODEL)
    if not os.path.exists(model):
        checkpoint = os.path.join(path, CHECKPOINT)
        if os.path.exists(checkpoint):
            if "fit" not in load_checkpoint(checkpoint)[0]:  # a run of pytcn train: a model, not an estimator
                raise UsageError(f"{path}: is a run of pytcn train, whose model predicts with pytcn stream or "
                                 f"pytcn.load_model, not with pytcn predict (which takes the folder of pytcn fit)")
            raise UsageError(f"{path}: its fit has not finished (no {MODEL} yet); continue it with pytcn fit --resume "
                             f"--out {path}")
        raise UsageError(f"{path}: is a folder without a {MODEL}; give the folder pytcn fit wrote, or a model file")
    return model


def cmd_predict(args):
    import numpy as np

    from .estimators import TCNClassifier, TCNForecaster, load_estimator
    from .estimators.datafiles import read_cases
    from .runtime.files import write_atomic

    est = load_estimator(_model_file(args.run))
    if isinstance(est, TCNForecaster):
        raise UsageError(f"{args.run}: is a forecaster; it forecasts with pytcn forecast, not pytcn predict")
    classifier = isinstance(est, TCNClassifier)
    if args.proba and not classifier:
        raise UsageError("--proba: the run is a regressor, which has no class probabilities")
    X, y = read_cases(args.data, "none" if args.no_labels else "optional")
    out_file("--out", args.out, suffixes=(".csv",))
    try:
        pred = est.predict(X)
        proba = est.predict_proba(X) if args.proba else None
    except (ValueError, TypeError) as e:  # predict's checks of X: channels, length, NaN
        raise UsageError(f"{args.data}: {_first_line(e)}") from None
    columns = [pred.astype(str)] if pred.ndim == 1 else [pred[:, k].astype(str) for k in range(pred.shape[1])]
    header = ["prediction"] if pred.ndim == 1 else [f"prediction_{k}" for k in range(pred.shape[1])]
    if proba is not None:
        columns += [np.char.mod("%.6g", proba[:, k]) for k in range(proba.shape[1])]
        header += [f"proba_{c}" for c in est.classes_]
    rows = [",".join(header)] + [",".join(values) for values in zip(*columns)]
    write_atomic(args.out, lambda f: f.write("\n".join(rows) + "\n"), "w")
    line = f"{len(pred)} predictions written to {args.out}"
    if y is not None and classifier:
        line += f"; accuracy {np.mean(pred.astype(str) == np.asarray(y).astype(str)):.4g} against the file's labels"
    elif y is not None:
        try:
            truth = np.asarray(y, dtype=np.float64).reshape(pred.shape)
        except ValueError:
            truth = None
        if truth is not None:
            line += f"; MAE {np.mean(np.abs(pred - truth)):.4g} against the file's targets"
    print(line)
    return 0


def cmd_export(args):
    import warnings

    import pytcn

    if os.path.splitext(args.out)[1].lower() != ".onnx":  # before anything is read (its folder is made later)
        raise UsageError(f"--out must end in .onnx, got {args.out!r}")
    try:
        from .export import graph

        graph.onnx_modules()
    except ImportError as e:
        raise UsageError(str(e)) from None
    from .export import to_onnx

    source = args.source
    if os.path.isdir(source) and not any(os.path.isfile(os.path.join(source, name)) for name in
                                         ("model.npz", "checkpoint.npz")):
        raise UsageError(f"{source}: is a folder without a model (no model.npz of pytcn fit, no checkpoint.npz of "
                         f"pytcn train)")
    if _is_fit_checkpoint(source):
        raise UsageError(f"{source}: is the checkpoint of a pytcn fit or forecast run, which resumes the fit; export "
                         f"the run's folder or its model.npz (the fitted estimator)")
    model = pytcn.load_model(_model_file(source) if _is_fit_run(source) else source, backend="cpu")
    out_file("--out", args.out, suffixes=(".onnx",))  # the source is a model: now its folder is made
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            proto = to_onnx(model, streaming=args.streaming)
    except (TypeError, ValueError) as e:  # a model the format cannot take (a GRU, a stream of a pooled model)
        raise UsageError(f"{source}: {_first_line(e)}") from None
    from .runtime.files import write_atomic

    try:
        write_atomic(args.out, lambda f: f.write(proto.SerializeToString()))  # protobuf's own encoding
    except OSError as e:
        raise UsageError(f"--out {args.out}: cannot be written ({e.strerror or e})") from None
    inputs = ", ".join(f"{i.name} {_shape(i)}" for i in proto.graph.input)
    outputs = ", ".join(f"{o.name} {_shape(o)}" for o in proto.graph.output)
    print(f"{type(model).__name__}{' (streaming step)' if args.streaming else ''} written to {args.out} (ONNX opset "
          f"{proto.opset_import[0].version}, {os.path.getsize(args.out):,} bytes): inputs {inputs}; outputs {outputs}")
    for warning in caught:  # the float64 note: onnxruntime cannot run it
        print(f"note: {warning.message}")
    return 0


def _is_fit_checkpoint(path):
    """A checkpoint.npz file of pytcn fit or pytcn forecast (its meta has a "fit" record)."""
    from .runtime.archive import CheckpointError, load_checkpoint

    if not os.path.isfile(path):
        return False
    try:
        return "fit" in load_checkpoint(path)[0]
    except CheckpointError:
        return False  # not a pytcn file: load_model below says so


def _is_fit_run(path):
    """A folder of pytcn fit or pytcn forecast (its checkpoint's meta has a "fit" record), whose model is its
    model.npz; a folder of pytcn train has none."""
    from .runtime.archive import load_checkpoint

    checkpoint = os.path.join(path, "checkpoint.npz")
    if not os.path.isdir(path) or os.path.isfile(os.path.join(path, "model.npz")):
        return os.path.isdir(path)
    return os.path.isfile(checkpoint) and "fit" in load_checkpoint(checkpoint)[0]


def _shape(value):
    dims = value.type.tensor_type.shape.dim
    return "(" + ", ".join(d.dim_param or str(d.dim_value) for d in dims) + ")"


def cmd_draw(args):
    from .nn.model import receptive_field
    from .plot import dilation_diagram
    from .runtime import validate
    from .runtime.archive import load_checkpoint

    if args.source:
        meta, _, _, _ = load_checkpoint(args.source)
        config = meta.get("config") or meta.get("model")  # a training run, or a saved model
        if not isinstance(config, dict):
            raise CheckpointError(f"{args.source}: holds no architecture to draw")
        recurrent = config.get("model") if "config" in meta else config.get("architecture")  # a run's, a model's
        if recurrent in ("gru", "lstm"):  # its config may still hold the task's TCN fields: never drawn as a TCN
            raise UsageError(f"{args.source}: holds a {recurrent.upper()}, which has no dilations to draw (pytcn draw "
                             f"shows a TCN's stacked dilations)")
        try:  # a damaged file's architecture is the file's fault: named with it, before any drawing
            receptive_field(config["kernel_size"], config["dilations"], config.get("nb_stacks", 1))
            validate.one_of("padding", config.get("padding", "causal"), ("causal", "same"))
        except KeyError as e:
            raise CheckpointError(f"{args.source}: its architecture has no {e.args[0]}") from None
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{args.source}: its architecture is damaged ({e})") from None
    else:
        config = dict(kernel_size=args.kernel_size, dilations=args.dilations, nb_stacks=args.nb_stacks,
                      padding=args.padding)
        try:
            receptive_field(args.kernel_size, args.dilations, args.nb_stacks)
        except (TypeError, ValueError) as e:
            raise UsageError(f"--{str(e).split()[0].replace('_', '-')} {' '.join(str(e).split()[1:])}") from None
    out_file("--out", args.out, suffixes=(".png", ".svg"))
    try:
        dilation_diagram(config, args.out)
    except ValueError as e:
        raise UsageError(str(e).replace("path ", "--out ", 1)) from None
    print(f"{args.out}: kernel size {config['kernel_size']}, dilations {list(config['dilations'])}, "
          f"{config.get('nb_stacks', 1)} stack(s), padding {config.get('padding', 'causal')}; receptive field "
          f"{receptive_field(config['kernel_size'], list(config['dilations']), config.get('nb_stacks', 1))} steps")
    return 0


def cmd_download(args):
    from .tasks.download import download

    def progress(name, done, total):
        of = f" of {total / 1e6:.1f}" if total else ""
        print(f"\r{name}: {done / 1e6:.1f}{of} MB", end="", file=sys.stderr, flush=True)

    if args.dir is not None:
        out_folder("--dir", args.dir)
    try:
        path = download(args.dataset, dest_dir=args.dir, base_url=args.base_url, progress=progress)
    except ValueError as e:  # a --base-url that is no address, or a file whose digest is not the dataset's
        raise UsageError(str(e).replace("base_url ", "--base-url ", 1)) from None
    print(f"\n{args.dataset}: the four files are in {path}")
    return 0


COMMANDS = {"fit": cmd_fit, "predict": cmd_predict, "forecast": cmd_forecast,
            "train": cmd_train, "evaluate": cmd_evaluate, "info": cmd_info, "stream": cmd_stream, "draw": cmd_draw,
            "download": cmd_download, "sweep": cmd_sweep, "export": cmd_export}


def user_errors():
    """The exceptions that mean a mistake in the user's input or environment, never a bug in pytcn."""
    from .runtime.backends import BackendUnavailableError
    from .study.sweep import StoreError
    from .tasks.mnist import DataError, DataNotFoundError
    from .training import TrainingError

    errors = (UsageError, ConfigError, CheckpointError, TrainingError, BackendUnavailableError, DataError,
              DataNotFoundError, ConnectionError, StoreError)
    try:
        from .estimators.datafiles import DataFileError
    except ImportError:  # scikit-learn is not installed: no estimator command gets past its import
        return errors
    return errors + (DataFileError,)


# OSErrors that come from the machine the user runs on (a full disk, a quota, a read-only or forbidden folder, a
# failing device), not from pytcn: one line, as for a mistake in the input. Others (a file pytcn itself should have
# found, say) are bugs and keep their traceback.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG, errno.EACCES, errno.EPERM}


def environment_error(e):
    """The one line for an OSError of the machine's (ENVIRONMENT_ERRNOS, or a folder where a file is wanted and
    the like), or None for any other exception."""
    if isinstance(e, (IsADirectoryError, NotADirectoryError)) and e.errno is None:  # pytcn's own checks of a path
        return str(e)
    if isinstance(e, OSError) and e.errno in ENVIRONMENT_ERRNOS:
        return f"{e.filename}: {e.strerror}" if e.filename else (e.strerror or str(e))
    return None


def user_message(e):
    """What the line of ``pytcn: error:`` says for one of user_errors() or a MemoryError."""
    message = str(e)
    if isinstance(e, ConfigError):  # name the option, as the user typed it
        return f"{option_name(e.field)} {e.problem}"
    if message.startswith("data_dir="):  # a missing dataset (an OSError), said by the library: the option's name
        return "--data-dir " + message[len("data_dir="):]
    if isinstance(e, MemoryError):  # a size the user chose (--nb-filters 10**9, say), not a bug
        return f"not enough memory for this configuration ({message or 'MemoryError'})"
    return message


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:  # the reader of stdout went away (pytcn info ... | head): stop quietly, as cat does
        try:  # so that flushing stdout at exit does not fail a second time
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):  # a stdout without a file descriptor (a test's capture)
            pass
        return 141  # 128 + SIGPIPE: what a shell reports for a command that a closed pipe stopped
    except OSError as e:
        message = environment_error(e)
        if message is None and not isinstance(e, user_errors()):
            traceback.print_exc()
            print("pytcn: internal error: the traceback above is a bug in pytcn, not a mistake in your input; "
                  "please report it", file=sys.stderr)
            return EXIT_BUG
        print(f"pytcn: error: {message if message is not None else user_message(e)}", file=sys.stderr)
        return EXIT_ERROR
    except (*user_errors(), MemoryError) as e:
        print(f"pytcn: error: {user_message(e)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("pytcn: interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 (a bug: shown in full, and said to be one)
        traceback.print_exc()
        print("pytcn: internal error: the traceback above is a bug in pytcn, not a mistake in your input; please "
              "report it", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
