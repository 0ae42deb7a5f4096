"""TCNForecaster and backtest (pytcn/estimators/forecaster.py): the windows against loops written out, the shapes
of 1-D, 2-D and exog series, what predict reads, a forecast that beats seasonal naive, the per-window normalisation
undone exactly, saving, pickling, reproducibility, the backtest against its loop, and one clear error per bad input.
Skipped, with the reason, without scikit-learn."""
import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed: pip install 'pytcn[sklearn]'")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from pytcn.estimators.forecaster import (  # noqa: E402
    OWN_PARAMS,
    TCNForecaster,
    backtest,
    load_forecaster,
    make_windows,
    normalize_windows,
)
from pytcn.estimators.regressor import TCNRegressor  # noqa: E402
from pytcn.runtime.archive import CheckpointError  # noqa: E402

from .helpers import one_numba_thread  # noqa: E402, F401

TINY = dict(nb_filters=4, kernel_size=2, max_epochs=3, random_state=0)


def seasonal(T, rng, period=12, trend=0.02, noise=0.2, channels=None):
    """A sine of ``period`` steps on a linear trend, plus Gaussian noise: (T,), or (T, channels) with each channel's
    own phase and level."""
    t = np.arange(T)[:, None]
    C = 1 if channels is None else channels
    y = np.sin(2 * np.pi * t / period + np.arange(C)) + trend * t + 10 * np.arange(C)
    y = y + noise * rng.standard_normal((T, C))
    return y[:, 0] if channels is None else y


def dyadic(y):
    """y rounded to multiples of 1/64: sums, shifts by 1024 and doublings of such numbers are exact in float64."""
    return np.round(y * 64) / 64


@pytest.fixture(scope="module")
def fitted_with_exog():
    rng = np.random.default_rng(0)
    y, exog = seasonal(60, rng, channels=2), rng.standard_normal((60, 3))
    return TCNForecaster(8, 3, **TINY).fit(y, exog=exog), y, exog


# ---------------------------------------------------------------------------------------------------------------
# windows


def test_windows_equal_a_loop_over_the_series():
    rng = np.random.default_rng(1)
    T, C, k, window, horizon = 17, 2, 3, 5, 4
    y, exog = rng.standard_normal((T, C)), rng.standard_normal((T, k))
    X, Y = make_windows(np.concatenate([y, exog], axis=1), y, window, horizon)
    n = T - window - horizon + 1
    assert X.shape == (n, C + k, window) and Y.shape == (n, horizon, C)
    for i in range(n):
        for t in range(window):
            for c in range(C):
                assert X[i, c, t] == y[i + t, c]
            for c in range(k):
                assert X[i, C + c, t] == exog[i + t, c]
        for h in range(horizon):
            for c in range(C):
                assert Y[i, h, c] == y[i + window + h, c]


@pytest.mark.parametrize("kind", ["window", "last", "global"])
def test_window_normalisation_equals_a_loop(kind):
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((4, 3, 6)) * 5 + 7, rng.standard_normal((4, 2, 2)) * 5 + 7
    X[1, 0] = 3.0  # a constant window: std 0 -> scale 1
    Xn, Yn, loc, scale = normalize_windows(X, Y, 2, kind)
    for i in range(4):
        for c in range(2):
            values = list(X[i, c])
            mean = sum(values) / len(values)
            std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
            m, s = {"window": (mean, std if std > 0 else 1.0), "last": (values[-1], 1.0), "global": (0.0, 1.0)}[kind]
            np.testing.assert_allclose(Xn[i, c], (X[i, c] - m) / s, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(Yn[i, :, c], (Y[i, :, c] - m) / s, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose([loc[i, c], scale[i, c]], [m, s], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(Xn[i, 2], X[i, 2])  # exog channel: left alone


# ---------------------------------------------------------------------------------------------------------------
# shapes and what predict reads


@pytest.mark.parametrize("shape, exog_shape, out", [((40,), None, (3,)), ((40, 1), None, (3, 1)),
                                                     ((40, 2), None, (3, 2)), ((40,), (40,), (3,)),
                                                     ((40, 2), (40, 3), (3, 2))])
def test_forecast_shapes(shape, exog_shape, out):
    rng = np.random.default_rng(3)
    y = rng.standard_normal(shape)
    exog = None if exog_shape is None else rng.standard_normal(exog_shape)
    f = TCNForecaster(6, 3, **TINY).fit(y, exog=exog)
    assert f.predict().shape == out
    assert f.predict(y[:20], exog=None if exog is None else exog[:20]).shape == out
    channels = 1 if len(shape) == 1 else shape[1]
    exog_channels = 0 if exog is None else len(exog.reshape(40, -1)[0])
    assert f.n_windows_ == 40 - 6 - 3 + 1 and f.regressor_.n_features_in_ == channels + exog_channels


def test_predict_reads_the_last_window_of_the_series(fitted_with_exog):
    f, y, exog = fitted_with_exog
    rng = np.random.default_rng(4)
    after_fit = f.predict()
    np.testing.assert_array_equal(after_fit, f.predict(y, exog=exog))  # after the fitted series: the same
    np.testing.assert_array_equal(after_fit, f.predict(y[-8:], exog=exog[-8:]))  # only the last window counts
    other_y, other_exog = y[:30], exog[:30]
    other = f.predict(other_y, exog=other_exog)
    assert np.abs(other - after_fit).max() > 1e-3  # another series, another forecast
    # the steps before the last window change nothing
    before = np.concatenate([rng.standard_normal((5, 2)), other_y[-8:]])
    np.testing.assert_array_equal(other, f.predict(before, np.concatenate([rng.standard_normal((5, 3)),
                                                                             other_exog[-8:]])))
    # past covariates are read: another exog over the window, another forecast
    assert np.abs(f.predict(other_y, other_exog + 1.0) - other).max() > 1e-4


class Memorising:
    """A stand-in for the inner TCNRegressor that learns by heart: predict gives the target fit saw for the
    nearest training input. With it, a forecast from a training origin must be the series' own next steps, which
    checks that predict reads the regressor's outputs in the layout fit wrote them and undoes the normalisation of
    the right window and channel."""

    _get_param_names = TCNRegressor._get_param_names

    def __init__(self, **params):
        pass

    def _fit(self, X, y, run=None):
        self.X, self.y = X.reshape(len(X), -1), y
        return self

    def predict(self, X):
        distance = ((X.reshape(len(X), 1, -1) - self.X[None]) ** 2).sum(axis=2)
        return self.y[distance.argmin(axis=1)]


@pytest.mark.parametrize("kind", ["last", "window", "global"])
@pytest.mark.parametrize("channels, k", [(None, 0), (2, 0), (3, 2)])
def test_predict_undoes_what_fit_did_to_the_targets(monkeypatch, kind, channels, k):
    import pytcn.estimators.forecaster as forecaster

    monkeypatch.setattr(forecaster, "_WindowRegressor", Memorising)
    rng = np.random.default_rng(12)
    y = seasonal(40, rng, channels=channels) * 3 + 5
    exog = rng.standard_normal((40, k)) if k else None
    f = TCNForecaster(7, 4, normalize=kind).fit(y, exog)
    for o in (7, 20, 36):
        forecast = f.predict(y[:o], None if exog is None else exog[:o])
        np.testing.assert_allclose(forecast, y[o:o + 4], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# learning


def test_forecast_of_a_noisy_seasonal_series_beats_seasonal_naive():
    # y: a 12-step sine on a trend (0.02 a step) plus noise of std 0.2 (a perfect forecast's MAE: 0.2 * 0.80 = 0.16).
    # Seasonal naive, y[t - 12], misses the trend of a year (0.24) and adds the noise twice (MAE about 0.3 here).
    rng = np.random.default_rng(5)
    y = seasonal(260, rng)
    f = TCNForecaster(24, 6, nb_filters=8, kernel_size=3, max_epochs=60, lr=3e-3, random_state=0).fit(y[:200])
    result = backtest(f, y, 200, step=3)
    naive = np.mean([np.abs(y[o:o + 6] - y[o - 12:o - 6]).mean() for o in result["origins"]])
    assert result["mean_mae"] < 0.8 * naive, (result["mean_mae"], naive)
    assert result["mean_mae"] < 0.25, result["mean_mae"]


# ---------------------------------------------------------------------------------------------------------------
# per-window normalisation


@pytest.mark.parametrize("kind, a, c", [("window", 2.0, 1024.0), ("window", 1.0, -1024.0), ("last", 1.0, 1024.0)])
def test_window_normalisation_is_undone_exactly_at_fit_and_predict(kind, a, c):
    # On 1/64 multiples and a window of 16 steps, a * y + c normalises to the same windows bit for bit, so the
    # two fits train the same network; the forecasts then differ by a * f + c up to the rounding of that sum.
    rng = np.random.default_rng(6)
    y = dyadic(seasonal(48, rng))
    f = TCNForecaster(16, 4, normalize=kind, **TINY).fit(y)
    g = TCNForecaster(16, 4, normalize=kind, **TINY).fit(a * y + c)
    np.testing.assert_allclose(g.predict(), a * f.predict() + c, rtol=0, atol=1e-9)
    other = dyadic(seasonal(20, rng))
    np.testing.assert_allclose(f.predict(a * other + c), a * f.predict(other) + c, rtol=0, atol=1e-9)


def test_global_normalisation_is_not_shift_equivariant():
    # the control of the test above: without the per-window shift, a level the network never saw moves the forecast
    # by anything but the shift
    rng = np.random.default_rng(6)
    y = dyadic(seasonal(48, rng))
    f = TCNForecaster(16, 4, normalize="global", **TINY).fit(y)
    assert np.abs(f.predict(y + 100.0) - (f.predict(y) + 100.0)).max() > 1.0


# ---------------------------------------------------------------------------------------------------------------
# parameters, reproducibility, saving


def test_every_regressor_parameter_is_a_forecaster_parameter_with_its_default():
    forecaster = TCNForecaster(5).get_params()
    regressor = TCNRegressor().get_params()
    assert set(forecaster) - set(regressor) == {"window", "horizon"}  # normalize: both, with other meanings
    for name, value in regressor.items():
        if name not in OWN_PARAMS:
            assert forecaster[name] == value, name


def test_parameters_reach_the_regressor():
    f = TCNForecaster(6, 2, **{**TINY, "nb_filters": 5, "lr": 0.01, "early_stopping": False, "max_epochs": 2})
    f.fit(np.random.default_rng(7).standard_normal(30))
    params = f.regressor_.get_params()
    assert params["nb_filters"] == 5 and params["lr"] == 0.01 and params["early_stopping"] is False
    assert params["max_epochs"] == 2 and params["normalize"] == "channel" and f.regressor_.n_iter_ == 2


def test_same_random_state_gives_bit_identical_forecasts():
    y = seasonal(50, np.random.default_rng(8))
    f = TCNForecaster(8, 3, **TINY).fit(y)
    g = clone(f).fit(y)
    np.testing.assert_array_equal(f.predict(), g.predict())
    h = TCNForecaster(8, 3, **{**TINY, "random_state": 1}).fit(y)
    assert not np.array_equal(f.predict(), h.predict())


def test_save_load_and_pickle_give_identical_forecasts(fitted_with_exog, tmp_path):
    f, y, exog = fitted_with_exog
    path = tmp_path / "forecaster.npz"
    f.save(path)
    for g in (load_forecaster(path), pickle.loads(pickle.dumps(f))):
        assert g.get_params() == f.get_params()
        np.testing.assert_array_equal(g.predict(), f.predict())
        np.testing.assert_array_equal(g.predict(y[:30], exog[:30]), f.predict(y[:30], exog[:30]))
    from pytcn.nn.saving import load_model

    assert type(load_model(path)).__name__ == "TCN"  # the bare network, as for the other estimators' files


def test_a_one_dimensional_series_is_saved_as_one(tmp_path):
    y = seasonal(30, np.random.default_rng(9))
    f = TCNForecaster(6, 2, normalize="last", **TINY).fit(y)
    f.save(tmp_path / "f.npz")
    g = load_forecaster(tmp_path / "f.npz")
    assert g.predict().shape == (2,) and g.exog_tail_ is None
    np.testing.assert_array_equal(g.predict(), f.predict())


def test_load_forecaster_refuses_a_regressors_file(tmp_path):
    X, y = np.random.default_rng(10).standard_normal((12, 8)), np.arange(12.0)
    TCNRegressor(**TINY).fit(X, y).save(tmp_path / "r.npz")
    with pytest.raises(CheckpointError, match="TCNForecaster"):
        load_forecaster(tmp_path / "r.npz")


# ---------------------------------------------------------------------------------------------------------------
# backtest


def test_backtest_equals_a_rolling_loop_of_predict(fitted_with_exog):
    f, y, exog = fitted_with_exog
    start, step = 20, 7
    result = backtest(f, y, start, step=step, exog=exog)
    origins = list(range(start, 60 - 3 + 1, step))
    assert result["origins"].tolist() == origins
    for n, o in enumerate(origins):
        forecast = f.predict(y[:o], exog[:o])
        np.testing.assert_array_equal(result["forecasts"][n], forecast)
        np.testing.assert_array_equal(result["actuals"][n], y[o:o + 3])
        errors = [forecast[h, c] - y[o + h, c] for h in range(3) for c in range(2)]
        assert result["mae"][n] == pytest.approx(sum(abs(e) for e in errors) / 6, rel=1e-12)
        assert result["rmse"][n] == pytest.approx((sum(e * e for e in errors) / 6) ** 0.5, rel=1e-12)
    assert result["mean_mae"] == pytest.approx(np.mean(result["mae"]))
    assert result["mean_rmse"] == pytest.approx(np.mean(result["rmse"]))


def test_backtest_with_refit_fits_a_clone_at_each_origin():
    y = seasonal(30, np.random.default_rng(11))
    f = TCNForecaster(6, 2, **{**TINY, "max_epochs": 2})
    result = backtest(f, y, 20, step=4, refit=True)
    assert not hasattr(f, "regressor_")  # the forecaster given is left unfitted
    assert result["origins"].tolist() == [20, 24, 28] and result["forecasts"].shape == (3, 2)
    for n, o in enumerate(result["origins"]):
        np.testing.assert_array_equal(result["forecasts"][n], clone(f).fit(y[:o]).predict())


# ---------------------------------------------------------------------------------------------------------------
# bad input: one clear error naming the argument


def _fit(y=None, exog=None, **params):
    y = np.sin(np.arange(30.0)) if y is None else y
    return TCNForecaster(**{"window": 6, "horizon": 2, **TINY, **params}).fit(y, exog=exog)


@pytest.mark.parametrize("make, error, match", [
    (lambda: _fit(np.r_[np.arange(29.0), np.nan]), ValueError, r"y contains NaN .*step 29"),
    (lambda: _fit(np.r_[np.arange(29.0), np.inf]), ValueError, r"y contains NaN or infinity"),
    (lambda: _fit(np.zeros((30, 1, 1))), ValueError, r"y must be 1-D .* got shape \(30, 1, 1\)"),
    (lambda: _fit(np.array(["a"] * 30)), TypeError, r"y must hold real numbers, got dtype <U1"),
    (lambda: _fit(np.zeros(7)), ValueError, r"y has 7 steps, fewer than window \+ horizon = 6 \+ 2"),
    (lambda: _fit(np.zeros(0)), ValueError, r"y must have at least one step .* got shape \(0,\)"),
    (lambda: _fit(np.zeros((30, 0))), ValueError, r"y must have at least one step .* got shape \(30, 0\)"),
    (lambda: _fit(window=0), ValueError, r"window must be >= 1, got 0"),
    (lambda: _fit(window=6.0), TypeError, r"window must be an integer, got 6.0"),
    (lambda: _fit(window=1), ValueError, r"window must be >= 2 with normalize='last'.*got 1"),
    (lambda: _fit(horizon=0), ValueError, r"horizon must be >= 1, got 0"),
    (lambda: _fit(horizon=True), TypeError, r"horizon must be an integer, got True"),
    (lambda: _fit(normalize="series"), ValueError, r"normalize must be one of .*'series'"),
    (lambda: _fit(exog=np.zeros(29)), ValueError, r"exog has 29 steps, y has 30"),
    (lambda: _fit(exog=np.full(30, np.nan)), ValueError, r"exog contains NaN"),
    (lambda: _fit(exog=np.zeros((30, 2, 2))), ValueError, r"exog must be 1-D"),
    (lambda: _fit(dilations=[1.5, 2.7]), TypeError, r"^dilations must be integers, got \[1\.5, 2\.7\]$"),
    (lambda: _fit(dilations=np.array([1.9, 2.2])), TypeError, r"^dilations must be integers, got \[1\.9, 2\.2\]$"),
    (lambda: _fit(dilations=[True, 2]), TypeError, r"^dilations must be integers, got \[True, 2\]$"),
    (lambda: _fit(kernel_size=1), ValueError, r"^kernel_size=1 sees one step whatever the dilations"),
    (lambda: _fit(early_stopping=1), TypeError, r"^early_stopping must be 'auto', True or False, got 1 of type int"),
])
def test_bad_input_at_fit(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_integral_numpy_dilations_are_taken_and_kernel_size_1_trains_with_dilations():
    assert _fit(dilations=np.array([1, 2])).regressor_.dilations_ == [1, 2]
    with pytest.warns(UserWarning, match=r"is 1 steps.*no dilations would: kernel_size=1 sees one step"):
        assert _fit(kernel_size=1, dilations=[1, 2]).predict().shape == (2,)


def test_saving_a_random_state_json_cannot_hold_is_refused_by_name(tmp_path):
    forecaster = _fit(random_state=np.random.RandomState(0))
    with pytest.raises(ValueError, match=r"^random_state=RandomState.* cannot be saved"):
        forecaster.save(tmp_path / "forecaster.npz")
    assert not (tmp_path / "forecaster.npz").exists()


def test_a_one_step_window_is_fine_without_window_normalisation():
    assert _fit(window=1, normalize="global").predict().shape == (2,)


@pytest.fixture(scope="module")
def fitted():
    return _fit(), _fit(exog=np.cos(np.arange(30.0)))


@pytest.mark.parametrize("call, match", [
    (lambda f, fx: f.predict(np.zeros(5)), r"y has 5 steps, fewer than window = 6"),
    (lambda f, fx: f.predict(np.zeros((10, 2))), r"y has 2 channel\(s\), the forecaster was fitted on 1"),
    (lambda f, fx: f.predict(np.r_[np.zeros(9), np.nan]), r"y contains NaN"),
    (lambda f, fx: f.predict(np.zeros(10), exog=np.zeros(10)), r"exog was given .* fitted without exog"),
    (lambda f, fx: fx.predict(np.zeros(10)), r"exog is None, but the forecaster was fitted with 1 exog"),
    (lambda f, fx: fx.predict(np.zeros(10), exog=np.zeros(9)), r"exog has 9 steps, y has 10"),
    (lambda f, fx: fx.predict(np.zeros(10), exog=np.zeros((10, 2))), r"exog has 2 channel\(s\), .* with 1"),
    (lambda f, fx: fx.predict(exog=np.zeros(6)), r"exog was given without y"),
    (lambda f, fx: backtest(f, np.zeros(30), 5), r"start must be >= 6, got 5"),
    (lambda f, fx: backtest(f, np.zeros(30), 29), r"start \+ horizon = 29 \+ 2 is past the end of y \(30 steps\)"),
    (lambda f, fx: backtest(f, np.zeros(30), 10, step=0), r"step must be >= 1, got 0"),
    (lambda f, fx: backtest(f, np.zeros(30), 7, refit=True), r"start must be >= 8, got 7"),
    (lambda f, fx: backtest(fx, np.zeros(30), 10, exog=np.zeros(29)), r"exog has 29 steps, y has 30"),
])
def test_bad_input_at_predict_and_backtest(fitted, call, match):
    with pytest.raises(ValueError, match=match):
        call(*fitted)


def test_predict_save_and_backtest_before_fit_raise_not_fitted(tmp_path):
    f = TCNForecaster(6, 2)
    for call in (f.predict, lambda: f.save(tmp_path / "f.npz"), lambda: backtest(f, np.zeros(30), 10)):
        with pytest.raises(NotFittedError):
            call()


def test_backtest_refuses_another_estimator():
    with pytest.raises(TypeError, match="forecaster must be a TCNForecaster, got TCNRegressor"):
        backtest(TCNRegressor(), np.zeros(30), 10)


def test_load_estimator_dispatches_to_the_forecaster(fitted_with_exog, tmp_path):
    from pytcn.estimators import load_estimator

    f, _, _ = fitted_with_exog
    f.save(tmp_path / "f.npz")
    g = load_estimator(tmp_path / "f.npz", backend="cpu")
    assert isinstance(g, TCNForecaster) and g.history_ == f.history_ and g.monitor_ == f.monitor_
    np.testing.assert_array_equal(g.predict(), f.predict())


def test_a_damaged_forecaster_record_is_a_checkpoint_error(fitted_with_exog, tmp_path):
    from pytcn.runtime.archive import load_checkpoint, save_checkpoint

    f, _, _ = fitted_with_exog
    f.save(tmp_path / "f.npz")
    meta, params, _, _ = load_checkpoint(tmp_path / "f.npz")
    del meta["estimator"]["fitted"]["y_tail_"]
    save_checkpoint(tmp_path / "damaged.npz", params, meta)
    with pytest.raises(CheckpointError, match=r"damaged.npz: its forecaster does not load \(KeyError: 'y_tail_'\)"):
        load_forecaster(tmp_path / "damaged.npz")


def test_bad_input_in_a_run_folder_is_the_users_mistake(tmp_path):
    from pytcn.estimators.runs import FitInputError, FitRun

    with pytest.raises(FitInputError, match=r"y has 3 steps, fewer than window \+ horizon"):
        TCNForecaster(6, 2)._fit(np.zeros(3), run=FitRun(tmp_path, {}))


def test_early_stopping_validates_on_the_last_windows_after_a_gap_of_horizon_minus_one():
    from pytcn.estimators.forecaster import _WindowRegressor

    reg = _WindowRegressor(early_stopping=True, validation_fraction=0.2)
    reg.gap_ = 3  # horizon 4: the 3 windows before the held-out ones share target steps with them
    train, val = reg._split(20, np.zeros(20), np.random.default_rng(0))
    np.testing.assert_array_equal(val, np.arange(16, 20))
    np.testing.assert_array_equal(train, np.arange(0, 13))
    assert reg.monitor_ == "val_loss"
    with pytest.raises(ValueError, match="no window is left to train on"):
        _split_with_gap(4, 2)  # 2 held out, 2 in the gap: nothing to train on


def _split_with_gap(n, gap):
    from pytcn.estimators.forecaster import _WindowRegressor

    reg = _WindowRegressor(early_stopping=True, validation_fraction=0.5)
    reg.gap_ = gap
    return reg._split(n, np.zeros(n), np.random.default_rng(0))
