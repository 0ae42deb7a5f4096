"""The training loop, checkpoints and the command line: learning, exact resume, and every fault's message."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from pytcn import cli
from pytcn.runtime.archive import load_checkpoint, save_checkpoint
from pytcn.training import Trainer, TrainingError, default_config


def quiet(*args):
    pass


def small_config(task, **changes):
    config = default_config(task)
    sizes = dict(train_size=256, val_size=64, test_size=64, epochs=2, nb_filters=8, kernel_size=3, dilations=[1, 2, 4])
    config.update(sizes)
    config.update(changes)
    return config


def same_params(a, b):
    return all(np.array_equal(a.model.params[k], b.model.params[k]) for k in a.model.params)


# ------------------------------------------------------------------------------------------------------------------
# learning


def test_adding_run_ends_well_below_the_baseline(tmp_path):
    config = small_config("adding", length=20, train_size=2000, epochs=4, nb_filters=16, lr=5e-3)
    summary = Trainer(config, tmp_path, progress=False, log=quiet).run()
    assert summary["test_metric"] < summary["baseline"] / 4, summary


def test_copy_memory_run_ends_below_the_baseline_loss(tmp_path):
    # T = 5: sequences of 25 steps; kernel 3 and dilations 1..8 reach 31 steps back
    config = small_config("copy-memory", length=5, train_size=2000, epochs=4, nb_filters=16, lr=1e-2,
                          dilations=[1, 2, 4, 8])
    summary = Trainer(config, tmp_path, progress=False, log=quiet).run()
    assert summary["test_loss"] < 0.8 * summary["baseline_loss"], summary
    assert summary["test_metric"] > 0.2, summary  # recall accuracy, chance is 1/8


def test_run_writes_checkpoint_metrics_and_curve(tmp_path):
    config = small_config("adding", length=12)
    Trainer(config, tmp_path, progress=False, log=quiet).run()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta, params, adam_m, adam_v = load_checkpoint(tmp_path / "checkpoint.npz")
    assert meta["epoch"] == 2 and meta["config"] == config
    assert set(params) == set(adam_m) == set(adam_v) and "linear.weight" in params
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]


# ------------------------------------------------------------------------------------------------------------------
# exact resume


@pytest.mark.parametrize("task", ["adding", "copy-memory"])
def test_run_stopped_after_an_epoch_and_resumed_ends_with_the_same_parameters(tmp_path, task):
    config = small_config(task, length=10, epochs=3, dropout_rate=0.2)
    whole = Trainer(config, tmp_path / "whole", progress=False, log=quiet)
    whole.run()
    Trainer(dict(config, epochs=1), tmp_path / "split", progress=False, log=quiet).run()
    resumed = Trainer.resume(tmp_path / "split", progress=False, log=quiet, epochs=3)
    assert resumed.epoch == 1
    resumed.run()
    assert same_params(whole, resumed)
    untimed = [{k: v for k, v in h.items() if k != "elapsed_s"} for h in resumed.history]
    assert untimed == [{k: v for k, v in h.items() if k != "elapsed_s"} for h in whole.history]


def test_ctrl_c_writes_a_checkpoint_mid_epoch_and_resume_is_exact(tmp_path, monkeypatch):
    config = small_config("adding", length=10, epochs=2, dropout_rate=0.2)
    whole = Trainer(config, tmp_path / "whole", progress=False, log=quiet)
    whole.run()

    interrupted = Trainer(config, tmp_path / "split", progress=False, log=quiet)
    real_step = interrupted.step
    calls = []

    def step_then_ctrl_c(x, y):
        calls.append(1)
        if len(calls) == 11:  # Ctrl-C arrives during the 11th step of the first epoch (of 8)
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(x, y)

    monkeypatch.setattr(interrupted, "step", step_then_ctrl_c)
    summary = interrupted.run()
    assert summary["interrupted"]
    meta, *_ = load_checkpoint(tmp_path / "split" / "checkpoint.npz")
    assert (meta["epoch"], meta["batch"], meta["step"]) == (1, 3, 11)  # the step in flight was finished, not cut

    resumed = Trainer.resume(tmp_path / "split", progress=False, log=quiet)
    resumed.run()
    assert same_params(whole, resumed)


# ------------------------------------------------------------------------------------------------------------------
# faults


def test_nan_loss_stops_the_run_naming_the_step_and_keeps_the_last_checkpoint(tmp_path):
    config = small_config("adding", length=10, epochs=3)
    trainer = Trainer(dict(config, epochs=1), tmp_path, progress=False, log=quiet)
    trainer.run()
    before = (tmp_path / "checkpoint.npz").read_bytes()
    resumed = Trainer.resume(tmp_path, progress=False, log=quiet, epochs=3)
    x, _ = resumed.task.splits["train"]
    x[5, 3, 0] = np.nan  # one poisoned sequence, met at some step of epoch 2
    with pytest.raises(TrainingError, match=r"loss is nan at step \d+ \(epoch 2, batch \d+\).*"
                                            r"written after epoch 1\) is left as it was"):
        resumed.run()
    assert (tmp_path / "checkpoint.npz").read_bytes() == before


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, {"w": np.ones(3)}, {"config": {"a": 1}})
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"w": np.zeros(3)}, {"config": {"a": 2}})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["checkpoint.npz"]


def _good_checkpoint(tmp_path):
    Trainer(small_config("adding", length=10, epochs=1), tmp_path, progress=False, log=quiet).run()
    return tmp_path / "checkpoint.npz"


def _truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _garbage(path):
    path.write_bytes(b"this is not a checkpoint\n" * 10)


def _foreign(path):
    np.savez(path, weights=np.ones(3))


def _pickled(path):
    np.save(path.with_suffix(".npy"), np.array([{"a": 1}], dtype=object), allow_pickle=True)
    os.replace(path.with_suffix(".npy"), path)


def _pickled_entry(path):
    meta, params, m, v = load_checkpoint(path)
    params["linear.bias"] = np.array([{"a": 1}], dtype=object)
    np.savez(path, format=np.array("pytcn-checkpoint-1"), meta=np.array(__import__("json").dumps(meta)),
             **{f"param/{k}": a for k, a in params.items()})


def _text(path):
    path.write_text("epoch,loss\n1,0.5\n")


def _other_architecture(path):
    meta, params, m, v = load_checkpoint(path)
    params["tcn.network.0.conv1.weight"] = params["tcn.network.0.conv1.weight"][:, :, :2].copy()
    save_checkpoint(path, params, meta, m, v)


@pytest.mark.parametrize("damage, message", [
    (_truncated, "not an .npz archive; truncated or another kind of file"),
    (_garbage, "not an .npz archive; truncated or another kind of file"),
    (_text, "not an .npz archive; truncated or another kind of file"),
    (_foreign, "not a pytcn checkpoint"),
    (_pickled, "not an .npz archive; truncated or another kind of file"),
    (_pickled_entry, "holds pickled Python objects, which pytcn never loads"),
    (_other_architecture, "does not fit the architecture"),
])
def test_bad_checkpoint_gets_a_one_line_error_from_every_command(tmp_path, capsys, damage, message):
    path = _good_checkpoint(tmp_path)
    damage(path)
    for argv in (["info", str(path)], ["evaluate", str(path)],
                 ["train", "adding", "--out", str(tmp_path), "--resume", "--no-progress"]):
        assert cli.main(argv) == cli.EXIT_ERROR
        err = capsys.readouterr().err
        assert err.startswith("pytcn: error: ") and message in err and err.count("\n") == 1, err
        assert "allow_pickle" not in err


def test_missing_checkpoint_is_a_one_line_error(tmp_path, capsys):
    assert cli.main(["info", str(tmp_path / "nothing.npz")]) == cli.EXIT_ERROR
    assert "no such checkpoint" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------------------
# the command line


def test_cli_trains_then_reports_info_and_evaluates(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "adding", "--length", "12", "--train-size", "128", "--val-size", "32", "--test-size", "32",
            "--epochs", "1", "--nb-filters", "6", "--kernel-size", "3", "--dilations", "1,2", "--out", str(out),
            "--no-progress"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "test MSE" in printed and "baseline 0.1667" in printed
    assert cli.main(argv) == cli.EXIT_ERROR  # the folder holds a run: no silent overwrite
    assert "--resume" in capsys.readouterr().err
    assert cli.main(["info", str(out / "checkpoint.npz")]) == 0
    info = capsys.readouterr().out
    assert "receptive    13 steps" in info and "dilations=[1, 2]" in info
    assert cli.main(["evaluate", str(out / "checkpoint.npz")]) == 0
    test_line = [line for line in printed.splitlines() if "test MSE" in line][0]
    assert capsys.readouterr().out.split(";")[0].split(", test loss")[0] == test_line.split(", test loss")[0]


def test_cli_rejects_bad_options_in_one_line(tmp_path, capsys):
    assert cli.main(["train", "adding", "--kernel-size", "0", "--out", str(tmp_path)]) == cli.EXIT_ERROR
    assert "pytcn: error: --kernel-size must be >= 1, got 0\n" == capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "adding", "--dilations", "1,x"])
    assert "dilations must be comma-separated integers" in capsys.readouterr().err


def test_python_dash_m_pytcn_shows_the_commands():
    result = subprocess.run([sys.executable, "-m", "pytcn", "train", "mnist", "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0
    assert "--nb-filters" in result.stdout and "--dataset" in result.stdout and "--permute" in result.stdout


# ------------------------------------------------------------------------------------------------------------------
# sequential MNIST, on small IDX files written here


def learnable_digits(n_train, n_test, seed=0):
    """28x28 uint8 images whose class c lights pixels 2c and 2c + 1 of the last row (plus noise everywhere)."""
    from tests.test_mnist_data import fake_dataset

    rng = np.random.default_rng(seed)
    x_train, _, x_test, _ = fake_dataset(n_train, n_test, seed)
    arrays = []
    for x in (x_train, x_test):
        x = (x // 4).astype(np.uint8)
        y = rng.integers(0, 10, len(x)).astype(np.uint8)
        x[np.arange(len(x)), 27, 2 * y] = 255
        x[np.arange(len(x)), 27, 2 * y + 1] = 255
        arrays += [x, y]
    return arrays


def test_mnist_run_learns_small_idx_files_and_cli_evaluates_them(tmp_path, capsys):
    from tests.test_mnist_data import write_dataset

    data = write_dataset(tmp_path / "digits", learnable_digits(400, 100))
    out = tmp_path / "run"
    argv = ["train", "mnist", "--data-dir", str(data), "--train-size", "350", "--val-size", "50", "--test-size",
            "100", "--epochs", "3", "--nb-filters", "8", "--kernel-size", "3", "--dilations", "1,2,4,8",
            "--lr", "1e-2", "--out", str(out), "--no-progress"]
    assert cli.main(argv) == 0
    summary = capsys.readouterr().out.splitlines()[-1]
    accuracy = float(summary.split("test accuracy ")[1].split()[0])
    assert accuracy > 0.5, summary  # chance is about 0.1
    assert cli.main(["evaluate", str(out / "checkpoint.npz")]) == 0
    assert f"test accuracy {accuracy:.4g}" in capsys.readouterr().out


def test_mnist_without_files_says_where_it_looked_and_how_to_get_them(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["train", "mnist", "--data-dir", str(empty), "--out", str(tmp_path / "run")]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("pytcn: error: ") and str(empty) in err and "pytcn download mnist" in err
    assert not (tmp_path / "run").exists()
