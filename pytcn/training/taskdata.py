"""The three sequence-modelling tasks as the training loop sees them: data splits, loss, metric and baseline.

The data itself comes from the generators and readers of ``pytcn.tasks`` (the top-level folder ``tasks/``, NumPy and
the standard library only); this module decides what a task's model looks like (channels, outputs, which head) and
how it is scored.

    task          input           target               head, loss                 metric (better)
    adding        (N, T, 2)       (N, 1) sum           last step, MSE             test MSE (lower)
    copy-memory   (N, T+20, 1)    (N, T+20) classes    every step, cross-entropy  accuracy on the last 10 steps
    mnist         (N, 784, 1)     (N,) digit           last step, cross-entropy   accuracy
"""
from dataclasses import dataclass, field

import numpy as np

from ..nn import losses
from ..tasks import copy_memory
from .config import DEFAULTS, SHAPES, TASKS, ConfigError


@dataclass
class TaskData:
    """Everything the training loop needs to know about one task."""
    name: str
    splits: dict  # "train", "val", "test" -> (x, y)
    input_channels: int
    outputs: int
    return_sequences: bool
    loss_name: str  # "mse" or "cross_entropy"
    metric_name: str  # what `metric` measures, for humans
    lower_is_better: bool
    baseline: float  # the metric's (or the loss's, see baseline_name) value for a model that learned nothing
    baseline_name: str
    description: str
    extra: dict = field(default_factory=dict)

    def loss(self, pred, y, backend=None, mask=None):
        """(loss, its gradient) of a prediction on any backend (see pytcn.losses); ``mask`` weights its positions."""
        if self.loss_name == "mse":
            return losses.mse(pred, y, backend, mask=mask)
        return losses.cross_entropy(pred, y, backend, mask=mask)

    def metric(self, pred, y):
        """The task's score of predictions ``pred`` (NumPy) against targets ``y``."""
        if self.name == "adding":
            return float(np.mean((pred.astype(np.float64) - y) ** 2))
        if self.name == "copy-memory":
            return losses.accuracy(copy_memory.recalled(pred), copy_memory.recalled(y))  # the recalled symbols
        return losses.accuracy(pred, y)


def make_task(name, length=None, seed=0, train_size=None, val_size=None, test_size=None, dataset="mnist",
              data_dir=None, permute=False):
    """Builds the splits of task ``name``. Synthetic tasks draw train, validation and test from three independent
    streams of ``seed``; MNIST reads its files (see pytcn.tasks.mnist) and splits them."""
    from ..tasks.adding import BASELINE_MSE, adding_problem

    d = DEFAULTS[name]
    length = d["length"] if length is None else length
    given = {"train": train_size, "val": val_size, "test": test_size}
    sizes = {split: d[f"{split}_size"] if size is None else size for split, size in given.items()}  # None: default
    streams = {split: np.random.default_rng([seed, k]) for k, split in enumerate(("train", "val", "test"))}
    if name == "adding":
        splits = {s: adding_problem(sizes[s], length, streams[s]) for s in sizes}
        return TaskData(name, splits, *SHAPES[name], "mse", "MSE", True, BASELINE_MSE, "MSE of always predicting 1",
                        f"adding problem, T={length}")
    if name == "copy-memory":
        splits = {s: copy_memory.copy_memory(sizes[s], length, streams[s]) for s in sizes}
        return TaskData(name, splits, *SHAPES[name], "cross_entropy", "accuracy on the 10 recalled symbols",
                        False, 1.0 / 8, "chance", f"copy memory, T={length}",
                        extra={"baseline_loss": copy_memory.baseline_loss(length)})
    if name == "mnist":
        from ..tasks.mnist import SplitError, sequential_mnist

        try:
            data = sequential_mnist(dataset, data_dir=data_dir, permute=permute, seed=seed, n_val=sizes["val"])
        except SplitError as e:
            raise ConfigError("val_size", f"must be below the {e.available} training images of {dataset} (the "
                                          f"validation split is taken from them), got {sizes['val']}") from None
        for split, (x, _) in data.items():
            if sizes[split] > len(x):  # never fewer than asked for, silently
                raise ConfigError(f"{split}_size", f"asks for {sizes[split]} sequences; the {dataset} files hold "
                                                   f"{len(x)} for the {split} split")
        splits = {s: (x[:sizes[s]], y[:sizes[s]]) for s, (x, y) in data.items()}
        counts = np.bincount(splits["train"][1], minlength=10)
        return TaskData(name, splits, *SHAPES[name], "cross_entropy", "accuracy", False,
                        float(counts.max() / counts.sum()), "majority class",
                        f"{'permuted ' if permute else ''}sequential {dataset}")
    raise ValueError(f"task must be one of {', '.join(TASKS)}; got {name!r}")
