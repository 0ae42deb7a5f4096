"""An estimator's fit in a run folder (what ``pytcn fit DATA --out RUN`` makes), as ``pytcn train`` keeps its runs:

    checkpoint.npz     the state after the last finished epoch (or at Ctrl-C, mid-epoch), written atomically:
                       the model, the best epoch's weights (``best/...``), Adam's moments, the epoch driver's counters
                       and generator states, the schedule, and what to rebuild the rest from (the estimator's class
                       and parameters, the data file and its SHA-256)
    metrics.jsonl      one JSON object per finished epoch
    curve.png          the learning curves, drawn when the fit ends
    model.npz          the fitted estimator (``est.save``), written when the fit ends: ``pytcn predict RUN DATA``

Resuming rebuilds what fit computes from the data and the parameters (the normalisation, the dilations, the split,
the initial model) exactly as the first session did, then puts back the checkpoint's state, so a fit stopped after
any batch and resumed ends with the same bits as one that never stopped (at the same thread count).
"""
import os

from ..runtime.archive import CheckpointError, load_checkpoint, save_checkpoint
from ..runtime.files import write_atomic
from ..training.loop import write_metrics
from . import data

CHECKPOINT = "checkpoint.npz"
MODEL = "model.npz"
BEST = "best/"  # the prefix of the best epoch's weights among a checkpoint's parameters


class FitInputError(ValueError):
    """What fit refused in the data or the parameters, when it trains in a run folder: ``pytcn fit`` shows it as
    the user's mistake (one line), where any other exception in training is a bug."""


class FitRun:
    """The run folder ``out_dir`` of one fit. ``record``: what the fit was given (JSON: the data file's path and
    SHA-256, say), kept in the checkpoint for resuming. ``checkpoint``: (meta, params, adam_m, adam_v) of the run
    to resume (``FitRun.open``), or None for a new fit."""

    def __init__(self, out_dir, record, checkpoint=None):
        self.out_dir = os.fspath(out_dir)
        self.record = record
        self.checkpoint = checkpoint
        self.saved_at = None  # (epoch, batch) of the checkpoint on disk
        self.owner = None  # the estimator the run records and saves, when it is not the one that trains (a
        #                    TCNForecaster, whose inner regressor trains here)

    @property
    def resuming(self):
        return self.checkpoint is not None

    @property
    def checkpoint_path(self):
        return os.path.join(self.out_dir, CHECKPOINT)

    @classmethod
    def open(cls, out_dir):
        """The run in ``out_dir`` to resume: (FitRun, its meta's "fit" record: class, params, data)."""
        path = os.path.join(os.fspath(out_dir), CHECKPOINT)
        checkpoint = load_checkpoint(path)
        meta = checkpoint[0]
        fit = meta.get("fit")
        if not isinstance(fit, dict) or not isinstance(fit.get("params"), dict) or "class" not in fit:
            raise CheckpointError(f"{path}: is not a run of pytcn fit (its meta has no 'fit' record); a run of "
                                  f"pytcn train resumes with pytcn train --resume")
        missing = [k for k in ("epoch", "batch", "epoch_shuffle_state", "history", "schedule", "step", "lr",
                               "dropout_state") if k not in meta]
        if missing:
            raise CheckpointError(f"{path}: its run record is damaged: {missing[0]} is missing")
        return cls(out_dir, fit.get("data"), checkpoint), fit

    def restore(self, loop, model, optimizer, schedule):
        """Puts the checkpoint's state into the freshly built loop, model, optimizer and schedule."""
        meta, params, adam_m, adam_v = self.checkpoint
        path = self.checkpoint_path
        best = {k[len(BEST):]: v for k, v in params.items() if k.startswith(BEST)}
        current = {k: v for k, v in params.items() if not k.startswith(BEST)}
        try:
            model.load_state_dict(current)
            optimizer.load_state_dict({"t": int(meta["step"]), "m": adam_m, "v": adam_v})
            optimizer.lr = float(meta["lr"])
            loop.restore(meta)
            model.rng.bit_generator.state = meta["dropout_state"]
            schedule.restore(meta["schedule"])
            if best:
                model_copy = dict(current)
                model.load_state_dict(best)  # checks the best weights' names and shapes too
                schedule.best_state = model.state_dict()
                model.load_state_dict(model_copy)
        except (ValueError, TypeError, KeyError) as e:
            raise CheckpointError(f"{path}: does not fit the estimator and data it names ({e})") from None
        self.saved_at = (loop.epoch, loop.batch)

    def save(self, est, loop, model, optimizer, schedule, interrupted):
        """Checkpoints the fit after an epoch (and writes metrics.jsonl) or at Ctrl-C."""
        os.makedirs(self.out_dir, exist_ok=True)
        owner = est if self.owner is None else self.owner
        meta = dict(fit={"class": type(owner).__name__, "params": data.to_json(owner.get_params()),
                         "data": self.record},
                    model=model.config, step=optimizer.t, lr=optimizer.lr, **loop.state(),
                    schedule=schedule.state(), monitor=est.monitor_, dropout_state=model.rng.bit_generator.state,
                    threads=_threads())
        params = model.state_dict()
        if schedule.best_state is not None:
            params.update({BEST + k: v for k, v in schedule.best_state.items()})
        adam = optimizer.state_dict()
        save_checkpoint(self.checkpoint_path, params, meta, adam["m"], adam["v"])
        self.saved_at = (loop.epoch, loop.batch)
        if not interrupted:
            write_metrics(self.out_dir, loop.history)

    def kept(self):
        """For an error message: what the last checkpoint holds."""
        if self.saved_at is None:
            return "; no checkpoint had been written yet"
        epoch, batch = self.saved_at
        when = f"after epoch {epoch}" if batch == 0 else f"in epoch {epoch + 1}, after batch {batch}"
        return f"; the last checkpoint ({self.checkpoint_path}, written {when}) is left as it was"

    def finish(self, est):
        """When the fit has ended: model.npz (the fitted estimator) and curve.png."""
        est.save(os.path.join(self.out_dir, MODEL))
        fig = curve_figure(est.history_, type(est).__name__, est.monitor_)
        write_atomic(os.path.join(self.out_dir, "curve.png"), lambda f: fig.savefig(f, format="png", dpi=100))


def curve_figure(history, title, monitor):
    """The learning curves of a fit: the losses per epoch (log scale; the monitored one marked at its best epoch),
    and the learning rate."""
    from matplotlib.figure import Figure  # outside pyplot: the caller's backend is left alone
    from matplotlib.ticker import MaxNLocator

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    left.plot(epochs, [h["train_loss"] for h in history], "o-", label="train (mean over the epoch)")
    if history and "val_loss" in history[0]:
        left.plot(epochs, [h["val_loss"] for h in history], "s-", label="validation")
    if history:
        best = min(history, key=lambda h: h[monitor])
        left.plot([best["epoch"]], [best[monitor]], "k*", ms=12, label=f"best epoch ({monitor})")
    left.set(xlabel="epoch", ylabel="loss", yscale="log", title=title)
    left.legend()
    right.plot(epochs, [h["lr"] for h in history], "-", color="C2")
    right.set(xlabel="epoch", ylabel="learning rate", yscale="log", title="ReduceLROnPlateau")
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
    fig.tight_layout()
    return fig


def _threads():
    import numba

    return numba.get_num_threads()
