"""The experiments of the blog post pytcn grew from, as data: each expands into a list of trials.

The post varies three numbers of a TCN and watches what each does to three tasks:

    k   kernel size                      (every convolution)
    D   dilated levels                   (the dilations 1, 2, 4, ..., 2^(D-1): D residual blocks per stack)
    s   stacks                           (the list of dilations repeated s times)

A TCN of k, D and s has 2 D s convolutions (its depth) and the exact receptive field

    R = 1 + 2 (k - 1) s (2^D - 1)            (two convolutions per block, each reaching (k - 1) d steps back)

where the post quotes 2^(D-1) k s (``approximate_receptive_field``), several times smaller. The experiments:

- ``isolation``: k, D and s each varied alone, the other two at the base architecture (``BASE``).
- ``fixed-rf``: three pairs, (k, D), (k, s) and (D, s). Along each, one number rises and the other is chosen so that
  the exact receptive field stays as close to the base's as the integers allow (``closest``).
- ``copy-length``: one architecture (``COPY_LENGTH_ARCH``) on the copy-memory task, its sequence length from well under
  to about three times its receptive field.

The post's own settings are the ``full`` scale: Adam at a constant learning rate of 1e-4, 20 filters, no dropout, no
weight normalisation, 100 epochs, on pytcn's default data sizes. The default, ``reduced`` scale trains 4-8 epochs on
smaller sets, at learning rates of 1e-3 and 2e-3 so that a few epochs get somewhere, sized so that each experiment
runs on a 2-core laptop in minutes (docs/experiments.md gives the times). Sequential MNIST is Fashion-MNIST here:
Debian's dataset-fashion-mnist package installs it offline.

Every trial starts from the ``glorot_uniform`` initialiser (see ``INITIALIZER`` for why not keras-tcn's he_normal).
"""
import hashlib
import json
from dataclasses import dataclass, field

from ..nn.architecture import receptive_field as exact_receptive_field
from ..nn.model import TCN
from ..training.config import SHAPES, TASKS, ConfigError, make_config

EXPERIMENTS = ("isolation", "fixed-rf", "copy-length")

#: the architecture the isolation experiment varies around, and whose receptive field fixed-rf holds
BASE = dict(k=7, D=6, s=1)  # R = 1 + 2 * 6 * 1 * 63 = 757; the post's formula gives 2^5 * 7 = 224

#: the values each number takes when it is varied alone
ISOLATION = dict(k=(2, 3, 4, 5, 7, 9), D=(3, 4, 5, 6, 7, 8), s=(1, 2, 3, 4))

#: along each fixed-rf pair, the values of the number that rises (the other is derived)
FIXED_RF = {("k", "D"): ("D", (4, 5, 6, 7, 8)), ("k", "s"): ("s", (1, 2, 3, 6)), ("D", "s"): ("s", (1, 2, 3, 4))}

#: copy-length: the architecture (R = 1 + 2 * 2 * 31 = 125, the post's formula 48) and the lengths T of the blank
#: stretch; a sequence is T + 20 steps, so these run from a third of R to about three times R
COPY_LENGTH_ARCH = dict(k=3, D=5, s=1)
COPY_LENGTHS = (20, 40, 60, 80, 100, 120, 150, 200, 250, 300, 350)

#: The untrained model's output, and so the starting loss, depends on the initialiser and the architecture. With
#: keras-tcn's he_normal every ReLU block adds a branch about as large as its input to the residual path, and the
#: output grows with the number of blocks: over this grid the untrained adding model's MSE has a median of 142 and
#: reaches 2e15 with 36 blocks (k=2, D=6, s=6), where always answering 1 scores 0.167. A deep model would spend its
#: first epochs shrinking its output, the more so at the post's learning rate of 1e-4, and the figures would mix that
#: into the architecture's effect. glorot_uniform draws weights about half as large: median 2.8, and 0.32 to 4.7e4
#: (the 36-block model again, which is back at 0.17 after one epoch). locuslab/TCN's normal(0, 0.01) starts every
#: architecture at 1.1, but none of three learned anything at the reduced scale. Measured with
#: `python benchmarks/initial_scale.py --train` (docs/experiments.md).
INITIALIZER = "glorot_uniform"
NB_FILTERS = 20

#: per scale and task: the training settings (the architecture is the trial's)
SCALES = {
    "reduced": {
        "adding": dict(length=200, train_size=5000, val_size=500, test_size=500, epochs=6, lr=2e-3, batch_size=32),
        "copy-memory": dict(length=200, train_size=3000, val_size=500, test_size=500, epochs=8, lr=1e-3,
                            batch_size=32),
        "mnist": dict(dataset="fashion-mnist", train_size=4000, val_size=1000, test_size=1000, epochs=4, lr=1e-3,
                      batch_size=32),
    },
    "full": {
        "adding": dict(length=200, train_size=20000, val_size=1000, test_size=1000, epochs=100, lr=1e-4,
                       batch_size=32),
        "copy-memory": dict(length=200, train_size=10000, val_size=1000, test_size=1000, epochs=100, lr=1e-4,
                            batch_size=32),
        "mnist": dict(dataset="fashion-mnist", train_size=55000, val_size=5000, test_size=10000, epochs=100,
                      lr=1e-4, batch_size=64),
    },
}
COPY_LENGTH_SCALES = {
    "reduced": dict(train_size=3000, val_size=500, test_size=500, epochs=10, lr=1e-3, batch_size=32),
    "full": dict(train_size=10000, val_size=1000, test_size=1000, epochs=100, lr=1e-4, batch_size=32),
}


def dilations(D):
    return [2 ** i for i in range(D)]


def receptive_field(k, D, s):
    """The exact receptive field of kernel size k, dilations 1, 2, ..., 2^(D-1) and s stacks: 1 + 2 (k - 1) s (2^D - 1)
    (pytcn.receptive_field, with sum(dilations) = 2^D - 1)."""
    return exact_receptive_field(k, dilations(D), s)


def approximate_receptive_field(k, D, s):
    """The post's (and keras-tcn's of 2020) formula: 2^(D-1) k s."""
    return 2 ** (D - 1) * k * s


def closest(free, given, target, limits):
    """The value of the number ``free`` (k, D or s) in ``limits`` = (low, high) that, with the numbers ``given``,
    brings the exact receptive field closest to ``target`` (the smaller value on a tie)."""
    candidates = range(limits[0], limits[1] + 1)
    return min(candidates, key=lambda v: (abs(receptive_field(**{**given, free: v}) - target), v))


LIMITS = dict(k=(2, 64), D=(1, 12), s=(1, 16))


@dataclass(frozen=True)
class Trial:
    """One training run of a sweep: an architecture (k, D, s) on a task, with its training settings."""
    experiment: str
    group: str  # "k", "D", "s" (isolation), "k-D", "k-s", "D-s" (fixed-rf), "T" (copy-length)
    task: str
    k: int
    D: int
    s: int
    seed: int
    scale: str
    settings: dict = field(hash=False, compare=False)  # the config fields besides the architecture

    # the config fields a trial sets itself (its architecture and the study's fixed choices), which overrides cannot
    FIXED = ("task", "model", "nb_filters", "kernel_size", "dilations", "nb_stacks", "kernel_initializer",
             "dropout_rate", "use_weight_norm", "use_skip_connections", "seed")

    @property
    def config(self):
        """The full training configuration (pytcn.training.config), checked."""
        return make_config(self.task, model="tcn", nb_filters=NB_FILTERS, kernel_size=self.k,
                           dilations=dilations(self.D), nb_stacks=self.s, kernel_initializer=INITIALIZER,
                           dropout_rate=0.0, use_weight_norm=False, use_skip_connections=False, seed=self.seed,
                           **self.settings)

    @property
    def id(self):
        """The trial's name in a results store: its experiment, group, task, architecture, length and seed."""
        return f"{self.experiment}/{self.group}/{self.task}/k{self.k}-D{self.D}-s{self.s}-T{self.config['length']}-" \
               f"seed{self.seed}-{self.scale}"

    @property
    def run_key(self):
        """The name of the trial's training run: the same for trials with the same configuration (the base
        architecture of the isolation experiment belongs to all three of its groups, and is trained once)."""
        # initial_weights and keep_best at their defaults are left out, so that the runs of stores made before those
        # fields keep their names
        later = (("initial_weights", None), ("keep_best", False))
        config = {k: v for k, v in self.config.items() if (k, v) not in later}
        digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.task}-k{self.k}-D{self.D}-s{self.s}-T{self.config['length']}-seed{self.seed}-{digest}"

    @property
    def receptive_field(self):
        return receptive_field(self.k, self.D, self.s)

    @property
    def approximate_receptive_field(self):
        return approximate_receptive_field(self.k, self.D, self.s)

    @property
    def depth(self):
        """Convolution layers: two per residual block (the 1x1 downsample of the first block not counted)."""
        return 2 * self.D * self.s

    def count_params(self):
        inputs, outputs, return_sequences = SHAPES[self.task]
        return TCN(input_channels=inputs, outputs=outputs, nb_filters=NB_FILTERS, kernel_size=self.k,
                   dilations=dilations(self.D), nb_stacks=self.s, use_skip_connections=False,
                   return_sequences=return_sequences, seed=0).count_params()

    def record(self):
        """What a results store keeps of the trial before it runs."""
        return dict(id=self.id, run_key=self.run_key, experiment=self.experiment, group=self.group, task=self.task,
                    k=self.k, D=self.D,
                    s=self.s, seed=self.seed, scale=self.scale, length=self.config["length"], config=self.config,
                    receptive_field=self.receptive_field, approximate_receptive_field=self.approximate_receptive_field,
                    depth=self.depth, params=self.count_params())


def expand(experiment, task, scale="reduced", seed=0, overrides=None):
    """The trials of ``experiment`` on ``task`` at ``scale`` ("reduced" or "full"), with the training settings of
    ``overrides`` (config fields, e.g. {"epochs": 2}) changed. Trials of one configuration (the base architecture
    appears in each group of the isolation experiment) share their ``run_key``: a sweep trains them once."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {', '.join(EXPERIMENTS)}; got {experiment!r}")
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}")
    fixed = Trial.FIXED + (("length",) if experiment == "copy-length" else ())  # copy-length varies the length
    for name in overrides or {}:
        if name in fixed:
            raise ConfigError(name, f"is set by the experiment {experiment!r} itself (every trial's architecture, "
                                    f"seed and fixed choices: {', '.join(fixed)}); it cannot be changed with --set")
    settings = dict(SCALES[scale][task], **(overrides or {}))
    if experiment == "isolation":
        archs = [(name, {**BASE, name: value}) for name, values in ISOLATION.items() for value in values]
    elif experiment == "fixed-rf":
        target = receptive_field(**BASE)
        archs = []
        for (a, b), (rising, values) in FIXED_RF.items():
            other = b if rising == a else a
            for value in values:
                given = {**BASE, rising: value}
                del given[other]
                archs.append((f"{a}-{b}", {**given, other: closest(other, given, target, LIMITS[other])}))
    else:
        if task != "copy-memory":
            raise ValueError(f"experiment 'copy-length' is about the copy-memory task, not {task!r}")
        base = dict(COPY_LENGTH_SCALES[scale], **(overrides or {}))
        return [Trial("copy-length", "T", task, **COPY_LENGTH_ARCH, seed=seed, scale=scale,
                      settings=dict(base, length=length)) for length in COPY_LENGTHS]
    return [Trial(experiment, group, task, arch["k"], arch["D"], arch["s"], seed, scale, settings)
            for group, arch in archs]
