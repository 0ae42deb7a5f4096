"""The training loop: epochs of shuffled mini-batches, validation, metrics, checkpoints, and an exact resume.

A run lives in one output folder:

    checkpoint.npz     the latest state (see pytcn.runtime.archive), written atomically after every epoch and on Ctrl-C
    metrics.jsonl      one JSON object per finished epoch
    curve.png          the learning curves, drawn when the run ends
    best.npz           with keep_best (--keep-best): the weights of the epoch with the lowest validation loss so far, a
                       saved model (pytcn.load_model) that also records its epoch and its run; written atomically
                       after the checkpoint of that epoch (a run stopped between the two writes it at --resume, from
                       the checkpoint, which holds the same weights)

Exact resume: everything random is drawn from generators whose states the checkpoint keeps: the shuffle of each
epoch (the generator's state *before* the epoch's permutation was drawn, plus the index of the next batch, so that a
run stopped in the middle of an epoch redraws the same permutation and continues at the same batch) and the dropout
masks (the model's generator). With the same thread count the kernels add in the same order, so a run stopped after
epoch k and resumed ends with bit-for-bit the same parameters as one that never stopped.
"""
import json
import math
import os
import zipfile

import numpy as np

from ..nn.losses import warmup_mask
from ..nn.model import TCN
from ..nn.optim import Adam, RMSprop
from ..nn.recurrent import GRU, LSTM
from ..runtime.archive import DAMAGED_ARCHIVE, CheckpointError, load_checkpoint, save_checkpoint
from ..runtime.files import write_atomic
from ..tasks import copy_memory
from .config import (  # noqa: F401 (default_config: part of this API)
    SHAPES,
    ConfigError,
    check_config,
    default_config,
    with_later_fields,
)
from .epochs import EpochLoop
from .taskdata import make_task

MODEL_KEYS = ("nb_filters", "kernel_size", "nb_stacks", "dilations", "use_skip_connections", "dropout_rate",
              "dropout_type", "padding", "pooling", "use_weight_norm", "use_layer_norm", "use_batch_norm",
              "kernel_initializer")


class TrainingError(RuntimeError):
    """A run that cannot go on (a NaN or infinite loss, say); the message says what and where."""


def load_run(path):
    """load_checkpoint (pytcn/runtime/archive.py) for a training run (what `pytcn train` writes), not a saved model:
    (meta, params, adam_m, adam_v), the run's configuration checked."""
    meta, params, adam_m, adam_v = load_checkpoint(path)
    if "fit" in meta:  # the checkpoint of pytcn fit or pytcn forecast: an estimator's run, not a model's
        raise CheckpointError(f"{path}: is a run of pytcn fit (or forecast), not of pytcn train: continue it with "
                              f"pytcn fit --resume --out FOLDER; its fitted estimator, once the fit ends, is "
                              f"FOLDER/model.npz (pytcn predict, pytcn.estimators.load_estimator)")
    if "config" not in meta:
        raise CheckpointError(f"{path}: is a saved model, not a training run (it has no training configuration); "
                              f"load it with pytcn.load_model")
    if not isinstance(meta["config"], dict):
        raise CheckpointError(f"{path}: its training configuration is not a mapping of fields "
                              f"(got {type(meta['config']).__name__})")
    meta["config"] = with_later_fields(meta["config"])
    try:
        check_config(meta["config"])
    except ConfigError as e:
        raise CheckpointError(f"{path}: its training configuration is damaged: {e.field} {e.problem}") from None
    problem = _run_problem(meta)
    if problem:
        raise CheckpointError(f"{path}: its run record is damaged: {problem}")
    return meta, params, adam_m, adam_v


def _count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


#: what a run's checkpoint records besides its configuration (Trainer.checkpoint writes them), and how each is read
HISTORY_FIELDS = ("epoch", "step", "train_loss", "val_loss", "val_metric")


def _run_problem(meta):
    """What is wrong with the fields of a run's metadata that resuming, ``info`` and ``evaluate`` read, or None."""
    missing = [key for key in ("epoch", "batch", "step", "epoch_shuffle_state", "dropout_state", "history")
               if key not in meta]
    if missing:
        return f"{missing[0]} is missing"
    for key in ("epoch", "batch", "step"):
        if not _count(meta.get(key)):
            return f"{key} must be a count (an integer >= 0), got {meta.get(key, 'nothing')!r}"
    if meta["step"] >= 2 ** 63:  # the optimizer's kernels take it as an int64
        return f"step must be below 2**63 (a count of training steps), got {meta['step']}"
    if meta.get("epoch_sums") is not None and not isinstance(meta["epoch_sums"], dict):
        return f"epoch_sums must be a mapping of the epoch's running sums, got {meta['epoch_sums']!r}"
    for key in ("epoch_shuffle_state", "dropout_state"):
        if not isinstance(meta.get(key), dict):
            return f"{key} must be a random generator's state (a mapping), got {meta.get(key, 'nothing')!r}"
    history = meta.get("history")
    if not isinstance(history, list):
        return f"history must be a list of epochs, got {history!r}"
    for k, h in enumerate(history):
        missing = [f for f in HISTORY_FIELDS if not isinstance(h, dict) or not isinstance(h.get(f), (int, float))]
        if missing:
            return f"history[{k}] has no number {missing[0]!r}"
    if not isinstance(meta.get("elapsed", 0.0), (int, float)):
        return f"elapsed must be a number of seconds, got {meta['elapsed']!r}"
    return None


def build_model(config):
    """The model a configuration describes (initialised from its seed): a TCN, or a recurrent baseline."""
    inputs, outputs, return_sequences = SHAPES[config["task"]]
    if config["model"] in ("gru", "lstm"):
        extra = {"forget_bias": config["forget_bias"]} if config["model"] == "lstm" else {}
        return (GRU if config["model"] == "gru" else LSTM)(
            input_channels=inputs, outputs=outputs, return_sequences=return_sequences,
            hidden_size=config["hidden_size"], num_layers=config["num_layers"], dtype=config["dtype"],
            seed=config["seed"], backend=config["backend"],
            **extra)
    return TCN(input_channels=inputs, outputs=outputs, return_sequences=return_sequences, dtype=config["dtype"],
               seed=config["seed"], backend=config["backend"], **{k: config[k] for k in MODEL_KEYS})


def build(config, weights=None):
    """(task data, model, optimizer) for a configuration; with ``weights`` (name -> array, read_weights), the model
    starts from them, checked before the task's data are made."""
    model = build_model(config)
    if weights is not None:
        start_from(model, weights, config["initial_weights"])
    task = make_task(config["task"], config["length"], config["seed"], config["train_size"], config["val_size"],
                     config["test_size"], config["dataset"], config["data_dir"], config["permute"])
    kind = RMSprop if config["optimizer"] == "rmsprop" else Adam  # each with torch's defaults but the learning rate
    optimizer = kind(model.params, lr=config["lr"], max_grad_norm=config["max_grad_norm"], backend=config["backend"])
    return task, model, optimizer


def read_weights(path):
    """The arrays of a weights file, name -> array, read without pickle: a pytcn file (a saved model or a run's
    checkpoint, or a run's folder: its parameters), or any other .npz, whose arrays are taken as they are named
    (pytcn's parameters have PyTorch's names and layouts: a locuslab/TCN model's state_dict fits once
    ``pytcn.interop.from_locuslab`` has dropped its aliases). ConfigError naming initial_weights for a file that
    cannot be read, or that holds a value that is not finite."""
    if os.path.isdir(path):  # a run's folder: its checkpoint, as `pytcn evaluate` and `info` take it
        if not os.path.isfile(os.path.join(path, "checkpoint.npz")):
            raise ConfigError("initial_weights", f"{path}: is a folder without a checkpoint.npz; give a weights "
                                                 f"file or a run's folder")
        path = os.path.join(path, "checkpoint.npz")
    if not os.path.isfile(path):
        raise ConfigError("initial_weights", f"{path}: no such file")
    if not os.access(path, os.R_OK):  # is_zipfile would swallow the PermissionError and blame the content
        raise ConfigError("initial_weights", f"{path}: cannot be read (permission denied)")
    if not zipfile.is_zipfile(path):
        raise ConfigError("initial_weights", f"{path}: is not an .npz archive (a zip of arrays, as numpy.savez "
                                             f"writes)")
    try:
        with np.load(path, allow_pickle=False) as archive:  # a zip: an NpzFile, its arrays read as they are named
            pytcn_file = "format" in archive.files
            arrays = None if pytcn_file else {name: archive[name] for name in archive.files}
    except (ValueError, *DAMAGED_ARCHIVE) as e:  # ValueError: also a pickled entry (never loaded, so never run)
        raise ConfigError("initial_weights", f"{path}: is not a readable .npz of arrays ({type(e).__name__}: "
                                             f"{e})") from None
    if pytcn_file:
        try:
            arrays = load_checkpoint(path)[1]
        except CheckpointError as e:
            raise ConfigError("initial_weights", str(e)) from None
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray):  # np.load hands back a zip member that is not an .npy file as bytes
            raise ConfigError("initial_weights", f"{path}: its entry {name!r} is not an array (an .npz holds .npy "
                                                 f"files only)")
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            raise ConfigError("initial_weights", f"{path}: {name!r} holds values that are not finite (NaN or inf); "
                                                 f"a run cannot start from them")
    return arrays


def start_from(model, weights, path):
    """Loads ``weights`` (read_weights of the file ``path``) into ``model``: every parameter and buffer by name, with
    its shape and dtype, and nothing else (ConfigError naming initial_weights and the file otherwise)."""
    try:
        model.load_state_dict(weights)
    except (ValueError, TypeError) as e:
        raise ConfigError("initial_weights", f"{path}: does not fit the model ({e})") from None


def loss_mask(config, model):
    """The mask of the training and evaluation loss: with mask_warmup, the first R-1 steps left out (each output
    there reads zero padding in place of inputs before the start); else None."""
    if not config.get("mask_warmup"):
        return None
    return warmup_mask(copy_memory.sequence_length(config["length"]), model.receptive_field)


def evaluate(model, task, split, batch_size=256, mask=None):
    """(mean loss, metric) of ``model`` on one split, in inference mode (no dropout), batch by batch."""
    x, y = task.splits[split]
    preds, total, count = [], 0.0, 0
    for start in range(0, len(x), batch_size):
        pred = model.forward(x[start:start + batch_size])
        loss, _ = task.loss(pred, y[start:start + batch_size], model.backend, mask)
        total += loss * pred.shape[0]
        count += pred.shape[0]
        preds.append(model.backend.to_host(pred))
    return total / count, task.metric(np.concatenate(preds), y)


class NonFiniteLoss(TrainingError):
    """A training step whose loss is NaN or infinite (``loss``); nothing was updated. The caller says where."""

    def __init__(self, loss):
        super().__init__(f"loss is {loss}")
        self.loss = loss


def training_step(model, optimizer, loss_fn, x, y, lengths=None, mask=None):
    """One training step on a batch: forward (dropout on), loss, backward, the optimizer's update. Returns (loss,
    prediction on the model's backend).

    ``loss_fn(pred, y, backend, mask) -> (loss, dpred)`` (TaskData.loss, or pytcn.losses' functions); ``lengths``
    goes to ``model.forward`` (a padded batch of sequences of different lengths). A NaN or infinite loss raises
    NonFiniteLoss before backward, so the parameters are left as they were. `pytcn train` (Trainer.step) and the
    scikit-learn estimators (pytcn/estimators/) both train through this function."""
    pred = model.forward(x, training=True, lengths=lengths)
    loss, dpred = loss_fn(pred, y, model.backend, mask)
    if not math.isfinite(loss):
        raise NonFiniteLoss(loss)
    model.backward(dpred)
    optimizer.step(model.grads)
    return loss, pred


class Trainer:
    """One training run in ``out_dir``: ``Trainer(config, out_dir).run()``, or ``Trainer.resume(out_dir)``.

    ``config`` is a full configuration (``pytcn.training.make_config(task, **fields)``), checked here once more."""

    def __init__(self, config, out_dir, progress=True, log=print, fresh=True):
        """``fresh``: a new run, which starts from config['initial_weights'] where that is set; False for a Trainer
        that is given a run's own parameters next (``resume``, `pytcn evaluate`), which never reads that file."""
        self.config = check_config(dict(config))
        self.out_dir = os.fspath(out_dir)
        if os.path.exists(self.out_dir) and not os.path.isdir(self.out_dir):
            raise TrainingError(f"{self.out_dir}: the run's output folder is a file; choose a folder")
        self.progress = progress
        self.log = log
        path = self.config["initial_weights"]
        self.task, self.model, self.optimizer = build(self.config, read_weights(path) if fresh and path else None)
        self.mask = loss_mask(self.config, self.model)  # of the loss: None, or the warm-up steps left out
        if self.mask is not None and self.task.extra.get("baseline_loss"):
            # copy memory's memoryless baseline over the steps kept
            self.task.extra["baseline_loss"] = copy_memory.baseline_loss(self.config["length"], self.mask)
        self.loop = EpochLoop(len(self.task.splits["train"][0]), self.config["batch_size"], self.config["epochs"],
                              np.random.default_rng([self.config["seed"], 100]),
                              progress="batches" if progress else None)
        self.saved_at = None  # (epoch, batch) of the checkpoint on disk, None before the first

    # the driver's counters, read by the CLI, the sweep and the tests
    epoch = property(lambda self: self.loop.epoch)
    batch = property(lambda self: self.loop.batch)
    history = property(lambda self: self.loop.history)
    elapsed = property(lambda self: self.loop.elapsed)

    @property
    def checkpoint_path(self):
        return os.path.join(self.out_dir, "checkpoint.npz")

    @property
    def best_path(self):
        return os.path.join(self.out_dir, "best.npz")

    # -------------------------------------------------------------------------------------------------------------
    # checkpoints

    def save(self):
        meta = dict(config=self.config, model=self.model.config, step=self.optimizer.t, **self.loop.state(),
                    dropout_state=self.model.rng.bit_generator.state, threads=_threads())
        adam = self.optimizer.state_dict()  # NumPy copies, on every backend
        save_checkpoint(self.checkpoint_path, self.model.state_dict(), meta, adam["m"], adam["v"])
        self.saved_at = (self.epoch, self.batch)

    @classmethod
    def resume(cls, out_dir, progress=True, log=print, epochs=None, backend=None, data_dir=None):
        """Continues the run saved in ``out_dir`` with its own configuration; optionally with a new total number of
        epochs (at least the epochs it has finished), on another backend (the arithmetic then differs in its last
        bits from an uninterrupted run), or reading MNIST from another folder."""
        path = os.path.join(os.fspath(out_dir), "checkpoint.npz")
        meta, params, adam_m, adam_v = load_run(path)
        config = meta["config"]
        if epochs is not None:
            if isinstance(epochs, int) and not isinstance(epochs, bool):
                done, begun = int(meta["epoch"]), int(meta["batch"]) > 0  # an epoch in progress is one to finish
                if epochs < done + begun:
                    what = (f"the {done} epochs the run has finished and the one it is {meta['batch']} batches into"
                            if begun else f"the {done} epochs the run has finished")
                    raise ConfigError("epochs", f"must be at least {what} ({done + begun}), got {epochs}"
                                      if begun else f"must be at least {what}, got {epochs}")
            config["epochs"] = epochs
        if backend is not None and backend != config.get("backend", "cpu"):
            log(f"note: the run trained on backend {config.get('backend', 'cpu')!r} and continues on {backend!r}")
            config["backend"] = backend
        if data_dir is not None:
            config["data_dir"] = data_dir
        trainer = cls(config, out_dir, progress, log, fresh=False)
        trainer.restore(meta, params, adam_m, adam_v, path)
        if meta.get("threads") != _threads():
            log(f"note: the checkpoint was written with {meta.get('threads')} threads, this run has {_threads()}: "
                f"the result will not be bit-for-bit that of an uninterrupted run")
        return trainer

    def restore(self, meta, params, adam_m, adam_v, path):
        try:
            self.model.load_state_dict(params)
            self.optimizer.load_state_dict({"t": int(meta["step"]), "m": adam_m, "v": adam_v})
        except (ValueError, TypeError, KeyError) as e:
            raise CheckpointError(f"{path}: does not fit the architecture in its own configuration "
                                       f"({e})") from None
        try:
            self.loop.restore(meta)
        except (TypeError, ValueError, KeyError) as e:
            raise CheckpointError(f"{path}: its run record is damaged: {e}") from None
        try:
            self.model.rng.bit_generator.state = meta["dropout_state"]
        except (TypeError, ValueError, KeyError) as e:  # NumPy checks a generator's state; its words name neither
            raise CheckpointError(f"{path}: its run record is damaged: a random generator's state does not load "
                                  f"({e})") from None
        self.saved_at = (self.epoch, self.batch)
        self._write_metrics()  # the file matches the checkpoint, whatever happened after it was written
        if self.batch == 0:  # stopped after an epoch's checkpoint, perhaps before its best.npz
            self.keep_best()
        epoch = best_epoch(self.history) if self.config["keep_best"] else None
        problem = self.best_problem(epoch) if epoch is not None else None
        if problem:
            self.log(f"note: {problem}; the run goes on, and keeps its next best epoch's weights")

    # -------------------------------------------------------------------------------------------------------------
    # the best epoch's weights (keep_best)

    def keep_best(self):
        """With keep_best, after an epoch's checkpoint: best.npz := the weights now, where that epoch is the best so
        far and best.npz does not hold it yet."""
        epoch = best_epoch(self.history) if self.config["keep_best"] else None
        if epoch is not None and epoch == self.epoch and self.batch == 0 and self._best_record() != self._run_record():
            save_checkpoint(self.best_path, self.model.state_dict(), {"model": self.model.config,
                                                                      "run": self._run_record()})

    def _run_record(self):
        """What best.npz records of the run and the epoch it was kept at: the epoch, the step, and the configuration
        less what --resume may change."""
        return dict(epoch=self.epoch, step=self.optimizer.t,
                    config={k: v for k, v in self.config.items() if k not in ("epochs", "backend", "data_dir")})

    def _best_record(self):
        try:
            return load_checkpoint(self.best_path)[0].get("run")
        except (CheckpointError, OSError):
            return None

    def best_problem(self, epoch):
        """Why best.npz does not hold the weights of the run's best epoch ``epoch``, or None."""
        if not os.path.exists(self.best_path):
            return f"{self.best_path} is missing: the weights of the best epoch, {epoch}, are lost"
        if os.path.isdir(self.best_path):
            return f"{self.best_path} is a folder, not the weights of the best epoch, {epoch}"
        try:
            meta = load_checkpoint(self.best_path)[0]
        except CheckpointError as e:
            return f"{e}".rstrip(".") + f": the weights of the best epoch, {epoch}, are lost"
        run = meta.get("run")
        if not isinstance(run, dict) or run.get("config") != self._run_record()["config"]:
            return f"{self.best_path} holds another run's weights, not this run's best epoch's"
        if run.get("epoch") != epoch:
            return (f"{self.best_path} holds epoch {run.get('epoch')!r}'s weights, not those of the run's best epoch, "
                    f"{epoch}")
        return None

    def _write_metrics(self):
        write_metrics(self.out_dir, self.history)

    # -------------------------------------------------------------------------------------------------------------
    # the loop

    def run(self):
        """Trains until ``config['epochs']`` epochs are done, or Ctrl-C. Returns the summary dict (see summary)."""
        os.makedirs(self.out_dir, exist_ok=True)
        x_train, y_train = self.task.splits["train"]
        interrupted = self.loop.run(lambda idx: self.step(x_train[idx], y_train[idx]), self._end_epoch, self._saved)
        if self.history:
            plot_curves(self.history, self.task, os.path.join(self.out_dir, "curve.png"))
        return self.summary(interrupted)

    def _end_epoch(self, sums):
        """The epoch's record: the means of its batches' losses and metrics, and the validation split's."""
        val_loss, val_metric = evaluate(self.model, self.task, "val", mask=self.mask)
        return dict(epoch=self.epoch + 1, step=self.optimizer.t, train_loss=sums["loss"] / sums["batches"],
                    train_metric=sums["metric"] / sums["batches"], val_loss=val_loss, val_metric=val_metric,
                    elapsed_s=round(self.elapsed, 2))

    def _saved(self, interrupted):
        self.save()
        if interrupted:  # mid-epoch: the epoch's shuffle state, the next batch and the sums so far
            self.log(f"interrupted: checkpoint written to {self.checkpoint_path} at epoch {self.epoch + 1}, "
                     f"batch {self.batch}/{self.loop.n_batches}; continue with --resume")
            return
        self.keep_best()
        self._write_metrics()
        h = self.history[-1]
        self.log(f"epoch {self.epoch}: train loss {h['train_loss']:.4g}, validation loss {h['val_loss']:.4g}, "
                 f"validation {self.task.metric_name} {h['val_metric']:.4g}")

    def step(self, x, y):
        """One training step on a batch: forward, loss, backward, Adam. Returns (loss, batch metric).

        On backend 'cuda' the batch goes to the GPU once, in forward; the loss and the prediction (for the batch's
        metric) come back; everything else stays on the device."""
        try:
            loss, pred = training_step(self.model, self.optimizer, self.task.loss, x, y, mask=self.mask)
        except NonFiniteLoss as e:
            loss = e.loss
            if self.saved_at is None:
                kept = "no checkpoint had been written yet"
            else:
                epoch, batch = self.saved_at
                when = f"after epoch {epoch}" if batch == 0 else f"in epoch {epoch + 1}, after batch {batch}"
                kept = f"the last checkpoint ({self.checkpoint_path}, written {when}) is left as it was"
            raise TrainingError(f"loss is {loss} at step {self.optimizer.t + 1} (epoch {self.epoch + 1}, batch "
                                f"{self.batch + 1}); nothing was saved after it: {kept}. Try a lower --lr or --clip.") \
                from None
        return loss, self.task.metric(self.model.backend.to_host(pred), y)

    def summary(self, interrupted=False):
        """The test numbers of the last weights, and with keep_best those of the best epoch's (``best_*``)."""
        test_loss, test_metric = evaluate(self.model, self.task, "test", mask=self.mask)
        s = dict(task=self.task.description, epochs=self.epoch, steps=self.optimizer.t, interrupted=interrupted,
                 test_loss=test_loss, test_metric=test_metric, metric_name=self.task.metric_name,
                 baseline=self.task.baseline, baseline_name=self.task.baseline_name,
                 baseline_loss=self.task.extra.get("baseline_loss"), train_seconds=round(self.elapsed, 1),
                 checkpoint=self.checkpoint_path)
        epoch = best_epoch(self.history) if self.config["keep_best"] else None
        if epoch is not None:
            s.update(best_epoch=epoch, best_val_loss=self.history[epoch - 1]["val_loss"], best=self.best_path)
            problem = self.best_problem(epoch)
            if problem:
                s.update(best_lost=problem)
            else:
                s["best_test_loss"], s["best_test_metric"] = self.evaluate_best()
        return s

    def evaluate_best(self, epoch=None, split="test"):
        """(loss, metric) on ``split`` of the weights in best.npz, in a model of the run's own architecture; the file
        checked first to hold the best epoch's, ``epoch`` (default: this Trainer's history's; best_problem)."""
        problem = self.best_problem(best_epoch(self.history) if epoch is None else epoch)
        if problem:
            raise CheckpointError(problem)
        params = load_checkpoint(self.best_path)[1]
        model = build_model(self.config)
        try:
            model.load_state_dict(params)
        except (ValueError, TypeError, KeyError) as e:
            raise CheckpointError(f"{self.best_path}: does not fit the architecture in the run's configuration "
                                  f"({e})") from None
        return evaluate(model, self.task, split, mask=self.mask)


def best_epoch(history):
    """The epoch (counted from 1) with the lowest validation loss, the first of equals; None when no epoch's validation
    loss is finite (NaN and infinity are never the best)."""
    losses = [h["val_loss"] for h in history]
    finite = [k for k, v in enumerate(losses) if math.isfinite(v)]
    return min(finite, key=lambda k: losses[k]) + 1 if finite else None


def format_summary(s):
    """The one-line final summary."""
    line = (f"{s['task']}: test {s['metric_name']} {s['test_metric']:.4g} (baseline {s['baseline']:.4g}, "
            f"{s['baseline_name']}), test loss {s['test_loss']:.4g}")
    if s.get("baseline_loss") is not None:
        line += f" (baseline loss {s['baseline_loss']:.4g})"
    line += f", {s['epochs']} epochs, {s['steps']} steps, {s['train_seconds']:.0f} s; {s['checkpoint']}"
    if "best_lost" in s:
        line += f"\nbest validation loss {s['best_val_loss']:.4g} at epoch {s['best_epoch']}, but {s['best_lost']}"
    elif "best_epoch" in s:
        line += (f"\nbest validation loss {s['best_val_loss']:.4g} at epoch {s['best_epoch']}: test {s['metric_name']} "
                 f"{s['best_test_metric']:.4g}, test loss {s['best_test_loss']:.4g}; {s['best']}")
    return line


def plot_curves(history, task, path):
    """Saves the learning curves (``curve_figure``) as a PNG, atomically."""
    fig = curve_figure(history, task)
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100))


def curve_figure(history, task):
    """The learning curves: loss (log scale) and the task's metric per epoch, with the baseline."""
    from matplotlib.figure import Figure  # outside pyplot: the caller's backend is left alone
    from matplotlib.ticker import MaxNLocator

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    left.plot(epochs, [h["train_loss"] for h in history], "o-", label="train (mean over the epoch)")
    left.plot(epochs, [h["val_loss"] for h in history], "s-", label="validation")
    if task.extra.get("baseline_loss"):
        left.axhline(task.extra["baseline_loss"], color="grey", ls="--", label="baseline")
    left.set(xlabel="epoch", ylabel=f"loss ({'MSE' if task.loss_name == 'mse' else 'cross-entropy, nats'})",
             yscale="log", title=task.description)
    left.legend()
    right.plot(epochs, [h["val_metric"] for h in history], "s-", color="C1", label="validation")
    right.axhline(task.baseline, color="grey", ls="--", label=f"baseline ({task.baseline_name})")
    right.set(xlabel="epoch", ylabel=task.metric_name, yscale="log" if task.lower_is_better else "linear")
    right.legend()
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
    fig.tight_layout()
    return fig


def write_metrics(out_dir, history):
    """metrics.jsonl of a run folder: one JSON object per finished epoch, written atomically."""
    text = "".join(json.dumps(h) + "\n" for h in history)
    write_atomic(os.path.join(out_dir, "metrics.jsonl"), lambda f: f.write(text), "w")


def _threads():
    import numba

    return numba.get_num_threads()
