"""TCNForecaster: the next ``horizon`` steps of a series from its last ``window`` steps, and a rolling-origin backtest.

A forecaster is a TCNRegressor on windows cut from one series (the windowing is done here, NumPy only):

    y (T, C)  the series, time first (darts' and aeon's axis; a 1-D y is one channel)
    z (T, C + k)  y beside its past covariates ``exog`` (T, k), the model's input channels

    window i (i = 0 .. T - window - horizon):
        input   X[i] = z[i : i + window].T            (C + k, window): aeon's (n_channels, n_timepoints)
        target  Y[i] = y[i + window : i + window + horizon]     (horizon, C), flattened to horizon * C numbers

The regressor's linear head outputs every step of the horizon at once (a direct multi-step forecast, not a
one-step model run on its own outputs), so an error at step 1 is not fed back into step 2.

Per-window normalisation: a global standardisation, fitted on the training part, cannot extrapolate a trending
series (Airline's summer of 1960 is above every month of 1949-1959). So each window's target channels are shifted
by one of the window's own values, and its targets by the same number, and a forecast is shifted back:
``normalize='last'`` (the default) subtracts the window's last value; ``normalize='window'`` subtracts its mean and
divides by its standard deviation (RevIN's idea, Kim et al. 2022); ``normalize='global'`` leaves the windows alone.
The network then sees the shape of a window, never its level. The regressor standardises what it is given as
always (one mean and scale per input channel and per output), which takes care of the series' units.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from ..runtime import validate
from ..runtime.archive import CheckpointError, load_checkpoint, save_checkpoint
from . import base, data
from .regressor import TCNRegressor
from .runs import FitInputError

NORMALIZE = ("last", "window", "global")
#: the forecaster's own parameters; every other one is the inner TCNRegressor's, passed through by name
OWN_PARAMS = ("window", "horizon", "normalize")


class TCNForecaster(BaseEstimator):
    """Forecasts the ``horizon`` steps after a series from its last ``window`` steps with a temporal convolutional
    network (darts: ``TCNModel(input_chunk_length=window, output_chunk_length=horizon)``; aeon:
    ``TCNForecaster(window, horizon)``).

    fit(y, exog=None)
        y: (n_timepoints,) one series, or (n_timepoints, n_channels) several forecast together (time first, as in
        darts and aeon; a pandas Series or DataFrame works). ``exog``: past covariates (darts' ``past_covariates``),
        (n_timepoints,) or (n_timepoints, k), aligned with y step for step. They are extra input channels over the
        window only: nothing of their future is used, so a forecast needs none. Every window of ``window`` steps
        followed by ``horizon`` steps is a training case: n_timepoints >= window + horizon.
    predict(y=None, exog=None)
        The ``horizon`` steps after the end of the series fit was given (y=None), or after the series ``y`` (at
        least ``window`` steps, its last ``window`` read; with its ``exog`` of the same length when fit had one).
        Returns (horizon,) for a 1-D y at fit, else (horizon, n_channels).

    Parameters
        window            steps the network reads (darts' input_chunk_length); at least 2 with normalize='last'
                          or 'window', where a one-step window normalises to 0
        horizon           steps forecast at once (output_chunk_length)
        normalize         'last' (default): each window's last value subtracted from its target channels and its
                          targets, added back to the forecast; 'window': each window's target channels
                          standardised by the window's own mean and standard deviation (0 becomes 1), its targets
                          by the same, the forecast mapped back; 'global': the windows as they are. ``exog``
                          channels are never window-normalised (a covariate's level, a calendar flag, is its
                          information): the regressor standardises them with one mean and scale per channel.
        everything else   TCNRegressor's (and with its defaults): the network, the training, ``random_state``
                          (an int gives bit-identical forecasts), ``verbose``, ``backend``. The regressor's own
                          ``normalize`` is always 'channel' here. With early stopping (early_stopping=True, or
                          'auto' from 1000 windows) it validates on the last windows in time, after a gap of
                          horizon - 1 windows whose targets overlap theirs (_WindowRegressor).

    The default from Airline (144 months; horizon 12; every other parameter at its default; MAE; mean +- std over
    seeds 0-4, 'global' over seeds 0-2 in the rolling rows):

        fit on y[:132], predict() vs y[132:]      'last'        'window'      'global'      seasonal naive
            window 24                             18.4 +- 3.2   30.3 +- 4.8   36.0 +- 2.1   47.83
            window 36                             25.4 +- 3.6   19.9 +- 4.3   24.7 +- 1.1   47.83
        fit on y[:108], backtest(f, y, 108) (25 origins), mean_mae
            window 24                             23.8 +- 1.1   27.4 +- 1.7   40.0 +- 2.9   38.61
            window 36                             37.6 +- 0.6   34.3 +- 1.6   45.7 +- 4.8   38.61

    Both per-window choices beat 'global', which in the rolling test does no better than seasonal naive; between
    them no clear winner ('last' 26.3, 'window' 28.0 averaged over the four rows). 'last' is the default for that
    average and because it divides by nothing: 'window' blows a nearly flat window up to unit variance.
    Seasonal naive repeats the last 12 months. (Measured 2026-12-06 on the 2-vCPU AMD EPYC VM, one Numba thread, a
    fit of the defaults 20-45 s on cores shared with other jobs; the computation is
    benchmarks/forecaster_normalize.py, written after the fact from the scratch scripts that made the table, which
    was not rerun through it.)

    Fitted attributes
        regressor_        the TCNRegressor trained on the windows (its n_iter_, best_epoch_, model_ ...); its
                          ``history_`` and ``monitor_`` are the forecaster's too
        n_channels_       channels of y; ``y_ndim_`` 1 or 2, as fit got it
        n_exog_           channels of exog (0 without)
        n_timepoints_     length of the series fit was given
        n_windows_        training windows cut from it: n_timepoints_ - window - horizon + 1
        y_tail_, exog_tail_   its last ``window`` steps (window, n_channels) and (window, n_exog_) or None: what
                          predict() reads
    """

    def __init__(self, window, horizon=1, normalize="last", nb_filters=64, kernel_size=3, dilations=None,
                 nb_stacks=1, use_skip_connections=True, dropout_rate=0.0, use_batch_norm=False, max_epochs=200,
                 batch_size="auto", lr=1e-3, lr_patience=10, lr_factor=0.5, min_lr=1e-4, early_stopping="auto",
                 validation_fraction=0.1, n_iter_no_change=30, max_grad_norm=1.0, dtype="float32", random_state=None,
                 verbose=0, backend="cpu"):
        self.window = window
        self.horizon = horizon
        self.normalize = normalize
        self.nb_filters = nb_filters
        self.kernel_size = kernel_size
        self.dilations = dilations
        self.nb_stacks = nb_stacks
        self.use_skip_connections = use_skip_connections
        self.dropout_rate = dropout_rate
        self.use_batch_norm = use_batch_norm
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_patience = lr_patience
        self.lr_factor = lr_factor
        self.min_lr = min_lr
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.max_grad_norm = max_grad_norm
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.backend = backend

    # ---------------------------------------------------------------------------------------------------------
    # fit

    def fit(self, y, exog=None):
        """Trains a new model on every (window, horizon) pair of ``y`` (and ``exog``). Returns self."""
        return self._fit(y, exog)

    def _fit(self, y, exog=None, run=None):
        """fit, in memory (``run`` None) or in a run folder (a pytcn.estimators.runs.FitRun, as TCNRegressor._fit
        takes it; the regressor trains there). Returns self, or None when Ctrl-C interrupted a run in a folder."""
        try:
            window, horizon = self._check_params()
            y, y_ndim = _series("y", y)
            exog, n_exog = self._check_exog(exog, len(y), fitting=True)
            if len(y) < window + horizon:
                raise ValueError(f"y has {len(y)} steps, fewer than window + horizon = {window} + {horizon}: no "
                                 f"(window, horizon) pair to train on")
        except (ValueError, TypeError) as e:  # in a run folder: the user's data or options (pytcn forecast says so)
            if run is None:
                raise
            raise FitInputError(str(e)) from None
        C = y.shape[1]
        X, Y = make_windows(_inputs(y, exog), y, window, horizon)
        X, Y, _, _ = normalize_windows(X, Y, C, self.normalize)
        regressor = _WindowRegressor(**self._regressor_params())
        regressor.gap_ = horizon - 1
        if run is not None:
            run.owner = self  # the run folder records, resumes and saves the forecaster, not its inner regressor
        if regressor._fit(X, Y.reshape(len(Y), -1), run=run) is None:  # (n_windows, horizon * C): row-major
            return None
        self.regressor_ = regressor
        self.y_ndim_, self.n_channels_, self.n_exog_ = y_ndim, C, n_exog
        self.n_timepoints_, self.n_windows_ = len(y), len(X)
        self.y_tail_ = y[-window:].copy()
        self.exog_tail_ = None if exog is None else exog[-window:].copy()
        return self

    def _check_params(self):
        window = validate.integer("window", self.window, 1)
        horizon = validate.integer("horizon", self.horizon, 1)
        validate.one_of("normalize", self.normalize, NORMALIZE)
        if window < 2 and self.normalize in ("window", "last"):
            raise ValueError(f"window must be >= 2 with normalize={self.normalize!r} (a one-step window normalises "
                             f"to 0), got {window}; or use normalize='global'")
        return window, horizon

    def _regressor_params(self):
        """This forecaster's values of every TCNRegressor parameter (its ``normalize`` excepted: 'channel')."""
        names = [name for name in TCNRegressor._get_param_names() if name != "normalize"]
        return {**{name: getattr(self, name) for name in names}, "normalize": "channel"}

    def _check_exog(self, exog, n_timepoints, fitting, y_given=True):
        """exog checked against y's length and, at predict, against what fit saw: (n_timepoints, k) float64 or None
        (and k, at fit)."""
        if fitting:
            if exog is None:
                return None, 0
            exog, _ = _series("exog", exog)
            _check_aligned(exog, n_timepoints)
            return exog, exog.shape[1]
        if exog is None:
            if self.n_exog_ and y_given:
                raise ValueError(f"exog is None, but the forecaster was fitted with {self.n_exog_} exog channel(s): "
                                 f"give the series' exog with y")
            return None
        if not y_given:
            raise ValueError("exog was given without y: predict() after the fitted series reads the exog fit was "
                             "given; pass y too to forecast after another series")
        if not self.n_exog_:
            raise ValueError(f"exog was given (shape {np.shape(exog)}), but the forecaster was fitted without exog")
        exog, _ = _series("exog", exog)
        if exog.shape[1] != self.n_exog_:
            raise ValueError(f"exog has {exog.shape[1]} channel(s), the forecaster was fitted with {self.n_exog_}")
        _check_aligned(exog, n_timepoints)
        return exog

    # ---------------------------------------------------------------------------------------------------------
    # predict

    def predict(self, y=None, exog=None):
        """The ``horizon`` steps after the fitted series (y=None) or after ``y``: (horizon,) or (horizon, C)."""
        check_is_fitted(self, "regressor_")
        window = self.y_tail_.shape[0]
        if y is None:
            self._check_exog(exog, window, fitting=False, y_given=False)
            y, exog = self.y_tail_, self.exog_tail_
        else:
            y, _ = _series("y", y)
            if y.shape[1] != self.n_channels_:
                raise ValueError(f"y has {y.shape[1]} channel(s), the forecaster was fitted on {self.n_channels_}")
            if len(y) < window:
                raise ValueError(f"y has {len(y)} steps, fewer than window = {window}")
            exog = self._check_exog(exog, len(y), fitting=False)
        X = _inputs(y[-window:], None if exog is None else exog[-window:]).T[None]  # 1, C + k, window
        X, _, loc, scale = normalize_windows(X, None, self.n_channels_, self.normalize)
        forecast = self.regressor_.predict(X).reshape(-1, self.n_channels_)  # horizon, C: fit's row-major layout
        forecast = forecast * scale + loc  # the normalisation of fit, undone with this window's numbers
        return forecast[:, 0] if self.y_ndim_ == 1 else forecast

    # ---------------------------------------------------------------------------------------------------------
    # saving (pickling needs nothing here: regressor_ pickles itself)

    def save(self, path):
        """Writes the fitted forecaster to ``path`` in pytcn's checkpoint format (.npz, read without pickle): the
        inner regressor's model, and as JSON the forecaster's parameters and fitted attributes beside the
        regressor's own record. ``load_forecaster(path)`` (or ``pytcn.estimators.load_estimator``) reads it back;
        ``pytcn.load_model(path)`` reads the bare TCN."""
        check_is_fitted(self, "regressor_")
        fitted = {name: data.to_json(getattr(self, name)) for name in _SAVED}
        meta = {"model": self.regressor_.model_.config,
                "estimator": {"class": type(self).__name__, "params": data.params_to_json(self),
                              "fitted": fitted, "regressor": self.regressor_.record()}}
        save_checkpoint(path, self.regressor_.model_.state_dict(), meta)

    @property
    def history_(self):
        """The training history of the inner regressor (one dict per epoch), as the other estimators have it."""
        check_is_fitted(self, "regressor_")
        return self.regressor_.history_

    @property
    def monitor_(self):
        check_is_fitted(self, "regressor_")
        return self.regressor_.monitor_


#: fitted attributes save() writes, beside the regressor's record
_SAVED = ("y_ndim_", "n_channels_", "n_exog_", "n_timepoints_", "n_windows_", "y_tail_", "exog_tail_")


class _WindowRegressor(TCNRegressor):
    """The forecaster's inner regressor: a TCNRegressor whose validation split (with early stopping) is the last
    windows in time, not a random draw, with the ``gap_`` = horizon - 1 windows before them left out of training:
    neighbouring windows share all but one step, so windows drawn at random from the whole series would validate on
    steps the training windows hold, and the monitored loss would flatter the model."""

    def _split(self, n, y, rng):
        train, val = super()._split(n, y, rng)  # decides whether to hold out, and how many, and monitor_
        if len(val) == 0:
            return train, val
        n_val = len(val)
        if n - n_val - self.gap_ < 1:
            raise ValueError(f"early stopping holds out the last {n_val} of {n} windows and the {self.gap_} before "
                             f"them (horizon - 1, whose targets overlap the held-out ones): no window is left to "
                             f"train on; use a longer series or early_stopping=False")
        return np.arange(n - n_val - self.gap_), np.arange(n - n_val, n)


def load_forecaster(path, backend=None):
    """The TCNForecaster that ``forecaster.save(path)`` wrote, its model on ``backend`` (default: where it was
    fitted)."""
    meta, params, _, _ = load_checkpoint(path)
    record = meta.get("estimator")
    if not isinstance(record, dict) or record.get("class") != "TCNForecaster":
        raise CheckpointError(f"{path}: holds no pytcn TCNForecaster (meta has no 'estimator' record naming it)")
    try:
        forecaster = TCNForecaster(**record["params"])
        if backend is not None:
            forecaster.backend = backend
        for name in _SAVED:
            value = record["fitted"][name]
            is_array = name in ("y_tail_", "exog_tail_") and value is not None
            setattr(forecaster, name, np.array(value, dtype=np.float64) if is_array else value)
        regressor_record = record["regressor"]
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{path}: its forecaster does not load ({type(e).__name__}: {e})") from None
    forecaster.regressor_ = base.from_record(regressor_record, _WindowRegressor, meta["model"], params, path,
                                             backend)
    return forecaster


# -------------------------------------------------------------------------------------------------------------
# windows

def make_windows(z, y, window, horizon):
    """Every training case of a series: X (n, C_in, window) with X[i] = z[i : i + window].T, and
    Y (n, horizon, C) with Y[i] = y[i + window : i + window + horizon], n = T - window - horizon + 1.
    z: (T, C_in) the inputs, y: (T, C) the targets. Copies (the views of sliding_window_view are read-only and
    overlap)."""
    n = len(y) - window - horizon + 1
    X = sliding_window_view(z, window, axis=0)[:n]  # n, C_in, window
    Y = sliding_window_view(y[window:], horizon, axis=0)  # n, C, horizon
    return np.ascontiguousarray(X), np.ascontiguousarray(Y.transpose(0, 2, 1))


def normalize_windows(X, Y, n_channels, kind):
    """(X, Y, loc (n, C), scale (n, C)): the first ``n_channels`` channels of every window X[i] (C_in, window), and
    its targets Y[i] (horizon, C) when given, as ``(v - loc[i]) / scale[i]``, where, over the window's steps,
    'window': loc = the mean, scale = the standard deviation (0 -> 1); 'last': loc = the last value, scale = 1;
    'global': loc = 0, scale = 1. Channels from n_channels on (exog) are left alone. New arrays."""
    target = X[:, :n_channels, :]  # n, C, window
    n = len(X)
    if kind == "window":
        loc = target.mean(axis=2)
        std = target.std(axis=2)
        scale = np.where(std > 0, std, 1.0)
    elif kind == "last":
        loc, scale = target[:, :, -1], np.ones((n, n_channels))
    else:
        loc, scale = np.zeros((n, n_channels)), np.ones((n, n_channels))
    X = X.copy()
    X[:, :n_channels, :] = (target - loc[:, :, None]) / scale[:, :, None]
    if Y is not None:
        Y = (Y - loc[:, None, :]) / scale[:, None, :]
    return X, Y, loc, scale


def _check_aligned(exog, n_timepoints):
    if len(exog) != n_timepoints:
        raise ValueError(f"exog has {len(exog)} steps, y has {n_timepoints}: past covariates are aligned with y "
                         f"step for step")


def _inputs(y, exog):
    """(T, C + k): y's channels, then exog's."""
    return y if exog is None else np.concatenate([y, exog], axis=1)


def _series(name, value):
    """A series checked: ((T, C) float64, its ndim 1 or 2). Real numbers, finite, at least one step and channel."""
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (n_timepoints,) or 2-D (n_timepoints, n_channels), time first; got "
                         f"shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must have at least one step and one channel, got shape {array.shape}")
    ndim = array.ndim
    array = np.array(array, dtype=np.float64).reshape(len(array), -1)
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"{name} contains NaN or infinity (first at step {bad[0]}, channel {bad[1]}: "
                         f"{array[tuple(bad)]})")
    return array, ndim


# -------------------------------------------------------------------------------------------------------------
# backtest

def backtest(forecaster, y, start, step=1, exog=None, refit=False):
    """Rolling-origin evaluation: for each origin o = start, start + step, ... while o + horizon <= len(y), the
    forecast of y[o : o + horizon] from y[:o] (and exog[:o]), compared with it.

    refit=False: ``forecaster`` is fitted already (on data ending at or before ``start``, for an honest test) and
    each forecast is ``forecaster.predict(y[:o], exog[:o])``; start >= window. refit=True: a clone of
    ``forecaster`` is fitted on y[:o] at each origin (its random_state kept), and the forecaster given is left
    as it was; start >= window + horizon.

    Returns a dict of NumPy arrays:
        origins (n,)                 the o of each forecast
        forecasts, actuals           (n, horizon) for a 1-D y, (n, horizon, C) for a 2-D one
        mae, rmse (n,)               each origin's mean absolute and root-mean-square error over its horizon (and
                                     channels)
        mean_mae, mean_rmse ()       their means over the origins
    """
    if not isinstance(forecaster, TCNForecaster):
        raise TypeError(f"forecaster must be a TCNForecaster, got {type(forecaster).__name__}")
    if not refit:
        check_is_fitted(forecaster, "regressor_")
    window, horizon = forecaster._check_params()
    y_checked, y_ndim = _series("y", y)
    if exog is not None:
        exog_checked, _ = _series("exog", exog)
        _check_aligned(exog_checked, len(y_checked))
    lowest = window + horizon if refit else window
    validate.integer("start", start, lowest)
    step = validate.integer("step", step, 1)
    if start + horizon > len(y_checked):
        raise ValueError(f"start + horizon = {start} + {horizon} is past the end of y ({len(y_checked)} steps): "
                         f"no forecast to compare")
    origins = np.arange(start, len(y_checked) - horizon + 1, step)

    forecasts = []
    for o in origins:
        past_exog = None if exog is None else exog_checked[:o]
        if refit:
            model = clone(forecaster).fit(y_checked[:o], past_exog)
        else:
            model = forecaster
        forecasts.append(model.predict(y_checked[:o], past_exog).reshape(horizon, -1))
    forecasts = np.array(forecasts)  # n, horizon, C
    actuals = np.array([y_checked[o:o + horizon] for o in origins])  # n, horizon, C
    errors = forecasts - actuals
    mae = np.abs(errors).mean(axis=(1, 2))
    rmse = np.sqrt((errors ** 2).mean(axis=(1, 2)))
    if y_ndim == 1:
        forecasts, actuals = forecasts[:, :, 0], actuals[:, :, 0]
    return {"origins": origins, "forecasts": forecasts, "actuals": actuals, "mae": mae, "rmse": rmse,
            "mean_mae": mae.mean(), "mean_rmse": rmse.mean()}
