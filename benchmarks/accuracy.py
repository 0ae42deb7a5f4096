"""Train each task at a documented scale and record what it reached, beside the paper's numbers.

    python benchmarks/accuracy.py                  # the three bars of the training issue
    python benchmarks/accuracy.py adding-600       # one named run (see RUNS)

Every run is exactly a `pytcn train ...` command (listed in RUNS, printed in the results), run in this process
through the same code path as the CLI. Results are appended to benchmarks/accuracy_results.jsonl and the table
benchmarks/accuracy_results.md is rewritten from all results recorded so far.
A measurement, not a test.
"""
import argparse
import datetime
import json
import os
import shlex
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from speed import cpu_info  # noqa: E402 (the same machine description as the speed benchmark)

# Bai, Kolter & Koltun (2018), "An Empirical Evaluation of Generic Convolutional and Recurrent Networks for Sequence
# Modeling", table 1, TCN column.
PAPER = {
    "adding": "T=600: test MSE 5.8e-5",
    "copy-memory": "T=1000: test loss 3.5e-5",
    "mnist": "sequential MNIST 99.0%, permuted 97.2% (MNIST, not Fashion-MNIST)",
}

# name: (pytcn train arguments, the bar of the training issue or None, "lower" or "higher" is better)
RUNS = {
    "adding-200": ("adding --length 200", 0.005, "lower"),
    "copy-memory-100": ("copy-memory --length 100", 0.90, "higher"),
    "fashion-mnist": ("mnist --dataset fashion-mnist", 0.80, "higher"),
    "adding-600": ("adding --length 600 --nb-filters 24 --kernel-size 8 --dilations 1,2,4,8,16,32 --epochs 4",
                   None, "lower"),
    "copy-memory-1000": ("copy-memory --length 1000 --kernel-size 8 --dilations 1,2,4,8,16,32,64,128 --epochs 10",
                         None, "higher"),
}
DEFAULT_RUNS = ["adding-200", "copy-memory-100", "fashion-mnist"]


def run(name, out_root):
    from pytcn import cli
    from pytcn.training import Trainer

    args_text, bar, better = RUNS[name]
    out = os.path.join(out_root, name)
    argv = ["train", *shlex.split(args_text), "--out", out, "--no-progress"]
    args = cli.build_parser().parse_args(argv)
    config = cli.config_from_args(args)
    if os.path.exists(os.path.join(out, "checkpoint.npz")):
        os.remove(os.path.join(out, "checkpoint.npz"))
    t0 = time.perf_counter()
    trainer = Trainer(config, out, progress=False)
    summary = trainer.run()
    wall = time.perf_counter() - t0
    met = None if bar is None else (summary["test_metric"] < bar if better == "lower" else summary["test_metric"] > bar)
    import numba

    return dict(run=name, command="pytcn " + " ".join(argv), task=summary["task"], metric=summary["metric_name"],
                test_metric=summary["test_metric"], test_loss=summary["test_loss"], baseline=summary["baseline"],
                baseline_name=summary["baseline_name"], baseline_loss=summary["baseline_loss"],
                epochs=summary["epochs"], steps=summary["steps"], train_seconds=summary["train_seconds"],
                wall_seconds=round(wall, 1), bar=bar, better=better, bar_met=met,
                paper=PAPER[config["task"]], params=trainer.model.count_params(),
                receptive_field=trainer.model.receptive_field, cpu=cpu_info()[0], threads=numba.get_num_threads(),
                date=datetime.date.today().isoformat(), commit=_commit())


def _commit():
    import subprocess

    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE)
    return out.stdout.strip() or None


def write_table(results, path):
    lines = ["# Accuracy benchmark", "",
             "Written by `python benchmarks/accuracy.py` from `accuracy_results.jsonl` (the latest result per run).",
             "Wall time includes data generation or loading, validation after every epoch and the final test.", "",
             "| run | test metric | baseline | bar | met | epochs | train s | wall s | params | R | paper (TCN) "
             "| CPU, threads |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    latest = {}
    for r in results:
        latest[r["run"]] = r
    for r in latest.values():
        bar = "—" if r["bar"] is None else f"{'<' if r['better'] == 'lower' else '>'} {r['bar']:g}"
        met = "—" if r["bar_met"] is None else ("yes" if r["bar_met"] else "**no**")
        base = f"{r['baseline']:.4g} ({r['baseline_name']})"
        if r.get("baseline_loss"):
            base += f"; loss {r['baseline_loss']:.4g}"
        lines.append(f"| {r['task']} | {r['metric']} {r['test_metric']:.4g} (loss {r['test_loss']:.3g}) | {base} | "
                     f"{bar} | {met} | {r['epochs']} | {r['train_seconds']:.0f} | {r['wall_seconds']:.0f} | "
                     f"{r['params']} | {r['receptive_field']} | {r['paper']} | {r['cpu']}, {r['threads']} |")
    lines += ["", "Commands:", ""] + [f"- {r['run']}: `{r['command']}` ({r['date']}, commit {r.get('commit', '?')})"
                                      for r in latest.values()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", help=f"runs, of {', '.join(RUNS)} (default: {', '.join(DEFAULT_RUNS)})")
    parser.add_argument("--out", default=os.path.join("runs", "benchmark"), help="folder for the runs' outputs")
    args = parser.parse_args(argv)
    unknown = [r for r in args.runs if r not in RUNS]
    if unknown:
        parser.error(f"unknown run {unknown[0]!r}; choose from {', '.join(RUNS)}")
    jsonl = os.path.join(HERE, "accuracy_results.jsonl")
    for name in args.runs or DEFAULT_RUNS:
        result = run(name, args.out)
        print(json.dumps(result), flush=True)
        with open(jsonl, "a") as f:
            f.write(json.dumps(result) + "\n")
        with open(jsonl) as f:
            write_table([json.loads(line) for line in f if line.strip()], os.path.join(HERE, "accuracy_results.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
