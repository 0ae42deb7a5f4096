"""Files given by the user, read and written: a path that cannot be used is named as given, before any work (never
a hidden temporary file, never a generic "expected str" naming nothing); a damaged file is named with what is wrong
with it (a checkpoint, a sweep's results)."""
import json
import os
import sqlite3

import numpy as np
import pytest

import pytcn
from pytcn import cli
from pytcn.runtime.archive import FORMAT, CheckpointError, load_checkpoint, save_checkpoint


@pytest.fixture
def model():
    return pytcn.TCN(input_channels=1, nb_filters=2, dilations=[1], backend="numpy")


@pytest.mark.parametrize("path, error, message", [
    (None, TypeError, "path: expected a str or an os.PathLike, got None (NoneType)"),
    (3, TypeError, "path: expected a str or an os.PathLike, got 3 (int)"),
    ("", ValueError, "path: expected the name of a file, got ''"),
    ("a\0b.npz", ValueError, "path: a path cannot hold a NUL byte"),
])
def test_a_path_that_is_no_path_is_named_by_save_and_load_model(model, path, error, message):
    for call in (model.save, pytcn.load_model):
        with pytest.raises(error) as e:
            call(path)
        assert str(e.value).startswith(message), (call, e.value)


def test_a_path_given_as_bytes_is_a_path(model, tmp_path):
    model.save(os.fsencode(tmp_path / "m.npz"))
    assert pytcn.load_model(os.fsencode(tmp_path / "m.npz")).config == model.config


def test_save_names_the_path_given_when_it_cannot_be_written(model, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(IsADirectoryError, match=f"^{tmp_path}: names a folder; a file name is needed$"):
        model.save(tmp_path)
    with pytest.raises(NotADirectoryError, match=f"^{tmp_path}/file/m.npz: {tmp_path}/file is a file, not a folder$"):
        model.save(tmp_path / "file" / "m.npz")
    model.save(tmp_path / "new" / "m.npz")  # a missing folder is made, as before
    assert pytcn.load_model(tmp_path / "new" / "m.npz").config == model.config
    assert sorted(os.listdir(tmp_path / "new")) == ["m.npz"]  # no temporary file left behind


def test_a_read_only_folder_and_an_unreadable_file_are_said_to_be_so(model, tmp_path, monkeypatch):
    """Permissions as the library asks the system for them (os.access), refused for tmp_path: root, who runs CI,
    may write and read anything, so the refusal is made here rather than by chmod."""
    model.save(tmp_path / "m.npz")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: not str(p).startswith(str(tmp_path)) and real_access(p, mode))
    with pytest.raises(PermissionError, match=f"^{tmp_path}/other.npz: its folder {tmp_path} is not writable$"):
        model.save(tmp_path / "other.npz")
    with pytest.raises(CheckpointError, match="cannot be read \\(permission denied\\)"):
        pytcn.load_model(tmp_path / "m.npz")


def test_a_checkpoint_whose_metadata_is_nested_too_deeply_is_corrupt_not_a_crash(model, tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, format=np.array(FORMAT), meta=np.array("[" * 100_000 + "]" * 100_000))
    with pytest.raises(CheckpointError, match="metadata is nested too deeply"):
        load_checkpoint(path)


@pytest.mark.parametrize("model_meta", [5, None, [1, 2], "ab"])
def test_load_model_names_a_model_configuration_that_is_not_a_mapping(model, tmp_path, model_meta):
    save_checkpoint(tmp_path / "m.npz", model.state_dict(), {"model": model_meta})
    with pytest.raises(CheckpointError, match="its model configuration is not a mapping of TCN's arguments"):
        pytcn.load_model(tmp_path / "m.npz")


def test_a_sweep_row_whose_json_is_damaged_is_one_line_naming_the_trial(tmp_path, capsys):
    from pytcn.study import sweep
    from pytcn.study.experiments import expand

    store = sweep.Store(tmp_path / "results.sqlite")
    store.add(expand("isolation", "adding", "reduced", 0, {})[:1])
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        trial = db.execute("SELECT id FROM trials").fetchone()[0]
        db.execute("UPDATE trials SET config = '{not json'")
    db.close()
    for action in ("status", "plot"):
        assert cli.main(["sweep", action, "--dir", str(tmp_path)]) == cli.EXIT_ERROR
        err = capsys.readouterr().err
        assert err == f"pytcn: error: {tmp_path / 'results.sqlite'}: trial {trial!r} has a damaged config (not JSON)\n"


@pytest.mark.parametrize("url", ["not a url", "", "ftp://example.org/"])
def test_download_refuses_a_base_url_that_is_no_address_before_any_work(tmp_path, capsys, url):
    assert cli.main(["download", "mnist", "--base-url", url, "--dir", str(tmp_path / "d")]) == cli.EXIT_ERROR
    assert capsys.readouterr().err == (f"pytcn: error: --base-url must be an http://, https:// or file:// address, "
                                       f"got {url!r}\n")
    assert not os.listdir(tmp_path / "d")


def test_json_of_the_checkpoint_is_still_read_after_the_checks(model, tmp_path):
    model.save(tmp_path / "m.npz")
    meta, params, _, _ = load_checkpoint(tmp_path / "m.npz")
    assert json.loads(json.dumps(meta)) == {"model": model.config} and set(params) == set(model.state_dict())


def test_a_seed_given_as_a_numpy_integer_saves(tmp_path):
    model = pytcn.TCN(input_channels=1, nb_filters=2, dilations=[1], seed=np.int64(3), backend="numpy")
    model.save(tmp_path / "m.npz")  # the configuration is JSON: np.int64 was stored as given and did not serialise
    assert pytcn.load_model(tmp_path / "m.npz").config["seed"] == 3


RUN = ["--length", "12", "--train-size", "32", "--val-size", "16", "--test-size", "16", "--nb-filters", "3",
       "--kernel-size", "2", "--dilations", "1,2", "--batch-size", "16", "--no-progress", "--epochs", "1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    assert cli.main(["train", "adding", *RUN, "--out", str(folder)]) == 0
    return folder


@pytest.mark.parametrize("change, fragment", [
    (dict(epoch=None), "epoch is missing"),
    (dict(epoch="abc"), "epoch must be a count (an integer >= 0), got 'abc'"),
    (dict(step=-5), "step must be a count (an integer >= 0), got -5"),
    (dict(history={}), "history must be a list of epochs, got {}"),
    (dict(history=[{"epoch": 1}]), "history[0] has no number 'step'"),
    (dict(dropout_state="x"), "dropout_state must be a random generator's state (a mapping), got 'x'"),
    (dict(dropout_state={"bit_generator": "nothing"}), "a random generator's state does not load"),
])
def test_a_run_whose_record_is_damaged_is_one_line_naming_the_field(run, tmp_path, capsys, change, fragment):
    meta, params, adam_m, adam_v = load_checkpoint(run)
    meta.update(change)
    save_checkpoint(tmp_path / "checkpoint.npz", params, {k: v for k, v in meta.items() if v is not None}, adam_m,
                    adam_v)
    commands = [["info", str(tmp_path)], ["evaluate", str(tmp_path)], ["train", "adding", "--out", str(tmp_path),
                                                                          "--resume", "--no-progress"]]
    for argv in commands if "does not load" not in fragment else commands[2:]:  # only a resume reads the state
        assert cli.main(argv) == cli.EXIT_ERROR
        err = capsys.readouterr().err
        assert err.startswith(f"pytcn: error: {tmp_path}") and "its run record is damaged: " in err, (argv, err)
        assert fragment in err and err.count("\n") == 1, (argv, err)


@pytest.mark.parametrize("argv, message", [
    (["train", "adding", "--out", ""], "--out must name the run's folder, got ''"),
    (["draw", "--out", ""], "--out must name a file, got ''"),
    (["draw", "--dilations", "1,,2", "--out", "d.png"], "dilations must be comma-separated integers, got '1,,2'"),
    (["download", "mnist", "--dir", ""], "--dir must name a folder, got ''"),
])
def test_an_empty_name_or_entry_on_the_command_line_is_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    try:
        status = cli.main(argv)
    except SystemExit as e:  # argparse's own errors
        status = e.code
    err = capsys.readouterr().err
    assert status == cli.EXIT_ERROR and err.startswith("pytcn: error: ") and message in err, err
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("model_meta, fragment", [({"dilations": [1]}, "its architecture has no kernel_size"),
                                                  ({"kernel_size": 2, "dilations": "ab"}, "its architecture is "
                                                                                          "damaged (dilations")])
def test_draw_names_a_source_whose_architecture_is_damaged(model, tmp_path, capsys, model_meta, fragment):
    save_checkpoint(tmp_path / "m.npz", model.state_dict(), {"model": model_meta})
    assert cli.main(["draw", str(tmp_path / "m.npz"), "--out", str(tmp_path / "d.png")]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"pytcn: error: {tmp_path / 'm.npz'}: {fragment}") and err.count("\n") == 1, err


def test_an_unreadable_results_file_is_said_to_be_so(tmp_path, capsys, monkeypatch):
    from pytcn.study import sweep

    sweep.Store(tmp_path / "results.sqlite")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: not str(p).startswith(str(tmp_path)) and real_access(p, mode))
    assert cli.main(["sweep", "status", "--dir", str(tmp_path)]) == cli.EXIT_ERROR
    assert capsys.readouterr().err == (f"pytcn: error: {tmp_path / 'results.sqlite'}: cannot be read and written "
                                       f"(permission denied)\n")


def test_a_done_trial_without_its_metrics_is_one_line_naming_it(tmp_path, capsys):
    from pytcn.study import sweep
    from pytcn.study.experiments import expand

    store = sweep.Store(tmp_path / "results.sqlite")
    store.add(expand("isolation", "adding", "reduced", 0, {})[:1])
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        trial = db.execute("SELECT id FROM trials").fetchone()[0]
        db.execute("UPDATE trials SET status = 'done'")
    db.close()
    assert cli.main(["sweep", "plot", "--dir", str(tmp_path)]) == cli.EXIT_ERROR
    assert capsys.readouterr().err == (f"pytcn: error: {tmp_path / 'results.sqlite'}: trial {trial!r} is done but has "
                                       f"no metrics (a damaged row)\n")
