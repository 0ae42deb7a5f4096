"""`pytcn train` and its siblings as a user meets them: every option checked in one place and every mistake one line
naming the option, --resume keeping the run's settings, the recorded curve true after a resume, and the Python API's
corners (saving and loading a model, Adam's state, gradcheck's refusals)."""
import json
import os
import re
import signal
import stat
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pytcn
from pytcn import cli
from pytcn.runtime.archive import load_checkpoint
from pytcn.training import Trainer, TrainingError, build_model, load_run
from pytcn.training.config import ConfigError, default_config, make_config, option_name

from .helpers import one_numba_thread, run_cli  # noqa: F401 (fixture: tiny runs, many calls)

SMALL = ["--length", "12", "--train-size", "64", "--val-size", "16", "--test-size", "16", "--nb-filters", "4",
         "--kernel-size", "2", "--dilations", "1,2", "--batch-size", "16", "--no-progress"]


def untimed(history):
    return [{k: v for k, v in h.items() if k != "elapsed_s"} for h in history]


def ctrl_c_at_step(monkeypatch, k):
    """Sends SIGINT during the k-th training step (counted from 1) of any Trainer, as a user's Ctrl-C would."""
    real_step = Trainer.step
    calls = []

    def step(self, x, y):
        calls.append(1)
        if len(calls) == k:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, x, y)

    monkeypatch.setattr(Trainer, "step", step)


# ------------------------------------------------------------------------------------------------------------------
# --resume keeps the run's settings, and its record


def test_resume_without_epochs_keeps_the_run_s_total(tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "run")
    with monkeypatch.context() as m:
        ctrl_c_at_step(m, 6)  # 4 steps an epoch: stopped in epoch 2
        assert run_cli(["train", "adding", *SMALL, "--epochs", "3", "--out", out], capsys)[0] == 130
    status, printed, _ = run_cli(["train", "adding", "--out", out, "--resume", "--no-progress"], capsys)
    assert status == 0, printed
    meta, *_ = load_checkpoint(os.path.join(out, "checkpoint.npz"))
    assert meta["epoch"] == 3 and meta["config"]["epochs"] == 3
    assert "3 epochs, 12 steps" in printed


def test_resume_refuses_options_that_differ_from_the_run_s_naming_each(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert run_cli(["train", "adding", *SMALL, "--epochs", "1", "--out", out], capsys)[0] == 0
    status, _, err = run_cli(["train", "adding", "--out", out, "--resume", "--nb-filters", "99", "--lr", "5",
                              "--no-progress"], capsys)
    assert status == cli.EXIT_ERROR and err.count("\n") == 1, err
    assert "--nb-filters 99 (the run's: 4)" in err and "--lr 5.0 (the run's: 0.002)" in err
    # the run's own values, the new total of epochs and another backend are accepted
    status, printed, err = run_cli(["train", "adding", "--out", out, "--resume", "--nb-filters", "4", "--epochs", "2",
                                    "--backend", "numpy", "--no-progress"], capsys)
    assert status == 0, err
    assert load_checkpoint(os.path.join(out, "checkpoint.npz"))[0]["epoch"] == 2
    status, _, err = run_cli(["train", "adding", "--out", out, "--resume", "--epochs", "1", "--no-progress"], capsys)
    assert status == cli.EXIT_ERROR and "--epochs must be at least the 2 epochs the run has finished" in err


@pytest.mark.parametrize("ctrl_c_step", [3, 4], ids=["mid_epoch", "last_batch_of_the_epoch"])
def test_the_curve_after_a_resume_equals_the_uninterrupted_one(tmp_path, monkeypatch, ctrl_c_step):
    config = make_config("adding", length=10, train_size=64, val_size=16, test_size=16, batch_size=16, epochs=2,
                         nb_filters=4, kernel_size=2, dilations=[1, 2], dropout_rate=0.2)
    whole = Trainer(config, tmp_path / "whole", progress=False, log=lambda *a: None)
    whole.run()
    with monkeypatch.context() as m:
        ctrl_c_at_step(m, ctrl_c_step)  # 4 batches an epoch: in its middle, or on its last batch
        assert Trainer(config, tmp_path / "split", progress=False, log=lambda *a: None).run()["interrupted"]
    resumed = Trainer.resume(tmp_path / "split", progress=False, log=lambda *a: None)
    resumed.run()
    assert untimed(resumed.history) == untimed(whole.history)
    recorded = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert untimed(recorded) == untimed(whole.history)


# ------------------------------------------------------------------------------------------------------------------
# one line for each mistake, naming the option


@pytest.mark.parametrize("argv, message", [
    (["--train-size", "0"], "--train-size must be >= 1, got 0"),
    (["--val-size", "0"], "--val-size must be >= 1, got 0"),
    (["--test-size", "0"], "--test-size must be >= 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    (["--batch-size", "-1"], "--batch-size must be >= 1, got -1"),
    (["--epochs", "0"], "--epochs must be >= 1, got 0"),
    (["--seed", "-1"], "--seed must be >= 0, got -1"),
    (["--lr", "nan"], "--lr must be a finite number, got nan"),
    (["--clip", "-1"], "--clip must be in (0.0, inf), got -1.0"),
    (["--dropout-rate", "1"], "--dropout-rate must be in [0.0, 1.0), got 1.0"),
    (["--length", "1"], "--length of the adding problem must be >= 2"),
    (["--kernel-initializer", "zeros"], "--kernel-initializer must be one of 'he_normal'"),
    (["--threads", "0"], "--threads must be in [1, "),
    (["--batch-size", "x"], "argument --batch-size: invalid int value: 'x'"),
])
def test_a_bad_option_is_one_line_naming_it(tmp_path, capsys, argv, message):
    status, _, err = run_cli(["train", "adding", *argv, "--out", str(tmp_path / "run"), "--no-progress"], capsys)
    assert status == cli.EXIT_ERROR
    assert err.startswith("pytcn: error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_out_naming_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    status, _, err = run_cli(["train", "adding", *SMALL, "--out", str(tmp_path / "file")], capsys)
    assert (status, err) == (cli.EXIT_ERROR, f"pytcn: error: --out {tmp_path / 'file'}: is a file; the run needs a "
                                             f"folder\n")


def test_a_nan_loss_before_any_checkpoint_says_that_none_was_written(tmp_path):
    trainer = Trainer(make_config("adding", length=10, train_size=32, val_size=8, test_size=8, nb_filters=3,
                                  dilations=[1]), tmp_path, progress=False, log=lambda *a: None)
    trainer.task.splits["train"][0][:] = np.nan
    with pytest.raises(TrainingError, match="nothing was saved after it: no checkpoint had been written yet"):
        trainer.run()
    assert not (tmp_path / "checkpoint.npz").exists()


def test_evaluate_and_info_take_a_run_s_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["train", "adding", *SMALL, "--epochs", "1", "--out", str(out)], capsys)[0] == 0
    assert run_cli(["evaluate", str(out)], capsys)[0] == 0
    status, info, _ = run_cli(["info", str(out)], capsys)
    assert status == 0
    # SMALL: 4 filters, K 2, dilations 1, 2; block 0 (2 -> 4): 4*2*2+4 + 4*4*2+4 + 4*2+4 = 20 + 36 + 12 = 68;
    # block 1: two 4 -> 4 convolutions of 36
    assert re.search(r"^0 +0 +1 +\(N, T, 2\) +\(N, T, 4\) +68 +3$", info, re.M), info
    assert re.search(r"^1 +0 +2 +\(N, T, 4\) +\(N, T, 4\) +72 +7$", info, re.M), info
    assert "total: 145 parameters, receptive field 7 steps" in info  # and the head: 4 + 1
    status, _, err = run_cli(["evaluate", str(tmp_path)], capsys)
    assert status == cli.EXIT_ERROR and "is a folder without a checkpoint.npz" in err


def test_a_bug_in_pytcn_shows_its_traceback_and_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Trainer, "run", lambda self: [][1])  # an IndexError: no user's mistake
    status, _, err = run_cli(["train", "adding", *SMALL, "--out", str(tmp_path / "run")], capsys)
    assert status == cli.EXIT_BUG
    assert "Traceback" in err and "IndexError" in err and "a bug in pytcn, not a mistake in your input" in err


def test_resume_names_clip_0_as_typed(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["train", "adding", *SMALL, "--epochs", "1", "--clip", "1", "--out", out], capsys)[0] == 0
    status, _, err = run_cli(["train", "adding", *SMALL, "--epochs", "2", "--clip", "0", "--resume", "--out", out],
                             capsys)
    assert status == cli.EXIT_ERROR and "--clip 0 (the run's: 1.0)" in err, err


def test_a_full_disk_is_one_line_naming_the_file_and_the_last_checkpoint_stays_whole(tmp_path, capsys, monkeypatch):
    import errno

    from pytcn.runtime import files

    out = tmp_path / "run"
    assert run_cli(["train", "adding", *SMALL, "--epochs", "1", "--out", out], capsys)[0] == 0
    before = (out / "checkpoint.npz").read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    status, _, err = run_cli(["train", "adding", *SMALL, "--epochs", "2", "--resume", "--out", out], capsys)
    assert status == cli.EXIT_ERROR and err.count("\n") == 1, err
    assert err.startswith("pytcn: error: ") and "No space left on device" in err and str(out) in err, err
    assert (out / "checkpoint.npz").read_bytes() == before
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")], os.listdir(out)


def test_a_disk_without_room_for_the_temporary_file_names_the_file_meant(tmp_path, capsys, monkeypatch):
    import errno

    from pytcn.runtime import files

    real_open = files.os.open

    def full(path, *args):  # no free inode: creating the temporary file fails, naming it
        if os.path.basename(path).startswith(".checkpoint.npz."):
            raise OSError(errno.ENOSPC, "No space left on device", path)
        return real_open(path, *args)

    monkeypatch.setattr(files.os, "open", full)
    out = tmp_path / "run"
    status, _, err = run_cli(["train", "adding", *SMALL, "--epochs", "1", "--out", out], capsys)
    assert status == cli.EXIT_ERROR and err == f"pytcn: error: {out / 'checkpoint.npz'}: No space left on device\n", err


def test_a_closed_pipe_ends_the_command_quietly(tmp_path, capsys, monkeypatch):
    def closed(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setitem(cli.COMMANDS, "info", closed)
    status, _, err = run_cli(["info", tmp_path], capsys)
    assert status == 141 and err == ""


def test_draw_refuses_a_recurrent_run_rather_than_drawing_its_leftover_tcn_fields(tmp_path, capsys):
    out = tmp_path / "lstm"
    assert run_cli(["train", "adding", "--length", "12", "--train-size", "32", "--val-size", "16", "--test-size", "16",
                    "--batch-size", "16", "--epochs", "1", "--model", "lstm", "--hidden-size", "4", "--no-progress",
                    "--out", out], capsys)[0] == 0
    status, _, err = run_cli(["draw", out / "checkpoint.npz", "--out", tmp_path / "d.png"], capsys)
    assert status == cli.EXIT_ERROR and "holds a LSTM, which has no dilations to draw" in err, err
    assert err.count("\n") == 1 and not (tmp_path / "d.png").exists()


def test_a_folder_where_a_run_writes_a_file_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "run" / "metrics.jsonl").mkdir(parents=True)
    status, _, err = run_cli(["train", "adding", *SMALL, "--out", tmp_path / "run"], capsys)
    assert status == cli.EXIT_ERROR and err.count("\n") == 1, err
    assert "holds a folder metrics.jsonl, where the run writes its file metrics.jsonl" in err
    assert os.listdir(tmp_path / "run") == ["metrics.jsonl"]


def test_evaluate_refuses_data_dir_for_a_task_that_reads_no_files(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["train", "adding", *SMALL, "--epochs", "1", "--out", out], capsys)[0] == 0
    status, _, err = run_cli(["evaluate", out, "--data-dir", tmp_path / "nowhere"], capsys)
    assert status == cli.EXIT_ERROR and "--data-dir is where MNIST's files are" in err and "'adding'" in err, err


def test_a_relative_data_dir_is_recorded_whole():
    args = cli.build_parser().parse_args(["train", "mnist", "--data-dir", "some/fm", "--out", "run"])
    assert cli.given_fields(args)["data_dir"] == os.path.abspath("some/fm")


def test_a_missing_dataset_names_the_option(tmp_path, capsys):
    status, _, err = run_cli(["train", "mnist", "--dataset", "fashion-mnist", "--data-dir", tmp_path / "none",
                              "--out", tmp_path / "run", "--no-progress"], capsys)
    assert status == cli.EXIT_ERROR and err.startswith(f"pytcn: error: --data-dir '{tmp_path / 'none'}' does not "
                                                       f"hold fashion-mnist"), err


def test_a_missing_dataset_is_one_line_saying_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PYTCN_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for where in (["--data-dir", tmp_path / "none"], []):  # the folder given, or every place pytcn looks
        status, _, err = run_cli(["train", "mnist", *where, "--out", tmp_path / "run", "--no-progress"], capsys)
        assert status == cli.EXIT_ERROR and err.count("\n") == 1, err
        assert err.startswith("pytcn: error: ") and "pytcn download mnist" in err and "--data-dir" in err, err


def test_resume_refuses_fewer_epochs_than_the_one_in_progress(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        ctrl_c_at_step(m, 6)  # 4 batches an epoch: the checkpoint is in epoch 2, after 2 of its batches
        run_cli(["train", "adding", *SMALL, "--epochs", "3", "--out", out], capsys)
    meta = load_checkpoint(out / "checkpoint.npz")[0]
    assert (meta["epoch"], meta["batch"]) == (1, 2)
    status, _, err = run_cli(["train", "adding", *SMALL, "--epochs", "1", "--resume", "--out", out], capsys)
    assert status == cli.EXIT_ERROR and "--epochs must be at least the 1 epochs the run has finished and the one it " \
                                       "is 2 batches into (2), got 1" in err, err
    assert run_cli(["train", "adding", *SMALL, "--epochs", "2", "--resume", "--out", out], capsys)[0] == 0


@pytest.mark.parametrize("field, value, fragment", [
    ("epoch_sums", {"loss": "x", "metric": 0.0, "batches": 0, "cases": 0, "case_loss": 0.0}, "epoch_sums must hold"),
    ("batch", 1000000, "batch is 1000000, but an epoch has 4 batches"),
    ("step", 10 ** 30, "step must be below 2**63"),
    ("history", [], "history holds 0 epochs, but epoch says 1 are done"),
])
def test_a_damaged_count_or_sum_of_a_checkpoint_is_one_line(tmp_path, capsys, field, value, fragment):
    from pytcn.runtime.archive import save_checkpoint

    out = tmp_path / "run"
    assert run_cli(["train", "adding", *SMALL, "--epochs", "1", "--out", out], capsys)[0] == 0
    meta, params, m, v = load_checkpoint(out / "checkpoint.npz")
    save_checkpoint(out / "checkpoint.npz", params, dict(meta, **{field: value}), m, v)
    status, _, err = run_cli(["train", "adding", *SMALL, "--epochs", "2", "--resume", "--out", out], capsys)
    assert status == cli.EXIT_ERROR and err.count("\n") == 1 and fragment in err, err


@pytest.mark.parametrize("field, value, fragment", [
    ("step", 10 ** 30, "its run record is damaged: step must be below 2**63"),
    ("epoch_sums", [1, 2], "its run record is damaged: epoch_sums must be a mapping"),
])
def test_a_damaged_step_or_epoch_sums_is_named_as_the_run_record_s(tmp_path, capsys, field, value, fragment):
    # not "does not fit the architecture" (a count is no part of it), nor a Python error's words; evaluate and info
    # read the same record, and had printed the step as it stood
    from pytcn.runtime.archive import save_checkpoint

    out = tmp_path / "run"
    assert run_cli(["train", "adding", *SMALL, "--epochs", "1", "--out", out], capsys)[0] == 0
    meta, params, m, v = load_checkpoint(out / "checkpoint.npz")
    save_checkpoint(out / "checkpoint.npz", params, dict(meta, **{field: value}), m, v)
    for argv in (["train", "adding", *SMALL, "--epochs", "2", "--resume", "--out", out], ["evaluate", out]):
        status, _, err = run_cli(argv, capsys)
        assert status == cli.EXIT_ERROR and err.count("\n") == 1 and fragment in err, (argv[0], err)


# ------------------------------------------------------------------------------------------------------------------
# --initial-weights: a run that starts from given weights instead of drawing them


def trained_weights(tmp_path, capsys):
    """The parameters of a short run of SMALL's architecture (not its initial draw), by state_dict name."""
    out = tmp_path / "source"
    assert run_cli(["train", "adding", *SMALL, "--epochs", "1", "--seed", "3", "--out", out], capsys)[0] == 0
    return load_checkpoint(out / "checkpoint.npz")[1]


@pytest.mark.parametrize("kind", ["numpy.savez of a state_dict", "a saved model", "a run's checkpoint",
                                  "a run's folder"])
def test_a_run_starts_from_the_initial_weights_it_is_given(tmp_path, capsys, kind):
    weights = trained_weights(tmp_path, capsys)
    path = tmp_path / "weights.npz"
    if kind == "a saved model":
        model = pytcn.load_model(tmp_path / "source" / "checkpoint.npz")
        model.save(path)
    elif kind == "a run's checkpoint":
        path = tmp_path / "source" / "checkpoint.npz"
    elif kind == "a run's folder":
        path = tmp_path / "source"
    else:
        np.savez(path, **weights)
    # with a learning rate of 0 the run ends with the weights it started from: exactly the file's
    out = tmp_path / "run"
    status, printed, err = run_cli(["train", "adding", *SMALL, "--epochs", "1", "--lr", "0", "--initial-weights", path,
                                    "--out", out], capsys)
    assert status == 0, err
    meta, params, _, _ = load_checkpoint(out / "checkpoint.npz")
    assert meta["config"]["initial_weights"] == str(path)
    for name, value in weights.items():
        np.testing.assert_array_equal(params[name], value, err_msg=name)
    # and `pytcn info` says where it started
    status, printed, _ = run_cli(["info", out], capsys)
    assert status == 0 and f"started from {path} (--initial-weights)" in printed, printed


def test_without_initial_weights_a_run_starts_from_its_seed_s_draw(tmp_path, capsys):
    out = tmp_path / "drawn"
    status, _, err = run_cli(["train", "adding", *SMALL, "--epochs", "1", "--lr", "0", "--seed", "5", "--out", out],
                             capsys)
    assert status == 0, err
    meta, params, _, _ = load_checkpoint(out / "checkpoint.npz")
    drawn = build_model(meta["config"]).state_dict()
    for name, value in drawn.items():
        np.testing.assert_array_equal(params[name], value, err_msg=name)
    status, printed, _ = run_cli(["info", out], capsys)
    assert status == 0 and "started from weights drawn from seed 5" in printed, printed


def test_a_relative_initial_weights_path_is_recorded_whole_and_resume_accepts_it_spelled_either_way(
        tmp_path, capsys, monkeypatch):
    np.savez(tmp_path / "weights.npz", **trained_weights(tmp_path, capsys))
    monkeypatch.chdir(tmp_path)
    with monkeypatch.context() as m:
        ctrl_c_at_step(m, 2)
        assert run_cli(["train", "adding", *SMALL, "--epochs", "1", "--initial-weights", "weights.npz",
                        "--out", "run"], capsys)[0] == 130
    assert load_run(tmp_path / "run" / "checkpoint.npz")[0]["config"]["initial_weights"] == \
        str(tmp_path / "weights.npz")
    for spelling in ("weights.npz", tmp_path / "weights.npz"):  # the same file: not a change of setting
        status, _, err = run_cli(["train", "adding", "--out", "run", "--resume", "--initial-weights", spelling,
                                  "--no-progress", "--epochs", "1"], capsys)
        assert status == 0, err
    np.savez(tmp_path / "other.npz", **np.load(tmp_path / "weights.npz"))
    status, _, err = run_cli(["train", "adding", "--out", "run", "--resume", "--initial-weights", "other.npz",
                              "--no-progress"], capsys)
    assert status == cli.EXIT_ERROR and "--initial-weights" in err and err.count("\n") == 1, err


def test_a_run_from_initial_weights_resumes_from_its_checkpoint_without_the_file(tmp_path, capsys, monkeypatch):
    path = tmp_path / "weights.npz"
    np.savez(path, **trained_weights(tmp_path, capsys))
    argv = ["train", "adding", *SMALL, "--epochs", "2", "--initial-weights", path]
    assert run_cli([*argv, "--out", tmp_path / "whole"], capsys)[0] == 0
    with monkeypatch.context() as m:
        ctrl_c_at_step(m, 6)  # 4 steps an epoch: stopped in epoch 2
        assert run_cli([*argv, "--out", tmp_path / "cut"], capsys)[0] == 130
    path.unlink()  # the weights it started from are in its checkpoint
    status, _, err = run_cli(["train", "adding", "--out", tmp_path / "cut", "--resume", "--no-progress"], capsys)
    assert status == 0, err
    whole, cut = (load_checkpoint(tmp_path / run / "checkpoint.npz")[1] for run in ("whole", "cut"))
    for name in whole:
        np.testing.assert_array_equal(cut[name], whole[name], err_msg=name)
    # evaluate and info read the run's checkpoint, not the file it started from (gone now)
    for command in ("evaluate", "info"):
        status, printed, err = run_cli([command, tmp_path / "cut"], capsys)
        assert status == 0, (command, err)


def test_initial_weights_that_do_not_fit_are_one_line_naming_the_option_and_the_file(tmp_path, capsys):
    weights = trained_weights(tmp_path, capsys)
    files = {"missing.npz": None, "text.npz": "not an archive", "array.npy": np.zeros(3)}
    for name, content in files.items():
        if isinstance(content, str):
            (tmp_path / name).write_text(content)
        elif content is not None:
            np.save(tmp_path / name, content)
    np.savez(tmp_path / "short.npz", **{k: v for k, v in list(weights.items())[1:]})
    np.savez(tmp_path / "float64.npz", **{k: v.astype(np.float64) for k, v in weights.items()})
    np.savez(tmp_path / "pickled.npz", **weights, extra=np.array([{}], dtype=object))
    first = next(iter(weights))
    np.savez(tmp_path / "nan.npz", **dict(weights, **{first: np.full_like(weights[first], np.nan)}))
    np.savez_compressed(tmp_path / "compressed.npz", **weights)
    data = bytearray((tmp_path / "compressed.npz").read_bytes())
    data[len(data) // 3:len(data) // 3 + 64] = bytes(64)  # zeros inside the first compressed entries
    (tmp_path / "damaged.npz").write_bytes(bytes(data))
    (tmp_path / "folder.npz").mkdir()
    import zipfile

    with zipfile.ZipFile(tmp_path / "zip.npz", "w") as z:  # np.load hands back a member that is not .npy as bytes
        z.writestr("hello.txt", "hello")
    cases = {"missing.npz": "no such file", "text.npz": "is not an .npz archive", "array.npy": "is not an .npz archive",
             "folder.npz": "is a folder without a checkpoint.npz",
             "nan.npz": f"{first!r} holds values that are not finite",
             "damaged.npz": "is not a readable .npz of arrays", "zip.npz": "'hello.txt' is not an array",
             "short.npz": f"does not fit the model (state_dict does not match: missing [{next(iter(weights))!r}]",
             "float64.npz": "has dtype float64, this model needs float32",
             "pickled.npz": "is not a readable .npz of arrays"}
    for name, fragment in cases.items():
        out = tmp_path / ("run-" + name)
        status, _, err = run_cli(["train", "adding", *SMALL, "--epochs", "1", "--initial-weights", tmp_path / name,
                                  "--out", out], capsys)
        assert status == cli.EXIT_ERROR and err.count("\n") == 1, (name, err)
        assert err.startswith(f"pytcn: error: --initial-weights {tmp_path / name}: ") and fragment in err, (name, err)
        assert not (out / "checkpoint.npz").exists()
    with pytest.raises(ConfigError, match=r"^initial_weights must be the path of a weights file or None, got 5$"):
        make_config("adding", initial_weights=5)


# ------------------------------------------------------------------------------------------------------------------
# --keep-best: the weights of the epoch with the lowest validation loss, kept beside the last epoch's


def planted_validation(monkeypatch, losses):
    """The validation losses of the next epochs, in order, whatever the weights (the test split is computed)."""
    from pytcn.training import loop

    real = loop.evaluate
    planted = iter(losses)

    def evaluate(model, task, split, batch_size=256, mask=None):
        if split == "val":
            loss = next(planted)
            return loss, loss
        return real(model, task, split, batch_size, mask)

    monkeypatch.setattr(loop, "evaluate", evaluate)


def test_best_epoch_is_the_first_lowest_validation_loss_and_never_a_nan():
    from pytcn.training.loop import best_epoch

    def history(*losses):
        return [dict(val_loss=v) for v in losses]

    assert best_epoch(history(3.0, 1.0, 2.0, 1.0)) == 2
    assert best_epoch(history(float("nan"), 2.0, float("nan"), 1.5, float("inf"))) == 4
    assert best_epoch(history(float("nan"), float("inf"))) is None
    assert best_epoch([]) is None


def test_keep_best_keeps_the_best_validation_epoch_s_weights_and_tests_them(tmp_path, capsys, monkeypatch):
    argv = ["train", "adding", *SMALL, "--keep-best"]
    with monkeypatch.context() as m:
        planted_validation(m, [3.0, 1.0, 2.0, 5.0])  # the best: epoch 2 of 4
        status, printed, err = run_cli([*argv, "--epochs", "4", "--out", tmp_path / "run"], capsys)
    assert status == 0, err
    # the same run stopped after its second epoch: its weights are the ones best.npz must hold, bit for bit
    assert run_cli([*argv, "--epochs", "2", "--out", tmp_path / "two"], capsys)[0] == 0
    two = load_checkpoint(tmp_path / "two" / "checkpoint.npz")[1]
    best = load_checkpoint(tmp_path / "run" / "best.npz")[1]
    last = load_checkpoint(tmp_path / "run" / "checkpoint.npz")[1]
    assert set(best) == set(two)
    for name in two:
        np.testing.assert_array_equal(best[name], two[name], err_msg=name)
    assert any(not np.array_equal(last[name], two[name]) for name in two)  # (the last epoch's are others)
    # the summary's test numbers of the best weights are those of the saved model, loaded as a user would
    from pytcn.training.loop import evaluate

    trainer = Trainer.resume(tmp_path / "run", progress=False)
    loss, metric = evaluate(pytcn.load_model(tmp_path / "run" / "best.npz"), trainer.task, "test")
    assert f"best validation loss 1 at epoch 2: test MSE {metric:.4g}, test loss {loss:.4g}; " \
           f"{tmp_path / 'run' / 'best.npz'}" in printed, printed
    status, printed, _ = run_cli(["evaluate", tmp_path / "run", "--best"], capsys)
    assert status == 0 and f"test MSE {metric:.4g}" in printed and "the best validation epoch, 2 of 4" in printed
    last_loss, _ = evaluate(pytcn.load_model(tmp_path / "run" / "checkpoint.npz"), trainer.task, "test")
    status, printed, _ = run_cli(["evaluate", tmp_path / "run"], capsys)
    assert status == 0 and f"test loss {last_loss:.4g}; epoch 4, step 16" in printed, printed
    status, printed, _ = run_cli(["info", tmp_path / "run"], capsys)
    assert status == 0 and "best epoch   2: validation loss 1, validation metric 1 (best.npz" in printed, printed


def test_keep_best_across_a_resume_keeps_what_an_uninterrupted_run_keeps(tmp_path, capsys, monkeypatch):
    argv = ["train", "adding", *SMALL, "--keep-best", "--epochs", "3"]
    with monkeypatch.context() as m:
        planted_validation(m, [2.0, 1.0, 4.0])
        assert run_cli([*argv, "--out", tmp_path / "whole"], capsys)[0] == 0
    with monkeypatch.context() as m:
        planted_validation(m, [2.0, 1.0, 4.0])
        ctrl_c_at_step(m, 10)  # 4 steps an epoch: stopped in epoch 3, after the best (epoch 2) was kept
        assert run_cli([*argv, "--out", tmp_path / "cut"], capsys)[0] == 130
    before = os.stat(tmp_path / "cut" / "best.npz")
    with monkeypatch.context() as m:
        planted_validation(m, [4.0])  # epoch 3's, once more: not a new best, so best.npz is not written again
        status, _, err = run_cli(["train", "adding", "--out", tmp_path / "cut", "--resume", "--no-progress"], capsys)
    assert status == 0, err
    after = os.stat(tmp_path / "cut" / "best.npz")  # (written atomically: a new file would be a new inode)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    whole, kept = (load_checkpoint(tmp_path / run / "best.npz")[1] for run in ("whole", "cut"))
    for name in whole:
        np.testing.assert_array_equal(kept[name], whole[name], err_msg=name)


def test_a_run_stopped_between_its_checkpoint_and_best_npz_writes_best_npz_at_resume(tmp_path, capsys, monkeypatch):
    argv = ["train", "adding", *SMALL, "--keep-best"]
    real = Trainer.keep_best

    def killed_before_best_npz(self):  # as if the process died after epoch 2's checkpoint, before its best.npz
        if self.epoch != 2:
            real(self)

    with monkeypatch.context() as m:
        planted_validation(m, [2.0, 1.0])
        m.setattr(Trainer, "keep_best", killed_before_best_npz)
        status, printed, err = run_cli([*argv, "--epochs", "2", "--out", tmp_path / "cut"], capsys)
    assert status == 0, err  # the run's summary says what best.npz holds instead of testing it
    assert f"best validation loss 1 at epoch 2, but {tmp_path / 'cut' / 'best.npz'} holds epoch 1's weights" in printed
    status, _, err = run_cli(["evaluate", tmp_path / "cut", "--best"], capsys)
    assert status == cli.EXIT_ERROR and err.count("\n") == 1 and "holds epoch 1's weights" in err, err
    with monkeypatch.context() as m:
        planted_validation(m, [3.0])
        status, printed, err = run_cli(["train", "adding", "--out", tmp_path / "cut", "--resume", "--epochs", "3",
                                        "--no-progress"], capsys)
    assert status == 0, err
    assert "best validation loss 1 at epoch 2: test MSE" in printed, printed
    with monkeypatch.context() as m:
        planted_validation(m, [2.0, 1.0])
        assert run_cli([*argv, "--epochs", "2", "--out", tmp_path / "two"], capsys)[0] == 0
    two, best = (load_checkpoint(path)[1] for path in (tmp_path / "two" / "checkpoint.npz",
                                                      tmp_path / "cut" / "best.npz"))
    for name in two:
        np.testing.assert_array_equal(best[name], two[name], err_msg=name)


def test_a_lost_or_foreign_best_npz_is_said_in_one_line_and_never_tested_as_the_run_s(tmp_path, capsys, monkeypatch):
    argv = ["train", "adding", *SMALL, "--keep-best"]
    with monkeypatch.context() as m:
        planted_validation(m, [1.0, 2.0])
        assert run_cli([*argv, "--epochs", "2", "--out", tmp_path / "lost"], capsys)[0] == 0
    (tmp_path / "lost" / "best.npz").unlink()
    with monkeypatch.context() as m:
        planted_validation(m, [3.0])  # not a new best; and the checkpoint is epoch 2's: nothing holds epoch 1's now
        status, printed, err = run_cli(["train", "adding", "--out", tmp_path / "lost", "--resume", "--epochs", "3",
                                        "--no-progress"], capsys)
    assert status == 0, err
    missing = f"{tmp_path / 'lost' / 'best.npz'} is missing: the weights of the best epoch, 1, are lost"
    assert f"note: {missing}" in printed and f"best validation loss 1 at epoch 1, but {missing}" in printed, printed
    assert "test MSE" in printed  # the last epoch's numbers, still
    # another run's best.npz beside a run's checkpoint
    assert run_cli([*argv, "--epochs", "1", "--seed", "1", "--out", tmp_path / "other"], capsys)[0] == 0
    os.replace(tmp_path / "other" / "best.npz", tmp_path / "lost" / "best.npz")
    status, _, err = run_cli(["evaluate", tmp_path / "lost" / "checkpoint.npz", "--best"], capsys)
    assert status == cli.EXIT_ERROR and err.count("\n") == 1 and "holds another run's weights" in err, err


def test_evaluate_best_of_a_run_without_its_best_weights_is_one_line(tmp_path, capsys, monkeypatch):
    assert run_cli(["train", "adding", *SMALL, "--epochs", "1", "--out", tmp_path / "plain"], capsys)[0] == 0
    status, _, err = run_cli(["evaluate", tmp_path / "plain", "--best"], capsys)
    assert status == cli.EXIT_ERROR and err.count("\n") == 1 and "was not trained with --keep-best" in err, err
    with monkeypatch.context() as m:
        planted_validation(m, [float("nan")])
        assert run_cli(["train", "adding", *SMALL, "--epochs", "1", "--keep-best", "--out", tmp_path / "nan"],
                       capsys)[0] == 0
    assert not (tmp_path / "nan" / "best.npz").exists()  # a NaN validation loss is never the best
    status, _, err = run_cli(["evaluate", tmp_path / "nan", "--best"], capsys)
    assert status == cli.EXIT_ERROR and err.count("\n") == 1, err
    assert "has no epoch with a finite validation loss" in err, err
    with pytest.raises(ConfigError, match=r"^keep_best must be"):
        make_config("adding", keep_best="yes")
    # a run written before the field existed reads as one without it
    meta = load_run(tmp_path / "plain" / "checkpoint.npz")[0]
    assert meta["config"]["keep_best"] is False


# ------------------------------------------------------------------------------------------------------------------
# every option, driven with generated values: a clean run or one line, never a traceback, never a substitution

INT_OPTIONS = ["nb_filters", "kernel_size", "nb_stacks", "length", "batch_size", "epochs", "seed", "train_size",
               "val_size", "test_size"]
FLOAT_OPTIONS = ["dropout_rate", "lr", "max_grad_norm"]
texts = st.one_of(st.integers(-3, 3).map(str), st.sampled_from(["10**12", "1000000000000", "-0", "abc", "", "1.5",
                                                                "1e3", "nan", "inf", "-inf", "0x10", " 4"]))


class RecordingTrainer:
    """Stands in for Trainer in the CLI: records the configuration it was given, trains nothing (values such as
    --epochs 10**12 are valid and would never end)."""
    configs = []

    def __init__(self, config, out_dir, progress=True, log=print):
        RecordingTrainer.configs.append(config)
        self.checkpoint_path = os.path.join(out_dir, "checkpoint.npz")
        self.model = pytcn.TCN(input_channels=2, nb_filters=2, kernel_size=2, dilations=[1])
        self.task = type("Task", (), {"description": "recorded", "splits": {"train": ([0],)}})()

    def run(self):
        return dict(task="recorded", epochs=0, steps=0, interrupted=False, test_loss=0.0, test_metric=0.0,
                    metric_name="MSE", baseline=0.0, baseline_name="-", baseline_loss=None, train_seconds=0.0,
                    checkpoint=self.checkpoint_path)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(INT_OPTIONS + FLOAT_OPTIONS), text=texts)
def test_every_option_gives_a_clean_run_or_one_line_never_a_traceback_or_a_substitution(field, text, tmp_path,
                                                                                          capsys, monkeypatch):
    monkeypatch.setattr("pytcn.training.Trainer", RecordingTrainer)
    RecordingTrainer.configs.clear()
    option = option_name(field)
    status, _, err = run_cli(["train", "adding", f"{option}={text}", "--out", str(tmp_path / "run"),
                              "--no-progress"], capsys)
    assert "Traceback" not in err
    if status == 0:
        (config,) = RecordingTrainer.configs
        given = (int if field in INT_OPTIONS else float)(text)
        expected = None if field == "max_grad_norm" and given == 0 else given  # --clip 0: no clipping, as documented
        assert config[field] == expected, f"{option} {text!r} became {config[field]!r}"
        for other, value in default_config("adding").items():
            if other != field:
                assert config[other] == value, f"{option} {text!r} changed {other}"
    else:
        assert status == cli.EXIT_ERROR and err.count("\n") == 1 and err.startswith("pytcn: error: "), err
        assert option in err, f"the error does not name {option}: {err}"


def test_make_config_names_the_field_and_refuses_unknown_ones():
    with pytest.raises(ConfigError, match=r"^batch_size must be >= 1, got 0$"):
        make_config("adding", batch_size=0)
    with pytest.raises(ConfigError, match=r"^batchsize is not a field"):
        make_config("adding", batchsize=8)
    with pytest.raises(ConfigError, match=r"^length of sequential MNIST is 784"):
        make_config("mnist", length=100)


# ------------------------------------------------------------------------------------------------------------------
# the Python API


def test_a_model_saves_and_loads_as_it_was(tmp_path):
    model = pytcn.TCN(input_channels=2, outputs=3, nb_filters=[3, 4], kernel_size=3, dilations=[1, 2],
                      use_skip_connections=False, use_weight_norm=True, return_sequences=True, seed=4)
    x = np.random.default_rng(0).standard_normal((2, 9, 2)).astype(np.float32)
    model.save(tmp_path / "model.npz")
    loaded = pytcn.load_model(tmp_path / "model.npz")
    assert loaded.config == model.config
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    on_numpy = pytcn.load_model(tmp_path / "model.npz", backend="numpy")
    assert on_numpy.backend.name == "numpy"


def test_a_cli_checkpoint_loads_as_a_model(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["train", "adding", *SMALL, "--epochs", "1", "--out", str(out)], capsys)[0] == 0
    model = pytcn.load_model(out / "checkpoint.npz")
    meta, params, _, _ = load_checkpoint(out / "checkpoint.npz")
    for name, p in model.state_dict().items():
        np.testing.assert_array_equal(p, params[name])
    assert model.receptive_field == 1 + 2 * 1 * 3 and model.return_sequences is False
    model.save(tmp_path / "model.npz")
    status, _, err = run_cli(["evaluate", str(tmp_path / "model.npz")], capsys)
    assert status == cli.EXIT_ERROR and "is a saved model, not a training run" in err


def test_a_run_with_mean_pooling_trains_reports_itself_loads_and_refuses_to_stream(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["train", "adding", *SMALL, "--epochs", "1", "--pooling", "mean", "--out", str(out)], capsys)[0] == 0
    status, info, _ = run_cli(["info", str(out)], capsys)
    assert status == 0 and " pooling=mean " in info, info
    assert "averaged over the steps" in info, info  # the model's summary says what the head reads
    model = pytcn.load_model(out)
    assert model.pooling == "mean" and model.config["pooling"] == "mean"
    model.save(tmp_path / "model.npz")
    again = pytcn.load_model(tmp_path / "model.npz")
    assert again.config == model.config
    x = np.random.default_rng(0).standard_normal((3, 12, 2)).astype(np.float32)
    np.testing.assert_array_equal(again.forward(x, lengths=[12, 1, 5]), model.forward(x, lengths=[12, 1, 5]))
    np.save(tmp_path / "x.npy", x)
    status, _, err = run_cli(["stream", str(out), str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy")], capsys)
    assert status == cli.EXIT_ERROR and err.count("\n") == 1, err
    assert "was trained with pooling 'mean'" in err and "running mean" in err, err
    with pytest.raises(ConfigError, match=r"^pooling 'mean' is for a head that reads one row per sequence; the "
                                          r"copy-memory model outputs every step"):
        make_config("copy-memory", pooling="mean")
    with pytest.raises(ConfigError, match=r"^pooling must be one of 'last', 'mean'; got 'max'"):
        make_config("adding", pooling="max")


def test_files_honour_the_umask(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        out = tmp_path / "run"
        assert run_cli(["train", "adding", *SMALL, "--epochs", "1", "--out", str(out)], capsys)[0] == 0
    finally:
        os.umask(old)
    for name in ("checkpoint.npz", "metrics.jsonl", "curve.png"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name


def test_adam_state_without_its_step_count_is_refused_by_name():
    model = pytcn.TCN(input_channels=2, nb_filters=2, kernel_size=2, dilations=[1])
    adam = pytcn.Adam(model.params)
    state = adam.state_dict()
    del state["t"]
    with pytest.raises(ValueError, match="missing 't'"):
        adam.load_state_dict(state)
    assert pytcn.Adam(model.params, lr=0).lr == 0.0  # as torch.optim.Adam allows


def test_gradcheck_refuses_float32_and_what_is_not_a_module():
    model = pytcn.TCN(input_channels=2, nb_filters=2, kernel_size=2, dilations=[1], dtype=np.float32)
    with pytest.raises(TypeError, match="needs a float64 module.*float32.*roundoff"):
        pytcn.gradcheck(model, np.zeros((1, 3, 2)))
    with pytest.raises(TypeError, match="module must be a pytcn layer, block or model.*got list"):
        pytcn.gradcheck([1, 2], np.zeros((1, 3, 2)))


@pytest.mark.parametrize("broken", ["weight", "input"])
def test_gradcheck_reports_a_nan_gradient_as_the_worst_error_naming_it(broken):
    layer = pytcn.Conv1D(2, 2, 2, 1, dtype=np.float64, backend="numpy", rng=np.random.default_rng(0))
    backward = layer.backward

    def nan_backward(dy, cache):
        dx, grads = backward(dy, cache)
        if broken == "input":
            return np.full_like(dx, np.nan), grads
        return dx, dict(grads, weight=np.full_like(grads["weight"], np.nan))

    layer.backward = nan_backward
    result = pytcn.gradcheck(layer, np.random.default_rng(1).standard_normal((1, 2, 4)))
    assert result.max_rel_error == np.inf and result.worst.startswith(broken), result


def test_the_learning_curve_has_whole_epochs_on_its_axis(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from pytcn.training import curve_figure
    from pytcn.training.taskdata import make_task

    task = make_task("adding", 10, 0, 8, 8, 8)
    history = [dict(epoch=e, train_loss=1.0 / e, val_loss=1.0 / e, val_metric=1.0 / e) for e in (1, 2, 3)]
    fig = curve_figure(history, task)
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_help_shows_every_default_once(capsys):
    result = subprocess.run([sys.executable, "-m", "pytcn", "train", "mnist", "--help"], capture_output=True,
                            text=True, timeout=120)
    text = " ".join(result.stdout.split())
    assert "(default: None)" not in text
    for shown in ("--batch-size N sequences per training step (default: 64)", "(default: float32)",
                  "(default: mnist)", "(default: cpu)", "over its steps) (default: last)"):
        assert shown in text, shown
    assert text.count("every core") == 1 and "--length" not in text


# ------------------------------------------------------------------------------------------------------------------
# `pytcn stream` and `pytcn draw`: a user's mistake is one line; --out behaves the same in every command

STREAM_RUN = ["--length", "12", "--train-size", "32", "--val-size", "16", "--test-size", "16", "--nb-filters", "3",
              "--kernel-size", "2", "--dilations", "1,2", "--batch-size", "16", "--no-progress", "--epochs", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two copy-memory runs of one epoch, causal and padding 'same' (module-wide: they are only read)."""
    folder = tmp_path_factory.mktemp("runs")
    for padding in ("causal", "same"):
        assert cli.main(["train", "copy-memory", *STREAM_RUN, "--padding", padding, "--out",
                         str(folder / padding)]) == 0
    return folder


def one_line(status, err, *fragments):
    assert status == cli.EXIT_ERROR and err.startswith("pytcn: error: ") and err.count("\n") == 1, (status, err)
    assert all(f in err for f in fragments), err


@pytest.mark.parametrize("case", ["no sequences", "no steps", "npz", "out is a folder", "same padding"])
def test_a_stream_mistake_is_one_line_said_before_any_work(runs, tmp_path, capsys, case):
    x = np.zeros((2, 15, 1), np.float32)
    inputs, out, run = tmp_path / "x.npy", tmp_path / "y.npy", runs / "causal"
    expected = {"no sequences": "holds no sequences (shape (0, 15, 1))", "no steps": "holds no steps (shape (2, 0, 1))",
                "npz": "is an .npz archive; give one array as an .npy file", "out is a folder": "is a folder",
                "same padding": "was trained with padding 'same'; only a causal model can stream"}[case]
    if case == "no sequences":
        x = x[:0]
    elif case == "no steps":
        x = x[:, :0]
    elif case == "npz":
        inputs = tmp_path / "x.npz"
        np.savez(inputs, x=x)
    elif case == "out is a folder":
        out.mkdir()
    elif case == "same padding":
        run = runs / "same"
    if case != "npz":
        np.save(inputs, x)
    one_line(*run_cli(["stream", str(run), str(inputs), "--out", str(out)], capsys)[::2], expected)
    assert case == "out is a folder" or not out.exists()


def test_out_in_a_missing_folder_is_made_by_every_command(runs, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((15, 1), np.float32))
    status, printed, _ = run_cli(["stream", str(runs / "causal"), str(tmp_path / "x.npy"), "--out",
                                  str(tmp_path / "new" / "deeper" / "y.npy")], capsys)
    assert status == 0 and np.load(tmp_path / "new" / "deeper" / "y.npy").shape == (15, 10), printed
    assert run_cli(["draw", "--out", str(tmp_path / "drawn" / "d.svg")], capsys)[0] == 0
    assert (tmp_path / "drawn" / "d.svg").exists()
    assert run_cli(["train", "adding", *SMALL, "--epochs", "1", "--out", str(tmp_path / "a" / "run")], capsys)[0] == 0
    assert (tmp_path / "a" / "run" / "checkpoint.npz").exists()


@pytest.mark.parametrize("argv, fragment", [
    (["draw", "--out", "{file}/d.png"], "file is a file; a folder is needed there"),
    (["draw", "--out", "{folder}"], "--out must end in .png or .svg"),
    (["draw", "--out", "{folder}/x.png"], "is a folder; give a file name"),
    (["stream", "{run}", "{x}", "--out", "{file}/y.npy"], "file is a file; a folder is needed there"),
    (["train", "adding", *SMALL, "--out", "{file}/run"], "file is a file; a folder is needed there"),
    (["sweep", "plot", "--dir", "{sweep}", "--out", "{file}"], "file is a file; a folder is needed there"),
])
def test_out_that_cannot_be_written_is_refused_at_once_by_every_command(runs, tmp_path, capsys, argv, fragment):
    (tmp_path / "file").write_text("")
    (tmp_path / "folder" / "x.png").mkdir(parents=True)
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "results.sqlite").write_text("")  # plot stops at --out, before reading it
    np.save(tmp_path / "x.npy", np.zeros((15, 1), np.float32))
    names = dict(file=tmp_path / "file", folder=tmp_path / "folder", run=runs / "causal", x=tmp_path / "x.npy",
                 sweep=tmp_path / "sweep")
    one_line(*run_cli([a.format(**names) for a in argv], capsys)[::2], fragment)


@pytest.mark.parametrize("argv", [["--kernel-size", "100000", "--dilations", "1"],
                                  ["--kernel-size", "8", "--dilations", ",".join(str(2 ** i) for i in range(16))],
                                  ["--kernel-size", "2", "--dilations", ",".join(["1"] * 65)]])
def test_draw_refuses_an_architecture_too_large_to_draw_saying_its_receptive_field(tmp_path, capsys, argv):
    status, _, err = run_cli(["draw", *argv, "--out", str(tmp_path / "d.png")], capsys)
    one_line(status, err, "too large to draw readably", "Its receptive field is")
    assert not (tmp_path / "d.png").exists()


# ------------------------------------------------------------------------------------------------------------------
# messages that blame the right thing

def test_load_model_names_a_bad_backend_not_the_file(tmp_path):
    pytcn.TCN(input_channels=1, nb_filters=2, dilations=[1]).save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match=r"^backend must be one of 'cpu', 'numpy', 'cuda'; got 'gpu'$"):
        pytcn.load_model(tmp_path / "m.npz", backend="gpu")


@pytest.mark.parametrize("config, fragment", [({}, "task is missing from the configuration"),
                                              ([1], "is not a mapping of fields (got list)")])
def test_a_run_with_a_damaged_configuration_names_what_is_wrong(runs, tmp_path, capsys, config, fragment):
    from pytcn.runtime.archive import save_checkpoint

    meta, params, adam_m, adam_v = load_checkpoint(runs / "causal")
    save_checkpoint(tmp_path / "checkpoint.npz", params, dict(meta, config=config), adam_m, adam_v)
    for command in ("evaluate", "info", "stream"):
        extra = [str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy")] if command == "stream" else []
        one_line(*run_cli([command, str(tmp_path), *extra], capsys)[::2], "its training configuration", fragment)


@pytest.mark.parametrize("dtype, advice", [(np.float32, "or build the model with dtype=float32"),
                                           (np.int64, "convert with .astype(float64); a model is float32 or float64")])
def test_a_state_dict_of_another_dtype_gets_advice_that_can_be_followed(dtype, advice):
    model = pytcn.TCN(input_channels=1, nb_filters=2, dilations=[1], dtype=np.float64)
    state = {name: np.asarray(p).astype(dtype) for name, p in model.state_dict().items()}
    with pytest.raises(TypeError, match=re.escape(advice)):
        model.load_state_dict(state)
