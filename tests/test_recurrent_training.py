"""The recurrent baselines in the training loop and on the command line: `pytcn train --model gru|lstm` learns,
checkpoints, resumes exactly, loads back, and refuses the settings it cannot honour in one line.

(The kernels, the layers and the models themselves: tests/test_recurrent.py.)
"""
import numpy as np
import pytest

import pytcn
from pytcn import cli
from pytcn.runtime.archive import load_checkpoint, save_checkpoint
from pytcn.training import ConfigError, Trainer, load_run, make_config


def quiet(*args):
    pass


def small(task, model, **changes):
    fields = dict(model=model, hidden_size=8, train_size=256, val_size=64, test_size=64, epochs=2)
    return make_config(task, **(fields | changes))


def same_params(a, b):
    return all(np.array_equal(a.model.params[k], b.model.params[k]) for k in a.model.params)


# ------------------------------------------------------------------------------------------------------------------
# learning


@pytest.mark.parametrize("model, settings", [
    ("gru", dict(hidden_size=16, lr=1e-2)),
    ("lstm", dict(hidden_size=24, lr=2e-2, forget_bias=1.0)),  # at 16 units and 1e-2 it was still at the baseline
])
def test_a_recurrent_model_learns_the_adding_problem_well_below_the_baseline(tmp_path, model, settings):
    config = small("adding", model, length=20, train_size=2000, epochs=4, **settings)
    summary = Trainer(config, tmp_path, progress=False, log=quiet).run()
    assert summary["test_metric"] < summary["baseline"] / 4, summary


def test_a_recurrent_model_on_copy_memory_outputs_every_step(tmp_path):
    config = small("copy-memory", "gru", length=5, epochs=1)
    trainer = Trainer(config, tmp_path, progress=False, log=quiet)
    x, _ = trainer.task.splits["test"]
    assert trainer.model.forward(x[:3]).shape == (3, x.shape[1], 10)
    trainer.run()


# ------------------------------------------------------------------------------------------------------------------
# checkpoints and exact resume


@pytest.mark.parametrize("model", ["gru", "lstm"])
def test_a_recurrent_run_stopped_after_an_epoch_and_resumed_ends_with_the_same_parameters(tmp_path, model):
    config = small("adding", model, length=10, epochs=3, **({"forget_bias": 1.0} if model == "lstm" else {}))
    whole = Trainer(config, tmp_path / "whole", progress=False, log=quiet)
    whole.run()
    Trainer(dict(config, epochs=1), tmp_path / "split", progress=False, log=quiet).run()
    resumed = Trainer.resume(tmp_path / "split", progress=False, log=quiet, epochs=3)
    assert resumed.epoch == 1 and type(resumed.model).__name__ == model.upper()
    resumed.run()
    assert same_params(whole, resumed)


@pytest.mark.parametrize("model", ["tcn", "lstm"])
def test_an_rmsprop_run_resumes_exactly_with_its_optimizer_state(tmp_path, model):
    fields = dict(nb_filters=4, kernel_size=2, dilations=[1, 2]) if model == "tcn" else dict(model=model,
                                                                                           hidden_size=6)
    config = make_config("adding", length=10, train_size=256, val_size=64, test_size=64, epochs=3,
                         optimizer="rmsprop", lr=1e-3, **fields)
    whole = Trainer(config, tmp_path / "whole", progress=False, log=quiet)
    assert type(whole.optimizer).__name__ == "RMSprop"
    whole.run()
    Trainer(dict(config, epochs=1), tmp_path / "split", progress=False, log=quiet).run()
    resumed = Trainer.resume(tmp_path / "split", progress=False, log=quiet, epochs=3)
    assert type(resumed.optimizer).__name__ == "RMSprop" and resumed.optimizer.t > 0
    resumed.run()
    assert same_params(whole, resumed)
    adam = Trainer(dict(config, optimizer="adam"), tmp_path / "adam", progress=False, log=quiet)
    adam.run()
    assert not same_params(whole, adam)  # the optimizer is not ignored


def test_a_recurrent_checkpoint_loads_as_its_model(tmp_path):
    config = small("adding", "lstm", length=10, epochs=1, forget_bias=2.0)
    trainer = Trainer(config, tmp_path, progress=False, log=quiet)
    trainer.run()
    model = pytcn.load_model(tmp_path)
    assert isinstance(model, pytcn.LSTM) and model.forget_bias == 2.0 and model.hidden_size == 8
    x = trainer.task.splits["test"][0][:5]
    np.testing.assert_array_equal(model.forward(x), trainer.model.forward(x))
    model.save(tmp_path / "lstm.npz")
    again = pytcn.load_model(tmp_path / "lstm.npz")
    np.testing.assert_array_equal(again.forward(x), model.forward(x))


def test_a_checkpoint_written_before_the_recurrent_models_loads_as_a_tcn(tmp_path):
    config = make_config("adding", length=10, train_size=64, val_size=32, test_size=32, epochs=1, nb_filters=4,
                         kernel_size=2, dilations=[1, 2])
    Trainer(config, tmp_path, progress=False, log=quiet).run()
    path = tmp_path / "checkpoint.npz"
    meta, params, m, v = load_checkpoint(path)
    for field in ("model", "hidden_size", "num_layers", "forget_bias", "optimizer"):
        del meta["config"][field]
    save_checkpoint(path, params, meta, m, v)
    assert load_run(path)[0]["config"]["model"] == "tcn"
    assert load_run(path)[0]["config"]["optimizer"] == "adam"
    assert isinstance(pytcn.load_model(path), pytcn.TCN)


def test_a_file_naming_an_unknown_architecture_is_a_checkpoint_error(tmp_path):
    model = pytcn.GRU(input_channels=1, hidden_size=3)
    model.save(tmp_path / "m.npz")
    meta, params, _, _ = load_checkpoint(tmp_path / "m.npz")
    meta["model"]["architecture"] = "transformer"
    save_checkpoint(tmp_path / "m.npz", params, meta)
    with pytest.raises(pytcn.CheckpointError, match="architecture must be one of tcn, gru, lstm, got 'transformer'"):
        pytcn.load_model(tmp_path / "m.npz")


# ------------------------------------------------------------------------------------------------------------------
# settings a recurrent model cannot honour, and the other way round


@pytest.mark.parametrize("fields, field, words", [
    (dict(model="gru", kernel_size=3), "kernel_size", "is a TCN's; model 'gru' has no such setting"),
    (dict(model="lstm", dropout_rate=0.1), "dropout_rate", "is a TCN's"),
    (dict(model="gru", use_weight_norm=True), "use_weight_norm", "is a TCN's"),
    (dict(model="gru", forget_bias=1.0), "forget_bias", "a GRU has no forget gate"),
    (dict(forget_bias=1.0), "forget_bias", "is for a recurrent model"),
    (dict(hidden_size=8), "hidden_size", "is for a recurrent model"),
    (dict(num_layers=2), "num_layers", "is for a recurrent model"),
    (dict(model="gru", hidden_size=0), "hidden_size", "must be >= 1, got 0"),
    (dict(model="gru", hidden_size=2.5), "hidden_size", "2.5"),
    (dict(model="gru", num_layers=0), "num_layers", "must be >= 1, got 0"),
    (dict(model="lstm", forget_bias="x"), "forget_bias", "'x'"),
    (dict(model="rnn"), "model", "must be one of"),
    (dict(model="gru", backend="cuda"), "backend", "'cuda' has no GRU kernels"),
    (dict(optimizer="sgd"), "optimizer", "must be one of"),
])
def test_a_setting_the_model_cannot_honour_is_a_config_error_naming_it(fields, field, words):
    with pytest.raises(ConfigError) as e:
        make_config("adding", **fields)
    assert e.value.field == field and words in str(e.value), str(e.value)


def test_mask_warmup_is_refused_for_a_recurrent_model():
    with pytest.raises(ConfigError, match="mask_warmup is a TCN's"):
        make_config("copy-memory", model="lstm", mask_warmup=True)


def test_a_recurrent_model_gets_the_paper_s_lstm_size_when_hidden_size_is_left_out():
    assert make_config("adding", model="gru")["hidden_size"] == 130
    assert make_config("copy-memory", model="lstm")["hidden_size"] == 50
    assert make_config("adding", model="lstm")["num_layers"] == 1


# ------------------------------------------------------------------------------------------------------------------
# the command line


def test_cli_trains_a_gru_then_reports_info_and_evaluates(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "adding", "--model", "gru", "--hidden-size", "6", "--num-layers", "2", "--length", "12",
            "--train-size", "128", "--val-size", "32", "--test-size", "32", "--epochs", "1", "--out", str(out),
            "--no-progress"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "GRU, " in printed and "test MSE" in printed
    assert cli.main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "architecture GRU hidden_size=6 num_layers=2" in info and "unbounded (a recurrent network)" in info
    assert "layer 1: (N, T, 6) -> (N, T, 6)" in info
    assert cli.main(["evaluate", str(out)]) == 0
    test_line = [line for line in printed.splitlines() if "test MSE" in line][0]
    assert capsys.readouterr().out.split(";")[0].split(", test loss")[0] == test_line.split(", test loss")[0]


@pytest.mark.parametrize("argv, error", [
    (["--model", "gru", "--kernel-size", "3"], "--kernel-size is a TCN's; model 'gru' has no such setting"),
    (["--model", "gru", "--forget-bias", "1"], "--forget-bias is the LSTM's forget gate's initial bias"),
    (["--hidden-size", "8"], "--hidden-size is for a recurrent model"),
    (["--model", "lstm", "--hidden-size", "-3"], "--hidden-size must be >= 1, got -3"),
    (["--model", "lstm", "--num-layers", "0"], "--num-layers must be >= 1, got 0"),
    (["--model", "gru", "--backend", "cuda"], "--backend 'cuda' has no GRU kernels"),
    (["--optimizer", "rmsprop", "--lr", "-1"], "--lr must be in [0.0, inf), got -1.0"),
])
def test_cli_refuses_a_setting_the_model_cannot_honour_in_one_line(tmp_path, capsys, argv, error):
    assert cli.main(["train", "adding", *argv, "--out", str(tmp_path / "run")]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("pytcn: error: " + error) and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_cli_streams_a_recurrent_checkpoint_as_its_forward(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "copy-memory", "--model", "lstm", "--hidden-size", "5", "--length", "4",
                     "--train-size", "64", "--val-size", "16", "--test-size", "16", "--epochs", "1", "--out", str(out),
                     "--no-progress"]) == 0
    x = np.random.default_rng(0).integers(0, 9, (3, 24, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert cli.main(["stream", str(out), str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy"), "--chunk",
                     "5"]) == 0
    model = pytcn.load_model(out)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.forward(x), rtol=1e-5, atol=1e-6)


def test_readme_s_pytorch_weights_example_runs(tmp_path, monkeypatch):
    # the same exchange without PyTorch: tests/test_recurrent.py checks the names, shapes and gate order against the
    # NumPy references, and the models against finite differences
    pytest.importorskip("torch", reason="the README's example moves weights to and from PyTorch, not installed here")
    from tests.helpers import readme_block

    monkeypatch.chdir(tmp_path)
    exec(compile(readme_block("tests/test_recurrent_training.py"), "README.md", "exec"), {"__name__": "readme"})
