"""`pytcn fit`, `pytcn predict` and `pytcn forecast`: a user's files to a trained model and predictions, in run folders
that checkpoint and resume exactly; the same model as the estimator's fit; every mistake one line."""
import os
import signal

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is not installed: pip install 'pytcn[sklearn]'")

from pytcn import cli  # noqa: E402
from pytcn.estimators import TCNClassifier, TCNRegressor, load_estimator  # noqa: E402
from pytcn.estimators import base as estimator_base  # noqa: E402
from pytcn.estimators.datafiles import DataFileError, read_cases  # noqa: E402

from .helpers import one_numba_thread, run_cli  # noqa: F401,E402 (fixture: tiny runs, many calls)

TINY = ["--max-epochs", "3", "--nb-filters", "4", "--kernel-size", "2", "--no-progress"]
TINY_PARAMS = dict(max_epochs=3, nb_filters=4, kernel_size=2, random_state=0)


def two_sines(n, T, seed=0):
    """n univariate series of T steps, label 'slow' or 'fast' by frequency, random phases."""
    rng = np.random.default_rng(seed)
    fast = rng.integers(0, 2, n).astype(bool)
    t = np.arange(T)
    X = np.sin(np.where(fast, 0.9, 0.25)[:, None] * t + rng.uniform(0, 6, (n, 1))) + 0.1 * rng.normal(size=(n, T))
    return X, np.where(fast, "fast", "slow")


def write_ucr(path, X, y, delimiter=","):
    """A file in the UCR archive's layout: the label, then the values; trailing NaN for shorter series."""
    lines = [delimiter.join([str(label), *(f"{v:.17g}" for v in row)]) for label, row in zip(y, X)]
    path.write_text("\n".join(lines) + "\n")
    return path


def same_params(a, b):
    sa, sb = a.model_.state_dict(), b.model_.state_dict()
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


# ------------------------------------------------------------------------------------------------------------------
# the two commands


def test_fit_then_predict_gives_the_estimator_s_model_and_its_predictions(tmp_path, capsys):
    X, y = two_sines(30, 16)
    np.savez(tmp_path / "train.npz", X=X, y=y)
    status, out, err = run_cli(["fit", tmp_path / "train.npz", "--out", tmp_path / "run", *TINY], capsys)
    assert status == 0, err
    assert sorted(os.listdir(tmp_path / "run")) == ["checkpoint.npz", "curve.png", "metrics.jsonl", "model.npz"]
    fitted = load_estimator(tmp_path / "run" / "model.npz")
    direct = TCNClassifier(**TINY_PARAMS).fit(X, y)
    assert same_params(fitted, direct), "pytcn fit and TCNClassifier(...).fit trained different models"
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 3

    X_test, y_test = two_sines(12, 16, seed=1)
    write_ucr(tmp_path / "test.csv", X_test, y_test)
    status, out, err = run_cli(["predict", tmp_path / "run", tmp_path / "test.csv", "--out", tmp_path / "p.csv",
                                "--proba"], capsys)
    assert status == 0, err
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "prediction,proba_fast,proba_slow"
    assert [line.split(",")[0] for line in lines[1:]] == list(direct.predict(X_test))
    proba = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    np.testing.assert_allclose(proba, direct.predict_proba(X_test), rtol=1e-5)
    accuracy = np.mean(direct.predict(X_test) == y_test)
    assert f"accuracy {accuracy:.4g} against the file's labels" in out


def test_a_regression_fit_from_a_csv_predicts_as_the_estimator(tmp_path, capsys):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(24, 12))
    y = X[:, -3:].sum(axis=1)
    write_ucr(tmp_path / "train.tsv", X, y, delimiter="\t")
    status, _, err = run_cli(["fit", tmp_path / "train.tsv", "--regression", "--out", tmp_path / "run", *TINY],
                             capsys)
    assert status == 0, err
    direct = TCNRegressor(**TINY_PARAMS).fit(np.array([[float(f"{v:.17g}") for v in row] for row in X]), y)
    assert same_params(load_estimator(tmp_path / "run"), direct)
    status, out, err = run_cli(["predict", tmp_path / "run", tmp_path / "train.tsv", "--out", tmp_path / "p.csv"],
                               capsys)
    assert status == 0, err
    predicted = np.array([float(v) for v in (tmp_path / "p.csv").read_text().splitlines()[1:]])
    np.testing.assert_allclose(predicted, direct.predict(X), rtol=1e-6)
    assert "MAE" in out


def test_resuming_a_fit_with_fewer_max_epochs_than_it_has_begun_is_one_line(tmp_path, capsys):
    X, y = two_sines(30, 16)
    np.savez(tmp_path / "train.npz", X=X, y=y)
    assert run_cli(["fit", tmp_path / "train.npz", "--out", tmp_path / "run", *TINY], capsys)[0] == 0  # 3 epochs
    status, _, err = run_cli(["fit", "--resume", "--out", tmp_path / "run", "--max-epochs", "2", "--no-progress"],
                             capsys)
    assert status == 2 and err == "pytcn: error: --max-epochs must be at least the 3 epochs the fit has begun, got 2\n"
    assert load_estimator(tmp_path / "run" / "model.npz").max_epochs == 3  # the run as it was


def test_train_and_fit_runs_given_to_each_other_s_commands_get_advice_that_works(tmp_path, capsys):
    X, y = two_sines(30, 16)
    np.savez(tmp_path / "train.npz", X=X, y=y)
    assert run_cli(["fit", tmp_path / "train.npz", "--out", tmp_path / "fit", *TINY], capsys)[0] == 0
    status, _, err = run_cli(["info", tmp_path / "fit" / "checkpoint.npz"], capsys)
    assert status == 2 and "is a run of pytcn fit (or forecast), not of pytcn train" in err, err
    assert load_estimator(tmp_path / "fit" / "model.npz").n_iter_ == 3  # the advice's file loads
    trained = tmp_path / "trained"
    assert run_cli(["train", "adding", "--length", "12", "--train-size", "32", "--val-size", "16", "--test-size", "16",
                    "--batch-size", "16", "--nb-filters", "4", "--kernel-size", "2", "--dilations", "1,2", "--epochs",
                    "1", "--no-progress", "--out", trained], capsys)[0] == 0
    write_ucr(tmp_path / "test.csv", X[:4], y[:4])
    status, _, err = run_cli(["predict", trained, tmp_path / "test.csv", "--out", tmp_path / "p.csv"], capsys)
    assert status == 2 and "is a run of pytcn train, whose model predicts with pytcn stream" in err, err


def test_a_folder_where_a_fit_writes_a_file_is_refused_before_any_work(tmp_path, capsys):
    X, y = two_sines(30, 16)
    np.savez(tmp_path / "train.npz", X=X, y=y)
    (tmp_path / "run" / "curve.png").mkdir(parents=True)
    status, _, err = run_cli(["fit", tmp_path / "train.npz", "--out", tmp_path / "run", *TINY], capsys)
    assert status == 2 and err.count("\n") == 1 and "holds a folder curve.png, where the run writes" in err, err
    assert sorted(os.listdir(tmp_path / "run")) == ["curve.png"]  # nothing trained, nothing written


def test_a_csv_with_a_byte_order_mark_reads_as_one_without(tmp_path):
    # Excel's "CSV UTF-8" begins the file with U+FEFF; read as plain UTF-8 it became part of the first label
    text = "1,0.5,0.25,0.125\n2,1,2,3\n1,4,5,6\n"
    plain, marked = tmp_path / "plain.csv", tmp_path / "marked.csv"
    plain.write_text(text, encoding="utf-8")
    marked.write_text(text, encoding="utf-8-sig")
    assert marked.read_bytes().startswith(b"\xef\xbb\xbf")
    X, y = read_cases(marked)
    X_plain, y_plain = read_cases(plain)
    assert list(y) == list(y_plain) == ["1", "2", "1"]
    np.testing.assert_array_equal(X, X_plain)


def test_an_npz_whose_y_is_one_value_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "scalar_y.npz"
    np.savez(path, X=np.zeros((4, 5)), y=np.array(1))
    with pytest.raises(DataFileError, match=r"scalar_y.npz: y must hold one target per case, got a single value"):
        read_cases(path)


def test_a_ucr_csv_with_trailing_nan_padding_reads_as_series_of_unequal_lengths(tmp_path):
    path = tmp_path / "unequal.csv"
    path.write_text("a,1,2,3,NaN,NaN\nb,4,5,6,7,8\na,9,10,NaN,NaN,NaN\n")
    X, y = read_cases(path)
    assert isinstance(X, list) and [x.shape for x in X] == [(1, 3), (1, 5), (1, 2)]
    np.testing.assert_array_equal(X[1], [[4, 5, 6, 7, 8]])
    assert list(y) == ["a", "b", "a"]
    with pytest.raises(DataFileError, match="row 1, column 1 is 'a', not a number"):
        read_cases(path, "none")  # every column a value: the first column's letters are not numbers


# ------------------------------------------------------------------------------------------------------------------
# resuming


def ctrl_c_at_step(monkeypatch, k):
    """Sends SIGINT during the k-th training step (counted from 1) of any estimator fit, as a user's Ctrl-C would."""
    real = estimator_base.training_step
    calls = []

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == k:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(estimator_base, "training_step", step)


@pytest.mark.parametrize("batch", [2, 5], ids=["mid_epoch", "last_batch_of_an_epoch"])
def test_a_fit_stopped_by_ctrl_c_and_resumed_ends_with_the_same_bits(tmp_path, capsys, monkeypatch, batch):
    X, y = two_sines(24, 16)
    np.savez(tmp_path / "train.npz", X=X, y=y)
    # 18 training cases (6 held out) in batches of 4, 5 an epoch; early stopping on, dropout on, a high rate (the
    # validation loss goes up and down): every piece of state a checkpoint must carry (the generators, Adam, the
    # best loss and weights so far, the epochs since, the schedule)
    options = ["--max-epochs", "12", "--nb-filters", "4", "--kernel-size", "2", "--early-stopping", "on",
               "--validation-fraction", "0.25", "--dropout-rate", "0.2", "--batch-size", "4", "--lr", "0.1",
               "--n-iter-no-change", "3", "--no-progress"]
    assert run_cli(["fit", tmp_path / "train.npz", "--out", tmp_path / "whole", *options], capsys)[0] == 0
    whole = load_estimator(tmp_path / "whole")
    best = whole.best_epoch_
    assert 1 < best < whole.n_iter_ < 12, "the test needs a fit that stops early, some epochs after its best one"
    # stopped in the epoch after the best one: what is resumed holds a best epoch that is not its current one
    with monkeypatch.context() as m:
        ctrl_c_at_step(m, best * 5 + batch)
        status, out, _ = run_cli(["fit", tmp_path / "train.npz", "--out", tmp_path / "split", *options], capsys)
    assert status == 130 and "continue with pytcn fit --resume" in out
    assert not (tmp_path / "split" / "model.npz").exists()
    status, out, err = run_cli(["fit", "--resume", "--out", tmp_path / "split", "--no-progress"], capsys)
    assert status == 0, err
    resumed = load_estimator(tmp_path / "split")
    assert same_params(whole, resumed)
    assert resumed.history_ == whole.history_ and resumed.best_epoch_ == best


def test_resume_refuses_changed_options_and_changed_data(tmp_path, capsys):
    X, y = two_sines(20, 10)
    np.savez(tmp_path / "train.npz", X=X, y=y)
    assert run_cli(["fit", tmp_path / "train.npz", "--out", tmp_path / "run", *TINY], capsys)[0] == 0
    status, _, err = run_cli(["fit", "--resume", "--out", tmp_path / "run", "--nb-filters", "9"], capsys)
    assert status == cli.EXIT_ERROR and err.count("\n") == 1 and "--nb-filters 9 (the run's: 4)" in err, err
    status, _, err = run_cli(["fit", "--resume", "--out", tmp_path / "run", "--max-epochs", "4", "--no-progress"],
                             capsys)
    assert status == 0, err  # a longer fit: allowed
    assert load_estimator(tmp_path / "run").n_iter_ == 4
    np.savez(tmp_path / "train.npz", X=X[:, ::-1], y=y)
    status, _, err = run_cli(["fit", "--resume", "--out", tmp_path / "run"], capsys)
    assert status == cli.EXIT_ERROR and "has changed since the fit" in err and err.count("\n") == 1, err


# ------------------------------------------------------------------------------------------------------------------
# mistakes: one line, exit status 2, nothing half-written


def _npz(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return path


X20, Y20 = two_sines(20, 10)
BAD_FITS = {
    "no X": (lambda p: _npz(p, data=X20, y=Y20), [], "has no array 'X'"),
    "no y": (lambda p: _npz(p, X=X20), [], "has no array 'y'"),
    "lengths differ": (lambda p: _npz(p, X=X20, y=Y20[:-1]), [], "X has 20 cases and y 19 targets"),
    "1-D X": (lambda p: _npz(p, X=X20[0], y=Y20[:1]), [], "X must be (n_cases, n_timepoints)"),
    "NaN in X": (lambda p: _npz(p, X=np.where(np.arange(10) == 4, np.nan, X20), y=Y20), [], "NaN"),
    "inf in y": (lambda p: _npz(p, X=X20, y=np.full(20, np.inf)), ["--regression"], "infinity"),
    "one class": (lambda p: _npz(p, X=X20, y=np.full(20, "a")), [], "one class only"),
    "continuous y to a classifier": (lambda p: _npz(p, X=X20, y=np.linspace(0, 1, 20)), [], "continuous"),
    "continuous labels in a CSV": (lambda p: write_ucr(p / "d.csv", X20, np.linspace(0, 1, 20)), [],
                                   "labels are numbers that are not whole (e.g. '0.05263157894736842')"),
    "text targets to a regressor": (lambda p: write_ucr(p / "d.csv", X20, Y20), ["--regression"],
                                    "column 1 (the target) is 'fast', not a number"),
    "NaN inside a CSV series": (lambda p: (p / "d.csv").write_text("a,1,NaN,3\nb,1,2,3\n") and p / "d.csv", [],
                                "row 1, column 3 is missing (NaN) inside the series"),
    "a header row": (lambda p: (p / "d.csv").write_text("label,t0,t1\na,1,2\nb,3,4\n") and p / "d.csv", [],
                     "row 1, column 2 is 't0', not a number"),
    "unknown suffix": (lambda p: (p / "d.json").write_text("{}") and p / "d.json", [], "unknown kind of file"),
    "missing file": (lambda p: p / "nothing.npz", [], "no such file"),
    "bad option value": (lambda p: _npz(p, X=X20, y=Y20), ["--max-epochs", "0"], "--max-epochs must be"),
    "bad early stopping": (lambda p: _npz(p, X=X20, y=Y20), ["--early-stopping", "yes"],
                           "--early-stopping must be auto, on or off"),
    # checked by TCN, Adam and the split, not by the estimator's own parameter checks
    "no filters": (lambda p: _npz(p, X=X20, y=Y20), ["--nb-filters", "0"], "--nb-filters must be"),
    "kernel size 0": (lambda p: _npz(p, X=X20, y=Y20), ["--kernel-size", "0"], "--kernel-size must be >= 1, got 0"),
    "no stacks": (lambda p: _npz(p, X=X20, y=Y20), ["--nb-stacks", "0"], "--nb-stacks must be >= 1, got 0"),
    "dropout above 1": (lambda p: _npz(p, X=X20, y=Y20), ["--dropout-rate", "1.5"],
                        "--dropout-rate must be in [0.0, 1.0), got 1.5"),
    "negative lr": (lambda p: _npz(p, X=X20, y=Y20), ["--lr", "-1"], "--lr must be"),
    "unknown backend": (lambda p: _npz(p, X=X20, y=Y20), ["--backend", "gpu"], "gpu"),
    "huge filters": (lambda p: _npz(p, X=X20, y=Y20), ["--nb-filters", "99999999999"],
                     "--nb-filters must be <= 2147483647"),
    "a split of no case": (lambda p: _npz(p, X=X20, y=Y20), ["--early-stopping", "on", "--validation-fraction",
                                                              "0.01"], "early_stopping=True holds out"),
}


@pytest.mark.parametrize("case", BAD_FITS)
def test_every_mistake_in_a_fit_is_one_line_and_leaves_no_run(tmp_path, capsys, case):
    make, options, words = BAD_FITS[case]
    data = make(tmp_path)
    status, _, err = run_cli(["fit", data, "--out", tmp_path / "run", *options, "--no-progress"], capsys)
    assert status == cli.EXIT_ERROR and err.startswith("pytcn: error: ") and err.count("\n") == 1, err
    assert words in err, err
    assert not (tmp_path / "run").exists(), "a fit that could not start left a folder behind"


def test_predict_s_mistakes_are_one_line(tmp_path, capsys):
    X, y = two_sines(20, 10)
    np.savez(tmp_path / "train.npz", X=X, y=y)
    np.savez(tmp_path / "three_channels.npz", X=np.zeros((2, 3, 10)))
    cases = [
        (["predict", tmp_path / "nothing.npz", tmp_path / "train.npz"], "nothing.npz: no such checkpoint file"),
        (["predict", tmp_path / "run", tmp_path / "three_channels.npz"], "X has 3 channels (shape (2, 3, 10)), but "
         "TCNClassifier was fitted on univariate series"),
        (["predict", tmp_path / "run", tmp_path / "train.npz", "--out", tmp_path / "p.txt"], "--out must end in .csv"),
    ]
    assert run_cli(["fit", tmp_path / "train.npz", "--out", tmp_path / "run", *TINY], capsys)[0] == 0
    for argv, words in cases:
        if "--out" not in argv:
            argv = [*argv, "--out", tmp_path / "p.csv"]
        status, _, err = run_cli(argv, capsys)
        assert status == cli.EXIT_ERROR and err.count("\n") == 1 and words in err, (argv, err)
    (tmp_path / "run" / "model.npz").unlink()  # as if the fit had been interrupted
    status, _, err = run_cli(["predict", tmp_path / "run", tmp_path / "train.npz", "--out", tmp_path / "p.csv"], capsys)
    assert status == cli.EXIT_ERROR and "its fit has not finished" in err, err


def test_a_data_file_error_names_the_file():
    with pytest.raises(DataFileError, match="nothing.csv: no such file"):
        read_cases("nothing.csv")


# ------------------------------------------------------------------------------------------------------------------
# pytcn forecast


def write_series(path, y):
    path.write_text("month,sales\n" + "".join(f"{k},{v:.17g}\n" for k, v in enumerate(y)))
    return path


def seasonal_series(T=60):
    t = np.arange(T)
    return 10 + 0.1 * t + np.sin(2 * np.pi * t / 6) + 0.05 * np.random.default_rng(3).normal(size=T)


def test_forecast_gives_the_forecaster_s_forecast_and_resumes_exactly(tmp_path, capsys, monkeypatch):
    from pytcn.estimators import TCNForecaster

    y = seasonal_series()
    csv = write_series(tmp_path / "sales.csv", y)
    options = ["--window", "8", "--horizon", "3", "--max-epochs", "4", "--nb-filters", "4", "--kernel-size", "2",
               "--batch-size", "16", "--no-progress"]
    status, out, err = run_cli(["forecast", csv, "--column", "sales", "--out", tmp_path / "whole", *options], capsys)
    assert status == 0, err
    direct = TCNForecaster(8, 3, max_epochs=4, nb_filters=4, kernel_size=2, batch_size=16, random_state=0).fit(y)
    rows = (tmp_path / "whole" / "forecast.csv").read_text().splitlines()
    assert rows[0] == "step,sales" and [r.split(",")[0] for r in rows[1:]] == ["61", "62", "63"]
    np.testing.assert_allclose([float(r.split(",")[1]) for r in rows[1:]], direct.predict(), rtol=1e-9)
    assert isinstance(load_estimator(tmp_path / "whole"), TCNForecaster)

    with monkeypatch.context() as m:  # 50 windows in batches of 16: 4 an epoch; stopped in epoch 2
        ctrl_c_at_step(m, 6)
        status, out, _ = run_cli(["forecast", csv, "--column", "sales", "--out", tmp_path / "split", *options],
                                 capsys)
    assert status == 130 and "continue with pytcn forecast --resume" in out
    status, _, err = run_cli(["forecast", "--resume", "--out", tmp_path / "split", "--no-progress"], capsys)
    assert status == 0, err
    assert (tmp_path / "split" / "forecast.csv").read_text() == (tmp_path / "whole" / "forecast.csv").read_text()
    status, _, err = run_cli(["fit", "--resume", "--out", tmp_path / "split"], capsys)
    assert status == cli.EXIT_ERROR and "resume it with pytcn forecast --resume" in err, err


@pytest.mark.parametrize("argv, words", [
    (["--column", "price", "--window", "8", "--horizon", "3"], "has no column 'price' (its header row names: month, "
                                                               "sales)"),
    (["--column", "sales", "--window", "58", "--horizon", "3"], "fewer than window + horizon = 58 + 3"),
    (["--column", "sales", "--window", "0", "--horizon", "3"], "window must be"),
    (["--column", "sales", "--horizon", "3"], "--window is needed"),
    (["--column", "sales", "--window", "8", "--horizon", "3", "--normalize", "series"], "--normalize is a "
                                                                                         "classifier's"),
])
def test_forecast_s_mistakes_are_one_line(tmp_path, capsys, argv, words):
    csv = write_series(tmp_path / "sales.csv", seasonal_series())
    status, _, err = run_cli(["forecast", csv, *argv, "--out", tmp_path / "run", "--no-progress"], capsys)
    assert status == cli.EXIT_ERROR and err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "run").exists()


def test_a_gap_in_the_series_is_named_by_its_row(tmp_path, capsys):
    (tmp_path / "s.csv").write_text("month,sales\n0,1.5\n1,\n2,3\n")
    status, _, err = run_cli(["forecast", tmp_path / "s.csv", "--column", "sales", "--window", "2", "--horizon", "1",
                              "--out", tmp_path / "run"], capsys)
    assert status == cli.EXIT_ERROR and "row 3, column 'sales' is '', not a number" in err, err


# ------------------------------------------------------------------------------------------------------------------
# the README's loop by hand


def test_the_readme_s_loop_by_hand_trains_the_estimator_s_model_bit_for_bit():
    from .helpers import readme_block

    X, y = two_sines(30, 16)
    namespace = {"X": X, "y": y}
    exec(compile(readme_block("tests/test_fit_cli.py"), "README.md", "exec"), namespace)
    clf = TCNClassifier(random_state=0, normalize=None, dilations=[1, 2, 4, 8], max_epochs=2).fit(X, y)
    assert clf.best_epoch_ == 2, "the test needs a fit whose best epoch is its last (the loop keeps the last)"
    by_hand = namespace["model"].state_dict()
    fitted = clf.model_.state_dict()
    assert by_hand.keys() == fitted.keys()
    assert all(np.array_equal(by_hand[k], fitted[k]) for k in fitted), "the README's loop trains another model"
