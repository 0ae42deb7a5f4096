"""What TCNClassifier and TCNRegressor share: their parameters, fit, the batched forward, saving and pickling.

The subclasses say only how targets become what the loss eats (``_encode_targets``) and how outputs become
predictions. Design and defaults: docs/design/estimators.md.
"""
import math
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..nn.architecture import check_dilations, receptive_field
from ..nn.model import TCN
from ..nn.optim import Adam
from ..runtime.archive import CheckpointError, load_checkpoint, save_checkpoint
from ..runtime.backends import get_backend
from ..training.epochs import EpochLoop
from ..training.loop import NonFiniteLoss, TrainingError, training_step
from . import data
from .runs import FitInputError

#: early_stopping='auto' holds out a validation split from this many training cases on: below, 10% is fewer than 100
#: cases, whose loss is too noisy to pick the best epoch by (it kept epoch 2 of ArrowHead's 36 cases:
#: docs/design/estimators.md), and the training loss is monitored instead, as FCN and ResNet do
EARLY_STOPPING_CASES = 1000
#: fitted attributes that save() writes into the file's meta (as JSON) besides the model and classes_
_SAVED = ("gap_", "n_features_in_", "n_channels_", "input_ndim_", "dilations_", "mean_", "scale_", "n_iter_",
          "best_epoch_", "monitor_", "history_")
PREDICT_BATCH = 256


class TCNEstimatorBase(BaseEstimator):
    """A TCN with a global-average-pooling head, trained by fit on a collection of series. See TCNClassifier."""

    def __init__(self, nb_filters=64, kernel_size=3, dilations=None, nb_stacks=1, use_skip_connections=True,
                 dropout_rate=0.0, use_batch_norm=False, normalize="channel", max_epochs=200, batch_size="auto",
                 lr=1e-3, lr_patience=10, lr_factor=0.5, min_lr=1e-4, early_stopping="auto", validation_fraction=0.1,
                 n_iter_no_change=30,
                 max_grad_norm=1.0, dtype="float32", random_state=None, verbose=0, backend="cpu"):
        self.nb_filters = nb_filters
        self.kernel_size = kernel_size
        self.dilations = dilations
        self.nb_stacks = nb_stacks
        self.use_skip_connections = use_skip_connections
        self.dropout_rate = dropout_rate
        self.use_batch_norm = use_batch_norm
        self.normalize = normalize
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # (n_cases, n_channels, n_timepoints); the checks use 2-D only
        return tags

    # ---------------------------------------------------------------------------------------------------------
    # inputs

    def _validate_X(self, X, y=None, reset=True):
        """(series: list of (T_i, C) float64 arrays, y or None). reset=True (fit): y is required; sets
        n_features_in_ (X.shape[1]: time steps for 2-D X, channels for 3-D X and lists), n_channels_ and input_ndim_.
        reset=False (predict): X only, checked against what fit saw."""
        if reset and y is None:  # scikit-learn's words (check_requires_y_none matches them)
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        if data.is_collection(X):
            series = data.check_collection("X", X, None if reset else self.n_channels_)
            if reset:
                self.n_features_in_ = self.n_channels_ = series[0].shape[1]
                self.input_ndim_ = "list"
            elif self.input_ndim_ == 2:
                raise ValueError("X is a list of series, but the estimator was fitted on a 2-D array, whose columns "
                                 f"are {self.n_features_in_} time steps; give a 2-D array of that width")
            if y is not None:
                y = self._check_y_for_collection(y, len(series))
            return series, y
        if not reset and self.input_ndim_ == 2 and isinstance(X, np.ndarray) and X.ndim == 3:
            if X.shape[1] != 1:  # aeon's (n, 1, T) is the (n, T) of fit; more channels are not
                raise ValueError(f"X has {X.shape[1]} channels (shape {X.shape}), but {type(self).__name__} was "
                                 f"fitted on univariate series (2-D X of {self.n_features_in_} time steps)")
            X = X[:, 0, :]
        kwargs = dict(allow_nd=True, dtype=[np.float64, np.float32])
        if y is None:
            X = validate_data(self, X, reset=reset, **kwargs)
        else:
            X, y = validate_data(self, X, y, reset=reset, **self._y_kwargs(), **kwargs)
        if X.ndim not in (2, 3):
            raise ValueError(f"X must be 2-D (n_cases, n_timepoints), 3-D (n_cases, n_channels, n_timepoints) or a "
                             f"list of 2-D (n_channels, n_timepoints) arrays, got shape {X.shape}")
        if X.shape[-1] == 0:
            raise ValueError(f"X must have at least one time step, got shape {X.shape}")
        if reset:
            self.input_ndim_ = X.ndim
            self.n_channels_ = 1 if X.ndim == 2 else X.shape[1]
        elif X.ndim != self.input_ndim_ and not (self.input_ndim_ == "list" and X.ndim == 3):
            raise ValueError(f"X is {X.ndim}-D, but the estimator was fitted on "
                             f"{'a list of series' if self.input_ndim_ == 'list' else f'{self.input_ndim_}-D X'}")
        return data.array_to_series(X), y

    def _check_y_for_collection(self, y, n):
        from sklearn.utils.validation import check_array, check_consistent_length

        y = check_array(y, ensure_2d=False, dtype=None if not self._is_regressor() else "numeric",
                        ensure_all_finite=True, input_name="y")
        if not self._is_regressor():  # one label per case, as with an array X: (n, 1) raveled with a warning
            from sklearn.utils.validation import column_or_1d

            y = column_or_1d(y, warn=True)
        check_consistent_length(np.empty(n), y)
        return y

    def _is_regressor(self):
        return False

    def _y_kwargs(self):
        return {}

    # ---------------------------------------------------------------------------------------------------------
    # fit

    def fit(self, X, y):
        """Trains a new model on X (see the class's docstring for the layouts) and y. Returns self.

        Ctrl-C stops it between two training steps with a KeyboardInterrupt; the estimator is then not fitted.
        (``pytcn fit`` trains in a run folder instead, checkpointed after every epoch and resumable.)"""
        return self._fit(X, y)

    def _fit(self, X, y, run=None):
        """_train, and on any error or interruption, the estimator left not fitted: a refit that fails must not
        leave the new classes_ (or channels, or normalisation) beside the old model_."""
        try:
            return self._train(X, y, run)
        except BaseException:
            self._forget_fit()
            raise

    def _forget_fit(self):
        """Deletes what fit learned: the attributes whose names end in an underscore (scikit-learn's convention)."""
        for name in [name for name in vars(self) if name.endswith("_") and not name.startswith("_")]:
            delattr(self, name)

    def _train(self, X, y, run=None):
        """fit, in memory (``run`` None) or in a run folder (``run``: a pytcn.estimators.runs.FitRun, which
        checkpoints every epoch and may hold a checkpoint to resume from). Returns self, or None when Ctrl-C
        interrupted a run in a folder (its checkpoint is written)."""
        try:  # everything that checks the parameters (before any fitted attribute is set), then the data
            self._check_params()
            series, y = self._validate_X(X, y, reset=True)
            targets, outputs, loss_fn = self._encode_targets(y)
            seed = self._seed()

            normaliser = data.Normaliser(self.normalize).fit(series)
            self.mean_, self.scale_ = normaliser.mean, normaliser.scale
            series = normaliser.transform(series)
            T_max = max(len(s) for s in series)
            self.dilations_ = self._dilations(T_max)

            model = TCN(input_channels=self.n_channels_, outputs=outputs, nb_filters=self.nb_filters,
                        kernel_size=self.kernel_size, nb_stacks=self.nb_stacks, dilations=self.dilations_,
                        use_skip_connections=self.use_skip_connections, dropout_rate=self.dropout_rate,
                        use_batch_norm=self.use_batch_norm, pooling="mean", padding="causal", dtype=self.dtype,
                        seed=seed, backend=self.backend)
            optimizer = Adam(model.params, lr=self.lr, max_grad_norm=self.max_grad_norm, backend=self.backend)
            train_idx, val_idx = self._split(len(series), y, np.random.default_rng([seed, 1]))
            batch_size = data.auto_batch_size(len(train_idx)) if self.batch_size == "auto" else self.batch_size
            self._check_batch_norm(series, len(train_idx), batch_size)
        except (ValueError, TypeError) as e:  # in a run folder: the user's data or options (pytcn fit says so)
            if run is None:
                raise
            raise FitInputError(str(e)) from None
        loop = EpochLoop(len(train_idx), batch_size, self.max_epochs, np.random.default_rng([seed, 2]),
                         progress="epochs" if self.verbose else None, desc=type(self).__name__)
        schedule = _Schedule()
        if run is not None and run.resuming:
            run.restore(loop, model, optimizer, schedule)

        def step(idx):
            idx = train_idx[idx]
            x, lengths = data.padded(series, idx, model.dtype)
            try:
                loss, _ = training_step(model, optimizer, loss_fn, x, targets[idx], lengths=lengths)
            except NonFiniteLoss as e:
                raise TrainingError(f"{type(self).__name__}.fit: the loss is {e.loss} in epoch {loop.epoch + 1}"
                                    f"{run.kept() if run is not None else ''}; try a lower lr or "
                                    f"max_grad_norm") from None
            return loss, 0.0

        def end_epoch(sums):
            record = dict(epoch=loop.epoch + 1, train_loss=sums["case_loss"] / sums["cases"], lr=optimizer.lr)
            if len(val_idx):
                record["val_loss"] = _mean_loss(model, series, targets, val_idx, loss_fn)
            schedule.update(record["epoch"], record[self.monitor_], model, optimizer, self)
            return record

        def save(interrupted):
            if run is not None:
                run.save(self, loop, model, optimizer, schedule, interrupted)

        def stop():
            return self.n_iter_no_change is not None and schedule.since_best >= self.n_iter_no_change

        interrupted = loop.run(step, end_epoch, save, stop)
        if interrupted:
            if run is None:
                raise KeyboardInterrupt(f"{type(self).__name__}.fit was interrupted in epoch {loop.epoch + 1}")
            return None
        model.load_state_dict(schedule.best_state)
        self.model_ = model
        self.history_ = loop.history
        self.n_iter_ = len(loop.history)
        self.best_epoch_ = schedule.best_epoch
        return self

    def _check_batch_norm(self, series, n_train, batch_size):
        """Batch normalisation in training needs two values or more per channel in a batch: refused, naming X,
        where a batch could hold a single series of one step (rather than an error about the model's inner x)."""
        if not self.use_batch_norm or min(len(s) for s in series) > 1:
            return
        if batch_size == 1 or n_train % batch_size == 1:
            n, C = len(series), series[0].shape[1]
            if self.input_ndim_ == 2:  # scikit-learn's check_fit2d_1feature looks for "1 feature(s)"
                what = f"X of shape {(n, 1)} holds series of one step (1 feature(s) in scikit-learn's 2-D layout)"
            elif self.input_ndim_ == 3:
                what = f"X of shape {(n, C, 1)} holds series of one step"
            else:
                what = f"X, a list of {n} series, holds series of one step"
            raise ValueError(f"{what}, and with "
                             f"batch_size={batch_size} and {n_train} training cases a batch may hold a single one: "
                             f"use_batch_norm=True needs two values or more per channel in every batch; give a "
                             f"batch_size that leaves no batch of one, longer series, or use_batch_norm=False")

    def _seed(self):
        """The seed of the model's initial weights, its dropout masks, the shuffle and the validation split: an int
        random_state itself, else one drawn from it (None: fresh entropy, as scikit-learn's check_random_state).
        random_state is checked by _check_params."""
        if data.is_integer(self.random_state):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _check_params(self):
        """The parameters fit reads before the data, each refused by name: called first, so that a bad one stops fit
        before any fitted attribute is set. (The model's other arguments, nb_filters, dropout_rate, ..., are checked by
        pytcn.TCN, still before training; fit's clean-up leaves the estimator not fitted if they fail.)"""
        from ..runtime import validate

        validate.integer("kernel_size", self.kernel_size, 1)
        validate.integer("nb_stacks", self.nb_stacks, 1)
        if self.dilations is not None:
            self._checked_dilations()
        validate.integer("max_epochs", self.max_epochs, 1)
        validate.real("lr", self.lr, 0.0)  # Adam's own rules, checked here before the data
        if self.max_grad_norm is not None:
            validate.real("max_grad_norm", self.max_grad_norm, 0.0, low_open=True)
        if not (self.batch_size == "auto" or data.is_integer(self.batch_size) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be 'auto' or an integer >= 1, got {self.batch_size!r}")
        if isinstance(self.early_stopping, str):
            if self.early_stopping != "auto":
                raise ValueError(f"early_stopping must be 'auto', True or False, got {self.early_stopping!r}")
        elif not isinstance(self.early_stopping, (bool, np.bool_)):  # 1 is not True: NumPy's bools are
            raise TypeError(f"early_stopping must be 'auto', True or False, got {self.early_stopping!r} of type "
                            f"{type(self.early_stopping).__name__}")
        is_random_state = isinstance(self.random_state, np.random.RandomState)
        if not (self.random_state is None or is_random_state or
                data.is_integer(self.random_state) and 0 <= self.random_state < 2**32):
            raise ValueError(f"random_state must be None, an integer in [0, 2**32) or a numpy RandomState, got "
                             f"{self.random_state!r}")
        validate.real("validation_fraction", self.validation_fraction, 0.0, 1.0, low_open=True, high_open=True)
        if self.n_iter_no_change is not None:
            validate.integer("n_iter_no_change", self.n_iter_no_change, 1)
        validate.integer("lr_patience", self.lr_patience, 1)
        validate.real("lr_factor", self.lr_factor, 0.0, 1.0, low_open=True)
        validate.real("min_lr", self.min_lr, 0.0)
        validate.integer("verbose", self.verbose, 0)
        if self.normalize not in data.NORMALIZE:
            raise ValueError(f"normalize must be one of {data.NORMALIZE}, got {self.normalize!r}")

    def _dilations(self, T_max):
        """The dilations of the model: sized so that its receptive field covers the longest training series, or the
        user's, never rewritten (a warning when their field is shorter than that series)."""
        if self.dilations is None:
            if self.kernel_size == 1 and T_max > 1:
                raise ValueError(f"kernel_size=1 sees one step whatever the dilations, so none can be sized to the "
                                 f"longest training series ({T_max} steps): give kernel_size >= 2, or dilations")
            return data.auto_dilations(self.kernel_size, self.nb_stacks, T_max, receptive_field)
        dilations = self._checked_dilations()
        R = receptive_field(self.kernel_size, dilations, self.nb_stacks)
        if R < T_max:
            enough = ("no dilations would: kernel_size=1 sees one step" if self.kernel_size == 1 else
                      f"dilations={data.auto_dilations(self.kernel_size, self.nb_stacks, T_max, receptive_field)} "
                      f"would, or dilations=None sizes them from the data")
            warnings.warn(f"the receptive field of dilations={list(dilations)} with kernel_size={self.kernel_size} "
                          f"and nb_stacks={self.nb_stacks} is {R} steps, shorter than the longest training series "
                          f"({T_max} steps): no output sees a whole series ({enough})", UserWarning, stacklevel=4)
        return dilations

    def _checked_dilations(self):
        """The user's dilations as a list of Python ints; never truncated: 1.5 is not 1, nor True 1."""
        dilations = self.dilations
        if isinstance(dilations, (list, tuple, np.ndarray)) and not all(data.is_integer(d) for d in dilations):
            raise TypeError(f"dilations must be integers, got {data.to_json(list(dilations))!r}")
        return check_dilations("dilations", dilations)  # a list, not empty, each in [1, 2**31 - 1]

    def _split(self, n, y, rng):
        """(train indices, validation indices). With early stopping (``early_stopping=True``, or 'auto' and at least
        EARLY_STOPPING_CASES cases), exactly floor(n * validation_fraction) cases are held out and their loss is
        monitored; without, none are held out and the training loss is monitored (``monitor_`` says which).

        For a classifier whose every class has 2 cases or more the split is stratified: each class gives its share
        of the held-out cases, rounded so that the shares add up to that count, and keeps at least one case on each
        side. Where that cannot be (fewer held-out cases than classes, or fewer cases left to train on than
        classes), early_stopping=True is refused naming validation_fraction (as scikit-learn's train_test_split
        refuses such a stratified split), and 'auto' holds out that many cases unstratified."""
        auto = isinstance(self.early_stopping, str)  # 'auto'; else a bool, NumPy's included (_check_params)
        on = n >= EARLY_STOPPING_CASES if auto else bool(self.early_stopping)
        n_val = math.floor(n * self.validation_fraction) if on else 0
        if on and not 1 <= n_val < n:
            raise ValueError(f"early_stopping=True holds out floor({n} cases * validation_fraction="
                             f"{self.validation_fraction}) = {n_val} cases for validation; it needs 1 to {n - 1}: "
                             f"raise validation_fraction or set early_stopping=False")
        if not on:
            self.monitor_ = "train_loss"
            return np.arange(n), np.arange(0)
        self.monitor_ = "val_loss"
        order = rng.permutation(n)
        strata = self._strata(y)
        if strata is not None:
            n_classes = len(np.unique(strata))
            if not n_classes <= n_val <= n - n_classes:
                if not auto:
                    short = "held out" if n_val < n_classes else "left to train on"
                    raise ValueError(f"early_stopping=True holds out floor({n} cases * validation_fraction="
                                     f"{self.validation_fraction}) = {n_val} cases, which leaves fewer cases "
                                     f"{short} ({min(n_val, n - n_val)}) than the {n_classes} classes a stratified "
                                     f"split needs one case of each on both sides: give a validation_fraction "
                                     f"between {n_classes / n:g} and {(n - n_classes) / n:g}, or set "
                                     f"early_stopping=False")
                strata = None  # 'auto': that many cases, unstratified
        if strata is None:
            return np.sort(order[n_val:]), np.sort(order[:n_val])
        counts = np.bincount(strata)
        val = []
        for k, share in enumerate(_stratified_shares(counts, n_val)):
            val.extend(order[strata[order] == k][:share])
        val = np.sort(np.array(val, dtype=np.int64))
        return np.setdiff1d(np.arange(n), val), val

    def _strata(self, y):
        return None

    # ---------------------------------------------------------------------------------------------------------
    # predict

    def _outputs(self, X):
        """The model's outputs (n_cases, outputs) as float64 NumPy, for X checked and normalised as in fit."""
        check_is_fitted(self, "model_")
        series, _ = self._validate_X(X, reset=False)
        series = data.Normaliser(self.normalize, self.mean_, self.scale_).transform(series)
        out = []
        for start in range(0, len(series), PREDICT_BATCH):
            x, lengths = data.padded(series, range(start, min(start + PREDICT_BATCH, len(series))), self.model_.dtype)
            out.append(self.model_.backend.to_host(self.model_.forward(x, lengths=lengths)))
        return np.concatenate(out).astype(np.float64)

    # ---------------------------------------------------------------------------------------------------------
    # saving and pickling

    def __getstate__(self):
        state = super().__getstate__()
        if "model_" in state:  # a TCN holds a lock and per-thread arenas: its architecture and arrays travel
            state = dict(state)
            model = state.pop("model_")
            state["_model_saved"] = (model.config, model.state_dict())
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_model_saved", None)
        super().__setstate__(state)
        if saved is not None:
            config, arrays = saved
            self.model_ = TCN(**config)
            self.model_.load_state_dict(arrays)

    def save(self, path):
        """Writes the fitted estimator to ``path`` in pytcn's checkpoint format (.npz, read without pickle):
        the model's parameters, and its configuration, the estimator's parameters and its fitted attributes as JSON.
        ``pytcn.estimators.load_estimator(path)`` reads it back."""
        check_is_fitted(self, "model_")
        meta = {"model": self.model_.config, "estimator": self.record()}
        save_checkpoint(path, self.model_.state_dict(), meta)

    def record(self):
        """The fitted estimator as JSON (its class, get_params(), the fitted attributes; not the model's arrays):
        what save() writes beside the model, and what from_record() reads."""
        check_is_fitted(self, "model_")
        fitted = {name: data.to_json(getattr(self, name)) for name in _SAVED if hasattr(self, name)}
        fitted.update(self._saved_targets())
        return {"class": type(self).__name__, "params": data.params_to_json(self), "fitted": fitted}

    def _saved_targets(self):
        return {}


def load_estimator(path, classes, backend=None):
    """The estimator saved in ``path`` by ``save``; ``classes``: class name -> class. ``backend``: where its model
    runs (default: where it was fitted)."""
    meta, params, _, _ = load_checkpoint(path)
    record = meta.get("estimator")
    if not isinstance(record, dict) or record.get("class") not in classes:
        raise CheckpointError(f"{path}: holds no pytcn estimator (meta has no 'estimator' record naming one of "
                              f"{', '.join(classes)})")
    return from_record(record, classes[record["class"]], meta["model"], params, path, backend)


def from_record(record, cls, model_config, params, path, backend=None):
    """The fitted estimator of class ``cls`` that ``record()`` described, its model built from ``model_config`` and
    ``params`` (on ``backend`` if given); a record that does not load is a CheckpointError naming ``path``."""
    if backend is not None:
        get_backend(backend)  # a backend missing here is the caller's to fix, not the file's
    try:
        est = cls(**record["params"])
        if backend is not None:
            est.backend = backend
        for name, value in record["fitted"].items():
            setattr(est, name, data.from_json(name, value))
        est._restore_targets(record["fitted"])
        est.model_ = TCN(**dict(model_config, **({"backend": backend} if backend is not None else {})))
        est.model_.load_state_dict(params)
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{path}: its estimator does not load ({type(e).__name__}: {e})") from None
    return est


class _Schedule:
    """What the estimators' training decides at the end of each epoch from the monitored loss: the best epoch and a
    copy of its weights (restored when fit ends), and ReduceLROnPlateau (Keras's rule, as FCN and ResNet use it:
    lr * lr_factor after lr_patience epochs without a new best, not below min_lr; a rate already at or below min_lr
    is left alone, never raised to it). ``state()``/``restore()`` carry it through a run folder's checkpoint."""

    FIELDS = ("best", "best_epoch", "since_best", "plateau_best", "plateau_waited")

    def __init__(self):
        self.best, self.best_epoch, self.since_best = math.inf, 0, 0
        self.plateau_best, self.plateau_waited = math.inf, 0
        self.best_state = None

    def update(self, epoch, monitored, model, optimizer, est):
        if monitored < self.best:
            self.best, self.best_epoch, self.best_state, self.since_best = monitored, epoch, model.state_dict(), 0
        else:
            self.since_best += 1
        if monitored < self.plateau_best:
            self.plateau_best, self.plateau_waited = monitored, 0
        else:
            self.plateau_waited += 1
        if self.plateau_waited >= est.lr_patience and optimizer.lr > est.min_lr:
            optimizer.lr = max(optimizer.lr * est.lr_factor, est.min_lr)
            self.plateau_waited = 0

    def state(self):
        return {k: (None if getattr(self, k) == math.inf else getattr(self, k)) for k in self.FIELDS}

    def restore(self, state):
        for k in self.FIELDS:
            setattr(self, k, math.inf if state[k] is None else state[k])


def _stratified_shares(counts, n_val):
    """How many of each class's ``counts`` cases go to a validation split of exactly ``n_val`` cases, each share as
    near as can be to n_val * count / n, and within [1, count - 1] (needs len(counts) <= n_val <= n - len(counts)).
    Largest remainders: every share starts at its ideal rounded down and clipped to the bounds, then the shares
    furthest below (or above) their ideal gain (or lose) one until the total is n_val."""
    ideal = n_val * counts / counts.sum()
    shares = np.clip(np.floor(ideal).astype(np.int64), 1, counts - 1)
    while shares.sum() < n_val:
        room = np.where(shares < counts - 1, ideal - shares, -np.inf)
        shares[np.argmax(room)] += 1
    while shares.sum() > n_val:
        room = np.where(shares > 1, ideal - shares, np.inf)
        shares[np.argmin(room)] -= 1
    return shares


def _mean_loss(model, series, targets, idx, loss_fn):
    """The mean loss over the cases ``idx`` (inference mode), in batches of PREDICT_BATCH."""
    total = 0.0
    for start in range(0, len(idx), PREDICT_BATCH):
        batch = idx[start:start + PREDICT_BATCH]
        x, lengths = data.padded(series, batch, model.dtype)
        loss, _ = loss_fn(model.forward(x, lengths=lengths), targets[batch], model.backend, None)
        total += loss * len(batch)
    return total / len(idx)
