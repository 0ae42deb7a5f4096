"""The TCN paper's Table 1 on two cores: TCN, GRU and LSTM on the adding problem (T = 600), copy memory (T = 1000),
and sequential and permuted sequential Fashion-MNIST (MNIST itself cannot be fetched on these machines).

    python benchmarks/paper.py run                 # every run in RUNS, in order; a run with a checkpoint resumes
    python benchmarks/paper.py run adding-gru      # named runs only
    python benchmarks/paper.py status              # how far each run is
    python benchmarks/paper.py keep                # copy the unfinished runs' checkpoints into paper_runs/ to commit
    python benchmarks/paper.py report              # benchmarks/paper_results.md and the figures, from what is done

Every run is exactly a `pytcn train ...` command (RUNS; printed in the results), run in this process through the
same code as the CLI, with its output folder under runs/paper/. A run stopped (Ctrl-C, a killed process, the end of
a session) continues exactly where its last checkpoint left it when this is run again, on the same number of
threads (--threads, written into the results). One thread by default, and two processes side by side to use both
cores (each given half of RUNS): Numba's two threads wait for each other by spinning, and with any other process
busy on this 2-core machine an epoch of the adding problem took 20 minutes where 2 were expected. When a run
finishes, its summary (test loss and metric,
wall time, the learning curve) goes into benchmarks/paper_runs/NAME.json, which ``report`` reads.

The runs take hours, longer than a session, and runs/ is not committed: a session's machine and its runs/ folder do
not outlive it. So what a run has done is kept in the repository: its summary when it finishes, and, when ``keep``
is run before a session ends (after Ctrl-C or SIGINT to the runs), each unfinished run's last checkpoint and
metrics in benchmarks/paper_runs/unfinished/NAME/, from which ``run`` continues it on a fresh checkout. (Before
this, eight finished runs lived only in runs/paper/ and were lost with it; their records in paper_runs/ were
recovered from the report that had been committed, and say so: they have no learning curve, and ``run`` trains them
again.) A measurement, not a test.

The settings, and where each comes from (Bai, Kolter & Koltun 2018, arXiv:1803.01271, "the paper"; locuslab/TCN at
commit 2f8c2b8, "the repository"):

- TCN: the repository's scripts (TCN/adding_problem/add_test.py, TCN/copy_memory/copymem_test.py,
  TCN/mnist_pixel/pmnist_test.py): 8 levels of dilations 1..128, weight-normalised convolutions, element-wise
  dropout, no skip connections, the head on the last step (every step for copy memory), the convolutions' weights
  drawn as the repository's are in fact drawn: PyTorch's default, uniform in +-1/sqrt(fan_in) (``torch_default``);
  its downsample's and head's weights (N(0, 0.01)) and its biases (PyTorch's uniform draw) are not, and the probes
  adding-tcn-locuslab-init* measure what starting from them does.
  The paper says N(0, 0.01) (appendix A.1), but with weight normalisation the repository's init_weights sets a
  weight that weight_norm recomputes from g and v, so its draw never reaches the convolutions (locuslab/TCN#1); and
  N(0, 0.01) measurably stalls here (FINDINGS, below). Copy memory as the script in fact trains: no dropout (its
  default) and no clipping (its --clip 1 is applied to gradients it has just zeroed, before backward). The adding
  problem's script defaults are for T = 400 (k = 7, 30 channels, lr 4e-3): there the paper's T = 600 row of its
  supplementary Table 2 (k = 8, 24 channels, 70K parameters) with the paper's Adam at 2e-3 (section 5), and the
  script's defaults at T = 600 as a probe (adding-tcn-script).
- LSTM: the paper's supplementary Table 3 (layers, hidden units, gradient clip, initial forget-gate bias); its
  learning rate where the table gives one.
- GRU: the paper gives no table; it says GRUs were "chosen in a similar fashion, but typically with more hidden
  units than in LSTM to keep the total network size approximately the same" (appendix A.2). So: the LSTM's
  settings, with hidden units that match the LSTM's parameter count (70K, or the 16K of Table 1 for copy memory).
- The optimizer is the paper's or the repository's: RMSprop (torch's defaults but the learning rate) for the TCN on
  copy memory (the repository's script), for the LSTM on copy memory (Table 3: "RMSprop/Adam", no learning rate:
  1e-3, ours) and on both MNIST tasks (Table 3: RMSprop 1e-3), and for the GRUs beside those; Adam elsewhere. The
  recurrent models have no dropout (the paper's LSTM on copy memory had 0.05).
- Epochs: 10 for the two MNIST tasks (the paper, section 5.2: "run over 10 epochs"); for the others the paper states
  none, and the repository's defaults are used: 10 for the adding problem, 50 for copy memory. Batches of 32 (64
  for MNIST), the repository's. Data: the repository's sizes (50,000 training sequences for the adding problem,
  10,000 for copy memory, 1,000 for test), with a validation split of 1,000 of our own; Fashion-MNIST's 60,000
  training images split 55,000 / 5,000.
"""
import argparse
import datetime
import json
import os
import shlex
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from speed import cpu_info  # noqa: E402 (the same machine description as the speed benchmark)

OUT_ROOT = os.path.join(ROOT, "runs", "paper")
KEPT = os.path.join(HERE, "paper_runs")  # committed: NAME.json per finished run, unfinished/NAME/ per kept checkpoint
RESULTS = os.path.join(HERE, "paper_results.md")
FIGURES = os.path.join(HERE, "figures")

TCN_LEVELS = "--dilations 1,2,4,8,16,32,64,128 --use-weight-norm --dropout-type elementwise --kernel-initializer " \
             "torch_default"
ADDING = "adding --length 600 --epochs 10 --batch-size 32 --train-size 50000 --val-size 1000 --test-size 1000"
COPY = "copy-memory --length 1000 --epochs 50 --batch-size 32 --train-size 10000 --val-size 1000 --test-size 1000"
MNIST = "mnist --dataset fashion-mnist --epochs 10 --batch-size 64 --val-size 5000"
RMSPROP = "--optimizer rmsprop --lr 1e-3 --clip 1"

#: task -> (its name in the paper's Table 1, the paper's TCN / GRU / LSTM, which number it is, lower is better)
PAPER = {
    "adding": ("Adding problem T=600 (loss)", {"tcn": 5.8e-5, "gru": 5.3e-5, "lstm": 0.164}, "test MSE", True),
    "copy": ("Copy memory T=1000 (loss)", {"tcn": 3.5e-5, "gru": 0.0197, "lstm": 0.0204}, "test loss", True),
    "smnist": ("Seq. MNIST (accuracy %)", {"tcn": 99.0, "gru": 96.2, "lstm": 87.2}, "test accuracy %", False),
    "pmnist": ("Permuted MNIST (accuracy %)", {"tcn": 97.2, "gru": 87.3, "lstm": 85.7}, "test accuracy %", False),
}

ADDING_PROBE = ("pytcn train adding --length 600 --epochs 3 --train-size 16000 --val-size 500 --test-size 500 "
                "--nb-filters 24 --kernel-size 8 --dilations 1,2,4,8,16,32,64,128 --lr 2e-3 --threads 1")
COPY_PROBE = ("pytcn train copy-memory --length 1000 --epochs 5 --train-size 5000 --val-size 500 --test-size 500 "
              "--nb-filters 10 --kernel-size 8 --dilations 1,2,4,8,16,32,64,128 --optimizer rmsprop --lr 5e-4 --clip 1 "
              "--use-weight-norm --dropout-rate 0.05 --dropout-type elementwise --threads 1")

#: what was measured on the way to the paper's settings, and why those of RUNS were chosen (2026-12-06, AMD EPYC, 2
#: vCPUs shared with other work, one thread per run; each row one short run, seed 0)
FINDINGS = f"""## Measured on the way: why the TCN's settings are what they are

Short runs of the paper's TCN, to see whether its settings learn here before spending hours on them.

**Adding problem, T = 600** (the paper's 8 levels of 24 channels, k = 8; 1,500 training steps;
`{ADDING_PROBE}` plus the options of each row; always predicting 1 scores 0.167):

| weight norm | initializer | gradient clip | test MSE after 1,500 steps |
|---|---|---|---|
| yes | normal (N(0, 0.01), the paper's words) | none (the paper's) | 0.181 |
| yes | torch_default (the repository's in fact) | none | 0.179 |
| no | he_normal | none | 0.197 |
| no | he_normal | 1 | 0.094 |
| yes | he_normal | 1 | 0.011 |

Without clipping, the TCN sat at the baseline for 1,500 steps whatever it started from; clipped at a norm of 1, it
learned. The full run keeps the paper's setting (no clipping): whether it leaves the baseline later is what it
measures. (A full run with he_normal and no clipping was at validation MSE 0.165 after two epochs, 3,100 steps;
one with N(0, 0.01) at 0.159 after three.)

**Copy memory, T = 1000** (the repository's 8 levels of 10 channels, k = 8, RMSprop at 5e-4, clip 1, dropout 0.05,
weight norm; 5 epochs of 5,000 sequences; `{COPY_PROBE}` plus `--kernel-initializer` as in each row; the memoryless
baseline loss is 0.0204):

| initializer | test loss | recall accuracy |
|---|---|---|
| he_normal | 0.0207 | 0.136 |
| torch_default | 0.0156 | 0.362 |

and a full run (10,000 sequences) from N(0, 0.01) was still at the baseline after 21 epochs (validation loss 0.02039,
accuracy 0.12). So the runs start from torch_default, where the repository's convolutions start.
"""

#: name -> (task, model, the `pytcn train` arguments)
RUNS = {
    "adding-tcn": ("adding", "tcn", f"{ADDING} --nb-filters 24 --kernel-size 8 {TCN_LEVELS} --lr 2e-3 --clip 0"),
    # copy memory as the repository's script in fact trains (TCN/copy_memory/copymem_test.py, at ec2ee10): it calls
    # clip_grad_norm_ after optimizer.zero_grad() and before loss.backward(), on zeroed gradients, so it clips
    # nothing; and its --dropout defaults to 0.0
    "copy-tcn": ("copy", "tcn", f"{COPY} --nb-filters 10 --kernel-size 8 {TCN_LEVELS} --dropout-rate 0 "
                                f"--optimizer rmsprop --lr 5e-4 --clip 0"),
    "smnist-tcn": ("smnist", "tcn", f"{MNIST} --nb-filters 25 --kernel-size 7 {TCN_LEVELS} --dropout-rate 0.05 "
                                    f"--lr 2e-3 --clip 0"),
    "pmnist-tcn": ("pmnist", "tcn", f"{MNIST} --permute --nb-filters 25 --kernel-size 7 {TCN_LEVELS} "
                                    f"--dropout-rate 0.05 --lr 2e-3 --clip 0"),
    # copy memory: the LSTM of Table 3 (1 x 50, clip 1; "RMSprop/Adam", no learning rate given: RMSprop at 1e-3,
    # ours); the GRU matched to the 16K of Table 1 (70 units: 16,040 parameters)
    "copy-lstm": ("copy", "lstm", f"{COPY} --model lstm --hidden-size 50 --optimizer rmsprop --lr 1e-3 --clip 1"),
    "copy-gru": ("copy", "gru", f"{COPY} --model gru --hidden-size 70 --optimizer rmsprop --lr 1e-3 --clip 1"),
    # adding T=600: the LSTM of Table 3 (1 x 130, clip 5, forget bias 1; no optimizer given for T=600: T=400's Adam
    # at 2e-3); the GRU matched to its 70K (150 units: 69,451 parameters)
    "adding-lstm": ("adding", "lstm", f"{ADDING} --model lstm --hidden-size 130 --forget-bias 1 --lr 2e-3 --clip 5"),
    "adding-gru": ("adding", "gru", f"{ADDING} --model gru --hidden-size 150 --lr 2e-3 --clip 5"),
    # sequential MNIST: the LSTM of Table 3 (1 x 130, clip 1, forget bias 1, RMSprop 1e-3; permuted: forget bias
    # 10); the GRU matched to its 70K (150 units: 70,360 parameters)
    "smnist-lstm": ("smnist", "lstm", f"{MNIST} --model lstm --hidden-size 130 --forget-bias 1 {RMSPROP}"),
    "smnist-gru": ("smnist", "gru", f"{MNIST} --model gru --hidden-size 150 {RMSPROP}"),
    "pmnist-lstm": ("pmnist", "lstm", f"{MNIST} --permute --model lstm --hidden-size 130 --forget-bias 10 {RMSPROP}"),
    "pmnist-gru": ("pmnist", "gru", f"{MNIST} --permute --model gru --hidden-size 150 {RMSPROP}"),
}

#: Where the TCN misses the paper's number, what a second seed and more epochs do (not runs of the table): name ->
#: (task, model, the `pytcn train` arguments, the run it continues from its last checkpoint, or None). --seed draws
#: other data, weights, shuffles and dropout; "-20epochs" is the same run as its source, trained on to 20 epochs.
PROBES = {
    "adding-tcn-seed1": ("adding", "tcn", f"{RUNS['adding-tcn'][2]} --seed 1", None),
    # two seeds more: how far the seed alone moves the adding TCN's test number (every seed run is reported)
    "adding-tcn-seed2": ("adding", "tcn", f"{RUNS['adding-tcn'][2]} --seed 2", None),
    "adding-tcn-seed3": ("adding", "tcn", f"{RUNS['adding-tcn'][2]} --seed 3", None),
    "adding-tcn-20epochs": ("adding", "tcn", RUNS["adding-tcn"][2].replace("--epochs 10", "--epochs 20"),
                            "adding-tcn"),
    # 20 epochs, the weights of the best validation epoch kept (--keep-best) and tested beside the last epoch's: the
    # adding runs' validation MSE moves by 2-4x from one epoch to the next (the report's last five epochs' range)
    "adding-tcn-20epochs-best": ("adding", "tcn", RUNS["adding-tcn"][2].replace("--epochs 10", "--epochs 20")
                                 + " --keep-best", None),
    "adding-tcn-seed1-20epochs-best": ("adding", "tcn", RUNS["adding-tcn"][2].replace("--epochs 10", "--epochs 20")
                                       + " --seed 1 --keep-best", None),
    "adding-tcn-seed2-20epochs-best": ("adding", "tcn", RUNS["adding-tcn"][2].replace("--epochs 10", "--epochs 20")
                                       + " --seed 2 --keep-best", None),
    "adding-tcn-seed3-20epochs-best": ("adding", "tcn", RUNS["adding-tcn"][2].replace("--epochs 10", "--epochs 20")
                                       + " --seed 3 --keep-best", None),
    # the adding script's own defaults (k = 7, 30 channels, Adam at 4e-3), which it keeps for T = 400, at T = 600
    "adding-tcn-script": ("adding", "tcn", RUNS["adding-tcn"][2].replace("--nb-filters 24 --kernel-size 8",
                                                                        "--nb-filters 30 --kernel-size 7")
                          .replace("--lr 2e-3", "--lr 4e-3"), None),
    "copy-tcn-seed1": ("copy", "tcn", f"{RUNS['copy-tcn'][2]} --seed 1", None),
    # the weights that pytcn's torch_default draws as the repository's are its weight-normalised convolutions' only:
    # the repository also draws the 1 x 1 downsample's weights and the head's from N(0, 0.01) (tcn.py's and
    # adding_problem/model.py's init_weights, which stick there: neither is weight-normalised), and every bias as
    # PyTorch does, uniform in +-1/sqrt(fan_in), where pytcn's biases start at zero. These start from all of that
    # (locuslab_initial_weights); the same seeds, so the same data, shuffles and convolution weights as their runs
    "adding-tcn-locuslab-init": ("adding", "tcn", f"{RUNS['adding-tcn'][2]} --initial-weights "
                                                  f"runs/paper/adding-tcn-locuslab-init/initial.npz", None),
    "adding-tcn-locuslab-init-seed1": ("adding", "tcn", f"{RUNS['adding-tcn'][2]} --seed 1 --initial-weights "
                                                        f"runs/paper/adding-tcn-locuslab-init-seed1/initial.npz", None),
    # the table's first copy-memory run: clipped at 1 (the script's --clip default, applied here) with dropout 0.05
    "copy-tcn-clipped": ("copy", "tcn", RUNS["copy-tcn"][2].replace("--dropout-rate 0", "--dropout-rate 0.05")
                         .replace("--clip 0", "--clip 1"), None),
    "copy-tcn-clipped-seed1": ("copy", "tcn", RUNS["copy-tcn"][2].replace("--dropout-rate 0", "--dropout-rate 0.05")
                               .replace("--clip 0", "--clip 1") + " --seed 1", None),
}
#: probe -> (the run it varies, what it varies)
VARIES = {
    "adding-tcn-seed1": ("adding-tcn", "seed"),
    "adding-tcn-seed2": ("adding-tcn", "seed"),
    "adding-tcn-seed3": ("adding-tcn", "seed"),
    "adding-tcn-20epochs": ("adding-tcn", "epochs"),
    "adding-tcn-20epochs-best": ("adding-tcn", "epochs (20) and --keep-best"),
    "adding-tcn-seed1-20epochs-best": ("adding-tcn-seed1", "epochs (20) and --keep-best"),
    "adding-tcn-seed2-20epochs-best": ("adding-tcn-seed2", "epochs (20) and --keep-best"),
    "adding-tcn-seed3-20epochs-best": ("adding-tcn-seed3", "epochs (20) and --keep-best"),
    "adding-tcn-script": ("adding-tcn", "k, channels and learning rate (the script's)"),
    "copy-tcn-seed1": ("copy-tcn", "seed"),
    "adding-tcn-locuslab-init": ("adding-tcn", "the initial biases, downsample and head (the repository's draws)"),
    "adding-tcn-locuslab-init-seed1": ("adding-tcn-seed1", "the initial biases, downsample and head (the "
                                                           "repository's draws)"),
    "copy-tcn-clipped": ("copy-tcn", "clip 1 and dropout 0.05"),
    "copy-tcn-clipped-seed1": ("copy-tcn-clipped", "seed"),
}
ALL = {**{name: (*spec, None) for name, spec in RUNS.items()}, **PROBES}


def _args(name):
    from pytcn import cli

    out = os.path.join(OUT_ROOT, name)
    argv = ["train", *(os.path.join(ROOT, a) if a.startswith("runs/paper/") else a for a in shlex.split(ALL[name][2])),
            "--out", out, "--no-progress"]
    return cli.build_parser().parse_args(argv), out


def locuslab_initial_weights(args, path):
    """Writes to ``path`` the initial weights of run ``args`` (parsed `pytcn train` options) drawn as locuslab/TCN
    draws its adding model's: the weight-normalised convolutions' v and g as pytcn's torch_default draws them from
    the run's seed (PyTorch's default, uniform in +-1/sqrt(fan_in), and g = |v| per output channel, as weight_norm
    starts), the 1 x 1 downsample's weights and the head's from N(0, 0.01) (the repository's init_weights), and every
    bias uniform in +-1/sqrt(fan_in) (PyTorch's default for Conv1d and Linear; the repository leaves them). An .npz
    under the model's state_dict names, for `pytcn train --initial-weights`."""
    import numpy as np

    from pytcn import cli
    from pytcn.training.loop import build_model

    model = build_model(cli.config_from_args(args))
    state = model.state_dict()
    rng = np.random.default_rng([args.seed or 0, 1803])  # 1803: the paper's arXiv number, a stream of its own
    for name, value in state.items():
        if name.endswith("bias"):
            weight = state[name[:-len("bias")] + ("weight" if name[:-len("bias")] + "weight" in state else "weight_v")]
            fan_in = int(np.prod(weight.shape[1:]))
            state[name] = rng.uniform(-1 / np.sqrt(fan_in), 1 / np.sqrt(fan_in), value.shape).astype(value.dtype)
        elif name.endswith("downsample.weight") or name == "linear.weight":
            state[name] = (0.01 * rng.standard_normal(value.shape)).astype(value.dtype)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez(path + ".tmp.npz", **state)
    os.replace(path + ".tmp.npz", path)


def command(name, threads):
    source = ALL[name][3]
    then = f" (continuing runs/paper/{source})" if source else ""
    return f"pytcn train {ALL[name][2]} --out runs/paper/{name} --threads {threads}{then}"


def run(name, threads):
    """Trains run ``name`` to its end, resuming from its checkpoint if it has one; writes its summary.json."""
    import numba

    from pytcn import cli
    from pytcn.training import Trainer

    numba.set_num_threads(threads)
    args, out = _args(name)
    kept = _kept(name)
    if kept and "history" in kept:
        print(f"{name}: done already ({os.path.join(KEPT, name + '.json')})")
        return
    if kept:
        print(f"{name}: its record was recovered from a report, without its learning curve: trained again")
    t0 = time.perf_counter()
    unfinished = os.path.join(KEPT, "unfinished", name)
    if not os.path.exists(os.path.join(out, "checkpoint.npz")) and os.path.isdir(unfinished):
        os.makedirs(out, exist_ok=True)  # a fresh checkout: the checkpoint that ``keep`` committed
        for file in ("checkpoint.npz", "metrics.jsonl"):  # (no metrics.jsonl if stopped within its first epoch)
            if os.path.exists(os.path.join(unfinished, file)):
                shutil.copyfile(os.path.join(unfinished, file), os.path.join(out, file))
    source = ALL[name][3]
    if source and not os.path.exists(os.path.join(out, "checkpoint.npz")):  # a probe that trains a run on
        if not os.path.exists(os.path.join(OUT_ROOT, source, "checkpoint.npz")) or \
                not (_kept(source) or {}).get("history"):
            raise SystemExit(f"{name} continues {source}, which has not finished on this machine (its last "
                             f"checkpoint is in runs/paper/{source}/ only while that folder lasts)")
        os.makedirs(out, exist_ok=True)
        for file in ("checkpoint.npz", "metrics.jsonl"):
            shutil.copyfile(os.path.join(OUT_ROOT, source, file), os.path.join(out, file))
        print(f"{name}: {source}'s last checkpoint, trained on; {command(name, threads)}", flush=True)
    if os.path.exists(os.path.join(out, "checkpoint.npz")):
        trainer = Trainer.resume(out, progress=False, epochs=args.epochs)
        print(f"{name}: resuming at epoch {trainer.epoch + 1}, batch {trainer.batch}", flush=True)
    else:
        if args.initial_weights:
            locuslab_initial_weights(args, args.initial_weights)
        trainer = Trainer(cli.config_from_args(args), out, progress=False)
        print(f"{name}: {trainer.model.count_params()} parameters; {command(name, threads)}", flush=True)
    summary = trainer.run()
    if summary["interrupted"]:
        print(f"{name}: interrupted; run again to continue", flush=True)
        raise SystemExit(130)
    summary.update(name=name, command=command(name, threads), threads=threads, cpu=cpu_info(),
                   parameters=trainer.model.count_params(), train_seconds=round(trainer.elapsed, 1),
                   wall_seconds_this_process=round(time.perf_counter() - t0, 1),
                   finished=datetime.date.today().isoformat(), history=trainer.history)
    for folder, file in ((out, "summary.json"), (KEPT, name + ".json")):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, file + ".tmp"), "w") as f:
            json.dump(summary, f, indent=1)
        os.replace(os.path.join(folder, file + ".tmp"), os.path.join(folder, file))
    shutil.rmtree(unfinished, ignore_errors=True)  # finished: its kept checkpoint has served
    print(f"{name}: test {summary['metric_name']} {summary['test_metric']:.4g}, test loss {summary['test_loss']:.4g}, "
          f"{summary['train_seconds']:.0f} s of training", flush=True)


def _kept(name):
    """The committed record of run ``name`` (paper_runs/NAME.json), or None. A run that finished in this checkout
    but under an older paper.py (which wrote runs/paper/NAME/summary.json only) is copied in first."""
    path = os.path.join(KEPT, name + ".json")
    done_here = os.path.join(OUT_ROOT, name, "summary.json")
    if os.path.exists(done_here) and not os.path.exists(path):
        os.makedirs(KEPT, exist_ok=True)
        shutil.copyfile(done_here, path + ".tmp")
        os.replace(path + ".tmp", path)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _history(name):
    """The epochs finished so far by run ``name`` (its metrics.jsonl, here or as kept), or []."""
    for folder in (os.path.join(OUT_ROOT, name), os.path.join(KEPT, "unfinished", name)):
        path = os.path.join(folder, "metrics.jsonl")
        if os.path.exists(path):
            with open(path) as f:
                return [json.loads(line) for line in f]
    return []


def _state(name):
    """(summary or None, the epochs finished, the epochs planned) of run ``name``."""
    s = _kept(name)
    if s:
        return s, s["epochs"], s["epochs"]
    planned = shlex.split(ALL[name][2])
    return None, len(_history(name)), int(planned[planned.index("--epochs") + 1])


def keep():
    """Copies each unfinished run's last checkpoint and metrics into paper_runs/unfinished/NAME/, to be committed
    (stop the runs first: Ctrl-C, or SIGINT, saves a checkpoint mid-epoch)."""
    for name in ALL:
        out = os.path.join(OUT_ROOT, name)
        kept = _kept(name)
        if (kept and "history" in kept) or not os.path.exists(os.path.join(out, "checkpoint.npz")):
            continue  # finished (a recovered record, without its curve, is being trained again: kept), or not begun
        folder = os.path.join(KEPT, "unfinished", name)
        os.makedirs(folder, exist_ok=True)
        for file in ("checkpoint.npz", "metrics.jsonl"):
            if os.path.exists(os.path.join(out, file)):
                shutil.copyfile(os.path.join(out, file), os.path.join(folder, file + ".tmp"))
                os.replace(os.path.join(folder, file + ".tmp"), os.path.join(folder, file))
        print(f"{name}: kept its checkpoint ({len(_history(name))} epochs) in {folder}")


def status():
    for name in ALL:
        summary, done, planned = _state(name)
        if summary and "history" not in summary:  # a recovered record: how far its new run is
            print(f"{name:20s} recovered from a report ({done} epochs), trained again: {len(_history(name))}/{planned}")
            continue
        print(f"{name:20s} {'finished' if summary else 'running or stopped' if done else 'not started'}: "
              f"{done}/{planned} epochs")


def _number(task, summary):
    """The run's number in the paper's terms: test MSE / loss, or accuracy in %."""
    if task in ("smnist", "pmnist"):
        return 100 * summary["test_metric"]
    return summary["test_loss"]


def _cpu(cpu):
    """The CPU a run's summary names: [model name, nominal MHz, flags] -> 'AMD EPYC, 2596 MHz'."""
    name, mhz = cpu[0], cpu[1]
    return f"{name}, {mhz:.0f} MHz" if mhz else name


def _fmt(x):
    return "—" if x is None else (f"{x:.1f}" if x >= 1 else f"{x:.2e}" if x < 0.01 else f"{x:.4f}")


# The eight runs whose records were lost with their machine, recovered from the report of 6527811 (10c3d3a), and
# their test numbers as that report gave them, beside which the runs trained again are set
LOST = {"adding-tcn": "1.04e-04", "adding-gru": "3.51e-04", "adding-lstm": "7.18e-05", "copy-tcn": "1.13e-03",
        "copy-gru": "0.0151", "copy-lstm": "0.0204", "smnist-tcn": "90.1", "pmnist-tcn": "88.0"}


def _records_paragraph():
    """What paper_results.md says of the records: where they are, and of the eight once lost, what became of them."""
    text = "Each run's record is committed in `benchmarks/paper_runs/NAME.json`."
    recovered = [name for name in RUNS if (_state(name)[0] or {}).get("recovered")]
    if recovered:
        return text + (f" {len(recovered)} of them (those whose JSON has a `recovered` field) were recovered from the"
                       " report of commit 6527811: their runs had finished, but their records lived in the uncommitted"
                       " runs/ folder, which did not outlive its machine. Their numbers and rows are as that report"
                       " wrote them; their learning curves are lost until `run` trains them again.")
    again = []
    for name, before in LOST.items():
        summary = _state(name)[0]
        task = RUNS[name][0]
        now = _fmt(_number(task, summary)) if summary else "not finished"
        again.append(f"{name} {before} then, {now} now")
    return text + (
        " Eight of them once lived only in the uncommitted runs/ folder, which did not outlive its machine; they "
        "were recovered from the report of commit 6527811 without their learning curves, and trained again since "
        "with the same commands and seeds, but copy-tcn's (locuslab's script as it in fact trains: below): "
        + "; ".join(again) + (
        ". The recurrent runs gave the same numbers to the digits recorded; the TCN's (adding-tcn, "
        "smnist-tcn, pmnist-tcn) did not. The lost TCN runs ran on the convolution kernels of the commit each "
        "began at (not recorded), between "
        "paper.py's first commit (59e971c, 2026-12-06) and 6527811; in that span the kernels began to sum in other "
        "orders (ba0f3eb and 898c902: the forward and the input gradient in scratch rows where rows alias; 053b7dc: "
        "the weight gradient over other chunks of the batch), and other float32 roundings send training down "
        "another path. The recurrent kernels did not change. That this is the whole of the difference was not "
        "measured (it would take the old kernels' runs again)."))


def report():
    """paper_results.md and one figure of learning curves per task, from the runs finished so far."""
    rows, notes, figures = [], [], []
    for task, (label, paper, _what, _lower) in PAPER.items():
        ours = {}
        for name, (t, model, _) in RUNS.items():
            if t == task:
                summary, done, planned = _state(name)
                ours[model] = (_number(task, summary) if summary else None, summary, done, planned, name)
        cells = []
        for model in ("tcn", "gru", "lstm"):
            value, summary, done, planned, name = ours[model]
            state = "" if summary else f" ({done}/{planned} epochs so far)" if done else " (not run yet)"
            ours_text = summary["cell"] if summary and "cell" in summary else _fmt(value)  # recovered: as it was
            cells.append(f"{_fmt(paper[model])} / {ours_text}{state}")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
        drawn, missing = _figure(task, label, ours)
        if not drawn and missing and os.path.exists(os.path.join(FIGURES, f"paper_{task}.png")):
            # every finished run of the task recovered, none begun since: the figure drawn when their curves existed
            figures.append(f"![{label}: validation loss per epoch of the TCN, GRU and LSTM](figures/paper_{task}.png)")
            figures.append(f"This figure was drawn by the report of commit 6527811 from the learning curves of that "
                           f"day ({', '.join(missing)} finished), which were lost since; it is redrawn when a run "
                           f"of the task begins.")
            missing = []
        if drawn:
            figures.append(f"![{label}: validation loss per epoch of the TCN, GRU and LSTM](figures/paper_{task}.png)")
        if missing:
            figures.append(f"Not in this figure: {', '.join(missing)}, whose records were recovered without their "
                           f"learning curves (`run` trains them again).")
    lines = [
        "# The TCN paper's Table 1 on two cores",
        "",
        "Written by `python benchmarks/paper.py report` from the runs of `python benchmarks/paper.py run` (the"
        " settings, and where each comes from, are in that file's docstring). Each cell: **the paper's number /"
        " ours**. The paper: Bai, Kolter & Koltun (2018), *An Empirical Evaluation of Generic Convolutional and"
        " Recurrent Networks for Sequence Modeling*, arXiv:1803.01271, Table 1. Its MNIST columns are MNIST; ours are"
        " Fashion-MNIST (Debian's dataset-fashion-mnist; MNIST cannot be fetched on these machines), a harder data"
        " set: the numbers of those two rows compare orderings, not values.",
        "",
        _records_paragraph(),
        "",
        "| task | TCN | GRU | LSTM |",
        "|---|---|---|---|",
        *rows,
        "",
        "## The runs",
        "",
        "Training time is the wall time of the training loop's epochs (the loop's own clock, summed over resumed"
        " sessions), one thread per run on a 2-vCPU VM where two runs shared the cores, and where they were"
        " paused (SIGSTOP) while speed benchmarks and test suites ran: an upper bound on a run's cost, not a"
        " measure of pytcn's speed (benchmarks/speed_results.md has that).",
        "",
        "| run | parameters | test loss | test metric | epochs | training time | threads | CPU | command |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in RUNS:
        summary, done, planned = _state(name)
        if summary and "history" not in summary:  # recovered from a committed report: its row as it was
            lines.append(summary["runs_row"])
        elif summary:
            lines.append(f"| {name} | {summary['parameters']:,} | {summary['test_loss']:.4g} | "
                         f"{summary['metric_name']} {summary['test_metric']:.4g} | {summary['epochs']} | "
                         f"{summary['train_seconds'] / 60:.0f} min | {summary['threads']} | {_cpu(summary['cpu'])} | "
                         f"`{summary['command']}` |")
        else:
            lines.append(f"| {name} | | | | {done}/{planned} | | | | `{command(name, 1)}` |")
    lines += ["", *_targets(), *_differences(), "## Learning curves", "",
              "The validation loss after each epoch, the three models of a task in one figure (the runs so far).", "",
              *[f"{figure}\n" for figure in figures], *notes, FINDINGS]
    with open(RESULTS + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(RESULTS + ".tmp", RESULTS)
    print(f"wrote {RESULTS}")


def _best_number(task, summary):
    """A --keep-best run's number on the test set with its best validation epoch's weights, or None."""
    if "best_test_metric" not in summary:
        return None
    return _number(task, dict(summary, test_loss=summary["best_test_loss"], test_metric=summary["best_test_metric"]))


def _with_best(task, summary):
    """A run's test number, and a --keep-best run's number with its best validation epoch's weights beside."""
    best = _best_number(task, summary)
    return _fmt(_number(task, summary)) + ("" if best is None else
                                           f" (its best validation epoch's weights, epoch {summary['best_epoch']}: "
                                           f"{_fmt(best)})")


def _targets():
    """The issue's targets for the TCN (#27), each against every finished run of the TCN with the table's settings or
    another seed of them, and the probes' numbers beside."""
    def numbers(task, names):
        found = []
        for name in names:
            summary, _, _ = _state(name)
            if summary:
                found.append((name, _number(task, summary), _with_best(task, summary)))
        return found

    lines = ["## Against the targets", "",
             "The targets the TCN's runs were set (issue #27): at most the paper's loss on the adding problem and on "
             "copy memory, and above the GRU and the LSTM on permuted sequential Fashion-MNIST. Each finished run "
             "with the table's settings or another seed of them, and the probes that changed a setting beside.", ""]
    seeds = {"adding": ("adding-tcn", "adding-tcn-seed1", "adding-tcn-seed2", "adding-tcn-seed3"),
             "copy": ("copy-tcn", "copy-tcn-seed1")}
    for task, model_names in seeds.items():
        paper = PAPER[task][1]["tcn"]
        runs = numbers(task, model_names)
        others = numbers(task, [name for name in PROBES if name.startswith(f"{task}-tcn") and name not in model_names])
        met = bool(runs) and all(value <= paper for _, value, _ in runs)
        lines.append(f"- {PAPER[task][0]}, at most {_fmt(paper)}: "
                     + ", ".join(f"{name} {_fmt(value)}" for name, value, _ in runs)
                     + f": **{'met' if met else 'not met'}**"
                     + (" (other settings: " + ", ".join(f"{name} {text}" for name, _, text in others) + ")"
                        if others else "") + ".")
    pm = {model: numbers("pmnist", [f"pmnist-{model}"]) for model in ("tcn", "gru", "lstm")}
    if all(pm.values()):
        tcn, gru, lstm = (pm[model][0][1] for model in ("tcn", "gru", "lstm"))
        lines.append(f"- Permuted Fashion-MNIST, the TCN above the GRU and the LSTM: {_fmt(tcn)}% against "
                     f"{_fmt(gru)}% and {_fmt(lstm)}%: **{'met' if tcn > max(gru, lstm) else 'not met'}**.")
    return lines + [""]


def _differences():
    """The section that compares each finished run with the paper's number, from its own learning curve (what the
    epochs show, not a guess): where its best validation epoch was, how far the last epochs' validation numbers
    spread, and whether they were still improving at the end; and, per task with all three runs finished, whether
    the paper's ordering holds."""
    lines = ["## Where ours differ from the paper's, from the learning curves", "",
             "Per finished run: the test number beside the paper's; the validation number at its last epoch, its best "
             "and the epoch of the best; the range over the last five epochs (the spread that stopping one epoch "
             "earlier or later would give); and the change over the last two epochs (negative for a loss, positive "
             "for an accuracy: still improving). Computed by `report` from each run's learning curve (a run recovered "
             "from an earlier report, without its curve, keeps the row that report computed).", "",
             "| run | paper | ours (test) | validation: last | best (epoch) | last 5 epochs' range | last two epochs |",
             "|---|---|---|---|---|---|---|"]
    orderings = []
    for task, (_label, paper, _what, lower) in PAPER.items():
        finished = {}
        for name, (t, model, _) in RUNS.items():
            if t != task:
                continue
            summary, _done, _planned = _state(name)
            if not summary:
                continue
            finished[model] = _number(task, summary)
            if "history" not in summary:  # recovered from a committed report: its row as it was
                lines.append(summary["curve_row"])
                continue
            history = summary["history"]
            key = "val_loss" if lower else "val_metric"
            values = [h[key] * (1 if lower else 100) for h in history]
            best = min(values) if lower else max(values)
            best_epoch = history[values.index(best)]["epoch"]
            tail = values[-5:]
            change = values[-1] - values[-3] if len(values) >= 3 else float("nan")
            lines.append(f"| {name} | {_fmt(paper[model])} | {_fmt(finished[model])} | {_fmt(values[-1])} | "
                         f"{_fmt(best)} ({best_epoch}) | {_fmt(min(tail))} to {_fmt(max(tail))} | "
                         f"{change:+.2e} |")
        if len(finished) == 3:
            order = sorted(finished, key=lambda m: finished[m], reverse=not lower)
            paper_order = sorted(paper, key=lambda m: paper[m], reverse=not lower)
            sign = " < " if lower else " > "
            ours_text, paper_text = (sign.join(m.upper() for m in o) for o in (order, paper_order))
            orderings.append(f"- {PAPER[task][0]}: ours {ours_text}, the paper's {paper_text}: "
                             f"{'the same' if order == paper_order else 'different'} (best first).")
            if order != paper_order:
                orderings += _why_the_order_differs(task)
    lines.append("")
    if orderings:
        lines += ["The paper's ordering, where all three runs of a task are finished:", "", *orderings, ""]
    plateaus = _plateaus()
    if plateaus:
        lines += ["Runs that sat at the memoryless baseline (validation loss within 10% of it) for two epochs or more "
                  "from the start, and where they left it (the baseline: always answering 1 on the adding problem, "
                  "MSE 1/6; blanks and a uniform guess on copy memory):", "", *plateaus, ""]
    return lines + _probes()


def _tail_range(summary, lower):
    """(lowest, highest) validation number over a finished run's last five epochs: from its learning curve, or, for
    a record recovered without one, from the row its report computed then."""
    if "history" in summary:
        tail = [h["val_loss"] if lower else 100 * h["val_metric"] for h in summary["history"][-5:]]
        return min(tail), max(tail)
    low, high = summary["curve_row"].split("|")[6].split(" to ")
    return float(low), float(high)


def _at_baseline(summary, task):
    """(the baseline level, the validation losses, how many epochs from the start sat within 10% of the level) of a
    finished run of the adding problem or copy memory with a learning curve."""
    level = summary["baseline_loss"] if task == "copy" else 1 / 6
    values = [h["val_loss"] for h in summary["history"]]
    at = 0
    while at < len(values) and values[at] >= 0.9 * level:
        at += 1
    return level, values, at


def _baseline_epochs(name):
    """How many epochs run ``name`` (adding or copy) sat at its memoryless baseline from the start (validation loss
    within 10% of it); None if fewer than two."""
    summary, _, _ = _state(name)
    if "history" not in summary:
        line = summary.get("plateau") or ""
        return int(line.split("epochs 1-")[1].split(" ")[0]) if "epochs 1-" in line else None
    at = _at_baseline(summary, ALL[name][0])[2]
    return at if at >= 2 else None


def _why_the_order_differs(task):
    """Where the ordering of a task differs from the paper's, what the learning curves measure about it: a run that
    sat at the memoryless baseline for its first epochs (the paper's number for it being that baseline), and pairs of
    runs whose last five epochs' validation ranges overlap (their order at the last epoch within that spread)."""
    lines, names = [], {model: name for name, (t, model, _) in RUNS.items() if t == task}
    paper, plateau_in_tail = PAPER[task][1], set()
    for model, name in names.items():
        stuck = _baseline_epochs(name) if task in ("adding", "copy") else None
        if stuck and stuck > _state(name)[0]["epochs"] - 5:
            plateau_in_tail.add(model)  # its last five epochs include the plateau: their range says nothing here
        level = 1 / 6 if task == "adding" else None
        if stuck and level and abs(paper[model] - level) < 0.1 * level:
            lines.append(f"  - The paper's {model.upper()}, {_fmt(paper[model])}, is the memoryless baseline "
                         f"({_fmt(level)}). Ours sat there too for epochs 1-{stuck}, and left it at epoch {stuck + 1}: "
                         f"stopped {stuck} epochs in, it would have given the paper's number (one seed; whether "
                         f"leaving by epoch 10 is the rule is not measured).")
    ranges = {model: _tail_range(_state(name)[0], PAPER[task][3]) for model, name in names.items()}
    models = [model for model in names if model not in plateau_in_tail]
    for i, a in enumerate(models):
        for b in models[i + 1:]:
            (lo_a, hi_a), (lo_b, hi_b) = ranges[a], ranges[b]
            if lo_a <= hi_b and lo_b <= hi_a:
                lines.append(f"  - {a.upper()} and {b.upper()}: their last five epochs' validation numbers overlap "
                             f"({_fmt(lo_a)} to {_fmt(hi_a)}, and {_fmt(lo_b)} to {_fmt(hi_b)}), so which is ahead "
                             f"at the last epoch is within the swing from one epoch to the next.")
    return lines


def _plateaus():
    """One line per finished run of the adding problem or copy memory that began at its baseline for 2+ epochs."""
    lines = []
    for name, (task, _model, _) in RUNS.items():
        summary, _, _ = _state(name)
        if not summary or task not in ("adding", "copy"):
            continue
        if "history" not in summary:  # recovered from a committed report: its line as it was, if it had one
            lines += [summary["plateau"]] if summary.get("plateau") else []
            continue
        level, values, at = _at_baseline(summary, task)
        if at < 2:
            continue
        stayed = f"epochs 1-{at} (validation {min(values[:at]):.4g} to {max(values[:at]):.4g}, baseline {level:.4g})"
        lines.append(f"- {name}: at the baseline for all {at} epochs, {stayed}" if at == len(values) else
                     f"- {name}: at the baseline for {stayed}, then {values[at]:.3g} at epoch {at + 1} and "
                     f"{values[-1]:.3g} at the last")
    return lines


def _probes():
    """The section of PROBES: each beside the run it varies, its test number and its learning curve's best."""
    lines = ["## Seeds, epochs and settings: the TCN runs again", "",
             "The TCN's runs varied one thing at a time: other seeds (other data, weights, shuffles and dropout: "
             "seeds 1 to 3 for the adding problem, every one reported, and 1 for copy memory); "
             "the adding run trained on from its last checkpoint to 20 epochs; 20 epochs from the start on seeds 0 "
             "to 3 with `--keep-best`, which keeps the weights of the epoch with the lowest validation MSE and tests "
             "them beside the last epoch's (the validation split picks the epoch, never the test split; the "
             "repository's script has no validation split and prints the test loss after every epoch); the adding "
             "script's own defaults "
             "(k = 7, 30 channels, Adam at 4e-3, which it keeps for T = 400) at T = 600; the adding run, on seeds 0 "
             "and 1, from the repository's own initial draw of what pytcn's torch_default leaves out (the 1 x 1 "
             "downsample's and the head's weights from N(0, 0.01), which the repository's init_weights sets and "
             "nothing recomputes, and every bias from PyTorch's default uniform draw, where pytcn's start at zero; "
             "`pytcn train --initial-weights`, the file written by `locuslab_initial_weights`); and copy memory "
             "clipped at "
             "a norm of 1 with dropout 0.05, the settings of the table's first copy-memory run. That run was meant "
             "to be the repository's script, but the script's --clip 1 clips nothing (copymem_test.py at ec2ee10 "
             "calls clip_grad_norm_ after zero_grad and before backward, on zeroed gradients) and its --dropout "
             "defaults to 0; where the 0.05 came from was not recorded. The table's copy-tcn is now the script as "
             "it in fact trains: no clipping, no dropout "
             "(`python benchmarks/paper.py run " + " ".join(PROBES) + "`).", "",
             "| run | varies | paper | the run it varies (test) | this run (test) | validation: best (epoch) | "
             "epochs | training time | command |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, (task, model, _, _source) in PROBES.items():
        base, varies = VARIES[name]
        base_summary, _, _ = _state(base)
        summary, done, planned = _state(name)
        paper = PAPER[task][1][model]
        base_text = _fmt(_number(task, base_summary)) if base_summary else "—"
        if not summary:
            lines.append(f"| {name} | {varies} of {base} | {_fmt(paper)} | {base_text} | — ({done}/{planned} epochs "
                         f"so far) | | | | `{command(name, 1)}` |")
            continue
        lower = PAPER[task][3]
        key = "val_loss" if lower else "val_metric"
        values = [h[key] * (1 if lower else 100) for h in summary["history"]]
        best = min(values) if lower else max(values)
        best_epoch = summary["history"][values.index(best)]["epoch"]
        lines.append(f"| {name} | {varies} of {base} | {_fmt(paper)} | {base_text} | "
                     f"{_with_best(task, summary)} | {_fmt(best)} ({best_epoch}) | "
                     f"{summary['epochs']} | {summary['train_seconds'] / 60:.0f} min | `{summary['command']}` |")
    return lines + [""]


def _figure(task, label, ours):
    """figures/paper_<task>.png: the validation loss per epoch of the three models. Returns (whether it was drawn:
    not if no run has begun, the finished runs without a learning curve)."""
    from matplotlib.figure import Figure

    curves, missing = {}, []
    for model, (_, summary, _, _, name) in ours.items():
        history = summary["history"] if summary and "history" in summary else _history(name)
        if history:
            curves[model] = history
        elif summary:
            missing.append(name)
    if not curves:
        return False, missing
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for model, history in curves.items():
        ax.plot([h["epoch"] for h in history], [h["val_loss"] for h in history], "o-", label=model.upper())
    ax.set(xlabel="epoch", ylabel="validation loss (MSE)" if task == "adding" else "validation loss (cross-entropy, "
           "nats)", yscale="log", title=label.split(" (")[0] + (" (Fashion-MNIST)" if "MNIST" in label else ""))
    ax.legend()
    fig.tight_layout()
    os.makedirs(FIGURES, exist_ok=True)
    fig.savefig(os.path.join(FIGURES, f"paper_{task}.png"), dpi=100)
    return True, missing


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train runs (all by default), resuming any with a checkpoint")
    r.add_argument("names", nargs="*", metavar="NAME", help=f"of {', '.join(ALL)} (default: the table's runs)")
    r.add_argument("--threads", type=int, default=1, help="Numba threads (default: %(default)s; see above)")
    sub.add_parser("status", help="how far each run is")
    sub.add_parser("keep", help="copy the unfinished runs' checkpoints into paper_runs/unfinished/ (to commit)")
    sub.add_parser("report", help="write paper_results.md and the figures")
    args = p.parse_args(argv)
    if args.command == "run":
        unknown = [name for name in args.names if name not in ALL]
        if unknown:
            p.error(f"unknown run {unknown[0]!r}; the runs: {', '.join(ALL)}")
        for name in args.names or RUNS:
            run(name, args.threads)
    elif args.command == "status":
        status()
    elif args.command == "keep":
        keep()
    else:
        report()


if __name__ == "__main__":
    main()
