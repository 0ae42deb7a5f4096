"""The epoch driver: the one loop over epochs and shuffled mini-batches in pytcn.

Two trainings run through it: ``pytcn train`` (``Trainer``, pytcn/training/loop.py) and the scikit-learn estimators'
``fit`` (pytcn/estimators/base.py, which ``pytcn fit`` runs in a run folder). Each says what one batch does
(``step``), what ends an epoch (``end_epoch``: validation, a schedule, the record of the epoch), when to stop early
(``stop``), and how to checkpoint (``save``); the driver owns everything about order and resuming:

- each epoch's permutation is drawn from ``shuffle_rng`` after its state was recorded (``epoch_shuffle_state``), so
  a run stopped in the middle of an epoch redraws the same permutation and continues at the same batch (``batch``);
- the epoch's running sums (``epoch_sums``) are kept with it, so a resumed epoch records the mean over all of its
  batches, not only those after the resume;
- Ctrl-C (SIGINT) becomes a flag read between steps: a step is never cut in half, and ``save`` is called at once.

``state()`` is what a checkpoint keeps of the driver and ``restore(meta)`` puts it back; the caller keeps the rest
(parameters, optimizer moments, its own schedule).
"""
import collections
import math
import signal
import time

import numpy as np

#: the driver's fields in a checkpoint's meta (state() and restore())
STATE_FIELDS = ("epoch", "batch", "epoch_sums", "epoch_shuffle_state", "history", "elapsed")


class _StopFlag:
    """Turns Ctrl-C (SIGINT) into a flag the loop reads between steps, so a step is never cut in half."""

    def __init__(self):
        self.raised = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: Ctrl-C cannot reach us anyway
            self._previous = None
        return self

    def _handle(self, signum, frame):
        self.raised = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def no_batches():
    """An epoch's running sums before its first batch."""
    return dict(loss=0.0, metric=0.0, batches=0, cases=0, case_loss=0.0)


class EpochLoop:
    """Epochs over ``n`` training cases in batches of ``batch_size`` (the last one smaller), ``epochs`` at most.

    ``progress``: None (silent), "batches" (a bar per epoch over its batches: pytcn train) or "epochs" (one bar over
    the epochs, with the end-of-epoch losses: the estimators' ``verbose``)."""

    def __init__(self, n, batch_size, epochs, shuffle_rng, progress=None, desc="epoch"):
        self.n, self.batch_size, self.epochs = n, batch_size, epochs
        self.shuffle_rng = shuffle_rng
        self.progress, self.desc = progress, desc
        self.epoch = 0  # epochs finished
        self.batch = 0  # the next batch of the current epoch
        self.epoch_shuffle_state = shuffle_rng.bit_generator.state  # before this epoch's permutation
        self.epoch_sums = no_batches()
        self.history = []  # one record (a dict) per finished epoch, as end_epoch made it
        self.elapsed = 0.0  # training seconds, earlier sessions of this run included

    @property
    def n_batches(self):
        return math.ceil(self.n / self.batch_size)

    def state(self):
        return {name: getattr(self, name) for name in STATE_FIELDS}

    def restore(self, meta):
        """Puts back a state() read from a checkpoint; a generator state NumPy refuses raises its own error, and a
        count or sum that cannot be this loop's a ValueError saying which."""
        self.epoch, self.batch = int(meta["epoch"]), int(meta["batch"])
        if self.batch > self.n_batches:  # (Ctrl-C on an epoch's last batch saves batch = n_batches)
            raise ValueError(f"batch is {self.batch}, but an epoch has {self.n_batches} batches")
        if len(meta["history"]) != self.epoch:
            raise ValueError(f"history holds {len(meta['history'])} epochs, but epoch says {self.epoch} are done")
        sums = dict(meta.get("epoch_sums") or no_batches())
        sums.setdefault("cases", 0)  # a checkpoint of pytcn train from before these two were kept
        sums.setdefault("case_loss", 0.0)
        bad = [k for k, v in sums.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad or set(sums) != set(no_batches()):
            raise ValueError(f"epoch_sums must hold the numbers {sorted(no_batches())}, got {meta.get('epoch_sums')!r}")
        self.epoch_sums = sums
        self.epoch_shuffle_state = meta["epoch_shuffle_state"]
        self.shuffle_rng.bit_generator.state = meta["epoch_shuffle_state"]
        self.history = list(meta["history"])
        self.elapsed = float(meta.get("elapsed", 0.0))

    def run(self, step, end_epoch, save, stop=lambda: False):
        """Trains until ``epochs`` epochs are finished, ``stop()`` says so after an epoch, or Ctrl-C.

        ``step(idx) -> (loss, metric)``: one training step on the cases ``idx`` (a slice of this epoch's
        permutation of range(n)); ``metric`` may be 0.0 when there is none. ``end_epoch(sums) -> record``: after an
        epoch's last batch, with its sums (``loss``/``metric`` summed over batches, ``weight`` the cases); the record
        is appended to ``history``, then ``save(interrupted=False)`` checkpoints. On Ctrl-C, ``save(interrupted=True)``
        is called mid-epoch. Returns True when interrupted."""
        bar_epochs = _bar(self.epochs, self.epoch, self.desc, self.progress == "epochs")
        try:
            with _StopFlag() as flag:
                while self.epoch < self.epochs and not (self.history and stop()):
                    if not self._one_epoch(step, flag):
                        save(interrupted=True)
                        return True
                    record = end_epoch(self.epoch_sums)
                    self.epoch += 1
                    self.batch = 0
                    self.epoch_sums = no_batches()
                    self.epoch_shuffle_state = self.shuffle_rng.bit_generator.state
                    self.history.append(record)
                    save(interrupted=False)
                    bar_epochs.update(1)
                    bar_epochs.set_postfix({k: f"{v:.4g}" for k, v in record.items()
                                            if k.endswith("loss") and isinstance(v, float)})
        finally:
            bar_epochs.close()
        return False

    def _one_epoch(self, step, flag):
        """The batches of the current epoch from self.batch on; False when Ctrl-C stopped it."""
        self.shuffle_rng.bit_generator.state = self.epoch_shuffle_state
        order = self.shuffle_rng.permutation(self.n)
        bar = _bar(self.n_batches, self.batch, f"{self.desc} {self.epoch + 1}/{self.epochs}",
                   self.progress == "batches")
        recent = collections.deque(maxlen=50)  # for the progress bar only
        t0 = time.perf_counter()
        try:
            while self.batch < self.n_batches:
                idx = order[self.batch * self.batch_size:(self.batch + 1) * self.batch_size]
                loss, metric = step(idx)
                self.batch += 1
                s = self.epoch_sums
                self.epoch_sums = dict(loss=s["loss"] + loss, metric=s["metric"] + metric, batches=s["batches"] + 1,
                                       cases=s["cases"] + len(idx), case_loss=s["case_loss"] + loss * len(idx))
                recent.append((loss, metric))
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean([r[0] for r in recent]):.4g}",
                                metric=f"{np.mean([r[1] for r in recent]):.4g}")
                if flag.raised:
                    return False
            return True
        finally:
            bar.close()
            self.elapsed += time.perf_counter() - t0


def _bar(total, initial, desc, enabled):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)
