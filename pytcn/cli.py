"""The `pytcn` command: a thin layer over pytcn.training, pytcn.checkpoint and tasks.download.

    pytcn train {adding,copy-memory,mnist} [options]    train a task (defaults per task: pytcn train TASK --help)
    pytcn train TASK --out DIR --resume                 continue the run saved in DIR
    pytcn evaluate CHECKPOINT                           recompute the test metric of a checkpoint
    pytcn info CHECKPOINT                               architecture, parameter count, receptive field
    pytcn download {mnist,fashion-mnist}                fetch the IDX files into the per-user cache
"""
import argparse
import os
import sys

from .checkpoint import CheckpointError
from .taskdata import DEFAULTS, TASKS

EXIT_ERROR = 2


def _dilations(text):
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"dilations must be comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"dilations must be positive integers, got {text!r}")
    return values


def _train_parser(sub, task):
    d = DEFAULTS[task]
    p = sub.add_parser(task, help=f"train the {task} task", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description=f"Train a TCN on the {task} task. Defaults converge on a 2-core CPU.")
    m = p.add_argument_group("model (keras-tcn's names)")
    m.add_argument("--nb-filters", type=int, default=d["nb_filters"], help="channels of every residual block")
    m.add_argument("--kernel-size", type=int, default=d["kernel_size"], help="taps of every convolution")
    m.add_argument("--nb-stacks", type=int, default=1, help="repeats of the dilation list")
    m.add_argument("--dilations", type=_dilations, default=d["dilations"], help="comma-separated, e.g. 1,2,4,8")
    m.add_argument("--use-skip-connections", action="store_true", help="sum every block's branch (keras-tcn)")
    m.add_argument("--dropout-rate", type=float, default=0.0, help="spatial dropout after each ReLU of a block")
    m.add_argument("--use-weight-norm", action="store_true", help="weight-normalise the convolutions")
    m.add_argument("--kernel-initializer", default="he_normal", help="see pytcn.initializers")
    t = p.add_argument_group("training")
    t.add_argument("--length", type=int, default=d["length"],
                   help="sequence length T" + (" (784 for MNIST, fixed)" if task == "mnist" else ""))
    t.add_argument("--batch-size", type=int, default=d["batch_size"])
    t.add_argument("--epochs", type=int, default=d["epochs"], help="total epochs (with --resume: the new total)")
    t.add_argument("--lr", type=float, default=d["lr"], help="Adam's learning rate")
    t.add_argument("--clip", type=float, default=d["max_grad_norm"],
                   help="clip the global gradient norm to this (0: no clipping)")
    t.add_argument("--seed", type=int, default=0, help="seeds the data, the weights, the shuffles and dropout")
    t.add_argument("--train-size", type=int, default=d["train_size"], help="training sequences")
    t.add_argument("--val-size", type=int, default=d["val_size"], help="validation sequences")
    t.add_argument("--test-size", type=int, default=d["test_size"], help="test sequences")
    t.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    t.add_argument("--backend", choices=["cpu", "numpy", "cuda"],
                   help="kernels to run: cpu (Numba, the default), numpy (the references), cuda (a GPU, with numba-cuda); "
                        "with --resume, continues the run on this backend")
    if task == "mnist":
        t.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
        t.add_argument("--data-dir", help="folder with the four IDX files (else $PYTCN_DATA_DIR, the cache, Debian's)")
        t.add_argument("--permute", action="store_true", help="permuted sequential MNIST (fixed, seeded)")
    t.add_argument("--out", default=os.path.join("runs", task), help="output folder: checkpoint, metrics, curve")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--threads", type=int, help="Numba threads (default: all cores)")
    p.set_defaults(command="train", task=task)
    return p


def build_parser():
    parser = argparse.ArgumentParser(prog="pytcn", description="Temporal Convolutional Networks from first principles.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = sub.add_parser("train", help="train a task: adding, copy-memory or mnist")
    tasks = train.add_subparsers(dest="task", required=True, metavar="TASK")
    for task in TASKS:
        _train_parser(tasks, task)
    ev = sub.add_parser("evaluate", help="recompute the test metric of a checkpoint")
    ev.add_argument("checkpoint")
    ev.add_argument("--data-dir", help="for MNIST: where the IDX files are, if not where training found them")
    ev.add_argument("--backend", choices=["cpu", "numpy", "cuda"], help="default: the one the run trained on")
    info = sub.add_parser("info", help="architecture, parameter count and receptive field of a checkpoint")
    info.add_argument("checkpoint")
    dl = sub.add_parser("download", help="download MNIST or Fashion-MNIST (sha256-checked, resumable)")
    dl.add_argument("dataset", choices=["mnist", "fashion-mnist"])
    dl.add_argument("--dir", help="destination (default: the per-user cache, where training looks)")
    dl.add_argument("--base-url", help="mirror to download from (default: the dataset's standard one)")
    return parser


def _config_from_args(args):
    from .training import default_config

    config = default_config(args.task)
    config.update(length=args.length, nb_filters=args.nb_filters, kernel_size=args.kernel_size,
                  nb_stacks=args.nb_stacks, dilations=args.dilations, use_skip_connections=args.use_skip_connections,
                  dropout_rate=args.dropout_rate, use_weight_norm=args.use_weight_norm,
                  kernel_initializer=args.kernel_initializer, batch_size=args.batch_size, epochs=args.epochs,
                  lr=args.lr, max_grad_norm=args.clip or None, seed=args.seed, train_size=args.train_size,
                  val_size=args.val_size, test_size=args.test_size, dtype=args.dtype,
                  backend=args.backend or "cpu")
    if args.task == "mnist":
        config.update(length=784, dataset=args.dataset, data_dir=args.data_dir, permute=args.permute)
    return config


def cmd_train(args):
    from .training import Trainer, format_summary

    if args.threads:
        import numba

        numba.set_num_threads(args.threads)
    progress = not args.no_progress
    if args.resume:
        trainer = Trainer.resume(args.out, progress=progress, epochs=args.epochs, backend=args.backend)
        if trainer.config["task"] != args.task:
            raise CheckpointError(f"{trainer.checkpoint_path}: is a {trainer.config['task']} run, not {args.task}")
        print(f"resuming {trainer.checkpoint_path} at epoch {trainer.epoch + 1}, batch {trainer.batch}")
    else:
        config = _config_from_args(args)
        trainer = Trainer(config, args.out, progress=progress)
        if os.path.exists(trainer.checkpoint_path):
            raise CheckpointError(f"{trainer.checkpoint_path}: a run is already saved there; continue it with "
                                  f"--resume, or choose another --out")
    print(f"{trainer.task.description}: {trainer.model.count_params()} parameters, receptive field "
          f"{trainer.model.receptive_field}, {len(trainer.task.splits['train'][0])} training sequences")
    summary = trainer.run()
    print(format_summary(summary))
    return 130 if summary["interrupted"] else 0


def cmd_evaluate(args):
    from .checkpoint import load_checkpoint
    from .training import Trainer, evaluate

    meta, params, adam_m, adam_v = load_checkpoint(args.checkpoint)
    config = dict(meta["config"])
    if args.data_dir:
        config["data_dir"] = args.data_dir
    if args.backend:
        config["backend"] = args.backend
    trainer = Trainer(config, os.path.dirname(os.path.abspath(args.checkpoint)), progress=False)
    try:
        trainer.model.load_state_dict(params)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{args.checkpoint}: does not fit the architecture in its configuration ({e})") from None
    loss, metric = evaluate(trainer.model, trainer.task, "test")
    t = trainer.task
    extra = f" (baseline loss {t.extra['baseline_loss']:.4g})" if t.extra.get("baseline_loss") else ""
    print(f"{t.description}: test {t.metric_name} {metric:.4g} (baseline {t.baseline:.4g}, {t.baseline_name}), "
          f"test loss {loss:.4g}{extra}; epoch {meta['epoch']}, step {meta['step']}")
    return 0


def cmd_info(args):
    from .checkpoint import load_checkpoint
    from .training import build_model

    meta, params, _, _ = load_checkpoint(args.checkpoint)
    c = meta["config"]
    model = build_model(dict(c, backend="cpu"))  # only to count: runs nothing, so needs no GPU
    try:
        model.load_state_dict(params)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{args.checkpoint}: does not fit the architecture in its configuration ({e})") from None
    print(f"checkpoint   {args.checkpoint}")
    print(f"task         {c['task']}" + (f" ({c['dataset']}{', permuted' if c['permute'] else ''})"
                                         if c["task"] == "mnist" else f", T={c['length']}"))
    print(f"architecture nb_filters={c['nb_filters']} kernel_size={c['kernel_size']} nb_stacks={c['nb_stacks']} "
          f"dilations={c['dilations']} use_skip_connections={c['use_skip_connections']} "
          f"dropout_rate={c['dropout_rate']} use_weight_norm={c['use_weight_norm']} dtype={c['dtype']}")
    print(f"trained on   backend {c.get('backend', 'cpu')}")
    print(f"parameters   {model.count_params()}")
    print(f"receptive    {model.receptive_field} steps")
    print(f"trained      {meta['epoch']} epochs, {meta['step']} steps, {meta.get('elapsed', 0):.0f} s")
    if meta["history"]:
        h = meta["history"][-1]
        print(f"last epoch   validation loss {h['val_loss']:.4g}, validation metric {h['val_metric']:.4g}")
    return 0


def cmd_download(args):
    from tasks.download import download

    path = download(args.dataset, dest_dir=args.dir, base_url=args.base_url)
    print(f"{args.dataset}: the four files are in {path}")
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "info": cmd_info, "download": cmd_download}


def main(argv=None):
    args = build_parser().parse_args(argv)
    from .backends import BackendUnavailableError
    from .training import TrainingError

    try:
        return COMMANDS[args.command](args)
    except (CheckpointError, TrainingError, BackendUnavailableError, FileNotFoundError, ValueError, TypeError,
            ConnectionError) as e:
        # a problem the user can fix: one line, no traceback
        print(f"pytcn: error: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
